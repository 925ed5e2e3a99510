import { describe, expect, it } from 'vitest';
import type { LegCounters } from '../media/relay-types.js';
import { buildQoeReport } from './report.js';

const counters = (over: Partial<LegCounters> = {}): LegCounters => ({
  rtpPacketsIn: 1000, rtpBytesIn: 172000, rtcpPacketsIn: 4, rtpPacketsOut: 1000, rtcpPacketsOut: 4, packetsLost: 0,
  outOfOrder: 0, jitterMs: 2, lastArrivalMs: 1, srtpAuthFailures: 0, srtpReplayDrops: 0, rejectedSource: 0,
  latchedAddress: '192.0.2.1', latchedPort: 4000, rttMs: 30, remoteFractionLost: 0, remoteJitterMs: 3, ...over,
});

describe('buildQoeReport', () => {
  it('reports per leg and direction, and end-to-end paths', () => {
    const r = buildQoeReport('call-1', { A: counters({ packetsLost: 50, rtpPacketsIn: 950 }), B: counters({ remoteFractionLost: 0.02 }) }, { A: 'PCMA', B: 'PCMA' }, new Date(0));
    expect(r.callId).toBe('call-1');
    expect(r.generatedAt).toBe('1970-01-01T00:00:00.000Z');
    expect(r.legs.A.received).toMatchObject({ packets: 950, lost: 50, lossPct: 5, jitterMs: 2 });
    expect(r.legs.B.sent).toMatchObject({ packets: 1000, lost: null, lossPct: 2, jitterMs: 3 });
    expect(r.paths['A->B'].lossPct).toBeCloseTo(6.9, 2);
    expect(r.paths['A->B'].rttMs).toBe(60);
    expect(r.paths['B->A'].lossPct).toBe(0);
    expect(r.paths['B->A'].mos!).toBeGreaterThan(r.paths['A->B'].mos!);
    expect(r.mos).toBe(r.paths['A->B'].mos);
    expect(r.legs.A.latchedAddress).toBe('192.0.2.1');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('has null MOS where nothing was measured', () => {
    const none = counters({ rtpPacketsIn: 0, rtpPacketsOut: 0, packetsLost: 0, rttMs: null, remoteFractionLost: null, remoteJitterMs: null });
    const r = buildQoeReport('c', { A: none, B: none }, { A: 'PCMU', B: 'PCMU' });
    expect(r.legs.A.received).toMatchObject({ packets: 0, lossPct: null, mos: null });
    expect(r.legs.A.sent).toMatchObject({ lossPct: null, mos: null });
    expect(r.paths['A->B'].mos).toBeNull();
    expect(r.mos).toBeNull();
  });
});
