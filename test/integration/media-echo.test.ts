/**
 * Issue 6 acceptance, RTP relay through the real SBC process: sipp (PBX
 * side) plays g711a.pcap through the SBC to a sipp UAS with -rtp_echo
 * (trunk side), which sends every packet back. The SBC's per-leg counters
 * in the CDR's QoE report must show the pcap's packets going A->B and the
 * same number coming back B->A.
 *
 * sipp 3.6 prints no RTP counters of its own in its final screens or
 * -trace_stat CSV, so "sipp's count" is what it announces it plays
 * ("In pcap ..., npkts N" on stderr), checked against our own reading of
 * the pcap file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import { delay, freeMediaPort, nextCdr, readPcapUdp } from './helpers/media-peer.js';

const PCAP = '/usr/share/sip-tester/g711a.pcap';
const UAC_SCENARIO = 'test/scenarios/media-uac-pcap.xml';
const UAS_SCENARIO = 'test/scenarios/media-uas-answer.xml';

/** |actual - expected| within 1% of expected (at least one packet). */
function expectWithin1Pct(actual: number, expected: number, what: string): void {
  const slack = Math.max(1, Math.ceil(expected * 0.01));
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(slack);
}

describe('SBC process: sipp plays g711a.pcap, sipp -rtp_echo sends it back', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;
  const seen = new Set<LogLine>();
  const pcap = readPcapUdp(PCAP);

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasPort = await findFreePort('127.0.0.3');
    const apiPort = await findFreePort();
    // sipp echoes on -mp and -mp + 2 (video): keep four ports to itself.
    const echoPort = await freeMediaPort('127.0.0.3');
    uas = startSipp({
      scenario: UAS_SCENARIO, calls: 1, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 40_000,
      extraArgs: ['-rtp_echo', '-mi', '127.0.0.3', '-mp', String(echoPort), '-key', 'rtp_ip', '127.0.0.3', '-key', 'rtp_port', String(echoPort)],
    });
    await uas.bound();
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
    }));
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
  });

  it('the fixture is what the test expects: a few hundred PCMA packets', () => {
    expect(pcap.payloads.length).toBe(236);
    for (const p of pcap.payloads) expect(p[1]! & 0x7f).toBe(8);
  });

  it('relays every packet there and back, and the counters agree with the pcap', async () => {
    const uacMediaPort = await freeMediaPort('127.0.0.2');
    const uacRun = runSipp({
      scenario: UAC_SCENARIO, target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 40_000,
      extraArgs: ['-mi', '127.0.0.2', '-mp', String(uacMediaPort)],
    });

    // While the pcap plays, one relay session is up.
    let relaySessions = 0;
    for (let i = 0; i < 60 && relaySessions === 0; i++) {
      const s = await sbc.api<{ relay: { sessions: number } }>('/api/v1/status');
      relaySessions = s.relay.sessions;
      if (relaySessions === 0) await delay(100);
    }
    expect(relaySessions).toBe(1);

    const uac = await uacRun;
    expect(uac.failed, `${uac.errors}\n${uac.output}`).toBe(0);
    expect(uac.successful).toBe(1);
    const uasResult = await uas.done;
    expect(uasResult.successful, uasResult.errors).toBe(1);

    // sipp's own statement of what it played.
    const npkts = /npkts (\d+)/.exec(uac.errors + uac.output)?.[1];
    expect(npkts, 'sipp reports the packets of the pcap it plays').toBeDefined();
    expect(Number(npkts)).toBe(pcap.payloads.length);

    const cdr = await nextCdr(sbc, seen);
    expect(cdr.terminationReason).toBe('BYE');
    const { A, B } = cdr.qoe!.legs;
    const n = pcap.payloads.length;
    process.stdout.write(`echo: A in ${A.received.packets} -> B out ${B.sent.packets}; B in ${B.received.packets} -> A out ${A.sent.packets} (pcap ${n})\n`);
    // A->B: the caller's packets arrived and went on to the echo.
    expectWithin1Pct(A.received.packets, n, 'A received');
    expectWithin1Pct(B.sent.packets, A.received.packets, 'B sent vs A received');
    // B->A: the echo came back and went on to the caller.
    expectWithin1Pct(B.received.packets, B.sent.packets, 'B received vs B sent');
    expectWithin1Pct(A.sent.packets, B.received.packets, 'A sent vs B received');
    expectWithin1Pct(A.sent.packets, n, 'A sent vs pcap');
    expect(A.codec).toBe('PCMA');
    expect(A.srtpAuthFailures + B.srtpAuthFailures + A.rejectedSource + B.rejectedSource).toBe(0);
    // Symmetric RTP: each leg latched onto its peer's media address.
    expect(A.latchedAddress).toBe('127.0.0.2');
    expect(B.latchedAddress).toBe('127.0.0.3');

    // And the session is gone after the BYE.
    let after = 1;
    for (let i = 0; i < 40 && after !== 0; i++) {
      after = (await sbc.api<{ relay: { sessions: number } }>('/api/v1/status')).relay.sessions;
      if (after !== 0) await delay(100);
    }
    expect(after).toBe(0);
  }, 45_000);
});
