/**
 * What every flow of a call shares: the two legs, the offer/answer state,
 * the event queue and timers, media, and the helpers that send on a leg
 * (manipulation, timeline, transaction layer in one place). The flows
 * (setup, reliable provisionals, in-dialog relay, session timers, local
 * transfer) are separate modules that get this core; `Call` (call.ts)
 * assembles them and owns termination.
 *
 * Events of one call run one after the other through a small promise
 * queue: media processing is asynchronous, and a 200 must never overtake
 * the 183 that came before it.
 */
import type { Logger } from 'pino';
import { Dialog } from '../dialog/dialog.js';
import type { TerminationSide } from '../cdr/record.js';
import { buildDigestAuthorization, pickDigestChallenge } from '../sip/digest.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { endpointOfUri, type LegRoute } from './addressing.js';
import { CallOutcome, Timeline } from './cdr.js';
import { compactMessage, HELD_INVITE_HEADERS, sameMessage, StringPool } from './compact.js';
import type { CallEnv } from './env.js';
import { hasOptionTag, hasSdp, setCSeq } from './headers.js';
import { Leg } from './leg.js';
import { OfferAnswer } from './offer-answer.js';
import {
  otherSide, type CallRouting, type ClientTransactionHandler, type ClientTransactionRef, type DialogOwner, type InboundMessage,
  type IpGroupRef, type LegSide, type MediaHandle, type RouteTarget, type ServerTransactionRef,
} from './ports.js';

export type CallState = 'routing' | 'calling' | 'early' | 'confirmed' | 'ended';

const STATE_ORDER: Record<CallState, number> = { routing: 0, calling: 1, early: 2, confirmed: 3, ended: 4 };

export type SdpOutcome = { sdp: Buffer } | { error: string; sipStatus: number };

export interface InDialogSendOptions {
  /** A dialog that keeps its own addressing (one a transfer retired). */
  route?: LegRoute;
  /** The message went through outbound manipulation already (a retry of it). */
  manipulated?: boolean;
}

export abstract class CallCore implements DialogOwner {
  readonly id: string;
  readonly env: CallEnv;
  readonly routing: CallRouting;
  readonly timeline = new Timeline();
  readonly outcome = new CallOutcome();
  readonly oa: OfferAnswer;
  readonly legs: { readonly A: Leg; readonly B: Leg };
  /** Leg A's INVITE as received (a compact copy once the call is held: compactForHold). */
  private inviteANow: SipMessage;
  /** Leg A's INVITE after inbound manipulation: what leg B is built from (compact once held). */
  private aReqNow: SipMessage;
  private inboundNow: InboundMessage;
  readonly inviteHadOffer: boolean;
  readonly aSupports100rel: boolean;
  private stateNow: CallState = 'routing';
  private queue: Promise<void> = Promise.resolve();
  /** When the event running now started (0: none running). */
  private eventSince = 0;
  /** Made on the first timer: a held call often has none of its own. */
  private timers: Set<NodeJS.Timeout> | null = null;
  /** Made on the first SDP to relay (a call without SDP needs no media session). */
  private media: MediaHandle | null = null;
  private mediaState: 'closed' | 'allowed' | 'created' = 'closed';
  /** Made on first use: a call that logs nothing at the configured level needs no child logger. */
  private logNow: Logger | null = null;
  private cancelledNow = false;
  private bCallId: string | null = null;
  /** Leg B's group is counted against its call limit (Mediant CAC); given back when the call ends. */
  private dstClaimed = false;
  /** Groups of transfer targets that took leg A's place, counted too. */
  private readonly extraClaims: Array<IpGroupRef | null> = [];

  constructor(env: CallEnv, id: string, invite: SipMessage, inbound: InboundMessage, src: IpGroupRef, routing: CallRouting, aReq: SipMessage, aRoute: LegRoute) {
    this.env = env;
    this.id = id;
    this.routing = routing;
    this.inviteANow = invite;
    this.aReqNow = aReq;
    this.inboundNow = inbound;
    this.inviteHadOffer = hasSdp(invite);
    this.aSupports100rel = hasOptionTag(invite, '100rel');
    this.legs = { A: new Leg('A', src, aRoute), B: new Leg('B', null, null) };
    this.oa = new OfferAnswer((state, event) => this.log.warn({ state, event: event.type }, 'offer/answer: illegal transition refused'));
  }

