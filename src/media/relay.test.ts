import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LegConfig, RelayEngine, RelaySession, SrtpSuite } from './relay-types.js';
import { JsRelayEngine } from './relay-js.js';
import { NativeRelayEngine } from './relay-native.js';
import { createRelayEngine } from './relay.js';
import { SrtpContext } from './srtp-js.js';

const HOST = '127.0.0.1';

interface Peer {
  sock: Socket;
  port: number;
  got: Buffer[];
  send(buf: Buffer, port: number): Promise<void>;
  close(): void;
}

async function peer(): Promise<Peer> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m: Buffer) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
  return {
    sock,
    port: sock.address().port,
    got,
    send: (buf, port) => new Promise<void>((r, j) => sock.send(buf, port, HOST, (e) => (e ? j(e) : r()))),
    close: () => sock.close(),
  };
}

/** Polls a condition (bounded) so tests assert outcomes, never timing. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Gives the relay a chance to (wrongly) forward something. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 60));
}

function rtp(seq: number, ts: number, opts: { pt?: number; ssrc?: number; marker?: boolean; payload?: Buffer } = {}): Buffer {
  const payload = opts.payload ?? Buffer.alloc(160, seq & 0xff);
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = ((opts.marker ? 0x80 : 0) | (opts.pt ?? 8)) & 0xff;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(opts.ssrc ?? 0x11223344, 8);
  return Buffer.concat([h, payload]);
}

/** RTCP SR with one report block. */
function senderReport(ssrc: number, ntpMid: number): Buffer {
  const b = Buffer.alloc(52);
  b[0] = 0x81;
  b[1] = 200;
  b.writeUInt16BE(52 / 4 - 1, 2);
  b.writeUInt32BE(ssrc, 4);
  b.writeUInt32BE(((ntpMid >>> 16) | 0xe0000000) >>> 0, 8);
  b.writeUInt32BE(((ntpMid & 0xffff) << 16) >>> 0, 12);
  b.writeUInt32BE(1234, 16);
  b.writeUInt32BE(10, 20);
  b.writeUInt32BE(1600, 24);
  b.writeUInt32BE(0x99, 28); // report block: SSRC
  b[32] = 0;
  return b;
}

/** RTCP RR with one block: fraction lost, jitter (timestamp units), LSR/DLSR. */
function receiverReport(ssrc: number, fraction: number, jitter: number, lsr: number, dlsr: number): Buffer {
  const b = Buffer.alloc(32);
  b[0] = 0x81;
  b[1] = 201;
  b.writeUInt16BE(32 / 4 - 1, 2);
  b.writeUInt32BE(ssrc, 4);
  b.writeUInt32BE(0x11223344, 8);
  b[12] = fraction;
  b.writeUInt32BE(500, 16);
  b.writeUInt32BE(jitter, 20);
  b.writeUInt32BE(lsr >>> 0, 24);
  b.writeUInt32BE(dlsr >>> 0, 28);
  return b;
}

function leg(remote: Peer | null, extra: Partial<LegConfig> = {}, rtcpPeer?: Peer): LegConfig {
  return {
    localAddress: HOST,
    localRtpPort: 0,
    rtcpMux: false,
    remote: remote ? { address: HOST, rtpPort: remote.port, rtcpPort: rtcpPeer ? rtcpPeer.port : remote.port + 1 } : null,
    latch: 'first-packet',
    srtp: null,
    telephoneEventPt: null,
    ...extra,
  };
}

const engines: Array<[string, () => RelayEngine]> = [
  ['native', () => new NativeRelayEngine()],
  ['js', () => new JsRelayEngine()],
];

