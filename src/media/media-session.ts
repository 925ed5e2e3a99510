import { generateKeySalt } from './crypto-attr.js';
import { checkAnswerSubset } from './coders.js';
import { DEFAULT_LEG_POLICY, type LegMediaPolicy } from './media-policy.js';
import type { PortPool } from './port-pool.js';
import { relayFailureStatus } from './relay-config.js';
import type { LegConfig, LegId, RelaySession, RelayEngine, RelaySessionStats, SrtpSuite } from './relay-types.js';
import { anchorSdp, parseSdpMedia, SdpOriginState, type AnchorStreamOptions } from './sdp.js';
import type { StreamInfo } from './sdp-types.js';
import { planOfferedStream } from './offer-plan.js';
import {
  decideAnswer, newStreamState, other, type LegNegotiation, type PendingOffer, type StreamPlan, type StreamState,
} from './stream-negotiation.js';

// Kept for importers of this module.
export { DEFAULT_LEG_POLICY, mediaSecurityModeFromIni, srtpSuitesFromIni, type LegMediaPolicy } from './media-policy.js';
export { relayFailureStatus } from './relay-config.js';

/**
 * One call's media: the two legs' SDP offer/answer exchanges, the ports taken
 * from each leg's Media Realm, and one relay session per active m= line.
 *
 * The SBC terminates SDP per leg: each peer sees only the SBC's address,
 * ports and keys. Offers are translated when they cross (processOffer), the
 * relay is configured when the answer comes back (processAnswer), since only
 * then both peers' addresses, keys and rtcp-mux choices are known.
 */

export interface MediaSessionOptions {
  engine: RelayEngine;
  /** Media Realm of leg A (toward the caller). */
  realmA: PortPool;
  /** Media Realm of leg B (toward the callee). */
  realmB: PortPool;
  policyA?: Partial<LegMediaPolicy>;
  policyB?: Partial<LegMediaPolicy>;
  /** o= username of the SDP we send (both legs); "-" by default. */
  originUsername?: string;
}

export type MediaFailureStatus = 488 | 491 | 500 | 503;
export type MediaResult = { sdp: string } | { error: string; sipStatus: MediaFailureStatus };

export interface StreamStats {
  index: number;
  media: string;
  /** Name of the coder both legs use (first of the answer), null if unknown. */
  codec: string | null;
  stats: RelaySessionStats | null;
}

export class MediaSession {
  private readonly engine: RelayEngine;
  private readonly realms: Record<LegId, PortPool>;
  private readonly policies: Record<LegId, LegMediaPolicy>;
  private readonly origins: Record<LegId, SdpOriginState>;
  private readonly streams: StreamState[] = [];
  private pending: PendingOffer | null = null;
  private closed = false;
  /** Serialises offer/answer handling: relay creation is async. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: MediaSessionOptions) {
    this.engine = opts.engine;
    this.realms = { A: opts.realmA, B: opts.realmB };
    this.policies = {
      A: { ...DEFAULT_LEG_POLICY, ...opts.policyA },
      B: { ...DEFAULT_LEG_POLICY, ...opts.policyB },
    };
    const username = opts.originUsername ?? '-';
    this.origins = { A: new SdpOriginState({ username }), B: new SdpOriginState({ username }) };
  }

  /** Whether an offer is waiting for its answer. */
  get offerPending(): LegId | null {
    return this.pending?.from ?? null;
  }

  /**
   * An SDP offer arrived from `fromLeg`'s peer; returns the offer to send
   * toward the other leg, or an error with the SIP status to reject it with.
   */
  processOffer(fromLeg: LegId, sdp: string): Promise<MediaResult> {
    return this.serialise(() => this.doOffer(fromLeg, sdp));
  }

  /**
   * The answer to our last offer arrived from `fromLeg`'s peer; configures
   * the relay and returns the answer to send back to the offerer.
   */
  processAnswer(fromLeg: LegId, sdp: string): Promise<MediaResult> {
    return this.serialise(() => this.doAnswer(fromLeg, sdp));
  }

