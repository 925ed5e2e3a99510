/**
 * Bounded fuzz of the native media relay (issue 17): mutated and valid
 * RTP/RTCP/SRTP/SRTCP packets against plain and SRTP sessions while
 * sessions are created, updated and destroyed, plus junk at the addon
 * boundary. Exits 0 and prints one JSON summary line when every check held;
 * exits 1 naming the first broken invariant. A crash shows as a signal.
 *
 *   node --import tsx test/fuzz/relay-fuzz.ts [--packets N] [--addon PATH] [--seed N]
 *
 * Used by src/media/relay-fuzz.test.ts (npm test) and, against an
 * ASan/UBSan build of the addon, by scripts/native-sanitize.sh.
 * Loopback only; every loop is bounded.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nativeAddonPath, NativeRelayEngine, type NativeAddon } from '../../src/media/relay-native.js';
import type { LegConfig, LegCounters, RelaySession, SrtpSuite } from '../../src/media/relay-types.js';
import { SrtpContext } from '../../src/media/srtp-js.js';

const HOST = '127.0.0.1';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const TOTAL = Math.max(1000, Math.min(5_000_000, Number(arg('--packets', '200000'))));
const ADDON = arg('--addon', nativeAddonPath() ?? '');
let seed = Number(arg('--seed', String(Date.now() % 1_000_000))) >>> 0 || 1;

/** xorshift32: reproducible with --seed. */
function rnd(n: number): number {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
}
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;

