/**
 * Pure-JavaScript media relay (node:dgram): the fallback when the native
 * addon is not built, and the baseline the media bench compares against.
 * Same behaviour as the native engine (latching, RTCP, SRTP, counters).
 * Also holds the LegConfig validation both engines share.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type {
  LegConfig,
  LegCounters,
  LegId,
  LegPorts,
  RelayEngine,
  RelaySession,
  RelaySessionStats,
  SrtpKeying,
} from './relay-types.js';
import { SrtpContext, SrtpSendTables, srtpTagLength, type SrtpFailure } from './srtp-js.js';
import { RtpReceiveStats } from './rtp-receive-stats.js';

export type LegUpdate = Partial<Omit<LegConfig, 'localAddress' | 'localRtpPort' | 'rtcpMux'>>;

/** Codes that mean the host ran out of something (descriptors, memory, threads), not that the request was wrong. */
const RESOURCE_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ENOSPC', 'EAGAIN']);

/** A relay request that cannot be honoured; `code` is an errno name (EADDRINUSE) or EINVAL for bad config. */
export class RelayError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RelayError';
    this.code = code;
  }

  /**
   * The SBC is out of a resource (EMFILE: file descriptors, ...): the call
   * should get 503 Service Unavailable (RFC 3261 21.5.4), temporary overload,
   * rather than a 500, and an operator should see it in the log.
   */
  get resourceExhausted(): boolean {
    return RESOURCE_CODES.has(this.code);
  }
}

function isPort(p: unknown, allowZero: boolean): boolean {
  return typeof p === 'number' && Number.isInteger(p) && p >= (allowZero ? 0 : 1) && p <= 65535;
}

/** Throws RelayError('EINVAL') naming the first wrong field. */
export function validateLegConfig(cfg: LegConfig, name: string): void {
  const bad = (msg: string): never => {
    throw new RelayError('EINVAL', `relay leg ${name}: ${msg}`);
  };
  if (!cfg || typeof cfg !== 'object') bad('config missing');
  if (typeof cfg.localAddress !== 'string' || isIP(cfg.localAddress) === 0) bad(`localAddress '${String(cfg.localAddress)}' is not an IP address`);
  if (!isPort(cfg.localRtpPort, true)) bad(`localRtpPort ${String(cfg.localRtpPort)} out of range`);
  if (!cfg.rtcpMux && cfg.localRtpPort === 65535) bad('localRtpPort 65535 leaves no port for RTCP');
  validateLegUpdate(cfg, name);
}

export function validateLegUpdate(cfg: LegUpdate, name: string): void {
  const bad = (msg: string): never => {
    throw new RelayError('EINVAL', `relay leg ${name}: ${msg}`);
  };
  if (cfg.remote !== undefined && cfg.remote !== null) {
    const r = cfg.remote;
    if (typeof r.address !== 'string' || isIP(r.address) === 0) bad(`remote address '${String(r.address)}' is not an IP address`);
    if (!isPort(r.rtpPort, false)) bad(`remote rtpPort ${String(r.rtpPort)} out of range`);
    if (!isPort(r.rtcpPort, false)) bad(`remote rtcpPort ${String(r.rtcpPort)} out of range`);
  }
  if (cfg.latch !== undefined && cfg.latch !== 'first-packet' && cfg.latch !== 'signalled-only') bad(`latch '${String(cfg.latch)}' unknown`);
  if (cfg.srtp !== undefined && cfg.srtp !== null) {
    for (const dir of ['inbound', 'outbound'] as const) {
      const k = cfg.srtp[dir];
      if (!k || (k.suite !== 'AES_CM_128_HMAC_SHA1_80' && k.suite !== 'AES_CM_128_HMAC_SHA1_32')) bad(`srtp.${dir}.suite unsupported`);
      if (!Buffer.isBuffer(k.keySalt) || k.keySalt.length !== 30) bad(`srtp.${dir}.keySalt must be 30 bytes`);
    }
  }
  const pt = cfg.telephoneEventPt;
  if (pt !== undefined && pt !== null && !(Number.isInteger(pt) && pt >= 0 && pt <= 127)) bad(`telephoneEventPt ${String(pt)} not 0..127`);
  const cr = cfg.clockRate;
  if (cr !== undefined && !(Number.isInteger(cr) && cr >= 1000 && cr <= 192000)) bad(`clockRate ${String(cr)} out of range`);
}