  abstract terminate(side: TerminationSide, reason: string, statusToA?: number): void;
  abstract finish(reason?: string): void;
  abstract onAck(side: LegSide, ack: SipMessage): void;
  abstract onInDialogRequest(side: LegSide, req: SipMessage, stx: ServerTransactionRef): void;
  abstract onLate2xx(res: SipMessage): void;

  get log(): Logger { return (this.logNow ??= this.env.logger.child({ callId: this.id })); }
  get inviteA(): SipMessage { return this.inviteANow; }
  get aReq(): SipMessage { return this.aReqNow; }
  /** Where leg A's INVITE came from (its message: the compact copy once held). */
  get inbound(): InboundMessage { return this.inboundNow; }

  /** Connected, leg A answered: the setup messages shrink to what a held call reads (compact.ts); leg B's ACK stays whole. */
  protected compactForHold(): void {
    const a = this.inviteANow;
    const m = this.aReqNow;
    const pool = new StringPool();
    this.inviteANow = compactMessage(a, HELD_INVITE_HEADERS, false, pool);
    const mc = m === a ? this.inviteANow : compactMessage(m, HELD_INVITE_HEADERS, false, pool);
    this.aReqNow = sameMessage(mc, this.inviteANow) ? this.inviteANow : mc; // no inbound manipulation of what is kept
    this.inboundNow = { ...this.inboundNow, message: this.inviteANow };
    const all = (msg: SipMessage): SipMessage => compactMessage(msg, null, true, pool);
    this.legs.B.compactForHold((msg) => compactMessage(msg, HELD_INVITE_HEADERS, false, pool), all);
  }

  // --- state ------------------------------------------------------------------

  get state(): CallState {
    return this.stateNow;
  }

  get ended(): boolean {
    return this.stateNow === 'ended';
  }

  /** Moves forward only (routing -> calling -> early -> confirmed -> ended). */
  advance(next: CallState): void {
    if (STATE_ORDER[next] > STATE_ORDER[this.stateNow]) this.stateNow = next;
  }

  /** The caller cancelled, or the SBC gave up on leg B (no answer, termination before connect). */
  get cancelled(): boolean {
    return this.cancelledNow;
  }

  markCancelled(): void {
    this.cancelledNow = true;
  }

  get src(): IpGroupRef {
    return this.legs.A.group!;
  }

  get dst(): IpGroupRef | null {
    return this.legs.B.group;
  }

  get legBCallId(): string | null {
    return this.bCallId;
  }

  useLegBCallId(id: string): void {
    this.bCallId = id;
  }

  // --- call limits per IP Group ---------------------------------------------------

  /** Counts the call against leg B's (new) group; the previous group's count is given back. False: limit reached. */
  claimDestination(group: IpGroupRef | null): boolean {
    if (this.dstClaimed && (this.dst?.name ?? null) === (group?.name ?? null)) return true;
    if (this.dstClaimed) this.env.releaseGroup(this.dst);
    this.dstClaimed = false;
    if (!this.env.claimGroup(group)) return false;
    this.dstClaimed = true;
    return true;
  }

  /** A transfer target (already counted) replaces leg B's peer. */
  takeOverDestination(): void {
    if (this.dstClaimed) this.env.releaseGroup(this.dst);
    this.dstClaimed = true;
  }

  /** A transfer target (already counted) replaces leg A's peer: its count is held until the call ends. */
  holdExtraGroup(group: IpGroupRef | null): void {
    this.extraClaims.push(group);
  }

  protected releaseGroups(): void {
    for (const g of this.extraClaims) this.env.releaseGroup(g);
    this.extraClaims.length = 0;
    if (this.dstClaimed) this.env.releaseGroup(this.dst);
    this.dstClaimed = false;
  }

  // --- events and timers ---------------------------------------------------------

  record(leg: LegSide | '-', dir: 'in' | 'out' | 'event', msg: SipMessage | null, note?: string): void {
    this.timeline.record(leg, dir, msg, note);
  }

  /** Runs `fn` after every earlier event of this call; errors end the call instead of escaping. */
  enqueue(what: string, fn: () => Promise<void> | void): void {
    this.queue = this.queue.then(async () => {
      if (this.ended && what !== 'late') return;
      this.eventSince = Date.now();
      try {
        await fn();
      } catch (err) {
        this.log.error({ err, what }, 'call event failed');
        this.terminate('sbc', `internal error in ${what}`, 500);
      } finally {
        this.eventSince = 0;
      }
    });
  }

