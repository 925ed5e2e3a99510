/**
 * What the CDR pipeline needs of a sink. `write` is synchronous and never
 * throws (it queues); `flush` resolves once everything queued is on disk,
 * delivered, or spooled; `close` flushes and releases the sink.
 */
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
