/**
 * Client transactions (RFC 3261 §17.1, with the RFC 6026 Accepted state).
 *
 * Retransmission and timeout timers (A, B, E, F) are plain setTimeout
 * handles with a static callback and the transaction as argument: Node
 * keeps one list per distinct duration and they are few (T1·2^n, T2,
 * 64·T1), without a closure per arm. The end timers (D, K, M), armed for
 * the whole retransmission window of every finished transaction, are on
 * the layer's wheel (end-timers.ts).
 */
import type { SipMessage } from '../sip/message.js';
import { requestDerivedFromInvite } from './derived-requests.js';
import type { Endpoint, Transport } from '../transport/types.js';
import { callTu, type TxEnv } from './env.js';
import { retiredRequest } from './retired.js';
import type { ClientTransaction, ClientTransactionHandler, ClientTransactionState } from './types.js';

type Timer = ReturnType<typeof setTimeout>;

abstract class ClientTransactionBase implements ClientTransaction {
  /** Our request; a shared placeholder once only retransmitted responses can arrive (retired.ts). */
  request: SipMessage;
  readonly method: string;
  readonly branch: string;
  readonly dest: Endpoint;
  readonly interfaceName: string;
  readonly key: string;
  private current: ClientTransactionState = 'init';
  /** Reliable transports do not retransmit (§17.1.1.2); a large UDP request may become reliable when sent over TCP. */
  reliable: boolean;
  /** The TU; NOOP_HANDLER once nothing more can reach it (or it released the transaction). */
  protected handler: ClientTransactionHandler;
  protected readonly env: TxEnv;
  /** Timer A / E. */
  protected retransTimer: Timer | null = null;
  protected retransInterval = 0;
  /** Transmissions of the request so far (first send included), bounded by SIPMaxRtx. */
  protected transmissions = 0;
  /** Timer B / F. */
  protected timeoutTimer: Timer | null = null;
  /** Timer D / K of 0 ms (reliable transports); the others are on the layer's wheel (end-timers.ts). */
  protected endTimer: Timer | null = null;
  /** Slot of timer D / K / M on the wheel; 0 = not armed. */
  endSlot = 0;

  constructor(env: TxEnv, request: SipMessage, branch: string, dest: Endpoint, interfaceName: string, handler: ClientTransactionHandler) {
    this.env = env;
    this.request = request;
    this.method = request.method;
    this.branch = branch;
    this.dest = dest;
    this.interfaceName = interfaceName;
    this.handler = handler;
    this.key = `${branch}|${request.method}`;
    this.reliable = dest.transport !== 'udp';
  }

  abstract start(): void;
  abstract receive(res: SipMessage): void;

  get state(): ClientTransactionState {
    return this.current;
  }

  /** The only place the state changes: every transition of the machine goes through here. */
  protected enter(next: ClientTransactionState): void {
    this.current = next;
  }

  get terminated(): boolean {
    return this.current === 'terminated';
  }

  /** Sends the request; the first send tells us whether the transport switched to TCP. */
  protected transmit(first: boolean): void {
    this.transmissions++;
    this.env.transport.send(this.request, this.dest, this.interfaceName).then(
      (used: Transport) => {
        if (first && used !== 'udp' && !this.reliable) {
          this.reliable = true;
          this.clearRetrans();
        }
      },
      (err: Error) => this.transportError(err),
    );
  }

  /**
   * Mediant SIPMaxRtx: after that many transmissions without any response
   * the request has failed; one more interval is given for the answer to
   * the last copy. Timer B/F (64*T1) still bounds the wait. Returns true
   * when the transaction gave up.
   */
  protected exhausted(): boolean {
    if (this.transmissions < this.env.maxRtx) return false;
    this.onTimeout();
    return true;
  }

  protected retransmit(): void {
    this.env.counters.retransmissionsSent++;
    this.transmit(false);
  }

  protected transportError(err: Error): void {
    if (this.terminated) return;
    this.env.counters.transportErrors++;
    this.terminate();
    callTu(this.env, 'onTransportError', () => this.handler.onTransportError(err));
  }

