/**
 * Requests inside a call's dialogs: BYE ends the call, re-INVITE, UPDATE,
 * INFO, NOTIFY, REFER (relay mode), MESSAGE ... are rebuilt in the other
 * leg's dialog and their responses rebuilt back; SDP goes through the
 * media anchor, offers through the offer/answer machine (a second offer
 * while one is pending: 491, RFC 3261 §14.1). ACKs for 2xx that carried an
 * offer bring the answer, which goes on in our ACK on the other leg.
 */
import type { Dialog } from '../dialog/dialog.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { isSuccess, SipStatus } from '../sip/status.js';
import type { CallCore } from './call-core.js';
import { copyEndToEndHeaders, hasSdp, maxForwards, setMaxForwards } from './headers.js';
import { otherSide, type ClientTransactionHandler, type ClientTransactionRef, type LegSide, type ServerTransactionRef } from './ports.js';
import type { ReliableProvisionals } from './reliable.js';
import type { SessionTimers } from './session-timer.js';
import type { LocalTransfers } from './transfer.js';

/** Methods whose requests and 2xx carry our Contact (they establish or refresh a target, §8.1.1.8). */
const TARGET_METHODS = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);
const SDP_METHODS = new Set(['INVITE', 'UPDATE', 'PRACK']);

export class InDialogRelay {
  constructor(
    private readonly call: CallCore,
    private readonly timers: SessionTimers,
    private readonly reliable: ReliableProvisionals,
    private readonly transfers: LocalTransfers,
  ) {}

  async handle(side: LegSide, req: SipMessage, stx: ServerTransactionRef): Promise<void> {
    const call = this.call;
    call.record(side, 'in', req);
    const retired = this.transfers.retiredDialogFor(req);
    if (retired !== null) return this.transfers.onRetiredRequest(side, retired, req, stx);
    const from = side === 'A' ? call.legs.A.dialog : call.legs.B.dialogForRemoteTag(req.fromTag);
    if (from === null) return call.respondLocal(side, stx, SipStatus.CALL_DOES_NOT_EXIST);
    if (!from.acceptRemoteSeq(req)) return call.respondLocal(side, stx, SipStatus.SERVER_INTERNAL_ERROR, 'CSeq Out of Order');
    const method = req.method;
    if (method === 'BYE') {
      call.respondLocal(side, stx, SipStatus.OK);
      if (this.transfers.isReferrerDialog(side, from)) return this.transfers.onReferrerGone();
      return call.terminate(side, 'BYE');
    }
    if (method === 'PRACK' && side === 'A') return this.reliable.onPrackFromA(req, stx);
    if (method === 'INVITE' || (method === 'UPDATE' && hasSdp(req))) {
      if (!call.oa.canOffer) return call.respondLocal(side, stx, SipStatus.REQUEST_PENDING);
      if (method === 'INVITE' && call.state !== 'confirmed') return call.respondLocal(side, stx, SipStatus.REQUEST_PENDING);
    }
    if (method === 'INVITE' || method === 'UPDATE') {
      from.refreshTarget(req);
      this.timers.noteRefresh(side, req);
    }
    if (method === 'REFER' && call.legs[side].group?.profile.referMode === 'local') return this.transfers.onLocalRefer(side, from, req, stx);
    const to = otherSide(side);
    const target = call.legs[to].relayTarget;
    if (target === null) return call.respondLocal(side, stx, method === 'UPDATE' ? SipStatus.REQUEST_PENDING : SipStatus.CALL_DOES_NOT_EXIST);
    return this.relay(side, req, stx, target);
  }

