/**
 * One side of a call. Leg A faces the caller (we are its UAS), leg B the
 * callee (we are its UAC); both hold the same kind of state, so "do X on
 * the other leg" is `legs[otherSide(side)].x`. Everything here changes
 * through the methods below; the flows read it.
 */
import type { Dialog } from '../dialog/dialog.js';
import type { SipMessage } from '../sip/message.js';
import { newTag } from '../sip/response.js';
import { nextHop, type LegRoute } from './addressing.js';
import { sharedMethod } from './compact.js';
import type { ClientTransactionRef, Endpoint, IpGroupRef, LegSide, RouteTarget, ServerTransactionRef } from './ports.js';

/** A leg-B INVITE in flight (one per routing attempt or 3xx/auth retry). */
export interface InviteAttempt {
  ctx: ClientTransactionRef | null;
  /** Replaced by a compact copy once the call is held (Leg.compactForHold). */
  req: SipMessage;
  readonly target: RouteTarget;
  finalReceived: boolean;
  provisionalSeen: boolean;
  cancelSent: boolean;
}

export class Leg {
  readonly side: LegSide;
  private routeNow: LegRoute | null;
  private groupNow: IpGroupRef | null;
  private tagNow: string;
  private confirmedDialog: Dialog | null = null;
  /** Leg B before a 2xx: one early dialog per fork that answered with a To tag (§13.2.2.4); made on the first. */
  private forks: Map<string, Dialog> | null = null;
  private sdpSent: Buffer | null = null;
  private allow: readonly string[] = [];
  private ackSent: SipMessage | null = null;
  /**
   * Leg B's answered INVITE transaction once the call is held: weakly, so the
   * call does not keep it (and its whole request) after it ends, yet can
   * release it when the call ends within its Accepted window (64*T1).
   */
  private acceptedInvite: WeakRef<ClientTransactionRef> | null = null;
  /** Leg A: the caller's INVITE transaction until its final response; leg B: our INVITE in flight. */
  private inviteServerTx: ServerTransactionRef | null = null;
  private inviteStatus = 0;
  private inviteClient: InviteAttempt | null = null;
  private cseq = 1;

  constructor(side: LegSide, group: IpGroupRef | null, route: LegRoute | null) {
    this.side = side;
    this.groupNow = group;
    this.routeNow = route;
    this.tagNow = newTag();
  }

  // --- who and where ------------------------------------------------------------

  /** The IP Group this leg talks to (null: a destination outside any group). */
  get group(): IpGroupRef | null {
    return this.groupNow;
  }

  /** Set once routed (leg B); never null where messages are sent. */
  get route(): LegRoute {
    if (this.routeNow === null) throw new Error(`leg ${this.side} has no destination yet`);
    return this.routeNow;
  }

  get routed(): boolean {
    return this.routeNow !== null;
  }

  get contact(): string {
    return this.route.contact;
  }

  get iface(): string {
    return this.route.iface;
  }

  /** Where a request inside `d` goes. */
  destFor(d: Dialog): Endpoint {
    return nextHop(this.route, d);
  }

  /** A new destination: leg B routed or rerouted, or a transfer target taking this leg's place. */
  routeTo(route: LegRoute, group: IpGroupRef | null): void {
    this.routeNow = route;
    this.groupNow = group;
  }

  /** Our tag on this leg: the To tag toward the caller (A), the From tag of our INVITE (B). */
  get tag(): string {
    return this.tagNow;
  }

  /** Leg B: a new INVITE to another destination is a new dialog attempt (§8.1.1.3). */
  renewTag(): void {
    this.tagNow = newTag();
  }

  // --- dialogs --------------------------------------------------------------------

  /** The confirmed dialog (leg A: also the early one we created with our first 1xx). */
  get dialog(): Dialog | null {
    return this.confirmedDialog;
  }

  useDialog(d: Dialog | null): void {
    this.confirmedDialog = d;
  }

  earlyDialog(remoteTag: string): Dialog | undefined {
    return this.forks?.get(remoteTag);
  }

  addEarlyDialog(d: Dialog): void {
    (this.forks ??= new Map()).set(d.remoteTag, d);
  }

  get earlyCount(): number {
    return this.forks?.size ?? 0;
  }

  /** The first early dialog: the one registered with the manager (all forks share Call-ID and our tag). */
  get firstEarly(): Dialog | null {
    return this.forks === null || this.forks.size === 0 ? null : this.forks.values().next().value!;
  }

