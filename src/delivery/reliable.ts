/**
 * Ordered, at-least-once delivery of text items to a remote receiver (a
 * syslog server, an HTTP collector, a SIP QoE collector), with a disk spool
 * while the receiver is down.
 *
 * Order is kept by one invariant: the spool holds only items older than
 * every item in memory. New items are queued in memory; when a send fails,
 * the whole memory queue is appended to the spool, and later sends drain the
 * spool before memory. Loss happens only when the spool's size bound is hit
 * (oldest segment dropped) or, without a spool, when the memory bound is hit;
 * both are counted and logged.
 *
 * `enqueue` is synchronous and never throws; all I/O is asynchronous, so a
 * call ending never waits for a receiver or a disk.
 */
import type { Logger } from '../util/logger.js';
import { DiskSpool } from './spool.js';

export interface DeliveryTransport {
  /** For logs: "syslog tcp 127.0.0.1:514", "http http://collector/cdr". */
  readonly description: string;
  /** Delivers a batch in order; rejects if any of it may not have arrived. */
  send(batch: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface DeliveryStats {
  /** Items in memory not yet delivered. */
  queued: number;
  /** Items in the disk spool. */
  spooled: number;
  delivered: number;
  /** Items dropped because a bound was hit (or lost at close without a spool). */
  lost: number;
  /** Failed send attempts. */
  failures: number;
  /** False while the receiver is failing. */
  up: boolean;
}

export interface ReliableDeliveryOptions {
  /** Sink name for logs and metrics. */
  name: string;
  transport: DeliveryTransport;
  /** null: memory only (items beyond maxMemoryItems are dropped and counted). */
  spool: DiskSpool | null;
  /** Items per send (default 200). */
  maxBatch?: number;
  /** Memory queue bound (default 10,000); beyond it items go to the spool, or are dropped without one. */
  maxMemoryItems?: number;
  /** Wait after the first queued item before sending, to batch (default 0 = next tick). */
  lingerMs?: number;
  /** Retry backoff bounds (default 500 ms .. 30 s, doubling). */
  retryMinMs?: number;
  retryMaxMs?: number;
  log: Logger;
  /** Told about every loss (count of items), for metrics. */
  onLoss?: (count: number) => void;
}

export class ReliableDelivery {
  private mem: string[] = [];
  private running: Promise<void> | null = null;
  private rerun = false;
  private timer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private closed = false;
  private readonly maxBatch: number;
  private readonly maxMemory: number;
  private readonly linger: number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private delivered = 0;
  private lost = 0;
  private failures = 0;
  private up = true;
  /** Set when a send fails; flush() uses it to stop waiting for a dead receiver. */
  private lastFailureAt = 0;

  constructor(private readonly opts: ReliableDeliveryOptions) {
    this.maxBatch = Math.max(1, opts.maxBatch ?? 200);
    this.maxMemory = Math.max(1, opts.maxMemoryItems ?? 10_000);
    this.linger = Math.max(0, opts.lingerMs ?? 0);
    this.retryMin = Math.max(1, opts.retryMinMs ?? 500);
    this.retryMax = Math.max(this.retryMin, opts.retryMaxMs ?? 30_000);
    this.retryDelay = this.retryMin;
  }

  get name(): string {
    return this.opts.name;
  }

  enqueue(item: string): void {
    if (this.closed) {
      this.countLoss(1, 'queued after close');
      return;
    }
    this.mem.push(item);
    this.schedule(this.linger);
  }

  stats(): DeliveryStats {
    return {
      queued: this.mem.length, spooled: this.opts.spool?.count ?? 0, delivered: this.delivered,
      lost: this.lost, failures: this.failures, up: this.up,
    };
  }

  /**
   * Delivers what is queued while the receiver takes it, for at most
   * `timeoutMs`; whatever remains then goes to the spool (on disk, replayed
   * by the next run). Never rejects.
   */
  async flush(timeoutMs = 5000): Promise<void> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    while (this.pending() > 0 && Date.now() < deadline) {
      if (this.lastFailureAt >= started) break; // tried during this flush and failed: do not wait for backoff
      if (this.running === null) {
        this.clearTimer();
        this.running = this.run();
      }
      await Promise.race([this.running, sleep(Math.max(1, deadline - Date.now()))]);
    }
    if (this.running !== null) await this.running;
    await this.spill();
    if (this.opts.spool !== null) {
      await this.opts.spool.compact().catch((err: unknown) => this.opts.log.warn({ err, sink: this.name }, 'spool compaction failed'));
    }
  }

  /** Flushes, then closes the transport. Items still in memory without a spool are counted as lost. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    await this.flush(timeoutMs);
    this.closed = true;
    this.clearTimer();
    if (this.mem.length > 0) {
      const n = this.mem.length;
      this.mem = [];
      this.countLoss(n, 'receiver unreachable at shutdown and no spool');
    }
    await this.opts.transport.close().catch(() => {});
  }

  /** Starts sending what is queued (e.g. a spool adopted from an earlier run). */
  kick(): void {
    this.schedule(0);
  }

  private pending(): number {
    return this.mem.length + (this.opts.spool?.count ?? 0);
  }

  private schedule(delay: number): void {
    if (this.running !== null || this.timer !== null || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.startRun();
    }, delay);
    this.timer.unref?.();
  }

