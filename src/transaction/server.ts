/**
 * Server transactions (RFC 3261 §17.2, with the RFC 6026 Accepted state).
 *
 * Design choice for the 2xx to INVITE: RFC 6026 puts its retransmission
 * in the TU; here the server transaction does it (T1 doubling up to T2)
 * until the ACK arrives or timer L (64*T1) fires, so a TU only ever calls
 * respond() once. The ACK is reported to the TU through onRequest with
 * stx = null, once; repeated ACKs are absorbed.
 */
import type { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { wireResponse, type WireResponse } from '../transport/wire-response.js';
import type { InboundMessage } from '../transport/types.js';
import { callTu, type TxEnv } from './env.js';
import { flatString } from '../util/flat-string.js';
import { retiredInbound } from './retired.js';
import type { ServerTransaction, ServerTransactionState } from './types.js';

type Timer = ReturnType<typeof setTimeout>;

abstract class ServerTransactionBase implements ServerTransaction {
  private req: SipMessage;
  private inb: InboundMessage;
  readonly key: string;
  /** §8.2.2.2 index entry (From tag, Call-ID, CSeq) while this transaction lives. */
  mergeKey: string | null = null;
  acceptedKey: string | null = null;
  private current: ServerTransactionState = 'init';
  finalSent = false;
  onCancel?: (cancel: SipMessage) => void;
  onAckTimeout?: () => void;
  onTransportError?: (err: Error) => void;
  /** Last response sent: what a retransmitted request gets again. */
  lastResponse: SipMessage | null = null;
  protected readonly env: TxEnv;
  protected readonly reliable: boolean;
  protected retransTimer: Timer | null = null;
  protected retransInterval = 0;
  /** Only for an end timer of 0 ms (timer I on a reliable transport); the others are on the wheel. */
  protected endTimer: Timer | null = null;
  /** Slot of the end timer on the layer's wheel (end-timers.ts); 0 = not armed. */
  endSlot = 0;

  constructor(env: TxEnv, request: SipMessage, inbound: InboundMessage, key: string) {
    this.env = env;
    this.req = request;
    this.inb = inbound;
    this.key = key;
    this.reliable = inbound.remote.transport !== 'udp';
  }

  get request(): SipMessage {
    return this.req;
  }

  get inbound(): InboundMessage {
    return this.inb;
  }

  /** The request is not read again (retired.ts): only the method and where responses go stay. */
  protected retireRequest(): void {
    if (this.inb.message !== this.req) return; // already retired
    this.inb = retiredInbound(this.inb);
    this.req = this.inb.message;
  }

  abstract respond(res: SipMessage): void;
  /** The same request again: answer with the last response, or absorb. */
  abstract receiveRetransmission(): void;

  get state(): ServerTransactionState {
    return this.current;
  }

  /** The only place the state changes: every transition of the machine goes through here. */
  protected enter(next: ServerTransactionState): void {
    this.current = next;
  }

  get terminated(): boolean {
    return this.current === 'terminated';
  }

  protected send(res: SipMessage, isFinal: boolean): void {
    this.env.transport.sendResponse(res, this.inbound).catch((err: Error) => this.sendFailed(err, res.status, isFinal));
  }

  protected sendFailed(err: Error, status: number, isFinal: boolean): void {
    this.env.counters.transportErrors++;
    this.env.log?.debug({ err: err.message, status }, 'could not send response');
    if (!isFinal || this.terminated) return;
    // §17.2.4: a final response that cannot be sent ends the transaction; the TU is told.
    this.terminate();
    callTu(this.env, 'onTransportError', () => this.onTransportError?.(err));
  }

  protected resendLast(): void {
    if (this.lastResponse === null) return;
    this.env.counters.retransmissionsSent++;
    this.send(this.lastResponse, false);
  }

  protected rejectLate(res: SipMessage): void {
    this.env.log?.warn({ status: res.status, state: this.state, method: this.request.method }, 'response after final ignored');
  }

  clearTimers(): void {
    if (this.retransTimer !== null) clearTimeout(this.retransTimer);
    this.retransTimer = null;
    this.clearEndTimer();
  }

  protected clearEndTimer(): void {
    if (this.endTimer !== null) clearTimeout(this.endTimer);
    this.endTimer = null;
    if (this.endSlot !== 0) this.env.endTimers.cancel(this);
  }

  /** Arms the end timer (H, I, J, L, or the discard window). */
  protected armEndTimer(ms: number): void {
    if (ms <= 0) this.endTimer = setTimeout(fireEndTimer, 0, this);
    else this.env.endTimers.schedule(this, ms);
  }

  /** The end timer fired: the window is over. */
  endTimerFired(): void {
    this.endTimer = null;
    this.terminate();
  }

  discard(): void {
    if (this.state === 'terminated' || this.finalSent) return;
    this.clearTimers();
    this.enter('discarded');
    this.lastResponse = null;
    this.env.counters.requestsDiscarded++;
    // Kept (silent) for the retransmission window so repeats are absorbed, not re-delivered to the TU.
    this.armEndTimer(64 * this.env.t1);
  }

  handOver(): void {
    this.terminate();
  }

  /**
   * Nothing more can reach the TU (the ACK came): its callbacks are dropped
   * so that the TU's objects (a whole call) are not kept for the rest of the
   * retransmission window (up to 64*T1) by the transaction layer's maps.
   */
  protected dropTu(): void {
    this.onCancel = undefined;
    this.onAckTimeout = undefined;
    this.onTransportError = undefined;
    this.retireRequest();
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.enter('terminated');
    this.clearTimers();
    this.env.serverTerminated(this);
  }
}

function fireRetrans(tx: InviteServerTransaction): void {
  tx.onRetransTimer();
}

function fireEndTimer(tx: ServerTransactionBase): void {
  tx.endTimerFired();
}

/** §17.2.1 + RFC 6026: proceeding -> accepted | completed -> confirmed -> terminated. */
export class InviteServerTransaction extends ServerTransactionBase {
  private ackReceived = false;
  /** To tag of our responses (a CANCEL's 200 and 2543-style ACK matching read it after lastResponse is gone). */
  private sentTag: string | null = null;

  start(): void {
    this.enter('proceeding');
  }

  /**
   * Sends 100 Trying as soon as the TU has seen the INVITE, rather than
   * after 200 ms (§17.2.1 allows both): an SBC routes, manipulates and opens
   * a second leg before it can answer, and the 100 stops the caller's
   * retransmissions early. Not before the TU has seen it, so that a
   * request the TU drops silently gets no answer at all.
   */
  sendTryingIfIdle(): void {
    if (this.state !== 'proceeding' || this.lastResponse !== null) return;
    const trying = createResponse(this.request, 100);
    this.lastResponse = trying;
    this.send(trying, false);
  }

  respond(res: SipMessage): void {
    if (this.state !== 'proceeding') {
      this.rejectLate(res);
      return;
    }
    this.lastResponse = res;
    if (res.toTag !== null) this.sentTag = res.toTag;
    const status = res.status;
    if (status < 200) {
      this.send(res, false);
      return;
    }
    this.finalSent = true;
    if (status < 300) {
      this.enter('accepted');
      this.retransInterval = this.env.t1;
      // 2xx retransmission runs on every transport: it is end to end (§13.3.1.4).
      this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this);
      this.armEndTimer(64 * this.env.t1); // timer L
      const toTag = res.toTag;
      const fromTag = this.request.fromTag;
      const cseq = this.request.cseq;
      if (cseq !== null) {
        this.acceptedKey = flatString(`${this.request.callId}|${cseq.seq}|${fromTag ?? ''}|${toTag ?? ''}`);
        this.env.registerAccepted(this.acceptedKey, this);
      }
    } else {
      this.enter('completed');
      if (!this.reliable) {
        this.retransInterval = this.env.t1;
        this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this); // timer G
      }
      this.armEndTimer(64 * this.env.t1); // timer H
    }
    this.send(res, true);
  }

  /** Timer G (non-2xx) or the 2xx retransmission timer. */
  onRetransTimer(): void {
    this.retransTimer = null;
    if (this.state === 'completed' || (this.state === 'accepted' && !this.ackReceived)) {
      this.resendLast();
      this.retransInterval = Math.min(2 * this.retransInterval, this.env.t2);
      this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this);
    }
  }

  /** Timer H (completed), L (accepted), I (confirmed) or the discard window. */
  override endTimerFired(): void {
    this.endTimer = null;
    const noAck = this.state === 'completed' || (this.state === 'accepted' && !this.ackReceived);
    this.terminate();
    if (noAck) {
      this.env.counters.ackTimeouts++;
      callTu(this.env, 'onAckTimeout', () => this.onAckTimeout?.());
    }
  }

  receiveRetransmission(): void {
    this.env.counters.retransmissionsAbsorbed++;
    // Proceeding: repeat the last provisional; Completed: the final. Accepted: the 2xx timer covers it.
    // Discarded: nothing.
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
  }

  /** ACK in the same transaction (non-2xx final): Completed -> Confirmed, then timer I. */
  receiveAckForFinal(): void {
    this.env.counters.retransmissionsAbsorbed++;
    if (this.state !== 'completed') return;
    this.enter('confirmed');
    this.clearTimers();
    this.armEndTimer(this.reliable ? 0 : this.env.t4); // timer I
    this.dropTu();
  }

  /** ACK for our 2xx. Returns true the first time (the TU hears of it), false for repeats. */
  receiveAckFor2xx(): boolean {
    if (this.ackReceived) return false;
    this.ackReceived = true;
    if (this.retransTimer !== null) clearTimeout(this.retransTimer);
    this.retransTimer = null;
    // Stay Accepted until timer L so INVITE retransmissions are still absorbed (RFC 6026); they get
    // nothing from the transaction in that state, so the 2xx is no longer needed either.
    this.lastResponse = null;
    this.dropTu();
    return true;
  }

  /** To tag the TU used (from a provisional or final response). */
  get localTag(): string | null {
    return this.sentTag;
  }
}