  /** The offer was refused (4xx/5xx, CANCEL): forget it and give back the ports it took. */
  rejectPendingOffer(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    this.releaseAllocated(p.allocated);
  }

  /** Counters of every stream that has a relay session. */
  stats(): StreamStats[] {
    return this.streams.map((s) => ({ index: s.index, media: s.media, codec: s.codec, stats: s.relay?.stats() ?? null }));
  }

  /** Counters and coder of the first relayed audio stream (what the QoE report is about). */
  audioStats(): { stats: RelaySessionStats; codec: string } | null {
    for (const s of this.streams) {
      if (s.media === 'audio' && s.relay !== null) return { stats: s.relay.stats(), codec: s.codec ?? 'unknown' };
    }
    return null;
  }

  /**
   * For the first relayed audio stream: whether each leg's peer is expected
   * to send RTP after the last offer/answer (its direction is sendrecv or
   * sendonly, it has an address, and the stream is not inactive). A peer
   * on hold legitimately sends nothing, which is not a dead connection.
   * Null when no audio is relayed.
   */
  expectedSenders(): Record<LegId, boolean> | null {
    for (const s of this.streams) {
      if (s.media === 'audio' && s.relay !== null) return { A: s.sends.A, B: s.sends.B };
    }
    return null;
  }

  /** Local ports of a stream per leg (null when the stream is disabled). */
  localPorts(index: number): Record<LegId, number | null> | null {
    const s = this.streams[index];
    return s ? { A: s.local.A, B: s.local.B } : null;
  }

