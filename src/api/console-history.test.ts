import { describe, expect, it } from 'vitest';
import { DashboardHistory } from './console-history.js';

describe('DashboardHistory', () => {
  it('turns counters into rates between readings and keeps one hour', () => {
    const h = new DashboardHistory();
    h.add(0, { activeCalls: 0, totalCalls: 100, packetsRelayed: 0 });
    expect(h.points()).toEqual([]); // a rate needs two readings
    h.add(10_000, { activeCalls: 7, totalCalls: 150, packetsRelayed: 5000 });
    expect(h.points()).toEqual([{ t: 10_000, calls: 7, cps: 5, pps: 500 }]);
    h.add(20_000, { activeCalls: 3, totalCalls: 10, packetsRelayed: 5000 }); // a counter going back: 0, not negative
    expect(h.points()[1]).toEqual({ t: 20_000, calls: 3, cps: 0, pps: 0 });
    for (let t = 30_000; t <= 3_700_000; t += 10_000) h.add(t, { activeCalls: 1, totalCalls: 10, packetsRelayed: 5000 });
    const pts = h.points();
    expect(pts[0]!.t).toBeGreaterThanOrEqual(3_700_000 - 3_600_000);
    expect(pts.length).toBeLessThanOrEqual(361);
  });
});
