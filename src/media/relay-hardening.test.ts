/**
 * Regressions of issue 17 (found by a sanitizer fuzz of the native relay):
 * SRTP keystream reuse after SSRC state eviction, jitter after a clock-rate
 * change, JS calls waiting behind packet processing, and the addon boundary
 * (ids, ports, throwing getters). Each fails on the code before the fix.
 * The EMFILE hang and the fuzz are in relay-emfile.test.ts / relay-fuzz.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LegConfig, RelayEngine, RelaySession, SrtpSuite } from './relay-types.js';
import { JsRelayEngine } from './relay-js.js';
import { loadNativeAddon, nativeAddonPath, NativeRelayEngine, toNative, type NativeEngineHandle } from './relay-native.js';
import { MAX_STREAMS, SrtpContext } from './srtp-js.js';

const HOST = '127.0.0.1';
const SUITE: SrtpSuite = 'AES_CM_128_HMAC_SHA1_80';
const native = loadNativeAddon();

interface Peer {
  port: number;
  got: Buffer[];
  send(buf: Buffer, port: number): Promise<void>;
  close(): void;
}

async function peer(): Promise<Peer> {
  const sock: Socket = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m: Buffer) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
  return {
    port: sock.address().port,
    got,
    send: (buf, port) => new Promise<void>((r, j) => sock.send(buf, port, HOST, (e) => (e ? j(e) : r()))),
    close: () => sock.close(),
  };
}

/** Polls a condition (bounded) so tests assert outcomes, never timing. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function rtp(seq: number, ssrc: number, ts = seq * 160, payload: Buffer = randomBytes(160)): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 8;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

/** RTCP RR without report blocks plus 24 bytes of random payload (an APP-like tail), from `ssrc`. */
function rtcp(ssrc: number): Buffer {
  const b = Buffer.concat([Buffer.alloc(8), randomBytes(24)]);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  return b;
}

function leg(remote: Peer, rtcpPeer: Peer, extra: Partial<LegConfig> = {}): LegConfig {
  return {
    localAddress: HOST,
    localRtpPort: 0,
    rtcpMux: false,
    remote: { address: HOST, rtpPort: remote.port, rtcpPort: rtcpPeer.port },
    latch: 'first-packet',
    srtp: null,
    telephoneEventPt: null,
    ...extra,
  };
}

const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]!));

/** The RTP sequence of the issue: SSRC 0xa crosses a rollover (ROC 1), four other SSRCs, then 0xa seq 6 again. */
function issueRtpSequence(): { packets: Buffer[]; firstSix: number; lastSix: number } {
  const packets: Buffer[] = [];
  for (let s = 0; s <= 6; s++) packets.push(rtp(s, 0xa));
  const firstSix = packets.length - 1;
  for (const s of [16000, 32000, 48000, 65535]) packets.push(rtp(s, 0xa));
  for (let s = 0; s <= 5; s++) packets.push(rtp(s, 0xa, (65536 + s) * 160));
  for (const ssrc of [0xb, 0xc, 0xd, 0xe]) packets.push(rtp(100, ssrc));
  packets.push(rtp(6, 0xa, (65536 + 6) * 160));
  return { packets, firstSix, lastSix: packets.length - 1 };
}

const norm = (r: Buffer | string): string => (typeof r === 'string' ? r : 'ok');