  /** How long the event running now has been running (0: none). A stalled event blocks every later one. */
  stalledMs(now: number): number {
    return this.eventSince === 0 ? 0 : now - this.eventSince;
  }

  /** Connected, but neither leg has a live dialog any more (nothing can end the call by signalling). */
  get legsGone(): boolean {
    if (this.stateNow !== 'confirmed') return false;
    const a = this.legs.A.dialog;
    const b = this.legs.B.dialog;
    return (a === null || a.state === 'terminated') && (b === null || b.state === 'terminated');
  }

  setTimer(ms: number, fn: () => void): NodeJS.Timeout {
    const timers = (this.timers ??= new Set());
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  }

  clearTimer(t: NodeJS.Timeout | null): void {
    if (t === null) return;
    clearTimeout(t);
    this.timers?.delete(t);
  }

  get timerCount(): number {
    return this.timers?.size ?? 0;
  }

  protected clearAllTimers(): void {
    if (this.timers === null) return;
    for (const t of this.timers) clearTimeout(t);
    this.timers = null;
  }

  // --- media ----------------------------------------------------------------------

  /** Allows the media session once (leg B first routed; false after); it is made on the first SDP (none without SDP). */
  openMedia(): boolean {
    if (this.mediaState !== 'closed') return false;
    this.mediaState = 'allowed';
    return true;
  }

  private mediaSession(): MediaHandle | null {
    if (this.mediaState !== 'allowed' || this.ended) return this.media;
    this.mediaState = 'created';
    this.media = this.env.media.create(this.id, this.src, this.dst);
    this.media?.onInactivity?.(() => this.enqueue('media-inactivity', () => this.terminate('sbc', 'media inactivity')));
    return this.media;
  }

  async processSdp(kind: 'offer' | 'answer', from: LegSide, body: Buffer): Promise<SdpOutcome> {
    const media = this.mediaSession();
    if (media === null) return { sdp: body };
    const text = body.toString('utf8');
    const r = kind === 'offer' ? await media.processOffer(from, text) : await media.processAnswer(from, text);
    if ('error' in r) {
      this.record(from, 'event', null, `media ${kind} rejected: ${r.error}`);
      return r;
    }
    return { sdp: Buffer.from(r.sdp, 'utf8') };
  }

  /** Media statistics so far (the QoE report while media is anchored; undefined when it is not). */
  mediaStats(): unknown {
    return this.media?.stats();
  }

  /** Closes media and returns its final statistics (undefined when not anchored). */
  protected closeMedia(): unknown {
    if (this.media === null) return undefined;
    let qoe: unknown;
    try {
      qoe = this.media.stats();
      this.media.close();
    } catch (err) {
      this.log.warn({ err }, 'media close failed');
    }
    this.media = null;
    return qoe;
  }

  // --- sending on a leg ---------------------------------------------------------------

  /** Outbound manipulation of the IP Group on `side`. */
  applyOutbound(msg: SipMessage, side: LegSide, relayedFrom: SipMessage | null): void {
    this.routing.applyOutbound(msg, this.legs[side].group, { leg: side, peerIpGroup: this.legs[otherSide(side)].group, relayedFrom });
  }

  sendResponse(side: LegSide, stx: ServerTransactionRef, res: SipMessage, relayedFrom: SipMessage | null): void {
    this.applyOutbound(res, side, relayedFrom);
    this.record(side, 'out', res);
    stx.respond(res);
  }

  /** A response the SBC makes itself (not relayed from the other leg). */
  respondLocal(side: LegSide, stx: ServerTransactionRef, status: number, reason?: string, extra?: Array<[string, string]>): void {
    const res = createResponse(stx.request, status, reason);
    if (extra !== undefined) for (const [k, v] of extra) res.setHeader(k, v);
    this.sendResponse(side, stx, res, null);
  }