export function mergeLegConfig(cur: LegConfig, patch: LegUpdate): LegConfig {
  const next: LegConfig = { ...cur };
  if (patch.remote !== undefined) next.remote = patch.remote ? { ...patch.remote } : null;
  if (patch.latch !== undefined) next.latch = patch.latch;
  if (patch.srtp !== undefined) next.srtp = patch.srtp;
  if (patch.telephoneEventPt !== undefined) next.telephoneEventPt = patch.telephoneEventPt;
  if (patch.clockRate !== undefined) next.clockRate = patch.clockRate;
  return next;
}

export function emptyCounters(): LegCounters {
  return {
    rtpPacketsIn: 0,
    rtpBytesIn: 0,
    rtcpPacketsIn: 0,
    rtpPacketsOut: 0,
    rtcpPacketsOut: 0,
    packetsLost: 0,
    outOfOrder: 0,
    jitterMs: 0,
    lastArrivalMs: 0,
    srtpAuthFailures: 0,
    srtpReplayDrops: 0,
    rejectedSource: 0,
    latchedAddress: null,
    latchedPort: null,
    rttMs: null,
    remoteFractionLost: null,
    remoteJitterMs: null,
    sendErrors: 0,
    srtpSsrcLimitDrops: 0,
    srtpIndexReuseDrops: 0,
    jitterClamps: 0,
  };
}

function countInboundDrop(c: LegCounters, r: SrtpFailure): void {
  if (r === 'replay') c.srtpReplayDrops++;
  else if (r === 'ssrc-limit') c.srtpSsrcLimitDrops = (c.srtpSsrcLimitDrops ?? 0) + 1;
  else c.srtpAuthFailures++;
}

/** Outbound protection refused: counted on the leg the packet was for. */
function countOutboundDrop(c: LegCounters, r: SrtpFailure): void {
  if (r === 'ssrc-limit') c.srtpSsrcLimitDrops = (c.srtpSsrcLimitDrops ?? 0) + 1;
  else if (r === 'replay') c.srtpIndexReuseDrops = (c.srtpIndexReuseDrops ?? 0) + 1;
}

/** Our monotonic clock in 1/65536 s, as the middle 32 bits of an NTP time would be. */
function compactNow(): number {
  return Math.floor(performance.now() * 65.536) >>> 0;
}

function wallNowMs(): number {
  return performance.timeOrigin + performance.now();
}

function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

interface Endpoint {
  address: string;
  port: number;
}

const SR_RING = 4;

class JsLeg {
  readonly name: LegId;
  cfg: LegConfig;
  rtp: Socket | null = null;
  rtcp: Socket | null = null;
  family: 4 | 6;
  counters = emptyCounters();
  recv = new RtpReceiveStats();
  latchedRtp: Endpoint | null = null;
  latchedRtcp: Endpoint | null = null;
  srtpIn: SrtpContext | null = null;
  srtpOut: SrtpContext | null = null;
  /** The key srtpOut encrypts with (its send table is held in sendTables). */
  private outKey: Buffer | null = null;
  private readonly sendTables: SrtpSendTables;
  srNtp = new Uint32Array(SR_RING);
  srSentAt = new Uint32Array(SR_RING);
  srUsed = 0;
  srNext = 0;
  readonly onSendDone: (err: Error | null) => void;

  constructor(name: LegId, cfg: LegConfig, sendTables: SrtpSendTables) {
    this.name = name;
    this.cfg = cfg;
    this.sendTables = sendTables;
    this.family = isIP(cfg.localAddress) === 6 ? 6 : 4;
    this.onSendDone = (err) => {
      if (err) this.counters.sendErrors = (this.counters.sendErrors ?? 0) + 1;
    };
    this.applySrtp(null);
  }