function fail(msg: string): never {
  process.stderr.write(`FUZZ INVARIANT BROKEN: ${msg}\n`);
  process.exit(1);
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;
/** Every open descriptor with what it refers to ("7 socket:[123]"), to name leaked or vanished ones. */
function fdTable(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.add(`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      /* closed while listing (the listing's own descriptor) */
    }
  }
  return out;
}
const minus = (a: Set<string>, b: Set<string>): string[] => [...a].filter((x) => !b.has(x));

// ---- packets ---------------------------------------------------------------

function rtp(seq: number, ssrc: number, ts: number, len: number, pt = 8): Buffer {
  const p = bytes(12 + len);
  p[0] = 0x80;
  p[1] = pt;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
  return p;
}

/** SR or RR with 0..3 report blocks, sometimes compound with an SDES-like tail. */
function rtcp(ssrc: number): Buffer {
  const sr = rnd(2) === 0;
  const rc = rnd(4);
  const len = (sr ? 28 : 8) + 24 * rc;
  const p = bytes(len);
  p[0] = 0x80 | rc;
  p[1] = sr ? 200 : 201;
  p.writeUInt16BE(len / 4 - 1, 2);
  p.writeUInt32BE(ssrc >>> 0, 4);
  if (rnd(3) > 0) return p;
  const tail = bytes(4 * (1 + rnd(6)));
  tail[0] = 0x81;
  tail[1] = 202;
  tail.writeUInt16BE(tail.length / 4 - 1, 2);
  return Buffer.concat([p, tail]);
}

const MUTATIONS = ['valid', 'truncate', 'bitflip', 'csrc-ext-lie', 'rtcp-length-lie', 'garbage', 'oversize', 'replay', 'ssrc-spray', 'runt', 'version', 'pt-rtcp-range'] as const;
type Mutation = (typeof MUTATIONS)[number];

function mutate(m: Mutation, valid: Buffer, isRtcp: boolean): Buffer {
  switch (m) {
    case 'valid':
    case 'replay':
    case 'ssrc-spray':
      return valid;
    case 'truncate':
      return valid.subarray(0, rnd(valid.length));
    case 'bitflip': {
      const b = Buffer.from(valid);
      for (let i = 1 + rnd(4); i > 0; i--) b[rnd(b.length)] ^= 1 << rnd(8);
      return b;
    }
    case 'csrc-ext-lie': {
      const b = Buffer.from(valid);
      if (b.length < 16) return b;
      b[0] = 0x90 | rnd(16); // extension bit, up to 15 CSRCs
      const h = 12 + 4 * (b[0]! & 0x0f);
      if (h + 4 <= b.length) b.writeUInt16BE(rnd(2) ? 0xffff : rnd(64), h + 2);
      return b;
    }
    case 'rtcp-length-lie': {
      const b = Buffer.from(valid);
      if (b.length >= 4) b.writeUInt16BE(pick([0, 1, 0xffff, rnd(0x10000), b.length / 4]), 2);
      if (isRtcp && b.length >= 2) b[0] = (b[0]! & 0xe0) | rnd(32);
      return b;
    }
    case 'garbage': {
      const b = bytes(rnd(1500));
      if (b.length > 0 && rnd(2)) b[0] = 0x80 | (b[0]! & 0x3f);
      return b;
    }
    case 'oversize':
      return Buffer.concat([valid, bytes(1900 + rnd(3000))]);
    case 'runt':
      return valid.subarray(0, rnd(12));
    case 'version': {
      const b = Buffer.from(valid);
      if (b.length > 0) b[0] = (b[0]! & 0x3f) | (rnd(3) << 6);
      return b;
    }
    case 'pt-rtcp-range': {
      const b = Buffer.from(valid);
      if (b.length > 1) b[1] = 64 + rnd(32) + (rnd(2) << 7);
      return b;
    }
  }
}

// ---- sessions --------------------------------------------------------------

type Kind = 'plain' | 'plain-mux' | 'plain-srtp' | 'srtp-srtp';
const SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

interface FuzzSession {
  s: RelaySession;
  kind: Kind;
  /** What the peer of each leg encrypts with (null: plain leg). */
  peerTx: [SrtpContext | null, SrtpContext | null];
  sent: Buffer[];
  seq: number;
  ssrc: number;
  /** Index of the sender socket that plays both peers (so latching accepts it); others are wrong sources. */
  home: number;
}

function legCfg(peerPort: number, mux: boolean, srtp: LegConfig['srtp']): LegConfig {
  return {
    localAddress: HOST,
    localRtpPort: 0,
    rtcpMux: mux,
    remote: { address: HOST, rtpPort: peerPort, rtcpPort: peerPort },
    latch: rnd(4) === 0 ? 'signalled-only' : 'first-packet',
    srtp,
    telephoneEventPt: rnd(2) ? 101 : null,
    clockRate: pick([8000, 16000, 48000]),
  };
}

function keying(): { cfg: NonNullable<LegConfig['srtp']>; peerTx: SrtpContext } {
  const suite = pick(SUITES);
  const inbound = { suite, keySalt: bytes(30) };
  return { cfg: { inbound, outbound: { suite, keySalt: bytes(30) } }, peerTx: new SrtpContext(inbound) };
}

async function createFuzzSession(engine: NativeRelayEngine, senderPorts: number[]): Promise<FuzzSession> {
  const home = rnd(senderPorts.length);
  const peerPort = senderPorts[home]!;
  const kind = pick<Kind>(['plain', 'plain-mux', 'plain-srtp', 'srtp-srtp']);
  const mux = kind === 'plain-mux' || rnd(3) === 0;
  const a = kind === 'srtp-srtp' ? keying() : null;
  const b = kind === 'plain-srtp' || kind === 'srtp-srtp' ? keying() : null;
  const s = await engine.createSession(legCfg(peerPort, mux, a ? a.cfg : null), legCfg(peerPort, mux, b ? b.cfg : null));
  return { s, kind, peerTx: [a ? a.peerTx : null, b ? b.peerTx : null], sent: [], seq: rnd(65536), ssrc: 1 + rnd(0xfffffff), home };
}

function checkCounters(c: LegCounters, where: string): void {
  for (const [k, v] of Object.entries(c)) {
    if (v === null || typeof v === 'string') continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${where}.${k} = ${String(v)}`);
  }
  if (c.jitterMs > 1e6) fail(`${where}.jitterMs absurd: ${c.jitterMs}`);
}

// ---- the boundary --------------------------------------------------------

function junkValue(): unknown {
  return pick<() => unknown>([
    () => undefined,
    () => null,
    () => NaN,
    () => Infinity,
    () => -1,
    () => 2 ** 31 - 1,
    () => 2 ** 53 + 2,
    () => 1e300,
    () => 0.5,
    () => 'x'.repeat(rnd(200)),
    () => ({}),
    () => [],
    () => bytes(rnd(40)),
    () => Symbol('s'),
    () => 10n,
  ])();
}

