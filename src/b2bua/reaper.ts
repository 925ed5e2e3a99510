/**
 * The reaper: ends calls nothing else would end. A call whose current event
 * has run longer than `stalledEventMs` (media or a port that never answered:
 * the per-call queue would block every later event, BYE included) is
 * terminated; a connected call whose dialogs are both gone is finished.
 */
import type { Call } from './call.js';

export function reapCalls(calls: Iterable<Call>, now: number, stalledEventMs: number): number {
  let n = 0;
  for (const c of [...calls]) {
    const stalled = c.stalledMs(now);
    if (stalled > stalledEventMs) {
      c.log.error({ stalledMs: stalled }, 'call event stalled; call ended by the reaper');
      c.terminate('sbc', 'reaped: call event stalled');
    } else if (c.legsGone) {
      c.log.warn('both legs gone; call ended by the reaper');
      c.finish('reaped: both legs gone');
    } else continue;
    n++;
  }
  return n;
}
