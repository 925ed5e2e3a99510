/**
 * Child process hosting the SBC's relay engines for the media bench, so
 * their CPU can be measured on their own (the native engines' threads are in
 * this process too). Driven by the parent over the IPC channel:
 *   parent: { type: 'init', prefer, modulePath, engines, srtp }  child: { type: 'ready', kind, engines } | { type: 'error', message }
 *   parent: { type: 'create', genPorts }                          child: { type: 'created', targets } | { type: 'error', message }
 *   parent: { type: 'close' }                                      child: { type: 'closed', srtp }
 *   parent: { type: 'shutdown' }                                   child exits
 *
 * `engines` relay engines are created (each native engine owns one relay
 * thread, as each SIP worker of the SBC owns one) and relay sessions are
 * spread over them round-robin. With `srtp`, each generator session crosses
 * two relay sessions chained over loopback:
 *   gen A -RTP-> [s1 leg A | s1 leg B] -SRTP-> [s2 leg A | s2 leg B] -RTP-> gen B
 * and the same backwards, so every packet is encrypted once and decrypted once.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { LegConfig, LegSrtp, RelayEngine, RelaySession } from '../src/media/relay-types.js';

export type RelayChildRequest =
  | { type: 'init'; prefer: 'native' | 'js'; modulePath: string; engines: number; srtp: boolean }
  | { type: 'create'; genPorts: number[] }
  | { type: 'close' }
  | { type: 'shutdown' };

export type RelayChildReply =
  | { type: 'ready'; kind: string; engines: number }
  | { type: 'created'; targets: number[] }
  | { type: 'closed'; srtp: SrtpLegTotals }
  | { type: 'error'; message: string };

/** Counters of the SRTP legs of the chain at close: proof the packets crossed them encrypted and authenticated. */
export interface SrtpLegTotals {
  legs: number;
  packetsIn: number;
  authFailures: number;
}

interface RelayModule {
  createRelayEngine(opts: { prefer: 'native' | 'js' }): RelayEngine | Promise<RelayEngine>;
}

let engines: RelayEngine[] = [];
let nextEngine = 0;
let srtpChain = false;
let sessions: RelaySession[] = [];
/** The legs configured with SRTP keys (the inner legs of the chain). */
let srtpLegs: Array<{ s: RelaySession; leg: 'A' | 'B' }> = [];
// Random base below the ephemeral range (32768+) so parallel runs rarely collide; EADDRINUSE just moves on.
const PORT_LOW = 10000;
const PORT_HIGH = 32000;
let nextPort = PORT_LOW + 4 * Math.floor(Math.random() * 5000);

function reply(r: RelayChildReply): void {
  process.send?.(r);
}

function leg(localPort: number, remotePort: number | null, srtp: LegSrtp | null = null): LegConfig {
  return {
    localAddress: '127.0.0.1',
    localRtpPort: localPort,
    rtcpMux: false,
    remote: remotePort === null ? null : { address: '127.0.0.1', rtpPort: remotePort, rtcpPort: remotePort + 1 },
    latch: 'first-packet',
    srtp,
    telephoneEventPt: null,
  };
}

/** Creates one relay session on the next engine; legs are built once the local ports are chosen. */
async function createOne(makeA: (port: number) => LegConfig, makeB: (port: number) => LegConfig): Promise<{ s: RelaySession; a: number; b: number }> {
  let lastErr: unknown = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (nextPort > PORT_HIGH - 4) nextPort = PORT_LOW;
    const a = nextPort;
    const b = nextPort + 2;
    nextPort += 4;
    try {
      const engine = engines[nextEngine++ % engines.length]!;
      const s = await engine.createSession(makeA(a), makeB(b));
      sessions.push(s);
      return { s, a, b };
    } catch (e) {
      lastErr = e;
    }
  }
  throw new Error(`could not create a relay session: ${String((lastErr as Error | null)?.message ?? lastErr)}`);
}

function sdesKey(): { suite: 'AES_CM_128_HMAC_SHA1_80'; keySalt: Buffer } {
  return { suite: 'AES_CM_128_HMAC_SHA1_80', keySalt: randomBytes(30) };
}

/** Returns where generator sockets A and B must send. */
async function createForGenerator(genA: number, genB: number): Promise<[number, number]> {
  if (!srtpChain) {
    // Leg A faces generator socket 2s, leg B faces 2s+1: each sends to the leg facing it.
    const r = await createOne((p) => leg(p, genA), (p) => leg(p, genB));
    return [r.a, r.b];
  }
  // k1 encrypts s1 -> s2, k2 encrypts s2 -> s1 (SDES-style: each sender picks its own key, RFC 4568 6.1).
  const k1 = sdesKey();
  const k2 = sdesKey();
  // s1's B leg learns s2's port once s2 exists (null remote until then: nothing is sent yet).
  const s1 = await createOne((p) => leg(p, genA), (p) => leg(p, null, { outbound: k1, inbound: k2 }));
  const s2 = await createOne((p) => leg(p, s1.b, { inbound: k1, outbound: k2 }), (p) => leg(p, genB));
  s1.s.updateLeg('B', { remote: { address: '127.0.0.1', rtpPort: s2.a, rtcpPort: s2.a + 1 } });
  srtpLegs.push({ s: s1.s, leg: 'B' }, { s: s2.s, leg: 'A' });
  return [s1.a, s2.b];
}

async function handle(m: RelayChildRequest): Promise<void> {
  try {
    if (m.type === 'init') {
      const mod = (await import(pathToFileURL(m.modulePath).href)) as Partial<RelayModule>;
      if (typeof mod.createRelayEngine !== 'function') throw new Error(`${m.modulePath} does not export createRelayEngine`);
      const count = Math.max(1, Math.floor(m.engines));
      for (let i = 0; i < count; i++) engines.push(await mod.createRelayEngine({ prefer: m.prefer }));
      srtpChain = m.srtp;
      const kinds = [...new Set(engines.map((e) => e.kind))];
      reply({ type: 'ready', kind: kinds.join('+'), engines: engines.length });
    } else if (m.type === 'create') {
      if (engines.length === 0) throw new Error('not initialised');
      const targets: number[] = new Array<number>(m.genPorts.length).fill(0);
      for (let s = 0; s < m.genPorts.length / 2; s++) {
        const [a, b] = await createForGenerator(m.genPorts[2 * s]!, m.genPorts[2 * s + 1]!);
        targets[2 * s] = a;
        targets[2 * s + 1] = b;
      }
      reply({ type: 'created', targets });
    } else if (m.type === 'close') {
      const srtp: SrtpLegTotals = { legs: srtpLegs.length, packetsIn: 0, authFailures: 0 };
      for (const { s, leg } of srtpLegs) {
        const c = s.stats()[leg];
        srtp.packetsIn += c.rtpPacketsIn;
        srtp.authFailures += c.srtpAuthFailures;
      }
      srtpLegs = [];
      for (const s of sessions) s.close();
      sessions = [];
      reply({ type: 'closed', srtp });
    } else if (m.type === 'shutdown') {
      for (const s of sessions) s.close();
      sessions = [];
      srtpLegs = [];
      for (const e of engines) await e.shutdown();
      engines = [];
      process.exit(0);
    }
  } catch (e) {
    reply({ type: 'error', message: (e as Error).message ?? String(e) });
  }
}

process.on('message', (m: RelayChildRequest) => {
  void handle(m);
});
process.on('disconnect', () => process.exit(0));