  sendInDialog(side: LegSide, d: Dialog, req: SipMessage, handler: ClientTransactionHandler, opts: InDialogSendOptions = {}): ClientTransactionRef {
    if (opts.manipulated !== true) this.applyOutbound(req, side, null);
    this.record(side, 'out', req);
    const route = opts.route ?? this.legs[side].route;
    const dest = route.replyToSource ? route.dest : endpointOfUri(d.nextHopUri, route.dest);
    return this.env.tx.sendRequest(req, dest, route.iface, handler);
  }

  /** Sends an ACK for a 2xx (§13.2.2.4: outside any transaction); leg B's is kept for retransmitted 2xx. */
  sendAck(side: LegSide, d: Dialog, ack: SipMessage): void {
    this.applyOutbound(ack, side, null);
    this.record(side, 'out', ack);
    const leg = this.legs[side];
    if (side === 'B') leg.noteAck(ack);
    void this.env.tx.sendStateless(ack, leg.destFor(d), leg.iface).catch((err: Error) => {
      this.log.warn({ err: err.message }, 'ACK send failed');
    });
  }

  /** Builds and sends the ACK for the INVITE numbered `ackSeq` in `d`, with `body` (an answer) if given. */
  ackInDialog(side: LegSide, d: Dialog, ackSeq: number, body: Buffer | null): void {
    const ack = d.createRequest('ACK', ackSeq);
    ack.setHeader('contact', this.legs[side].contact);
    if (body !== null) {
      ack.setBody(body, 'application/sdp');
      this.legs[side].noteSdpSent(body);
    }
    this.sendAck(side, d, ack);
  }

  /** A 2xx we do not want (a losing fork, an abandoned transfer): ACK it and BYE the dialog it made. */
  ackAndBye(attempt: { req: SipMessage; target: RouteTarget }, res: SipMessage, side: LegSide, what: string): void {
    const d = Dialog.fromResponse(attempt.req, res);
    if (d === null) return;
    const ack = d.createRequest('ACK', attempt.req.cseq?.seq ?? 1);
    this.record(side, 'out', ack, `ACK for ${what}`);
    const dest = endpointOfUri(d.nextHopUri, attempt.target.dest);
    void this.env.tx.sendStateless(ack, dest, attempt.target.interfaceName).catch(() => {});
    const bye = d.createRequest('BYE');
    this.record(side, 'out', bye, `BYE for ${what}`);
    this.env.tx.sendRequest(bye, dest, attempt.target.interfaceName, {
      onFinal: (r) => this.record(side, 'in', r), onTimeout: () => {}, onTransportError: () => {},
    });
  }

  /** A retry of `sent` with an answer to the challenge in `res`, or null (no credentials, or the same nonce again). */
  authorize(sent: SipMessage, res: SipMessage, tried: Set<string>): SipMessage | null {
    const proxy = res.status === 407;
    const ch = pickDigestChallenge(res.getHeaderValues(proxy ? 'proxy-authenticate' : 'www-authenticate'));
    const creds = this.routing.credentialsFor(this.dst);
    if (ch === null || creds === null || tried.has(ch.nonce)) return null;
    tried.add(ch.nonce);
    const value = buildDigestAuthorization(ch, { method: sent.method, uri: sent.requestUri, username: creds.username, password: creds.password });
    if (value === null) return null;
    const retry = sent.clone();
    retry.removeHeader('via');
    const d = this.legs.B.dialog;
    setCSeq(retry, d !== null ? d.nextLocalSeq() : (sent.cseq?.seq ?? 1) + 1, sent.method);
    retry.setHeader(proxy ? 'proxy-authorization' : 'authorization', value);
    return retry;
  }

  /** BYE on a confirmed leg (§15.1.1); a challenge from leg B is answered once. */
  sendBye(side: LegSide): void {
    const d = this.legs[side].dialog;
    if (d === null || d.state !== 'confirmed') return;
    d.terminate();
    const bye = d.createRequest('BYE');
    const tried = new Set<string>();
    const handler: ClientTransactionHandler = {
      onFinal: (res) => {
        this.record(side, 'in', res);
        if ((res.status === 401 || res.status === 407) && side === 'B') {
          const retry = this.authorize(bye, res, tried);
          if (retry !== null) this.sendInDialog(side, d, retry, handler, { manipulated: true });
        }
      },
      onTimeout: () => this.record(side, 'event', null, 'BYE timeout'),
      onTransportError: () => this.record(side, 'event', null, 'BYE transport error'),
    };
    this.sendInDialog(side, d, bye, handler);
  }
}
