/**
 * Counters of concurrent things (dialogs per admission rule, per user) that
 * admission control takes and gives back. `LocalCounters` serves one thread;
 * `SharedCounters` lives in a SharedArrayBuffer so that every SIP worker
 * thread sees the same numbers and a limit stays exact across threads
 * (issue 15: "CAC limits must stay exact across workers"): a take is one
 * compare-and-swap that refuses at the limit, never a read then a write.
 */
import { StringTable } from '../util/string-table.js';

export interface ConcurrencyCounters {
  /** Adds one unless the count is at `limit` (< 0 = no limit); false = refused, nothing changed. */
  take(key: string, limit: number): boolean;
  /** Gives one back (never below 0). */
  give(key: string): void;
  value(key: string): number;
  /**
   * A rate limit as GCRA (the virtual-scheduling form of a token bucket of
   * `burst` tokens refilled at `perSec`): true = admitted and counted.
   */
  pace(key: string, perSec: number, burst: number, nowMs: number): boolean;
  /** Gives back what an admitted `pace` took (the request was refused by another rule). */
  unpace(key: string, perSec: number): void;
}

/** The next theoretical arrival time after an admission at `nowMs`, or null = refused. */
function gcra(tatMs: number, perSec: number, burst: number, nowMs: number): number | null {
  const interval = 1000 / perSec;
  const tat = Math.max(tatMs, nowMs);
  if (tat - nowMs > (burst - 1) * interval + 1e-9) return null;
  return tat + interval;
}

export class LocalCounters implements ConcurrencyCounters {
  /** A StringTable: a key comes and goes with its calls (util/string-table.ts). */
  private readonly counts = new StringTable<number>();
  private readonly tats = new Map<string, number>();
  pace(key: string, perSec: number, burst: number, nowMs: number): boolean {
    const next = gcra(this.tats.get(key) ?? 0, perSec, burst, nowMs);
    if (next === null) return false;
    this.tats.set(key, next);
    return true;
  }
  unpace(key: string, perSec: number): void {
    const t = this.tats.get(key);
    if (t !== undefined) this.tats.set(key, t - 1000 / perSec);
  }
  take(key: string, limit: number): boolean {
    const v = this.counts.get(key) ?? 0;
    if (limit >= 0 && v >= limit) return false;
    this.counts.set(key, v + 1);
    return true;
  }
  give(key: string): void {
    const v = (this.counts.get(key) ?? 0) - 1;
    if (v <= 0) this.counts.delete(key);
    else this.counts.set(key, v);
  }
  value(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

const FIELDS = 3; // [hash a | 1, hash b | 1, count]; a slot is free while its first field is 0

function hashA(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h | 1) >>> 0;
}

function hashB(s: string): number {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 33) + s.charCodeAt(i)) | 0;
  return (h | 1) >>> 0;
}

/**
 * An open-addressing table of counters in shared memory, keyed by two
 * independent 32-bit hashes of the key (a false match needs both to
 * collide). Slots are claimed for good: rules and users are few compared
 * with `slots`; a full table refuses new keys (counted as refusals by the
 * caller, never a wrong admit).
 */
export class SharedCounters implements ConcurrencyCounters {
  private readonly a: Int32Array;
  /** Per slot: the rate limit's theoretical arrival time, in microseconds. */
  private readonly tat: BigInt64Array;
  /**
   * Per thread and slot: what that thread holds of the count, so that the
   * counts of a SIP worker thread that died (and its calls with it) can be
   * given back for it (`releaseThread`).
   */
  private readonly held: Int32Array;
  private readonly slots: number;
  private readonly heldAt: number;
  private readonly cache = new Map<string, number>();

  static allocate(threads: number, slots = 16384): SharedArrayBuffer {
    const buf = new SharedArrayBuffer(8 + slots * FIELDS * 4 + slots * 8 + threads * slots * 4);
    new Int32Array(buf, 0, 1)[0] = slots;
    return buf;
  }

