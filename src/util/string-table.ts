/**
 * A string-keyed table for the long-lived indexes that every call passes
 * through (calls, dialogs, admissions, pending calls, journals): one insert
 * and one delete per entry, thousands of times a second. The transaction
 * maps stay Maps: their entries live 64*T1 anyway, and as properties their
 * keys (a new string per transaction) would have to be internalized, which
 * measured slower at 2,400 calls/s.
 *
 * Why not a Map (or Set): V8 (11.x, Node 20) links every hash table a Map
 * or Set outgrows or compacts to its successor, so that an iterator still
 * on the old table can follow. Once a full GC has moved the current table
 * into the old generation, that dead table points at the next, young one,
 * and the young-generation GC, which treats old-to-young pointers as roots
 * until the next full GC, keeps it and every entry it ever held alive: the
 * next table is promoted in turn, points at the one after it, and so on.
 * A churned Map then drags each finished call through two copies and into
 * the old generation: measured in the SBC, the young GC promoted 285 KB
 * per scavenge before the process's first full GC and 1,020 KB after it,
 * for good (1,200 calls/s, one thread), with scavenge pauses 3.5 -> 6.5 ms.
 * An object in dictionary mode rehashes into a new store without such a
 * link (docs/performance.md, "Churned Maps and pretenuring").
 *
 * Values must not be undefined (undefined means "absent").
 */
export class StringTable<V> {
  private store: Record<string, V | undefined> = Object.create(null) as Record<string, V | undefined>;
  private count = 0;

  get(key: string): V | undefined {
    return this.store[key];
  }

  has(key: string): boolean {
    return this.store[key] !== undefined;
  }

  set(key: string, value: V): this {
    if (this.store[key] === undefined) this.count++;
    this.store[key] = value;
    return this;
  }

  delete(key: string): boolean {
    if (this.store[key] === undefined) return false;
    delete this.store[key];
    this.count--;
    return true;
  }

  get size(): number {
    return this.count;
  }

  /** Every value (insertion order is not kept). */
  *values(): IterableIterator<V> {
    const entries = this.store;
    for (const k in entries) {
      const v = entries[k];
      if (v !== undefined) yield v;
    }
  }

  /** Every [key, value] pair (insertion order is not kept). */
  *entries(): IterableIterator<[string, V]> {
    const entries = this.store;
    for (const k in entries) {
      const v = entries[k];
      if (v !== undefined) yield [k, v];
    }
  }

  clear(): void {
    this.store = Object.create(null) as Record<string, V | undefined>;
    this.count = 0;
  }
}
