/**
 * Issue 6 acceptance, media inactivity through the real SBC process: with
 * SBCMediaTimeout = 2 s on the IP Profiles, a callee that stops sending
 * RTP (while the caller keeps sending) makes the SBC end the call within
 * the configured time plus one second, with a BYE to each leg and
 * 'media inactivity' in the CDR.
 *
 * Caller: sipp playing g711a.pcap (7 s) and waiting for the SBC's BYE.
 * Callee: sipp UAS (signalling, waits for the BYE) with its media on a UDP
 * socket of this test, which answers the caller's packets for a second and
 * then goes silent.
 *
 * A call on hold is not a dead connection: with both sides silent on an
 * inactive stream for longer than the timeout the call stays up; once it is
 * resumed the clock runs again and silence ends it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSippInstalled, findFreePort, runSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import { MediaPeer, delay, freeMediaPort, nextCdr, rtpPacket, startCalleeUas, waitUntil } from './helpers/media-peer.js';

const UAC_SCENARIO = 'test/scenarios/media-uac-pcap-wait-bye.xml';
const UAS_SCENARIO = 'test/scenarios/media-uas-answer.xml';
const MEDIA_TIMEOUT_SEC = 2;
/** Callee packets before it goes silent: about one second at ptime 30. */
const CALLEE_PACKETS = 33;

interface InactivityLog {
  time: number;
  silentA: boolean;
  silentB: boolean;
  silentSinceMs: number;
  lastArrivalMs: { A: number; B: number };
}

/** The SBC's 'media inactivity: ending call' line (one call per SBC in this file). */
function inactivityLog(sbc: SbcProcess): InactivityLog {
  const lines = sbc.logs.filter((l) => l.msg === 'media inactivity: ending call');
  expect(lines, 'one inactivity decision logged').toHaveLength(1);
  return lines[0] as unknown as InactivityLog;
}

describe('SBC process: media inactivity ends the call', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let callee: MediaPeer;
  let lanPort: number;
  const seen = new Set<LogLine>();

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    callee = await MediaPeer.open('127.0.0.3');
    let uasPort: number;
    ({ uas, uasPort } = await startCalleeUas(UAS_SCENARIO, callee.port));
    sbc = await startSbc(testIni({
      lanPort, wanPort,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
      pbxProfile: { SBCMediaTimeout: MEDIA_TIMEOUT_SEC },
      itspProfile: { SBCMediaTimeout: MEDIA_TIMEOUT_SEC },
    }));
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
    callee?.close();
  });

  it('sends BYE to both legs within the timeout plus one second after the callee goes silent', async () => {
    const uacMediaPort = await freeMediaPort('127.0.0.2');
    const uacRun = runSipp({
      scenario: UAC_SCENARIO, target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 40_000,
      extraArgs: ['-mi', '127.0.0.2', '-mp', String(uacMediaPort)],
    });

    const first = await callee.firstPacket(15_000);
    for (let i = 0; i < CALLEE_PACKETS; i++) {
      await callee.send(rtpPacket({ pt: 8, seq: 200 + i, timestamp: 240 * i, ssrc: 0x7100_0001, payload: Buffer.alloc(240, 0xd5) }), first.port, first.address);
      if (i < CALLEE_PACKETS - 1) await delay(30);
    }

    // Both sipp scenarios pass only if the SBC's BYE reached them and they answered it.
    const uac = await uacRun;
    expect(uac.failed, `${uac.errors}\n${uac.output}`).toBe(0);
    expect(uac.successful).toBe(1);
    const uasResult = await uas.done;
    expect(uasResult.failed, `${uasResult.errors}\n${uasResult.output}`).toBe(0);
    expect(uasResult.successful).toBe(1);

    const cdr = await nextCdr(sbc, seen);
    expect(cdr.terminationReason).toBe('media inactivity');
    expect(cdr.terminationSide).toBe('sbc');
    // Measured on the SBC's own clock: from the callee's last packet as the relay saw it to the decision.
    const ended = inactivityLog(sbc);
    expect(ended.silentB).toBe(true);
    expect(ended.silentA).toBe(false);
    expect(ended.silentSinceMs).toBe(ended.lastArrivalMs.B);
    const endedAfterMs = ended.time - ended.silentSinceMs;
    const { A, B } = cdr.qoe!.legs;
    process.stdout.write(`media timeout: call ended ${endedAfterMs} ms after the callee's last packet (timeout ${MEDIA_TIMEOUT_SEC} s); callee sent ${CALLEE_PACKETS}, B received ${B.received.packets}; caller packets A received ${A.received.packets}\n`);
    // Loopback UDP from this process: all of them, bar a datagram lost on a busy machine.
    expect(B.received.packets).toBeLessThanOrEqual(CALLEE_PACKETS);
    expect(B.received.packets).toBeGreaterThanOrEqual(CALLEE_PACKETS - 1);
    // The caller was still sending: the call ended before the pcap (7 s) did.
    expect(A.received.packets).toBeGreaterThan(CALLEE_PACKETS);
    expect(A.received.packets).toBeLessThan(236);
    // Not before the timeout, not later than one second after it.
    expect(endedAfterMs).toBeGreaterThanOrEqual(MEDIA_TIMEOUT_SEC * 1000);
    expect(endedAfterMs).toBeLessThanOrEqual(MEDIA_TIMEOUT_SEC * 1000 + 1000);
  }, 45_000);
});

