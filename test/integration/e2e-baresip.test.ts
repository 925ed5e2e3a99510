/**
 * Issue 4 interop acceptance: two real softphones (Debian's baresip) call
 * each other through the running SBC process, media anchored by the SBC.
 * One instance is the PBX (127.0.0.2, classified by its address), the other
 * the trunk (127.0.0.3, the ITSP Proxy Set's server). Each call is
 * answered, carries audio both ways for a few seconds and is hung up, in
 * turn by the caller and by the callee, in both directions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertBaresipInstalled, startBaresip, stopAll, type BaresipCallStats, type BaresipInstance,
} from './helpers/baresip.js';
import { findFreePort } from './helpers/sipp.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import type { QoeLegView } from './helpers/media-peer.js';

const CALL_SECONDS = 3;
const HUNG_UP_HERE = 'Connection reset by user';
const BYE_RECEIVED = 'Connection reset by peer';

interface Cdr {
  qoe: { legs: { A: QoeLegView; B: QoeLegView } } | null;
  legACallId: string;
  legBCallId: string | null;
  srcIpGroup: string | null;
  dstIpGroup: string | null;
  sipStatus: number;
  terminationSide: 'A' | 'B' | 'sbc';
  connectTime: string | null;
}

interface Status {
  activeCalls: number;
  calls: { calls: number; dialogs: number; pendingTimers: number };
  relay: { kind: string; sessions: number };
}

function expectAudioBothWays(caller: BaresipCallStats, callee: BaresipCallStats): void {
  // ptime 20: 50 packets/s; at least half of that for all but the first second.
  const minPackets = 25 * (CALL_SECONDS - 1);
  for (const s of [caller, callee]) {
    expect(s.txPackets).toBeGreaterThan(minPackets);
    expect(s.rxPackets).toBeGreaterThan(minPackets);
    expect(s.rxErrors + s.txErrors).toBe(0);
  }
  // What one side received is what the other sent through the SBC's relay, bar packets in flight.
  expect(callee.rxPackets).toBeGreaterThanOrEqual(Math.floor(caller.txPackets * 0.8));
  expect(caller.rxPackets).toBeGreaterThanOrEqual(Math.floor(callee.txPackets * 0.8));
}

describe('issue 4: baresip <-> SBC process <-> baresip', () => {
  let sbc: SbcProcess | undefined;
  let pbx: BaresipInstance | undefined;
  let trunk: BaresipInstance | undefined;
  let lanPort = 0;
  let wanPort = 0;

  beforeAll(async () => {
    assertBaresipInstalled();
    [pbx, trunk] = await Promise.all([
      startBaresip({ name: 'pbx', user: '100', host: '127.0.0.2', audio: { tone: 440 } }),
      startBaresip({ name: 'trunk', user: 'trunk', aliases: ['200'], host: '127.0.0.3', audio: { tone: 700 } }),
    ]);
    const [apiPort, lan, wan] = await Promise.all([findFreePort(), findFreePort(), findFreePort()]);
    lanPort = lan;
    wanPort = wan;
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort,
      pbx: { address: pbx.host, port: pbx.sipPort },
      itsp: [{ address: trunk.host, port: trunk.sipPort }],
    }));
  }, 40_000);

  afterAll(async () => {
    await stopAll([pbx, trunk]);
    await sbc?.stop();
  });

  async function oneCall(caller: BaresipInstance, callee: BaresipInstance, uri: string, hangupBy: BaresipInstance): Promise<Cdr> {
    const before = new Set(sbc!.logs);
    await caller.dial(uri);
    const [estCaller, estCallee] = await Promise.all([
      caller.waitForEvent('CALL_ESTABLISHED', 15_000), callee.waitForEvent('CALL_ESTABLISHED', 15_000),
    ]);
    expect(estCaller.direction).toBe('outgoing');
    expect(estCallee.direction).toBe('incoming');
    // Two dialogs: the SBC gave leg B its own Call-ID.
    expect(estCaller.id).not.toBe(estCallee.id);
    // Media is anchored: the SBC relays this call's RTP.
    const during = await sbc!.api<Status>('/api/v1/status');
    expect(during.activeCalls).toBe(1);
    expect(during.relay.sessions).toBeGreaterThanOrEqual(1);
    // The length of the call is the scenario (audio must flow for a while), not a timing assertion.
    await new Promise((r) => setTimeout(r, CALL_SECONDS * 1000));
    await hangupBy.hangup();
    const [closedCaller, closedCallee] = await Promise.all([
      caller.waitForEvent('CALL_CLOSED', 15_000), callee.waitForEvent('CALL_CLOSED', 15_000),
    ]);
    expect(closedCaller.id).toBe(estCaller.id);
    expect(closedCallee.id).toBe(estCallee.id);
    const other = hangupBy === caller ? callee : caller;
    expect((hangupBy === caller ? closedCaller : closedCallee).param).toBe(HUNG_UP_HERE);
    expect((other === caller ? closedCaller : closedCallee).param).toBe(BYE_RECEIVED);
    const [sCaller, sCallee] = await Promise.all([caller.waitForCallStats(), callee.waitForCallStats()]);
    expectAudioBothWays(sCaller, sCallee);
    const line = await sbc!.waitForLog((l: LogLine) => !before.has(l) && l.msg === 'call detail record', 10_000);
    const cdr = line['cdr'] as Cdr;
    expect(cdr.legACallId).toBe(estCaller.id);
    expect(cdr.legBCallId).toBe(estCallee.id);
    expect(cdr.sipStatus).toBe(200);
    expect(cdr.connectTime).not.toBeNull();
    // The SBC relayed this call's media: its per-leg counters agree with what the phones counted
    // (leg A faces the caller, leg B the callee; a few packets in flight at hang-up aside).
    expect(cdr.qoe, 'the CDR carries the relay counters').not.toBeNull();
    const { A, B } = cdr.qoe!.legs;
    process.stdout.write(`baresip via SBC: caller tx ${sCaller.txPackets} rx ${sCaller.rxPackets}, callee tx ${sCallee.txPackets} rx ${sCallee.rxPackets}; ` +
      `SBC A in ${A.received.packets} out ${A.sent.packets}, B in ${B.received.packets} out ${B.sent.packets}\n`);
    const near = (sbcCount: number, phoneCount: number, what: string): void => {
      expect(Math.abs(sbcCount - phoneCount), `${what}: SBC ${sbcCount} vs phone ${phoneCount}`).toBeLessThanOrEqual(Math.max(3, Math.ceil(phoneCount * 0.03)));
    };
    near(A.received.packets, sCaller.txPackets, 'leg A in vs caller tx');
    near(B.sent.packets, sCallee.rxPackets, 'leg B out vs callee rx');
    // The callee sends from its answer on, before the SBC has relayed that answer: the first few are
    // dropped uncounted (more on a busy machine), never more than it sent.
    expect(B.received.packets).toBeLessThanOrEqual(sCallee.txPackets);
    expect(sCallee.txPackets - B.received.packets, 'callee packets not counted by the SBC').toBeLessThanOrEqual(25);
    near(B.received.packets, A.sent.packets, 'leg B in vs leg A out');
    near(A.sent.packets, sCaller.rxPackets, 'leg A out vs caller rx');
    // Both legs latched onto their phone (baresip sends its RTP from 127.0.0.1, its net_interface).
    expect(A.latchedPort).not.toBeNull();
    expect(B.latchedPort).not.toBeNull();
    expect(A.srtpAuthFailures + B.srtpAuthFailures + A.rejectedSource + B.rejectedSource).toBe(0);
    return cdr;
  }

  it('PBX calls the trunk, the caller hangs up', async () => {
    const cdr = await oneCall(pbx!, trunk!, `sip:200@127.0.0.1:${lanPort}`, pbx!);
    expect(cdr.srcIpGroup).toBe('PBX');
    expect(cdr.dstIpGroup).toBe('ITSP');
    expect(cdr.terminationSide).toBe('A');
  }, 40_000);

  it('PBX calls the trunk, the callee hangs up', async () => {
    const cdr = await oneCall(pbx!, trunk!, `sip:200@127.0.0.1:${lanPort}`, trunk!);
    expect(cdr.srcIpGroup).toBe('PBX');
    expect(cdr.dstIpGroup).toBe('ITSP');
    expect(cdr.terminationSide).toBe('B');
  }, 40_000);

  it('the trunk calls the PBX, the PBX (callee) hangs up', async () => {
    const cdr = await oneCall(trunk!, pbx!, `sip:100@127.0.0.1:${wanPort}`, pbx!);
    expect(cdr.srcIpGroup).toBe('ITSP');
    expect(cdr.dstIpGroup).toBe('PBX');
    expect(cdr.terminationSide).toBe('B');
  }, 40_000);

  it('leaves no call, dialog or relay session behind', async () => {
    expect(sbc!.proc.exitCode).toBeNull();
    expect(sbc!.logs.filter((l) => l.msg === 'call detail record')).toHaveLength(3);
    // Releasing the relay after the BYE is asynchronous: poll (bounded) until idle.
    let s = await sbc!.api<Status>('/api/v1/status');
    for (let i = 0; i < 50 && (s.calls.calls > 0 || s.relay.sessions > 0 || s.calls.dialogs > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await sbc!.api<Status>('/api/v1/status');
    }
    expect(s.calls.calls).toBe(0);
    expect(s.calls.dialogs).toBe(0);
    expect(s.relay.sessions).toBe(0);
  });
});
