import type { SipMessage } from '../sip/message.js';
import type { Endpoint, InboundMessage } from '../transport/types.js';

/** §17.1.1 with RFC 6026's Accepted state. */
export type InviteClientState = 'init' | 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
/** §17.1.2. */
export type NonInviteClientState = 'init' | 'trying' | 'proceeding' | 'completed' | 'terminated';
export type ClientTransactionState = InviteClientState | NonInviteClientState;
/** §17.2.1 with RFC 6026's Accepted state; `discarded`: the TU dropped the request without an answer. */
export type InviteServerState = 'init' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'discarded' | 'terminated';
/** §17.2.2; `discarded` as for INVITE. */
export type NonInviteServerState = 'init' | 'trying' | 'proceeding' | 'completed' | 'discarded' | 'terminated';
export type ServerTransactionState = InviteServerState | NonInviteServerState;

export interface TransactionLayerOptions {
  /** RTT estimate; default 500 ms (§17.1.1.1). */
  t1Ms?: number;
  /** Maximum retransmission interval for non-INVITE requests and INVITE responses; default 4000 ms. */
  t2Ms?: number;
  /** Maximum time a message stays in the network; default 5000 ms. */
  t4Ms?: number;
  /**
   * Mediant SIPMaxRtx: transmissions of a request over UDP (first send
   * included) before the client transaction fails as if timer B/F fired.
   * Default: unbounded, only timer B/F (64*T1) ends the wait.
   */
  maxRtx?: number;
  logger?: import('pino').Logger;
}

export interface ClientTransactionHandler {
  onProvisional?(res: SipMessage): void;
  /** First final response (2xx or not). For INVITE, later 2xx go to onAdditional2xx. */
  onFinal(res: SipMessage): void;
  /** INVITE: further 2xx received in the Accepted state (retransmissions, forks). */
  onAdditional2xx?(res: SipMessage): void;
  /** Timer B / F fired (or no final response within 64*T1 after our CANCEL). */
  onTimeout(): void;
  /** The transport could not send the request: treat as 503 (§8.1.3.1). */
  onTransportError(err: Error): void;
}

export interface ClientTransaction {
  readonly request: SipMessage;
  readonly method: string;
  /** Branch of the Via we added: the transaction id. */
  readonly branch: string;
  readonly dest: Endpoint;
  readonly interfaceName: string;
  readonly state: ClientTransactionState;
  /**
   * The TU is done with it (its call ended): the handler is dropped, so the
   * TU's objects are not kept until the transaction ends (up to 64*T1 in
   * Accepted); a further 2xx is then absorbed.
   */
  release(): void;
}

export interface ServerTransaction {
  readonly request: SipMessage;
  readonly inbound: InboundMessage;
  /**
   * Sends a response built with createResponse(). 1xx any number of
   * times, then one final; anything after the final is ignored (and
   * logged). Retransmissions follow the state machine; for INVITE the 2xx
   * is retransmitted by the transaction until the ACK or timer L.
   */
  respond(res: SipMessage): void;
  /** Set by the TU: a CANCEL matched this INVITE (the layer already answered it 200). */
  onCancel?: (cancel: SipMessage) => void;
  /** INVITE: no ACK for the final response (timer H, or timer L for a 2xx). */
  onAckTimeout?: () => void;
  /** A response could not be sent (§17.2.4). */
  onTransportError?: (err: Error) => void;
  readonly state: ServerTransactionState;
  /** True once a final response was handed to respond(). */
  readonly finalSent: boolean;
  /**
   * The TU drops the request without any answer (e.g. an unclassified
   * source with silent drop): nothing is sent, retransmissions are
   * absorbed silently until 64*T1, then the transaction ends.
   */
  discard(): void;
  /**
   * The TU hands the request to another thread (SIP worker threads): the
   * transaction ends now, unanswered, so a retransmission reaches the TU
   * again as a new request and follows the first to its owner.
   */
  handOver?(): void;
}

export interface TransactionStats {
  clientTransactions: number;
  serverTransactions: number;
  requestsReceived: number;
  responsesReceived: number;
  retransmissionsSent: number;
  retransmissionsAbsorbed: number;
  /** Requests the TU dropped without an answer. */
  requestsDiscarded: number;
  clientTimeouts: number;
  transportErrors: number;
  ackTimeouts: number;
  loopsOrMerges482: number;
  cancelsMatched: number;
  cancelsUnmatched481: number;
  strayResponses: number;
  acksForwarded: number;
  tuErrors: number;
}