  onTimeout(): void {
    if (this.terminated) return;
    this.env.counters.clientTimeouts++;
    this.terminate();
    callTu(this.env, 'onTimeout', () => this.handler.onTimeout());
  }

  protected clearRetrans(): void {
    if (this.retransTimer !== null) clearTimeout(this.retransTimer);
    this.retransTimer = null;
  }

  protected clearTimeoutTimer(): void {
    if (this.timeoutTimer !== null) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = null;
  }

  clearTimers(): void {
    this.clearRetrans();
    this.clearTimeoutTimer();
    if (this.endTimer !== null) clearTimeout(this.endTimer);
    this.endTimer = null;
    if (this.endSlot !== 0) this.env.endTimers.cancel(this);
  }

  /** Arms timer D, K or M. */
  protected armEndTimer(ms: number): void {
    if (ms <= 0) this.endTimer = setTimeout(fireEnd, 0, this);
    else this.env.endTimers.schedule(this, ms);
  }

  /** Timer D, K or M fired: the window for retransmitted responses is over. */
  endTimerFired(): void {
    this.endTimer = null;
    this.terminate();
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.enter('terminated');
    this.clearTimers();
    this.env.clientTerminated(this.key);
  }

  /**
   * The TU is done with this transaction (its call ended): the handler is
   * dropped so the TU's objects are not kept for the rest of the
   * retransmission window; a 2xx retransmitted to an Accepted INVITE is
   * then absorbed, as after the transaction ends (the TU's stray path).
   */
  release(): void {
    this.handler = NOOP_HANDLER;
  }
}

/** A TU that wants nothing (CANCEL, released transactions). */
export const NOOP_HANDLER: ClientTransactionHandler = {
  onFinal: () => undefined,
  onTimeout: () => undefined,
  onTransportError: () => undefined,
};

function fireRetrans(tx: ClientTransactionBase): void {
  (tx as unknown as { onRetransTimer(): void }).onRetransTimer();
}

function fireTimeout(tx: ClientTransactionBase): void {
  tx.onTimeout();
}

function fireEnd(tx: ClientTransactionBase): void {
  tx.endTimerFired();
}

/** §17.1.1 with RFC 6026: calling -> proceeding -> accepted | completed -> terminated. */
export class InviteClientTransaction extends ClientTransactionBase {
  private pendingCancel: (() => void) | null = null;
  private cancelRequested = false;

