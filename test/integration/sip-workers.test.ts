/**
 * SIP worker threads (SIPWorkerThreads = 2, docs/performance.md "Multi-core
 * signalling") with the real SBC process and sipp: calls are spread over
 * both threads by Call-ID and all complete; an SBCAdmissionControl Limit
 * stays exact with two threads admitting at once; a reload reaches every
 * thread; requests outside a call (OPTIONS) are answered whichever thread
 * their Call-ID belongs to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbcOwnThreads, testIni, type SbcProcess, type TestIniOptions } from './helpers/sbc-process.js';
import { sipRequest, udpPeer } from './helpers/udp-peer.js';
import { until } from './helpers/wait.js';

const PBX = '127.0.0.71';
const ITSP_A = '127.0.0.72';
const ITSP_B = '127.0.0.73';

interface ThreadStatus { shard: number; calls: { calls: number; totalCalls: number } }
interface Status {
  activeCalls: number;
  calls: { calls: number; totalCalls: number; registeredDialogs: number };
  transactions: { clientTransactions: number; serverTransactions: number };
  workers?: ThreadStatus[];
}
interface RuleCounters { rule: string; entity: string; active: number; admitted: number; rejected: { limit: number } }

const CAC_FORMAT = 'FORMAT Index = AdmissionControlName, LimitType, IPGroupName, SIPInterfaceName, RequestType, RequestDirection, Limit, LimitPerUser, Rate, MaxBurst, Reservation;';
const cacLimit = (limit: number): string =>
  `[ SBCAdmissionControl ]\r\n${CAC_FORMAT}\r\nSBCAdmissionControl 0 = "pbx-limit", 0, "PBX", "", 1, 1, ${limit}, -1, 0, 0, 0;\r\n[ \\SBCAdmissionControl ]\r\n`;

describe('SIP worker threads (SIPWorkerThreads = 2, real SBC process, sipp)', () => {
  let sbc: SbcProcess;
  let uasA: SippProcess;
  let uasB: SippProcess | null = null;
  let ini: TestIniOptions;
  let uasBPort: number;
  /** Calls the worker thread (shard 1) had carried at the last read. */
  const workerTotal = (s: Status): number => s.workers?.find((w) => w.shard === 1)?.calls.totalCalls ?? -1;

  beforeAll(async () => {
    assertSippInstalled();
    const lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasAPort = await findFreePort(ITSP_A);
    uasBPort = await findFreePort(ITSP_B);
    uasA = startSipp({ scenario: 'uas', calls: 5000, localAddress: ITSP_A, localPort: uasAPort, timeoutMs: 170_000 });
    await uasA.bound();
    ini = {
      lanPort, wanPort, apiPort: await findFreePort(), media: true, pbx: { address: PBX, port: 5060 },
      itsp: [{ address: ITSP_A, port: uasAPort }],
      // The environment may force a count (SBC_SIP_WORKERS); this file is about two threads.
      scalars: ['SIPWorkerThreads = 2'],
    };
    sbc = await startSbcOwnThreads(testIni(ini));
  }, 30_000);

  afterAll(async () => {
    await uasA?.stop();
    await uasB?.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('spreads calls over both threads by Call-ID; every call completes and nothing is left', async () => {
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${ini.lanPort}`, localAddress: PBX, calls: 300, rate: 100, timeoutMs: 60_000 });
    expect(r.failed, r.errors).toBe(0);
    expect(r.successful).toBe(300);
    const s = await until('calls and transactions gone', async () => {
      const st = await sbc.api<Status>('/api/v1/status');
      return st.calls.calls === 0 && st.calls.registeredDialogs === 0 ? st : null;
    });
    expect(s.workers?.length).toBe(1);
    const onWorker = workerTotal(s);
    process.stdout.write(`workers: ${s.calls.totalCalls} calls in all, ${onWorker} on the worker thread\n`);
    expect(s.calls.totalCalls).toBe(300);
    // FNV-1a of sipp's Call-IDs mod 2: each thread gets a fair share (far from 0 or 300).
    expect(onWorker).toBeGreaterThan(60);
    expect(onWorker).toBeLessThan(240);
    const cdrs = sbc.logs.filter((l) => l.msg === 'call detail record');
    expect(cdrs.length).toBeGreaterThanOrEqual(300);
  }, 90_000);

  it('answers OPTIONS outside a call whatever thread its Call-ID hashes to', async () => {
    const peer = await udpPeer(PBX);
    try {
      const ids = Array.from({ length: 16 }, () => randomBytes(8).toString('hex'));
      for (const id of ids) {
        await peer.send(sipRequest([
          `OPTIONS sip:sbc@127.0.0.1:${ini.lanPort} SIP/2.0`,
          `Via: SIP/2.0/UDP ${PBX}:${peer.port};branch=z9hG4bK${id}`,
          'Max-Forwards: 70', `From: <sip:probe@${PBX}>;tag=${id}`, `To: <sip:sbc@127.0.0.1>`,
          `Call-ID: ${id}`, 'CSeq: 1 OPTIONS',
        ]), ini.lanPort, '127.0.0.1');
      }
      for (const id of ids) {
        const res = await peer.waitFor((m) => !m.isRequest && m.callId === id && m.status >= 200, 10_000, `answer to OPTIONS ${id}`);
        expect(res.status).toBe(200);
      }
    } finally {
      await peer.close();
    }
  }, 30_000);

  it('keeps an SBCAdmissionControl Limit exact with two threads admitting', async () => {
    const before = sbc.logs.length;
    await sbc.reload(testIni({ ...ini, extra: cacLimit(10) }));
    await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= before && l.msg.startsWith('configuration reload'), 10_000);
    const start = workerTotal(await sbc.api<Status>('/api/v1/status'));
    // 40 calls within 0.4 s, each held 6 s: at most 10 may be up at once, on either thread.
    const run = startSipp({
      scenario: 'uac', target: `127.0.0.1:${ini.lanPort}`, localAddress: PBX, calls: 40, rate: 100, timeoutMs: 60_000, extraArgs: ['-d', '6000'],
    });
    const held = await until('ten calls up', async () => {
      const st = await sbc.api<Status>('/api/v1/status');
      return st.calls.calls >= 10 ? st : null;
    }, 20_000);
    const rule = (await sbc.api<RuleCounters[]>('/api/v1/admission')).find((c) => c.rule === 'pbx-limit');
    const r = await run.done;
    process.stdout.write(`cac with 2 threads: ${r.successful} admitted of 40, active at the peak ${rule?.active}, on the worker ${workerTotal(held) - start}\n`);
    expect(held.calls.calls).toBe(10);
    expect(rule?.active).toBe(10);
    expect(r.successful, r.output).toBe(10);
    expect(r.failed).toBe(30);
    // Both threads admitted some of the ten (else this proves nothing about sharing).
    expect(workerTotal(held) - start).toBeGreaterThan(0);
    expect(workerTotal(held) - start).toBeLessThan(10);
    const after = (await sbc.api<RuleCounters[]>('/api/v1/admission')).find((c) => c.rule === 'pbx-limit');
    expect(after?.active).toBe(0);
    expect(after?.rejected.limit).toBe(30);
  }, 90_000);

  it('a reload reaches every thread: the next calls all follow the new route', async () => {
    uasB = startSipp({ scenario: 'uas', calls: 5000, localAddress: ITSP_B, localPort: uasBPort, timeoutMs: 120_000 });
    await uasB.bound();
    // The old destination is gone: a call any thread still routed there would fail.
    await uasA.stop();
    const before = sbc.logs.length;
    await sbc.reload(testIni({ ...ini, itsp: [{ address: ITSP_B, port: uasBPort }] }));
    await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= before && l.msg.startsWith('configuration reload'), 10_000);
    // The worker applies the text the main thread posted: a message away.
    await until('every thread has the new route', async () => {
      const probe = await runSipp({ scenario: 'uac', target: `127.0.0.1:${ini.lanPort}`, localAddress: PBX, calls: 8, rate: 40, timeoutMs: 30_000 });
      return probe.successful === 8 ? true : null;
    }, 30_000);
    const start = workerTotal(await sbc.api<Status>('/api/v1/status'));
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${ini.lanPort}`, localAddress: PBX, calls: 60, rate: 60, timeoutMs: 60_000 });
    expect(r.failed, r.errors).toBe(0);
    expect(r.successful).toBe(60);
    const s = await until('calls gone', async () => {
      const st = await sbc.api<Status>('/api/v1/status');
      return st.calls.calls === 0 ? st : null;
    });
    const b = await uasB.stop();
    uasB = null;
    const reachedB = Number(/Incoming calls created\s*\|\s*\d+\s*\|\s*(\d+)/.exec(b.output)?.[1] ?? '0');
    expect(reachedB, b.output).toBeGreaterThanOrEqual(68);
    // Both threads carried some of the 60.
    expect(workerTotal(s) - start).toBeGreaterThan(0);
    expect(workerTotal(s) - start).toBeLessThan(60);
  }, 120_000);
});
