/**
 * Leg B's creation: routing (first route and alternatives), the INVITE we build from leg A's manipulated
 * INVITE, its retries (digest challenge, 422, local 3xx redirect), forks and early dialogs, the no-answer
 * timer, and CANCEL from the caller. What the caller hears is caller.ts.
 */
import { Dialog } from '../dialog/dialog.js';
import { buildDigestAuthorization, pickDigestChallenge } from '../sip/digest.js';
import { parseNameAddr } from '../sip/grammar.js';
import { SipMessage } from '../sip/message.js';
import { newCallId } from '../sip/response.js';
import { isSuccess, SipStatus } from '../sip/status.js';
import { parseUri, uriHost } from '../sip/uri.js';
import { endpointOfUri, legRoute, qOf } from './addressing.js';
import type { CallCore } from './call-core.js';
import type { CallerInvite } from './caller.js';
import {
  ALLOW, copyEndToEndHeaders, maxForwards, rehomeNameAddr, setCSeq, setMaxForwards, setMinSe, setSessionExpires, userOf,
} from './headers.js';
import type { InviteAttempt } from './leg.js';
import type { ClientTransactionHandler, RouteFailure, RouteResult, RouteTarget, RouteWalk } from './ports.js';

/** What the caller hears when the last route failed without a response of its own. */
const failureStatus = (f: RouteFailure): number =>
  f === 'timeout' ? SipStatus.REQUEST_TIMEOUT : f === 'transport-error' ? SipStatus.SERVICE_UNAVAILABLE : f ?? SipStatus.SERVER_INTERNAL_ERROR;

export class LegBSetup {
  private walk: RouteWalk | null = null;
  /** The offer as sent to B (kept for alternative routes and retries). */
  private offerToB: Buffer | null = null;
  private authNonces: Set<string> | null = null;
  /** Session-Expires/Min-SE toward leg B after a 422 (RFC 4028 §7.4); null = the profile's. */
  private sessionExpires: number | null = null;
  private minSe: number | null = null;
  private noAnswerTimer: NodeJS.Timeout | null = null;

  constructor(private readonly call: CallCore, private readonly caller: CallerInvite) {}

  start(): Promise<void> {
    return this.routeAttempt(null);
  }

  /** Connected: no alternative route or retry follows, so the route walk and the offer go. */
  settle(): void { this.walk = this.offerToB = null; }

  /** Asks routing for the next destination and places the leg-B INVITE there, or fails leg A. */
  private async routeAttempt(lastFailure: RouteFailure, lastResponse: SipMessage | null = null): Promise<void> {
    const call = this.call;
    if (call.cancelled) return call.finish();
    const attempt = lastFailure === null ? 0 : call.outcome.attempt + 1;
    let r: RouteResult;
    try {
      if (lastFailure === null || this.walk === null) this.walk = call.routing.routeWalk(call.aReq, call.src);
      r = this.walk.next(lastFailure);
    } catch (err) {
      call.log.error({ err }, 'routing failed');
      r = { reject: SipStatus.SERVER_INTERNAL_ERROR };
    }
    if (r === null) {
      call.record('-', 'event', null, lastFailure === null ? 'no route' : `no alternative route after ${lastFailure}`);
      call.outcome.noteSide(lastFailure === null ? 'sbc' : 'B');
      if (lastFailure === null) this.caller.reject(SipStatus.NOT_FOUND, 'No Route');
      else this.caller.reject(failureStatus(lastFailure), lastResponse?.reason, lastResponse);
      return call.finish(lastFailure === null ? 'no route' : `leg B failed: ${lastFailure}`);
    }
    if ('reject' in r) {
      call.outcome.noteRoute(r.ruleName ?? null);
      call.record('-', 'event', null, `routing rejected with ${r.reject}`);
      this.caller.reject(r.reject);
      return call.finish(`routing rejected with ${r.reject}`);
    }
    call.outcome.noteAttempt(attempt);
    call.outcome.noteRoute(r.ruleName ?? null);
    const local = call.env.local.contactAddress(r.interfaceName, r.dest.transport);
    if (local === null) {
      // No listener for that transport on that SIP Interface: nothing could reach us back.
      call.log.error({ sipInterface: r.interfaceName, transport: r.dest.transport }, 'route refused: no listener for its transport');
      call.record('B', 'event', null, `route ${attempt} refused: no ${r.dest.transport} listener on ${r.interfaceName}`);
      return this.routeAttempt(SipStatus.SERVICE_UNAVAILABLE, null);
    }
    call.record('B', 'event', null, `route ${attempt}: ${r.ruleName ?? ''} -> ${r.dstIpGroup?.name ?? '-'} ${r.dest.address}:${r.dest.port}/${r.dest.transport}`);
    if (!call.claimDestination(r.dstIpGroup)) {
      call.record('-', 'event', null, `call limit of ${r.dstIpGroup?.name}`);
      this.caller.reject(SipStatus.SERVICE_UNAVAILABLE, 'Call Limit Reached');
      return call.finish('destination call limit');
    }
    const legB = call.legs.B;
    legB.routeTo(legRoute(r.interfaceName, r.dest.transport, r.dest, false, userOf(call.aReq.getHeader('from')), local), r.dstIpGroup);
    if (call.openMedia() && call.inviteHadOffer) {
      const out = await call.processSdp('offer', 'A', call.inviteA.body);
      if (call.ended || call.cancelled) return call.finish();
      if ('error' in out) {
        this.caller.reject(out.sipStatus, out.error);
        return call.finish(`media: ${out.error}`);
      }
      this.offerToB = out.sdp;
    }
    call.useLegBCallId(call.dst?.keepOriginalCallId ? call.inviteA.callId : newCallId());
    legB.renewTag();
    legB.clearEarly();
    this.sendInvite(r, r.requestUri, null);
  }

