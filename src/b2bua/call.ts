/**
 * One call: leg A (we are the UAS toward the caller) and leg B (we are the
 * UAC toward the callee), two independent dialogs. Every event on one leg
 * is translated into a message we build ourselves on the other.
 *
 * Events of one call run one after the other through a small promise
 * queue: media processing is asynchronous, and a 200 must never overtake
 * the 183 that came before it.
 */
import type { Logger } from 'pino';
import { Dialog } from '../dialog/dialog.js';
import { buildDigestAuthorization, pickDigestChallenge } from '../sip/digest.js';
import { formatNameAddr, parseNameAddr } from '../sip/grammar.js';
import { SipMessage } from '../sip/message.js';
import { createResponse, newCallId, newTag } from '../sip/response.js';
import { bareHost, formatUri, parseUri, uriHost } from '../sip/uri.js';
import type { CallDetailRecord, TerminationSide, TimelineEvent } from '../cdr/record.js';
import {
  ALLOW, contactValue, copyEndToEndHeaders, hasOptionTag, maxForwards, parseSessionExpires, rehomeNameAddr, userOf,
} from './headers.js';
import type {
  ClientTransactionHandler, ClientTransactionRef, Endpoint, InboundMessage, IpGroupRef, MediaHandle, RouteFailure,
  RouteTarget, ServerTransactionRef, Transport,
} from './ports.js';
import type { CallEnv } from './env.js';

export type Leg = 'A' | 'B';
export type CallState = 'routing' | 'calling' | 'early' | 'confirmed' | 'ended';

const TIMELINE_LIMIT = 200;

/** A leg-B INVITE in flight (one per routing attempt or 3xx/auth retry). */
interface InviteAttempt {
  ctx: ClientTransactionRef | null;
  req: SipMessage;
  target: RouteTarget;
  finalReceived: boolean;
  provisionalSeen: boolean;
  cancelSent: boolean;
}

/** A reliable 1xx we relayed to A: A's RSeq -> which fork and its RSeq. */
interface RelayedReliable {
  aRSeq: number;
  bTag: string;
  bRSeq: number;
  res: SipMessage;
  timer: NodeJS.Timeout | null;
  interval: number;
  deadline: number;
}

/** A REFER the SBC handles itself (referMode 'local'): the new call toward the Refer-To target. */
interface LocalTransfer {
  /** The leg whose party sent the REFER; the new call replaces it. */
  referrer: Leg;
  referDialog: Dialog;
  /** The referrer hung up before the transfer completed. */
  referrerGone: boolean;
  target: RouteTarget;
  groupClaimed: boolean;
  req: SipMessage;
  ctx: ClientTransactionRef | null;
  finalReceived: boolean;
  /** The target's 2xx, once it came. */
  answered: SipMessage | null;
  ack: SipMessage | null;
  ackDest: Endpoint | null;
}

/** Where requests of a dialog go when the leg's own addressing does not apply (transfers). */
interface DialogRoute {
  dest: Endpoint;
  iface: string;
  transport: Transport;
}

interface SessionTimerState {
  deltaSec: number;
  weRefresh: boolean;
  timer: NodeJS.Timeout | null;
}

function hasSdp(msg: SipMessage): boolean {
  return msg.body.length > 0 && msg.contentType === 'application/sdp';
}

function other(leg: Leg): Leg {
  return leg === 'A' ? 'B' : 'A';
}

export class Call {
  readonly id: string;
  readonly log: Logger;
  readonly timeline: TimelineEvent[] = [];
  private timelineDropped = 0;
  state: CallState = 'routing';
  private readonly env: CallEnv;
  private queue: Promise<void> = Promise.resolve();
  private readonly timers = new Set<NodeJS.Timeout>();

  // leg A
  readonly aInvite: SipMessage;
  private aStx: ServerTransactionRef | null;
  readonly aInbound: InboundMessage;
  readonly src: IpGroupRef;
  private readonly aTag = newTag();
  /** Leg A's INVITE after inbound manipulation: what leg B is built from. */
  private readonly aReq: SipMessage;
  aDialog: Dialog | null = null;
  private aFinalStatus = 0;
  private readonly aSupports100rel: boolean;
  private aRSeq = 1 + Math.floor(Math.random() * 1000);
  private readonly reliableToA = new Map<number, RelayedReliable>();

  // leg B
  dst: IpGroupRef | null = null;
  private target: RouteTarget | null = null;
  private bCallId: string | null = null;
  private bTag = newTag();
  private bSeq = 1;
  private invite: InviteAttempt | null = null;
  private readonly bEarly = new Map<string, Dialog>();
  bDialog: Dialog | null = null;
  private bAck: SipMessage | null = null;
  private readonly authNonces = new Set<string>();
  private readonly bPracked = new Set<string>();
  private dstCounted = false;

  // routing and media
  private attempt = 0;
  private redirects = 0;
  private media: MediaHandle | null = null;
  private mediaCreated = false;
  private readonly inviteHadOffer: boolean;
  /** The offer as sent to B (kept for alternative routes). */
  private bOffer: Buffer | null = null;
  /** Last SDP we sent on each leg: used for session refresh re-INVITEs. */
  private readonly lastSdpSent: { A: Buffer | null; B: Buffer | null } = { A: null, B: null };
  private lastAnswerFromB: { raw: string; out: Buffer } | null = null;
  /** Waiting for A's ACK (answer inside) before ACKing B's 2xx that carried an offer. */
  private bAckPendingOnA = false;
  /** An INVITE/UPDATE offer in progress between the legs: a second one is glare (491). */
  private offerInProgress = false;
  /** A re-INVITE relayed from X whose 2xx from Y needs an ACK carrying X's answer. */
  private pendingReinviteAck: { from: Leg; ackSeq: number; dialog: Dialog } | null = null;
  /** Allow of each peer (A's INVITE, B's 2xx): whether a refresh may use UPDATE. */
  private readonly peerAllow: { A: string[]; B: string[] } = { A: [], B: [] };
  private readonly sessionTimers: { A: SessionTimerState | null; B: SessionTimerState | null } = { A: null, B: null };
  /** Session-Expires/Min-SE toward leg B after a 422 (RFC 4028 §7.4); null = the profile's. */
  private bSessionExpires: number | null = null;
  private bMinSe: number | null = null;
  private noAnswerTimer: NodeJS.Timeout | null = null;
  /** Leg-B forks whose reliable 1xx carried the offer (INVITE without SDP): later SDP from them is no new offer. */
  private readonly earlyOfferFrom = new Set<string>();
  private transfer: LocalTransfer | null = null;
  /** Dialogs a local transfer replaced: still registered until their BYE completes. */
  private readonly retired = new Map<Dialog, Leg>();
  private readonly dialogRoutes = new Map<Dialog, DialogRoute>();
  /** Leg A after a local transfer replaced the caller with a call the SBC placed. */
  private aReplacement: RouteTarget | null = null;
  /** Groups counted for transfer targets that took leg A's place. */
  private readonly extraGroups: Array<IpGroupRef | null> = [];

  // outcome
  cancelled = false;
  readonly setupTime = Date.now();
  connectTime: number | null = null;
  private endTime: number | null = null;
  private terminationSide: TerminationSide = 'sbc';
  private terminationReason = '';

  constructor(env: CallEnv, id: string, invite: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, src: IpGroupRef, aReq: SipMessage) {
    this.env = env;
    this.id = id;
    this.log = env.logger.child({ callId: id });
    this.aInvite = invite;
    this.aStx = stx;
    this.aInbound = inbound;
    this.src = src;
    this.aReq = aReq;
    this.inviteHadOffer = hasSdp(invite);
    this.aSupports100rel = hasOptionTag(invite, '100rel');
  }

  // --- bookkeeping -----------------------------------------------------------

  get ended(): boolean {
    return this.state === 'ended';
  }

  get legBCallId(): string | null {
    return this.bCallId;
  }

  get pendingTimers(): number {
    let n = this.timers.size;
    for (const r of this.reliableToA.values()) if (r.timer !== null) n++;
    return n;
  }

  get dialogCount(): number {
    return (this.aDialog !== null ? 1 : 0) + (this.bDialog !== null ? 1 : this.bEarly.size) + this.retired.size;
  }

  record(leg: Leg | '-', dir: 'in' | 'out' | 'event', msg: SipMessage | null, note?: string): void {
    if (this.timeline.length >= TIMELINE_LIMIT) {
      this.timelineDropped++;
      return;
    }
    const ev: TimelineEvent = { t: Date.now(), leg, dir };
    if (msg !== null) {
      ev.method = msg.isRequest ? msg.method : msg.cseq?.method ?? msg.method;
      if (!msg.isRequest) ev.status = msg.status;
    }
    if (note !== undefined) ev.note = note;
    this.timeline.push(ev);
  }

  /** Runs `fn` after every earlier event of this call; errors end the call instead of escaping. */
  enqueue(what: string, fn: () => Promise<void> | void): void {
    this.queue = this.queue.then(async () => {
      if (this.ended && what !== 'late') return;
      try {
        await fn();
      } catch (err) {
        this.log.error({ err, what }, 'call event failed');
        this.terminate('sbc', `internal error in ${what}`, 500);
      }
    });
  }