  /**
   * Contexts for cfg.srtp; a direction whose keys equal those of `prev`
   * keeps its context (ROC, replay window), as in the native engine.
   */
  applySrtp(prev: LegConfig['srtp']): void {
    const s = this.cfg.srtp;
    const same = (a: SrtpKeying | undefined, b: SrtpKeying): boolean => a !== undefined && a.suite === b.suite && a.keySalt.equals(b.keySalt);
    if (!s) {
      this.releaseSrtp();
      return;
    }
    if (!this.srtpIn || !same(prev?.inbound, s.inbound)) this.srtpIn = new SrtpContext(s.inbound);
    if (!this.srtpOut || !same(prev?.outbound, s.outbound)) {
      if (this.outKey) this.sendTables.release(this.outKey);
      this.outKey = Buffer.from(s.outbound.keySalt);
      this.srtpOut = new SrtpContext(s.outbound, this.sendTables.acquire(this.outKey));
    }
  }

  releaseSrtp(): void {
    if (this.outKey) this.sendTables.release(this.outKey);
    this.outKey = null;
    this.srtpIn = this.srtpOut = null;
  }

  /** A v4 peer is addressed in v4-mapped form from a v6 socket. */
  private forSocket(address: string): string {
    return this.family === 6 && isIP(address) === 4 ? `::ffff:${address}` : address;
  }

  rtpDest(): Endpoint | null {
    if (this.cfg.latch === 'first-packet' && this.latchedRtp) return this.latchedRtp;
    const r = this.cfg.remote;
    return r ? { address: this.forSocket(r.address), port: r.rtpPort } : null;
  }

  rtcpDest(): Endpoint | null {
    if (this.cfg.rtcpMux) return this.rtpDest();
    if (this.cfg.latch === 'first-packet' && this.latchedRtcp) return this.latchedRtcp;
    const r = this.cfg.remote;
    return r ? { address: this.forSocket(r.address), port: r.rtcpPort } : null;
  }

  signalledMatches(rinfo: RemoteInfo, rtcpPath: boolean): boolean {
    const r = this.cfg.remote;
    if (!r) return false;
    const port = rtcpPath ? (this.cfg.rtcpMux ? r.rtpPort : r.rtcpPort) : r.rtpPort;
    return rinfo.port === port && plainAddress(rinfo.address) === plainAddress(r.address);
  }
}

function bindSocket(family: 4 | 6, address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: family === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    const onError = (err: NodeJS.ErrnoException): void => {
      s.close();
      reject(new RelayError(err.code ?? 'EIO', `relay: cannot bind ${address}:${port}: ${err.message}`));
    };
    s.once('error', onError);
    s.bind(port, address, () => {
      s.off('error', onError);
      // Errors after bind (ICMP unreachable surfacing on recv) must not crash.
      s.on('error', () => {});
      resolve(s);
    });
  });
}

class JsSession implements RelaySession {
  readonly id: number;
  readonly localPorts: { A: LegPorts; B: LegPorts };
  private readonly legs: [JsLeg, JsLeg];
  private paused = false;
  private closed = false;
  private finalStats: RelaySessionStats | null = null;
  private readonly engine: JsRelayEngine;

