/**
 * A call whose caller and callee both vanish without BYE (what a hostile
 * probe left behind: "confirmed" calls holding media ports for good) is
 * found by the in-dialog keep-alive and ended, through the real SBC
 * process with sipp on both sides.
 */
import dgram from 'node:dgram';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp } from './helpers/sipp.js';
import { SCENARIOS } from './helpers/b2bua-harness.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';
const SBC_IP = '127.0.0.1';

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

interface Status { activeCalls: number }

describe('SBC process: calls whose parties vanished', () => {
  let sbc: SbcProcess;
  let lanPort = 0;
  let wanPort = 0;
  let uasPort = 0;
  let pbxPort = 0;
  let apiPort = 0;

  beforeAll(async () => {
    assertSippInstalled();
    [lanPort, wanPort, uasPort, pbxPort, apiPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP), findFreePort(),
    ]);
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort,
      pbx: { address: PBX_IP, port: pbxPort },
      itsp: [{ address: TRUNK_IP, port: uasPort }],
      // Probe every 2 s; with T1 = 100 ms an unanswered OPTIONS times out after 64*T1 = 6.4 s.
      scalars: ['SBCDialogKeepAliveTime = 2'],
    }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
  });

  it('ends a connected call after both caller and callee disappear without BYE', async () => {
    const uas = startSipp({ scenario: join(SCENARIOS, 'stranded-uas-no-bye.xml'), calls: 1, localAddress: TRUNK_IP, localPort: uasPort, timeoutMs: 20_000 });
    await waitUdpBound(TRUNK_IP, uasPort);
    const uac = await startSipp({
      scenario: join(SCENARIOS, 'stranded-uac-no-bye.xml'), target: `${SBC_IP}:${lanPort}`, localAddress: PBX_IP, localPort: pbxPort,
      calls: 1, service: '0201234567', timeoutMs: 20_000,
    }).done;
    const uasRes = await uas.done;
    expect(uac.successful, `UAC: ${uac.output}${uac.errors}\nSBC: ${sbc.stderr()}`).toBe(1);
    expect(uasRes.successful, `UAS: ${uasRes.output}${uasRes.errors}`).toBe(1);

    // Both parties are gone and neither sent BYE: the SBC still holds the call (this is the stranding).
    const connected = await sbc.waitForLog((l) => l.msg === 'new call');
    expect(connected).toBeDefined();
    const before = await sbc.api<Status>('/api/v1/status');
    expect(before.activeCalls).toBe(1);
    expect(sbc.logs.some((l) => l.msg === 'call ended')).toBe(false);

    // The keep-alive finds the legs gone and ends the call.
    const ended = await sbc.waitForLog((l: LogLine) => l.msg === 'call ended', 45_000);
    expect(String(ended['reason'])).toMatch(/^leg [AB] gone: no answer to in-dialog OPTIONS$/);
    const after = await sbc.api<Status>('/api/v1/status');
    expect(after.activeCalls).toBe(0);
    // The CDR line may be written just after 'call ended': wait for it rather than look once.
    const cdr = (await sbc.waitForLog((l) => l.msg === 'call detail record'))['cdr'] as { sipStatus: number; terminationSide: string; terminationReason: string } | undefined;
    expect(cdr).toMatchObject({ sipStatus: 200, terminationSide: expect.stringMatching(/^[AB]$/), terminationReason: ended['reason'] });
  }, 90_000);
});
