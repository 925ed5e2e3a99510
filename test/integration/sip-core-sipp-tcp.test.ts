/**
 * sipp's built-in `uac` scenario against the test UAS over TCP: one
 * connection for every call (`-t t1`), and one per call spread over 50
 * simultaneous connections (`-t tn -max_socket 50`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, runSipp, type SippResult } from './helpers/sipp.js';
import { TestUas } from './helpers/test-uas.js';

function describeRun(r: SippResult): string {
  return `sipp ${r.args.join(' ')}\nexit=${r.exitCode} signal=${r.signal} killed=${r.killed} ok=${r.successful} failed=${r.failed}\n${r.output.slice(-1500)}\n${r.errors.slice(-1500)}`;
}

describe('sipp uac -> test UAS over TCP', () => {
  beforeAll(() => assertSippInstalled());

  it('completes 2,000 calls over one TCP connection (-t t1)', async () => {
    const uas = await TestUas.start({ udp: false });
    try {
      const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${uas.info.tcpPort}`, transport: 't1', calls: 2000, rate: 200, limit: 400, timeoutMs: 50_000 });
      expect(r.failed, describeRun(r)).toBe(0);
      expect(r.successful, describeRun(r)).toBe(2000);
      expect(uas.counters.byes).toBe(2000);
      expect(uas.transport.stats().connectionsOpened).toBe(1);
      // Reliable transport: nothing to retransmit below the 2xx (which waits for the ACK).
      expect(uas.layer.stats().retransmissionsAbsorbed).toBe(0);
    } finally {
      await uas.stop();
    }
  }, 60_000);

  it('completes 2,000 calls over 50 parallel TCP connections (-t tn -max_socket 50)', async () => {
    const uas = await TestUas.start({ udp: false });
    try {
      const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${uas.info.tcpPort}`, transport: 'tn', maxSocket: 50, calls: 2000, rate: 200, timeoutMs: 50_000,
        // Calls last 200 ms so that about 40 overlap, each on its own connection. sipp 3.6 itself
        // breaks when more calls than -max_socket overlap (it fails sipp-to-sipp too), hence -l 45.
        limit: 45, extraArgs: ['-d', '200'] });
      expect(r.failed, describeRun(r)).toBe(0);
      expect(r.successful, describeRun(r)).toBe(2000);
      expect(uas.counters.byes).toBe(2000);
      expect(uas.transport.stats().peakOpenConnections).toBeGreaterThan(20);
      expect(uas.transport.stats().peakOpenConnections).toBeLessThanOrEqual(50);
    } finally {
      await uas.stop();
    }
  }, 60_000);
});
