import { describe, expect, it } from 'vitest';
import { CoarseTimers } from './coarse-timers.js';

describe('CoarseTimers', () => {
  it('fires each timer once in its second, skips none after a late tick, and cancels', () => {
    let now = 1_000_000;
    const w = new CoarseTimers(() => now);
    const fired: string[] = [];
    w.schedule(2000, () => fired.push('a'));
    w.schedule(2400, () => fired.push('b'));
    const c = w.schedule(5000, () => fired.push('c'));
    w.schedule(9000, () => fired.push('d'));
    w.schedule(0, () => fired.push('e'));
    expect(w.size).toBe(5);
    now += 1000;
    w.advance();
    expect(fired).toEqual(['e']);
    now += 1000;
    w.advance();
    expect(fired).toEqual(['e', 'a', 'b']);
    w.cancel(c);
    w.cancel(c);
    expect(w.size).toBe(1);
    // A stalled loop: the tick comes 10 s late and still fires what was due meanwhile.
    now += 10_000;
    w.advance();
    expect(fired).toEqual(['e', 'a', 'b', 'd']);
    expect(w.size).toBe(0);
    w.advance();
    expect(fired).toHaveLength(4);
  });

  it('a throwing timer does not stop the others', () => {
    let now = 0;
    const w = new CoarseTimers(() => now);
    const fired: number[] = [];
    w.schedule(1000, () => { throw new Error('x'); });
    w.schedule(1000, () => fired.push(1));
    now = 1000;
    w.advance();
    expect(fired).toEqual([1]);
  });
});
