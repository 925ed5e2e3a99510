/**
 * What a transaction needs from its layer. Kept as an interface so the
 * state machines can be read (and tested) without the matching logic.
 */
import type { Logger } from 'pino';
import type { TransportLayer } from '../transport/transport-layer.js';
import type { EndTimerWheel } from './end-timers.js';
import type { TransactionStats } from './types.js';

export type Counters = Omit<TransactionStats, 'clientTransactions' | 'serverTransactions'>;

export interface TxEnv {
  readonly t1: number;
  readonly t2: number;
  readonly t4: number;
  /** SIPMaxRtx: transmissions of a request over UDP before it fails; Infinity = RFC timers only. */
  readonly maxRtx: number;
  readonly transport: TransportLayer;
  readonly counters: Counters;
  readonly log: Logger | undefined;
  /** Timers D, H, I, J, K, L, M (end-timers.ts). */
  readonly endTimers: EndTimerWheel;
  clientTerminated(key: string): void;
  serverTerminated(tx: { key: string; mergeKey: string | null; acceptedKey: string | null }): void;
  registerAccepted(key: string, tx: unknown): void;
}

/** Calls a TU callback; a throwing TU must not break the state machine. */
export function callTu(env: TxEnv, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    env.counters.tuErrors++;
    env.log?.error({ err, what }, 'transaction user threw');
  }
}