/** Junk settings straight into the addon: an exception is fine, an abort or a session is not. */
function boundaryFuzz(addonEngine: { createSession(a: unknown, b: unknown): unknown; updateLeg(id: unknown, l: unknown, s: unknown): void; stats(id: unknown): unknown; closeSession(id: unknown): boolean; setPaused(id: unknown, p: unknown): boolean }): number {
  const keys = ['localAddress', 'localRtpPort', 'rtcpMux', 'remoteAddress', 'remoteRtpPort', 'remoteRtcpPort', 'signalledOnly', 'srtpInKey', 'srtpOutKey', 'srtpInTag', 'srtpOutTag', 'telephoneEventPt', 'clockRate'];
  let thrown = 0;
  for (let i = 0; i < 40; i++) {
    const leg: Record<string, unknown> = { localAddress: '127.0.0.1', localRtpPort: 0, rtcpMux: true };
    const k = pick(keys);
    if (rnd(5) === 0) Object.defineProperty(leg, k, { enumerable: true, get: () => { throw new Error('getter'); } });
    else leg[k] = junkValue();
    const target: unknown = rnd(10) === 0 ? new Proxy({}, { get: () => { throw new Error('proxy'); } }) : leg;
    try {
      const r = addonEngine.createSession(target, { localAddress: '127.0.0.1', localRtpPort: 0, rtcpMux: true }) as { id?: number } | undefined;
      if (r && typeof r.id === 'number') addonEngine.closeSession(r.id); // junk that happens to be valid
    } catch {
      thrown++;
    }
    try {
      addonEngine.updateLeg(junkValue(), junkValue(), target);
    } catch {
      thrown++;
    }
    const id = junkValue();
    if (addonEngine.stats(id) !== null && typeof id !== 'number') fail(`stats(${String(id)}) answered`);
    addonEngine.closeSession(id);
    addonEngine.setPaused(id, junkValue());
  }
  return thrown;
}

// ---- main ------------------------------------------------------------------