  private async relay(fromSide: LegSide, req: SipMessage, stx: ServerTransactionRef, d: Dialog): Promise<void> {
    const call = this.call;
    const to = otherSide(fromSide);
    const method = req.method;
    if (maxForwards(req) <= 1) return call.respondLocal(fromSide, stx, SipStatus.TOO_MANY_HOPS);
    const isOffer = (method === 'INVITE' || method === 'UPDATE') && hasSdp(req);
    const out = d.createRequest(method);
    setMaxForwards(out, Math.min(maxForwards(req) - 1, call.routing.maxForwardsLimit ?? 255));
    copyEndToEndHeaders(req, out);
    if (TARGET_METHODS.has(method)) out.setHeader('contact', call.legs[to].contact);
    if (method === 'INVITE' || method === 'UPDATE') this.timers.addHeaders(to, out);
    // A re-INVITE without SDP asks the other side for an offer (answer in our ACK); an UPDATE without SDP negotiates nothing.
    const offerStarted = method === 'INVITE' || isOffer;
    if (offerStarted) {
      call.oa.apply({ type: 'offer', offerer: fromSide, toward: to, via: method === 'UPDATE' ? 'UPDATE' : isOffer ? 're-INVITE' : 're-INVITE-solicit' });
    }
    if (req.body.length > 0) {
      if (hasSdp(req) && SDP_METHODS.has(method)) {
        const r = await call.processSdp(isOffer ? 'offer' : 'answer', fromSide, req.body);
        if (call.ended) return;
        if ('error' in r) {
          if (offerStarted) call.oa.apply({ type: 'rollback' });
          return call.respondLocal(fromSide, stx, r.sipStatus, r.error);
        }
        out.setBody(r.sdp, 'application/sdp');
        call.legs[to].noteSdpSent(r.sdp);
      } else {
        out.setBody(req.body, req.getHeader('content-type') ?? 'application/octet-stream');
      }
    }
    let ctxRef: ClientTransactionRef | null = null;
    let sent = out;
    let finalDone = false;
    if (method === 'INVITE') {
      stx.onCancel = () => call.enqueue('cancel', () => {
        if (finalDone || ctxRef === null) return;
        call.env.tx.cancel(ctxRef);
      });
    }
    const failed = (status: number, what: string): void => {
      finalDone = true;
      if (offerStarted) call.oa.apply({ type: 'rollback' });
      call.respondLocal(fromSide, stx, status);
      // §12.2.1.2: a timeout inside the dialog ends it.
      call.terminate(to, `${method} ${what}`);
    };
    const authTried = new Set<string>();
    const handler: ClientTransactionHandler = {
      onProvisional: (res) => call.enqueue('1xx', () => {
        call.record(to, 'in', res);
        if (res.status === SipStatus.TRYING || finalDone) return;
        const r = createResponse(req, res.status, res.reason);
        copyEndToEndHeaders(res, r);
        call.sendResponse(fromSide, stx, r, res);
      }),
      onFinal: (res) => call.enqueue('final', async () => {
        call.record(to, 'in', res);
        if ((res.status === 401 || res.status === 407) && to === 'B') {
          const retry = call.authorize(sent, res, authTried);
          if (retry !== null) {
            sent = retry;
            ctxRef = call.sendInDialog(to, d, retry, handler, { manipulated: true });
            return;
          }
        }
        finalDone = true;
        await this.relayFinal(fromSide, req, stx, d, sent, res, isOffer, offerStarted);
      }),
      onAdditional2xx: (res) => {
        const ack = call.legs.B.lastAck;
        if (ack !== null && to === 'B') void call.env.tx.sendStateless(ack, call.legs.B.destFor(d), call.legs.B.iface).catch(() => {});
        call.record(to, 'in', res, 'retransmitted 2xx');
      },
      onTimeout: () => call.enqueue('timeout', () => failed(SipStatus.REQUEST_TIMEOUT, 'timeout')),
      onTransportError: () => call.enqueue('transport-error', () => failed(SipStatus.SERVICE_UNAVAILABLE, 'transport error')),
    };
    ctxRef = call.sendInDialog(to, d, out, handler);
  }

  private async relayFinal(
    fromSide: LegSide, req: SipMessage, stx: ServerTransactionRef, d: Dialog, sent: SipMessage, res: SipMessage, wasOffer: boolean, offerStarted: boolean,
  ): Promise<void> {
    const call = this.call;
    const to = otherSide(fromSide);
    const method = req.method;
    const ok = isSuccess(res.status);
    const ackSeq = sent.cseq?.seq ?? d.localSeq;
    // A 2xx to a re-INVITE without SDP carries the other side's offer: the answer comes in the ACK.
    const answerInAck = ok && method === 'INVITE' && !wasOffer && hasSdp(res);
    if (offerStarted) {
      if (answerInAck) call.oa.apply({ type: 'offer-in-2xx', ack: { answerer: fromSide, dialog: d, ackSeq } });
      else call.oa.apply(ok && wasOffer ? { type: 'answer' } : { type: 'rollback' });
    }
    const r = createResponse(req, res.status, res.reason);
    copyEndToEndHeaders(res, r);
    if (ok && (method === 'INVITE' || method === 'UPDATE' || method === 'SUBSCRIBE')) r.setHeader('contact', call.legs[fromSide].contact);
    if (ok && (method === 'INVITE' || method === 'UPDATE')) {
      d.refreshTarget(res);
      this.timers.addHeaders(fromSide, r, true);
      this.timers.noteRefresh(to, res);
      this.timers.noteRefresh(fromSide, req);
    }
    if (res.status === SipStatus.SESSION_INTERVAL_TOO_SMALL || res.status === SipStatus.REQUEST_PENDING) {
      for (const v of res.getHeaderValues('min-se')) r.addHeader('min-se', v);
    }
    if (res.body.length > 0) {
      if (hasSdp(res) && SDP_METHODS.has(method)) {
        const out = await call.processSdp(wasOffer ? 'answer' : 'offer', to, res.body);
        if (call.ended) return;
        if (!('error' in out)) {
          r.setBody(out.sdp, 'application/sdp');
          call.legs[fromSide].noteSdpSent(out.sdp);
        }
      } else r.setBody(res.body, res.getHeader('content-type') ?? 'application/octet-stream');
    }
    if (ok && method === 'INVITE' && !answerInAck) call.ackInDialog(to, d, ackSeq, null);
    call.sendResponse(fromSide, stx, r, res);
    if (res.status === SipStatus.CALL_DOES_NOT_EXIST || res.status === SipStatus.REQUEST_TIMEOUT) call.terminate(to, `${method} answered ${res.status}`);
  }

  /**
   * An ACK for a 2xx (§13.2.2.4). When that 2xx carried an offer from the
   * other side, the ACK carries the answer: through the media anchor and
   * on in our ACK for the other side's 2xx.
   */
  async onAck(side: LegSide, ack: SipMessage): Promise<void> {
    const call = this.call;
    call.record(side, 'in', ack);
    const pending = call.oa.ackAnswerFrom(side);
    if (pending === null) return;
    let body: Buffer | null = null;
    if (hasSdp(ack)) {
      const out = await call.processSdp('answer', side, ack.body);
      if ('error' in out) return call.terminate('sbc', `media: ${out.error}`);
      body = out.sdp;
    }
    call.oa.apply({ type: 'ack' });
    call.ackInDialog(otherSide(side), pending.dialog, pending.ackSeq, body);
  }
}