describe.each(engines)('%s relay engine', (kind, make) => {
  let engine: RelayEngine;
  const cleanup: Array<() => void> = [];
  const track = <T extends { close(): void }>(x: T): T => {
    cleanup.push(() => x.close());
    return x;
  };

  beforeAll(() => {
    engine = make();
    expect(engine.kind).toBe(kind);
  });
  afterEach(() => {
    while (cleanup.length) cleanup.pop()!();
  });
  afterAll(async () => {
    await engine.shutdown();
  });

  async function session(a: LegConfig, b: LegConfig): Promise<RelaySession> {
    return track(await engine.createSession(a, b));
  }

  it('relays RTP both ways and counts it', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const s = await session(leg(pa), leg(pb));
    expect(engine.sessionCount()).toBeGreaterThanOrEqual(1);
    const relayedBefore = engine.packetsRelayed();
    for (let i = 0; i < 20; i++) await pa.send(rtp(100 + i, 1000 + i * 160), s.localPorts.A.rtp);
    await until(() => pb.got.length === 20, 'A->B packets');
    for (let i = 0; i < 15; i++) await pb.send(rtp(500 + i, 9000 + i * 160, { ssrc: 7 }), s.localPorts.B.rtp);
    await until(() => pa.got.length === 15, 'B->A packets');
    expect(pb.got[3]!.equals(rtp(103, 1000 + 3 * 160))).toBe(true);
    const st = s.stats();
    expect(st.A.rtpPacketsIn).toBe(20);
    expect(st.A.rtpBytesIn).toBe(20 * 172);
    expect(st.B.rtpPacketsOut).toBe(20);
    expect(st.B.rtpPacketsIn).toBe(15);
    expect(st.A.rtpPacketsOut).toBe(15);
    expect(st.A.packetsLost).toBe(0);
    expect(st.A.lastArrivalMs).toBeGreaterThan(Date.now() - 60_000);
    expect(st.A.latchedAddress).toBe(HOST);
    expect(st.A.latchedPort).toBe(pa.port);
    // The engine-wide count (the dashboard's relay pps, sbc_media_relay_packets_total), closed sessions included.
    expect(engine.packetsRelayed() - relayedBefore).toBe(35);
    s.close();
    expect(engine.packetsRelayed() - relayedBefore).toBe(35);
  });

  it('relays RTCP, reads RR contents and computes RTT from LSR/DLSR', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const pac = track(await peer());
    const pbc = track(await peer());
    const s = await session(leg(pa, {}, pac), leg(pb, {}, pbc));
    const ntpMid = 0x12345678;
    await pac.send(senderReport(0x11223344, ntpMid), s.localPorts.A.rtcp);
    await until(() => pbc.got.length === 1, 'SR at B');
    expect(pbc.got[0]!.readUInt32BE(8) & 0xffff).toBe(ntpMid >>> 16);
    // B's peer answers with an RR echoing the SR (DLSR 0): RTT measured on leg B.
    await pbc.send(receiverReport(0x55, 64, 800, ntpMid, 0), s.localPorts.B.rtcp);
    await until(() => pac.got.length === 1, 'RR at A');
    const st = s.stats();
    expect(st.A.rtcpPacketsIn).toBe(1);
    expect(st.B.rtcpPacketsOut).toBe(1);
    expect(st.B.rtcpPacketsIn).toBe(1);
    expect(st.A.rtcpPacketsOut).toBe(1);
    expect(st.B.remoteFractionLost).toBeCloseTo(0.25, 5);
    expect(st.B.remoteJitterMs).toBeCloseTo(100, 5);
    expect(st.B.rttMs).not.toBeNull();
    expect(st.B.rttMs!).toBeGreaterThanOrEqual(0);
    expect(st.B.rttMs!).toBeLessThan(5000);
    expect(st.A.rttMs).toBeNull();
  });

  it('ignores and counts a peer-reported jitter beyond 3 s, keeps the last plausible one', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const pbc = track(await peer());
    const s = await session(leg(pa), leg(pb, {}, pbc));
    // 0xfffffff0 timestamp units at 8 kHz would be 6 days of "jitter".
    await pbc.send(receiverReport(0x55, 64, 0xfffffff0, 0, 0), s.localPorts.B.rtcp);
    await until(() => s.stats().B.rtcpPacketsIn === 1, 'first RR');
    let st = s.stats().B;
    expect(st.remoteJitterMs).toBeNull();
    expect(st.remoteJitterClamps).toBe(1);
    expect(st.remoteFractionLost).toBeCloseTo(0.25, 5);
    await pbc.send(receiverReport(0x55, 0, 800, 0, 0), s.localPorts.B.rtcp);
    await until(() => s.stats().B.rtcpPacketsIn === 2, 'second RR');
    expect(s.stats().B.remoteJitterMs).toBeCloseTo(100, 5);
    await pbc.send(receiverReport(0x55, 0, 24_001, 0, 0), s.localPorts.B.rtcp); // 3.000125 s
    await until(() => s.stats().B.rtcpPacketsIn === 3, 'third RR');
    st = s.stats().B;
    expect(st.remoteJitterMs).toBeCloseTo(100, 5);
    expect(st.remoteJitterClamps).toBe(2);
  });

  it('expresses the peer-reported jitter at the leg\'s clock rate (Opus 48 kHz)', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const pbc = track(await peer());
    const s = await session(leg(pa, { clockRate: 48000 }), leg(pb, { clockRate: 48000 }, pbc));
    await pbc.send(receiverReport(0x55, 0, 480, 0, 0), s.localPorts.B.rtcp);
    await until(() => s.stats().B.rtcpPacketsIn === 1, 'RR');
    expect(s.stats().B.remoteJitterMs).toBeCloseTo(10, 5);
    // Just over 3 s at 48 kHz (18 s if it were read at 8 kHz): the bound follows the rate.
    await pbc.send(receiverReport(0x55, 0, 48_000 * 3 + 1, 0, 0), s.localPorts.B.rtcp);
    await until(() => s.stats().B.rtcpPacketsIn === 2, 'second RR');
    expect(s.stats().B.remoteJitterMs).toBeCloseTo(10, 5);
    expect(s.stats().B.remoteJitterClamps).toBe(1);
  });

  it('demultiplexes RTCP on an rtcp-mux leg (RFC 5761)', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const pbc = track(await peer());
    const s = await session(leg(pa, { rtcpMux: true }), leg(pb, {}, pbc));
    expect(s.localPorts.A.rtcp).toBe(s.localPorts.A.rtp);
    await pa.send(rtp(1, 0), s.localPorts.A.rtp);
    await pa.send(senderReport(0x11223344, 1), s.localPorts.A.rtp);
    await until(() => pb.got.length === 1 && pbc.got.length === 1, 'RTP and RTCP split');
    const st = s.stats();
    expect(st.A.rtpPacketsIn).toBe(1);
    expect(st.A.rtcpPacketsIn).toBe(1);
    // And back: RTCP toward the mux leg goes to its RTP port.
    await pbc.send(receiverReport(0x55, 0, 0, 0, 0), s.localPorts.B.rtcp);
    await until(() => pa.got.length === 1, 'RTCP onto the mux leg');
    expect(pa.got[0]![1]).toBe(201);
  });

  it('latches onto the real source in first-packet mode', async () => {
    const pa = track(await peer());
    const pbSignalled = track(await peer()); // what SDP said, never used by the callee
    const pbReal = track(await peer());
    const s = await session(leg(pa), leg(pbSignalled));
    await pbReal.send(rtp(1, 0, { ssrc: 9 }), s.localPorts.B.rtp);
    await until(() => pa.got.length === 1, 'B->A');
    await pa.send(rtp(1, 0), s.localPorts.A.rtp);
    await until(() => pbReal.got.length === 1, 'A->latched B');
    expect(pbSignalled.got.length).toBe(0);
    const st = s.stats();
    expect(st.B.latchedPort).toBe(pbReal.port);
    // Someone else sending to the latched leg is not relayed.
    await pbSignalled.send(rtp(2, 160, { ssrc: 9 }), s.localPorts.B.rtp);
    await until(() => s.stats().B.rejectedSource === 1, 'rejection');
    expect(pa.got.length).toBe(1);
    // A new SDP answer (re-INVITE) names a new address: latching starts over.
    const pbNew = track(await peer());
    s.updateLeg('B', { remote: { address: HOST, rtpPort: pbNew.port, rtcpPort: pbNew.port + 1 } });
    await pa.send(rtp(2, 160), s.localPorts.A.rtp);
    await until(() => pbNew.got.length === 1, 'the newly signalled address');
    expect(s.stats().B.latchedAddress).toBeNull();
  });

  it('rejects other sources in signalled-only mode', async () => {
    const pa = track(await peer());
    const pbSignalled = track(await peer());
    const pbReal = track(await peer());
    const s = await session(leg(pa), leg(pbSignalled, { latch: 'signalled-only' }));
    await pbReal.send(rtp(1, 0, { ssrc: 9 }), s.localPorts.B.rtp);
    await until(() => s.stats().B.rejectedSource === 1, 'rejection');
    await pbSignalled.send(rtp(2, 160, { ssrc: 9 }), s.localPorts.B.rtp);
    await until(() => pa.got.length === 1, 'signalled source relayed');
    expect(pa.got[0]!.readUInt16BE(2)).toBe(2);
    await pa.send(rtp(1, 0), s.localPorts.A.rtp);
    await until(() => pbSignalled.got.length === 1, 'A->signalled B');
    expect(pbReal.got.length).toBe(0);
    expect(s.stats().B.rtpPacketsIn).toBe(1);
  });

  it('renumbers telephone-event payload types between legs', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const s = await session(leg(pa, { telephoneEventPt: 101 }), leg(pb, { telephoneEventPt: 96 }));
    await pa.send(rtp(1, 0, { pt: 101, marker: true, payload: Buffer.from([5, 0x8a, 0, 160]) }), s.localPorts.A.rtp);
    await pa.send(rtp(2, 0, { pt: 8 }), s.localPorts.A.rtp);
    await until(() => pb.got.length === 2, 'events at B');
    const ev = pb.got.find((p) => p.readUInt16BE(2) === 1)!;
    expect(ev[1]).toBe(0x80 | 96);
    expect(ev.subarray(12).equals(Buffer.from([5, 0x8a, 0, 160]))).toBe(true);
    expect(pb.got.find((p) => p.readUInt16BE(2) === 2)![1]).toBe(8);
    await pb.send(rtp(1, 0, { pt: 96, ssrc: 3 }), s.localPorts.B.rtp);
    await until(() => pa.got.length === 1, 'event at A');
    expect(pa.got[0]![1]).toBe(101);
  });

  it('counts loss, reordering and jitter per RFC 3550', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const s = await session(leg(pa), leg(pb));
    // 10..19 with 14 missing and 16 arriving after 17; timestamps run ahead
    // of the (near-instant) arrivals, which shows up as jitter.
    const order = [10, 11, 12, 13, 15, 17, 16, 18, 19];
    for (const seq of order) await pa.send(rtp(seq, seq * 160), s.localPorts.A.rtp);
    await until(() => pb.got.length === order.length, 'all relayed');
    const st = s.stats();
    expect(st.A.rtpPacketsIn).toBe(order.length);
    expect(st.A.packetsLost).toBe(1);
    expect(st.A.outOfOrder).toBe(1);
    expect(st.A.jitterMs).toBeGreaterThan(0);
    expect(st.B.packetsLost).toBe(0);
  });

  it('pauses relaying while still counting input', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const s = await session(leg(pa), leg(pb));
    s.setPaused(true);
    await pa.send(rtp(1, 0), s.localPorts.A.rtp);
    await until(() => s.stats().A.rtpPacketsIn === 1, 'input counted');
    await settle();
    expect(pb.got.length).toBe(0);
    s.setPaused(false);
    await pa.send(rtp(2, 160), s.localPorts.A.rtp);
    await until(() => pb.got.length >= 1, 'relayed after resume');
    await settle();
    // Exactly the packet sent after the resume: the one that arrived while paused was dropped, not held back.
    expect(pb.got).toHaveLength(1);
    expect(pb.got[0]!.readUInt16BE(2)).toBe(2);
    expect(s.stats().A.rtpPacketsIn).toBe(2);
  });

  it.each<[SrtpSuite]>([['AES_CM_128_HMAC_SHA1_80'], ['AES_CM_128_HMAC_SHA1_32']])(
    'interworks plain RTP on A with SRTP on B (%s)',
    async (suite) => {
      const pa = track(await peer());
      const pac = track(await peer());
      const pb = track(await peer());
      const pbc = track(await peer());
      const peerKey = randomBytes(30); // what B's peer encrypts with (its a=crypto)
      const sbcKey = randomBytes(30); // what we encrypt toward B's peer
      const s = await session(
        leg(pa, {}, pac),
        leg(pb, { srtp: { inbound: { suite, keySalt: peerKey }, outbound: { suite, keySalt: sbcKey } } }, pbc),
      );
      const peerTx = new SrtpContext({ suite, keySalt: peerKey });
      const peerRx = new SrtpContext({ suite, keySalt: sbcKey });
      const tag = suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 4;

      // A -> B: plain in, SRTP out, the independent JS code decrypts it.
      const sent = [rtp(65534, 0), rtp(65535, 160), rtp(0, 320), rtp(1, 480)];
      for (const p of sent) await pa.send(p, s.localPorts.A.rtp);
      await until(() => pb.got.length === sent.length, 'SRTP at B');
      for (let i = 0; i < sent.length; i++) {
        expect(pb.got[i]!.length).toBe(sent[i]!.length + tag);
        expect(pb.got[i]!.subarray(12, 12 + 160).equals(sent[i]!.subarray(12))).toBe(false);
        const clear = peerRx.unprotectRtp(pb.got[i]!);
        expect(Buffer.isBuffer(clear) && clear.equals(sent[i]!)).toBe(true);
      }

      // B -> A: SRTP in, plain out.
      const back = [rtp(40000, 5, { ssrc: 77, payload: Buffer.from('hello from the SRTP side') })];
      const wire = peerTx.protectRtp(back[0]!) as Buffer;
      await pb.send(wire, s.localPorts.B.rtp);
      await until(() => pa.got.length === 1, 'plain at A');
      expect(pa.got[0]!.equals(back[0]!)).toBe(true);

      // Tampered: counted, dropped, nothing crashes.
      const bad = Buffer.from(peerTx.protectRtp(rtp(40001, 165, { ssrc: 77 })) as Buffer);
      bad[20] = bad[20]! ^ 0xff;
      await pb.send(bad, s.localPorts.B.rtp);
      await pb.send(Buffer.from([0x80, 0x08, 0, 1, 0, 0]), s.localPorts.B.rtp); // runt
      await pb.send(rtp(40002, 170, { ssrc: 77 }), s.localPorts.B.rtp); // plain on an SRTP leg
      await until(() => s.stats().B.srtpAuthFailures === 2, 'auth failures');
      // Replay of an accepted packet.
      await pb.send(wire, s.localPorts.B.rtp);
      await until(() => s.stats().B.srtpReplayDrops === 1, 'replay drop');
      const next = peerTx.protectRtp(rtp(40003, 175, { ssrc: 77 })) as Buffer;
      await pb.send(next, s.localPorts.B.rtp);
      await until(() => pa.got.length === 2, 'traffic goes on');
      expect(pa.got[1]!.readUInt16BE(2)).toBe(40003);

      // SRTCP both ways.
      const sr = senderReport(0x11223344, 0x1000);
      await pac.send(sr, s.localPorts.A.rtcp);
      await until(() => pbc.got.length === 1, 'SRTCP at B');
      const srClear = peerRx.unprotectRtcp(pbc.got[0]!);
      expect(Buffer.isBuffer(srClear) && srClear.equals(sr)).toBe(true);
      const rr = receiverReport(77, 10, 80, 0x1000, 0);
      await pbc.send(peerTx.protectRtcp(rr) as Buffer, s.localPorts.B.rtcp);
      await until(() => pac.got.length === 1, 'RTCP at A');
      expect(pac.got[0]!.equals(rr)).toBe(true);
      const badRtcp = Buffer.from(peerTx.protectRtcp(rr) as Buffer);
      badRtcp[10] = badRtcp[10]! ^ 1;
      await pbc.send(badRtcp, s.localPorts.B.rtcp);
      await until(() => s.stats().B.srtpAuthFailures === 3, 'SRTCP auth failure');
      expect(s.stats().B.rtcpPacketsIn).toBe(1);
    },
  );

  it('rejects a busy port without leaking sockets, and bad config clearly', async () => {
    const busy = track(await peer());
    const before = engine.sessionCount();
    await expect(engine.createSession(leg(null), { ...leg(null), localRtpPort: busy.port, rtcpMux: true })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    expect(engine.sessionCount()).toBe(before);
    await expect(engine.createSession({ ...leg(null), localAddress: 'not-an-ip' }, leg(null))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(
      engine.createSession(leg(null, { srtp: { inbound: { suite: 'AES_CM_128_HMAC_SHA1_80', keySalt: Buffer.alloc(3) }, outbound: { suite: 'AES_CM_128_HMAC_SHA1_80', keySalt: Buffer.alloc(30) } } }), leg(null)),
    ).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('keeps the final counters after close', async () => {
    const pa = track(await peer());
    const pb = track(await peer());
    const s = await engine.createSession(leg(pa), leg(pb));
    const n = engine.sessionCount();
    await pa.send(rtp(1, 0), s.localPorts.A.rtp);
    await until(() => pb.got.length === 1, 'relayed');
    s.close();
    s.close();
    expect(engine.sessionCount()).toBe(n - 1);
    expect(s.stats().A.rtpPacketsIn).toBe(1);
  });
});

describe('createRelayEngine', () => {
  it('prefers the native engine and honours prefer=js', async () => {
    const n = createRelayEngine();
    expect(n.kind).toBe('native');
    await n.shutdown();
    const j = createRelayEngine({ prefer: 'js' });
    expect(j.kind).toBe('js');
    await j.shutdown();
  });

  it('falls back to the JS engine, loudly, when the addon is missing', async () => {
    const warnings: Array<[object, string]> = [];
    const e = createRelayEngine({
      logger: { warn: (obj, msg) => warnings.push([obj, msg]) },
      nativeFactory: () => {
        throw new Error('native media addon not found');
      },
    });
    expect(e.kind).toBe('js');
    expect(warnings.length).toBe(1);
    expect(warnings[0]![1]).toMatch(/NATIVE MEDIA RELAY UNAVAILABLE/);
    expect(warnings[0]![0]).toMatchObject({ err: 'native media addon not found' });
    await e.shutdown();
  });
});
