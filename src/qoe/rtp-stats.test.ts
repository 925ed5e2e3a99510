import { describe, expect, it } from 'vitest';
import { RtpReceiveEstimator } from './rtp-stats.js';

/** A 20 ms G.711 stream: seq, timestamp (+160) and send time (ms). */
function stream(n: number, startSeq = 0, startTs = 0): Array<{ seq: number; ts: number; t: number }> {
  return Array.from({ length: n }, (_, i) => ({ seq: (startSeq + i) & 0xffff, ts: (startTs + 160 * i) >>> 0, t: 20 * i }));
}

function feed(est: RtpReceiveEstimator, pkts: Array<{ seq: number; ts: number; t: number }>, delay: (i: number) => number = () => 0): void {
  pkts.forEach((p, i) => est.onPacket(p.seq, p.ts, 1000 + p.t + delay(i)));
}

describe('RtpReceiveEstimator (RFC 3550 A.1/A.3/A.8)', () => {
  it('a clean stream has no loss and no jitter', () => {
    const e = new RtpReceiveEstimator(8000);
    feed(e, stream(500));
    expect(e.stats()).toMatchObject({ received: 500, expected: 500, lost: 0, lossPct: 0, jitterMs: 0, lossBursts: 0, burstRatio: 1 });
  });

  it('counts across sequence wrap-around', () => {
    const e = new RtpReceiveEstimator();
    const pkts = stream(1000, 65000).filter((_, i) => i % 10 !== 5); // 100 lost, spanning the wrap at 65535 -> 0
    feed(e, pkts);
    const s = e.stats();
    expect(s.expected).toBe(1000);
    expect(s.received).toBe(900);
    expect(s.lost).toBe(100);
    expect(s.lossBursts).toBe(100);
    expect(s.meanBurstLength).toBe(1);
  });

  it('reordered packets are not losses and do not count twice; duplicates are ignored', () => {
    const e = new RtpReceiveEstimator();
    const pkts = stream(300, 65500);
    // Swap neighbours every 7 packets and deliver every 50th twice.
    for (let i = 0; i + 1 < pkts.length; i += 7) [pkts[i], pkts[i + 1]] = [pkts[i + 1]!, pkts[i]!];
    const withDups = pkts.flatMap((p, i) => (i % 50 === 0 ? [p, p] : [p]));
    feed(e, withDups);
    const s = e.stats();
    expect(s.received).toBe(300);
    expect(s.lost).toBe(0);
    expect(s.lossBursts).toBe(0);
    expect(s.reordered).toBeGreaterThan(30);
    expect(s.duplicates).toBe(6);
  });

  it('a packet reordered across the wrap lands in the right cycle', () => {
    const e = new RtpReceiveEstimator();
    const pkts = stream(20, 65530);
    const late = pkts.splice(4, 1)[0]!; // seq 65534 arrives after seq 2
    pkts.splice(9, 0, late);
    feed(e, pkts);
    expect(e.stats()).toMatchObject({ received: 20, expected: 20, lost: 0 });
  });

  it('measures bursty loss: runs of 5 give a burst ratio well above 1', () => {
    const e = new RtpReceiveEstimator();
    const pkts = stream(1000).filter((_, i) => i % 100 < 95); // 5 lost every 100, the last 5 never sent
    feed(e, pkts);
    const s = e.stats();
    expect(s.expected).toBe(995);
    expect(s.lost).toBe(45);
    expect(s.lossBursts).toBe(9);
    expect(s.meanBurstLength).toBe(5);
    expect(s.burstRatio).toBeCloseTo(5 * (1 - 45 / 995), 2);
  });

  it('jitter follows RFC 3550 A.8: alternating 0/10 ms delay converges near 10 ms', () => {
    const e = new RtpReceiveEstimator(8000);
    feed(e, stream(2000), (i) => (i % 2 === 0 ? 0 : 10));
    // |D| = 10 ms every packet; J -> 10 ms.
    expect(e.stats().jitterMs).toBeCloseTo(10, 1);
    const g722 = new RtpReceiveEstimator(16000);
    feed(g722, stream(2000).map((p) => ({ ...p, ts: p.ts * 2 })), (i) => (i % 2 === 0 ? 0 : 4));
    expect(g722.stats().jitterMs).toBeCloseTo(4, 1);
  });

  it('jitter is not disturbed by the RTP timestamp wrapping at 2^32', () => {
    const e = new RtpReceiveEstimator();
    feed(e, stream(200, 0, 2 ** 32 - 160 * 100));
    expect(e.stats().jitterMs).toBeLessThan(0.01);
  });

  it('restarts on a confirmed large jump (source restart), ignores a single stray', () => {
    const e = new RtpReceiveEstimator();
    feed(e, stream(100, 1000));
    e.onPacket(40000, 0, 5000); // stray
    expect(e.stats().expected).toBe(100);
    // The packet right after the jump confirms it (RFC 3550 A.1 bad_seq): counting restarts there.
    e.onPacket(40001, 160, 5020);
    e.onPacket(40002, 320, 5040);
    const s = e.stats();
    expect(s.expected).toBe(2);
    expect(s.lost).toBe(0);
  });
});
