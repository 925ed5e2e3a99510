/**
 * Timers of whole seconds for long per-call intervals (the in-dialog
 * keep-alive, minutes apart), kept in one-second slots served by a single
 * node timer.
 *
 * A node timer per call costs a Timeout object, a wrapper closure and a
 * slot in node's timer lists (one list per distinct duration): about half a
 * kilobyte per held call, for a timer that fires every few minutes. Here a
 * call holds one small entry; the tick timer runs only while entries exist
 * and does not keep the process alive (unref).
 */

export interface CoarseTimer {
  readonly dueSec: number;
  readonly fn: () => void;
}

export class CoarseTimers {
  private readonly slots = new Map<number, Set<CoarseTimer>>();
  private count = 0;
  private tick: NodeJS.Timeout | null = null;
  private lastSec: number;

  constructor(private readonly nowMs: () => number = Date.now) {
    this.lastSec = Math.floor(this.nowMs() / 1000);
  }

  /** Runs `fn` once, `ms` from now rounded to whole seconds (at least one second). */
  schedule(ms: number, fn: () => void): CoarseTimer {
    const nowSec = Math.floor(this.nowMs() / 1000);
    if (this.count === 0) this.lastSec = nowSec;
    const t: CoarseTimer = { dueSec: nowSec + Math.max(1, Math.round(ms / 1000)), fn };
    let slot = this.slots.get(t.dueSec);
    if (slot === undefined) this.slots.set(t.dueSec, (slot = new Set()));
    slot.add(t);
    this.count++;
    if (this.tick === null) {
      this.tick = setInterval(() => this.advance(), 1000);
      this.tick.unref();
    }
    return t;
  }

  cancel(t: CoarseTimer | null): void {
    if (t === null) return;
    const slot = this.slots.get(t.dueSec);
    if (slot === undefined || !slot.delete(t)) return;
    if (slot.size === 0) this.slots.delete(t.dueSec);
    this.count--;
    this.stopIfIdle();
  }

  get size(): number {
    return this.count;
  }

  /** Fires every slot up to now (a late tick, a stalled loop: none is skipped). */
  advance(): void {
    const nowSec = Math.floor(this.nowMs() / 1000);
    for (let s = this.lastSec; s <= nowSec; s++) {
      const slot = this.slots.get(s);
      if (slot === undefined) continue;
      this.slots.delete(s);
      this.count -= slot.size;
      for (const t of slot) {
        try {
          t.fn();
        } catch {
          // A call's own errors are handled in its event queue; one call must not stop the others' timers.
        }
      }
    }
    this.lastSec = nowSec + 1;
    this.stopIfIdle();
  }

  private stopIfIdle(): void {
    if (this.count > 0 || this.tick === null) return;
    clearInterval(this.tick);
    this.tick = null;
  }
}

/** The process's (or worker thread's) keep-alive timers. */
export const keepAliveTimers = new CoarseTimers();
