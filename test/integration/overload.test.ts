/**
 * Overload control through the real SBC process: a burst of calls at
 * several times what the SBC is configured to hold in setup. The excess
 * gets 503 with Retry-After before any call state exists, the admitted
 * calls complete, a normal call completes after the burst, and nothing
 * is left behind.
 */
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';
const SBC_IP = '127.0.0.1';
const MAX_SETUPS = 10;
const BURST = 150;

async function waitUdpBound(address: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inUse = await new Promise<boolean>((res) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => res(true));
      s.bind(port, address, () => s.close(() => res(false)));
    });
    if (inUse) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Status {
  activeCalls: number;
  calls: { calls: number; dialogs: number; shed: number };
  transactions: { clientTransactions: number; serverTransactions: number };
}

describe('SBC process: overload control', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let wanPort = 0;
  let uasPort = 0;
  let apiPort = 0;

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'overload-'));
    [lanPort, wanPort, uasPort, apiPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort()]);
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort,
      pbx: { address: PBX_IP, port: 5060 },
      itsp: [{ address: TRUNK_IP, port: uasPort }],
      media: false,
      scalars: [`SBCOverloadMaxPendingSetups = ${MAX_SETUPS}`, 'SBCOverloadRetryAfter = 7'],
    }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses the excess with 503 + Retry-After, completes what it admitted, recovers, leaks nothing', async () => {
    const uas = startSipp({ scenario: join(SCENARIOS, 'overload-uas-slow-answer.xml'), calls: BURST, localAddress: TRUNK_IP, localPort: uasPort, timeoutMs: 60_000 });
    await waitUdpBound(TRUNK_IP, uasPort);
    const uacTrace = join(dir, 'uac.log');
    // 100 calls/s, each held 1 s in setup by the trunk: ~10x what MAX_SETUPS admits.
    const uac = await startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${SBC_IP}:${lanPort}`, localAddress: PBX_IP, calls: BURST, rate: 100,
      service: '0201234567', timeoutMs: 60_000, extraArgs: ['-d', '100', '-l', '1000', '-trace_msg', '-message_file', uacTrace],
    }).done;
    expect(uac.failed, `UAC: ${uac.output}${uac.errors}\nSBC: ${sbc.stderr()}`).toBe(0);
    expect(uac.successful).toBe(BURST);
    const trace = await readSippTrace(uacTrace);
    expect(trace.length).toBeGreaterThan(BURST);
    // One entry per call: a 503 retransmitted by the SBC's transaction before sipp's ACK arrived counts once.
    const callsOf = (list: typeof trace): string[] => [...new Set(list.map((m) => m.msg.callId))];
    const refused = callsOf(received(trace, 503));
    const answered = callsOf(received(trace, 200).filter((m) => m.msg.cseq?.method === 'INVITE'));
    expect(refused.length).toBeGreaterThan(0);
    expect(answered.length).toBeGreaterThan(0);
    expect(refused.length + answered.length).toBe(BURST);
    for (const r of received(trace, 503)) expect(r.msg.getHeader('retry-after')).toBe('7');
    const status = await sbc.api<Status>('/api/v1/status');
    expect(status.calls.shed).toBe(refused.length);

    // The trunk saw exactly the admitted calls.
    await uas.stop();

    // After the burst a normal call goes through.
    const uas2 = startSipp({ scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls: 1, localAddress: TRUNK_IP, localPort: uasPort, timeoutMs: 20_000 });
    await waitUdpBound(TRUNK_IP, uasPort);
    const one = await startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${SBC_IP}:${lanPort}`, localAddress: PBX_IP, calls: 1,
      service: '0201234567', timeoutMs: 20_000, extraArgs: ['-d', '100'],
    }).done;
    await uas2.done;
    expect(one.successful, `UAC: ${one.output}${one.errors}`).toBe(1);

    // Nothing left: calls and dialogs at once, transactions once their timers (64*T1 = 6.4 s) ran.
    let s = await sbc.api<Status>('/api/v1/status');
    expect(s.calls).toMatchObject({ calls: 0, dialogs: 0 });
    for (let i = 0; i < 150 && s.transactions.serverTransactions + s.transactions.clientTransactions > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      s = await sbc.api<Status>('/api/v1/status');
    }
    expect(s.transactions).toMatchObject({ clientTransactions: 0, serverTransactions: 0 });
  }, 120_000);
});