  private buildInvite(target: RouteTarget, requestUri: string): SipMessage {
    const call = this.call;
    const legB = call.legs.B;
    const aReq = call.aReq;
    const dst = call.dst;
    const host = dst?.sipGroupName ?? uriHost(target.dest.address);
    const req = SipMessage.request('INVITE', requestUri);
    setMaxForwards(req, Math.min(maxForwards(aReq) - 1, call.routing.maxForwardsLimit ?? 255));
    req.setHeader('from', `${rehomeNameAddr(aReq.getHeader('from'), host)};tag=${legB.tag}`);
    req.setHeader('to', rehomeNameAddr(aReq.getHeader('to'), host));
    req.setHeader('call-id', call.legBCallId!);
    setCSeq(req, legB.inviteSeq, 'INVITE');
    req.setHeader('contact', legB.contact);
    copyEndToEndHeaders(aReq, req);
    if (!req.hasHeader('allow')) req.setHeader('allow', ALLOW);
    const supported: string[] = [];
    const prack = dst?.profile.prackMode ?? call.src.profile.prackMode;
    // Local PRACK cannot answer an offer in a reliable 1xx when A can get
    // that offer only in the 2xx (no SDP in A's INVITE, no 100rel on A):
    // the PRACK must carry the answer (RFC 3262 §5) and B holds its 2xx until PRACK.
    const localPrackOk = call.inviteHadOffer || call.aSupports100rel;
    if ((prack === 'local' && localPrackOk) || (prack === 'transparent' && call.aSupports100rel)) supported.push('100rel');
    const se = this.askedSessionExpires;
    if (se > 0 || call.inviteA.hasHeader('session-expires')) supported.push('timer');
    if (supported.length > 0) req.setHeader('supported', supported.join(', '));
    if (prack === 'transparent' && call.inviteA.getHeaderValues('require').some((t) => t.trim().toLowerCase() === '100rel')) {
      req.setHeader('require', '100rel');
    }
    if (se > 0) {
      setSessionExpires(req, se, null);
      setMinSe(req, this.minSe ?? dst?.profile.minSeSec ?? 90);
    }
    if (this.offerToB !== null) req.setBody(this.offerToB, 'application/sdp');
    return req;
  }

  /** Session-Expires we ask leg B for (0: none). */
  private get askedSessionExpires(): number {
    return this.sessionExpires ?? this.call.dst?.profile.sessionExpiresSec ?? 0;
  }