  /** `thread`: the SIP thread using this view (0 = main) — whose holdings its takes and gives change. */
  constructor(buffer: SharedArrayBuffer, thread = 0) {
    this.slots = new Int32Array(buffer, 0, 1)[0]!;
    const threads = Math.floor((buffer.byteLength - 8 - this.slots * (FIELDS * 4 + 8)) / (this.slots * 4));
    if (!(this.slots > 0) || thread < 0 || thread >= threads) throw new RangeError(`SharedCounters: thread ${thread} of ${threads}`);
    // [slots, padding] header; the 64-bit array first, 8-byte aligned.
    this.tat = new BigInt64Array(buffer, 8, this.slots);
    this.a = new Int32Array(buffer, 8 + this.slots * 8, this.slots * FIELDS);
    this.heldAt = thread * this.slots;
    this.held = new Int32Array(buffer, 8 + this.slots * 8 + this.slots * FIELDS * 4, threads * this.slots);
  }

  /**
   * Gives back everything `thread` held (it died with its calls): without
   * this a limit would stay taken by calls that no longer exist.
   * Returns how many were given back.
   */
  releaseThread(thread: number): number {
    let total = 0;
    const base = thread * this.slots;
    if (thread < 0 || base + this.slots > this.held.length) return 0;
    for (let i = 0; i < this.slots; i++) {
      const h = Atomics.exchange(this.held, base + i, 0);
      if (h <= 0) continue;
      total += h;
      const at = i * FIELDS + 2;
      for (;;) {
        const v = Atomics.load(this.a, at);
        const next = Math.max(0, v - h);
        if (Atomics.compareExchange(this.a, at, v, next) === v) break;
      }
    }
    return total;
  }

  pace(key: string, perSec: number, burst: number, nowMs: number): boolean {
    const i = this.slot(key);
    if (i < 0) return false;
    for (;;) {
      const cur = Atomics.load(this.tat, i);
      const next = gcra(Number(cur) / 1000, perSec, burst, nowMs);
      if (next === null) return false;
      if (Atomics.compareExchange(this.tat, i, cur, BigInt(Math.round(next * 1000))) === cur) return true;
    }
  }

  unpace(key: string, perSec: number): void {
    const i = this.slot(key);
    if (i >= 0) Atomics.sub(this.tat, i, BigInt(Math.round(1_000_000 / perSec)));
  }

  private slot(key: string): number {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const ha = hashA(key) | 0;
    const hb = hashB(key) | 0;
    let i = (ha >>> 0) % this.slots;
    for (let probe = 0; probe < this.slots; probe++, i = (i + 1) % this.slots) {
      const at = i * FIELDS;
      let cur = Atomics.load(this.a, at);
      if (cur === 0) {
        cur = Atomics.compareExchange(this.a, at, 0, ha);
        if (cur === 0) {
          Atomics.store(this.a, at + 1, hb);
          this.cache.set(key, i);
          return i;
        }
      }
      if (cur !== ha) continue;
      // Claimed with our first hash: wait for the claimer's second (a few instructions away).
      let b = Atomics.load(this.a, at + 1);
      while (b === 0) b = Atomics.load(this.a, at + 1);
      if (b === hb) {
        this.cache.set(key, i);
        return i;
      }
    }
    return -1;
  }

  take(key: string, limit: number): boolean {
    const i = this.slot(key);
    if (i < 0) return false;
    const at = i * FIELDS + 2;
    for (;;) {
      const v = Atomics.load(this.a, at);
      if (limit >= 0 && v >= limit) return false;
      if (Atomics.compareExchange(this.a, at, v, v + 1) === v) {
        Atomics.add(this.held, this.heldAt + i, 1);
        return true;
      }
    }
  }

  give(key: string): void {
    const i = this.slot(key);
    if (i < 0) return;
    const at = i * FIELDS + 2;
    for (;;) {
      const v = Atomics.load(this.a, at);
      if (v <= 0) return;
      if (Atomics.compareExchange(this.a, at, v, v - 1) === v) break;
    }
    if (Atomics.sub(this.held, this.heldAt + i, 1) <= 0) Atomics.add(this.held, this.heldAt + i, 1); // never below 0
  }

  value(key: string): number {
    const i = this.slot(key);
    return i < 0 ? 0 : Atomics.load(this.a, i * FIELDS + 2);
  }
}
