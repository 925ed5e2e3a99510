/**
 * One call: leg A (we are the UAS toward the caller) and leg B (we are the
 * UAC toward the callee), two independent dialogs. Every event on one leg
 * is translated into a message we build ourselves on the other.
 *
 * This module assembles the flows around the shared core (call-core.ts)
 * and owns the end of the call: termination from any state, and the
 * release of everything the call holds (timers, dialogs, call-limit
 * counts, media) before its CDR is written.
 */
import type { TerminationSide } from '../cdr/record.js';
import type { SipMessage } from '../sip/message.js';
import { SipStatus } from '../sip/status.js';
import { legRoute } from './addressing.js';
import { CallCore } from './call-core.js';
import { CallerInvite } from './caller.js';
import { journalledCall } from './call-journal-port.js';
import { calleeOf, partyOfNameAddr, type CdrSource } from './cdr.js';
import type { CallDetail } from '../cdr/record.js';
import type { CallEnv } from './env.js';
import { userOf } from './headers.js';
import { InDialogRelay } from './in-dialog.js';
import { DialogKeepAlive } from './keepalive.js';
import type { CallRouting, InboundMessage, IpGroupRef, LegSide, ServerTransactionRef } from './ports.js';
import { ReliableProvisionals } from './reliable.js';
import { SessionTimers } from './session-timer.js';
import { LegBSetup } from './setup.js';
import { LocalTransfers } from './transfer.js';

export type { CallState } from './call-core.js';

export class Call extends CallCore implements CdrSource {
  private readonly sessionTimers: SessionTimers;
  private readonly reliable: ReliableProvisionals;
  private readonly caller: CallerInvite;
  private readonly setup: LegBSetup;
  private readonly transfers: LocalTransfers;
  private readonly inDialog: InDialogRelay;
  private readonly keepAlive: DialogKeepAlive;

  constructor(
    env: CallEnv, id: string, invite: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, src: IpGroupRef,
    routing: CallRouting, aReq: SipMessage,
  ) {
    // Leg A: requests go back where the caller's came from (NAT, its TCP connection).
    const local = env.local.contactAddress(inbound.interfaceName, inbound.local.transport) ?? inbound.local;
    const aRoute = legRoute(inbound.interfaceName, inbound.local.transport, inbound.remote, true, userOf(invite.getHeader('to')), local);
    super(env, id, invite, inbound, src, routing, aReq, aRoute);
    this.legs.A.acceptInvite(stx);
    this.sessionTimers = new SessionTimers(this);
    this.reliable = new ReliableProvisionals(this);
    this.keepAlive = new DialogKeepAlive(this);
    this.caller = new CallerInvite(this, this.reliable, this.sessionTimers, () => this.connected());
    this.setup = new LegBSetup(this, this.caller);
    this.transfers = new LocalTransfers(this, this.sessionTimers);
    this.inDialog = new InDialogRelay(this, this.sessionTimers, this.reliable, this.transfers);
  }

  // --- bookkeeping -----------------------------------------------------------

  get pendingTimers(): number {
    return this.timerCount + this.reliable.pendingTimers + this.keepAlive.pending;
  }

  get dialogCount(): number {
    const a = this.legs.A.dialog !== null ? 1 : 0;
    const b = this.legs.B.dialog !== null ? 1 : this.legs.B.earlyCount;
    return a + b + this.transfers.retiredCount;
  }

  get srcIpGroupName(): string {
    return this.src.name;
  }

  get dstIpGroupName(): string | null {
    return this.dst?.name ?? null;
  }

  get finalStatusToCaller(): number {
    return this.legs.A.finalStatus;
  }

  /** The facts of the call for its CDR: addresses, interfaces, parties before and after manipulation. */
  detail(): CallDetail {
    const inb = this.inbound;
    const legB = this.legs.B;
    // What leg B really carried: the INVITE after inbound and outbound manipulation.
    const sentB = legB.invite?.req ?? null;
    const callerBeforeMap = partyOfNameAddr(this.inviteA.getHeader('from'));
    const calleeBeforeMap = calleeOf(this.inviteA);
    return {
      legA: {
        remote: { address: inb.remote.address, port: inb.remote.port, transport: inb.remote.transport },
        local: { address: inb.local.address, port: inb.local.port, transport: inb.local.transport },
        sipInterface: inb.interfaceName,
      },
      legB: legB.routed
        ? { remote: { ...legB.route.dest }, sipInterface: legB.route.iface }
        : { remote: null, sipInterface: null },
      routeName: this.outcome.routeName,
      callerBeforeMap,
      calleeBeforeMap,
      caller: sentB !== null ? partyOfNameAddr(sentB.getHeader('from')) : callerBeforeMap,
      callee: sentB !== null ? calleeOf(sentB) : calleeBeforeMap,
      alertTime: this.outcome.alertTime,
      redirectUri: this.outcome.redirectUri,
      sipReason: this.outcome.sipReason,
    };
  }

