/**
 * REFER handled by the SBC (IP Profile SBCRemoteReferBehavior = handle
 * locally), RFC 3515 with the SBC as the transferee's agent: 202 to the
 * referrer, a new call (without SDP) toward the Refer-To target through
 * routing, the target's offer sent to the transferee in a re-INVITE and
 * its answer in the target's ACK, then the target's dialog takes the
 * referrer's place on that leg. NOTIFY (sipfrag) reports 100 Trying and
 * the outcome; on success the referrer's dialog is retired (kept, with its
 * own addressing, until its BYE completes); on failure the call stays as
 * it was.
 */
import { Dialog } from '../dialog/dialog.js';
import { formatNameAddr, parseNameAddr } from '../sip/grammar.js';
import { SipMessage } from '../sip/message.js';
import { createResponse, newCallId, newTag } from '../sip/response.js';
import { isSuccess, SipStatus } from '../sip/status.js';
import { formatUri, parseUri, uriHost } from '../sip/uri.js';
import { legRoute, uriHeaders, type LegRoute } from './addressing.js';
import type { CallCore } from './call-core.js';
import { ALLOW, copyEndToEndHeaders, hasSdp, rehomeNameAddr, setCSeq, userOf } from './headers.js';
import {
  otherSide, type ClientTransactionRef, type Endpoint, type LegSide, type RouteResult, type RouteTarget, type ServerTransactionRef,
} from './ports.js';
import type { SessionTimers } from './session-timer.js';

interface LocalTransfer {
  /** The leg whose party sent the REFER; the new call replaces it. */
  readonly referrer: LegSide;
  readonly referDialog: Dialog;
  /** The referrer hung up before the transfer completed. */
  referrerGone: boolean;
  readonly target: RouteTarget;
  /** Our addressing toward the target once it takes the referrer's place. */
  readonly targetRoute: LegRoute;
  groupClaimed: boolean;
  readonly req: SipMessage;
  ctx: ClientTransactionRef | null;
  finalReceived: boolean;
  /** The target's 2xx, once it came. */
  answered: SipMessage | null;
  ack: SipMessage | null;
  ackDest: Endpoint | null;
}

export class LocalTransfers {
  private transfer: LocalTransfer | null = null;
  /** Dialogs a transfer replaced: still registered, with their own addressing, until their BYE completes. */
  /** Made on the first transfer that retires a dialog. */
  private retired: Map<Dialog, { side: LegSide; route: LegRoute }> | null = null;

  constructor(private readonly call: CallCore, private readonly timers: SessionTimers) {}

  get retiredCount(): number {
    return this.retired?.size ?? 0;
  }

  /** `d` on `side` is the referrer's dialog of the transfer under way. */
  isReferrerDialog(side: LegSide, d: Dialog): boolean {
    const t = this.transfer;
    return t !== null && t.referrer === side && t.referDialog === d;
  }