  /** Starts the send loop, or asks the running one to go round again when it ends. */
  private startRun(): void {
    if (this.running === null) this.running = this.run();
    else this.rerun = true;
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        await this.boundMemory();
        const spool = this.opts.spool;
        const fromSpool = spool !== null && spool.count > 0;
        const batch = fromSpool ? await spool.peek(this.maxBatch) : this.mem.slice(0, this.maxBatch);
        if (batch.length === 0) break;
        try {
          await this.opts.transport.send(batch);
        } catch (err) {
          this.failed(err);
          await this.spill();
          break;
        }
        if (fromSpool) await spool.consume(batch.length);
        else this.mem.splice(0, batch.length);
        this.delivered += batch.length;
        this.succeeded();
      }
    } catch (err) {
      // Spool I/O trouble: the items stay where they are; try again later.
      this.opts.log.error({ err: errText(err), sink: this.name }, 'delivery queue error');
      this.lastFailureAt = Date.now();
      this.retryLater();
    } finally {
      this.running = null;
    }
    // A retry timer that fired while this loop was still spilling asked for another round.
    if (this.rerun) {
      this.rerun = false;
      if (!this.closed) this.startRun();
    } else if (!this.closed && this.pending() > 0 && this.lastFailureAt === 0) this.schedule(0);
  }

  private failed(err: unknown): void {
    this.failures++;
    this.lastFailureAt = Date.now();
    if (this.up) {
      this.up = false;
      this.opts.log.warn({ err: errText(err), sink: this.name, to: this.opts.transport.description }, 'receiver unreachable; queuing to the spool');
    }
    this.retryLater();
  }

  private retryLater(): void {
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryMax, this.retryDelay * 2);
    this.clearTimer();
    if (!this.closed) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.startRun();
      }, delay);
      this.timer.unref?.();
    }
  }

  private succeeded(): void {
    this.retryDelay = this.retryMin;
    this.lastFailureAt = 0;
    if (!this.up) {
      this.up = true;
      this.opts.log.info({ sink: this.name, backlog: this.pending() }, 'receiver reachable again; replaying in order');
    }
  }

  /** Moves the memory queue to the spool (keeps order: everything in memory is newer than the spool). */
  private async spill(): Promise<void> {
    const spool = this.opts.spool;
    if (spool === null || this.mem.length === 0) return;
    const items = this.mem;
    this.mem = [];
    try {
      await spool.append(items);
    } catch (err) {
      // Disk full or unwritable: keep them in memory (older first), bounded.
      this.mem = items.concat(this.mem);
      this.opts.log.error({ err: errText(err), sink: this.name, dir: spool.dir }, 'cannot write the spool');
      this.dropOverflow();
    }
  }

  /** Called between sends only, so no batch taken from memory is in flight. */
  private async boundMemory(): Promise<void> {
    if (this.mem.length <= this.maxMemory) return;
    if (this.opts.spool !== null) await this.spill();
    this.dropOverflow();
  }

  private dropOverflow(): void {
    const over = this.mem.length - this.maxMemory;
    if (over > 0) {
      this.mem.splice(0, over);
      this.countLoss(over, 'memory queue full');
    }
  }

  private countLoss(n: number, reason: string): void {
    this.lost += n;
    this.opts.log.error({ sink: this.name, lost: n, totalLost: this.lost, reason }, 'records dropped');
    this.opts.onLoss?.(n);
  }

  /** Counts spool drops (wired by the owner into the spool's onDrop). */
  noteSpoolDrop(n: number): void {
    this.countLoss(n, 'spool full: oldest segment dropped');
  }
}

export interface SpooledDeliveryOptions extends Omit<ReliableDeliveryOptions, 'spool'> {
  /** Directory of this sink's spool; null or '' = no spool. */
  spoolDir: string | null;
  /** Spool bound in bytes (default 64 MiB). */
  maxSpoolBytes?: number;
}

/** Opens the sink's spool (adopting what an earlier run left) and builds its delivery queue; replay starts at once. */
export async function createSpooledDelivery(opts: SpooledDeliveryOptions): Promise<ReliableDelivery> {
  let delivery: ReliableDelivery | null = null;
  let spool: DiskSpool | null = null;
  if (opts.spoolDir) {
    spool = await DiskSpool.open(opts.spoolDir, {
      ...(opts.maxSpoolBytes !== undefined ? { maxBytes: opts.maxSpoolBytes } : {}),
      onDrop: (n) => delivery?.noteSpoolDrop(n),
    });
  }
  delivery = new ReliableDelivery({ ...opts, spool });
  if (spool !== null && spool.count > 0) {
    opts.log.info({ sink: opts.name, backlog: spool.count }, 'spool from an earlier run found; replaying');
    delivery.kick();
  }
  return delivery;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(r, ms);
    t.unref?.();
  });
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
