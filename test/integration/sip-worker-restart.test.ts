/**
 * A SIP worker thread that dies is started again (docs/performance.md,
 * "Multi-core signalling"): the real SBC process with two SIP threads and
 * sipp holds calls under an SBCAdmissionControl Limit; worker 1 is made to
 * throw (test hook SBC_TEST_HOOKS=1, SIGUSR2). The process keeps running,
 * the dead thread's admission counts are given back, the thread comes back
 * on the same share of the socket and new calls complete on both threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbcOwnThreads, testIni, type SbcProcess, type TestIniOptions } from './helpers/sbc-process.js';
import { until } from './helpers/wait.js';

const PBX = '127.0.0.74';
const ITSP = '127.0.0.75';

interface ThreadStatus { shard: number; calls: { calls: number; totalCalls: number } }
interface Status { calls: { calls: number; totalCalls: number; registeredDialogs: number }; workers?: ThreadStatus[]; workerRestarts?: number }
interface RuleCounters { rule: string; active: number; admitted: number }

const CAC = [
  '[ SBCAdmissionControl ]',
  'FORMAT Index = AdmissionControlName, LimitType, IPGroupName, SIPInterfaceName, RequestType, RequestDirection, Limit, LimitPerUser, Rate, MaxBurst, Reservation;',
  'SBCAdmissionControl 0 = "pbx-limit", 0, "PBX", "", 1, 1, 40, -1, 0, 0, 0;',
  '[ \\SBCAdmissionControl ]',
].join('\r\n');

describe('a SIP worker thread that dies is started again (real SBC process, sipp)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let ini: TestIniOptions;

  beforeAll(async () => {
    assertSippInstalled();
    const uasPort = await findFreePort(ITSP);
    uas = startSipp({ scenario: 'uas', calls: 5000, localAddress: ITSP, localPort: uasPort, timeoutMs: 170_000 });
    await uas.bound();
    ini = {
      lanPort: await findFreePort(), wanPort: await findFreePort(), apiPort: await findFreePort(), media: true,
      pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }],
      scalars: ['SIPWorkerThreads = 2'], extra: CAC,
    };
    sbc = await startSbcOwnThreads(testIni(ini), { env: { SBC_TEST_HOOKS: '1' } });
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('keeps the process, gives back the lost calls\' admission counts, and carries new calls on both threads', async () => {
    // 30 calls held 60 s: spread over both threads by Call-ID.
    const held = startSipp({
      scenario: 'uac', target: `127.0.0.1:${ini.lanPort}`, localAddress: PBX, calls: 30, rate: 50, timeoutMs: 90_000, extraArgs: ['-d', '60000'],
    });
    try {
      const up = await until('30 calls up', async () => {
        const st = await sbc.api<Status>('/api/v1/status');
        return st.calls.calls === 30 ? st : null;
      }, 20_000);
      const onWorker = up.workers?.find((w) => w.shard === 1)?.calls.calls ?? -1;
      expect(onWorker).toBeGreaterThan(0);
      expect(onWorker).toBeLessThan(30);
      const rule = async (): Promise<RuleCounters | undefined> => (await sbc.api<RuleCounters[]>('/api/v1/admission')).find((c) => c.rule === 'pbx-limit');
      expect((await rule())?.active).toBe(30);

      const mark = sbc.logs.length;
      sbc.proc.kill('SIGUSR2');
      await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= mark && l.msg.startsWith('SIP worker thread exited'), 10_000);
      const back = await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= mark && l.msg === 'SIP worker thread started again', 15_000);
      expect(back['worker']).toBe(1);
      const given = sbc.logs.slice(mark).find((l) => l.msg === 'admission counts of the lost calls given back');
      process.stdout.write(`worker restart: ${onWorker} of 30 held calls were on the worker; given back ${String(given?.['given'])}\n`);
      expect(given?.['given']).toBe(onWorker);
      // The main thread's calls and their counts stay; the lost thread's are gone.
      const st = await sbc.api<Status>('/api/v1/status');
      expect(st.workerRestarts).toBe(1);
      expect(st.calls.calls).toBe(30 - onWorker);
      expect((await rule())?.active).toBe(30 - onWorker);

      // New calls complete on both threads, the restarted one included.
      const before = st.workers?.find((w) => w.shard === 1)?.calls.totalCalls ?? -1;
      expect(before).toBe(0);
      const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${ini.lanPort}`, localAddress: PBX, calls: 100, rate: 50, timeoutMs: 60_000 });
      expect(r.failed, r.errors).toBe(0);
      expect(r.successful).toBe(100);
      const after = await sbc.api<Status>('/api/v1/status');
      const onNew = after.workers?.find((w) => w.shard === 1)?.calls.totalCalls ?? -1;
      process.stdout.write(`after the restart: ${onNew} of 100 new calls on the restarted worker\n`);
      expect(onNew).toBeGreaterThan(10);
      expect(onNew).toBeLessThan(90);
    } finally {
      await held.stop();
    }
  }, 120_000);
});
