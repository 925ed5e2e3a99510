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
 *
 * A slot is an array in an object, not a Set in a Map: every call adds and
 * removes its entry, and churned Maps and Sets keep what they held in the
 * young GC's way (util/string-table.ts). A cancelled entry stays in its
 * slot until the slot comes, without its function (so without the call).
 */

export interface CoarseTimer {
  readonly dueSec: number;
  /** Null once cancelled or fired. */
  fn: (() => void) | null;
}

export class CoarseTimers {
  private slots: Record<number, CoarseTimer[] | undefined> = Object.create(null) as Record<number, CoarseTimer[] | undefined>;
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
    const slot = this.slots[t.dueSec];
    if (slot === undefined) this.slots[t.dueSec] = [t];
    else slot.push(t);
    this.count++;
    if (this.tick === null) {
      this.tick = setInterval(() => this.advance(), 1000);
      this.tick.unref();
    }
    return t;
  }

  cancel(t: CoarseTimer | null): void {
    if (t === null || t.fn === null) return;
    t.fn = null;
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
      const slot = this.slots[s];
      if (slot === undefined) continue;
      delete this.slots[s];
      for (const t of slot) {
        const fn = t.fn;
        if (fn === null) continue; // cancelled
        t.fn = null;
        this.count--;
        try {
          fn();
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
    // Nothing is armed: cancelled entries waiting for their slots can go now.
    this.slots = Object.create(null) as Record<number, CoarseTimer[] | undefined>;
  }
}

/** The process's (or worker thread's) keep-alive timers. */
export const keepAliveTimers = new CoarseTimers();
