import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { defaultColumns } from './format.js';
import { fromLegacyCdr } from './legacy.js';
import { levelAllows } from './levels.js';
import { LocalFileSink } from './local-file-sink.js';
import type { CdrRecord } from './model.js';
import { CdrPipeline } from './pipeline.js';
import { queryCdrs } from './query.js';
import { sampleCdr } from './sample-record.js';
import type { CdrSinkPort, CdrSinkStats } from './sink.js';

class ListSink implements CdrSinkPort {
  readonly name = 'list';
  readonly got: CdrRecord[] = [];
  write(r: CdrRecord): void {
    this.got.push(r);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  stats(): CdrSinkStats {
    return { written: this.got.length, queued: 0, spooled: 0, lost: 0, errors: 0, up: true };
  }
}

class ThrowingSink extends ListSink {
  override write(): void {
    throw new Error('boom');
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-pipe-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('report levels', () => {
  it('follow CDRReportLevel / MediaCDRReportLevel / EnableNonCallCdr', () => {
    const L = (callLevel: number, mediaLevel = 0, nonCall = false) => ({ callLevel, mediaLevel, nonCall });
    expect(levelAllows(L(0), 'CALL_END')).toBe(false);
    expect(levelAllows(L(1), 'CALL_END')).toBe(true);
    expect(levelAllows(L(1), 'CALL_START')).toBe(false);
    expect(levelAllows(L(2), 'CALL_START')).toBe(true);
    expect(levelAllows(L(2), 'CALL_CONNECT')).toBe(false);
    expect(levelAllows(L(3), 'CALL_CONNECT')).toBe(true);
    expect(levelAllows(L(3), 'CALL_START')).toBe(false);
    expect(['CALL_START', 'CALL_CONNECT', 'CALL_END'].every((t) => levelAllows(L(4), t as CdrRecord['reportType']))).toBe(true);
    expect(levelAllows(L(4, 1), 'MEDIA_END')).toBe(true);
    expect(levelAllows(L(4, 1), 'MEDIA_START')).toBe(false);
    expect(levelAllows(L(4, 3), 'MEDIA_UPDATE')).toBe(true);
    expect(levelAllows(L(4, 3), 'MEDIA_START')).toBe(false);
    expect(levelAllows(L(1, 0, false), 'DIALOG_END')).toBe(false);
    expect(levelAllows(L(1, 0, true), 'DIALOG_END')).toBe(true);
  });
});

describe('CdrPipeline', () => {
  it('numbers records, filters by level, tells listeners everything, survives a throwing sink', () => {
    const a = new ListSink();
    const p = new CdrPipeline({ sinks: [new ThrowingSink(), a], levels: { callLevel: 1, mediaLevel: 0, nonCall: false }, log: silentLogger() });
    const heard: string[] = [];
    p.onRecord((r) => heard.push(r.reportType));
    expect(() => {
      p.emit(sampleCdr({ reportType: 'CALL_START' }));
      p.emit(sampleCdr({ reportType: 'CALL_END' }));
    }).not.toThrow();
    expect(a.got.map((r) => [r.reportType, r.seq])).toEqual([['CALL_END', 2]]);
    expect(heard).toEqual(['CALL_START', 'CALL_END']);
    expect(p.stats().sinkErrors).toBe(1);
    expect(p.recent()).toHaveLength(1);
  });

  it('keeps the last N end records in a ring, oldest first', () => {
    const p = new CdrPipeline({ sinks: [], levels: { callLevel: 1, mediaLevel: 0, nonCall: false }, ringSize: 3, log: silentLogger() });
    for (let i = 0; i < 5; i++) p.emit(sampleCdr({ sessionId: `r${i}` }));
    expect(p.recent().map((r) => r.sessionId)).toEqual(['r2', 'r3', 'r4']);
  });
});

describe('queryCdrs', () => {
  it('filters the ring by time and caller, newest first, and reads older records from the local files', async () => {
    const cols = defaultColumns('call');
    const file = new LocalFileSink({ dir, name: 'cdr', format: 'csv', kind: 'call', columns: cols, maxFileBytes: 3000, maxFiles: 10, intervalMs: 0, log: silentLogger() });
    const p = new CdrPipeline({ sinks: [file], levels: { callLevel: 1, mediaLevel: 0, nonCall: false }, ringSize: 5, log: silentLogger() });
    const t0 = Date.UTC(2025, 0, 1);
    for (let i = 0; i < 20; i++) {
      const caller = i % 2 === 0 ? '1000' : '2000';
      p.emit(sampleCdr({
        sessionId: `q${i}`, releaseTime: t0 + i * 1000, recordTime: t0 + i * 1000,
        callerBeforeMap: { user: caller, uri: `sip:${caller}@pbx`, displayName: null }, caller: { user: `+1555${caller}`, uri: `sip:+1555${caller}@itsp`, displayName: null },
      }));
    }
    await p.flush();
    await file.rotateNow();
    const archive = { files: () => file.files(), format: 'csv' as const, columns: cols };
    const recent = await queryCdrs({ limit: 3 }, p.recent(), archive);
    expect(recent.map((r) => r['sessionId'])).toEqual(['q19', 'q18', 'q17']);
    const byCaller = await queryCdrs({ caller: '2000', limit: 100 }, p.recent(), archive);
    expect(byCaller.map((r) => r['sessionId'] ?? r['SessionId'])).toEqual(['q19', 'q17', 'q15', 'q13', 'q11', 'q9', 'q7', 'q5', 'q3', 'q1']);
    const window = await queryCdrs({ from: t0 + 2000, to: t0 + 4000, limit: 100 }, p.recent(), archive);
    expect(window.map((r) => r['SessionId'])).toEqual(['q4', 'q3', 'q2']);
    await p.close();
  });
});

describe('fromLegacyCdr', () => {
  it('maps the engine\'s record and QoE report', () => {
    const r = fromLegacyCdr({
      callId: 'x1', legACallId: 'a@1', legBCallId: 'b@2', srcIpGroup: 'PBX', dstIpGroup: 'ITSP', caller: '1000', callee: '2000',
      setupTime: '2025-01-01T00:00:00.000Z', connectTime: '2025-01-01T00:00:02.000Z', endTime: '2025-01-01T00:00:12.500Z',
      durationSec: 11, terminationSide: 'B', terminationReason: 'BYE', sipStatus: 200, altRouteAttempts: 1, redirects3xx: 0, timeline: [],
    });
    expect(r).toMatchObject({
      reportType: 'CALL_END', sessionId: 'x1', durationMs: 10_500, releaseSide: 'B', terminationCategory: 'normal', terminationReason: 'BYE',
      legA: { callId: 'a@1', ipGroup: 'PBX' }, legB: { callId: 'b@2', ipGroup: 'ITSP' },
    });
    const busy = fromLegacyCdr({ ...{
      callId: 'x2', legACallId: 'a', legBCallId: null, srcIpGroup: 'PBX', dstIpGroup: null, caller: '1', callee: '2',
      setupTime: '2025-01-01T00:00:00.000Z', connectTime: null, endTime: '2025-01-01T00:00:01.000Z', durationSec: 0,
      terminationSide: 'B', terminationReason: 'Busy Here', sipStatus: 486, altRouteAttempts: 0, redirects3xx: 0, timeline: [],
    } });
    expect(busy).toMatchObject({ terminationCategory: 'busy', terminationReason: '486', durationMs: 0 });
  });
});
