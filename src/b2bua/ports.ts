/**
 * The narrow interfaces the call engine needs from the rest of the SBC.
 * The application adapts the real transaction layer, routing, manipulation,
 * media and CDR modules to these; tests hand in fakes.
 */
import type { SipMessage } from '../sip/message.js';
import type { Endpoint, InboundMessage, Transport } from '../transport/types.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { JournalDialog } from '../cdr/journal.js';

export type { Endpoint, InboundMessage, Transport };

// --- the two sides of a call -------------------------------------------------

/** A: we are the UAS toward the caller. B: we are the UAC toward the callee. */
export type LegSide = 'A' | 'B';

export function otherSide(side: LegSide): LegSide {
  return side === 'A' ? 'B' : 'A';
}

/**
 * What the call manager's dialog map hands messages to: the call owning
 * a dialog, told which of its sides the dialog is on.
 */
export interface DialogOwner {
  onAck(side: LegSide, ack: SipMessage): void;
  onInDialogRequest(side: LegSide, req: SipMessage, stx: ServerTransactionRef): void;
  /** A 2xx to leg B's INVITE after the transaction ended (retransmission or another fork). */
  onLate2xx(res: SipMessage): void;
}

// --- transaction layer (RFC 3261 §17), as the TU sees it -------------------

/** Same contract as the transaction layer's; the engine sees nothing else of it. */
export type { ClientTransactionHandler } from '../transaction/types.js';
import type { ClientTransactionHandler, ServerTransaction } from '../transaction/types.js';

/** Opaque handle of a client transaction; only given back to `cancel`. */
export interface ClientTransactionRef {
  readonly request: SipMessage;
  /** The call is done with it: its handler (and so the call) is not kept until the transaction ends. */
  release?(): void;
}

/**
 * A server transaction as the engine sees it: the transaction layer's own
 * contract (request, respond, onCancel/onAckTimeout/onTransportError hooks,
 * state), with `discard` optional so fakes need not model silent drop.
 */
export type ServerTransactionRef = Omit<ServerTransaction, 'finalSent' | 'discard'> & { discard?(): void };

export interface TransactionPort {
  /** Adds our Via, runs timers A/B/E/F. */
  sendRequest(req: SipMessage, dest: Endpoint, interfaceName: string, handler: ClientTransactionHandler): ClientTransactionRef;
  /** ACK for a 2xx: outside any transaction. */
  sendStateless(msg: SipMessage, dest: Endpoint, interfaceName: string): Promise<void>;
  cancel(ctx: ClientTransactionRef, extraHeaders?: Array<[string, string]>): void;
}

// --- our own addresses -----------------------------------------------------

export interface LocalAddressPort {
  /** The address and port we listen on for this interface and transport (for Contact). Null when not listening. */
  contactAddress(interfaceName: string, transport: Transport): { address: string; port: number } | null;
}

// --- routing, manipulation, accounts ---------------------------------------

export interface CallProfile {
  /** transparent: 100rel end to end when both sides support it; local: the SBC answers PRACK itself; disabled: no 100rel. */
  prackMode: 'transparent' | 'local' | 'disabled';
  /** Session-Expires we ask for on this leg; 0 disables session timers on it. */
  sessionExpiresSec: number;
  minSeSec: number;
  referMode: 'relay' | 'local';
  redirect3xxMode: 'relay' | 'local';
  /** 0 = no limit. */
  maxCallDurationSec: number;
  /**
   * Seconds leg B may ring without answering (Mediant `SBCAlertTimeout`):
   * then leg B is CANCELled and A gets 408. Absent or 0 = only the
   * transaction timers apply.
   */
  noAnswerTimeoutSec?: number;
  /**
   * Seconds between in-dialog OPTIONS on both legs of a connected call
   * (SBCDialogKeepAliveTime, ours); a leg that answers 481/408 or not at
   * all ends the call. Absent or 0 = off.
   */
  dialogKeepAliveSec?: number;
}

export interface IpGroupRef {
  name: string;
  id: number;
  type: 'server' | 'user';
  keepOriginalCallId: boolean;
  /** Host used in From/To toward this group (its SIP Group Name); null = the destination address. */
  sipGroupName: string | null;
  profile: CallProfile;
}

export interface RouteTarget {
  dstIpGroup: IpGroupRef | null;
  dest: Endpoint;
  /** SIP Interface to send from. */
  interfaceName: string;
  requestUri: string;
  /** Routing rule that matched, for the timeline and the CDR. */
  ruleName?: string;
}

/** A classified request: its source IP Group and, for a call, the routing handle bound to the config that classified it. */
export type ClassifyResult = { srcIpGroup: IpGroupRef; routing: CallRouting } | { reject: number | 'drop' };

export type RouteFailure = number | 'timeout' | 'transport-error' | null;

export interface OutboundContext {
  leg: LegSide;
  /** The IP group on the other leg of the call. */
  peerIpGroup: IpGroupRef | null;
  /** What was received on the other leg (after inbound manipulation), when this message relays one. */
  relayedFrom: SipMessage | null;
}

