/**
 * Issue 6 acceptance, SRTP interworking through the real SBC process. The
 * PBX side is SRTP (IP Profile SBCMediaSecurityBehaviour = 1, secured), the
 * trunk side plain RTP (= 2, not secured); the SBC decrypts on one leg and
 * encrypts on the other.
 *
 * 1. Two real softphones: baresip with mediaenc=srtp-mand (its own SRTP
 *    implementation, libre's) calls a plain-RTP baresip; audio flows both
 *    ways and the SRTP side reports the suite (CALL_MENC).
 * 2. A test peer (signalling by sipp, SRTP from src/media/srtp-js.ts, an
 *    implementation independent of the native relay's) calls a sipp
 *    -rtp_echo UAS: its packets are decrypted, echoed in clear and come back
 *    encrypted with the SBC's key, byte for byte. In between it sends
 *    tampered, garbage, replayed and foreign-source packets: they are
 *    counted (srtpAuthFailures, srtpReplayDrops, rejectedSource), dropped,
 *    and the call goes on and ends normally.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import { assertBaresipInstalled, startBaresip, stopAll, type BaresipInstance, type BaresipSipMessage } from './helpers/baresip.js';
import { MediaPeer, delay, freeMediaPort, nextCdr, rtpPacket, waitUntil } from './helpers/media-peer.js';
import { SrtpContext, generateSrtpKeySalt } from '../../src/media/srtp-js.js';

const SRTP_SIDE = { SBCMediaSecurityBehaviour: 1 };
const RTP_SIDE = { SBCMediaSecurityBehaviour: 2 };
const SUITE = 'AES_CM_128_HMAC_SHA1_80';

describe('SBC process: SRTP baresip (PBX) <-> plain RTP baresip (trunk)', () => {
  let sbc: SbcProcess | undefined;
  let pbx: BaresipInstance | undefined;
  let trunk: BaresipInstance | undefined;
  const seen = new Set<LogLine>();
  const CALL_MS = 3000;
  let lanPort = 0;

  beforeAll(async () => {
    assertBaresipInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    // RTP ports away from the SBC's realms (20000..): see freeMediaPort.
    const pbxRtp = await freeMediaPort('127.0.0.2');
    const trunkRtp = await freeMediaPort('127.0.0.3');
    [pbx, trunk] = await Promise.all([
      startBaresip({ name: 'pbx', host: '127.0.0.2', srtp: 'srtp-mand', codecs: ['PCMA'], rtpPorts: [pbxRtp, pbxRtp + 3], maxLifetimeSec: 60, sipTrace: true }),
      startBaresip({ name: 'trunk', host: '127.0.0.3', aliases: ['200'], codecs: ['PCMA'], rtpPorts: [trunkRtp, trunkRtp + 3], maxLifetimeSec: 60, sipTrace: true }),
    ]);
    sbc = await startSbc(testIni({
      lanPort, wanPort,
      pbx: { address: '127.0.0.2', port: pbx.sipPort },
      itsp: [{ address: '127.0.0.3', port: trunk.sipPort }],
      pbxProfile: SRTP_SIDE,
      itspProfile: RTP_SIDE,
    }));
  });

  afterAll(async () => {
    await stopAll([pbx, trunk]);
    await sbc?.stop();
  });

  it('carries audio both ways between SRTP and RTP', async () => {
    await pbx!.dial(`sip:200@127.0.0.1:${lanPort}`);
    await Promise.all([pbx!.waitForEvent('CALL_ESTABLISHED'), trunk!.waitForEvent('CALL_ESTABLISHED')]);
    const menc = await pbx!.waitForEvent('CALL_MENC', 5_000);
    expect(menc.param).toContain('AES_CM_128_HMAC_SHA1');
    // The call's length is the scenario (audio must flow for a while), not a timing assertion.
    await delay(CALL_MS);
    await pbx!.hangup();
    const [closedPbx, closedTrunk] = await Promise.all([pbx!.waitForEvent('CALL_CLOSED'), trunk!.waitForEvent('CALL_CLOSED')]);
    expect(closedPbx.param).toBe('Connection reset by user');
    expect(closedTrunk.param).toBe('Connection reset by peer');
    // The plain side negotiated no encryption.
    expect(trunk!.events.some((e) => e.type === 'CALL_MENC')).toBe(false);
    // What each phone was offered/answered by the SBC: SRTP with a key toward the PBX, plain RTP toward the trunk.
    const sdpOf = (msgs: BaresipSipMessage[], startLine: RegExp): string => {
      const m = msgs.find((x) => x.dir === 'received' && startLine.test(x.text));
      expect(m, `${startLine} in ${msgs.map((x) => x.text.split('\n')[0]).join(' | ')}`).toBeDefined();
      const body = /\r?\n\r?\n/.exec(m!.text);
      expect(body, `a body in ${m!.text}`).not.toBeNull();
      return m!.text.slice(body!.index + body![0].length);
    };
    const legBOffer = sdpOf(trunk!.sipMessages(), /^INVITE /);
    expect(legBOffer).toMatch(/^v=0\r?$/m);
    expect(legBOffer).not.toMatch(/^INVITE /);
    expect(legBOffer).toMatch(/^m=audio \d+ RTP\/AVP /m);
    expect(legBOffer).not.toMatch(/RTP\/SAVP/);
    expect(legBOffer).not.toMatch(/^a=crypto:/m);
    // Topology hiding covers the SDP too: nothing in the offer to the trunk names the PBX
    // (baresip's a=ssrc cname carries its own SIP address).
    expect(legBOffer, 'the PBX address reached the trunk in the SDP').not.toContain('127.0.0.2');
    const legAAnswer = sdpOf(pbx!.sipMessages(), /^SIP\/2\.0 200 /);
    expect(legAAnswer).toMatch(/^m=audio \d+ RTP\/SAVP /m);
    expect(legAAnswer).toMatch(/^a=crypto:\d+ AES_CM_128_HMAC_SHA1_(80|32) inline:/m);

    const [sp, st] = await Promise.all([pbx!.waitForCallStats(), trunk!.waitForCallStats()]);
    const cdr = await nextCdr(sbc!, seen);
    const { A, B } = cdr.qoe!.legs;
    process.stdout.write(`srtp<->rtp: pbx tx ${sp.txPackets} rx ${sp.rxPackets}, trunk tx ${st.txPackets} rx ${st.rxPackets}; ` +
      `SBC A in ${A.received.packets} out ${A.sent.packets} (auth failures ${A.srtpAuthFailures}), B in ${B.received.packets} out ${B.sent.packets}\n`);
    expect(cdr.terminationReason).toBe('BYE');
    expect(cdr.terminationSide).toBe('A');
    // 50 packets/s for about CALL_MS in each direction.
    const min = (CALL_MS / 20) * 0.5;
    for (const n of [sp.txPackets, sp.rxPackets, st.txPackets, st.rxPackets]) expect(n).toBeGreaterThan(min);
    expect(sp.rxErrors + st.rxErrors).toBe(0);
    // The SBC's counters agree with the phones' (a few packets in flight at hang-up aside).
    const near = (a: number, b: number): void => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(Math.max(8, Math.ceil(b * 0.05)));
    near(A.received.packets, sp.txPackets);
    near(B.sent.packets, st.rxPackets);
    // The callee starts sending when it answers, before the SBC has relayed that answer: those first
    // packets are dropped uncounted, more of them on a busy machine. Never more than were sent, though.
    expect(B.received.packets).toBeLessThanOrEqual(st.txPackets);
    expect(st.txPackets - B.received.packets, 'callee packets not counted by the SBC').toBeLessThanOrEqual(25);
    near(A.sent.packets, sp.rxPackets);
    // Only authenticated packets were relayed: every decrypted one went on.
    near(B.sent.packets, A.received.packets);
    // Every SRTP packet the phone sent authenticated (A.received matches its count above). What may
    // fail is baresip's RTCP APP "PING" (16 bytes, sent in clear to open a NAT pinhole for RTCP when the
    // stream starts, libre stream.c), at most one or two in a call this short; nothing fails on the
    // plain leg and nothing is a replay.
    expect(A.srtpAuthFailures).toBeLessThanOrEqual(2);
    expect(B.srtpAuthFailures).toBe(0);
    expect(A.srtpReplayDrops + B.srtpReplayDrops).toBe(0);
  }, 30_000);
});

describe.each(['native', 'js'] as const)('SBC process (%s relay): SRTP test peer <-> sipp -rtp_echo, with forged packets', (relay) => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let peer: MediaPeer;
  let intruder: MediaPeer;
  let lanPort: number;
  let dir: string;
  const seen = new Set<LogLine>();

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'media-srtp-'));
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasPort = await findFreePort('127.0.0.3');
    const apiPort = await findFreePort();
    const echoPort = await freeMediaPort('127.0.0.3');
    peer = await MediaPeer.open('127.0.0.2');
    intruder = await MediaPeer.open('127.0.0.2');
    uas = startSipp({
      scenario: 'test/scenarios/media-uas-answer.xml', calls: 1, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 40_000,
      extraArgs: ['-rtp_echo', '-mi', '127.0.0.3', '-mp', String(echoPort), '-key', 'rtp_ip', '127.0.0.3', '-key', 'rtp_port', String(echoPort)],
    });
    await uas.bound();
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
      pbxProfile: SRTP_SIDE,
      itspProfile: RTP_SIDE,
    }), { relay });
  });

  it(`runs the ${relay} relay engine (no silent fallback)`, async () => {
    const started = await sbc.waitForLog((l) => l.msg === 'SBC started');
    expect(started['relay']).toBe(relay);
    const status = await sbc.api<{ relay: { kind: string } }>('/api/v1/status');
    expect(status.relay.kind).toBe(relay);
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
    peer?.close();
    intruder?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('decrypts, re-encrypts, and counts and drops what does not authenticate', async () => {
    const ourKey = generateSrtpKeySalt();
    const messages = join(dir, 'uac-messages.log');
    const uacRun = runSipp({
      scenario: 'test/scenarios/media-uac-srtp.xml', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 30_000,
      extraArgs: [
        '-key', 'rtp_ip', '127.0.0.2', '-key', 'rtp_port', String(peer.port), '-key', 'srtp_key', ourKey.toString('base64'),
        '-trace_msg', '-message_file', messages,
      ],
    });

    // The SBC's answer: its media port toward us and the key it encrypts with.
    let answer: RegExpExecArray | null = null;
    for (let i = 0; i < 200 && answer === null; i++) {
      const text = await readFile(messages, 'latin1').catch(() => '');
      const ok = text.indexOf('SIP/2.0 200 OK');
      answer = ok < 0 ? null : /m=audio (\d+) RTP\/SAVP[\s\S]*?a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/]{40})/.exec(text.slice(ok));
      if (answer === null) await delay(50);
    }
    expect(answer, `the SBC answered RTP/SAVP with tag 1 and its own key:\n${await readFile(messages, 'latin1').catch(() => 'no message file')}`).not.toBeNull();
    const sbcPort = Number(answer![1]);
    const theirKey = Buffer.from(answer![2]!, 'base64');
    expect(theirKey.length).toBe(30);
    expect(theirKey.equals(ourKey)).toBe(false);

    const tx = new SrtpContext({ suite: SUITE, keySalt: ourKey });
    const rx = new SrtpContext({ suite: SUITE, keySalt: theirKey });
    const ssrc = 0x5a7e0001;
    const plain = new Map<number, Buffer>();
    const protectedBySeq = new Map<number, Buffer>();
    const make = (seq: number): Buffer => {
      const payload = randomBytes(160);
      const p = rtpPacket({ pt: 8, seq, timestamp: 160 * seq, ssrc, payload });
      plain.set(seq, p);
      const s = tx.protectRtp(p);
      if (typeof s === 'string') throw new Error(`protect: ${s}`);
      protectedBySeq.set(seq, s);
      return s;
    };
    const send = (b: Buffer): Promise<void> => peer.send(b, sbcPort, '127.0.0.1');
    let seq = 100;
    let valid = 0;
    const sendValid = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await send(make(seq++));
        valid++;
        await delay(20);
      }
    };

    await sendValid(10);
    // Tampered: the next packet with one payload bit flipped, then the real one.
    const TAMPERED = 3;
    for (let i = 0; i < TAMPERED; i++) {
      const good = make(seq++);
      const bad = Buffer.from(good);
      bad[20] = bad[20]! ^ 0x01;
      await send(bad);
      await send(good);
      valid++;
      await delay(20);
    }
    // Garbage that looks like RTP version 2.
    const GARBAGE = 4;
    for (let i = 0; i < GARBAGE; i++) {
      const g = randomBytes(100);
      g[0] = 0x80;
      g[1] = 8;
      await send(g);
    }
    // Replays of packets already accepted.
    const REPLAYS = 2;
    for (let i = 0; i < REPLAYS; i++) await send(protectedBySeq.get(104 + i)!);
    // Well-formed SRTP with the right key, from a source that is not the latched peer.
    const FOREIGN = 5;
    for (let i = 0; i < FOREIGN; i++) {
      const p = rtpPacket({ pt: 8, seq: 9000 + i, timestamp: 0, ssrc: 0x0bad0002, payload: randomBytes(160) });
      const s = new SrtpContext({ suite: SUITE, keySalt: ourKey }).protectRtp(p);
      if (typeof s === 'string') throw new Error(`protect: ${s}`);
      await intruder.send(s, sbcPort, '127.0.0.1');
    }
    await sendValid(20);

    // Everything valid comes back through the echo, encrypted with the SBC's key.
    await waitUntil(() => peer.received.length >= valid, 5_000, `${valid} echoed packets`).catch(() => undefined);

    const uac = await uacRun;
    expect(uac.failed, `${uac.errors}\n${uac.output}`).toBe(0);
    expect(uac.successful).toBe(1);
    const uasResult = await uas.done;
    expect(uasResult.successful).toBe(1);

    let decrypted = 0;
    let mismatched = 0;
    const failures: string[] = [];
    for (const r of peer.received) {
      expect(r.port).toBe(sbcPort);
      const p = rx.unprotectRtp(r.data);
      if (typeof p === 'string') {
        failures.push(`seq ${r.data.readUInt16BE(2)}: ${p}`);
        continue;
      }
      const original = plain.get(p.readUInt16BE(2));
      if (original && original.equals(p)) decrypted++;
      else mismatched++;
    }
    expect(intruder.received.length).toBe(0);

    const cdr = await nextCdr(sbc, seen);
    const { A, B } = cdr.qoe!.legs;
    process.stdout.write(`srtp peer (${relay} relay): sent ${valid} valid + ${TAMPERED} tampered + ${GARBAGE} garbage + ${REPLAYS} replays + ${FOREIGN} foreign; ` +
      `SBC A in ${A.received.packets} (auth failures ${A.srtpAuthFailures}, replays ${A.srtpReplayDrops}, rejected source ${A.rejectedSource}) -> B out ${B.sent.packets}; ` +
      `echo B in ${B.received.packets} -> A out ${A.sent.packets}; peer decrypted ${decrypted}/${peer.received.length} identical; failures ${failures.join(', ')}\n`);
    expect(cdr.terminationReason).toBe('BYE');
    expect(A.srtpAuthFailures).toBe(TAMPERED + GARBAGE);
    expect(A.srtpReplayDrops).toBe(REPLAYS);
    expect(A.rejectedSource).toBe(FOREIGN);
    expect(A.latchedPort).toBe(peer.port);
    expect(A.received.packets).toBe(valid);
    expect(B.sent.packets).toBe(valid);
    expect(B.received.packets).toBe(valid);
    expect(A.sent.packets).toBe(valid);
    expect(failures, 'every packet from the SBC decrypts with its key').toEqual([]);
    expect(mismatched).toBe(0);
    expect(decrypted).toBe(valid);
  }, 40_000);
});
