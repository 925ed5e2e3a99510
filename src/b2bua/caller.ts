/**
 * Leg A's INVITE transaction: what the caller hears while leg B is set up.
 * Provisional responses and the 2xx from leg B are rebuilt on leg A (our
 * tag, our Contact, SDP through the media anchor), and failures become
 * one final response. The caller's dialog is created with our first
 * provisional response with a tag (§12.1.1) and confirmed with the 2xx.
 */
import { Dialog } from '../dialog/dialog.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { CallCore } from './call-core.js';
import { ALLOW, copyEndToEndHeaders, hasSdp } from './headers.js';
import type { InviteAttempt } from './leg.js';
import type { ReliableProvisionals } from './reliable.js';
import type { SessionTimers } from './session-timer.js';

export class CallerInvite {
  constructor(
    private readonly call: CallCore,
    private readonly reliable: ReliableProvisionals,
    private readonly timers: SessionTimers,
    /** The call is connected (our 2xx went to the caller). */
    private readonly onConnected: () => void,
  ) {}

  /** The final answer to A's INVITE (non-2xx), when the call fails before connecting. */
  reject(status: number, reason?: string, relayed: SipMessage | null = null): void {
    const legA = this.call.legs.A;
    const stx = legA.inviteServer;
    if (stx === null) return;
    legA.answeredInvite(status);
    this.reliable.stop();
    const res = createResponse(this.call.inviteA, status, reason, legA.tag);
    this.call.outcome.noteFinalReason(res.reason);
    if (relayed !== null) {
      copyEndToEndHeaders(relayed, res);
      if (status >= 300 && status < 400) for (const c of relayed.getHeaderValues('contact')) res.addHeader('contact', c);
      for (const h of ['www-authenticate', 'proxy-authenticate', 'min-se']) {
        for (const v of relayed.getHeaderValues(h)) res.addHeader(h, v);
      }
    }
    this.call.sendResponse('A', stx, res, relayed);
  }

  private ensureDialog(): Dialog | null {
    const legA = this.call.legs.A;
    if (legA.dialog === null) {
      const d = Dialog.fromRequest(this.call.inviteA, legA.tag, 'early');
      if (d !== null) {
        legA.useDialog(d);
        this.call.env.registerDialog(d, this.call, 'A');
      }
    }
    return legA.dialog;
  }

  /** Leg B's 1xx (with To tag: `d` is its early dialog) relayed to the caller. */
  async relayProvisional(attempt: InviteAttempt, res: SipMessage, d: Dialog | null): Promise<void> {
    const call = this.call;
    const rseqRaw = res.getHeader('rseq');
    const reliable = rseqRaw !== undefined && res.getHeaderValues('require').some((t) => t.trim().toLowerCase() === '100rel');
    const bRSeq = reliable ? Number.parseInt(rseqRaw!.trim(), 10) : 0;
    const prack = call.dst?.profile.prackMode ?? 'transparent';
    const tag = d?.remoteTag ?? '';
    // Without SDP in A's INVITE the first SDP in a reliable 1xx is B's offer; only A can answer it.
    const carriesOffer = reliable && !call.inviteHadOffer && hasSdp(res) && !call.oa.offeredEarly(tag);
    const relayReliably = reliable && d !== null && call.aSupports100rel && (prack === 'transparent' || (prack === 'local' && carriesOffer));

    let body: Buffer | null = null;
    if (hasSdp(res)) {
      if (call.inviteHadOffer) {
        body = await this.earlyAnswer(res);
        // An answer in a reliable 1xx completes the offer/answer (RFC 3262 §5); an unreliable one is a preview.
        if (reliable && body !== null && call.oa.pending('initial-INVITE')) call.oa.apply({ type: 'answer' });
      } else if (relayReliably && carriesOffer) {
        call.oa.apply({ type: 'offer', offerer: 'B', toward: 'A', via: 'reliable-1xx', fork: tag });
        const out = await call.processSdp('offer', 'B', res.body);
        if (!('error' in out)) body = out.sdp;
      } else if (carriesOffer) {
        call.log.warn('offer in a reliable 1xx that leg A cannot answer; PRACKed without answer');
      }
      if (call.ended || call.cancelled || call.legs.A.inviteServer === null) return;
    }

    if (reliable && d !== null && !relayReliably && Number.isFinite(bRSeq)) this.reliable.prackLocally(d, attempt, bRSeq);

    const legA = call.legs.A;
    const stx = legA.inviteServer;
    if (stx === null) return;
    const out = createResponse(call.inviteA, res.status, res.reason, legA.tag);
    mirrorRecordRoute(call.inviteA, out);
    out.setHeader('contact', legA.contact);
    copyEndToEndHeaders(res, out);
    if (body !== null) {
      out.setBody(body, 'application/sdp');
      legA.noteSdpSent(body);
    }
    if (relayReliably) this.reliable.relayToA(out, d!.remoteTag, bRSeq);
    this.ensureDialog();
    call.advance('early');
    if (res.status >= 180) call.outcome.noteAlert();
    call.sendResponse('A', stx, out, res);
  }