  /**
   * Our 2xx went to the caller: keep-alives start, the call goes into the
   * active-call journal, and what only setup needed is let go (a held call
   * is most of a call's life and most of the SBC's memory).
   */
  private connected(): void {
    this.compactForHold();
    this.setup.settle();
    this.keepAlive.start(this.keepAliveSec());
    const j = this.env.journal === null ? null : journalledCall(this.id, this.legs, () => this.outcome.toRecord(this, undefined));
    if (j !== null) this.env.journal!.connected(j);
  }

  /** The shorter nonzero keep-alive interval of the two groups' profiles (0 = off). */
  private keepAliveSec(): number {
    const values = [this.src.profile.dialogKeepAliveSec ?? 0, this.dst?.profile.dialogKeepAliveSec ?? 0].filter((s) => s > 0);
    return values.length === 0 ? 0 : Math.min(...values);
  }

  // --- events from the call manager ----------------------------------------------

  start(): void {
    const stx = this.legs.A.inviteServer!;
    stx.onCancel = (cancel) => this.enqueue('cancel', () => this.setup.onCancelFromA(cancel));
    stx.onAckTimeout = () => this.enqueue('ack-timeout', () => this.terminate('A', 'no ACK for 2xx', SipStatus.REQUEST_TIMEOUT));
    // The transaction ends when its final cannot be sent, so timer L never fires: without this a 2xx
    // lost to a closed TCP connection would leave leg B connected for good.
    stx.onTransportError = (err) => this.enqueue('transport-error-a', () => {
      this.log.warn({ err: err.message }, 'leg A transport error');
      this.terminate('A', 'final response to caller could not be sent', SipStatus.SERVICE_UNAVAILABLE);
    });
    this.record('A', 'in', this.inviteA);
    this.enqueue('route', () => this.setup.start());
  }

  onAck(side: LegSide, ack: SipMessage): void {
    this.enqueue('ack', () => this.inDialog.onAck(side, ack));
  }

  onInDialogRequest(side: LegSide, req: SipMessage, stx: ServerTransactionRef): void {
    this.enqueue(req.method, () => this.inDialog.handle(side, req, stx));
  }

  onLate2xx(res: SipMessage): void {
    this.setup.onLate2xx(res);
  }

  // --- ending -----------------------------------------------------------------

  /**
   * Ends the call from any state: BYE to every confirmed leg except the one
   * that hung up, CANCEL or a final response to legs still setting up.
   */
  terminate(side: TerminationSide, reason: string, statusToA: number = SipStatus.SERVICE_UNAVAILABLE): void {
    if (this.ended) return;
    this.outcome.noteTermination(side, reason);
    this.record('-', 'event', null, `terminate: ${side} ${reason}`);
    if (this.legs.A.inviteServer !== null) {
      this.markCancelled();
      this.caller.reject(statusToA);
    }
    if (side !== 'A') this.sendBye('A');
    if (side !== 'B') this.sendBye('B');
    if (this.legs.B.dialog === null) this.setup.sendCancel();
    this.finish(reason);
  }

  /** Releases everything the call holds and writes its CDR. Idempotent. */
  finish(reason?: string): void {
    if (this.ended) return;
    if (reason !== undefined) this.outcome.noteReason(reason);
    this.advance('ended');
    this.outcome.markEnded();
    this.clearAllTimers();
    this.keepAlive.stop();
    this.reliable.stop();
    this.sessionTimers.stopAll();
    this.transfers.endAll();
    if (this.legs.A.inviteServer !== null) this.caller.reject(SipStatus.SERVER_INTERNAL_ERROR);
    const a = this.legs.A.dialog;
    if (a !== null) this.env.unregisterDialog(a);
    const b = this.legs.B.dialog ?? this.legs.B.firstEarly;
    if (b !== null) this.env.unregisterDialog(b);
    this.legs.B.clearEarly();
    this.legs.B.releaseInvite();
    this.releaseGroups();
    const cdr = this.outcome.toRecord(this, this.closeMedia());
    // Checked first: the call's child logger (and its bindings) would otherwise be made for every call at warn.
    if (this.env.logger.isLevelEnabled('info')) {
      this.log.info({ status: cdr.sipStatus, side: cdr.terminationSide, reason: cdr.terminationReason, durationSec: cdr.durationSec }, 'call ended');
    }
    this.env.callEnded(this, cdr);
  }
}
