/**
 * The real SBC process between two sipp instances: sipp's built-in uac
 * (PBX side) -> SBC -> sipp's built-in uas (trunk side), media anchored.
 * Issue 4 acceptance: 1,000 calls at 50 cps with zero failures, and after
 * the calls no call, dialog, transaction or relay session is left, and the
 * JS heap is back to its level before the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

interface Status {
  activeCalls: number;
  calls: { calls: number; dialogs: number; pendingTimers: number; totalCalls: number };
  transactions: { clientTransactions: number; serverTransactions: number };
  relay: { kind: string; sessions: number };
  memory: { rss: number; heapUsed: number };
}

async function settle(sbc: SbcProcess, timeoutMs = 45_000): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let s = await sbc.api<Status>('/api/v1/status?gc=1');
  while (Date.now() < deadline) {
    if (s.calls.calls === 0 && s.transactions.clientTransactions === 0 && s.transactions.serverTransactions === 0 && s.relay.sessions === 0) break;
    await new Promise((r) => setTimeout(r, 500));
    s = await sbc.api<Status>('/api/v1/status?gc=1');
  }
  return s;
}

describe('SBC process: sipp uac -> SBC -> sipp uas', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasPort = await findFreePort();
    const apiPort = await findFreePort();
    uas = startSipp({ scenario: 'uas', calls: 5000, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 120_000 });
    await uas.bound();
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort,
      pbx: { address: '127.0.0.2', port: 5060 },
      // RFC 3261 default timers: the load run must not depend on a fast machine.
      scalars: ['SipT1Rtx = 500', 'SipT2Rtx = 4000', 'SipT4Rtx = 5000'],
      itsp: [{ address: '127.0.0.3', port: uasPort }],
    }), { exposeGc: true });
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
  });

  it('carries 1,000 calls at 50 cps with zero failures and leaks nothing', async () => {
    // Warm-up: JIT, pools and caches reach their working size before the baseline.
    const warm = await runSipp({
      scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 200, rate: 50, timeoutMs: 30_000,
    });
    expect(warm.failed).toBe(0);
    const before = await settle(sbc);
    expect(before.calls.calls).toBe(0);

    const run = await runSipp({
      scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1000, rate: 50, timeoutMs: 90_000,
      extraArgs: ['-trace_err'],
    });
    expect(run.failed, `${run.errors}\n${run.output}`).toBe(0);
    expect(run.successful).toBe(1000);

    const after = await settle(sbc);
    expect(after.calls.totalCalls).toBe(1200);
    expect(after.calls.calls).toBe(0);
    expect(after.calls.dialogs).toBe(0);
    expect(after.calls.pendingTimers).toBe(0);
    expect(after.transactions.clientTransactions).toBe(0);
    expect(after.transactions.serverTransactions).toBe(0);
    expect(after.relay.sessions).toBe(0);
    const ratio = after.memory.heapUsed / before.memory.heapUsed;
    process.stdout.write(`heap before ${before.memory.heapUsed} after ${after.memory.heapUsed} (x${ratio.toFixed(3)}); rss before ${before.memory.rss} after ${after.memory.rss}\n`);
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.1);
  }, 180_000);
});