/** `reject`: answer the caller with that status; `ruleName`: the routing row that rejected (none when no row matched). */
export type RouteResult = RouteTarget | { reject: number; ruleName?: string } | null;

/** One request's walk over the routing rows: the first route, then the alternative after each failure. */
export interface RouteWalk {
  /** null: the first route; a failure: the alternative after it. Null result: no (more) routes. */
  next(lastFailure: RouteFailure): RouteResult;
}

/**
 * One call's routing and manipulation, bound to the configuration that
 * classified its INVITE: a reload changes new calls only, and every
 * message of this call (in-dialog requests, responses, transfers) is
 * manipulated with the same configuration.
 */
export interface CallRouting {
  /** Message and number manipulation of the source IP Group; mutates `req` (a copy of what arrived). */
  applyInbound(req: SipMessage, inbound: InboundMessage): void;
  /** A routing walk for `req` as if it came from `src` (the call's INVITE, or a REFER target the SBC calls). */
  routeWalk(req: SipMessage, src: IpGroupRef): RouteWalk;
  /** Manipulation of the destination IP Group on every message sent toward it; mutates `msg`. */
  applyOutbound(msg: SipMessage, dst: IpGroupRef | null, ctx: OutboundContext): void;
  credentialsFor(dst: IpGroupRef | null): { username: string; password: string } | null;
  readonly maxRerouteAttemptsOn3xx: number;
  /** Mediant SBCMaxForwardsLimit: Max-Forwards sent is min(received - 1, this); absent = no cap. */
  readonly maxForwardsLimit?: number;
}

export interface RoutingPort {
  classify(req: SipMessage, inbound: InboundMessage): ClassifyResult;
  /** Mediant CAC: concurrent calls allowed for the group; null = unlimited. Read live (a reload applies at once). */
  maxConcurrentCalls(ipGroupName: string): number | null;
  /** Full call admission control (SBCAdmissionControl); when absent only maxConcurrentCalls applies. */
  readonly admission?: AdmissionPort;
}

/** One dialog asking to be admitted (Mediant SBCAdmissionControl). */
export interface AdmissionClaim {
  /** IP Group the dialog comes from (inbound) or goes to (outbound). */
  group: string | null;
  /** SIP Interface it arrived on (inbound) or leaves from; null when not known. */
  interfaceName: string | null;
  direction: 'inbound' | 'outbound';
  method: string;
  /** The user counted by LimitPerUser (From user inbound, Request-URI user outbound); '' = none. */
  user: string;
}

export interface AdmissionPort {
  /** Admits the dialog (the returned function gives its place back, once) or says why not. */
  claim(c: AdmissionClaim): (() => void) | { reject: number; reason: string };
}

/**
 * Out-of-dialog requests that start no call (REGISTER, and later MESSAGE,
 * SUBSCRIBE, ...): handed over after classification; true when taken
 * (answered or being relayed), false to let the manager answer as before.
 */
export interface NonCallHandler {
  handle(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, classified: { srcIpGroup: IpGroupRef; routing: CallRouting }): boolean;
}

/**
 * Admission of a classified out-of-dialog request before anything else
 * (the SBC as digest authenticator): false when the gate answered it
 * (challenge, 403) and the request goes no further.
 */
export interface RequestGate {
  admit(req: SipMessage, stx: ServerTransactionRef, inbound: InboundMessage, src: IpGroupRef): boolean;
}

// --- media -----------------------------------------------------------------

export type SdpResult = { sdp: string } | { error: string; sipStatus: number };

export interface MediaHandle {
  processOffer(fromLeg: LegSide, sdp: string): Promise<SdpResult>;
  processAnswer(fromLeg: LegSide, sdp: string): Promise<SdpResult>;
  onInactivity?: (cb: () => void) => void;
  stats(): unknown;
  close(): void;
}

export interface MediaPort {
  /** Null: media is not anchored for this call; SDP passes unchanged. */
  create(callId: string, legA: IpGroupRef, legB: IpGroupRef | null): MediaHandle | null;
}

// --- overload ----------------------------------------------------------------

/**
 * Measured load: while `shedding` (event-loop delay), or while
 * `maxPendingSetups` calls (> 0) are still being set up (queue depth), new
 * out-of-dialog INVITEs are refused (503 + Retry-After, or dropped).
 */
export interface LoadShedPort {
  readonly shedding: boolean;
  readonly maxPendingSetups: number;
  readonly action: 'reject' | 'drop';
  readonly retryAfterSec: number;
  noteShed(): void;
}

// --- CDR -------------------------------------------------------------------

export interface CdrSink {
  write(record: CallDetailRecord): void;
}

// --- crash safety -------------------------------------------------------------

/** A connected call as the active-call journal keeps it (docs/cdr.md, "Crash safety"). */
export interface JournalledCall {
  sessionId: string;
  legA: JournalDialog;
  legB: JournalDialog;
  /** The call's record as of now (built only when the entry is written: short calls never pay for it). */
  record(): CallDetailRecord;
}

/** Told when a call connects (2xx relayed to the caller) and when it ends, whatever the reason. */
export interface CallJournalPort {
  connected(call: JournalledCall): void;
  ended(sessionId: string): void;
}
