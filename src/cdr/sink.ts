/**
 * What the CDR pipeline needs of a sink. `write` is synchronous and never
 * throws (it queues); `flush` resolves once everything queued is on disk,
 * delivered, or spooled; `close` flushes and releases the sink.
 */
import type { ReliableDelivery } from '../delivery/reliable.js';
import type { CdrRecord } from './model.js';

export interface CdrSinkStats {
  /** Records (lines) written or delivered. */
  written: number;
  /** Records in memory waiting. */
  queued: number;
  /** Records in the disk spool (remote sinks). */
  spooled: number;
  /** Records lost for good (a bound was hit). */
  lost: number;
  /** Failed writes / send attempts. */
  errors: number;
  /** False while the disk or receiver is failing. */
  up: boolean;
}

export interface CdrSinkPort {
  readonly name: string;
  write(record: CdrRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): CdrSinkStats;
}

/**
 * flush/close/stats of a sink or feed whose records go through an ordered,
 * spooled delivery (the remote CDR sinks and the QoE feeds share them).
 */
export abstract class DeliveryBacked {
  constructor(readonly name: string, protected readonly delivery: ReliableDelivery) {}
  flush(): Promise<void> {
    return this.delivery.flush();
  }
  close(): Promise<void> {
    return this.delivery.close();
  }
  stats(): CdrSinkStats {
    const s = this.delivery.stats();
    return { written: s.delivered, queued: s.queued, spooled: s.spooled, lost: s.lost, errors: s.failures, up: s.up };
  }
}
