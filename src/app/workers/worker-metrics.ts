/**
 * Prometheus figures of the SIP worker threads, folded into the main
 * thread's registry just before a scrape of /metrics: live calls and relay
 * sessions (gauges), and the SIP messages each worker counted (added to
 * sbc_sip_messages_total as the growth since the last scrape).
 */
import type { SbcMetrics } from '../../api/server.js';
import type { SipWorkerPool } from './worker-pool.js';

interface WorkerFigures {
  shard: number;
  activeCalls: number;
  relay: { sessions: number };
  /** "label|direction" -> messages since the worker started. */
  sipMessages: Record<string, number>;
  callsBySourceGroup: Record<string, number>;
}

function isFigures(v: unknown): v is WorkerFigures {
  return typeof v === 'object' && v !== null && typeof (v as WorkerFigures).shard === 'number' && typeof (v as WorkerFigures).sipMessages === 'object';
}

export class WorkerMetrics {
  /** Sums over the workers at the last refresh. */
  live = { activeCalls: 0, relaySessions: 0 };
  /** Live calls per source IP Group over the workers at the last refresh. */
  bySourceGroup = new Map<string, number>();
  private readonly seen = new Map<string, number>();

  constructor(private readonly pool: SipWorkerPool, private readonly metrics: SbcMetrics) {}

  async refresh(): Promise<void> {
    let activeCalls = 0;
    let relaySessions = 0;
    const bySourceGroup = new Map<string, number>();
    for (const w of await this.pool.ask('stats')) {
      if (!isFigures(w)) continue;
      for (const [g, n] of Object.entries(w.callsBySourceGroup ?? {})) bySourceGroup.set(g, (bySourceGroup.get(g) ?? 0) + n);
      activeCalls += w.activeCalls;
      relaySessions += w.relay.sessions;
      for (const [key, total] of Object.entries(w.sipMessages)) {
        const id = `${w.shard}|${key}`;
        const grown = total - (this.seen.get(id) ?? 0);
        this.seen.set(id, total);
        const [method = 'OTHER', direction = 'in'] = key.split('|');
        if (grown > 0) this.metrics.sipMessagesTotal.inc({ method, direction }, grown);
      }
    }
    this.live = { activeCalls, relaySessions };
    this.bySourceGroup = bySourceGroup;
  }
}