  /** Stops all relaying and gives the ports back. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    for (const s of this.streams) this.disableStream(s);
  }

  private serialise(fn: () => Promise<MediaResult>): Promise<MediaResult> {
    const run = this.queue.then(fn, fn).catch((err: unknown): MediaResult => ({
      error: `media: ${err instanceof Error ? err.message : String(err)}`,
      sipStatus: relayFailureStatus(err),
    }));
    this.queue = run;
    return run;
  }

  private async doOffer(from: LegId, sdp: string): Promise<MediaResult> {
    if (this.closed) return { error: 'media session is closed', sipStatus: 500 };
    if (this.pending !== null) {
      // RFC 3264 §4: no new offer while one is outstanding (glare on re-INVITE).
      return { error: 'an SDP offer is already pending', sipStatus: 491 };
    }
    const to = other(from);
    let offer: StreamInfo[];
    try {
      offer = parseSdpMedia(sdp);
    } catch (err) {
      return { error: `bad SDP offer: ${(err as Error).message}`, sipStatus: 488 };
    }
    if (offer.length < this.streams.length) {
      return { error: `offer has ${offer.length} m= lines, the session had ${this.streams.length} (RFC 3264 §8)`, sipStatus: 488 };
    }
    const polFrom = this.policies[from];
    const polTo = this.policies[to];
    const plans: StreamPlan[] = [];
    const allocated: PendingOffer['allocated'] = [];
    const streamOpts: AnchorStreamOptions[] = [];
    const ports: number[] = [];

    for (const info of offer) {
      const state = this.streamState(info.index, info.media);
      const plan: StreamPlan = { active: false, reason: null, offererSrtp: null, offererMux: false, offeredCrypto: [], offeredMux: false };
      const so: AnchorStreamOptions = {};
      plans.push(plan);
      streamOpts.push(so);
      ports.push(0);

      if (info.rejected) continue;
      if (info.connectionAddress === null) {
        plan.reason = `m= line ${info.index + 1}: no connection address`;
        continue;
      }
      if (info.transport === 'other' || info.dtls) {
        plan.reason = `m= line ${info.index + 1}: protocol ${info.protocol} is not relayed`;
        continue;
      }
      plan.reason = planOfferedStream(info, polFrom, polTo, plan, so, (side, suite) => this.key(state, side === 'offerer' ? from : to, suite));
      if (plan.reason !== null) continue;

      for (const leg of [from, to] as const) {
        if (state.local[leg] !== null) continue;
        const port = this.realms[leg].allocatePair();
        if (port === null) {
          this.releaseAllocated(allocated);
          return { error: `media realm ${this.realms[leg].name} has no free ports`, sipStatus: 503 };
        }
        state.local[leg] = port;
        allocated.push({ index: info.index, leg });
      }
      plan.active = true;
      ports[info.index] = state.local[to]!;
    }

    if (!plans.some((p) => p.active)) {
      this.releaseAllocated(allocated);
      const reasons = plans.map((p) => p.reason).filter((r): r is string => r !== null);
      return { error: reasons.length > 0 ? reasons.join('; ') : 'offer has no active stream', sipStatus: 488 };
    }

    const origin = this.origins[to];
    const out = anchorSdp(sdp, {
      connectionAddress: this.realms[to].address,
      ports,
      originUsername: origin.username,
      sessionId: origin.sessionId,
      sessionVersion: 0,
      streams: streamOpts,
    });
    const stamped = origin.stamp(out.sdp);
    this.pending = { from, to, offer, sent: parseSdpMedia(stamped), plans, allocated };
    return { sdp: stamped };
  }

  private async doAnswer(from: LegId, sdp: string): Promise<MediaResult> {
    if (this.closed) return { error: 'media session is closed', sipStatus: 500 };
    const p = this.pending;
    if (p === null || p.to !== from) return { error: `no SDP offer is pending toward leg ${from}`, sipStatus: 488 };
    const offerer = p.from;
    let answer: StreamInfo[];
    try {
      answer = parseSdpMedia(sdp);
    } catch (err) {
      this.rejectPendingOffer();
      return { error: `bad SDP answer: ${(err as Error).message}`, sipStatus: 488 };
    }
    const subsetError = checkAnswerSubset(p.sent, answer);
    if (subsetError !== null) {
      this.rejectPendingOffer();
      return { error: `SDP answer does not match our offer: ${subsetError}`, sipStatus: 488 };
    }
    // First decide every stream, so a bad answer changes nothing.
    const decided = decideAnswer(p, answer, this.policies[from]);
    if ('error' in decided) {
      this.rejectPendingOffer();
      return { error: decided.error, sipStatus: 488 };
    }
    const decisions = decided.decisions;

    this.pending = null;
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      const state = this.streams[i]!;
      if (!d.enable) {
        this.disableStream(state);
        continue;
      }
      state.codec = d.codec ?? null;
      state.media = answer[i]!.media;
      state.sends = d.sends ?? { A: true, B: true };
      const err = await this.relayOrMovePort(state, d.legs!, d.paused ?? false, p.allocated, offerer);
      if (err !== null) return { error: `media relay for m= line ${i + 1} failed: ${(err as Error).message}`, sipStatus: relayFailureStatus(err) };
    }
    // The answer toward the offerer mirrors its offer's protocol and carries our keys (and the
    // ports the relays got: relayOrMovePort may have replaced one).
    const ports: number[] = [];
    const streamOpts: AnchorStreamOptions[] = [];
    for (let i = 0; i < answer.length; i++) {
      const d = decisions[i]!;
      const plan = p.plans[i]!;
      const o = p.offer[i]!;
      ports.push(d.enable ? this.streams[i]!.local[offerer]! : 0);
      streamOpts.push({
        protocol: o.protocol,
        crypto: d.enable && plan.offererSrtp ? [plan.offererSrtp.ours] : [],
        rtcpMux: d.enable && o.transport === 'rtp' ? plan.offererMux : false,
      });
    }
    const origin = this.origins[offerer];
    const out = anchorSdp(sdp, {
      connectionAddress: this.realms[offerer].address,
      ports,
      originUsername: origin.username,
      sessionId: origin.sessionId,
      sessionVersion: 0,
      streams: streamOpts,
    });
    return { sdp: origin.stamp(out.sdp) };
  }

  /**
   * Sets up the stream's relay. When another socket holds one of our local
   * ports (EADDRINUSE: any process on the host may bind in a Media Realm's
   * range) and it is the offerer's port allocated for this offer, which no
   * SDP has carried yet (this answer is the first), it is replaced by the
   * realm's next free pair and the relay tried again, up to twice. The
   * answerer's port went out in our offer: that failure stays a 500.
   */
  private async relayOrMovePort(state: StreamState, legs: Record<LegId, LegNegotiation>, paused: boolean, fresh: Array<{ index: number; leg: LegId }>, offerer: LegId): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.applyRelay(state, legs, paused);
        return null;
      } catch (err) {
        const movable = state.relay === null && fresh.some((x) => x.index === state.index && x.leg === offerer);
        if (attempt >= 2 || !movable || (err as { code?: unknown }).code !== 'EADDRINUSE') return err;
        const port = this.realms[offerer].allocatePair();
        if (port === null) return err;
        this.realms[offerer].release(state.local[offerer]!);
        state.local[offerer] = port;
      }
    }
  }

  private async applyRelay(state: StreamState, legs: Record<LegId, LegNegotiation>, paused: boolean): Promise<void> {
    const mux = { A: legs.A.rtcpMux, B: legs.B.rtcpMux };
    if (state.relay !== null && state.relayMux !== null && state.relayMux.A === mux.A && state.relayMux.B === mux.B) {
      for (const leg of ['A', 'B'] as const) {
        const n = legs[leg];
        const update: Parameters<RelaySession['updateLeg']>[1] = {
          srtp: n.srtp,
          telephoneEventPt: n.telephoneEventPt,
          latch: this.policies[leg].latch,
          // A re-INVITE may change the coder (PCMU -> Opus): the relay restarts its jitter estimate.
          clockRate: n.clockRate ?? 8000,
        };
        // A hold with c=0.0.0.0 says nothing about where the peer is: keep what we had.
        if (n.remote !== null) update.remote = n.remote;
        state.relay.updateLeg(leg, update);
      }
      state.relay.setPaused(paused);
      return;
    }
    if (state.relay !== null) {
      // rtcp-mux decides which sockets exist: rebuild on the same ports.
      state.relay.close();
      state.relay = null;
      state.relayMux = null;
    }
    const cfg = (leg: LegId): LegConfig => ({
      localAddress: this.realms[leg].address,
      localRtpPort: state.local[leg]!,
      rtcpMux: legs[leg].rtcpMux,
      remote: legs[leg].remote,
      latch: this.policies[leg].latch,
      srtp: legs[leg].srtp,
      telephoneEventPt: legs[leg].telephoneEventPt,
      // Jitter is counted in RTP timestamp units: the coder's clock, not always 8 kHz (Opus 48 kHz).
      clockRate: legs[leg].clockRate ?? 8000,
    });
    const relay = await this.engine.createSession(cfg('A'), cfg('B'));
    if (this.closed) {
      relay.close();
      return;
    }
    state.relay = relay;
    state.relayMux = mux;
    if (paused) relay.setPaused(true);
  }

  private streamState(index: number, media: string): StreamState {
    let s = this.streams[index];
    if (s === undefined) {
      s = newStreamState(index, media);
      this.streams[index] = s;
    }
    // A changed media type (audio -> image for T.38, or a reused disabled
    // m= line) keeps the ports; s.media follows once the answer accepts it.
    return s;
  }

  private key(state: StreamState, leg: LegId, suite: SrtpSuite): Buffer {
    let k = state.keys[leg].get(suite);
    if (k === undefined) {
      k = generateKeySalt();
      state.keys[leg].set(suite, k);
    }
    return k;
  }

  private disableStream(s: StreamState): void {
    if (s.relay !== null) {
      s.relay.close();
      s.relay = null;
      s.relayMux = null;
    }
    for (const leg of ['A', 'B'] as const) {
      const port = s.local[leg];
      if (port !== null) {
        this.realms[leg].release(port);
        s.local[leg] = null;
      }
      // New ports, new keys: never reuse a key on a new stream.
      s.keys[leg].clear();
    }
  }

  private releaseAllocated(list: PendingOffer['allocated']): void {
    for (const { index, leg } of list) {
      const s = this.streams[index];
      if (s === undefined || s.relay !== null) continue;
      const port = s.local[leg];
      if (port !== null) {
        this.realms[leg].release(port);
        s.local[leg] = null;
      }
    }
    list.length = 0;
  }
}
