/**
 * A bounded, ordered on-disk queue of text items (one JSON-escaped item per
 * line), kept as numbered segment files so the oldest data can be dropped a
 * whole segment at a time when the bound is hit. Used by remote sinks (CDR
 * syslog/HTTP, QoE feeds) to hold what the receiver could not take yet; the
 * spool survives a restart and is replayed in order.
 *
 * Every operation is asynchronous (fs/promises) and serialized on one
 * promise chain, so appends and reads never interleave inside a segment.
 * Delivery is at-least-once across a crash: a segment partly sent when the
 * process dies is sent again whole.
 */
import { mkdir, readdir, readFile, rm, stat, appendFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

interface Segment {
  seq: number;
  bytes: number;
  count: number;
}

export interface SpoolOptions {
  /** Total bytes on disk before the oldest segment is dropped (default 64 MiB). */
  maxBytes?: number;
  /** Target size of one segment (default min(maxBytes / 8, 1 MiB)). */
  segmentBytes?: number;
  /** Called when items are dropped because the bound was hit. */
  onDrop?: (count: number) => void;
}

const SEGMENT_RE = /^seg-(\d{12})\.spool$/;
const segName = (seq: number): string => `seg-${String(seq).padStart(12, '0')}.spool`;

export class DiskSpool {
  private readonly segments: Segment[] = [];
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly onDrop: (count: number) => void;
  private chain: Promise<unknown> = Promise.resolve();
  /** Items of the head segment, read once; `headOffset` of them already taken. */
  private headItems: string[] | null = null;
  private headOffset = 0;
  /** The tail segment accepts appends until it is full or sealed for reading. */
  private tailOpen = false;
  private nextSeq = 1;
  dropped = 0;

  private constructor(readonly dir: string, opts: SpoolOptions) {
    this.maxBytes = Math.max(1024, opts.maxBytes ?? 64 * 1024 * 1024);
    this.segmentBytes = Math.max(256, opts.segmentBytes ?? Math.min(Math.floor(this.maxBytes / 8), 1024 * 1024));
    this.onDrop = opts.onDrop ?? (() => {});
  }

  /** Opens (creating) the directory and adopts segments left by an earlier run, oldest first. */
  static async open(dir: string, opts: SpoolOptions = {}): Promise<DiskSpool> {
    const s = new DiskSpool(dir, opts);
    await mkdir(dir, { recursive: true });
    const names = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    for (const n of names) {
      const seq = Number(SEGMENT_RE.exec(n)![1]);
      const text = await readFile(join(dir, n), 'utf8');
      const count = countLines(text);
      if (count === 0) {
        await rm(join(dir, n), { force: true });
        continue;
      }
      s.segments.push({ seq, bytes: Buffer.byteLength(text), count });
      s.nextSeq = Math.max(s.nextSeq, seq + 1);
    }
    return s;
  }

  /** Items waiting (including those of the head segment not yet consumed). */
  get count(): number {
    let n = 0;
    for (const s of this.segments) n += s.count;
    return n - this.headOffset;
  }

  get bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    return n;
  }

  /** Appends items in order; drops the oldest segments if the bound is exceeded. Rejects on I/O error (nothing appended). */
  append(items: readonly string[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return this.serial(async () => {
      let i = 0;
      while (i < items.length) {
        let tail = this.tailOpen ? this.segments[this.segments.length - 1] : undefined;
        if (tail === undefined || tail.bytes >= this.segmentBytes) {
          tail = { seq: this.nextSeq++, bytes: 0, count: 0 };
          this.segments.push(tail);
          this.tailOpen = true;
        }
        let chunk = '';
        let chunkBytes = 0;
        let n = 0;
        while (i < items.length && tail.bytes + chunkBytes < this.segmentBytes) {
          const line = JSON.stringify(items[i]) + '\n';
          chunk += line;
          chunkBytes += Buffer.byteLength(line);
          i++;
          n++;
        }
        try {
          await appendFile(join(this.dir, segName(tail.seq)), chunk, 'utf8');
        } catch (err) {
          if (tail.count === 0) {
            this.segments.pop();
            this.tailOpen = false;
          }
          throw err;
        }
        tail.bytes += chunkBytes;
        tail.count += n;
      }
      await this.enforceBound();
    });
  }

  /** Up to `max` of the oldest items, without removing them. */
  peek(max: number): Promise<string[]> {
    return this.serial(async () => {
      const head = await this.loadHead();
      if (head === null) return [];
      return head.slice(this.headOffset, this.headOffset + max);
    });
  }

  /** Removes the `n` oldest items (those returned by the last peek). */
  consume(n: number): Promise<void> {
    return this.serial(async () => {
      if (this.headItems === null || n <= 0) return;
      this.headOffset += n;
      if (this.headOffset >= this.headItems.length) {
        const seg = this.segments.shift()!;
        this.headItems = null;
        this.headOffset = 0;
        await rm(join(this.dir, segName(seg.seq)), { force: true });
      }
    });
  }

  /**
   * Rewrites the head segment without its consumed items, so a restart does
   * not send them again. Called on close.
   */
  compact(): Promise<void> {
    return this.serial(async () => {
      if (this.headItems === null || this.headOffset === 0) return;
      const seg = this.segments[0]!;
      const rest = this.headItems.slice(this.headOffset);
      const text = rest.map((x) => JSON.stringify(x) + '\n').join('');
      const path = join(this.dir, segName(seg.seq));
      await writeFile(path + '.tmp', text, 'utf8');
      await rename(path + '.tmp', path);
      seg.bytes = Buffer.byteLength(text);
      seg.count = rest.length;
      this.headItems = rest;
      this.headOffset = 0;
    });
  }

  private async loadHead(): Promise<string[] | null> {
    if (this.headItems !== null) return this.headItems;
    const seg = this.segments[0];
    if (seg === undefined) return null;
    // Seal the segment before reading it: appends go to a new one from now on.
    if (this.segments.length === 1) this.tailOpen = false;
    const text = await readFile(join(this.dir, segName(seg.seq)), 'utf8');
    const items: string[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const v: unknown = JSON.parse(line);
        if (typeof v === 'string') items.push(v);
      } catch {
        // A torn last line after a crash: that item is lost, the rest is kept.
      }
    }
    seg.count = items.length;
    this.headItems = items;
    this.headOffset = 0;
    if (items.length === 0) {
      this.segments.shift();
      this.headItems = null;
      await rm(join(this.dir, segName(seg.seq)), { force: true });
      return this.loadHead();
    }
    return items;
  }

  private async enforceBound(): Promise<void> {
    let lost = 0;
    while (this.bytes > this.maxBytes && this.segments.length > 1) {
      const seg = this.segments.shift()!;
      if (this.headItems !== null) {
        lost += this.headItems.length - this.headOffset;
        this.headItems = null;
        this.headOffset = 0;
      } else {
        lost += seg.count;
      }
      await rm(join(this.dir, segName(seg.seq)), { force: true });
    }
    if (lost > 0) {
      this.dropped += lost;
      this.onDrop(lost);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Size on disk of a spool directory's segments (for tests and status). */
export async function spoolBytes(dir: string): Promise<number> {
  let total = 0;
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (SEGMENT_RE.test(n)) total += (await stat(join(dir, n))).size;
  }
  return total;
}
