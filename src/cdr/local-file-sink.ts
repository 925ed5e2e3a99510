/**
 * Local CDR files, rotated like a Mediant's local storage: records go to a
 * current file; when it reaches CDRLocalMaxFileSize or CDRLocalInterval has
 * passed (whichever first) it is closed, renamed with a time stamp and a
 * sequence number, gzip-compressed, and the oldest rotated files beyond
 * CDRLocalMaxNumOfFiles are removed.
 *
 * Writes are buffered and appended asynchronously, one append at a time, at
 * least every flushIntervalMs: a crash loses at most that interval. A write
 * that fails (full disk) keeps its records for the next attempt, up to
 * maxPendingRecords; beyond that the oldest are dropped and counted.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Logger } from '../util/logger.js';
import { csvHeader, csvLine, kindOf, streamsOf, toJsonObject, type CdrColumn, type CdrKind } from './format.js';
import type { CdrRecord } from './model.js';
import type { CdrSinkPort, CdrSinkStats } from './sink.js';

export type LocalFileFormat = 'csv' | 'jsonl';

export interface LocalFileSinkOptions {
  dir: string;
  /** File name stem: current file `<name>.<ext>`, rotated `<name>_<yy.mm.dd-HH.MM.SS>_<seq>.<ext>.gz`. */
  name: string;
  format: LocalFileFormat;
  /** Record family written here; records of the other family are ignored. */
  kind: CdrKind;
  columns: readonly CdrColumn[];
  /** Rotate when the current file reaches this size (bytes). */
  maxFileBytes: number;
  /** Rotated files kept (oldest removed beyond). */
  maxFiles: number;
  /** Rotate at least this often (ms) when the current file has records; 0 = size only. */
  intervalMs: number;
  /** gzip rotated files (default true). */
  compress?: boolean;
  /** Longest a record waits in memory before its append (default 1000 ms). */
  flushIntervalMs?: number;
  /** Records kept in memory while the disk refuses writes (default 100,000). */
  maxPendingRecords?: number;
  log: Logger;
}

const ROTATED_RE = /^(.+)_(\d\d\.\d\d\.\d\d-\d\d\.\d\d\.\d\d)_(\d{5,})\.(csv|jsonl)(\.gz)?$/;

export class LocalFileSink implements CdrSinkPort {
  readonly name: string;
  private pending: string[] = [];
  private pendingBytes = 0;
  private file: FileHandle | null = null;
  private size = 0;
  private openedAt = 0;
  private chain: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | null = null;
  private rotateTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  private failing = false;
  private closed = false;
  private readonly st = { written: 0, dropped: 0, errors: 0, rotations: 0 };
  private readonly header: string;
  private readonly ext: string;
  private readonly flushMs: number;
  private readonly maxPending: number;

  constructor(private readonly opts: LocalFileSinkOptions) {
    this.name = `local:${opts.name}.${opts.format}`;
    this.header = opts.format === 'csv' ? csvHeader(opts.columns) : '';
    this.ext = opts.format;
    this.flushMs = opts.flushIntervalMs ?? 1000;
    this.maxPending = opts.maxPendingRecords ?? 100_000;
    if (opts.intervalMs > 0) {
      this.rotateTimer = setInterval(() => this.serial(() => this.rotateIfDue()), Math.min(opts.intervalMs, 60_000));
      this.rotateTimer.unref();
    }
  }

  get currentPath(): string {
    return join(this.opts.dir, `${this.opts.name}.${this.ext}`);
  }