  constructor(engine: JsRelayEngine, id: number, a: JsLeg, b: JsLeg) {
    this.engine = engine;
    this.id = id;
    this.legs = [a, b];
    const ports = (l: JsLeg): LegPorts => {
      const rtp = l.rtp ? l.rtp.address().port : 0;
      return { rtp, rtcp: l.rtcp ? l.rtcp.address().port : rtp };
    };
    this.localPorts = { A: ports(a), B: ports(b) };
    for (let i = 0; i < 2; i++) {
      const leg = this.legs[i]!;
      const other = this.legs[1 - i]!;
      leg.rtp?.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onPacket(leg, other, false, msg, rinfo));
      leg.rtcp?.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onPacket(leg, other, true, msg, rinfo));
    }
  }

  private onPacket(inLeg: JsLeg, out: JsLeg, rtcpSock: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || msg.length < 8 || msg[0]! >> 6 !== 2) return;
    const arrivalMs = wallNowMs();
    let isRtcp = rtcpSock;
    if (!isRtcp && inLeg.cfg.rtcpMux) {
      const pt = msg[1]! & 0x7f;
      isRtcp = pt >= 64 && pt <= 95; // RFC 5761 section 4
    }
    const c = inLeg.counters;
    if (inLeg.cfg.latch === 'signalled-only') {
      if (!inLeg.signalledMatches(rinfo, rtcpSock)) {
        c.rejectedSource++;
        return;
      }
    } else {
      const lat = rtcpSock ? inLeg.latchedRtcp : inLeg.latchedRtp;
      if (lat && (lat.port !== rinfo.port || lat.address !== rinfo.address)) {
        c.rejectedSource++;
        return;
      }
    }

    let pkt = msg;
    if (isRtcp) {
      if (inLeg.srtpIn) {
        const r = inLeg.srtpIn.unprotectRtcp(pkt);
        if (typeof r === 'string') return countInboundDrop(c, r);
        pkt = r;
      }
    } else {
      if (pkt.length < 12) return;
      if (inLeg.srtpIn) {
        const r = inLeg.srtpIn.unprotectRtp(pkt);
        if (typeof r === 'string') return countInboundDrop(c, r);
        pkt = r;
      }
    }

    if (rtcpSock) {
      if (!inLeg.latchedRtcp) inLeg.latchedRtcp = { address: rinfo.address, port: rinfo.port };
    } else if (!inLeg.latchedRtp) {
      inLeg.latchedRtp = { address: rinfo.address, port: rinfo.port };
    }

    const now = compactNow();
    let srNtp = -1;
    if (isRtcp) {
      c.rtcpPacketsIn++;
      srNtp = this.parseRtcp(inLeg, pkt, now);
    } else {
      c.rtpPacketsIn++;
      c.rtpBytesIn += pkt.length;
      c.lastArrivalMs = arrivalMs;
      const rate = inLeg.cfg.clockRate ?? 8000;
      inLeg.recv.update(pkt.readUInt32BE(8), pkt.readUInt16BE(2), pkt.readUInt32BE(4), (arrivalMs * rate) / 1000, rate);
    }

    if (this.paused) return;
    const dest = isRtcp ? out.rtcpDest() : out.rtpDest();
    const sock = isRtcp && !out.cfg.rtcpMux ? out.rtcp : out.rtp;
    if (!dest || !sock) return;
    if (isRtcp) {
      if (srNtp >= 0) {
        out.srNtp[out.srNext] = srNtp;
        out.srSentAt[out.srNext] = now;
        out.srNext = (out.srNext + 1) % SR_RING;
        out.srUsed = Math.min(SR_RING, out.srUsed + 1);
      }
      if (out.srtpOut) {
        const r = out.srtpOut.protectRtcp(pkt);
        if (typeof r === 'string') return countOutboundDrop(out.counters, r);
        pkt = r;
      }
      out.counters.rtcpPacketsOut++;
    } else {
      const inPt = inLeg.cfg.telephoneEventPt;
      const outPt = out.cfg.telephoneEventPt;
      if (inPt !== null && outPt !== null && inPt !== outPt && (pkt[1]! & 0x7f) === inPt) {
        // dgram hands us a buffer of our own: rewriting it in place is safe.
        pkt[1] = (pkt[1]! & 0x80) | outPt;
      }
      if (out.srtpOut) {
        const r = out.srtpOut.protectRtp(pkt);
        if (typeof r === 'string') return countOutboundDrop(out.counters, r);
        pkt = r;
      }
      out.counters.rtpPacketsOut++;
    }
    sock.send(pkt, dest.port, dest.address, out.onSendDone);
  }

  /** Reads report blocks into the leg's counters; returns the SR's NTP middle 32 bits or -1. */
  private parseRtcp(leg: JsLeg, pkt: Buffer, now: number): number {
    let off = 0;
    let srNtp = -1;
    const c = leg.counters;
    const rate = leg.cfg.clockRate ?? 8000;
    for (let guard = 0; guard < 64 && off + 8 <= pkt.length; guard++) {
      const rc = pkt[off]! & 0x1f;
      const pt = pkt[off + 1]!;
      const plen = (pkt.readUInt16BE(off + 2) + 1) * 4;
      if (pkt[off]! >> 6 !== 2 || off + plen > pkt.length) break;
      let blocks = 0;
      if (pt === 200 && plen >= 28) {
        srNtp = pkt.readUInt32BE(off + 10);
        blocks = off + 28;
      } else if (pt === 201) {
        blocks = off + 8;
      }
      if (blocks && rc > 0 && blocks + 24 <= off + plen) {
        c.remoteFractionLost = pkt[blocks + 4]! / 256;
        c.remoteJitterMs = (pkt.readUInt32BE(blocks + 12) / rate) * 1000;
        const lsr = pkt.readUInt32BE(blocks + 16);
        const dlsr = pkt.readUInt32BE(blocks + 20);
        if (lsr !== 0) {
          for (let i = 0; i < leg.srUsed; i++) {
            if (leg.srNtp[i] === lsr) {
              const rtt = (now - leg.srSentAt[i]! - dlsr) | 0;
              c.rttMs = rtt > 0 ? (rtt * 1000) / 65536 : 0;
              break;
            }
          }
        }
      }
      off += plen;
    }
    return srNtp;
  }

  updateLeg(leg: LegId, config: LegUpdate): void {
    if (this.closed) throw new RelayError('EINVAL', 'relay: session closed');
    const l = leg === 'A' ? this.legs[0] : this.legs[1];
    validateLegUpdate(config, leg);
    const prev = l.cfg;
    const next = mergeLegConfig(prev, config);
    const remoteChanged =
      JSON.stringify(prev.remote) !== JSON.stringify(next.remote) || prev.latch !== next.latch;
    l.cfg = next;
    l.applySrtp(prev.srtp);
    // Arrival times so far are in units of the old rate (RFC 3550 A.8).
    if ((prev.clockRate ?? 8000) !== (next.clockRate ?? 8000)) l.recv.resetJitter();
    if (remoteChanged) {
      // A new offer/answer names a new peer: learn it afresh.
      l.latchedRtp = null;
      l.latchedRtcp = null;
    }
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  stats(): RelaySessionStats {
    if (this.finalStats) return this.finalStats;
    const one = (l: JsLeg): LegCounters => {
      const c = { ...l.counters };
      const lost = l.recv.lost();
      c.packetsLost = lost < 0 ? 0 : lost;
      c.outOfOrder = l.recv.outOfOrder;
      c.jitterMs = (l.recv.jitter / (l.cfg.clockRate ?? 8000)) * 1000;
      c.jitterClamps = l.recv.jitterClamps;
      c.latchedAddress = l.latchedRtp ? plainAddress(l.latchedRtp.address) : null;
      c.latchedPort = l.latchedRtp ? l.latchedRtp.port : null;
      return c;
    };
    return { A: one(this.legs[0]), B: one(this.legs[1]) };
  }

  close(): void {
    if (this.closed) return;
    this.finalStats = this.stats();
    this.closed = true;
    for (const l of this.legs) {
      l.rtp?.close();
      l.rtcp?.close();
      l.rtp = l.rtcp = null;
      l.releaseSrtp();
    }
    this.engine.forget(this.id);
  }
}

