/**
 * The one entry point of the call engine into CDRs: `emit(record)`.
 * It numbers the record, tells listeners (metrics, QoS rules), keeps end
 * records in a ring for the API, and hands the record to every sink its
 * report level allows. `emit` is synchronous, never throws and never waits
 * for I/O; `flush()` (on SIGTERM) resolves when every sink has written,
 * delivered or spooled what it holds.
 */
import type { Logger } from '../util/logger.js';
import { levelAllows, type CdrLevels } from './levels.js';
import type { CdrRecord } from './model.js';
import type { CdrSinkPort, CdrSinkStats } from './sink.js';

export type CdrListener = (record: CdrRecord) => void;

export interface CdrPipelineOptions {
  sinks: readonly CdrSinkPort[];
  levels: CdrLevels;
  /** End records kept in memory for GET /api/v1/cdrs (default 100; older ones are read from the local files). */
  ringSize?: number;
  log: Logger;
}

export class CdrPipeline {
  private seq = 0;
  private readonly ring: CdrRecord[] = [];
  private ringStart = 0;
  private readonly ringSize: number;
  private readonly listeners = new Set<CdrListener>();
  private sinkErrors = 0;

  constructor(private readonly opts: CdrPipelineOptions) {
    this.ringSize = Math.max(1, opts.ringSize ?? 100);
  }

  get levels(): CdrLevels {
    return this.opts.levels;
  }

  get sinks(): readonly CdrSinkPort[] {
    return this.opts.sinks;
  }

  emit(record: CdrRecord): void {
    if (record.seq === undefined) record.seq = ++this.seq;
    for (const l of this.listeners) {
      try {
        l(record);
      } catch (err) {
        this.opts.log.error({ err }, 'CDR listener failed');
      }
    }
    if (record.reportType === 'CALL_END' || record.reportType === 'DIALOG_END') this.remember(record);
    if (!levelAllows(this.opts.levels, record.reportType)) return;
    for (const s of this.opts.sinks) {
      try {
        s.write(record);
      } catch (err) {
        this.sinkErrors++;
        this.opts.log.error({ err, sink: s.name }, 'CDR sink failed');
      }
    }
  }

  /** Called for every record, whatever the report level (metrics, QoS rules). Returns an unsubscribe function. */
  onRecord(listener: CdrListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** End records in memory, oldest first. */
  recent(): CdrRecord[] {
    return this.ring.slice(this.ringStart).concat(this.ring.slice(0, this.ringStart));
  }

  /** Flushes every sink at once; never rejects. */
  async flush(): Promise<void> {
    await Promise.all(this.opts.sinks.map((s) => s.flush().catch((err: unknown) => this.opts.log.error({ err, sink: s.name }, 'CDR flush failed'))));
  }

  async close(): Promise<void> {
    await Promise.all(this.opts.sinks.map((s) => s.close().catch((err: unknown) => this.opts.log.error({ err, sink: s.name }, 'CDR sink close failed'))));
  }

  stats(): { records: number; sinkErrors: number; sinks: Record<string, CdrSinkStats> } {
    const sinks: Record<string, CdrSinkStats> = {};
    for (const s of this.opts.sinks) sinks[s.name] = s.stats();
    return { records: this.seq, sinkErrors: this.sinkErrors, sinks };
  }

  private remember(r: CdrRecord): void {
    if (this.ring.length < this.ringSize) {
      this.ring.push(r);
      return;
    }
    this.ring[this.ringStart] = r;
    this.ringStart = (this.ringStart + 1) % this.ringSize;
  }
}
