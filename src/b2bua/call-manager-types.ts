/**
 * The call manager's options, statistics and transaction-layer hooks
 * (kept apart so call-manager.ts holds behaviour only).
 */
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/message.js';
import type {
  CallJournalPort, CdrSink, InboundMessage, LoadShedPort, LocalAddressPort, MediaPort, NonCallHandler, RequestGate, RoutingPort, ServerTransactionRef,
  TransactionPort,
} from './ports.js';

export interface CallManagerOptions {
  transactions: TransactionPort;
  routing: RoutingPort;
  media: MediaPort;
  cdr: CdrSink;
  local: LocalAddressPort;
  logger?: Logger;
  /** Out-of-dialog requests that are no call (REGISTER relay, ...); without it they get 405. */
  nonCall?: NonCallHandler;
  /** Checked for every classified new INVITE and out-of-dialog request (digest authentication). */
  gate?: RequestGate;
  /**
   * Told about every request refused before a call exists (for the IDS):
   * `unclassified` = no IP Group, `rejected` = a local refusal before any
   * 1xx (416, 420, 422, 483, 503 limits, ...), `no-dialog` = an in-dialog
   * request for a dialog we do not have.
   */
  onRefused?: (inbound: InboundMessage, kind: 'unclassified' | 'rejected' | 'no-dialog') => void;
  /** Calls in setup (INVITE until ACK) allowed per source address; absent = no quota. */
  pendingCallsPerSource?: (address: string) => number;
  /** For reliable 1xx retransmission toward leg A (RFC 3262); defaults 500/4000 ms. */
  t1Ms?: number;
  t2Ms?: number;
  /**
   * The reaper: every `reapIntervalMs` (default 5 s) calls whose current
   * event has run longer than `stalledEventMs` (default 30 s: media or a
   * port never answered) or whose legs are both gone are ended.
   */
  reapIntervalMs?: number;
  stalledEventMs?: number;
  /** Overload control; absent = never shed. */
  load?: LoadShedPort;
  /** Active-call journal: told at connect and at end (docs/cdr.md, "Crash safety"). */
  journal?: CallJournalPort;
}

export interface CallManagerStats {
  calls: number;
  dialogs: number;
  pendingTimers: number;
  callsByIpGroup: Record<string, number>;
  totalCalls: number;
  rejected: number;
  /** Calls ended by the reaper (stalled event, legs gone). */
  reaped: number;
  /** New INVITEs refused by overload control. */
  shed: number;
  /** Calls between INVITE and the ACK of the 2xx, and INVITEs refused by the per-source quota. */
  pendingCalls: number;
  pendingSources: number;
  pendingRefused: number;
}


/** The transaction layer's TU hooks, as the manager installs them. */
export interface TuHooks<S extends ServerTransactionRef = ServerTransactionRef> {
  onRequest: (req: SipMessage, stx: S | null, inbound: InboundMessage) => void;
  onStrayResponse: (res: SipMessage, inbound: InboundMessage) => void;
}