async function main(): Promise<void> {
  if (!ADDON) fail('native addon not built');
  const fdsBefore = fdCount();
  const tableBefore = fdTable();
  const require = createRequire(import.meta.url);
  const addon = require(ADDON) as NativeAddon;
  const engine = new NativeRelayEngine(addon);
  if (engine.kind !== 'native') fail('not the native engine');
  const rawEngine = new addon.Engine();

  const bind = (): Promise<Socket> =>
    new Promise((resolve) => {
      const s = createSocket('udp4');
      s.on('error', () => {});
      s.bind(0, HOST, () => resolve(s));
    });
  // The senders play the peers of both legs: what the relay forwards comes back to them.
  let sunk = 0;
  const senders = [await bind(), await bind(), await bind(), await bind()];
  for (const s of senders) s.on('message', () => sunk++);
  const senderPorts = senders.map((s) => s.address().port);

  const live: FuzzSession[] = [];
  let created = 0;
  let closed = 0;
  let updates = 0;
  let boundaryThrows = 0;
  const perMutation: Record<string, number> = {};
  for (let i = 0; i < 8; i++) {
    live.push(await createFuzzSession(engine, senderPorts));
    created++;
  }

  const checkAll = (): void => {
    for (const f of live) {
      const st = f.s.stats();
      checkCounters(st.A, `session ${f.s.id} A`);
      checkCounters(st.B, `session ${f.s.id} B`);
    }
  };

  let inFlight = 0;
  for (let n = 0; n < TOTAL; n++) {
    const f = pick(live);
    const legIdx = rnd(2) as 0 | 1;
    const ports = legIdx === 0 ? f.s.localPorts.A : f.s.localPorts.B;
    const toRtcp = rnd(4) === 0;
    const m = pick(MUTATIONS);
    perMutation[m] = (perMutation[m] ?? 0) + 1;
    let valid: Buffer;
    if (m === 'replay' && f.sent.length > 0) valid = pick(f.sent);
    else {
      const ssrc = m === 'ssrc-spray' ? rnd(0x7fffffff) : f.ssrc;
      f.seq = (f.seq + 1 + (rnd(50) === 0 ? rnd(5000) : 0)) & 0xffff;
      const plain = toRtcp ? rtcp(ssrc) : rtp(f.seq, ssrc, f.seq * 160 + (rnd(100) === 0 ? rnd(2 ** 31) : 0), pick([0, 20, 160, 320, 1200]));
      const tx = f.peerTx[legIdx];
      const protectedPkt = tx ? (toRtcp ? tx.protectRtcp(plain) : tx.protectRtp(plain)) : plain;
      valid = typeof protectedPkt === 'string' ? plain : protectedPkt;
      if (f.sent.length < 64) f.sent.push(valid);
      else f.sent[rnd(64)] = valid;
    }
    const pkt = mutate(m, valid, toRtcp);
    inFlight++;
    const from = rnd(20) === 0 ? rnd(senders.length) : f.home; // sometimes a wrong source
    senders[from]!.send(pkt, toRtcp ? ports.rtcp : ports.rtp, HOST, () => inFlight--);

    if (n % 256 === 255) {
      // Bounded backlog, then let the event loop drain send callbacks.
      for (let w = 0; w < 1000 && inFlight > 512; w++) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
    if (n % 2000 === 1999) {
      // Churn: close one, open one; sometimes renegotiate another.
      const victim = live.splice(rnd(live.length), 1)[0]!;
      const before = victim.s.stats();
      victim.s.close();
      closed++;
      const after = victim.s.stats();
      if (JSON.stringify(before) !== JSON.stringify(after) && after.A.rtpPacketsIn < before.A.rtpPacketsIn) fail('counters went back after close');
      live.push(await createFuzzSession(engine, senderPorts));
      created++;
      const g = pick(live);
      const leg = rnd(2) ? 'A' : 'B';
      const k = keying();
      const update = pick<Parameters<RelaySession['updateLeg']>[1]>([
        { clockRate: pick([8000, 16000, 48000]) },
        { srtp: null },
        { srtp: k.cfg },
        { latch: rnd(2) ? 'first-packet' : 'signalled-only' },
        { remote: { address: HOST, rtpPort: senderPorts[g.home]!, rtcpPort: senderPorts[g.home]! } },
        { telephoneEventPt: rnd(2) ? 96 + rnd(32) : null },
      ]);
      g.s.updateLeg(leg, update);
      if (update.srtp !== undefined) g.peerTx[leg === 'A' ? 0 : 1] = update.srtp ? k.peerTx : null;
      g.s.setPaused(rnd(8) === 0);
      updates++;
    }
    if (n % 5000 === 4999) {
      checkAll();
      boundaryThrows += boundaryFuzz(rawEngine as unknown as Parameters<typeof boundaryFuzz>[0]);
    }
  }
  for (let w = 0; w < 2000 && inFlight > 0; w++) await new Promise((r) => setImmediate(r));
  checkAll();

  const totals: Record<string, number> = {};
  for (const f of live) {
    const st = f.s.stats();
    for (const c of [st.A, st.B])
      for (const [k, v] of Object.entries(c)) if (typeof v === 'number') totals[k] = (totals[k] ?? 0) + v;
  }
  for (const f of live.splice(0)) {
    f.s.close();
    closed++;
  }
  if (engine.sessionCount() !== 0) fail(`sessionCount ${engine.sessionCount()} after closing all`);
  for (const s of senders) s.close();
  await engine.shutdown();
  rawEngine.shutdown();
  // dgram closes asynchronously: wait (bounded) for the descriptors to go. A leak is a
  // descriptor open now that was not open before the run; descriptors of the host process
  // that closed meanwhile (the test runner's own temp files) are not the relay's doing.
  const leaked = (): string[] => minus(fdTable(), tableBefore);
  for (let w = 0; w < 200 && leaked().length > 0; w++) await new Promise((r) => setTimeout(r, 10));
  const fdsAfter = fdCount();
  if (leaked().length > 0) {
    fail(`descriptors leaked: ${fdsBefore} before, ${fdsAfter} after; new: ${leaked().join(', ')}; gone: ${minus(tableBefore, fdTable()).join(', ') || '-'}`);
  }
  process.stdout.write(
    JSON.stringify({ kind: engine.kind, packets: TOTAL, created, closed, updates, boundaryThrows, sunk, fdsBefore, fdsAfter, perMutation, totals }) + '\n',
  );
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
