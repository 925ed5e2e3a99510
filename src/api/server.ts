/**
 * REST API and Prometheus metrics. Read-mostly: status, calls, proxy-set
 * state, and a reload trigger. Binds to loopback unless configured
 * otherwise, because it can change the running configuration.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics, Gauge, Counter } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { registerSecurityRoutes, type SecurityBackend } from './security-routes.js';
import { registerAdmission, type AdmissionRuleCounters } from './admission-metrics.js';

export interface ApiStatus {
  version: string;
  uptimeSec: number;
  activeCalls: number;
  [key: string]: unknown;
}

export interface ApiBackend {
  /** `gc`: run a full garbage collection first when the process allows it (--expose-gc), for leak checks. */
  status(opts: { gc: boolean }): ApiStatus;
  calls(): unknown[];
  proxySets(): unknown;
  reload(): Promise<{ ok: boolean; diagnostics: unknown[]; changes: string[] }>;
  /** IDS deny list and counters; absent = no security routes. */
  security?: SecurityBackend;
  /** SBCAdmissionControl counters per rule; absent = no admission routes. */
  admission?: () => AdmissionRuleCounters[];
}

export interface SbcMetrics {
  readonly registry: Registry;
  readonly activeCalls: Gauge;
  readonly callsTotal: Counter<'result'>;
  readonly sipMessagesTotal: Counter<'direction' | 'kind'>;
  readonly proxyServerUp: Gauge<'proxy_set' | 'server'>;
  readonly configReloadsTotal: Counter<'result'>;
  readonly relaySessions: Gauge;
}

export function createMetrics(): SbcMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sbc_process_' });
  return {
    registry,
    activeCalls: new Gauge({ name: 'sbc_active_calls', help: 'Calls in progress', registers: [registry] }),
    callsTotal: new Counter({ name: 'sbc_calls_total', help: 'Calls ended, by result', labelNames: ['result'], registers: [registry] }),
    sipMessagesTotal: new Counter({
      name: 'sbc_sip_messages_total', help: 'SIP messages', labelNames: ['direction', 'kind'], registers: [registry],
    }),
    proxyServerUp: new Gauge({
      name: 'sbc_proxy_server_up', help: '1 when a proxy-set server answers keep-alives',
      labelNames: ['proxy_set', 'server'], registers: [registry],
    }),
    configReloadsTotal: new Counter({
      name: 'sbc_config_reloads_total', help: 'Configuration reloads', labelNames: ['result'], registers: [registry],
    }),
    relaySessions: new Gauge({ name: 'sbc_media_relay_sessions', help: 'Media relay sessions', registers: [registry] }),
  };
}

export async function startApiServer(opts: {
  host: string;
  port: number;
  backend: ApiBackend;
  metrics: SbcMetrics;
  logger: Logger;
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
  if (backend.security) registerSecurityRoutes(server, backend.security, metrics.registry);
  if (backend.admission) registerAdmission(server, backend.admission, metrics.registry);
  server.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  await server.listen({ host: opts.host, port: opts.port });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  opts.logger.info({ host: opts.host, port }, 'REST API listening');
  return { server, port };
}