  write(record: CdrRecord): void {
    if (this.closed || kindOf(record.reportType) !== this.opts.kind) return;
    let text = '';
    try {
      for (const s of streamsOf(record)) {
        text += this.opts.format === 'csv'
          ? csvLine(this.opts.columns, record, s)
          : JSON.stringify(toJsonObject(this.opts.columns, record, s)) + '\n';
      }
    } catch (err) {
      this.st.errors++;
      this.opts.log.error({ err, sink: this.name }, 'CDR could not be formatted');
      return;
    }
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pending.length > this.maxPending) {
      const drop = this.pending.length - this.maxPending;
      for (const t of this.pending.splice(0, drop)) this.pendingBytes -= t.length;
      this.st.dropped += drop;
      this.opts.log.error({ sink: this.name, dropped: drop, total: this.st.dropped }, 'CDR file backlog full: oldest records dropped');
    }
    if (this.pendingBytes >= 256 * 1024) void this.flush();
    else if (this.flushTimer === null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        void this.flush();
      }, this.flushMs);
      this.flushTimer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    return this.serial(() => this.writePending());
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.rotateTimer !== null) clearInterval(this.rotateTimer);
    await this.serial(async () => {
      const f = this.file;
      this.file = null;
      if (f !== null) await f.close().catch(() => {});
    });
  }

  stats(): CdrSinkStats & { rotations: number } {
    return { ...this.st, queued: this.pending.length, spooled: 0, lost: this.st.dropped, up: !this.failing };
  }

  /** Rotated files, newest first, then the current file last-in-time first: [current, newest rotated, ...]. */
  async files(): Promise<string[]> {
    const rotated = await this.rotatedFiles();
    return [this.currentPath, ...rotated.reverse().map((r) => join(this.opts.dir, r.name))];
  }

  /** Closes the current file and starts a new one now (tests, operator request). */
  rotateNow(): Promise<void> {
    return this.serial(async () => {
      await this.writePending();
      await this.rotate();
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn).catch((err: unknown) => {
      this.st.errors++;
      this.opts.log.error({ err, sink: this.name }, 'CDR file operation failed');
    });
    this.chain = next;
    return next;
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.file !== null) return this.file;
    await mkdir(this.opts.dir, { recursive: true });
    if (this.seq === 0) {
      const rotated = await this.rotatedFiles();
      this.seq = rotated.length > 0 ? rotated[rotated.length - 1]!.seq : 0;
    }
    const path = this.currentPath;
    const existing = await stat(path).catch(() => null);
    if (existing !== null && existing.size > 0 && this.opts.format === 'csv' && !(await this.headerMatches(path))) {
      // Columns changed since that file was started: it keeps its own header.
      await this.rotate();
    }
    const f = await open(path, 'a');
    const st = await f.stat();
    this.size = st.size;
    this.openedAt = st.size > 0 ? st.birthtimeMs || st.mtimeMs : Date.now();
    if (this.size === 0 && this.header !== '') {
      await f.appendFile(this.header, 'utf8');
      this.size = Buffer.byteLength(this.header);
    }
    this.file = f;
    return f;
  }

  private async headerMatches(path: string): Promise<boolean> {
    const f = await open(path, 'r');
    try {
      const buf = Buffer.alloc(Math.max(1, Buffer.byteLength(this.header)));
      const { bytesRead } = await f.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString('utf8') === this.header;
    } finally {
      await f.close();
    }
  }

  private async writePending(): Promise<void> {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const chunk = lines.join('');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      const f = await this.ensureOpen();
      await f.appendFile(chunk, 'utf8');
      this.size += Buffer.byteLength(chunk);
      this.st.written += lines.length;
      if (this.failing) {
        this.failing = false;
        this.opts.log.info({ sink: this.name }, 'CDR file writes work again');
      }
    } catch (err) {
      this.st.errors++;
      // Keep them (older first) for the next flush; the bound in write() applies.
      this.pending = lines.concat(this.pending);
      this.pendingBytes = this.pending.reduce((n, t) => n + t.length, 0);
      if (!this.failing) {
        this.failing = true;
        this.opts.log.error({ err, sink: this.name, path: this.currentPath }, 'CDR file write failed; records kept in memory and retried');
      }
      const f = this.file;
      this.file = null;
      if (f !== null) await f.close().catch(() => {});
      if (this.flushTimer === null && !this.closed) {
        this.flushTimer = setTimeout(() => {
          this.flushTimer = null;
          void this.flush();
        }, Math.max(this.flushMs, 1000));
        this.flushTimer.unref();
      }
      return;
    }
    if (this.size >= this.opts.maxFileBytes) await this.rotate();
  }

  private async rotateIfDue(): Promise<void> {
    if (this.file === null || this.size <= Buffer.byteLength(this.header)) return;
    if (Date.now() - this.openedAt >= this.opts.intervalMs) {
      await this.writePending();
      await this.rotate();
    }
  }

  private async rotate(): Promise<void> {
    const f = this.file;
    this.file = null;
    if (f !== null) await f.close().catch(() => {});
    const st = await stat(this.currentPath).catch(() => null);
    if (st === null || st.size === 0) return;
    this.seq++;
    const stamp = rotationStamp(new Date());
    const plain = join(this.opts.dir, `${this.opts.name}_${stamp}_${String(this.seq).padStart(5, '0')}.${this.ext}`);
    await rename(this.currentPath, plain);
    this.st.rotations++;
    if (this.opts.compress ?? true) {
      try {
        await pipeline(createReadStream(plain), createGzip(), createWriteStream(plain + '.gz'));
        await rm(plain, { force: true });
      } catch (err) {
        this.st.errors++;
        this.opts.log.error({ err, file: plain }, 'CDR file compression failed; kept uncompressed');
        await rm(plain + '.gz', { force: true }).catch(() => {});
      }
    }
    await this.prune();
  }

  private async prune(): Promise<void> {
    const rotated = await this.rotatedFiles();
    const excess = rotated.length - Math.max(1, this.opts.maxFiles);
    for (let i = 0; i < excess; i++) await rm(join(this.opts.dir, rotated[i]!.name), { force: true });
  }

  /** Rotated files of this sink, oldest first (by sequence number). */
  private async rotatedFiles(): Promise<Array<{ name: string; seq: number }>> {
    const names = await readdir(this.opts.dir).catch(() => [] as string[]);
    const out: Array<{ name: string; seq: number }> = [];
    for (const n of names) {
      const m = ROTATED_RE.exec(n);
      if (m !== null && m[1] === this.opts.name && m[4] === this.ext) out.push({ name: n, seq: Number(m[3]) });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }
}

/** yy.mm.dd-HH.MM.SS in UTC, as in Mediant's default CDR file name. */
function rotationStamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}-${p(d.getUTCHours())}.${p(d.getUTCMinutes())}.${p(d.getUTCSeconds())}`;
}
