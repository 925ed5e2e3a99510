/**
 * REST API and Prometheus metrics. Read-mostly: status, calls, proxy-set
 * state, and a reload trigger. Binds to loopback unless configured
 * otherwise, because it can change the running configuration.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics, Gauge, Counter } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { registerCdrRoutes, type CdrApiSource } from './cdr-routes.js';

export interface ApiStatus {
  version: string;
  uptimeSec: number;
  activeCalls: number;
  [key: string]: unknown;
}

export interface ApiBackend {
  /** `gc`: `?gc=1` was asked for: run a full garbage collection first, for leak checks, when the SBC allows it (SBC_API_GC=1 and node --expose-gc). */
  status(opts: { gc: boolean }): ApiStatus;
  calls(): unknown[];
  proxySets(): unknown;
  reload(): Promise<{ ok: boolean; diagnostics: unknown[]; changes: string[] }>;
  /** Sets the gauges that are read from live state (calls, relay sessions) just before a scrape. */
  refreshGauges?(): void;
}

export interface SbcMetrics {
  readonly registry: Registry;
  readonly activeCalls: Gauge;
  readonly callsTotal: Counter<'result'>;
  readonly sipMessagesTotal: Counter<'method' | 'direction'>;
  readonly proxyServerUp: Gauge<'proxy_set' | 'server'>;
  readonly configReloadsTotal: Counter<'result'>;
  readonly relaySessions: Gauge;
  readonly relayPackets: Gauge;
  /** Makes sbc_active_calls and sbc_media_relay_sessions read these at every scrape. */
  bindLive(source: LiveSource): void;
}

/** Live values read when /metrics is scraped. */
export interface LiveSource {
  activeCalls(): number;
  relaySessions(): number;
  /** RTP/RTCP packets relayed since start (all sessions, closed ones included); optional. */
  relayPacketsTotal?(): number;
}

export function createMetrics(): SbcMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sbc_process_' });
  let live: LiveSource | null = null;
  return {
    registry,
    bindLive: (source) => {
      live = source;
    },
    activeCalls: new Gauge({
      name: 'sbc_active_calls', help: 'Calls in progress', registers: [registry],
      collect(this: Gauge) {
        if (live !== null) this.set(live.activeCalls());
      },
    }),
    callsTotal: new Counter({ name: 'sbc_calls_total', help: 'Calls ended, by result', labelNames: ['result'], registers: [registry] }),
    sipMessagesTotal: new Counter({
      name: 'sbc_sip_messages_total', help: 'SIP messages by request method or response class, in or out', labelNames: ['method', 'direction'], registers: [registry],
    }),
    proxyServerUp: new Gauge({
      name: 'sbc_proxy_server_up', help: '1 when a proxy-set server answers keep-alives',
      labelNames: ['proxy_set', 'server'], registers: [registry],
    }),
    configReloadsTotal: new Counter({
      name: 'sbc_config_reloads_total', help: 'Configuration reloads', labelNames: ['result'], registers: [registry],
    }),
    relayPackets: new Gauge({
      name: 'sbc_media_relay_packets_total', help: 'Packets relayed since start (rate() gives the relay pps)', registers: [registry],
      collect(this: Gauge) {
        const n = live?.relayPacketsTotal?.();
        if (n !== undefined) this.set(n);
      },
    }),
    relaySessions: new Gauge({
      name: 'sbc_media_relay_sessions', help: 'Media relay sessions', registers: [registry],
      collect(this: Gauge) {
        if (live !== null) this.set(live.relaySessions());
      },
    }),
  };
}

export async function startApiServer(opts: {
  host: string;
  port: number;
  backend: ApiBackend;
  metrics: SbcMetrics;
  logger: Logger;
  /** Further routes (e.g. the configuration API, config-routes.ts), registered before listening. */
  register?: (server: FastifyInstance) => void;
  /** CDR ring and files for GET /api/v1/cdrs (404 while absent). */
  cdrs?: () => CdrApiSource | null;
  /** Route sets of other modules (registrations, ...), installed after the core routes. */
  routes?: ReadonlyArray<(server: FastifyInstance) => void>;
}): Promise<{ server: FastifyInstance; port: number }> {
  const server = Fastify({ logger: false });
  const { backend, metrics } = opts;
  server.get('/api/v1/health', async () => ({ status: 'ok' }));
  server.get<{ Querystring: { gc?: string } }>('/api/v1/status', async (req) => backend.status({ gc: req.query.gc === '1' }));
  server.get('/api/v1/calls', async () => backend.calls());
  server.get('/api/v1/proxy-sets', async () => backend.proxySets());
  server.post('/api/v1/config/reload', async (_req, reply) => {
    const res = await backend.reload();
    metrics.configReloadsTotal.inc({ result: res.ok ? 'ok' : 'rejected' });
    return reply.code(res.ok ? 200 : 422).send(res);
  });
  registerCdrRoutes(server, opts.cdrs ?? (() => null));
  for (const install of opts.routes ?? []) install(server);
  server.get('/metrics', async (_req, reply) => {
    backend.refreshGauges?.();
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  opts.register?.(server);
  await server.listen({ host: opts.host, port: opts.port });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  opts.logger.info({ host: opts.host, port }, 'REST API listening');
  return { server, port };
}
