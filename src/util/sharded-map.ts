/**
 * A string-keyed Map split into 64 Maps by a hash of the key, for the
 * indexes that hold tens of thousands of entries under constant churn: the
 * transaction layer's (every finished call leaves three or four
 * transactions there for 64*T1 = 32 s, so 1,600 calls/s keep ~150,000
 * entries in each index).
 *
 * Why: a V8 Map is one hash table. Once its live plus deleted entries fill
 * it, the next insert rehashes every entry into a new table, in one go. At
 * 150,000 entries that single `set` took 45-85 ms (measured, Node 20), and
 * the transaction layer's indexes grow in lock-step, so they rehashed
 * together: a 58 ms stall of the event loop every few seconds, which was
 * most of the SBC's p99 setup time at 1,600 calls/s. Split 64 ways, each
 * rehash moves 1/64 of the entries, and the shards rehash at different
 * moments.
 *
 * The hash is FNV-1a over the whole key (keys are 30-80 characters; both
 * ends of a transaction key are often constant, e.g. "z9hG4bK" and
 * "|INVITE"). Iteration goes shard by shard, not in insertion order.
 */
const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;

function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) & (SHARDS - 1);
}

export class ShardedMap<V> {
  private readonly shards: Array<Map<string, V>> = [];
  private count = 0;

  constructor() {
    for (let i = 0; i < SHARDS; i++) this.shards.push(new Map());
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key);
  }

  set(key: string, value: V): this {
    const shard = this.shards[shardOf(key)]!;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: string): boolean {
    if (!this.shards[shardOf(key)]!.delete(key)) return false;
    this.count--;
    return true;
  }

  get size(): number {
    return this.count;
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  /** Entries in the fullest shard (for tests of the spread). */
  largestShard(): number {
    let max = 0;
    for (const shard of this.shards) if (shard.size > max) max = shard.size;
    return max;
  }
}
