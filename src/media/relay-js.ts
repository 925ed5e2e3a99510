/**
 * Pure-JavaScript media relay (node:dgram): the fallback when the native
 * addon is not built, and the baseline the media bench compares against.
 * Same behaviour as the native engine (latching, RTCP, SRTP, counters).
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
import { readRtcpReports, SrRing } from './rtcp-reports.js';
import { emptyCounters, mergeLegConfig, RelayError, validateLegConfig, validateLegUpdate, type LegUpdate } from './relay-config.js';

// Kept for importers of this module.
export { emptyCounters, mergeLegConfig, RelayError, validateLegConfig, validateLegUpdate, type LegUpdate };

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
  /** SRs forwarded toward this leg's peer, for RTT from its report blocks. */
  readonly srSent = new SrRing();
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
      srNtp = readRtcpReports(pkt, inLeg.cfg.clockRate ?? 8000, inLeg.srSent, now, c);
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
      if (srNtp >= 0) out.srSent.record(srNtp, now);
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

function relayedBy(s: RelaySession): number {
  const st = s.stats();
  return st.A.rtpPacketsOut + st.A.rtcpPacketsOut + st.B.rtpPacketsOut + st.B.rtcpPacketsOut;
}

export class JsRelayEngine implements RelayEngine {
  readonly kind = 'js' as const;
  private readonly sessions = new Map<number, JsSession>();
  private nextId = 1;
  private down = false;
  private readonly sendTables = new SrtpSendTables();
  private closedRelayed = 0;

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
    const s = this.sessions.get(id);
    if (s !== undefined) this.closedRelayed += relayedBy(s);
    this.sessions.delete(id);
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  packetsRelayed(): number {
    let n = this.closedRelayed;
    for (const s of this.sessions.values()) n += relayedBy(s);
    return n;
  }

  async shutdown(): Promise<void> {
    this.down = true;
    for (const s of [...this.sessions.values()]) s.close();
  }
}

export { srtpTagLength };
