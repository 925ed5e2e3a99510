import { mkdtemp, readFile, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { ActiveCallJournal, restartCdr, type JournalCall, type JournalDialog } from './journal.js';
import { sampleCdr } from './sample-record.js';

const dialog = (callId: string): JournalDialog => ({
  callId, localTag: 'l', remoteTag: 'r', localUri: '<sip:a@x>', remoteUri: '<sip:b@y>', remoteTarget: 'sip:b@192.0.2.9:5060',
  routeSet: [], localCseq: 2, dest: { address: '192.0.2.9', port: 5060, transport: 'udp' }, sipInterface: 'LAN',
});
const call = (id: string): JournalCall => ({ sessionId: id, legA: dialog(`${id}-a`), legB: dialog(`${id}-b`), cdr: sampleCdr({ sessionId: id }) });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ActiveCallJournal', () => {
  it('a crash leaves the calls that were up; the next open returns them and starts clean', async () => {
    const path = join(dir, 'active.jsonl');
    const { journal, orphans } = await ActiveCallJournal.open(path, { log: silentLogger(), flushIntervalMs: 10 });
    expect(orphans).toEqual([]);
    for (let i = 0; i < 50; i++) journal.up(call(`c${i}`));
    for (let i = 0; i < 50; i += 2) journal.down(`c${i}`);
    await journal.flush();
    // Simulated crash: no close(). A torn last line as a power loss would leave.
    await appendFile(path, '{"op":"up","call":{"sess');
    const again = await ActiveCallJournal.open(path, { log: silentLogger() });
    expect(again.orphans.map((c) => c.sessionId).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `c${2 * i + 1}`).sort());
    expect(again.orphans[0]!.legA.callId).toMatch(/-a$/);
    expect(again.lastWriteMs).not.toBeNull();
    expect(await readFile(path, 'utf8')).toBe('');
    const end = restartCdr(again.orphans[0]!, again.lastWriteMs);
    expect(end).toMatchObject({ reportType: 'CALL_END', terminationCategory: 'restart', releaseSide: 'sbc' });
    expect(end.durationMs).toBe(end.releaseTime! - end.connectTime!);
  });

  it('batches writes and compacts a long file to the live calls', async () => {
    const path = join(dir, 'active.jsonl');
    const { journal } = await ActiveCallJournal.open(path, { log: silentLogger(), flushIntervalMs: 10_000 });
    for (let i = 0; i < 3000; i++) {
      journal.up(call(`k${i}`));
      if (i >= 3) journal.down(`k${i - 3}`);
      if (i % 500 === 499) await journal.flush();
    }
    await journal.flush();
    const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
    expect(lines.length).toBeLessThan(1500);
    const again = await ActiveCallJournal.open(path, { log: silentLogger() });
    expect(again.orphans.map((c) => c.sessionId).sort()).toEqual(['k2997', 'k2998', 'k2999']);
  });

  it('a clean close with no calls leaves nothing to recover', async () => {
    const path = join(dir, 'active.jsonl');
    const { journal } = await ActiveCallJournal.open(path, { log: silentLogger() });
    journal.up(call('x'));
    journal.down('x');
    await journal.close();
    expect((await ActiveCallJournal.open(path, { log: silentLogger() })).orphans).toEqual([]);
  });
});
