/**
 * Issue 6 acceptance, symmetric RTP latching through the real SBC process:
 * the callee's SDP names port X, but its media comes from port Y (as from
 * behind a NAT). The relay must follow: the caller's packets go to Y once
 * the first packet from Y arrived, and the counters show the latched port.
 *
 * Caller: sipp playing g711a.pcap (PBX side). Callee: a sipp UAS for the
 * signalling (SDP pointing at X) and two UDP sockets of this test, X and Y.
 * Once latched, packets from elsewhere (even from X) are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import { MediaPeer, delay, freeMediaPort, nextCdr, rtpPacket, startCalleeUas, waitUntil } from './helpers/media-peer.js';

const UAC_SCENARIO = 'test/scenarios/media-uac-pcap.xml';
const UAS_SCENARIO = 'test/scenarios/media-uas-answer.xml';
/** Packets the callee sends from Y: 3 s at ptime 30, well inside the caller's 7 s. */
const FROM_Y = 100;

describe('SBC process: latching onto the source of the callee media', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let x: MediaPeer;
  let y: MediaPeer;
  let lanPort: number;
  const seen = new Set<LogLine>();

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    x = await MediaPeer.open('127.0.0.3');
    y = await MediaPeer.open('127.0.0.3');
    let uasPort: number;
    ({ uas, uasPort } = await startCalleeUas(UAS_SCENARIO, x.port));
    sbc = await startSbc(testIni({
      lanPort, wanPort,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
    }));
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
    x?.close();
    y?.close();
  });

  it('sends the caller media to where the callee media comes from', async () => {
    const uacMediaPort = await freeMediaPort('127.0.0.2');
    const uacRun = runSipp({
      scenario: UAC_SCENARIO, target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 40_000,
      extraArgs: ['-mi', '127.0.0.2', '-mp', String(uacMediaPort)],
    });

    // Before the callee sends anything, the SBC sends to the SDP address X; that also tells us its WAN media port.
    const first = await x.firstPacket(15_000);
    expect(first.address).toBe('127.0.0.1');
    const sbcWanRtp = first.port;
    await waitUntil(() => x.received.length >= 5, 5_000, 'caller media at X');

    // The callee's media now comes from Y, not X.
    const ssrc = 0x5eed0001;
    for (let i = 0; i < FROM_Y; i++) {
      await y.send(rtpPacket({ pt: 8, seq: 1000 + i, timestamp: 240 * i, ssrc, payload: Buffer.alloc(240, 0xd5) }), sbcWanRtp, '127.0.0.1');
      await delay(30);
    }
    await waitUntil(() => y.received.length > 0, 5_000, 'caller media at Y');
    const atYAfterSending = y.received.length;
    // Once latched, other sources are refused, even the address from the SDP: no hijacking the stream.
    for (let i = 0; i < 3; i++) {
      await x.send(rtpPacket({ pt: 8, seq: 5000 + i, timestamp: 0, ssrc: 0x0bad0001, payload: Buffer.alloc(240, 0x55) }), sbcWanRtp, '127.0.0.1');
    }

    const uac = await uacRun;
    expect(uac.failed, `${uac.errors}\n${uac.output}`).toBe(0);
    expect(uac.successful).toBe(1);
    expect((await uas.done).successful).toBe(1);

    const cdr = await nextCdr(sbc, seen);
    const { A, B } = cdr.qoe!.legs;
    const atX = x.received.length;
    const atY = y.received.length;
    process.stdout.write(`latching: B sent ${B.sent.packets} (X got ${atX}, Y got ${atY}); Y sent ${FROM_Y}, B received ${B.received.packets}, A sent ${A.sent.packets}; latched ${B.latchedAddress}:${B.latchedPort}\n`);

    // The relay latched onto Y ...
    expect(B.latchedAddress).toBe('127.0.0.3');
    expect(B.latchedPort).toBe(y.port);
    expect(B.latchedPort).not.toBe(x.port);
    // ... took the packets from Y (loopback UDP from this process: all, bar one lost on a busy
    // machine) and passed every one it took on to the caller ...
    expect(B.received.packets).toBeLessThanOrEqual(FROM_Y);
    expect(B.received.packets).toBeGreaterThanOrEqual(FROM_Y - 1);
    expect(A.sent.packets).toBe(B.received.packets);
    expect(B.rejectedSource).toBeGreaterThanOrEqual(2);
    expect(B.rejectedSource).toBeLessThanOrEqual(3);
    // ... and sent the caller's media to Y from then on: X saw only the packets before the latch.
    expect(atYAfterSending).toBeGreaterThan(0);
    expect(atX).toBeGreaterThanOrEqual(5);
    expect(atX + atY).toBeLessThanOrEqual(B.sent.packets);
    expect(atX + atY).toBeGreaterThanOrEqual(B.sent.packets - Math.max(1, Math.ceil(B.sent.packets * 0.01)));
    expect(atY).toBeGreaterThan(atX);
    const firstAtY = y.received[0]!.at;
    expect(x.received.every((p) => p.at <= firstAtY)).toBe(true);
    // All of it came from the same SBC socket.
    expect(y.received.every((p) => p.address === '127.0.0.1' && p.port === sbcWanRtp)).toBe(true);
  }, 45_000);
});