describe('SBC process: media inactivity and hold', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let caller: MediaPeer;
  let callee: MediaPeer;
  let lanPort: number;
  let dir: string;
  const seen = new Set<LogLine>();

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'media-hold-'));
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    caller = await MediaPeer.open('127.0.0.2');
    callee = await MediaPeer.open('127.0.0.3');
    let uasPort: number;
    ({ uas, uasPort } = await startCalleeUas('test/scenarios/media-uas-hold.xml', callee.port));
    sbc = await startSbc(testIni({
      lanPort, wanPort,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
      pbxProfile: { SBCMediaTimeout: MEDIA_TIMEOUT_SEC },
      itspProfile: { SBCMediaTimeout: MEDIA_TIMEOUT_SEC },
    }));
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
    caller?.close();
    callee?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps a silent call on hold, and ends it when it stays silent after the resume', async () => {
    const messages = join(dir, 'uac-messages.log');
    const uacMediaPort = await freeMediaPort('127.0.0.2');
    const uacRun = runSipp({
      scenario: 'test/scenarios/media-uac-hold.xml', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 40_000,
      extraArgs: ['-mi', '127.0.0.2', '-mp', String(uacMediaPort), '-key', 'rtp_ip', '127.0.0.2', '-key', 'rtp_port', String(caller.port),
        '-trace_msg', '-message_file', messages],
    });
    const count = (text: string, needle: string): number => text.split(needle).length - 1;
    let text = '';
    const poll = async (pred: (t: string) => boolean, timeoutMs: number, what: string): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        text = await readFile(messages, 'latin1').catch(() => '');
        if (pred(text)) return;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${text}`);
        await delay(25);
      }
    };

    // Media both ways for a second, right after the answer (the scenario holds after 1.5 s).
    await poll((t) => /SIP\/2\.0 200 OK[\s\S]*m=audio \d+/.test(t), 15_000, 'the 200 OK');
    const sbcLanRtp = Number(/SIP\/2\.0 200 OK[\s\S]*?m=audio (\d+)/.exec(text)![1]);
    for (let i = 0; i < 40; i++) {
      await caller.send(rtpPacket({ pt: 8, seq: i, timestamp: 160 * i, ssrc: 0xa0a0a0a0, payload: Buffer.alloc(160, 0xd5) }), sbcLanRtp, '127.0.0.1');
      const from = callee.received[0];
      if (from) await callee.send(rtpPacket({ pt: 8, seq: i, timestamp: 160 * i, ssrc: 0xb0b0b0b0, payload: Buffer.alloc(160, 0xd5) }), from.port, from.address);
      await delay(20);
    }
    expect(callee.received.length).toBeGreaterThan(0);
    expect(caller.received.length).toBeGreaterThan(0);

    // Hold (a=inactive both ways), then resume: count the ACKs the caller sent (1 call + 2 re-INVITEs).
    await poll((t) => count(t, '\nACK sip:') >= 3, 15_000, 'the resume');

    const uac = await uacRun;
    expect(uac.failed, `${uac.errors}\n${uac.output}`).toBe(0);
    expect(uac.successful).toBe(1);
    const uasResult = await uas.done;
    expect(uasResult.failed, `${uasResult.errors}\n${uasResult.output}`).toBe(0);
    expect(uasResult.successful).toBe(1);

    const cdr = await nextCdr(sbc, seen);
    // The SBC's own clock: the silent leg's clock started at the resume (its last packet is older).
    const ended = inactivityLog(sbc);
    const endedAfterResumeMs = ended.time - ended.silentSinceMs;
    const lastPacket = Math.max(ended.lastArrivalMs.A, ended.lastArrivalMs.B);
    process.stdout.write(`hold: call lasted ${Date.parse(cdr.endTime) - Date.parse(cdr.connectTime!)} ms (3.5 s of it on hold, silent); ended ${endedAfterResumeMs} ms after the resume, ${ended.time - lastPacket} ms after the last packet\n`);
    expect(cdr.terminationReason).toBe('media inactivity');
    // It survived the silent hold (1.5 s + 3.5 s) ...
    expect(Date.parse(cdr.endTime) - Date.parse(cdr.connectTime!)).toBeGreaterThan(5000);
    // ... and after the resume the clock ran again from the resume, not from the last packet
    // (which was before the hold, more than the timeout ago).
    expect(ended.silentSinceMs).toBeGreaterThan(lastPacket);
    expect(ended.time - lastPacket).toBeGreaterThan(MEDIA_TIMEOUT_SEC * 1000 + 3000);
    expect(endedAfterResumeMs).toBeGreaterThanOrEqual(MEDIA_TIMEOUT_SEC * 1000);
    expect(endedAfterResumeMs).toBeLessThanOrEqual(MEDIA_TIMEOUT_SEC * 1000 + 1000);
  }, 45_000);
});