  private setTimer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimer(t: NodeJS.Timeout | null): void {
    if (t === null) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  // --- leg A helpers -----------------------------------------------------------

  private ourContact(leg: Leg): string {
    let iface: string;
    let transport: Transport;
    let fallback: { address: string; port: number };
    if (leg === 'A' && this.aReplacement !== null) {
      iface = this.aReplacement.interfaceName;
      transport = this.aReplacement.dest.transport;
      fallback = { address: '127.0.0.1', port: 5060 };
    } else if (leg === 'A') {
      iface = this.aInbound.interfaceName;
      transport = this.aInbound.local.transport;
      fallback = this.aInbound.local;
    } else {
      const t = this.target!;
      iface = t.interfaceName;
      transport = t.dest.transport;
      fallback = { address: '127.0.0.1', port: 5060 };
    }
    const addr = this.env.local.contactAddress(iface, transport) ?? fallback;
    const user = leg === 'A' ? userOf(this.aInvite.getHeader('to')) : userOf(this.aReq.getHeader('from'));
    return contactValue(user, addr.address, addr.port, transport);
  }

  private sendToA(stx: ServerTransactionRef, res: SipMessage, relayedFrom: SipMessage | null): void {
    this.env.routing.applyOutbound(res, this.src, { leg: 'A', peerIpGroup: this.dst, relayedFrom });
    this.record('A', 'out', res);
    stx.respond(res);
  }

  /** The final answer to A's INVITE (non-2xx), when the call fails before connecting. */
  private rejectA(status: number, reason?: string, relayed: SipMessage | null = null): void {
    const stx = this.aStx;
    if (stx === null || this.aFinalStatus !== 0) return;
    this.aFinalStatus = status;
    this.stopReliableRetransmissions();
    const res = createResponse(this.aInvite, status, reason, this.aTag);
    if (relayed !== null) {
      copyEndToEndHeaders(relayed, res);
      if (status >= 300 && status < 400) for (const c of relayed.getHeaderValues('contact')) res.addHeader('contact', c);
      for (const h of ['www-authenticate', 'proxy-authenticate', 'min-se']) {
        for (const v of relayed.getHeaderValues(h)) res.addHeader(h, v);
      }
    }
    this.sendToA(stx, res, relayed);
    this.aStx = null;
  }

  // --- call setup -----------------------------------------------------------

  start(): void {
    const stx = this.aStx!;
    stx.onCancel = (cancel) => this.enqueue('cancel', () => this.onCancelFromA(cancel));
    stx.onAckTimeout = () => this.enqueue('ack-timeout', () => this.terminate('A', 'no ACK for 2xx', 408));
    // The transaction ends when its final cannot be sent, so timer L never fires: without this a 2xx
    // lost to a closed TCP connection would leave leg B connected for good.
    stx.onTransportError = (err) => this.enqueue('transport-error-a', () => {
      this.log.warn({ err: err.message }, 'leg A transport error');
      this.terminate('A', 'final response to caller could not be sent', 503);
    });
    this.record('A', 'in', this.aInvite);
    this.enqueue('route', () => this.routeAttempt(null));
  }

  private failureStatus(f: RouteFailure): number {
    if (f === 'timeout') return 408;
    if (f === 'transport-error') return 503;
    return f ?? 500;
  }

  /** Asks routing for the next destination and places the leg-B INVITE there, or fails leg A. */
  private async routeAttempt(lastFailure: RouteFailure, lastResponse: SipMessage | null = null): Promise<void> {
    if (this.cancelled) return this.finish();
    const attempt = lastFailure === null ? 0 : this.attempt + 1;
    let r: ReturnType<CallEnv['routing']['route']>;
    try {
      r = this.env.routing.route(this.aReq, this.src, attempt, lastFailure);
    } catch (err) {
      this.log.error({ err }, 'routing failed');
      r = { reject: 500 };
    }
    if (r === null) {
      this.record('-', 'event', null, lastFailure === null ? 'no route' : `no alternative route after ${lastFailure}`);
      this.terminationSide = lastFailure === null ? 'sbc' : 'B';
      if (lastFailure === null) this.rejectA(404, 'No Route');
      else this.rejectA(this.failureStatus(lastFailure), lastResponse?.reason, lastResponse);
      return this.finish(lastFailure === null ? 'no route' : `leg B failed: ${lastFailure}`);
    }
    if ('reject' in r) {
      this.record('-', 'event', null, `routing rejected with ${r.reject}`);
      this.rejectA(r.reject);
      return this.finish(`routing rejected with ${r.reject}`);
    }
    this.attempt = attempt;
    this.record('B', 'event', null, `route ${attempt}: ${r.ruleName ?? ''} -> ${r.dstIpGroup?.name ?? '-'} ${r.dest.address}:${r.dest.port}/${r.dest.transport}`);
    if (!this.dstCounted || (this.dst?.name ?? null) !== (r.dstIpGroup?.name ?? null)) {
      if (this.dstCounted) this.env.releaseGroup(this.dst);
      this.dstCounted = false;
      if (!this.env.claimGroup(r.dstIpGroup)) {
        this.record('-', 'event', null, `call limit of ${r.dstIpGroup?.name}`);
        this.rejectA(503, 'Call Limit Reached');
        return this.finish('destination call limit');
      }
      this.dstCounted = true;
    }
    this.dst = r.dstIpGroup;
    this.target = r;
    if (!this.mediaCreated) {
      this.mediaCreated = true;
      this.media = this.env.media.create(this.id, this.src, this.dst);
      this.media?.onInactivity?.(() => this.enqueue('media-inactivity', () => this.terminate('sbc', 'media inactivity')));
      if (this.inviteHadOffer) {
        const out = await this.processSdp('offer', 'A', this.aInvite.body);
        if (this.ended || this.cancelled) return this.finish();
        if ('error' in out) {
          this.rejectA(out.sipStatus, out.error);
          return this.finish(`media: ${out.error}`);
        }
        this.bOffer = out.sdp;
      }
    }
    this.bCallId = this.dst?.keepOriginalCallId ? this.aInvite.callId : newCallId();
    this.bTag = newTag();
    this.bEarly.clear();
    this.sendInviteB(r, r.requestUri, null);
  }

  private async processSdp(kind: 'offer' | 'answer', from: Leg, body: Buffer): Promise<{ sdp: Buffer } | { error: string; sipStatus: number }> {
    if (this.media === null) return { sdp: body };
    const text = body.toString('utf8');
    const r = kind === 'offer' ? await this.media.processOffer(from, text) : await this.media.processAnswer(from, text);
    if ('error' in r) {
      this.record(from, 'event', null, `media ${kind} rejected: ${r.error}`);
      return r;
    }
    return { sdp: Buffer.from(r.sdp, 'utf8') };
  }

  private buildInviteB(target: RouteTarget, requestUri: string): SipMessage {
    const host = this.dst?.sipGroupName ?? uriHost(target.dest.address);
    const req = SipMessage.request('INVITE', requestUri);
    req.setHeader('max-forwards', String(maxForwards(this.aReq) - 1));
    req.setHeader('from', `${rehomeNameAddr(this.aReq.getHeader('from'), host)};tag=${this.bTag}`);
    req.setHeader('to', rehomeNameAddr(this.aReq.getHeader('to'), host));
    req.setHeader('call-id', this.bCallId!);
    req.setHeader('cseq', `${this.bSeq} INVITE`);
    req.setHeader('contact', this.ourContact('B'));
    copyEndToEndHeaders(this.aReq, req);
    if (!req.hasHeader('allow')) req.setHeader('allow', ALLOW);
    const supported: string[] = [];
    const prack = this.dst?.profile.prackMode ?? this.src.profile.prackMode;
    // Local PRACK cannot answer an offer in a reliable 1xx when A can get
    // that offer only in the 2xx (no SDP in A's INVITE, no 100rel on A):
    // the PRACK must carry the answer (RFC 3262 §5) and B holds its 2xx until PRACK.
    const localPrackOk = this.inviteHadOffer || this.aSupports100rel;
    if ((prack === 'local' && localPrackOk) || (prack === 'transparent' && this.aSupports100rel)) supported.push('100rel');
    const se = this.bSessionExpires ?? this.dst?.profile.sessionExpiresSec ?? 0;
    if (se > 0 || this.aInvite.hasHeader('session-expires')) supported.push('timer');
    if (supported.length > 0) req.setHeader('supported', supported.join(', '));
    if (prack === 'transparent' && this.aInvite.getHeaderValues('require').some((t) => t.trim().toLowerCase() === '100rel')) {
      req.setHeader('require', '100rel');
    }
    if (se > 0) {
      req.setHeader('session-expires', String(se));
      req.setHeader('min-se', String(this.bMinSe ?? this.dst?.profile.minSeSec ?? 90));
    }
    if (this.bOffer !== null) req.setBody(this.bOffer, 'application/sdp');
    return req;
  }

  private sendInviteB(target: RouteTarget, requestUri: string, authorization: [string, string] | null): void {
    const req = this.buildInviteB(target, requestUri);
    if (authorization !== null) req.setHeader(authorization[0], authorization[1]);
    this.env.routing.applyOutbound(req, this.dst, { leg: 'B', peerIpGroup: this.src, relayedFrom: this.aReq });
    const attempt: InviteAttempt = { ctx: null, req, target, finalReceived: false, provisionalSeen: false, cancelSent: false };
    this.invite = attempt;
    this.state = this.state === 'routing' ? 'calling' : this.state;
    const handler: ClientTransactionHandler = {
      onProvisional: (res) => this.enqueue('1xx', () => this.onInviteProvisional(attempt, res)),
      onFinal: (res) => this.enqueue('final', () => this.onInviteFinal(attempt, res)),
      onAdditional2xx: (res) => this.enqueue('late', () => this.onLate2xx(res)),
      onTimeout: () => this.enqueue('timeout', () => this.onInviteFailure(attempt, 'timeout', null)),
      onTransportError: (err) => this.enqueue('transport-error', () => {
        this.log.warn({ err: err.message }, 'leg B transport error');
        return this.onInviteFailure(attempt, 'transport-error', null);
      }),
    };
    this.record('B', 'out', req);
    attempt.ctx = this.env.tx.sendRequest(req, target.dest, target.interfaceName, handler);
    this.armNoAnswerTimer();
  }

  /** Each new leg-B INVITE (alternative route, redirect) gets the full no-answer time. */
  private armNoAnswerTimer(): void {
    const sec = this.dst?.profile.noAnswerTimeoutSec ?? 0;
    this.clearTimer(this.noAnswerTimer);
    this.noAnswerTimer = null;
    if (!(sec > 0)) return;
    this.noAnswerTimer = this.setTimer(sec * 1000, () => {
      this.noAnswerTimer = null;
      this.enqueue('no-answer', () => this.onNoAnswer(sec));
    });
  }

  /**
   * Like a CANCEL from the caller: 408 to A at once, CANCEL on leg B, and
   * the call ends when B's final response arrives (a 2xx crossing the
   * CANCEL is ACKed and BYEd). A B that never answers the CANCEL does not
   * keep the call alive beyond 64*T1.
   */
  private onNoAnswer(sec: number): void {
    if (this.state === 'confirmed' || this.aStx === null || this.aFinalStatus !== 0) return;
    this.record('B', 'event', null, `no answer within ${sec} s`);
    this.cancelled = true;
    this.terminationSide = 'sbc';
    this.terminationReason = 'no answer';
    this.rejectA(408, 'No Answer');
    const inv = this.invite;
    if (inv === null || inv.finalReceived) return this.finish('no answer');
    this.sendCancelB();
    this.setTimer(64 * this.env.t1Ms, () => this.enqueue('cancel-timeout', () => this.finish('no answer')));
  }

  private earlyDialogFor(attempt: InviteAttempt, res: SipMessage): Dialog | null {
    const tag = res.toTag;
    if (tag === null) return null;
    let d = this.bEarly.get(tag);
    if (d === undefined) {
      const created = Dialog.fromResponse(attempt.req, res);
      if (created === null) return null;
      d = created;
      if (this.bEarly.size === 0) this.env.registerDialog(d, this, 'B');
      this.bEarly.set(tag, d);
    } else d.updateFromResponse(res);
    return d;
  }

  private ensureADialog(): Dialog | null {
    if (this.aDialog === null) {
      this.aDialog = Dialog.fromRequest(this.aInvite, this.aTag, 'early');
      if (this.aDialog !== null) this.env.registerDialog(this.aDialog, this, 'A');
    }
    return this.aDialog;
  }

  private async onInviteProvisional(attempt: InviteAttempt, res: SipMessage): Promise<void> {
    this.record('B', 'in', res);
    if (attempt !== this.invite || attempt.finalReceived) return;
    attempt.provisionalSeen = true;
    if (this.cancelled) {
      this.sendCancelB();
      return;
    }
    if (res.status === 100) return;
    const d = this.earlyDialogFor(attempt, res);
    const rseqRaw = res.getHeader('rseq');
    const reliable = rseqRaw !== undefined && res.getHeaderValues('require').some((t) => t.trim().toLowerCase() === '100rel');
    const bRSeq = reliable ? Number.parseInt(rseqRaw!.trim(), 10) : 0;
    const prack = this.dst?.profile.prackMode ?? 'transparent';
    const tag = d?.remoteTag ?? '';
    // Without SDP in A's INVITE the first SDP in a reliable 1xx is B's offer; only A can answer it.
    const carriesOffer = reliable && !this.inviteHadOffer && hasSdp(res) && !this.earlyOfferFrom.has(tag);
    const relayReliably = reliable && d !== null && this.aSupports100rel && (prack === 'transparent' || (prack === 'local' && carriesOffer));

    let body: Buffer | null = null;
    if (hasSdp(res)) {
      if (this.inviteHadOffer) {
        const raw = res.body.toString('utf8');
        if (this.lastAnswerFromB !== null && this.lastAnswerFromB.raw === raw) body = this.lastAnswerFromB.out;
        else {
          const out = await this.processSdp('answer', 'B', res.body);
          if ('error' in out) {
            this.log.warn({ error: out.error }, 'early answer rejected by media');
          } else {
            body = out.sdp;
            this.lastAnswerFromB = { raw, out: out.sdp };
          }
        }
      } else if (relayReliably && carriesOffer) {
        this.earlyOfferFrom.add(tag);
        const out = await this.processSdp('offer', 'B', res.body);
        if (!('error' in out)) body = out.sdp;
      } else if (carriesOffer) {
        this.log.warn('offer in a reliable 1xx that leg A cannot answer; PRACKed without answer');
      }
      if (this.ended || this.cancelled || this.aStx === null) return;
    }

    if (reliable && d !== null && !relayReliably && Number.isFinite(bRSeq)) this.prackLocally(d, attempt, bRSeq);

    const stx = this.aStx;
    if (stx === null || this.aFinalStatus !== 0) return;
    const out = createResponse(this.aInvite, res.status, res.reason, this.aTag);
    out.setHeader('contact', this.ourContact('A'));
    copyEndToEndHeaders(res, out);
    if (body !== null) {
      out.setBody(body, 'application/sdp');
      this.lastSdpSent.A = body;
    }
    if (relayReliably) {
      const aRSeq = this.aRSeq++;
      out.setHeader('require', '100rel');
      out.setHeader('rseq', String(aRSeq));
      const t1 = this.env.t1Ms;
      const rel: RelayedReliable = { aRSeq, bTag: d!.remoteTag, bRSeq, res: out, timer: null, interval: t1, deadline: Date.now() + 64 * t1 };
      this.reliableToA.set(aRSeq, rel);
      this.scheduleReliableRetransmit(rel);
    }
    this.ensureADialog();
    if (this.state === 'calling') this.state = 'early';
    this.sendToA(stx, out, res);
  }

  private scheduleReliableRetransmit(rel: RelayedReliable): void {
    // RFC 3262 §3: the UAS core retransmits a reliable 1xx with T1 doubling until PRACK.
    rel.timer = setTimeout(() => {
      rel.timer = null;
      if (this.ended || this.aStx === null || !this.reliableToA.has(rel.aRSeq)) return;
      if (Date.now() >= rel.deadline) {
        this.reliableToA.delete(rel.aRSeq);
        return;
      }
      this.aStx.respond(rel.res);
      rel.interval = Math.min(rel.interval * 2, this.env.t2Ms);
      this.scheduleReliableRetransmit(rel);
    }, rel.interval);
  }

  private stopReliableRetransmissions(): void {
    for (const r of this.reliableToA.values()) if (r.timer !== null) clearTimeout(r.timer);
    this.reliableToA.clear();
  }

  private prackLocally(d: Dialog, attempt: InviteAttempt, bRSeq: number): void {
    const key = `${d.remoteTag}:${bRSeq}`;
    if (this.bPracked.has(key)) return;
    this.bPracked.add(key);
    const prack = d.createRequest('PRACK');
    prack.setHeader('rack', `${bRSeq} ${attempt.req.cseq?.seq ?? this.bSeq} INVITE`);
    this.sendInDialog('B', d, prack, {
      onFinal: (r) => this.record('B', 'in', r),
      onTimeout: () => this.record('B', 'event', null, 'PRACK timeout'),
      onTransportError: () => this.record('B', 'event', null, 'PRACK transport error'),
    });
  }

  private async onInviteFinal(attempt: InviteAttempt, res: SipMessage): Promise<void> {
    this.record('B', 'in', res);
    if (attempt !== this.invite) {
      // A superseded attempt (auth retry, alternative route) that still answered.
      if (res.status >= 200 && res.status < 300) this.ackAndBye(attempt, res);
      return;
    }
    attempt.finalReceived = true;
    if (res.status >= 200 && res.status < 300) return this.onInvite2xx(attempt, res);
    if (this.cancelled) return this.finish('cancelled by caller');
    const status = res.status;
    if ((status === 401 || status === 407) && this.answerChallenge(attempt, res)) return;
    if (status === 422 && this.retryWithMinSe(attempt, res)) return;
    if (status >= 300 && status < 400) {
      const mode = this.dst?.profile.redirect3xxMode ?? this.src.profile.redirect3xxMode;
      if (mode === 'local' && this.followRedirect(attempt, res)) return;
    }
    return this.onInviteFailure(attempt, status, res);
  }

  private async onInviteFailure(attempt: InviteAttempt, failure: RouteFailure, res: SipMessage | null): Promise<void> {
    if (attempt !== this.invite) return;
    attempt.finalReceived = true;
    if (res === null) this.record('B', 'event', null, `INVITE ${failure}`);
    if (this.cancelled || this.aStx === null) return this.finish('cancelled by caller');
    if (this.bEarly.size > 0) {
      this.env.unregisterDialog(this.bEarly.values().next().value!);
      this.bEarly.clear();
    }
    await this.routeAttempt(failure, res);
  }

  private answerChallenge(attempt: InviteAttempt, res: SipMessage): boolean {
    const proxy = res.status === 407;
    const ch = pickDigestChallenge(res.getHeaderValues(proxy ? 'proxy-authenticate' : 'www-authenticate'));
    const creds = this.env.routing.credentialsFor(this.dst);
    if (ch === null || creds === null || this.authNonces.has(ch.nonce)) return false;
    this.authNonces.add(ch.nonce);
    const value = buildDigestAuthorization(ch, { method: 'INVITE', uri: attempt.req.requestUri, username: creds.username, password: creds.password });
    if (value === null) return false;
    this.record('B', 'event', null, `answering ${res.status} challenge (${ch.algorithm})`);
    this.bSeq++;
    this.sendInviteB(attempt.target, attempt.req.requestUri, [proxy ? 'proxy-authorization' : 'authorization', value]);
    return true;
  }

  /** RFC 4028 §7.4: once, with Session-Expires and Min-SE raised to the callee's Min-SE. */
  private retryWithMinSe(attempt: InviteAttempt, res: SipMessage): boolean {
    if (this.bMinSe !== null) return false;
    const minSe = Number.parseInt((res.getHeader('min-se') ?? '').trim(), 10);
    if (!Number.isFinite(minSe) || minSe <= 0 || minSe > 86_400) return false;
    const current = this.bSessionExpires ?? this.dst?.profile.sessionExpiresSec ?? 0;
    const ourMin = this.dst?.profile.minSeSec ?? 90;
    this.bMinSe = Math.max(minSe, ourMin);
    this.bSessionExpires = Math.max(current, this.bMinSe);
    this.record('B', 'event', null, `422: retrying with Session-Expires ${this.bSessionExpires}`);
    this.bSeq++;
    this.sendInviteB(attempt.target, attempt.req.requestUri, null);
    return true;
  }

  private followRedirect(attempt: InviteAttempt, res: SipMessage): boolean {
    if (this.redirects >= this.env.routing.maxRerouteAttemptsOn3xx) return false;
    const contacts = res.getHeaderValues('contact').map((c) => parseNameAddr(c)).filter((c) => c !== null);
    // Highest q first; a missing q counts as 1.
    contacts.sort((x, y) => qOf(y!) - qOf(x!));
    const first = contacts[0];
    if (first === undefined || first === null) return false;
    const uri = parseUri(first.uri);
    if (uri === null || (uri.scheme !== 'sip' && uri.scheme !== 'sips')) return false;
    this.redirects++;
    const dest = endpointOfUri(first.uri, attempt.target.dest);
    const target: RouteTarget = { ...attempt.target, dest, requestUri: first.uri };
    this.record('B', 'event', null, `following ${res.status} to ${first.uri}`);
    this.bSeq++;
    this.bTag = newTag();
    this.bEarly.clear();
    this.target = target;
    this.sendInviteB(target, first.uri, null);
    return true;
  }

  private async onInvite2xx(attempt: InviteAttempt, res: SipMessage): Promise<void> {
    const tag = res.toTag;
    let d = tag === null ? null : this.bEarly.get(tag) ?? null;
    if (d !== null) d.updateFromResponse(res);
    else {
      d = Dialog.fromResponse(attempt.req, res);
      if (d === null) {
        this.log.warn('2xx without a To tag on leg B');
        this.rejectA(502, 'Bad Gateway');
        return this.finish('unusable 2xx from leg B');
      }
      if (this.bEarly.size === 0) this.env.registerDialog(d, this, 'B');
    }
    this.bDialog = d;
    this.bEarly.clear();
    this.clearTimer(this.noAnswerTimer);
    this.noAnswerTimer = null;
    this.bSeq = attempt.req.cseq?.seq ?? this.bSeq;
    // PRACKs in the early dialog already used numbers above the INVITE's.
    d.localSeq = Math.max(d.localSeq, this.bSeq);
    if (this.cancelled || this.aStx === null) {
      // CANCEL crossed the 200: confirm and hang up leg B.
      this.ackB(null);
      this.sendBye('B');
      return this.finish('cancelled by caller');
    }
    let body: Buffer | null = null;
    // After an offer/answer in a reliable 1xx and PRACK, SDP in the 2xx is no new offer (RFC 3262 §5).
    if (hasSdp(res) && !this.earlyOfferFrom.has(d.remoteTag)) {
      const raw = res.body.toString('utf8');
      if (this.inviteHadOffer && this.lastAnswerFromB !== null && this.lastAnswerFromB.raw === raw) {
        body = this.lastAnswerFromB.out;
      } else {
        // Our INVITE carried an offer: this is B's answer; a late-offer INVITE gets B's offer here.
        const out = await this.processSdp(this.inviteHadOffer ? 'answer' : 'offer', 'B', res.body);
        if ('error' in out) {
          this.ackB(null);
          this.sendBye('B');
          this.rejectA(out.sipStatus, out.error);
          return this.finish(`media: ${out.error}`);
        }
        body = out.sdp;
      }
    }
    if (this.ended) return;
    if (this.cancelled || this.aStx === null) {
      this.ackB(null);
      this.sendBye('B');
      return this.finish('cancelled by caller');
    }
    if (this.inviteHadOffer || body === null) this.ackB(null);
    else this.bAckPendingOnA = true;

    const stx = this.aStx;
    const out = createResponse(this.aInvite, res.status, res.reason, this.aTag);
    out.setHeader('contact', this.ourContact('A'));
    copyEndToEndHeaders(res, out);
    if (!out.hasHeader('allow')) out.setHeader('allow', ALLOW);
    if (body !== null) {
      out.setBody(body, 'application/sdp');
      this.lastSdpSent.A = body;
    }
    if (this.bOffer !== null) this.lastSdpSent.B = this.bOffer;
    this.peerAllow.A = this.aInvite.getHeaderValues('allow');
    this.peerAllow.B = res.getHeaderValues('allow');
    this.negotiateSessionTimerA(out);
    this.negotiateSessionTimerUac('B', res, this.bSessionExpires ?? this.dst?.profile.sessionExpiresSec ?? 0);
    this.aFinalStatus = res.status;
    this.stopReliableRetransmissions();
    const aDialog = this.ensureADialog();
    if (aDialog !== null) aDialog.state = 'confirmed';
    this.state = 'confirmed';
    this.connectTime = Date.now();
    this.sendToA(stx, out, res);
    this.aStx = null;
    this.startDurationLimit();
  }

  /** ACK for leg B's 2xx (§13.2.2.4); kept for retransmitted 2xx. */
  private ackB(body: Buffer | null): void {
    const d = this.bDialog;
    if (d === null) return;
    const ack = d.createRequest('ACK', this.bSeq);
    ack.setHeader('contact', this.ourContact('B'));
    if (body !== null) ack.setBody(body, 'application/sdp');
    this.env.routing.applyOutbound(ack, this.dst, { leg: 'B', peerIpGroup: this.src, relayedFrom: null });
    this.bAck = ack;
    this.record('B', 'out', ack);
    void this.env.tx.sendStateless(ack, this.destFor('B', d), this.target!.interfaceName).catch((err: Error) => {
      this.log.warn({ err: err.message }, 'ACK send failed');
    });
  }

  /** A 2xx after the first one: a retransmission (ACK again) or another fork (ACK and BYE it). */
  onLate2xx(res: SipMessage): void {
    this.record('B', 'in', res, 'additional 2xx');
    const d = this.bDialog;
    if (d !== null && res.toTag === d.remoteTag) {
      if (this.bAck !== null) {
        void this.env.tx.sendStateless(this.bAck, this.destFor('B', d), this.target!.interfaceName).catch(() => {});
      }
      return;
    }
    const inv = this.invite;
    if (inv === null) return;
    this.ackAndBye(inv, res);
  }

  private ackAndBye(attempt: { req: SipMessage; target: RouteTarget }, res: SipMessage, leg: Leg = 'B', what = 'a losing fork'): void {
    const d = Dialog.fromResponse(attempt.req, res);
    if (d === null) return;
    const ack = d.createRequest('ACK', attempt.req.cseq?.seq ?? 1);
    this.record(leg, 'out', ack, `ACK for ${what}`);
    const dest = endpointOfUri(d.nextHopUri, attempt.target.dest);
    void this.env.tx.sendStateless(ack, dest, attempt.target.interfaceName).catch(() => {});
    const bye = d.createRequest('BYE');
    this.record(leg, 'out', bye, `BYE for ${what}`);
    this.env.tx.sendRequest(bye, dest, attempt.target.interfaceName, {
      onFinal: (r) => this.record(leg, 'in', r), onTimeout: () => {}, onTransportError: () => {},
    });
  }

  // --- CANCEL -----------------------------------------------------------------

  private onCancelFromA(cancel: SipMessage): void {
    this.record('A', 'in', cancel);
    if (this.aStx === null || this.aFinalStatus !== 0) return;
    this.cancelled = true;
    this.terminationSide = 'A';
    this.terminationReason = 'cancelled by caller';
    this.rejectA(487);
    const inv = this.invite;
    if (inv === null || inv.finalReceived) return this.finish('cancelled by caller');
    // §9.1: a CANCEL before any provisional waits for one; the transaction layer holds it.
    this.sendCancelB();
  }

  private sendCancelB(): void {
    const inv = this.invite;
    if (inv === null || inv.ctx === null || inv.cancelSent || inv.finalReceived) return;
    inv.cancelSent = true;
    this.record('B', 'out', null, 'CANCEL');
    this.env.tx.cancel(inv.ctx, [['Reason', 'SIP;cause=487;text="Request Terminated"']]);
  }

  /** A's ACK for our 2xx: forwards an answer to B when B's 2xx carried the offer. */
  onAckFromA(ack: SipMessage): void {
    this.enqueue('ack', async () => {
      this.record('A', 'in', ack);
      if (this.bAckPendingOnA) {
        this.bAckPendingOnA = false;
        let body: Buffer | null = null;
        if (hasSdp(ack)) {
          const out = await this.processSdp('answer', 'A', ack.body);
          if ('error' in out) return this.terminate('sbc', `media: ${out.error}`);
          body = out.sdp;
          this.lastSdpSent.B = body;
        }
        this.ackB(body);
        return;
      }
      const p = this.pendingReinviteAck;
      if (p !== null && p.from === 'A') {
        this.pendingReinviteAck = null;
        await this.relayAck(p, ack);
      }
    });
  }

  onAckFromB(ack: SipMessage): void {
    this.enqueue('ack', async () => {
      this.record('B', 'in', ack);
      const p = this.pendingReinviteAck;
      if (p !== null && p.from === 'B') {
        this.pendingReinviteAck = null;
        await this.relayAck(p, ack);
      }
    });
  }

  private async relayAck(p: { from: Leg; ackSeq: number; dialog: Dialog }, ack: SipMessage): Promise<void> {
    const to = other(p.from);
    const a = p.dialog.createRequest('ACK', p.ackSeq);
    a.setHeader('contact', this.ourContact(to));
    if (hasSdp(ack)) {
      const out = await this.processSdp('answer', p.from, ack.body);
      if ('error' in out) return this.terminate('sbc', `media: ${out.error}`);
      a.setBody(out.sdp, 'application/sdp');
      this.lastSdpSent[to] = out.sdp;
    }
    this.sendAck(to, p.dialog, a);
  }

  private sendAck(leg: Leg, d: Dialog, ack: SipMessage): void {
    this.env.routing.applyOutbound(ack, leg === 'A' ? this.src : this.dst, { leg, peerIpGroup: leg === 'A' ? this.dst : this.src, relayedFrom: null });
    this.record(leg, 'out', ack);
    if (leg === 'B') this.bAck = ack;
    void this.env.tx.sendStateless(ack, this.destFor(leg, d), this.ifaceFor(leg, d)).catch(() => {});
  }

  // --- in-dialog requests ------------------------------------------------------

  private dialogOf(leg: Leg): Dialog | null {
    if (leg === 'A') return this.aDialog;
    return this.bDialog;
  }

  /** Leg B's dialog a request from the callee belongs to (early forks included). */
  private bDialogFor(req: SipMessage): Dialog | null {
    if (this.bDialog !== null) return this.bDialog.remoteTag === req.fromTag ? this.bDialog : null;
    const tag = req.fromTag;
    return tag === null ? null : this.bEarly.get(tag) ?? null;
  }

  onInDialogRequest(leg: Leg, req: SipMessage, stx: ServerTransactionRef): void {
    this.enqueue(req.method, () => this.handleInDialog(leg, req, stx));
  }

  private respondLocal(leg: Leg, stx: ServerTransactionRef, status: number, reason?: string, extra?: Array<[string, string]>): void {
    const res = createResponse(stx.request, status, reason);
    if (extra !== undefined) for (const [k, v] of extra) res.setHeader(k, v);
    this.env.routing.applyOutbound(res, leg === 'A' ? this.src : this.dst, { leg, peerIpGroup: leg === 'A' ? this.dst : this.src, relayedFrom: null });
    this.record(leg, 'out', res);
    stx.respond(res);
  }

  private async handleInDialog(leg: Leg, req: SipMessage, stx: ServerTransactionRef): Promise<void> {
    this.record(leg, 'in', req);
    const retired = this.retiredDialogFor(req);
    if (retired !== null) return this.onRetiredRequest(leg, retired, req, stx);
    const from = leg === 'A' ? this.aDialog : this.bDialogFor(req);
    if (from === null) return this.respondLocal(leg, stx, 481);
    if (!from.acceptRemoteSeq(req)) return this.respondLocal(leg, stx, 500, 'CSeq Out of Order');
    const method = req.method;
    if (method === 'BYE') {
      this.respondLocal(leg, stx, 200);
      const t = this.transfer;
      if (t !== null && t.referrer === leg && t.referDialog === from) return this.onReferrerGone(t);
      return this.terminate(leg, 'BYE');
    }
    if (method === 'PRACK' && leg === 'A') return this.onPrackFromA(req, stx);
    if (method === 'INVITE' || (method === 'UPDATE' && hasSdp(req))) {
      if (this.offerInProgress) return this.respondLocal(leg, stx, 491);
      if (method === 'INVITE' && this.state !== 'confirmed') return this.respondLocal(leg, stx, 491);
    }
    if (method === 'INVITE' || method === 'UPDATE') {
      from.refreshTarget(req);
      this.noteSessionRefresh(leg, req);
    }
    if (method === 'REFER' && this.groupOf(leg)?.profile.referMode === 'local') return this.onLocalRefer(leg, from, req, stx);
    const to = other(leg);
    const target = to === 'A' ? this.aDialog : this.bDialog ?? (this.bEarly.size === 1 ? this.bEarly.values().next().value! : null);
    if (target === null) return this.respondLocal(leg, stx, method === 'UPDATE' ? 491 : 481);
    return this.relayRequest(leg, req, stx, target);
  }

  private async relayRequest(fromLeg: Leg, req: SipMessage, stx: ServerTransactionRef, d: Dialog): Promise<void> {
    const to = other(fromLeg);
    const method = req.method;
    const isOffer = (method === 'INVITE' || method === 'UPDATE') && hasSdp(req);
    const out = d.createRequest(method);
    out.setHeader('max-forwards', String(Math.max(0, maxForwards(req) - 1)));
    if (maxForwards(req) <= 1) return this.respondLocal(fromLeg, stx, 483);
    copyEndToEndHeaders(req, out);
    if (method === 'INVITE' || method === 'UPDATE' || method === 'SUBSCRIBE' || method === 'NOTIFY' || method === 'REFER') {
      out.setHeader('contact', this.ourContact(to));
    }
    if (method === 'INVITE' || method === 'UPDATE') this.addSessionTimerHeaders(to, out);
    if (method === 'INVITE' || method === 'UPDATE') this.offerInProgress = method === 'INVITE' || isOffer;
    if (req.body.length > 0) {
      if (hasSdp(req) && (method === 'INVITE' || method === 'UPDATE' || method === 'PRACK')) {
        const r = await this.processSdp(isOffer ? 'offer' : 'answer', fromLeg, req.body);
        if (this.ended) return;
        if ('error' in r) {
          this.offerInProgress = false;
          return this.respondLocal(fromLeg, stx, r.sipStatus, r.error);
        }
        out.setBody(r.sdp, 'application/sdp');
        this.lastSdpSent[to] = r.sdp;
      } else {
        out.setBody(req.body, req.getHeader('content-type') ?? 'application/octet-stream');
      }
    }
    let ctxRef: ClientTransactionRef | null = null;
    let finalDone = false;
    if (method === 'INVITE') {
      stx.onCancel = () => this.enqueue('cancel', () => {
        if (finalDone || ctxRef === null) return;
        this.env.tx.cancel(ctxRef);
      });
    }
    const authTried = new Set<string>();
    const handler: ClientTransactionHandler = {
      onProvisional: (res) => this.enqueue('1xx', () => {
        this.record(to, 'in', res);
        if (res.status === 100 || finalDone) return;
        const r = createResponse(req, res.status, res.reason);
        copyEndToEndHeaders(res, r);
        this.sendResponse(fromLeg, stx, r, res);
      }),
      onFinal: (res) => this.enqueue('final', async () => {
        this.record(to, 'in', res);
        if ((res.status === 401 || res.status === 407) && to === 'B') {
          const retry = this.authorize(out, res, authTried);
          if (retry !== null) {
            ctxRef = this.sendInDialog(to, d, retry, handler, true);
            return;
          }
        }
        finalDone = true;
        await this.relayFinal(fromLeg, req, stx, to, d, out, res, isOffer);
      }),
      onAdditional2xx: (res) => {
        if (this.bAck !== null && to === 'B') void this.env.tx.sendStateless(this.bAck, this.destFor('B', d), this.ifaceFor('B')).catch(() => {});
        this.record(to, 'in', res, 'retransmitted 2xx');
      },
      onTimeout: () => this.enqueue('timeout', () => {
        finalDone = true;
        this.offerInProgress = false;
        this.respondLocal(fromLeg, stx, 408);
        // §12.2.1.2: a timeout inside the dialog ends it.
        this.terminate(to, `${method} timeout`);
      }),
      onTransportError: () => this.enqueue('transport-error', () => {
        finalDone = true;
        this.offerInProgress = false;
        this.respondLocal(fromLeg, stx, 503);
        this.terminate(to, `${method} transport error`);
      }),
    };
    ctxRef = this.sendInDialog(to, d, out, handler);
  }

  private async relayFinal(fromLeg: Leg, req: SipMessage, stx: ServerTransactionRef, to: Leg, d: Dialog, sent: SipMessage, res: SipMessage, wasOffer: boolean): Promise<void> {
    const method = req.method;
    if (method === 'INVITE' || method === 'UPDATE') this.offerInProgress = false;
    const r = createResponse(req, res.status, res.reason);
    copyEndToEndHeaders(res, r);
    const ok = res.status >= 200 && res.status < 300;
    if (ok && (method === 'INVITE' || method === 'UPDATE' || method === 'SUBSCRIBE')) r.setHeader('contact', this.ourContact(fromLeg));
    if (ok && (method === 'INVITE' || method === 'UPDATE')) {
      d.refreshTarget(res);
      this.addSessionTimerHeaders(fromLeg, r, true);
      this.noteSessionRefresh(to, res);
      this.noteSessionRefresh(fromLeg, req);
    }
    if (res.status === 422 || res.status === 491) for (const v of res.getHeaderValues('min-se')) r.addHeader('min-se', v);
    if (res.body.length > 0) {
      if (hasSdp(res) && (method === 'INVITE' || method === 'UPDATE' || method === 'PRACK')) {
        const out = await this.processSdp(wasOffer ? 'answer' : 'offer', to, res.body);
        if (this.ended) return;
        if (!('error' in out)) {
          r.setBody(out.sdp, 'application/sdp');
          this.lastSdpSent[fromLeg] = out.sdp;
        }
      } else r.setBody(res.body, res.getHeader('content-type') ?? 'application/octet-stream');
    }
    if (ok && method === 'INVITE') {
      const ackSeq = sent.cseq?.seq ?? d.localSeq;
      if (wasOffer || !hasSdp(res)) {
        const ack = d.createRequest('ACK', ackSeq);
        ack.setHeader('contact', this.ourContact(to));
        this.sendAck(to, d, ack);
      } else this.pendingReinviteAck = { from: fromLeg, ackSeq, dialog: d };
    }
    this.sendResponse(fromLeg, stx, r, res);
    if (res.status === 481 || res.status === 408) this.terminate(to, `${method} answered ${res.status}`);
  }

  private sendResponse(leg: Leg, stx: ServerTransactionRef, res: SipMessage, relayedFrom: SipMessage | null): void {
    this.env.routing.applyOutbound(res, leg === 'A' ? this.src : this.dst, { leg, peerIpGroup: leg === 'A' ? this.dst : this.src, relayedFrom });
    this.record(leg, 'out', res);
    stx.respond(res);
  }

  /** A retry of `sent` with an answer to the challenge in `res`, or null (no credentials, or the same nonce again). */
  private authorize(sent: SipMessage, res: SipMessage, tried: Set<string>): SipMessage | null {
    const proxy = res.status === 407;
    const ch = pickDigestChallenge(res.getHeaderValues(proxy ? 'proxy-authenticate' : 'www-authenticate'));
    const creds = this.env.routing.credentialsFor(this.dst);
    if (ch === null || creds === null || tried.has(ch.nonce)) return null;
    tried.add(ch.nonce);
    const value = buildDigestAuthorization(ch, { method: sent.method, uri: sent.requestUri, username: creds.username, password: creds.password });
    if (value === null) return null;
    const retry = sent.clone();
    retry.removeHeader('via');
    const d = this.bDialog;
    const seq = d !== null ? ++d.localSeq : (sent.cseq?.seq ?? 1) + 1;
    retry.setHeader('cseq', `${seq} ${sent.method}`);
    retry.setHeader(proxy ? 'proxy-authorization' : 'authorization', value);
    return retry;
  }

  private sendInDialog(leg: Leg, d: Dialog, req: SipMessage, handler: ClientTransactionHandler, alreadyManipulated = false): ClientTransactionRef {
    if (!alreadyManipulated) {
      this.env.routing.applyOutbound(req, leg === 'A' ? this.src : this.dst, { leg, peerIpGroup: leg === 'A' ? this.dst : this.src, relayedFrom: null });
    }
    this.record(leg, 'out', req);
    return this.env.tx.sendRequest(req, this.destFor(leg, d), this.ifaceFor(leg, d), handler);
  }

  private onPrackFromA(req: SipMessage, stx: ServerTransactionRef): void {
    const rack = (req.getHeader('rack') ?? '').trim().split(/\s+/);
    const aRSeq = Number.parseInt(rack[0] ?? '', 10);
    const rel = this.reliableToA.get(aRSeq);
    if (rel === undefined) return this.respondLocal('A', stx, 481);
    if (rel.timer !== null) clearTimeout(rel.timer);
    this.reliableToA.delete(aRSeq);
    const d = this.bEarly.get(rel.bTag) ?? (this.bDialog?.remoteTag === rel.bTag ? this.bDialog : null);
    if (d === null || this.invite === null) return this.respondLocal('A', stx, 200);
    const prack = d.createRequest('PRACK');
    prack.setHeader('rack', `${rel.bRSeq} ${this.invite.req.cseq?.seq ?? this.bSeq} INVITE`);
    copyEndToEndHeaders(req, prack);
    const relayFinal = (res: SipMessage): void => {
      this.record('B', 'in', res);
      const r = createResponse(req, res.status, res.reason);
      copyEndToEndHeaders(res, r);
      this.sendResponse('A', stx, r, res);
    };
    const send = async (): Promise<void> => {
      if (hasSdp(req)) {
        // An answer to an offer B put in its reliable 1xx.
        const out = await this.processSdp('answer', 'A', req.body);
        if (!('error' in out)) prack.setBody(out.sdp, 'application/sdp');
      }
      this.sendInDialog('B', d, prack, {
        onFinal: (res) => this.enqueue('prack-final', () => relayFinal(res)),
        onTimeout: () => this.enqueue('prack-timeout', () => this.respondLocal('A', stx, 408)),
        onTransportError: () => this.enqueue('prack-error', () => this.respondLocal('A', stx, 503)),
      });
    };
    return void send();
  }

  // --- session timers (RFC 4028) -----------------------------------------------

  private addSessionTimerHeaders(leg: Leg, msg: SipMessage, isResponse = false): void {
    const st = this.sessionTimers[leg];
    if (st === null) return;
    const refresher = st.weRefresh ? (isResponse ? 'uas' : 'uac') : (isResponse ? 'uac' : 'uas');
    msg.setHeader('session-expires', `${st.deltaSec};refresher=${refresher}`);
    if (isResponse && !st.weRefresh) msg.setHeader('require', 'timer');
    else if (!isResponse) msg.setHeader('supported', 'timer');
  }

  /** Leg A: we are the UAS; the caller refreshes when it supports timers, else we do. */
  private negotiateSessionTimerA(res: SipMessage): void {
    const asked = parseSessionExpires(this.aInvite);
    const ours = this.src.profile.sessionExpiresSec;
    if (asked === null && ours <= 0) return;
    const delta = asked?.delta ?? ours;
    const callerCan = hasOptionTag(this.aInvite, 'timer');
    const weRefresh = asked?.refresher === 'uas' || !callerCan;
    this.sessionTimers.A = { deltaSec: delta, weRefresh, timer: null };
    res.setHeader('session-expires', `${delta};refresher=${weRefresh ? 'uas' : 'uac'}`);
    if (!weRefresh) res.setHeader('require', 'timer');
    this.armSessionTimer('A');
  }

  /**
   * A leg where we are the UAC (leg B, or a transfer target): the 2xx says
   * who refreshes; without Session-Expires in it we refresh what we asked for.
   */
  private negotiateSessionTimerUac(leg: Leg, res: SipMessage, askedSec: number): void {
    const got = parseSessionExpires(res);
    if (got === null && askedSec <= 0) return;
    const delta = got?.delta ?? askedSec;
    const weRefresh = got === null || got.refresher !== 'uas';
    this.sessionTimers[leg] = { deltaSec: delta, weRefresh, timer: null };
    this.armSessionTimer(leg);
  }

  private armSessionTimer(leg: Leg): void {
    const st = this.sessionTimers[leg];
    if (st === null || this.ended) return;
    this.clearTimer(st.timer);
    if (st.weRefresh) {
      st.timer = this.setTimer((st.deltaSec * 1000) / 2, () => {
        st.timer = null;
        this.enqueue('session-refresh', () => this.sendSessionRefresh(leg));
      });
    } else {
      // §10: without a refresh, the session ends a little before it expires.
      const margin = Math.min(32, st.deltaSec / 3);
      st.timer = this.setTimer((st.deltaSec - margin) * 1000, () => {
        st.timer = null;
        this.enqueue('session-expired', () => this.terminate('sbc', `session timer expired on leg ${leg}`));
      });
    }
  }

  private noteSessionRefresh(leg: Leg, msg: SipMessage): void {
    const st = this.sessionTimers[leg];
    if (st === null) return;
    const se = parseSessionExpires(msg);
    if (se !== null) st.deltaSec = se.delta;
    this.armSessionTimer(leg);
  }

  private sendSessionRefresh(leg: Leg): void {
    const d = this.dialogOf(leg);
    if (d === null || this.state !== 'confirmed') return;
    if (this.offerInProgress) {
      // Another offer/answer is in flight; it refreshes the session, try again shortly.
      this.armSessionTimer(leg);
      return;
    }
    const peerAllowsUpdate = this.peerAllow[leg].some((m) => m.trim().toUpperCase() === 'UPDATE');
    const method = peerAllowsUpdate ? 'UPDATE' : 'INVITE';
    const req = d.createRequest(method);
    req.setHeader('contact', this.ourContact(leg));
    this.addSessionTimerHeaders(leg, req);
    const sdp = this.lastSdpSent[leg];
    if (method === 'INVITE' && sdp !== null) req.setBody(sdp, 'application/sdp');
    this.offerInProgress = method === 'INVITE';
    this.record(leg, 'event', null, `session refresh by ${method}`);
    this.sendInDialog(leg, d, req, {
      onFinal: (res) => this.enqueue('refresh-final', () => {
        this.record(leg, 'in', res);
        this.offerInProgress = false;
        if (res.status >= 200 && res.status < 300) {
          if (method === 'INVITE') {
            const ack = d.createRequest('ACK', req.cseq?.seq ?? d.localSeq);
            if (!hasSdp(req) && sdp !== null) ack.setBody(sdp, 'application/sdp');
            this.sendAck(leg, d, ack);
          }
          this.noteSessionRefresh(leg, res);
        } else if (res.status === 491) this.armSessionTimer(leg);
        else this.terminate('sbc', `session refresh failed on leg ${leg} (${res.status})`);
      }),
      onTimeout: () => this.enqueue('refresh-timeout', () => { this.offerInProgress = false; this.terminate('sbc', `session refresh timeout on leg ${leg}`); }),
      onTransportError: () => this.enqueue('refresh-error', () => { this.offerInProgress = false; this.terminate('sbc', `session refresh failed on leg ${leg}`); }),
    });
  }

  private startDurationLimit(): void {
    const limits = [this.src.profile.maxCallDurationSec, this.dst?.profile.maxCallDurationSec ?? 0].filter((s) => s > 0);
    if (limits.length === 0) return;
    this.setTimer(Math.min(...limits) * 1000, () => this.enqueue('max-duration', () => this.terminate('sbc', 'max call duration')));
  }

  // --- REFER handled by the SBC (referMode 'local') ----------------------------

  /**
   * RFC 3515 with the SBC as the transferee's agent: 202 to the referrer,
   * a new call (without SDP) toward the Refer-To target through routing,
   * the target's offer sent to the transferee in a re-INVITE and its answer
   * in the target's ACK, then the target's dialog takes the referrer's
   * place. NOTIFY (sipfrag) reports 100 Trying and the outcome; on success
   * the referrer's dialog is BYEd, on failure the call stays as it was.
   */
  private onLocalRefer(leg: Leg, d: Dialog, req: SipMessage, stx: ServerTransactionRef): void {
    if (this.state !== 'confirmed') return this.respondLocal(leg, stx, 403, 'Not Connected');
    if (this.transfer !== null || this.offerInProgress) return this.respondLocal(leg, stx, 491);
    const values = req.getHeaderValues('refer-to');
    const na = values.length === 1 ? parseNameAddr(values[0]!) : null;
    const u = na === null ? null : parseUri(na.uri);
    if (na === null || u === null || (u.scheme !== 'sip' && u.scheme !== 'sips') || u.host.length === 0) {
      return this.respondLocal(leg, stx, 400, 'Bad Refer-To');
    }
    const embedded = uriHeaders(u.headers);
    const requestUri = formatUri({ ...u, headers: '' });
    const y = other(leg);
    // The transferee calls the target: its identity as the other leg saw it.
    const routeReq = SipMessage.request('INVITE', requestUri);
    routeReq.setHeader('from', (y === 'A' ? this.aReq.getHeader('from') : this.aReq.getHeader('to')) ?? `<${requestUri}>`);
    routeReq.setHeader('to', formatNameAddr({ displayName: na.displayName, uri: requestUri, params: new Map(), angle: true }));
    routeReq.setHeader('call-id', newCallId());
    routeReq.setHeader('cseq', '1 INVITE');
    copyEndToEndHeaders(req, routeReq);
    let r: ReturnType<CallEnv['routing']['route']>;
    try {
      r = this.env.routing.route(routeReq, this.groupOf(y) ?? this.src, 0, null);
    } catch (err) {
      this.log.error({ err }, 'routing of the REFER target failed');
      r = { reject: 500 };
    }
    if (r === null) return this.respondLocal(leg, stx, 404, 'No Route');
    if ('reject' in r) return this.respondLocal(leg, stx, r.reject);
    if (!this.env.claimGroup(r.dstIpGroup)) return this.respondLocal(leg, stx, 503, 'Call Limit Reached');
    this.record(leg, 'event', null, `REFER handled locally: ${requestUri} -> ${r.dstIpGroup?.name ?? '-'} ${r.dest.address}:${r.dest.port}/${r.dest.transport}`);

    const accepted = createResponse(req, 202, 'Accepted');
    accepted.setHeader('contact', this.ourContact(leg));
    this.sendResponse(leg, stx, accepted, null);

    const host = r.dstIpGroup?.sipGroupName ?? uriHost(r.dest.address);
    const inv = SipMessage.request('INVITE', r.requestUri);
    inv.setHeader('max-forwards', '70');
    inv.setHeader('from', `${rehomeNameAddr(routeReq.getHeader('from'), host)};tag=${newTag()}`);
    inv.setHeader('to', rehomeNameAddr(routeReq.getHeader('to'), host));
    inv.setHeader('call-id', newCallId());
    inv.setHeader('cseq', '1 INVITE');
    const addr = this.env.local.contactAddress(r.interfaceName, r.dest.transport) ?? { address: '127.0.0.1', port: 5060 };
    inv.setHeader('contact', contactValue(userOf(routeReq.getHeader('from')), addr.address, addr.port, r.dest.transport));
    copyEndToEndHeaders(routeReq, inv);
    inv.removeHeader('refer-to');
    for (const [name, value] of embedded) if (name === 'replaces' || name === 'require') inv.setHeader(name, value);
    if (!inv.hasHeader('allow')) inv.setHeader('allow', ALLOW);
    this.env.routing.applyOutbound(inv, r.dstIpGroup, { leg, peerIpGroup: this.groupOf(y), relayedFrom: routeReq });

    const t: LocalTransfer = {
      referrer: leg, referDialog: d, referrerGone: false, target: r, groupClaimed: true, req: inv, ctx: null,
      finalReceived: false, answered: null, ack: null, ackDest: null,
    };
    this.transfer = t;
    this.sendNotify(leg, d, '100 Trying', false);
    this.record(leg, 'out', inv, 'INVITE to the transfer target');
    t.ctx = this.env.tx.sendRequest(inv, r.dest, r.interfaceName, {
      onProvisional: (res) => this.enqueue('transfer-1xx', () => this.record(leg, 'in', res, 'transfer target')),
      // 'late': a 2xx after the call ended must still be ACKed and BYEd.
      onFinal: (res) => this.enqueue('late', () => this.onTransferFinal(t, res)),
      onAdditional2xx: (res) => this.enqueue('late', () => this.onTransferLate2xx(t, res)),
      onTimeout: () => this.enqueue('transfer-timeout', () => {
        t.finalReceived = true;
        this.transferFailed(t, 408, 'Request Timeout');
      }),
      onTransportError: () => this.enqueue('transfer-error', () => {
        t.finalReceived = true;
        this.transferFailed(t, 503, 'Service Unavailable');
      }),
    });
  }

  private sendNotify(leg: Leg, d: Dialog, sipfrag: string, final: boolean, done?: () => void): void {
    const n = d.createRequest('NOTIFY');
    n.setHeader('contact', this.contactFor(leg, d));
    n.setHeader('event', 'refer');
    n.setHeader('subscription-state', final ? 'terminated;reason=noresource' : 'active;expires=60');
    n.setBody(Buffer.from(`SIP/2.0 ${sipfrag}\r\n`, 'utf8'), 'message/sipfrag;version=2.0');
    const after = (): void => {
      if (done !== undefined) this.enqueue('late', done);
    };
    this.sendInDialog(leg, d, n, {
      onFinal: (res) => {
        this.record(leg, 'in', res);
        after();
      },
      onTimeout: after,
      onTransportError: after,
    });
  }

  /** Our Contact on a dialog that a transfer retired keeps the address that dialog used. */
  private contactFor(leg: Leg, d: Dialog): string {
    const r = this.dialogRoutes.get(d);
    if (r === undefined) return this.ourContact(leg);
    const addr = this.env.local.contactAddress(r.iface, r.transport) ?? { address: '127.0.0.1', port: 5060 };
    const user = d.role === 'uas' ? userOf(this.aInvite.getHeader('to')) : userOf(this.aReq.getHeader('from'));
    return contactValue(user, addr.address, addr.port, r.transport);
  }

  private onTransferLate2xx(t: LocalTransfer, res: SipMessage): void {
    this.record(t.referrer, 'in', res, 'additional 2xx from the transfer target');
    if (t.answered !== null && res.toTag === t.answered.toTag) {
      // A retransmission: the ACK again, to where the first one went.
      if (t.ack !== null && t.ackDest !== null) void this.env.tx.sendStateless(t.ack, t.ackDest, t.target.interfaceName).catch(() => {});
      return;
    }
    this.ackAndBye(t, res, t.referrer, 'a second transfer target fork');
  }

  private async onTransferFinal(t: LocalTransfer, res: SipMessage): Promise<void> {
    const x = t.referrer;
    this.record(x, 'in', res, 'transfer target');
    const ok = res.status >= 200 && res.status < 300;
    if (t !== this.transfer || this.ended) {
      if (ok) this.ackAndBye(t, res, x, 'an abandoned transfer');
      return;
    }
    t.finalReceived = true;
    if (!ok) return this.transferFailed(t, res.status, res.reason);
    t.answered = res;
    const td = Dialog.fromResponse(t.req, res);
    if (td === null || !hasSdp(res)) {
      this.ackAndBye(t, res, x, 'an unusable transfer answer');
      return this.transferFailed(t, td === null ? 502 : 488, td === null ? 'Bad Gateway' : 'Not Acceptable Here');
    }
    const offer = await this.processSdp('offer', x, res.body);
    if (this.ended || t !== this.transfer) {
      this.ackAndBye(t, res, x, 'an abandoned transfer');
      return;
    }
    if ('error' in offer) {
      this.ackAndBye(t, res, x, 'a transfer target with unusable media');
      return this.transferFailed(t, offer.sipStatus, offer.error);
    }
    const y = other(x);
    const yd = this.dialogOf(y);
    if (yd === null || this.offerInProgress) {
      this.ackAndBye(t, res, x, 'a transfer that met another offer');
      return this.transferFailed(t, 491, 'Request Pending');
    }
    // The transferee gets the target's offer; its answer goes into the target's ACK.
    this.offerInProgress = true;
    const reinvite = yd.createRequest('INVITE');
    reinvite.setHeader('contact', this.ourContact(y));
    this.addSessionTimerHeaders(y, reinvite);
    reinvite.setBody(offer.sdp, 'application/sdp');
    this.lastSdpSent[y] = offer.sdp;
    const fail = (status: number, reason: string): void => {
      this.offerInProgress = false;
      this.ackAndBye(t, res, x, 'a transfer the transferee refused');
      this.transferFailed(t, status, reason);
    };
    this.sendInDialog(y, yd, reinvite, {
      onFinal: (r) => this.enqueue('transfer-reinvite', () => this.onTransferReinviteFinal(t, td, yd, reinvite, r, fail)),
      onTimeout: () => this.enqueue('transfer-reinvite', () => {
        fail(408, 'Request Timeout');
        this.terminate(y, 're-INVITE timeout');
      }),
      onTransportError: () => this.enqueue('transfer-reinvite', () => {
        fail(503, 'Service Unavailable');
        this.terminate(y, 're-INVITE transport error');
      }),
    });
  }

  private async onTransferReinviteFinal(
    t: LocalTransfer, td: Dialog, yd: Dialog, reinvite: SipMessage, r: SipMessage, fail: (status: number, reason: string) => void,
  ): Promise<void> {
    const x = t.referrer;
    const y = other(x);
    this.record(y, 'in', r);
    if (r.status < 200 || r.status >= 300) return fail(r.status, r.reason);
    const ack = yd.createRequest('ACK', reinvite.cseq?.seq ?? yd.localSeq);
    ack.setHeader('contact', this.ourContact(y));
    this.sendAck(y, yd, ack);
    yd.refreshTarget(r);
    if (!hasSdp(r)) return fail(488, 'Not Acceptable Here');
    const answer = await this.processSdp('answer', y, r.body);
    if (this.ended || t !== this.transfer) return;
    if ('error' in answer) return fail(answer.sipStatus, answer.error);
    this.offerInProgress = false;
    const tack = td.createRequest('ACK', t.req.cseq?.seq ?? 1);
    tack.setHeader('contact', this.ourContact(x));
    tack.setBody(answer.sdp, 'application/sdp');
    this.completeTransfer(t, td, tack, answer.sdp);
  }

  private completeTransfer(t: LocalTransfer, td: Dialog, tack: SipMessage, answer: Buffer): void {
    const x = t.referrer;
    const old = t.referDialog;
    // The old dialog keeps its own addressing for the NOTIFY and BYE still to come.
    const oldRoute: DialogRoute = {
      dest: this.destFor(x, old), iface: this.ifaceFor(x, old),
      transport: this.dialogRoutes.get(old)?.transport ?? (x === 'A' ? this.aInbound.local.transport : this.target!.dest.transport),
    };
    this.dialogRoutes.set(td, { dest: t.target.dest, iface: t.target.interfaceName, transport: t.target.dest.transport });
    if (t.referrerGone) this.env.unregisterDialog(old);
    else {
      this.dialogRoutes.set(old, oldRoute);
      this.retired.set(old, x);
    }
    if (x === 'A') {
      this.aDialog = td;
      this.aReplacement = t.target;
      this.extraGroups.push(t.target.dstIpGroup);
    } else {
      this.bDialog = td;
      if (this.dstCounted) this.env.releaseGroup(this.dst);
      this.dst = t.target.dstIpGroup;
      this.dstCounted = true;
      this.target = t.target;
    }
    t.groupClaimed = false;
    this.env.registerDialog(td, this, x);
    t.ack = tack;
    t.ackDest = this.destFor(x, td);
    this.sendAck(x, td, tack);
    this.lastSdpSent[x] = answer;
    const st = this.sessionTimers[x];
    if (st !== null) this.clearTimer(st.timer);
    this.sessionTimers[x] = null;
    this.negotiateSessionTimerUac(x, t.answered!, 0);
    this.peerAllow[x] = t.answered!.getHeaderValues('allow');
    this.transfer = null;
    this.record(x, 'event', null, 'transfer complete');
    if (!t.referrerGone) this.sendNotify(x, old, '200 OK', true, () => this.byeRetired(x, old));
  }

  private transferFailed(t: LocalTransfer, status: number, reason: string): void {
    if (this.transfer !== t) return;
    this.transfer = null;
    if (t.groupClaimed) this.env.releaseGroup(t.target.dstIpGroup);
    t.groupClaimed = false;
    this.record(t.referrer, 'event', null, `transfer failed: ${status}`);
    if (t.referrerGone) return this.terminate('sbc', `transfer failed (${status}) after the referrer hung up`);
    this.sendNotify(t.referrer, t.referDialog, `${status} ${reason}`, true);
  }

  /** The referrer hung up before the transfer completed (blind transfer): the call lives on. */
  private onReferrerGone(t: LocalTransfer): void {
    t.referrerGone = true;
    t.referDialog.state = 'terminated';
    this.record(t.referrer, 'event', null, 'referrer hung up during the transfer');
  }

  /** The call ends while a transfer is under way. */
  private abortTransfer(): void {
    const t = this.transfer;
    if (t === null) return;
    this.transfer = null;
    if (!t.finalReceived && t.ctx !== null) this.env.tx.cancel(t.ctx, [['Reason', 'SIP;cause=487;text="Request Terminated"']]);
    else if (t.answered !== null) this.ackAndBye(t, t.answered, t.referrer, 'an abandoned transfer');
    if (t.groupClaimed) this.env.releaseGroup(t.target.dstIpGroup);
    t.groupClaimed = false;
  }

  private retiredDialogFor(req: SipMessage): Dialog | null {
    if (this.retired.size === 0) return null;
    const tag = req.toTag;
    for (const d of this.retired.keys()) if (d.callId === req.callId && d.localTag === tag) return d;
    return null;
  }

  private onRetiredRequest(leg: Leg, d: Dialog, req: SipMessage, stx: ServerTransactionRef): void {
    if (req.method !== 'BYE') return this.respondLocal(leg, stx, 481);
    this.respondLocal(leg, stx, 200);
    d.state = 'terminated';
    this.dropRetired(d);
  }

  private byeRetired(leg: Leg, d: Dialog): void {
    if (!this.retired.has(d) || d.state !== 'confirmed') return;
    d.state = 'terminated';
    const bye = d.createRequest('BYE');
    const done = (): void => this.dropRetired(d);
    this.sendInDialog(leg, d, bye, {
      onFinal: (res) => {
        this.record(leg, 'in', res);
        done();
      },
      onTimeout: done,
      onTransportError: done,
    });
  }

  private dropRetired(d: Dialog): void {
    if (!this.retired.delete(d)) return;
    this.dialogRoutes.delete(d);
    this.env.unregisterDialog(d);
  }

  // --- ending -----------------------------------------------------------------

  private sendBye(leg: Leg): void {
    const d = this.dialogOf(leg);
    if (d === null || d.state !== 'confirmed') return;
    d.state = 'terminated';
    const bye = d.createRequest('BYE');
    const tried = new Set<string>();
    const handler: ClientTransactionHandler = {
      onFinal: (res) => {
        this.record(leg, 'in', res);
        if ((res.status === 401 || res.status === 407) && leg === 'B') {
          const retry = this.authorize(bye, res, tried);
          if (retry !== null) this.sendInDialog(leg, d, retry, handler, true);
        }
      },
      onTimeout: () => this.record(leg, 'event', null, 'BYE timeout'),
      onTransportError: () => this.record(leg, 'event', null, 'BYE transport error'),
    };
    this.sendInDialog(leg, d, bye, handler);
  }

  /**
   * Ends the call from any state: BYE to every confirmed leg except the one
   * that hung up, CANCEL or a final response to legs still setting up.
   */
  terminate(side: TerminationSide, reason: string, statusToA = 503): void {
    if (this.ended) return;
    if (this.terminationReason === '') {
      this.terminationSide = side;
      this.terminationReason = reason;
    }
    this.record('-', 'event', null, `terminate: ${side} ${reason}`);
    if (this.aStx !== null && this.aFinalStatus === 0) {
      this.cancelled = true;
      this.rejectA(statusToA);
    }
    if (side !== 'A') this.sendBye('A');
    if (side !== 'B') this.sendBye('B');
    if (this.bDialog === null) this.sendCancelB();
    this.finish(reason);
  }

  /** Releases everything the call holds and writes its CDR. Idempotent. */
  finish(reason?: string): void {
    if (this.ended) return;
    if (reason !== undefined && this.terminationReason === '') this.terminationReason = reason;
    this.state = 'ended';
    this.endTime = Date.now();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.stopReliableRetransmissions();
    this.sessionTimers.A = null;
    this.sessionTimers.B = null;
    this.abortTransfer();
    for (const [d, leg] of [...this.retired]) {
      if (d.state === 'confirmed') this.byeRetired(leg, d);
      else this.dropRetired(d);
    }
    for (const g of this.extraGroups) this.env.releaseGroup(g);
    this.extraGroups.length = 0;
    if (this.aStx !== null && this.aFinalStatus === 0) this.rejectA(500);
    if (this.aDialog !== null) this.env.unregisterDialog(this.aDialog);
    if (this.bDialog !== null) this.env.unregisterDialog(this.bDialog);
    else if (this.bEarly.size > 0) this.env.unregisterDialog(this.bEarly.values().next().value!);
    this.bEarly.clear();
    if (this.dstCounted) this.env.releaseGroup(this.dst);
    this.dstCounted = false;
    let qoe: unknown;
    if (this.media !== null) {
      try {
        qoe = this.media.stats();
        this.media.close();
      } catch (err) {
        this.log.warn({ err }, 'media close failed');
      }
      this.media = null;
    }
    const cdr = this.buildCdr(qoe);
    this.log.info({ status: cdr.sipStatus, side: cdr.terminationSide, reason: cdr.terminationReason, durationSec: cdr.durationSec }, 'call ended');
    this.env.callEnded(this, cdr);
  }

  private buildCdr(qoe: unknown): CallDetailRecord {
    const end = this.endTime ?? Date.now();
    const rec: CallDetailRecord = {
      callId: this.id,
      legACallId: this.aInvite.callId,
      legBCallId: this.bCallId,
      srcIpGroup: this.src.name,
      dstIpGroup: this.dst?.name ?? null,
      caller: userOf(this.aReq.getHeader('from')),
      callee: userOf(this.aReq.requestUri) || userOf(this.aReq.getHeader('to')),
      setupTime: new Date(this.setupTime).toISOString(),
      connectTime: this.connectTime === null ? null : new Date(this.connectTime).toISOString(),
      endTime: new Date(end).toISOString(),
      durationSec: this.connectTime === null ? 0 : Math.round((end - this.connectTime) / 1000),
      terminationSide: this.terminationSide,
      terminationReason: this.terminationReason,
      sipStatus: this.aFinalStatus,
      altRouteAttempts: this.attempt,
      redirects3xx: this.redirects,
      timeline: this.timelineDropped > 0
        ? [...this.timeline, { t: end, leg: '-', dir: 'event', note: `${this.timelineDropped} events not recorded` }]
        : this.timeline,
    };
    if (qoe !== undefined) rec.qoe = qoe;
    return rec;
  }

  // --- where requests go --------------------------------------------------------

  private ifaceFor(leg: Leg, d?: Dialog | null): string {
    const r = d === undefined || d === null ? undefined : this.dialogRoutes.get(d);
    if (r !== undefined) return r.iface;
    if (leg === 'A') return this.aReplacement?.interfaceName ?? this.aInbound.interfaceName;
    return this.target!.interfaceName;
  }

  private groupOf(leg: Leg): IpGroupRef | null {
    return leg === 'A' ? this.src : this.dst;
  }

  /**
   * Leg A: back where the caller's requests came from (works through NAT
   * and reuses its TCP connection). Leg B: the top route or the remote
   * target when it is an address, otherwise the routed destination.
   */
  private destFor(leg: Leg, d: Dialog, fallback?: Endpoint): Endpoint {
    const r = this.dialogRoutes.get(d);
    if (r !== undefined) return d.role === 'uas' ? r.dest : endpointOfUri(d.nextHopUri, r.dest);
    if (leg === 'A') return this.aInbound.remote;
    return endpointOfUri(d.nextHopUri, fallback ?? this.target!.dest);
  }
}

/** The `name=value` pairs of a URI's headers part (RFC 3261 §19.1.1), names lower-case, values unescaped. */
function uriHeaders(headers: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (headers.length === 0) return out;
  for (const part of headers.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      out.push([decodeURIComponent(part.slice(0, eq)).toLowerCase(), decodeURIComponent(part.slice(eq + 1))]);
    } catch {
      // A broken escape: that header is left out.
    }
  }
  return out;
}

function qOf(na: { params: Map<string, string | null> }): number {
  const q = na.params.get('q');
  const n = q === undefined || q === null ? 1 : Number.parseFloat(q);
  return Number.isFinite(n) ? n : 0;
}

/** The endpoint a URI names when its host is an IP literal; `fallback` otherwise. */
export function endpointOfUri(uriText: string, fallback: Endpoint): Endpoint {
  const u = parseUri(uriText);
  if (u === null || u.host.length === 0) return fallback;
  const host = bareHost(u.host);
  if (!isIpLiteral(host)) return fallback;
  const tp = (u.params.get('transport') ?? '').toLowerCase();
  const transport: Transport = u.scheme === 'sips' || tp === 'tls' ? 'tls' : tp === 'tcp' ? 'tcp' : tp === 'udp' ? 'udp' : fallback.transport;
  const port = u.port ?? (transport === 'tls' ? 5061 : 5060);
  return { address: host, port, transport };
}

function isIpLiteral(host: string): boolean {
  if (host.indexOf(':') >= 0) return true;
  let dots = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 46) dots++;
    else if (c < 48 || c > 57) return false;
  }
  return dots === 3;
}

