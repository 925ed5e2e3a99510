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
import { parseNameAddr } from '../sip/grammar.js';
import { SipMessage } from '../sip/message.js';
import { createResponse, newCallId, newTag } from '../sip/response.js';
import { bareHost, parseUri, uriHost } from '../sip/uri.js';
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
    return (this.aDialog !== null ? 1 : 0) + (this.bDialog !== null ? 1 : this.bEarly.size);
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
    if (leg === 'A') {
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
    if (prack === 'local' || (prack === 'transparent' && this.aSupports100rel)) supported.push('100rel');
    const se = this.dst?.profile.sessionExpiresSec ?? 0;
    if (se > 0 || this.aInvite.hasHeader('session-expires')) supported.push('timer');
    if (supported.length > 0) req.setHeader('supported', supported.join(', '));
    if (prack === 'transparent' && this.aInvite.getHeaderValues('require').some((t) => t.trim().toLowerCase() === '100rel')) {
      req.setHeader('require', '100rel');
    }
    if (se > 0) {
      req.setHeader('session-expires', String(se));
      req.setHeader('min-se', String(this.dst?.profile.minSeSec ?? 90));
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
    const relayReliably = reliable && d !== null && prack === 'transparent' && this.aSupports100rel;

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
      } else if (relayReliably) {
        const out = await this.processSdp('offer', 'B', res.body);
        if (!('error' in out)) body = out.sdp;
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
    this.bSeq = attempt.req.cseq?.seq ?? this.bSeq;
    d.localSeq = this.bSeq;
    if (this.cancelled || this.aStx === null) {
      // CANCEL crossed the 200: confirm and hang up leg B.
      this.ackB(null);
      this.sendBye('B');
      return this.finish('cancelled by caller');
    }
    let body: Buffer | null = null;
    if (hasSdp(res)) {
      const raw = res.body.toString('utf8');
      if (this.inviteHadOffer) {
        if (this.lastAnswerFromB !== null && this.lastAnswerFromB.raw === raw) body = this.lastAnswerFromB.out;
        else {
          const out = await this.processSdp('answer', 'B', res.body);
          if ('error' in out) {
            this.ackB(null);
            this.sendBye('B');
            this.rejectA(out.sipStatus, out.error);
            return this.finish(`media: ${out.error}`);
          }
          body = out.sdp;
        }
      } else {
        const out = await this.processSdp('offer', 'B', res.body);
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
    this.negotiateSessionTimerB(res);
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
    const ack = d.createRequest('ACK', d.localSeq);
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

  private ackAndBye(attempt: InviteAttempt, res: SipMessage): void {
    const d = Dialog.fromResponse(attempt.req, res);
    if (d === null) return;
    const ack = d.createRequest('ACK', attempt.req.cseq?.seq ?? 1);
    this.record('B', 'out', ack, 'ACK for a losing fork');
    const dest = this.destFor('B', d, attempt.target.dest);
    void this.env.tx.sendStateless(ack, dest, attempt.target.interfaceName).catch(() => {});
    const bye = d.createRequest('BYE');
    this.record('B', 'out', bye, 'BYE for a losing fork');
    this.env.tx.sendRequest(bye, dest, attempt.target.interfaceName, {
      onFinal: (r) => this.record('B', 'in', r), onTimeout: () => {}, onTransportError: () => {},
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
    void this.env.tx.sendStateless(ack, this.destFor(leg, d), this.ifaceFor(leg)).catch(() => {});
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
    const from = leg === 'A' ? this.aDialog : this.bDialogFor(req);
    if (from === null) return this.respondLocal(leg, stx, 481);
    if (!from.acceptRemoteSeq(req)) return this.respondLocal(leg, stx, 500, 'CSeq Out of Order');
    const method = req.method;
    if (method === 'BYE') {
      this.respondLocal(leg, stx, 200);
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
    if (method === 'REFER' && (leg === 'A' ? this.src : this.dst)?.profile.referMode === 'local') {
      // Local REFER handling is not implemented yet: the relay is the safe fallback.
      this.record(leg, 'event', null, 'referMode=local not implemented; relaying');
    }
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
    return this.env.tx.sendRequest(req, this.destFor(leg, d), this.ifaceFor(leg), handler);
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

  /** Leg B: we are the UAC; the 2xx says who refreshes, and without an answer we refresh ourselves. */
  private negotiateSessionTimerB(res: SipMessage): void {
    const ours = this.dst?.profile.sessionExpiresSec ?? 0;
    const got = parseSessionExpires(res);
    if (got === null && ours <= 0) return;
    const delta = got?.delta ?? ours;
    const weRefresh = got === null || got.refresher !== 'uas';
    this.sessionTimers.B = { deltaSec: delta, weRefresh, timer: null };
    this.armSessionTimer('B');
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

  private ifaceFor(leg: Leg): string {
    return leg === 'A' ? this.aInbound.interfaceName : this.target!.interfaceName;
  }

  /**
   * Leg A: back where the caller's requests came from (works through NAT
   * and reuses its TCP connection). Leg B: the top route or the remote
   * target when it is an address, otherwise the routed destination.
   */
  private destFor(leg: Leg, d: Dialog, fallback?: Endpoint): Endpoint {
    if (leg === 'A') return this.aInbound.remote;
    return endpointOfUri(d.nextHopUri, fallback ?? this.target!.dest);
  }
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

