import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { OverloadGuard } from './overload.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function blockLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* the event loop is stuck, as under a flood */ }
}

describe('OverloadGuard', () => {
  it('sheds while the event loop is delayed beyond the limit and recovers when it is not', async () => {
    const g = new OverloadGuard({ lagMs: 60, maxPendingSetups: 0, action: 'reject', retryAfterSec: 5, windowMs: 50, logger: silentLogger() });
    try {
      expect(g.shedding).toBe(false);
      // The loop is stalled nearly all the time (150 ms at a stretch): every window's p99 is far above 60 ms.
      for (let i = 0; i < 20 && !g.shedding; i++) {
        blockLoop(150);
        await sleep(1);
      }
      expect(g.shedding).toBe(true);
      expect(g.stats().episodes).toBe(1);
      g.noteShed();
      // Idle windows bring p99 under half the limit.
      for (let i = 0; i < 100 && g.shedding; i++) await sleep(50);
      expect(g.shedding).toBe(false);
      expect(g.stats()).toMatchObject({ episodes: 1, shed: 1, shedding: false });
    } finally {
      g.close();
    }
  });

  it('is off with a limit of 0', async () => {
    const g = new OverloadGuard({ lagMs: 0, maxPendingSetups: 0, action: 'drop', retryAfterSec: 5, logger: silentLogger() });
    blockLoop(100);
    await sleep(300);
    expect(g.shedding).toBe(false);
    g.close();
  });
});
