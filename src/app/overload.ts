/**
 * Overload control: past its ceiling the SBC refuses new work early and
 * cheaply, so that calls already admitted, in-dialog requests and
 * responses keep being served and latency recovers as soon as the load
 * goes (RFC 7339 gives the vocabulary; this is its local, loss-based form:
 * 503 with Retry-After, RFC 3261 §21.5.4, or a silent drop).
 *
 * Load is measured as event-loop delay (node:perf_hooks): every message
 * of every call runs on this loop, so its delay is exactly the queueing
 * a new request would suffer. Shedding starts when the p99 delay of two
 * sampling windows in a row exceeds SBCOverloadLagMs (a single GC pause
 * does not shed) and stops once p99 has stayed
 * under half of it for a second (hysteresis: no flapping at the edge). One log line per episode, with
 * what was shed, and counters for the API and metrics.
 *
 * A second, exact signal is queue depth: with SBCOverloadMaxPendingSetups
 * set, new INVITEs are refused while that many calls are still being set
 * up (counted by the call manager).
 *
 * Parameter names are ours (Mediant has no public equivalent):
 * SBCOverloadLagMs (default 200, 0 = off), SBCOverloadMaxPendingSetups
 * (default 0 = no limit), SBCOverloadAction (0 = 503, 1 = silent drop),
 * SBCOverloadRetryAfter (seconds, default 5).
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../util/logger.js';

export interface OverloadOptions {
  /** p99 event-loop delay that starts shedding, ms; 0 = off. */
  lagMs: number;
  /** Calls in setup (INVITE until the ACK of the 2xx) beyond which new INVITEs are refused; 0 = no limit. */
  maxPendingSetups: number;
  action: 'reject' | 'drop';
  retryAfterSec: number;
  /** Sampling window, ms (default 250). */
  windowMs?: number;
  logger: Logger;
}

export interface OverloadStats {
  shedding: boolean;
  episodes: number;
  shed: number;
  lastP99Ms: number;
}

export class OverloadGuard {
  private readonly histogram: IntervalHistogram | null;
  private readonly timer: NodeJS.Timeout | null;
  private sheddingNow = false;
  private episodes = 0;
  private shedTotal = 0;
  private shedInEpisode = 0;
  private episodeStart = 0;
  private lastP99Ms = 0;
  private readonly windowMs: number;
  /** When the sampling timer should fire next: how late it fires is itself a delay measurement. */
  private nextSampleAt = 0;
  /** Consecutive calm windows so far while shedding; a second of them ends the episode. */
  private calmWindows = 0;
  /** Consecutive windows over the limit; two start an episode (one GC pause does not). */
  private hotWindows = 0;

  constructor(private readonly opts: OverloadOptions) {
    if (!(opts.lagMs > 0)) {
      this.histogram = null;
      this.timer = null;
      this.windowMs = 0;
      return;
    }
    this.windowMs = opts.windowMs ?? 250;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.nextSampleAt = performance.now() + this.windowMs;
    this.timer = setInterval(() => this.sample(), this.windowMs);
    this.timer.unref();
  }

  /** New out-of-dialog INVITEs (and REGISTERs) are to be refused now. */
  get shedding(): boolean {
    return this.sheddingNow;
  }

  get maxPendingSetups(): number {
    return this.opts.maxPendingSetups;
  }

  get action(): 'reject' | 'drop' {
    return this.opts.action;
  }

  get retryAfterSec(): number {
    return this.opts.retryAfterSec;
  }

  /** Counts one refused request. */
  noteShed(): void {
    this.shedTotal++;
    this.shedInEpisode++;
  }

  stats(): OverloadStats {
    return { shedding: this.sheddingNow, episodes: this.episodes, shed: this.shedTotal, lastP99Ms: this.lastP99Ms };
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.histogram?.disable();
  }

  private sample(): void {
    const h = this.histogram!;
    const now = performance.now();
    // Our own timer's lateness catches a stall the histogram's sampler may not have recorded yet.
    const late = Math.max(0, now - this.nextSampleAt);
    this.nextSampleAt = now + this.windowMs;
    // The histogram is in nanoseconds; an empty window reads as 0.
    const p99 = Math.max(h.count > 0 ? h.percentile(99) / 1e6 : 0, late);
    h.reset();
    this.lastP99Ms = Math.round(p99 * 10) / 10;
    const lag = this.opts.lagMs;
    if (!this.sheddingNow) {
      this.hotWindows = p99 > lag ? this.hotWindows + 1 : 0;
      if (this.hotWindows < 2) return;
      this.hotWindows = 0;
      this.sheddingNow = true;
      this.episodes++;
      this.shedInEpisode = 0;
      this.episodeStart = Date.now();
      this.opts.logger.warn({ p99LagMs: this.lastP99Ms, limitMs: lag, action: this.opts.action }, 'overload: refusing new calls');
    } else if (this.sheddingNow) {
      this.calmWindows = p99 < lag / 2 ? this.calmWindows + 1 : 0;
      if (this.calmWindows * this.windowMs < 1000) return;
      this.calmWindows = 0;
      this.sheddingNow = false;
      this.opts.logger.warn(
        { shed: this.shedInEpisode, durationMs: Date.now() - this.episodeStart, p99LagMs: this.lastP99Ms },
        'overload over: accepting new calls',
      );
    }
  }
}