  clearEarly(): void {
    this.forks = null;
  }

  /** The dialog a request from the peer belongs to, by its From tag (early forks included). */
  dialogForRemoteTag(tag: string | null): Dialog | null {
    if (this.confirmedDialog !== null) return this.confirmedDialog.remoteTag === tag ? this.confirmedDialog : null;
    return tag === null ? null : this.forks?.get(tag) ?? null;
  }

  /** Where a request from the other leg is relayed: the confirmed dialog, or the only early one. */
  get relayTarget(): Dialog | null {
    if (this.confirmedDialog !== null) return this.confirmedDialog;
    return this.earlyCount === 1 ? this.firstEarly : null;
  }

  // --- what we last sent -------------------------------------------------------------

  /** The last SDP we sent on this leg: a session refresh re-INVITE offers it again. */
  get lastSdpSent(): Buffer | null {
    return this.sdpSent;
  }

  noteSdpSent(sdp: Buffer): void {
    this.sdpSent = sdp;
  }

  /** The peer's Allow (for a refresh by UPDATE, RFC 4028 §7.1). */
  notePeerAllow(values: readonly string[]): void {
    // Normalised once, as shared method names: the list lives as long as the call.
    this.allow = values.map((m) => sharedMethod(m.trim().toUpperCase()));
  }

  peerAllows(method: string): boolean {
    return this.allow.includes(method);
  }

  /** Our last ACK for a 2xx on this leg: sent again when the 2xx is retransmitted (§13.2.2.4). */
  get lastAck(): SipMessage | null {
    return this.ackSent;
  }

  noteAck(ack: SipMessage): void {
    this.ackSent = ack;
  }

  // --- the dialog-creating INVITE ------------------------------------------------------

  /** Leg A: the caller's INVITE transaction while no final response was sent. */
  get inviteServer(): ServerTransactionRef | null {
    return this.inviteStatus === 0 ? this.inviteServerTx : null;
  }

  /** Leg A: the status of our final response to the caller's INVITE (0 = none yet). */
  get finalStatus(): number {
    return this.inviteStatus;
  }

  acceptInvite(stx: ServerTransactionRef): void {
    this.inviteServerTx = stx;
  }

  /** Leg A: the final response went out; the transaction is no longer ours to answer. */
  answeredInvite(status: number): void {
    this.inviteStatus = status;
    this.inviteServerTx = null;
  }

  /** Leg B: the INVITE in flight (or the last one). */
  get invite(): InviteAttempt | null {
    return this.inviteClient;
  }

  startInvite(attempt: InviteAttempt): void {
    this.inviteClient = attempt;
  }

  /** Leg B: the CSeq number of our current INVITE; a retry (auth, 422, 3xx) takes the next. */
  get inviteSeq(): number {
    return this.cseq;
  }

  nextInviteSeq(): number {
    return ++this.cseq;
  }

  /**
   * The call is connected: our INVITE keeps only what is still read (its
   * transaction is the transaction layer's until it ends), and the ACK we
   * resend for a retransmitted 2xx becomes a standalone copy.
   */
  compactForHold(compactInvite: (m: SipMessage) => SipMessage, compactAck: (m: SipMessage) => SipMessage): void {
    const inv = this.inviteClient;
    if (inv !== null && inv.finalReceived) {
      if (inv.ctx !== null) this.acceptedInvite = new WeakRef(inv.ctx);
      inv.ctx = null;
      inv.req = compactInvite(inv.req);
    }
    if (this.ackSent !== null) this.ackSent = compactAck(this.ackSent);
  }

  /**
   * The call ended: our answered INVITE transaction, if it still lives, no
   * longer reports to the call. One still waiting for its final is kept: a
   * 2xx crossing our CANCEL must still reach the call to be ACKed and BYEd.
   */
  releaseInvite(): void {
    const inv = this.inviteClient;
    if (inv !== null && inv.finalReceived) inv.ctx?.release?.();
    this.acceptedInvite?.deref()?.release?.();
    this.acceptedInvite = null;
  }

  /** After the 2xx: the INVITE's number is the dialog's (PRACKs may have used more, see Dialog.advanceLocalSeqTo). */
  settleInviteSeq(seq: number): void {
    this.cseq = seq;
  }
}
