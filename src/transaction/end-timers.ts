/**
 * The timers that end a transaction's retransmission window (RFC 3261
 * §17: D, H, I, J, K; RFC 6026: L, M), kept in 100 ms slots served by one
 * node timer per transaction layer.
 *
 * Every finished call leaves three or four transactions absorbing
 * retransmissions for up to 64*T1 (32 s), each with one of these timers
 * armed. A node timer costs a Timeout object, its argument array and three
 * boxed numbers (about 230 bytes) for those 32 s; at thousands of calls
 * per second they were a third of the objects every young-generation GC
 * had to copy and promote. Here an armed transaction costs one slot in an
 * array and a number field of its own. The timers end windows, they do
 * not pace retransmissions (those stay on node timers): firing up to two
 * slots (200 ms) after the due time, never before, is what every SIP
 * stack's timer tick does. A transaction that ends early stays in its slot
 * (a pointer) until the slot comes.
 *
 * Cancelling is lazy: the transaction's `endSlot` is cleared, and a slot
 * skips entries whose `endSlot` no longer names it. Re-arming simply adds
 * the transaction to its new slot.
 */

/** What the wheel keeps: a transaction, with the slot it is due in (0 = not armed). */
export interface EndTimed {
  endSlot: number;
  endTimerFired(): void;
}

/** Slot width in ms: an end timer fires at most two slots after its due time (plus the loop's own lateness). */
export const END_TIMER_SLOT_MS = 100;

export class EndTimerWheel {
  /** Slot number -> entries. An object, not a Map: a churned Map would keep served slots in the young GC's way (util/string-table.ts). */
  private slots: Record<number, EndTimed[] | undefined> = Object.create(null) as Record<number, EndTimed[] | undefined>;
  private armed = 0;
  private tick: NodeJS.Timeout | null = null;
  /** Slot numbers count from here, so that they stay small integers (no boxed number per transaction). */
  private readonly epochMs: number;
  /** Every slot before this one has been served. */
  private nextSlot: number;

  constructor() {
    this.epochMs = Date.now() - END_TIMER_SLOT_MS;
    this.nextSlot = this.currentSlot() + 1;
  }

  /** Arms `tx` to fire `ms` from now (never before). */
  schedule(tx: EndTimed, ms: number): void {
    // The first slot whose start is at or after the due time.
    const slot = Math.max(Math.ceil((Date.now() - this.epochMs + ms) / END_TIMER_SLOT_MS), this.nextSlot);
    tx.endSlot = slot;
    const entries = this.slots[slot];
    if (entries === undefined) this.slots[slot] = [tx];
    else entries.push(tx);
    this.armed++;
    if (this.tick === null) {
      this.tick = setInterval(() => this.advance(), END_TIMER_SLOT_MS);
      this.tick.unref();
    }
  }

  /** Disarms `tx` (its entry is skipped when its slot comes). */
  cancel(tx: EndTimed): void {
    tx.endSlot = 0;
  }

  /** Entries still in slots, cancelled ones included (they leave when their slot is served). */
  get size(): number {
    return this.armed;
  }

  /** Serves every slot whose time has come (a late tick or a stalled loop skips none). */
  advance(): void {
    const now = this.currentSlot();
    for (; this.nextSlot <= now; this.nextSlot++) {
      const slot = this.nextSlot;
      const entries = this.slots[slot];
      if (entries === undefined) continue;
      delete this.slots[slot];
      this.armed -= entries.length;
      for (let i = 0; i < entries.length; i++) {
        const tx = entries[i]!;
        if (tx.endSlot !== slot) continue; // cancelled or re-armed
        tx.endSlot = 0;
        try {
          tx.endTimerFired();
        } catch {
          // The transactions report their TU's errors themselves (callTu); one must not stop the others' timers.
        }
      }
    }
    if (this.armed === 0 && this.tick !== null) {
      clearInterval(this.tick);
      this.tick = null;
    }
  }

  /** Forgets every entry and stops the tick (the layer is closing). */
  clear(): void {
    for (const k in this.slots) for (const tx of this.slots[k]!) tx.endSlot = 0;
    this.slots = Object.create(null) as Record<number, EndTimed[] | undefined>;
    this.armed = 0;
    if (this.tick !== null) clearInterval(this.tick);
    this.tick = null;
  }

  /** The slot that started last: every slot up to it is due. */
  private currentSlot(): number {
    return Math.floor((Date.now() - this.epochMs) / END_TIMER_SLOT_MS);
  }
}