describe('SRTP never encrypts an (SSRC, index) twice under one key (RFC 3711 9.2)', () => {
  const keySalt = randomBytes(30);
  const impls: Array<[string, (op: 'protectRtp' | 'protectRtcp', pkts: Buffer[]) => Array<Buffer | string>]> = [
    ['native', (op, pkts) => native.srtpTransform(keySalt, 10, op, pkts)],
    [
      'js',
      (op, pkts) => {
        const tx = new SrtpContext({ suite: SUITE, keySalt });
        return pkts.map((p) => (op === 'protectRtp' ? tx.protectRtp(p) : tx.protectRtcp(p)));
      },
    ],
  ];

  it.each(impls)('%s: an SSRC that comes back after others keeps its ROC', (_name, protect) => {
    const { packets, firstSix, lastSix } = issueRtpSequence();
    const out = protect('protectRtp', packets);
    expect(out.map(norm)).toEqual(packets.map(() => 'ok'));
    // The receiver follows the stream: the last packet authenticates only with ROC 1.
    const rx = new SrtpContext({ suite: SUITE, keySalt });
    const clear = out.map((p) => rx.unprotectRtp(p as Buffer));
    expect(clear.map(norm)).toEqual(packets.map(() => 'ok'));
    expect((clear[lastSix] as Buffer).equals(packets[lastSix]!)).toBe(true);
    // Two-time pad check: with the same keystream, C1 ^ C2 would equal P1 ^ P2.
    const c1 = (out[firstSix] as Buffer).subarray(12, 172);
    const c2 = (out[lastSix] as Buffer).subarray(12, 172);
    const p1 = packets[firstSix]!.subarray(12);
    const p2 = packets[lastSix]!.subarray(12);
    expect(xor(c1, c2).equals(xor(p1, p2))).toBe(false);
  });

  it.each(impls)('%s: SRTCP indices of an SSRC never repeat', (_name, protect) => {
    const ssrcs = [0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x1111];
    const out = protect('protectRtcp', ssrcs.map(rtcp)) as Buffer[];
    const index = (p: Buffer): number => p.readUInt32BE(p.length - 14) >>> 0;
    expect(out.map(index)).toEqual([0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000001]);
  });

  it.each(impls)('%s: a repeated or stale sequence number is refused, not re-encrypted', (_name, protect) => {
    const out = protect('protectRtp', [rtp(7, 0xa), rtp(8, 0xa), rtp(7, 0xa), rtp(200, 0xa), rtp(100, 0xa)]);
    expect(out.map(norm)).toEqual(['ok', 'ok', 'replay', 'ok', 'replay']);
  });

  it.each(impls)('%s: SSRCs beyond the limit are dropped, the others go on', (_name, protect) => {
    const pkts: Buffer[] = [];
    for (let i = 0; i <= MAX_STREAMS; i++) pkts.push(rtp(1, 0x100 + i));
    pkts.push(rtp(2, 0x100));
    const out = protect('protectRtp', pkts).map(norm);
    expect(out.slice(0, MAX_STREAMS)).toEqual(Array<string>(MAX_STREAMS).fill('ok'));
    expect(out[MAX_STREAMS]).toBe('ssrc-limit');
    expect(out[MAX_STREAMS + 1]).toBe('ok');
  });
});

const engines: Array<[string, () => RelayEngine]> = [
  ['native', () => new NativeRelayEngine()],
  ['js', () => new JsRelayEngine()],
];