export class JsRelayEngine implements RelayEngine {
  readonly kind = 'js' as const;
  private readonly sessions = new Map<number, JsSession>();
  private nextId = 1;
  private down = false;
  private readonly sendTables = new SrtpSendTables();

  async createSession(a: LegConfig, b: LegConfig): Promise<RelaySession> {
    if (this.down) throw new RelayError('ESHUTDOWN', 'relay engine shut down');
    validateLegConfig(a, 'A');
    validateLegConfig(b, 'B');
    const legs = [new JsLeg('A', { ...a }, this.sendTables), new JsLeg('B', { ...b }, this.sendTables)] as const;
    const opened: Socket[] = [];
    try {
      for (const l of legs) {
        l.rtp = await bindSocket(l.family, l.cfg.localAddress, l.cfg.localRtpPort);
        opened.push(l.rtp);
        if (!l.cfg.rtcpMux) {
          l.rtcp = await bindSocket(l.family, l.cfg.localAddress, l.cfg.localRtpPort === 0 ? 0 : l.cfg.localRtpPort + 1);
          opened.push(l.rtcp);
        }
      }
    } catch (err) {
      for (const s of opened) s.close();
      for (const l of legs) l.releaseSrtp();
      throw err;
    }
    if (this.down) {
      for (const s of opened) s.close();
      for (const l of legs) l.releaseSrtp();
      throw new RelayError('ESHUTDOWN', 'relay engine shut down');
    }
    const id = this.nextId++;
    const s = new JsSession(this, id, legs[0], legs[1]);
    this.sessions.set(id, s);
    return s;
  }

  /** @internal called by a session when it closes. */
  forget(id: number): void {
    this.sessions.delete(id);
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  async shutdown(): Promise<void> {
    this.down = true;
    for (const s of [...this.sessions.values()]) s.close();
  }
}

export { srtpTagLength };