/** §17.2.2: trying -> proceeding -> completed -> terminated. */
export class NonInviteServerTransaction extends ServerTransactionBase {
  /**
   * Over UDP, the final response as it went out (bytes and address): what
   * a retransmitted request gets until timer J. A BYE's 200 kept as a
   * message would keep its header values, and through them the BYE's
   * whole text, in the heap for 32 s of every call.
   */
  private wire: WireResponse | null = null;

  start(): void {
    this.enter('trying');
  }

  respond(res: SipMessage): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') {
      this.rejectLate(res);
      return;
    }
    this.lastResponse = res;
    if (res.status < 200) {
      this.enter('proceeding');
      this.send(res, false);
      return;
    }
    this.finalSent = true;
    this.enter('completed');
    if (this.reliable) {
      this.send(res, true);
      this.terminate();
      return;
    }
    const wire = wireResponse(res, this.inbound);
    if (wire === null) this.send(res, true);
    else {
      this.wire = wire;
      this.lastResponse = null;
      this.sendWire(wire, true);
    }
    // Timer J: keep answering retransmissions for 64*T1 on unreliable transports, with the response alone.
    this.armEndTimer(64 * this.env.t1);
    this.retireRequest();
  }

  private sendWire(wire: WireResponse, isFinal: boolean): void {
    this.env.transport.sendWireResponse(wire).catch((err: Error) => this.sendFailed(err, wire.status, isFinal));
  }

  receiveRetransmission(): void {
    this.env.counters.retransmissionsAbsorbed++;
    if (this.state === 'completed' && this.wire !== null) {
      this.env.counters.retransmissionsSent++;
      this.sendWire(this.wire, false);
    } else if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
  }
}

export type AnyServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
