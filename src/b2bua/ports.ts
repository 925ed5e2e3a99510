/**
 * The narrow interfaces the call engine needs from the rest of the SBC.
 * The application adapts the real transaction layer, routing, manipulation,
 * media and CDR modules to these; tests hand in fakes.
 */
import type { SipMessage } from '../sip/message.js';
import type { Endpoint, InboundMessage, Transport } from '../transport/types.js';
import type { CallDetailRecord } from '../cdr/record.js';

export type { Endpoint, InboundMessage, Transport };

// --- transaction layer (RFC 3261 §17), as the TU sees it -------------------

/** Same contract as the transaction layer's; the engine sees nothing else of it. */
export type { ClientTransactionHandler } from '../transaction/types.js';
import type { ClientTransactionHandler } from '../transaction/types.js';

/** Opaque handle of a client transaction; only given back to `cancel`. */
export interface ClientTransactionRef {
  readonly request: SipMessage;
}

export interface ServerTransactionRef {
  readonly request: SipMessage;
  readonly inbound: InboundMessage;
  respond(res: SipMessage): void;
  /** Set by the TU: the layer has already answered the CANCEL with 200. */
  onCancel?: (cancel: SipMessage) => void;
  /** Set by the TU: a 2xx to INVITE was never acknowledged. */
  onAckTimeout?: () => void;
  /** Set by the TU: the final response could not be sent (§17.2.4), e.g. the caller's TCP connection is gone. */
  onTransportError?: (err: Error) => void;
  /** Drop the request without any answer (silent drop toward unknown sources). */
  discard?(): void;
  readonly state: string;
}

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

export type ClassifyResult = { srcIpGroup: IpGroupRef } | { reject: number | 'drop' };

export type RouteFailure = number | 'timeout' | 'transport-error' | null;

export interface OutboundContext {
  leg: 'A' | 'B';
  /** The IP group on the other leg of the call. */
  peerIpGroup: IpGroupRef | null;
  /** What was received on the other leg (after inbound manipulation), when this message relays one. */
  relayedFrom: SipMessage | null;
}

export interface RoutingPort {
  classify(req: SipMessage, inbound: InboundMessage): ClassifyResult;
  /** Message and number manipulation of the source IP Group; mutates `req` (a copy of what arrived). */
  applyInbound(req: SipMessage, src: IpGroupRef, inbound: InboundMessage): void;
  /**
   * attempt 0 is the first route; a later attempt asks for the alternative
   * after `lastFailure`. Null: no (more) routes for this failure.
   */
  route(req: SipMessage, src: IpGroupRef, attempt: number, lastFailure: RouteFailure): RouteTarget | { reject: number } | null;
  /** Manipulation of the destination IP Group on every message sent toward it; mutates `msg`. */
  applyOutbound(msg: SipMessage, dst: IpGroupRef | null, ctx: OutboundContext): void;
  credentialsFor(dst: IpGroupRef | null): { username: string; password: string } | null;
  maxConcurrentCalls(ipGroupName: string): number | null;
  readonly maxRerouteAttemptsOn3xx: number;
}

// --- media -----------------------------------------------------------------

export type SdpResult = { sdp: string } | { error: string; sipStatus: number };

export interface MediaHandle {
  processOffer(fromLeg: 'A' | 'B', sdp: string): Promise<SdpResult>;
  processAnswer(fromLeg: 'A' | 'B', sdp: string): Promise<SdpResult>;
  onInactivity?: (cb: () => void) => void;
  stats(): unknown;
  close(): void;
}

export interface MediaPort {
  /** Null: media is not anchored for this call; SDP passes unchanged. */
  create(callId: string, legA: IpGroupRef, legB: IpGroupRef | null): MediaHandle | null;
}

// --- CDR -------------------------------------------------------------------

export interface CdrSink {
  write(record: CallDetailRecord): void;
}