  private sendInvite(target: RouteTarget, requestUri: string, authorization: [string, string] | null): void {
    const call = this.call;
    const req = this.buildInvite(target, requestUri);
    if (authorization !== null) req.setHeader(authorization[0], authorization[1]);
    call.applyOutbound(req, 'B', call.aReq);
    const attempt: InviteAttempt = { ctx: null, req, target, finalReceived: false, provisionalSeen: false, cancelSent: false };
    call.legs.B.startInvite(attempt);
    call.advance('calling');
    call.oa.apply({ type: 'offer', offerer: 'A', toward: 'B', via: this.offerToB !== null ? 'initial-INVITE' : 'initial-solicit' });
    const handler: ClientTransactionHandler = {
      onProvisional: (res) => call.enqueue('1xx', () => this.onProvisional(attempt, res)),
      onFinal: (res) => call.enqueue('final', () => this.onFinal(attempt, res)),
      onAdditional2xx: (res) => call.enqueue('late', () => this.onLate2xx(res)),
      onTimeout: () => call.enqueue('timeout', () => this.onFailure(attempt, 'timeout', null)),
      onTransportError: (err) => call.enqueue('transport-error', () => {
        call.log.warn({ err: err.message }, 'leg B transport error');
        return this.onFailure(attempt, 'transport-error', null);
      }),
    };
    call.record('B', 'out', req);
    attempt.ctx = call.env.tx.sendRequest(req, target.dest, target.interfaceName, handler);
    this.armNoAnswerTimer();
  }

  /** Each new leg-B INVITE (alternative route, redirect) gets the full no-answer time (Mediant SBCAlertTimeout). */
  private armNoAnswerTimer(): void {
    const sec = this.call.dst?.profile.noAnswerTimeoutSec ?? 0;
    this.stopNoAnswerTimer();
    if (!(sec > 0)) return;
    this.noAnswerTimer = this.call.setTimer(sec * 1000, () => {
      this.noAnswerTimer = null;
      this.call.enqueue('no-answer', () => this.onNoAnswer(sec));
    });
  }

  private stopNoAnswerTimer(): void {
    this.call.clearTimer(this.noAnswerTimer);
    this.noAnswerTimer = null;
  }

  /**
   * Like a CANCEL from the caller: 408 to A at once, CANCEL on leg B, the call ends on B's final (a 2xx crossing
   * the CANCEL is ACKed and BYEd). A B that never answers the CANCEL does not keep the call beyond 64*T1.
   */
  private onNoAnswer(sec: number): void {
    const call = this.call;
    if (call.state === 'confirmed' || call.legs.A.inviteServer === null) return;
    call.record('B', 'event', null, `no answer within ${sec} s`);
    call.markCancelled();
    call.outcome.noteTermination('sbc', 'no answer');
    this.caller.reject(SipStatus.REQUEST_TIMEOUT, 'No Answer');
    const inv = call.legs.B.invite;
    if (inv === null || inv.finalReceived) return call.finish('no answer');
    this.sendCancel();
    call.setTimer(64 * call.env.t1Ms, () => call.enqueue('cancel-timeout', () => call.finish('no answer')));
  }

  /** The early dialog of the fork that sent `res` (§13.2.2.4: one per To tag). */
  private earlyDialogFor(attempt: InviteAttempt, res: SipMessage): Dialog | null {
    const tag = res.toTag;
    if (tag === null) return null;
    const legB = this.call.legs.B;
    let d = legB.earlyDialog(tag);
    if (d === undefined) {
      const created = Dialog.fromResponse(attempt.req, res);
      if (created === null) return null;
      d = created;
      // Every fork shares Call-ID and our tag: the manager's map needs the first one only.
      if (legB.earlyCount === 0) this.call.env.registerDialog(d, this.call, 'B');
      legB.addEarlyDialog(d);
    } else d.updateFromResponse(res);
    return d;
  }

  private async onProvisional(attempt: InviteAttempt, res: SipMessage): Promise<void> {
    const call = this.call;
    call.record('B', 'in', res);
    if (attempt !== call.legs.B.invite || attempt.finalReceived) return;
    attempt.provisionalSeen = true;
    if (call.cancelled) {
      this.sendCancel();
      return;
    }
    if (res.status === SipStatus.TRYING) return;
    const d = this.earlyDialogFor(attempt, res);
    await this.caller.relayProvisional(attempt, res, d);
  }