  /** B's answer in a 1xx through the media anchor; the same SDP again is not processed twice. */
  private async earlyAnswer(res: SipMessage): Promise<Buffer | null> {
    const raw = res.body.toString('utf8');
    const known = this.call.oa.relayedEarlyAnswer(raw);
    if (known !== null) return known;
    const out = await this.call.processSdp('answer', 'B', res.body);
    if ('error' in out) {
      this.call.log.warn({ error: out.error }, 'early answer rejected by media');
      return null;
    }
    this.call.oa.rememberEarlyAnswer(raw, out.sdp);
    return out.sdp;
  }

  /**
   * Leg B's 2xx (its dialog `d` confirmed) relayed to the caller. With an
   * offer in our INVITE the 2xx holds B's answer; without one it holds
   * B's offer, relayed to A, and B's ACK waits for A's answer in A's ACK.
   */
  async relay2xx(res: SipMessage, d: Dialog, offerToB: Buffer | null, askedSessionExpires: number): Promise<void> {
    const call = this.call;
    const legA = call.legs.A;
    const legB = call.legs.B;
    let body: Buffer | null = null;
    let offerIn2xx = false;
    // After an offer/answer in a reliable 1xx and PRACK, SDP in the 2xx is no new offer (RFC 3262 §5).
    if (hasSdp(res) && !call.oa.offeredEarly(d.remoteTag)) {
      const known = call.inviteHadOffer ? call.oa.relayedEarlyAnswer(res.body.toString('utf8')) : null;
      if (known !== null) body = known;
      else {
        const out = await call.processSdp(call.inviteHadOffer ? 'answer' : 'offer', 'B', res.body);
        if ('error' in out) {
          call.ackInDialog('B', d, legB.inviteSeq, null);
          call.sendBye('B');
          this.reject(out.sipStatus, out.error);
          return call.finish(`media: ${out.error}`);
        }
        body = out.sdp;
        offerIn2xx = !call.inviteHadOffer;
      }
    }
    if (call.ended) return;
    const stx = legA.inviteServer;
    if (call.cancelled || stx === null) {
      call.ackInDialog('B', d, legB.inviteSeq, null);
      call.sendBye('B');
      return call.finish('cancelled by caller');
    }
    if (offerIn2xx) call.oa.apply({ type: 'offer-in-2xx', ack: { answerer: 'A', dialog: d, ackSeq: legB.inviteSeq } });
    else {
      if (call.oa.pending('initial-INVITE')) call.oa.apply({ type: 'answer' });
      // Nothing more to agree in this INVITE (no SDP, or the offer was answered in PRACK).
      else if (call.oa.pending('initial-solicit', 'reliable-1xx')) call.oa.apply({ type: 'rollback' });
      call.ackInDialog('B', d, legB.inviteSeq, null);
    }

    const out = createResponse(call.inviteA, res.status, res.reason, legA.tag);
    mirrorRecordRoute(call.inviteA, out);
    out.setHeader('contact', legA.contact);
    copyEndToEndHeaders(res, out);
    if (!out.hasHeader('allow')) out.setHeader('allow', ALLOW);
    if (body !== null) {
      out.setBody(body, 'application/sdp');
      legA.noteSdpSent(body);
    }
    if (offerToB !== null) legB.noteSdpSent(offerToB);
    legA.notePeerAllow(call.inviteA.getHeaderValues('allow'));
    legB.notePeerAllow(res.getHeaderValues('allow'));
    this.timers.negotiateAsUas(out);
    this.timers.negotiateAsUac('B', res, askedSessionExpires);
    legA.answeredInvite(res.status);
    call.outcome.noteFinalReason(res.reason);
    this.reliable.stop();
    this.ensureDialog()?.confirm();
    call.advance('confirmed');
    call.outcome.markConnected();
    call.sendResponse('A', stx, out, res);
    this.startDurationLimit();
    this.onConnected();
  }

  private startDurationLimit(): void {
    const limits = [this.call.src.profile.maxCallDurationSec, this.call.dst?.profile.maxCallDurationSec ?? 0].filter((s) => s > 0);
    if (limits.length === 0) return;
    this.call.setTimer(Math.min(...limits) * 1000, () => this.call.enqueue('max-duration', () => this.call.terminate('sbc', 'max call duration')));
  }
}

/** §12.1.1: a dialog-creating response carries the request's Record-Route, so proxies before us stay in the route set. */
function mirrorRecordRoute(invite: SipMessage, out: SipMessage): void {
  for (const rr of invite.getHeaderValues('record-route')) out.addHeader('record-route', rr);
}
