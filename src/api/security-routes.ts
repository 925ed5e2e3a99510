/**
 * REST routes and Prometheus gauges of the edge security: the IDS deny
 * list (listed, added, removed by an operator) and the counters.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';

export interface DenyListEntry {
  address: string;
  port: number | null;
  reason: string;
  rule: string;
  since: number;
  until: number;
  dropped: number;
}

export interface SecurityStats {
  ids: { events: Record<string, number>; alarms: number; denials: number; deniedDropped: number; deniedNow: number; trackedCounters: number };
  rateLimited: number;
  rateBuckets: number;
}

export interface SecurityBackend {
  denied(): DenyListEntry[];
  /** Removes a source (address or address|port); false when it was not denied. */
  allow(source: string): boolean;
  deny(address: string, seconds: number): void;
  stats(): SecurityStats;
}

/** Route options another module passes to declare the role a route needs (see src/api/auth.ts). */
export type RouteRoleConfig = { config: { role: 'monitor' | 'operator' | 'admin' } };

const MONITOR: RouteRoleConfig = { config: { role: 'monitor' } };
const OPERATOR: RouteRoleConfig = { config: { role: 'operator' } };

export function registerSecurityRoutes(server: FastifyInstance, backend: SecurityBackend, registry: Registry): void {
  server.get('/api/v1/security/denied', MONITOR, async () => backend.denied().map((e) => ({
    ...e, since: new Date(e.since).toISOString(), until: new Date(e.until).toISOString(),
  })));
  server.delete<{ Params: { source: string } }>('/api/v1/security/denied/:source', OPERATOR, async (req, reply) => {
    const ok = backend.allow(decodeURIComponent(req.params.source));
    return reply.code(ok ? 200 : 404).send({ removed: ok });
  });
  server.post<{ Body: { address?: unknown; seconds?: unknown } }>('/api/v1/security/denied', OPERATOR, async (req, reply) => {
    const address = req.body?.address;
    const seconds = req.body?.seconds ?? 3600;
    if (typeof address !== 'string' || address.length === 0 || address.length > 64 || typeof seconds !== 'number' || !(seconds > 0)) {
      return reply.code(400).send({ error: 'body must be {"address": "<ip>", "seconds": <n>}' });
    }
    backend.deny(address, Math.min(seconds, 31_536_000));
    return reply.code(201).send({ denied: address, seconds });
  });
  server.get('/api/v1/security/stats', MONITOR, async () => backend.stats());

  const g = (name: string, help: string, read: (s: SecurityStats) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read(backend.stats())); } });
  };
  new Gauge({
    name: 'sbc_ids_events', help: 'IDS malicious events counted since start, by reason', labelNames: ['reason'], registers: [registry],
    collect() {
      const s = backend.stats();
      for (const [reason, n] of Object.entries(s.ids.events)) this.set({ reason }, n);
    },
  });
  g('sbc_ids_denied_sources', 'Sources on the IDS deny list now', (s) => s.ids.deniedNow);
  g('sbc_ids_denials', 'Sources denied since start', (s) => s.ids.denials);
  g('sbc_ids_alarms', 'IDS alarm thresholds crossed since start', (s) => s.ids.alarms);
  g('sbc_ids_denied_dropped', 'Packets and connections dropped unread from denied sources', (s) => s.ids.deniedDropped);
  g('sbc_source_rate_limited', 'Out-of-dialog requests over the per-source rate (dropped or 503)', (s) => s.rateLimited);
}