  onLocalRefer(leg: LegSide, d: Dialog, req: SipMessage, stx: ServerTransactionRef): void {
    const call = this.call;
    if (call.state !== 'confirmed') return call.respondLocal(leg, stx, SipStatus.FORBIDDEN, 'Not Connected');
    if (this.transfer !== null || !call.oa.canOffer) return call.respondLocal(leg, stx, SipStatus.REQUEST_PENDING);
    const values = req.getHeaderValues('refer-to');
    const na = values.length === 1 ? parseNameAddr(values[0]!) : null;
    const u = na === null ? null : parseUri(na.uri);
    if (na === null || u === null || (u.scheme !== 'sip' && u.scheme !== 'sips') || u.host.length === 0) {
      return call.respondLocal(leg, stx, SipStatus.BAD_REQUEST, 'Bad Refer-To');
    }
    const embedded = uriHeaders(u.headers);
    const requestUri = formatUri({ ...u, headers: '' });
    const y = otherSide(leg);
    // The transferee calls the target: its identity as the other leg saw it.
    const routeReq = SipMessage.request('INVITE', requestUri);
    routeReq.setHeader('from', (y === 'A' ? call.aReq.getHeader('from') : call.aReq.getHeader('to')) ?? `<${requestUri}>`);
    routeReq.setHeader('to', formatNameAddr({ displayName: na.displayName, uri: requestUri, params: new Map(), angle: true }));
    routeReq.setHeader('call-id', newCallId());
    setCSeq(routeReq, 1, 'INVITE');
    copyEndToEndHeaders(req, routeReq);
    const transfereeGroup = call.legs[y].group ?? call.src;
    let r: RouteResult;
    try {
      r = call.routing.routeWalk(routeReq, transfereeGroup).next(null);
    } catch (err) {
      call.log.error({ err }, 'routing of the REFER target failed');
      r = { reject: SipStatus.SERVER_INTERNAL_ERROR };
    }
    if (r === null) return call.respondLocal(leg, stx, SipStatus.NOT_FOUND, 'No Route');
    if ('reject' in r) return call.respondLocal(leg, stx, r.reject);
    const local = call.env.local.contactAddress(r.interfaceName, r.dest.transport);
    if (local === null) {
      call.log.error({ sipInterface: r.interfaceName, transport: r.dest.transport }, 'REFER target refused: no listener for its transport');
      return call.respondLocal(leg, stx, SipStatus.SERVICE_UNAVAILABLE);
    }
    if (!call.env.claimGroup(r.dstIpGroup)) return call.respondLocal(leg, stx, SipStatus.SERVICE_UNAVAILABLE, 'Call Limit Reached');
    call.record(leg, 'event', null, `REFER handled locally: ${requestUri} -> ${r.dstIpGroup?.name ?? '-'} ${r.dest.address}:${r.dest.port}/${r.dest.transport}`);

    const accepted = createResponse(req, SipStatus.ACCEPTED, 'Accepted');
    accepted.setHeader('contact', call.legs[leg].contact);
    call.sendResponse(leg, stx, accepted, null);

    const host = r.dstIpGroup?.sipGroupName ?? uriHost(r.dest.address);
    const inv = SipMessage.request('INVITE', r.requestUri);
    inv.setHeader('max-forwards', '70');
    inv.setHeader('from', `${rehomeNameAddr(routeReq.getHeader('from'), host)};tag=${newTag()}`);
    inv.setHeader('to', rehomeNameAddr(routeReq.getHeader('to'), host));
    inv.setHeader('call-id', newCallId());
    setCSeq(inv, 1, 'INVITE');
    inv.setHeader('contact', legRoute(r.interfaceName, r.dest.transport, r.dest, false, userOf(routeReq.getHeader('from')), local).contact);
    copyEndToEndHeaders(routeReq, inv);
    inv.removeHeader('refer-to');
    for (const [name, value] of embedded) if (name === 'replaces' || name === 'require') inv.setHeader(name, value);
    if (!inv.hasHeader('allow')) inv.setHeader('allow', ALLOW);
    call.routing.applyOutbound(inv, r.dstIpGroup, { leg, peerIpGroup: call.legs[y].group, relayedFrom: routeReq });

    // Once in place, the target's leg keeps the Contact user that leg always had.
    const contactUser = leg === 'A' ? userOf(call.inviteA.getHeader('to')) : userOf(call.aReq.getHeader('from'));
    const t: LocalTransfer = {
      referrer: leg, referDialog: d, referrerGone: false, target: r, groupClaimed: true, req: inv, ctx: null,
      targetRoute: legRoute(r.interfaceName, r.dest.transport, r.dest, false, contactUser, local),
      finalReceived: false, answered: null, ack: null, ackDest: null,
    };
    this.transfer = t;
    this.sendNotify(leg, d, '100 Trying', false);
    call.record(leg, 'out', inv, 'INVITE to the transfer target');
    t.ctx = call.env.tx.sendRequest(inv, r.dest, r.interfaceName, {
      onProvisional: (res) => call.enqueue('transfer-1xx', () => call.record(leg, 'in', res, 'transfer target')),
      // 'late': a 2xx after the call ended must still be ACKed and BYEd.
      onFinal: (res) => call.enqueue('late', () => this.onTargetFinal(t, res)),
      onAdditional2xx: (res) => call.enqueue('late', () => this.onTargetLate2xx(t, res)),
      onTimeout: () => call.enqueue('transfer-timeout', () => {
        t.finalReceived = true;
        this.failed(t, SipStatus.REQUEST_TIMEOUT, 'Request Timeout');
      }),
      onTransportError: () => call.enqueue('transfer-error', () => {
        t.finalReceived = true;
        this.failed(t, SipStatus.SERVICE_UNAVAILABLE, 'Service Unavailable');
      }),
    });
  }

  private sendNotify(leg: LegSide, d: Dialog, sipfrag: string, final: boolean, done?: () => void): void {
    const call = this.call;
    const route = this.retired?.get(d)?.route;
    const n = d.createRequest('NOTIFY');
    n.setHeader('contact', route?.contact ?? call.legs[leg].contact);
    n.setHeader('event', 'refer');
    n.setHeader('subscription-state', final ? 'terminated;reason=noresource' : 'active;expires=60');
    n.setBody(Buffer.from(`SIP/2.0 ${sipfrag}\r\n`, 'utf8'), 'message/sipfrag;version=2.0');
    const after = (): void => {
      if (done !== undefined) call.enqueue('late', done);
    };
    call.sendInDialog(leg, d, n, {
      onFinal: (res) => {
        call.record(leg, 'in', res);
        after();
      },
      onTimeout: after,
      onTransportError: after,
    }, route === undefined ? {} : { route });
  }

