/**
 * Reliable provisional responses (RFC 3262) across the two legs. Relayed
 * end to end (PRACK mode transparent, or an offer only the caller can
 * answer): leg A gets its own RSeq space, we retransmit the 1xx toward A
 * until its PRACK, and A's PRACK is relayed to the fork that sent it.
 * Answered locally (mode local, or A cannot do 100rel): we PRACK leg B
 * ourselves.
 */
import type { Dialog } from '../dialog/dialog.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { SipStatus } from '../sip/status.js';
import type { CallCore } from './call-core.js';
import { copyEndToEndHeaders, hasSdp, markReliable, rackRSeq, setRAck } from './headers.js';
import type { InviteAttempt } from './leg.js';
import type { ServerTransactionRef } from './ports.js';

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

export class ReliableProvisionals {
  /** Made on the first reliable 1xx (most calls have none), dropped at the final response. */
  private toA: Map<number, RelayedReliable> | null = null;
  private nextARSeq = 1 + Math.floor(Math.random() * 1000);
  /** Leg-B 1xx we PRACKed ourselves, by fork and RSeq (a retransmission is not PRACKed twice). */
  private prackedB: Set<string> | null = null;

  constructor(private readonly call: CallCore) {}

  /** Retransmission timers running (for leak checks). */
  get pendingTimers(): number {
    let n = 0;
    for (const r of this.toA?.values() ?? []) if (r.timer !== null) n++;
    return n;
  }

  /** Makes `out` (a 1xx to A relaying fork `bTag`'s reliable 1xx numbered `bRSeq`) reliable toward A. */
  relayToA(out: SipMessage, bTag: string, bRSeq: number): void {
    const aRSeq = this.nextARSeq++;
    markReliable(out, aRSeq);
    const t1 = this.call.env.t1Ms;
    const rel: RelayedReliable = { aRSeq, bTag, bRSeq, res: out, timer: null, interval: t1, deadline: Date.now() + 64 * t1 };
    (this.toA ??= new Map()).set(aRSeq, rel);
    this.schedule(rel);
  }

  private schedule(rel: RelayedReliable): void {
    // RFC 3262 §3: the UAS core retransmits a reliable 1xx with T1 doubling until PRACK.
    rel.timer = setTimeout(() => {
      rel.timer = null;
      const stx = this.call.legs.A.inviteServer;
      if (this.call.ended || stx === null || this.toA?.has(rel.aRSeq) !== true) return;
      if (Date.now() >= rel.deadline) {
        this.toA.delete(rel.aRSeq);
        return;
      }
      stx.respond(rel.res);
      rel.interval = Math.min(rel.interval * 2, this.call.env.t2Ms);
      this.schedule(rel);
    }, rel.interval);
  }

  /** A final response went to A (or the call ended): no more retransmissions. */
  stop(): void {
    for (const r of this.toA?.values() ?? []) if (r.timer !== null) clearTimeout(r.timer);
    this.toA = null;
    this.prackedB = null;
  }

  /** We answer leg B's reliable 1xx ourselves (RFC 3262 §4). */
  prackLocally(d: Dialog, attempt: InviteAttempt, bRSeq: number): void {
    const key = `${d.remoteTag}:${bRSeq}`;
    if (this.prackedB?.has(key) === true) return;
    (this.prackedB ??= new Set()).add(key);
    const prack = d.createRequest('PRACK');
    setRAck(prack, bRSeq, attempt.req.cseq?.seq ?? this.call.legs.B.inviteSeq);
    this.call.sendInDialog('B', d, prack, {
      onFinal: (r) => this.call.record('B', 'in', r),
      onTimeout: () => this.call.record('B', 'event', null, 'PRACK timeout'),
      onTransportError: () => this.call.record('B', 'event', null, 'PRACK transport error'),
    });
  }

  /** A's PRACK for a 1xx we relayed reliably: relayed to the fork that sent it (with A's answer, if any). */
  onPrackFromA(req: SipMessage, stx: ServerTransactionRef): void {
    const call = this.call;
    const aRSeq = rackRSeq(req);
    const rel = this.toA?.get(aRSeq);
    if (rel === undefined) return call.respondLocal('A', stx, SipStatus.CALL_DOES_NOT_EXIST);
    if (rel.timer !== null) clearTimeout(rel.timer);
    this.toA?.delete(aRSeq);
    const legB = call.legs.B;
    const d = legB.earlyDialog(rel.bTag) ?? (legB.dialog?.remoteTag === rel.bTag ? legB.dialog : null);
    const invite = legB.invite;
    if (d === null || invite === null) return call.respondLocal('A', stx, SipStatus.OK);
    const prack = d.createRequest('PRACK');
    setRAck(prack, rel.bRSeq, invite.req.cseq?.seq ?? legB.inviteSeq);
    copyEndToEndHeaders(req, prack);
    const relayFinal = (res: SipMessage): void => {
      call.record('B', 'in', res);
      const r = createResponse(req, res.status, res.reason);
      copyEndToEndHeaders(res, r);
      call.sendResponse('A', stx, r, res);
    };
    const send = async (): Promise<void> => {
      if (hasSdp(req)) {
        // An answer to an offer B put in its reliable 1xx (RFC 3262 §5).
        const out = await call.processSdp('answer', 'A', req.body);
        if (!('error' in out)) {
          prack.setBody(out.sdp, 'application/sdp');
          if (call.oa.pending('reliable-1xx')) call.oa.apply({ type: 'answer' });
        }
      }
      call.sendInDialog('B', d, prack, {
        onFinal: (res) => call.enqueue('prack-final', () => relayFinal(res)),
        onTimeout: () => call.enqueue('prack-timeout', () => call.respondLocal('A', stx, SipStatus.REQUEST_TIMEOUT)),
        onTransportError: () => call.enqueue('prack-error', () => call.respondLocal('A', stx, SipStatus.SERVICE_UNAVAILABLE)),
      });
    };
    return void send();
  }
}
