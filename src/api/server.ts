/**
 * REST API and Prometheus metrics. Read-mostly: status, calls, proxy-set
 * state, and a reload trigger. Binds to loopback unless configured
 * otherwise, because it can change the running configuration.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { registerAuth, type AuthOptions } from './auth.js';
import { registerRouteIndex } from './route-index.js';
import { Registry, collectDefaultMetrics, Gauge, Counter } from 'prom-client';
import { SipMessageTally } from '../metrics/sip-messages.js';
import type { Logger } from '../util/logger.js';
import { registerCdrRoutes, type CdrApiSource } from './cdr-routes.js';
import { registerQoeRoutes } from './qoe-routes.js';
import { registerSecurityRoutes, type SecurityBackend } from './security-routes.js';
import { registerAdmission, type AdmissionRuleCounters } from './admission-metrics.js';
import { registerConsoleRoutes } from './console-routes.js';
import { createConsoleSessions } from './console-session.js';
import { registerCallRoutes, type CallBackend } from './call-routes.js';

export interface ApiStatus {
  version: string;
  uptimeSec: number;
  activeCalls: number;
  [key: string]: unknown;
}

export type { CallLadderView } from './call-routes.js';

export interface ApiBackend extends CallBackend {
  /** `gc`: `?gc=1` was asked for: run a full garbage collection first, for leak checks, when the SBC allows it (SBC_API_GC=1 and node --expose-gc). */
  status(opts: { gc: boolean }): ApiStatus | Promise<ApiStatus>;
  proxySets(): unknown;
  reload(): Promise<{ ok: boolean; diagnostics: unknown[]; changes: string[] }>;
  /** Sets the gauges that are read from live state (calls, relay sessions) just before a scrape. */
  refreshGauges?(): void | Promise<void>;
  /** IDS deny list and counters; absent = no security routes. */
  security?: SecurityBackend;
  /** SBCAdmissionControl counters per rule; absent = no admission routes. */
  admission?: () => AdmissionRuleCounters[] | Promise<AdmissionRuleCounters[]>;
}

export interface SbcMetrics {
  readonly registry: Registry;
  readonly activeCalls: Gauge;
  readonly callsTotal: Counter<'result'>;
  /** This thread's SIP message counts (the transport's hook adds to it; sipMessagesTotal folds it in at each scrape). */
  readonly sipMessages: SipMessageTally;
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
  const sipMessages = new SipMessageTally();
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
    sipMessages,
    sipMessagesTotal: new Counter({
      name: 'sbc_sip_messages_total', help: 'SIP messages by request method or response class, in or out', labelNames: ['method', 'direction'], registers: [registry],
      collect(this: Counter<'method' | 'direction'>) {
        sipMessages.foldInto(this);
      },
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

/** Forward-secret suites only (ECDHE with AEAD); TLS 1.3 suites are Node's defaults. */
export const API_CIPHERS = [
  'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

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
  /** Users and roles (src/api/auth.ts); every route sits behind it. */
  auth: AuthOptions;
  /** HTTPS with these PEM files (TLS 1.2 minimum); absent = HTTP. */
  tls?: { certFile: string; keyFile: string };
  /** /metrics without credentials for loopback clients. */
  metricsOpenOnLoopback?: boolean;
  /** Lets other modules add their routes (each declares its role, see auth.ts) before the server listens. */
  extraRoutes?: Array<(server: FastifyInstance) => void>;
}): Promise<{ server: FastifyInstance; port: number }> {
  // The request logger stays off: it would write Authorization headers and tokens to the log.
  const server = opts.tls
    ? Fastify({
      logger: false,
      https: { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile), minVersion: 'TLSv1.2', ciphers: API_CIPHERS },
    }) as unknown as FastifyInstance
    : Fastify({ logger: false });
  registerRouteIndex(server);
  const { backend, metrics } = opts;
  const loopbackBind = opts.host === '127.0.0.1' || opts.host === '::1' || opts.host === 'localhost' || opts.host.startsWith('127.');
  const sessions = createConsoleSessions();
  const auth = registerAuth(server, { ...opts.auth, enabled: opts.auth.enabled || !loopbackBind, sessions });
  if (!opts.auth.enabled && !loopbackBind) opts.logger.warn({ host: opts.host }, 'SbcApiAuthentication = 0 ignored: the API is not bound to loopback');
  if (!loopbackBind && isIP(opts.host) !== 0 && !opts.tls) {
    opts.logger.warn({ host: opts.host }, 'REST API bound to a non-loopback address over plain HTTP: credentials cross the network in clear; set SbcApiTlsCertFile/SbcApiTlsKeyFile');
  }
  if (!loopbackBind) opts.logger.warn({ host: opts.host }, 'REST API reachable from other hosts; restrict it with a firewall or bind SbcApiAddress to 127.0.0.1');
  new Gauge({
    name: 'sbc_api_auth_failures', help: 'REST API requests with bad credentials since start', registers: [metrics.registry],
    collect() { this.set(auth.stats().failures); },
  });
  new Gauge({
    name: 'sbc_api_auth_blocked', help: 'REST API requests refused (429) after too many failed logins from their address', registers: [metrics.registry],
    collect() { this.set(auth.stats().blockedRequests); },
  });
  server.get('/api/v1/health', { config: { role: 'loopback' } }, async () => ({ status: 'ok' }));
  server.get<{ Querystring: { gc?: string } }>('/api/v1/status', { config: { role: 'monitor' } }, async (req) => backend.status({ gc: req.query.gc === '1' }));
  registerCallRoutes(server, backend);
  registerConsoleRoutes(server, {
    auth, sessions, secure: opts.tls !== undefined,
    figures: async () => {
      const st = await backend.status({ gc: false });
      const calls = st['calls'] as { totalCalls?: number } | undefined;
      const relay = st['relay'] as { packetsRelayed?: number } | undefined;
      return { activeCalls: st.activeCalls, totalCalls: calls?.totalCalls ?? 0, packetsRelayed: relay?.packetsRelayed ?? 0 };
    },
  });
  server.get('/api/v1/proxy-sets', { config: { role: 'monitor' } }, async () => backend.proxySets());
  server.post('/api/v1/config/reload', { config: { role: 'operator' } }, async (_req, reply) => {
    const res = await backend.reload();
    metrics.configReloadsTotal.inc({ result: res.ok ? 'ok' : 'rejected' });
    return reply.code(res.ok ? 200 : 422).send(res);
  });
  registerCdrRoutes(server, opts.cdrs ?? (() => null));
  registerQoeRoutes(server, opts.cdrs ?? (() => null));
  for (const install of opts.routes ?? []) install(server);
  if (backend.security) registerSecurityRoutes(server, backend.security, metrics.registry);
  if (backend.admission) registerAdmission(server, backend.admission, metrics.registry);
  for (const add of opts.extraRoutes ?? []) add(server);
  server.get('/metrics', { config: { role: opts.metricsOpenOnLoopback ? 'loopback' : 'monitor' } }, async (_req, reply) => {
    await backend.refreshGauges?.();
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
