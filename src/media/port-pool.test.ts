import { describe, expect, it } from 'vitest';
import { PortPool, PortPoolError } from './port-pool.js';

describe('PortPool', () => {
  it('hands out even ports with the odd neighbour reserved, until exhausted', () => {
    const pool = new PortPool({ address: '10.0.0.1', portRangeStart: 20000, portRangeEnd: 20009, startOffset: 0 });
    expect(pool.capacityPairs).toBe(5);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = pool.allocatePair();
      expect(p).not.toBeNull();
      got.push(p!);
    }
    expect(got).toEqual([20000, 20002, 20004, 20006, 20008]);
    expect(pool.allocatePair()).toBeNull();
    expect(pool.allocateSingle()).toBeNull();
    expect(pool.isAllocated(20001)).toBe(true);
    expect(pool.inUse()).toBe(10);
  });

  it('aligns an odd range start and ignores a trailing odd port', () => {
    const pool = new PortPool({ address: '10.0.0.1', portRangeStart: 30001, portRangeEnd: 30006, startOffset: 0 });
    expect(pool.firstPort).toBe(30002);
    expect(pool.capacityPairs).toBe(2);
    expect([pool.allocatePair(), pool.allocatePair(), pool.allocatePair()]).toEqual([30002, 30004, null]);
  });

  it('reuses a released port last (FIFO) and refuses double release', () => {
    const pool = new PortPool({ address: '10.0.0.1', portRangeStart: 40000, portRangeEnd: 40005, startOffset: 0 });
    const a = pool.allocatePair()!;
    expect(pool.release(a)).toBe(true);
    expect(pool.release(a)).toBe(false);
    expect(pool.release(a + 1)).toBe(false); // the RTCP half is not released on its own
    expect(pool.release(12345)).toBe(false);
    expect(pool.allocatePair()).toBe(40002);
    expect(pool.allocatePair()).toBe(40004);
    expect(pool.allocatePair()).toBe(a);
    expect(pool.allocatePair()).toBeNull();
  });

  it('never hands out the same port twice over many cycles', () => {
    const pool = new PortPool({ address: '10.0.0.1', portRangeStart: 50000, portRangeEnd: 50099 });
    const occupied = new Set<number>(); // every port in use, RTCP halves included
    const handles: Array<{ port: number; pair: boolean }> = [];
    let seed = 7;
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    let conflicts = 0;
    for (let i = 0; i < 3000; i++) {
      if (handles.length > 0 && rnd() < 0.45) {
        const h = handles.splice(Math.floor(rnd() * handles.length), 1)[0]!;
        if (!pool.release(h.port)) conflicts++;
        occupied.delete(h.port);
        if (h.pair) occupied.delete(h.port + 1);
        continue;
      }
      const pair = rnd() >= 0.3;
      const p = pair ? pool.allocatePair() : pool.allocateSingle();
      if (p === null) continue;
      if (occupied.has(p) || (pair && (p % 2 !== 0 || occupied.has(p + 1)))) conflicts++;
      occupied.add(p);
      if (pair) occupied.add(p + 1);
      handles.push({ port: p, pair });
      if (pool.inUse() !== occupied.size) conflicts++;
    }
    expect(conflicts).toBe(0);
    for (const h of handles) pool.release(h.port);
    expect(pool.inUse()).toBe(0);
    expect(pool.freePairs()).toBe(50);
  });

  it('carves singles out of pairs and merges them back', () => {
    const pool = new PortPool({ address: '10.0.0.1', portRangeStart: 60000, portRangeEnd: 60003, startOffset: 0 });
    const s1 = pool.allocateSingle()!;
    const s2 = pool.allocateSingle()!;
    expect([s1, s2].sort()).toEqual([60000, 60001]);
    expect(pool.allocatePair()).toBe(60002);
    expect(pool.allocatePair()).toBeNull();
    pool.release(s1);
    expect(pool.allocatePair()).toBeNull(); // half of the pair is still in use
    pool.release(s2);
    expect(pool.allocatePair()).toBe(60000);
    expect(pool.inUse()).toBe(4);
  });

  it('starts at a random offset by default', () => {
    const starts = new Set<number>();
    for (let i = 0; i < 20; i++) {
      starts.add(new PortPool({ address: '10.0.0.1', portRangeStart: 10000, portRangeEnd: 19999 }).allocatePair()!);
    }
    expect(starts.size).toBeGreaterThan(1);
  });

  it('rejects bad ranges with a clear error', () => {
    expect(() => new PortPool({ address: '10.0.0.1', portRangeStart: 5000, portRangeEnd: 4000 })).toThrow(PortPoolError);
    expect(() => new PortPool({ address: '10.0.0.1', portRangeStart: 0, portRangeEnd: 70000 })).toThrow(/invalid port range/);
    expect(() => new PortPool({ address: '10.0.0.1', portRangeStart: 5001, portRangeEnd: 5002 })).toThrow(/no even\/odd pair/);
    expect(() => new PortPool({ address: '', portRangeStart: 5000, portRangeEnd: 5010 })).toThrow(/address/);
  });
});