  private async onFinal(attempt: InviteAttempt, res: SipMessage): Promise<void> {
    const call = this.call;
    call.record('B', 'in', res);
    if (attempt !== call.legs.B.invite) {
      // A superseded attempt (auth retry, alternative route) that still answered.
      if (isSuccess(res.status)) call.ackAndBye(attempt, res, 'B', 'a losing fork');
      return;
    }
    attempt.finalReceived = true;
    if (isSuccess(res.status)) return this.on2xx(attempt, res);
    if (call.cancelled) return call.finish('cancelled by caller');
    const status = res.status;
    if ((status === 401 || status === 407) && this.answerChallenge(attempt, res)) return;
    if (status === SipStatus.SESSION_INTERVAL_TOO_SMALL && this.retryWithMinSe(attempt, res)) return;
    if (status >= 300 && status < 400) {
      const mode = call.dst?.profile.redirect3xxMode ?? call.src.profile.redirect3xxMode;
      if (mode === 'local' && this.followRedirect(attempt, res)) return;
    }
    return this.onFailure(attempt, status, res);
  }

  private async onFailure(attempt: InviteAttempt, failure: RouteFailure, res: SipMessage | null): Promise<void> {
    const call = this.call;
    const legB = call.legs.B;
    if (attempt !== legB.invite) return;
    attempt.finalReceived = true;
    if (res === null) call.record('B', 'event', null, `INVITE ${failure}`);
    if (call.cancelled || call.legs.A.inviteServer === null) return call.finish('cancelled by caller');
    this.forgetEarlyDialogs();
    call.oa.apply({ type: 'rollback' });
    await this.routeAttempt(failure, res);
  }

  private forgetEarlyDialogs(): void {
    const legB = this.call.legs.B;
    const first = legB.firstEarly;
    if (first !== null) this.call.env.unregisterDialog(first);
    legB.clearEarly();
  }

  private answerChallenge(attempt: InviteAttempt, res: SipMessage): boolean {
    const call = this.call;
    const ch = pickDigestChallenge(res.getHeaderValues(res.status === 407 ? 'proxy-authenticate' : 'www-authenticate'));
    const creds = call.routing.credentialsFor(call.dst);
    if (ch === null || creds === null || this.authNonces?.has(ch.nonce) === true) return false;
    (this.authNonces ??= new Set()).add(ch.nonce);
    const value = buildDigestAuthorization(ch, { method: 'INVITE', uri: attempt.req.requestUri, username: creds.username, password: creds.password });
    if (value === null) return false;
    call.record('B', 'event', null, `answering ${res.status} challenge (${ch.algorithm})`);
    call.legs.B.nextInviteSeq();
    this.sendInvite(attempt.target, attempt.req.requestUri, [res.status === 407 ? 'proxy-authorization' : 'authorization', value]);
    return true;
  }

  /** RFC 4028 §7.4: once, with Session-Expires and Min-SE raised to the callee's Min-SE. */
  private retryWithMinSe(attempt: InviteAttempt, res: SipMessage): boolean {
    if (this.minSe !== null) return false;
    const minSe = Number.parseInt((res.getHeader('min-se') ?? '').trim(), 10);
    if (!Number.isFinite(minSe) || minSe <= 0 || minSe > 86_400) return false;
    const current = this.askedSessionExpires;
    const ourMin = this.call.dst?.profile.minSeSec ?? 90;
    this.minSe = Math.max(minSe, ourMin);
    this.sessionExpires = Math.max(current, this.minSe);
    this.call.record('B', 'event', null, `422: retrying with Session-Expires ${this.sessionExpires}`);
    this.call.legs.B.nextInviteSeq();
    this.sendInvite(attempt.target, attempt.req.requestUri, null);
    return true;
  }