  private onTargetLate2xx(t: LocalTransfer, res: SipMessage): void {
    this.call.record(t.referrer, 'in', res, 'additional 2xx from the transfer target');
    if (t.answered !== null && res.toTag === t.answered.toTag) {
      // A retransmission: the ACK again, to where the first one went.
      if (t.ack !== null && t.ackDest !== null) void this.call.env.tx.sendStateless(t.ack, t.ackDest, t.target.interfaceName).catch(() => {});
      return;
    }
    this.call.ackAndBye(t, res, t.referrer, 'a second transfer target fork');
  }

  private async onTargetFinal(t: LocalTransfer, res: SipMessage): Promise<void> {
    const call = this.call;
    const x = t.referrer;
    call.record(x, 'in', res, 'transfer target');
    const ok = isSuccess(res.status);
    if (t !== this.transfer || call.ended) {
      if (ok) call.ackAndBye(t, res, x, 'an abandoned transfer');
      return;
    }
    t.finalReceived = true;
    if (!ok) return this.failed(t, res.status, res.reason);
    t.answered = res;
    const td = Dialog.fromResponse(t.req, res);
    if (td === null || !hasSdp(res)) {
      call.ackAndBye(t, res, x, 'an unusable transfer answer');
      return this.failed(t, td === null ? SipStatus.BAD_GATEWAY : SipStatus.NOT_ACCEPTABLE_HERE, td === null ? 'Bad Gateway' : 'Not Acceptable Here');
    }
    const offer = await call.processSdp('offer', x, res.body);
    if (call.ended || t !== this.transfer) {
      call.ackAndBye(t, res, x, 'an abandoned transfer');
      return;
    }
    if ('error' in offer) {
      call.ackAndBye(t, res, x, 'a transfer target with unusable media');
      return this.failed(t, offer.sipStatus, offer.error);
    }
    const y = otherSide(x);
    const yd = call.legs[y].dialog;
    if (yd === null || !call.oa.canOffer) {
      call.ackAndBye(t, res, x, 'a transfer that met another offer');
      return this.failed(t, SipStatus.REQUEST_PENDING, 'Request Pending');
    }
    // The transferee gets the target's offer; its answer goes into the target's ACK.
    call.oa.apply({ type: 'offer', offerer: 'sbc', toward: y, via: 'transfer' });
    const reinvite = yd.createRequest('INVITE');
    reinvite.setHeader('contact', call.legs[y].contact);
    this.timers.addHeaders(y, reinvite);
    reinvite.setBody(offer.sdp, 'application/sdp');
    call.legs[y].noteSdpSent(offer.sdp);
    const fail = (status: number, reason: string): void => {
      call.oa.apply({ type: 'rollback' });
      call.ackAndBye(t, res, x, 'a transfer the transferee refused');
      this.failed(t, status, reason);
    };
    call.sendInDialog(y, yd, reinvite, {
      onFinal: (r) => call.enqueue('transfer-reinvite', () => this.onTransfereeFinal(t, td, yd, reinvite, r, fail)),
      onTimeout: () => call.enqueue('transfer-reinvite', () => {
        fail(SipStatus.REQUEST_TIMEOUT, 'Request Timeout');
        call.terminate(y, 're-INVITE timeout');
      }),
      onTransportError: () => call.enqueue('transfer-reinvite', () => {
        fail(SipStatus.SERVICE_UNAVAILABLE, 'Service Unavailable');
        call.terminate(y, 're-INVITE transport error');
      }),
    });
  }

  private async onTransfereeFinal(
    t: LocalTransfer, td: Dialog, yd: Dialog, reinvite: SipMessage, r: SipMessage, fail: (status: number, reason: string) => void,
  ): Promise<void> {
    const call = this.call;
    const x = t.referrer;
    const y = otherSide(x);
    call.record(y, 'in', r);
    if (!isSuccess(r.status)) return fail(r.status, r.reason);
    call.ackInDialog(y, yd, reinvite.cseq?.seq ?? yd.localSeq, null);
    yd.refreshTarget(r);
    if (!hasSdp(r)) return fail(SipStatus.NOT_ACCEPTABLE_HERE, 'Not Acceptable Here');
    const answer = await call.processSdp('answer', y, r.body);
    if (call.ended || t !== this.transfer) return;
    if ('error' in answer) return fail(answer.sipStatus, answer.error);
    call.oa.apply({ type: 'answer' });
    const tack = td.createRequest('ACK', t.req.cseq?.seq ?? 1);
    tack.setHeader('contact', t.targetRoute.contact);
    tack.setBody(answer.sdp, 'application/sdp');
    this.complete(t, td, tack, answer.sdp);
  }