describe.each(engines)('%s relay: SRTP state, jitter', (kind, make) => {
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

  async function plainToSrtp(sbcKey: Buffer): Promise<{ s: RelaySession; pa: Peer; pac: Peer; pb: Peer; pbc: Peer; cfgB: LegConfig }> {
    const [pa, pac, pb, pbc] = [track(await peer()), track(await peer()), track(await peer()), track(await peer())];
    const cfgB = leg(pb, pbc, { srtp: { inbound: { suite: SUITE, keySalt: randomBytes(30) }, outbound: { suite: SUITE, keySalt: sbcKey } } });
    const s = track(await engine.createSession(leg(pa, pac), cfgB));
    return { s, pa, pac, pb, pbc, cfgB };
  }

  it('an SSRC that returns from the plain leg continues its ROC and SRTCP index', async () => {
    const sbcKey = randomBytes(30);
    const { s, pa, pac, pb, pbc } = await plainToSrtp(sbcKey);
    const { packets, firstSix, lastSix } = issueRtpSequence();
    for (let i = 0; i < packets.length; i++) {
      await pa.send(packets[i]!, s.localPorts.A.rtp);
      await until(() => pb.got.length === i + 1, `SRTP packet ${i} at B`);
    }
    const rx = new SrtpContext({ suite: SUITE, keySalt: sbcKey });
    expect(pb.got.map((p) => norm(rx.unprotectRtp(p)))).toEqual(packets.map(() => 'ok'));
    const c = (i: number): Buffer => pb.got[i]!.subarray(12, 172);
    expect(xor(c(firstSix), c(lastSix)).equals(xor(packets[firstSix]!.subarray(12), packets[lastSix]!.subarray(12)))).toBe(false);

    const ssrcs = [0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x1111];
    for (let i = 0; i < ssrcs.length; i++) {
      await pac.send(rtcp(ssrcs[i]!), s.localPorts.A.rtcp);
      await until(() => pbc.got.length === i + 1, `SRTCP packet ${i} at B`);
    }
    const last = pbc.got[pbc.got.length - 1]!;
    expect(last.readUInt32BE(last.length - 14) >>> 0).toBe(0x80000001);
    expect(s.stats().B.srtpIndexReuseDrops ?? -1).toBe(0);
  });

  it('a key that comes back (relay rebuilt, SRTP off and on) continues where it was', async () => {
    const sbcKey = randomBytes(30);
    const first = await plainToSrtp(sbcKey);
    await first.pac.send(rtcp(0x77), first.s.localPorts.A.rtcp);
    await until(() => first.pbc.got.length === 1, 'first SRTCP');
    await first.pa.send(rtp(10, 0x77), first.s.localPorts.A.rtp);
    await until(() => first.pb.got.length === 1, 'first SRTP');
    first.s.close();
    // Same outbound key on a new relay session (what an rtcp-mux change does).
    const second = await plainToSrtp(sbcKey);
    await second.pac.send(rtcp(0x77), second.s.localPorts.A.rtcp);
    await until(() => second.pbc.got.length === 1, 'SRTCP after rebuild');
    const idx = (p: Buffer): number => p.readUInt32BE(p.length - 14) >>> 0;
    expect(idx(second.pbc.got[0]!)).toBe(0x80000001);
    // The same RTP index again under the same key is refused and counted.
    await second.pa.send(rtp(10, 0x77), second.s.localPorts.A.rtp);
    await until(() => (second.s.stats().B.srtpIndexReuseDrops ?? 0) === 1, 'index reuse drop');
    expect(second.pb.got.length).toBe(0);
    // SRTP switched off and on with the same key.
    second.s.updateLeg('B', { srtp: null });
    second.s.updateLeg('B', { srtp: second.cfgB.srtp });
    await second.pac.send(rtcp(0x77), second.s.localPorts.A.rtcp);
    await until(() => second.pbc.got.length === 2, 'SRTCP after SRTP off/on');
    expect(idx(second.pbc.got[1]!)).toBe(0x80000002);
  });

  it('SSRCs beyond the per-key limit are dropped and counted', async () => {
    const { s, pa, pb } = await plainToSrtp(randomBytes(30));
    for (let i = 0; i <= MAX_STREAMS; i++) await pa.send(rtp(1, 0x500 + i), s.localPorts.A.rtp);
    await until(() => s.stats().A.rtpPacketsIn === MAX_STREAMS + 1, 'all packets in');
    await until(() => s.stats().B.srtpSsrcLimitDrops === 1, 'SSRC limit drop');
    await until(() => pb.got.length === MAX_STREAMS, 'the others relayed');
  });

  it('restarts the jitter estimator on a clock-rate change and clamps discontinuities', async () => {
    const [pa, pac, pb, pbc] = [track(await peer()), track(await peer()), track(await peer()), track(await peer())];
    const s = track(await engine.createSession(leg(pa, pac), leg(pb, pbc)));
    for (let i = 0; i < 25; i++) await pa.send(rtp(i, 0x42, i * 160), s.localPorts.A.rtp);
    await until(() => s.stats().A.rtpPacketsIn === 25, '25 packets at 8 kHz');
    s.updateLeg('A', { clockRate: 48000 });
    expect(s.stats().A.jitterMs).toBe(0);
    for (let i = 25; i < 28; i++) await pa.send(rtp(i, 0x42, 25 * 160 + (i - 25) * 960), s.localPorts.A.rtp);
    await until(() => s.stats().A.rtpPacketsIn === 28, '3 packets at 48 kHz');
    const j = s.stats().A.jitterMs;
    expect(Number.isFinite(j) && j >= 0 && j < 1000).toBe(true);
    // A timestamp jump of 2^30 units is a discontinuity, not jitter.
    await pa.send(rtp(28, 0x42, 2 ** 30), s.localPorts.A.rtp);
    await until(() => s.stats().A.rtpPacketsIn === 29, 'jumped packet');
    expect(s.stats().A.jitterClamps).toBe(1);
    expect(s.stats().A.jitterMs).toBeLessThan(1000);
  });
});

