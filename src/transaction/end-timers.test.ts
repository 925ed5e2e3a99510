import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { END_TIMER_SLOT_MS, EndTimerWheel, type EndTimed } from './end-timers.js';

function entry(log: string[], name: string): EndTimed {
  return {
    endSlot: 0,
    endTimerFired() {
      log.push(name);
    },
  };
}

describe('EndTimerWheel', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires never before the due time and at most two slots after it', () => {
    const wheel = new EndTimerWheel();
    const fired: string[] = [];
    vi.advanceTimersByTime(37); // not on a slot boundary
    wheel.schedule(entry(fired, 'j'), 32_000);
    vi.advanceTimersByTime(31_999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1 + 2 * END_TIMER_SLOT_MS);
    expect(fired).toEqual(['j']);
    expect(wheel.size).toBe(0);
  });

  it('fires entries in due order and each once', () => {
    const wheel = new EndTimerWheel();
    const fired: string[] = [];
    wheel.schedule(entry(fired, 'k'), 5_000);
    wheel.schedule(entry(fired, 'l'), 32_000);
    wheel.schedule(entry(fired, 'k2'), 5_000);
    vi.advanceTimersByTime(40_000);
    expect(fired).toEqual(['k', 'k2', 'l']);
  });

  it('skips a cancelled entry and fires a re-armed one at its new time only', () => {
    const wheel = new EndTimerWheel();
    const fired: string[] = [];
    const cancelled = entry(fired, 'cancelled');
    const rearmed = entry(fired, 'rearmed');
    wheel.schedule(cancelled, 1_000);
    wheel.schedule(rearmed, 1_000);
    wheel.cancel(cancelled);
    wheel.cancel(rearmed);
    wheel.schedule(rearmed, 5_000);
    vi.advanceTimersByTime(2_000);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(4_000);
    expect(fired).toEqual(['rearmed']);
    expect(cancelled.endSlot).toBe(0);
  });

  it('serves every slot after a stalled loop, and one throwing entry does not stop the others', () => {
    const wheel = new EndTimerWheel();
    const fired: string[] = [];
    wheel.schedule({ endSlot: 0, endTimerFired: () => { throw new Error('boom'); } }, 1_000);
    wheel.schedule(entry(fired, 'after'), 1_000);
    wheel.schedule(entry(fired, 'later'), 3_000);
    vi.setSystemTime(Date.now() + 10_000); // the clock moved, no tick ran
    wheel.advance();
    expect(fired).toEqual(['after', 'later']);
  });

  it('runs its tick only while entries are armed, and clear() forgets them', () => {
    const wheel = new EndTimerWheel();
    const fired: string[] = [];
    expect(vi.getTimerCount()).toBe(0);
    wheel.schedule(entry(fired, 'x'), 1_000);
    expect(vi.getTimerCount()).toBe(1);
    wheel.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(fired).toEqual([]);
    wheel.schedule(entry(fired, 'y'), 1_000);
    vi.advanceTimersByTime(1_300);
    expect(fired).toEqual(['y']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