  /** Mediant SBCRemote3xxBehavior handle-locally: a new INVITE to the best Contact of the 3xx. */
  private followRedirect(attempt: InviteAttempt, res: SipMessage): boolean {
    const call = this.call;
    if (call.outcome.redirects >= call.routing.maxRerouteAttemptsOn3xx) return false;
    const contacts = res.getHeaderValues('contact').map((c) => parseNameAddr(c)).filter((c) => c !== null);
    // Highest q first; a missing q counts as 1.
    contacts.sort((x, y) => qOf(y!) - qOf(x!));
    const first = contacts[0];
    if (first === undefined || first === null) return false;
    const uri = parseUri(first.uri);
    if (uri === null || (uri.scheme !== 'sip' && uri.scheme !== 'sips')) return false;
    const dest = endpointOfUri(first.uri, attempt.target.dest);
    const local = call.env.local.contactAddress(attempt.target.interfaceName, dest.transport);
    if (local === null) {
      call.record('B', 'event', null, `not following ${res.status}: no ${dest.transport} listener on ${attempt.target.interfaceName}`);
      return false;
    }
    call.outcome.noteRedirect();
    call.outcome.noteRedirectTo(first.uri);
    const target: RouteTarget = { ...attempt.target, dest, requestUri: first.uri };
    call.record('B', 'event', null, `following ${res.status} to ${first.uri}`);
    const legB = call.legs.B;
    legB.nextInviteSeq();
    this.forgetEarlyDialogs();
    legB.renewTag();
    legB.routeTo(legRoute(target.interfaceName, dest.transport, dest, false, userOf(call.aReq.getHeader('from')), local), legB.group);
    this.sendInvite(target, first.uri, null);
    return true;
  }

  private async on2xx(attempt: InviteAttempt, res: SipMessage): Promise<void> {
    const call = this.call;
    const legB = call.legs.B;
    const tag = res.toTag;
    let d = tag === null ? null : legB.earlyDialog(tag) ?? null;
    if (d !== null) d.updateFromResponse(res);
    else {
      d = Dialog.fromResponse(attempt.req, res);
      if (d === null) {
        call.log.warn('2xx without a To tag on leg B');
        this.caller.reject(SipStatus.BAD_GATEWAY, 'Bad Gateway');
        return call.finish('unusable 2xx from leg B');
      }
      if (legB.earlyCount === 0) call.env.registerDialog(d, call, 'B');
    }
    legB.useDialog(d);
    legB.clearEarly();
    this.stopNoAnswerTimer();
    legB.settleInviteSeq(attempt.req.cseq?.seq ?? legB.inviteSeq);
    // PRACKs in the early dialog already used numbers above the INVITE's.
    d.advanceLocalSeqTo(legB.inviteSeq);
    if (call.cancelled || call.legs.A.inviteServer === null) {
      // CANCEL crossed the 200: confirm and hang up leg B.
      call.ackInDialog('B', d, legB.inviteSeq, null);
      call.sendBye('B');
      return call.finish('cancelled by caller');
    }
    await this.caller.relay2xx(res, d, this.offerToB, this.askedSessionExpires);
  }

  /** A 2xx after the first one: a retransmission (ACK again) or another fork (ACK and BYE it). */
  onLate2xx(res: SipMessage): void {
    const call = this.call;
    const legB = call.legs.B;
    call.record('B', 'in', res, 'additional 2xx');
    const d = legB.dialog;
    if (d !== null && res.toTag === d.remoteTag) {
      const ack = legB.lastAck;
      if (ack !== null) void call.env.tx.sendStateless(ack, legB.destFor(d), legB.iface).catch(() => {});
      return;
    }
    const inv = legB.invite;
    if (inv === null) return;
    call.ackAndBye(inv, res, 'B', 'a losing fork');
  }

  /** The caller's CANCEL (the transaction layer answered it 200): 487 to A, CANCEL on leg B. */
  onCancelFromA(cancel: SipMessage): void {
    const call = this.call;
    call.record('A', 'in', cancel);
    if (call.legs.A.inviteServer === null) return;
    call.markCancelled();
    call.outcome.noteTermination('A', 'cancelled by caller');
    this.caller.reject(SipStatus.REQUEST_TERMINATED);
    const inv = call.legs.B.invite;
    if (inv === null || inv.finalReceived) return call.finish('cancelled by caller');
    // §9.1: a CANCEL before any provisional waits for one; the transaction layer holds it.
    this.sendCancel();
  }

  sendCancel(): void {
    const inv = this.call.legs.B.invite;
    if (inv === null || inv.ctx === null || inv.cancelSent || inv.finalReceived) return;
    inv.cancelSent = true;
    this.call.record('B', 'out', null, 'CANCEL');
    this.call.env.tx.cancel(inv.ctx, [['Reason', 'SIP;cause=487;text="Request Terminated"']]);
  }
}
