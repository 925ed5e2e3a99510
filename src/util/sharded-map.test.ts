import { describe, expect, it } from 'vitest';
import { ShardedMap } from './sharded-map.js';

describe('ShardedMap', () => {
  it('does what a Map does under random churn (same answers, same size)', () => {
    const s = new ShardedMap<number>();
    const m = new Map<string, number>();
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      const k = `z9hG4bK${rnd(3000)}|INVITE`;
      const op = rnd(3);
      if (op === 0) {
        s.set(k, i);
        m.set(k, i);
      } else if (op === 1) expect(s.delete(k)).toBe(m.delete(k));
      else {
        expect(s.get(k)).toBe(m.get(k));
        expect(s.has(k)).toBe(m.has(k));
      }
      expect(s.size).toBe(m.size);
    }
    expect([...s.values()].sort((a, b) => a - b)).toEqual([...m.values()].sort((a, b) => a - b));
    s.clear();
    expect(s.size).toBe(0);
    expect([...s.values()]).toEqual([]);
  });

  it('spreads transaction keys whose ends are constant over the shards', () => {
    // sipp-style branches: same prefix and suffix, a counter in the middle.
    const s = new ShardedMap<number>();
    for (let i = 0; i < 64_000; i++) s.set(`z9hG4bK-4242-${i}-0|127.0.0.1:5080|INVITE`, i);
    expect(s.size).toBe(64_000);
    // 1,000 per shard on average; no shard may hold even twice that.
    expect(s.largestShard()).toBeLessThan(2000);
  });
});