describe('native engine: JS calls and the addon boundary', () => {
  const handles: NativeEngineHandle[] = [];
  const newHandle = (opts?: { firstSessionId?: number }): NativeEngineHandle => {
    const h = new native.Engine(opts);
    handles.push(h);
    return h;
  };
  afterAll(() => {
    for (const h of handles) h.shutdown();
  });
  const plainLeg = (remotePort: number): LegConfig => ({
    localAddress: HOST,
    localRtpPort: 0,
    rtcpMux: true,
    remote: { address: HOST, rtpPort: remotePort, rtcpPort: remotePort },
    latch: 'first-packet',
    srtp: null,
    telephoneEventPt: null,
  });

  it('stats() and sessionCount() do not wait while the relay thread holds the engine lock', async () => {
    const h = newHandle();
    const pa = await peer();
    const pb = await peer();
    try {
      const c = h.createSession(toNative(plainLeg(pa.port)), toNative(plainLeg(pb.port)));
      h.testHoldRound(3000);
      await pa.send(rtp(1, 1), c.aRtp);
      // Wait for the event (the relay thread inside its round, holding the mutex), never for a time.
      await until(() => h.testHoldState() === 2, 'relay thread holding the engine mutex');
      const count = h.sessionCount();
      const st = h.stats(c.id);
      const blocked = h.testReleaseRound();
      expect(blocked).toBe(false);
      expect(count).toBe(1);
      expect(st?.A.rtpPacketsIn).toBe(1);
    } finally {
      pa.close();
      pb.close();
    }
  });

  it('session ids are 64-bit: no wrap at 2^30 or 2^32, no live session replaced', () => {
    for (const first of [2 ** 30 - 2, 2 ** 32 - 1]) {
      const h = newHandle({ firstSessionId: first });
      const ids = [0, 1, 2].map(() => h.createSession(toNative(plainLeg(9)), toNative(plainLeg(9))).id);
      expect(ids).toEqual([first, first + 1, first + 2]);
      expect(h.sessionCount()).toBe(3);
      for (const id of ids) expect(h.stats(id)).not.toBeNull();
      for (const id of ids) expect(h.closeSession(id)).toBe(true);
      expect(h.sessionCount()).toBe(0);
    }
  });

  it('rejects out-of-range numbers with EINVAL instead of overflowing', () => {
    const h = newHandle();
    const good = toNative(plainLeg(9));
    for (const bad of [{ localRtpPort: 2 ** 31 - 1 }, { localRtpPort: -1 }, { remoteRtpPort: 1e20 }, { clockRate: 0.5 }, { telephoneEventPt: NaN }]) {
      let code: unknown = null;
      try {
        h.createSession({ ...good, ...bad }, good);
      } catch (err) {
        code = (err as { code?: unknown }).code;
      }
      expect(code, JSON.stringify(bad)).toBe('EINVAL');
    }
    expect(h.sessionCount()).toBe(0);
  });

  it('a leg whose getter throws raises that exception, the process lives on', () => {
    // In a child process: before the fix this aborted the whole process.
    const script = `
      const addon = require(${JSON.stringify(nativeAddonPath())});
      const e = new addon.Engine();
      const leg = { localAddress: '127.0.0.1', localRtpPort: 0, rtcpMux: true };
      const results = [];
      for (const key of ['localAddress', 'localRtpPort', 'remoteAddress', 'srtpInKey', 'clockRate']) {
        const bad = { ...leg };
        Object.defineProperty(bad, key, { enumerable: true, get() { throw new Error('getter ' + key); } });
        try { e.createSession(bad, leg); results.push('no error'); } catch (err) { results.push(err.message); }
        try { e.updateLeg(1, 0, bad); results.push('no error'); } catch (err) { results.push(err.message); }
      }
      const trap = new Proxy({}, { get() { throw new Error('proxy'); } });
      try { e.createSession(leg, trap); } catch (err) { results.push(err.message); }
      const arr = [Buffer.alloc(20)];
      Object.defineProperty(arr, 0, { get() { throw new Error('element'); } });
      try { addon.srtpTransform(Buffer.alloc(30), 10, 'protectRtp', arr); } catch (err) { results.push(err.message); }
      e.shutdown();
      console.log(JSON.stringify(results));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout.trim()) as string[];
    expect(results.slice(0, 10)).toEqual([
      'getter localAddress',
      'getter localAddress',
      'getter localRtpPort',
      'getter localRtpPort',
      'getter remoteAddress',
      'getter remoteAddress',
      'getter srtpInKey',
      'getter srtpInKey',
      'getter clockRate',
      'getter clockRate',
    ]);
    expect(results.slice(10)).toEqual(['proxy', 'element']);
  });
});