  start(): void {
    this.enter('calling');
    this.timeoutTimer = setTimeout(fireTimeout, 64 * this.env.t1, this); // timer B
    if (!this.reliable) {
      this.retransInterval = this.env.t1;
      this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this); // timer A
    }
    this.transmit(true);
  }

  /** Timer A: retransmit, double the interval (no T2 cap for INVITE). */
  onRetransTimer(): void {
    this.retransTimer = null;
    if (this.state !== 'calling' || this.reliable) return;
    if (this.exhausted()) return;
    this.retransmit();
    this.retransInterval *= 2;
    this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this);
  }

  receive(res: SipMessage): void {
    const status = res.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          this.clearRetrans();
          if (this.state === 'calling') {
            this.enter('proceeding');
            // Timer B only guards the Calling state; once 1xx arrived the TU owns the wait (or CANCEL's 64*T1).
            if (!this.cancelRequested) this.clearTimeoutTimer();
          }
          callTu(this.env, 'onProvisional', () => this.handler.onProvisional?.(res));
          if (this.pendingCancel !== null) {
            const send = this.pendingCancel;
            this.pendingCancel = null;
            send();
          }
        } else if (status < 300) {
          this.clearTimers();
          this.enter('accepted');
          this.pendingCancel = null;
          this.request = retiredRequest(this.method); // Accepted passes 2xx to the TU and sends nothing
          this.armEndTimer(64 * this.env.t1); // timer M
          callTu(this.env, 'onFinal', () => this.handler.onFinal(res));
        } else {
          this.clearTimers();
          this.enter('completed');
          this.pendingCancel = null;
          this.sendAck(res);
          // Timer D: absorb final response retransmissions (32 s at the default T1).
          this.armEndTimer(this.reliable ? 0 : 64 * this.env.t1);
          const tu = this.handler;
          // Completed only re-ACKs retransmitted finals: nothing more reaches the TU.
          this.handler = NOOP_HANDLER;
          callTu(this.env, 'onFinal', () => tu.onFinal(res));
        }
        break;
      case 'accepted':
        if (status >= 200 && status < 300) callTu(this.env, 'onAdditional2xx', () => this.handler.onAdditional2xx?.(res));
        break;
      case 'completed':
        // A retransmitted final response: our ACK was lost (§17.1.1.2).
        if (status >= 300) {
          this.env.counters.retransmissionsSent++;
          this.sendAck(res);
        }
        break;
      default:
        break;
    }
  }

  /**
   * Arranges a CANCEL (§9.1): sent now in Proceeding, after the first 1xx
   * in Calling, never once a final response arrived. Returns false when
   * it is too late.
   */
  requestCancel(send: () => void): boolean {
    if (this.cancelRequested) return true;
    if (this.state !== 'calling' && this.state !== 'proceeding') return false;
    this.cancelRequested = true;
    if (this.state === 'proceeding') send();
    else this.pendingCancel = send;
    // §9.1: without a final response within 64*T1 of the CANCEL, the transaction times out.
    this.clearTimeoutTimer();
    this.timeoutTimer = setTimeout(fireTimeout, 64 * this.env.t1, this);
    return true;
  }

  /** §17.1.1.3: the ACK for a non-2xx is part of the INVITE transaction. */
  private sendAck(res: SipMessage): void {
    // §17.1.1.3: To from the response (it carries the callee's tag).
    const ack = requestDerivedFromInvite(this.request, 'ACK', res.getHeader('to') ?? this.request.getHeader('to') ?? '');
    this.env.transport.send(ack, this.dest, this.interfaceName).catch((err: Error) => {
      this.env.counters.transportErrors++;
      this.env.log?.debug({ err: err.message }, 'could not send ACK');
    });
  }
}

/** §17.1.2: trying -> proceeding -> completed -> terminated. */
export class NonInviteClientTransaction extends ClientTransactionBase {
  start(): void {
    this.enter('trying');
    this.timeoutTimer = setTimeout(fireTimeout, 64 * this.env.t1, this); // timer F
    if (!this.reliable) {
      this.retransInterval = this.env.t1;
      this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this); // timer E
    }
    this.transmit(true);
  }

  /** Timer E: doubles up to T2 in Trying, stays at T2 in Proceeding. */
  onRetransTimer(): void {
    this.retransTimer = null;
    if ((this.state !== 'trying' && this.state !== 'proceeding') || this.reliable) return;
    // A provisional response proves the peer is alive: only stop retransmitting then.
    if (this.transmissions >= this.env.maxRtx) {
      if (this.state === 'trying') this.onTimeout();
      return;
    }
    this.retransmit();
    this.retransInterval = this.state === 'trying' ? Math.min(2 * this.retransInterval, this.env.t2) : this.env.t2;
    this.retransTimer = setTimeout(fireRetrans, this.retransInterval, this);
  }

  receive(res: SipMessage): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // Completed absorbs retransmissions
    if (res.status < 200) {
      this.enter('proceeding');
      callTu(this.env, 'onProvisional', () => this.handler.onProvisional?.(res));
      return;
    }
    this.clearTimers();
    this.enter('completed');
    this.request = retiredRequest(this.method);
    this.armEndTimer(this.reliable ? 0 : this.env.t4); // timer K
    const tu = this.handler;
    // Completed absorbs retransmissions: nothing more reaches the TU.
    this.handler = NOOP_HANDLER;
    callTu(this.env, 'onFinal', () => tu.onFinal(res));
  }
}

export type AnyClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
