/**
 * CDR sinks. The file sink buffers JSON lines and flushes them with one
 * asynchronous append at a time, so a call ending never blocks the event
 * loop on disk.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { CallDetailRecord } from './record.js';

export interface CdrSinkLike {
  write(record: CallDetailRecord): void;
}

export class MemoryCdrSink implements CdrSinkLike {
  readonly records: CallDetailRecord[] = [];
  write(record: CallDetailRecord): void {
    this.records.push(record);
  }
}

export interface FileCdrSinkOptions {
  /** Flush when this many bytes are waiting (default 64 KiB). */
  maxBufferedBytes?: number;
  /** Flush at least this often while records are waiting (default 1000 ms). */
  flushIntervalMs?: number;
  /** Records waiting beyond this are dropped and counted (default 10,000): a stuck disk must not eat memory. */
  maxPendingRecords?: number;
  onError?: (err: Error) => void;
}

export class FileCdrSink implements CdrSinkLike {
  private readonly path: string;
  private readonly maxBufferedBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxPending: number;
  private readonly onError: (err: Error) => void;
  private pending: string[] = [];
  private pendingBytes = 0;
  private file: FileHandle | null = null;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  dropped = 0;
  written = 0;

  constructor(path: string, opts: FileCdrSinkOptions = {}) {
    this.path = path;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 64 * 1024;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.maxPending = opts.maxPendingRecords ?? 10_000;
    this.onError = opts.onError ?? (() => {});
  }

  write(record: CallDetailRecord): void {
    if (this.closed) return;
    if (this.pending.length >= this.maxPending) {
      this.dropped++;
      return;
    }
    let line: string;
    try {
      line = JSON.stringify(record) + '\n';
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.maxBufferedBytes) void this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Writes everything buffered so far; resolves when it is on disk (or failed). */
  async flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // One append at a time keeps lines whole and in order.
    while (this.writing !== null) await this.writing;
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    const count = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = (async () => {
      try {
        if (this.file === null) this.file = await open(this.path, 'a');
        await this.file.appendFile(chunk, 'utf8');
        this.written += count;
      } catch (err) {
        this.dropped += count;
        this.onError(err as Error);
      }
    })();
    try {
      await this.writing;
    } finally {
      this.writing = null;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    const f = this.file;
    this.file = null;
    if (f !== null) await f.close().catch(() => {});
  }
}
