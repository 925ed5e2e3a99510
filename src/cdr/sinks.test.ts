import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallDetailRecord } from './record.js';
import { FileCdrSink, MemoryCdrSink } from './sinks.js';

function rec(id: string): CallDetailRecord {
  return {
    callId: id, legACallId: 'a', legBCallId: 'b', srcIpGroup: 'PBX', dstIpGroup: 'ITSP', caller: '1000', callee: '2000',
    setupTime: new Date(0).toISOString(), connectTime: null, endTime: new Date(1000).toISOString(), durationSec: 0,
    terminationSide: 'A', terminationReason: 'BYE', sipStatus: 486, altRouteAttempts: 0, redirects3xx: 0, timeline: [],
  };
}

describe('CDR sinks', () => {
  it('file sink writes JSON lines in order, asynchronously', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdr-'));
    try {
      const sink = new FileCdrSink(join(dir, 'cdr.jsonl'), { flushIntervalMs: 10 });
      for (let i = 0; i < 5; i++) sink.write(rec(`c${i}`));
      await sink.close();
      const lines = (await readFile(join(dir, 'cdr.jsonl'), 'utf8')).trim().split('\n');
      expect(lines.map((l) => (JSON.parse(l) as CallDetailRecord).callId)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
      expect(sink.written).toBe(5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('file sink counts records it could not write instead of throwing', async () => {
    const errors: Error[] = [];
    const sink = new FileCdrSink('/nonexistent-dir/x/cdr.jsonl', { onError: (e) => errors.push(e) });
    sink.write(rec('x'));
    await sink.close();
    expect(sink.dropped).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('memory sink keeps records', () => {
    const s = new MemoryCdrSink();
    s.write(rec('m'));
    expect(s.records[0]!.callId).toBe('m');
  });
});