  private complete(t: LocalTransfer, td: Dialog, tack: SipMessage, answer: Buffer): void {
    const call = this.call;
    const x = t.referrer;
    const leg = call.legs[x];
    const old = t.referDialog;
    // The old dialog keeps its own addressing for the NOTIFY and BYE still to come.
    if (t.referrerGone) call.env.unregisterDialog(old);
    else (this.retired ??= new Map()).set(old, { side: x, route: leg.route });
    leg.useDialog(td);
    if (x === 'A') {
      leg.routeTo(t.targetRoute, leg.group);
      call.holdExtraGroup(t.target.dstIpGroup);
    } else {
      call.takeOverDestination();
      leg.routeTo(t.targetRoute, t.target.dstIpGroup);
    }
    t.groupClaimed = false;
    call.env.registerDialog(td, call, x);
    t.ack = tack;
    t.ackDest = leg.destFor(td);
    call.sendAck(x, td, tack);
    leg.noteSdpSent(answer);
    this.timers.reset(x);
    this.timers.negotiateAsUac(x, t.answered!, 0);
    leg.notePeerAllow(t.answered!.getHeaderValues('allow'));
    this.transfer = null;
    call.record(x, 'event', null, 'transfer complete');
    if (!t.referrerGone) this.sendNotify(x, old, '200 OK', true, () => this.byeRetired(x, old));
  }

  private failed(t: LocalTransfer, status: number, reason: string): void {
    const call = this.call;
    if (this.transfer !== t) return;
    this.transfer = null;
    if (t.groupClaimed) call.env.releaseGroup(t.target.dstIpGroup);
    t.groupClaimed = false;
    call.record(t.referrer, 'event', null, `transfer failed: ${status}`);
    if (t.referrerGone) return call.terminate('sbc', `transfer failed (${status}) after the referrer hung up`);
    this.sendNotify(t.referrer, t.referDialog, `${status} ${reason}`, true);
  }

  /** The referrer hung up before the transfer completed (blind transfer): the call lives on. */
  onReferrerGone(): void {
    const t = this.transfer;
    if (t === null) return;
    t.referrerGone = true;
    t.referDialog.terminate();
    this.call.record(t.referrer, 'event', null, 'referrer hung up during the transfer');
  }

  /** The call ends: a transfer under way is cancelled, retired dialogs get their BYE. */
  endAll(): void {
    const t = this.transfer;
    if (t !== null) {
      this.transfer = null;
      if (!t.finalReceived && t.ctx !== null) this.call.env.tx.cancel(t.ctx, [['Reason', 'SIP;cause=487;text="Request Terminated"']]);
      else if (t.answered !== null) this.call.ackAndBye(t, t.answered, t.referrer, 'an abandoned transfer');
      if (t.groupClaimed) this.call.env.releaseGroup(t.target.dstIpGroup);
      t.groupClaimed = false;
    }
    for (const [d, { side }] of [...(this.retired ?? [])]) {
      if (d.state === 'confirmed') this.byeRetired(side, d);
      else this.dropRetired(d);
    }
  }

  retiredDialogFor(req: SipMessage): Dialog | null {
    if (this.retired === null || this.retired.size === 0) return null;
    const tag = req.toTag;
    for (const d of this.retired.keys()) if (d.callId === req.callId && d.localTag === tag) return d;
    return null;
  }

  /** A retired dialog answers only its BYE (§15.1.2); anything else gets 481. */
  onRetiredRequest(leg: LegSide, d: Dialog, req: SipMessage, stx: ServerTransactionRef): void {
    if (req.method !== 'BYE') return this.call.respondLocal(leg, stx, SipStatus.CALL_DOES_NOT_EXIST);
    this.call.respondLocal(leg, stx, SipStatus.OK);
    d.terminate();
    this.dropRetired(d);
  }

  private byeRetired(leg: LegSide, d: Dialog): void {
    const entry = this.retired?.get(d);
    if (entry === undefined || d.state !== 'confirmed') return;
    d.terminate();
    const bye = d.createRequest('BYE');
    const done = (): void => this.dropRetired(d);
    this.call.sendInDialog(leg, d, bye, {
      onFinal: (res) => {
        this.call.record(leg, 'in', res);
        done();
      },
      onTimeout: done,
      onTransportError: done,
    }, { route: entry.route });
  }

  private dropRetired(d: Dialog): void {
    if (this.retired?.delete(d) !== true) return;
    this.call.env.unregisterDialog(d);
  }
}
