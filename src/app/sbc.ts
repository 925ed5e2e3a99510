/**
 * Assembles one running SBC from a configuration file: transports per SIP
 * Interface, the transaction layer, proxy-set keep-alive, the call engine
 * with routing/manipulation/media adapters, CDR/QoE sinks and the REST API.
 */
import { ConfigStore, attachPersistence, formatDiagnostic, summarizeIgnored, type Persistence, type SbcConfig } from '../config/index.js';
import { registerConfigRoutes } from '../api/config-routes.js';
import { registerConfigConsoleRoutes } from '../api/config-console-routes.js';
import { registerIpGroupRoutes } from '../api/ip-group-routes.js';
import { ProxySetManager } from '../routing/index.js';
import { TransportLayer, type ListenerInfo } from '../transport/index.js';
import { TransactionLayer, KeepAliveProber } from '../transaction/index.js';
import { CallManager } from '../b2bua/index.js';
import type { CdrSink } from '../b2bua/ports.js';
import { FileCdrSink, type CallDetailRecord } from '../cdr/index.js';
import { createRelayEngine } from '../media/relay.js';
import type { RelayEngine } from '../media/relay-types.js';
import { createMetrics, startApiServer, type SbcMetrics } from '../api/server.js';
import type { Logger } from '../util/logger.js';
import { ConfigRoutingPort } from './routing-port.js';
import { ConfigMediaPort } from './media-port.js';
import type { OverloadGuard } from './overload.js';
import { createOverloadGuard, positiveScalar, transactionOptions, transportOptions } from './engine-options.js';
import { Observability } from './observability.js';
import { RegistrationServices } from './registration-services.js';
import { registerUserRoutes } from '../api/user-routes.js';
import { callBackend, createCallViews } from './call-views.js';
import { registerEdgeMetrics } from './edge-metrics.js';
import { createEdgeGuard, edgeGuardOptions, reportAuthFailures } from './edge-security.js';
import { AdmissionControl } from './admission-control.js';
import type { EdgeGuard } from '../security/edge-guard.js';
import { ConfigError } from './config-error.js';
import { apiTlsOf, tlsOf } from './listener-tls.js';
import { Pseudonymiser } from '../security/pseudonym.js';
import { CallJournal } from './call-journal.js';
import { createPhoneQoe, createQoePublisher, liveCallQoe } from './qoe-services.js';
import type { Transport } from '../transport/types.js';
import { fromLegacyCdr } from '../cdr/legacy.js';
import os from 'node:os';
import { setCallIdShard } from '../sip/call-id-shard.js';
import { SharedCounters } from './concurrency-counters.js';
import { sipWorkerShards, type SipWorkerPool } from './workers/worker-pool.js';
import { startSipWorkers } from './workers/start-workers.js';
import { mergeAdmission, mergeStatus } from './workers/merge-status.js';
import { WorkerMetrics } from './workers/worker-metrics.js';


export interface SbcOptions {
  configFile: string;
  logger: Logger;
  /** Relay engine preference; default native with JS fallback. */
  relay?: 'native' | 'js';
  /**
   * Let `GET /api/v1/status?gc=1` run a full garbage collection first (also
   * needs node's --expose-gc). Off by default: a GC stalls the event loop,
   * so an API client must not be able to trigger it on a production SBC.
   * `sbc start` turns it on when the environment has SBC_API_GC=1.
   */
  allowGcOnStatus?: boolean;
  /** Registration store directory; overrides the ini's RegistrationDatabaseDir. */
  registrationDbDir?: string;
}

/** The configured pseudonymiser (PrivacyPseudonymizationKey), rebuilt only when the key changes. */
function privacyOf(store: ConfigStore): () => Pseudonymiser | null {
  let key = '';
  let p: Pseudonymiser | null = null;
  return () => {
    const k = store.current().scalars.get('privacypseudonymizationkey') ?? '';
    if (k !== key) {
      key = k;
      p = k === '' ? null : new Pseudonymiser(k);
    }
    return p;
  };
}

/** CDRs go to every sink; the last few are kept for the API. */
class CdrFanout implements CdrSink {
  readonly recent: CallDetailRecord[] = [];
  constructor(
    private readonly sinks: CdrSink[], private readonly metrics: SbcMetrics, private readonly log: Logger,
    private readonly observability: Observability,
    private readonly privacy: () => Pseudonymiser | null,
  ) {}
  /** The record as sinks may see it: with pseudonymisation on, the URIs of the engine's detail (which name the numbers) are left out. */
  redact(original: CallDetailRecord): CallDetailRecord {
    const p = this.privacy();
    return p === null ? original : {
      ...original, caller: p.id(original.caller), callee: p.id(original.callee), detail: undefined,
      timeline: original.timeline.map((e) => (e.note === undefined ? e : { ...e, note: p.text(e.note, [original.caller, original.callee]) })),
    };
  }
  write(original: CallDetailRecord): void {
    const record = this.redact(original);
    this.metrics.callsTotal.inc({ result: record.connectTime !== null ? 'answered' : `failed_${record.sipStatus}` });
    this.recent.push(record);
    if (this.recent.length > 100) this.recent.shift();
    // The copy for the log line is made only when info is logged.
    if (this.log.isLevelEnabled('info')) this.log.info({ cdr: { ...record, timeline: undefined } }, 'call detail record');
    for (const s of this.sinks) s.write(record);
    this.observability.emitLegacy(record);
  }
}

export class Sbc {
  readonly listeners: ListenerInfo[] = [];
  private apiClose: (() => Promise<void>) | null = null;
  private removeSighup: (() => void) | null = null;
  private readonly startedAt = Date.now();
  private readonly fileSinks: FileCdrSink[] = [];
  private observability: Observability | null = null;
  private stopping: Promise<void> | null = null;
  private persistence: Persistence | null = null;
  registrations: RegistrationServices | null = null;
  private journal: CallJournal | null = null;
  private workers: SipWorkerPool | null = null;

  private constructor(
    readonly store: ConfigStore,
    readonly transport: TransportLayer,
    readonly transactions: TransactionLayer,
    readonly proxySets: ProxySetManager,
    readonly calls: CallManager,
    readonly relay: RelayEngine,
    readonly metrics: SbcMetrics,
    readonly cdr: CdrFanout,
    readonly overload: OverloadGuard,
    private readonly media: ConfigMediaPort,
    private readonly allowGc: boolean,
    readonly guard: EdgeGuard,
    private readonly log: Logger,
  ) {}

  static async start(opts: SbcOptions): Promise<Sbc> {
    const log = opts.logger;
    const { store, diagnostics, ignored } = await ConfigStore.open(opts.configFile, log.child({ module: 'config' }));
    for (const d of diagnostics) if (d.severity === 'warning') log.warn({ diagnostic: formatDiagnostic(d) }, 'configuration warning');
    if (store === null) throw new ConfigError(diagnostics);
    if (ignored.length > 0) log.info({ ignored: summarizeIgnored(ignored) }, 'configuration settings ignored (sbc check-config --verbose lists them)');
    const persistence = await attachPersistence(store, log.child({ module: 'config' }));
    const config = store.current();

    const guard = createEdgeGuard(config, log.child({ module: 'security' }));
    const num = (name: string, dflt: number): number => positiveScalar(config, name, dflt);
    const transport = new TransportLayer(transportOptions(config, log, guard));
    const shards = sipWorkerShards(config, process.env['SBC_SIP_WORKERS'], os.availableParallelism(), log);
    setCallIdShard(0, shards);
    const listeners: ListenerInfo[] = [];
    try {
      for (const si of config.sipInterfaces) {
        const address = config.sipInterfaceAddress(si.interfaceName);
        if (address === undefined) throw new Error(`SIP interface ${si.interfaceName}: no IP address`);
        listeners.push(await transport.listen({
          name: si.interfaceName,
          address,
          ...(si.udpPort > 0 ? { udpPort: si.udpPort, ...(shards > 1 ? { udpSharing: { role: 'owner' as const, shards } } : {}) } : {}),
          ...(si.tcpPort > 0 ? { tcpPort: si.tcpPort } : {}),
          ...tlsOf(config, si),
        }));
      }
    } catch (err) {
      await transport.close();
      guard.close();
      throw err;
    }
    const transactions = new TransactionLayer(transport, transactionOptions(config, log));
    const prober = new KeepAliveProber(transactions, {
      interfaceName: (ps) => store.current().proxySetByName(ps)?.sbcIpv4SipInterfaceName || (store.current().sipInterfaces[0]?.interfaceName ?? ''),
      ...(config.sip.userAgent !== '' ? { userAgent: config.sip.userAgent } : {}),
    });
    const metrics = createMetrics();
    transport.onSipMessage = (msg, direction) => metrics.sipMessages.count(msg, direction);
    const proxyLog = log.child({ module: 'proxy-set' });
    const proxySets = new ProxySetManager(config, { prober, logger: proxyLog });

    const relay = createRelayEngine({ prefer: opts.relay ?? 'native', logger: log.child({ module: 'media' }) });
    const registrations = new RegistrationServices({
      config, currentConfig: () => store.current(), sender: transactions, proxySets,
      dbDir: opts.registrationDbDir ?? (config.scalars.get('registrationdatabasedir') || null), contactAddress: (i, t) => transport.contactAddress(i, t), registry: metrics.registry, logger: log, flows: transport,
    });
    reportAuthFailures(registrations.authFailures, guard);
    const routing = new ConfigRoutingPort(() => store.current(), proxySets, log.child({ module: 'routing' }), registrations);
    const media = new ConfigMediaPort(() => store.current(), relay, log.child({ module: 'media' }), { index: 0, count: shards });
    // Shared memory only when other threads admit calls too.
    const admissionCounters = shards > 1 ? SharedCounters.allocate(shards) : null;
    const sharedCounters = admissionCounters !== null ? new SharedCounters(admissionCounters) : null;
    const admission = new AdmissionControl(() => store.current(), Date.now, sharedCounters ?? undefined);
    routing.admission = admission;

    const sinks: CdrSink[] = [];
    const fileSinks: FileCdrSink[] = [];
    const cdrPath = config.scalars.get('cdrfilepath');
    if (cdrPath) {
      const f = new FileCdrSink(cdrPath, { onError: (err) => log.error({ err }, 'CDR file write failed') });
      fileSinks.push(f);
      sinks.push(f);
    }
    let observability: Observability;
    let liveCalls: CallManager | null = null;
    let workerGroups = (): ReadonlyMap<string, number> => new Map();
    const activeCallsByIpGroup = (): Map<string, number> => {
      const m = new Map<string, number>();
      if (liveCalls !== null) for (const c of liveCalls.liveCalls()) m.set(c.src.name, (m.get(c.src.name) ?? 0) + 1);
      // SIP worker threads' calls, as of the last refresh before this scrape.
      for (const [g, n] of workerGroups()) m.set(g, (m.get(g) ?? 0) + n);
      return m;
    };
    const qoeDeps = { currentConfig: () => store.current(), tx: transactions, contactAddress: (i: string, t: Transport) => transport.contactAddress(i, t), log: log.child({ module: 'qoe' }) };
    const { publisher, sbcId } = createQoePublisher(qoeDeps);
    try {
      observability = await Observability.create(config, metrics, log, { activeCallsByIpGroup, publish: publisher, sbcId });
    } catch (err) {
      await transport.close();
      throw err;
    }
    const phoneQoe = createPhoneQoe(qoeDeps, () => liveCalls?.liveCalls() ?? [], () => observability);
    observability.beforeEmit = (r) => phoneQoe.fold(r);
    const privacy = privacyOf(store);
    const cdr = new CdrFanout(sinks, metrics, log.child({ module: 'cdr' }), observability, privacy);
    const overload = createOverloadGuard(config, log);
    const journal = await CallJournal.fromConfig(config, log.child({ module: 'call-journal' }), (r) => fromLegacyCdr(cdr.redact(r)));
    const calls = new CallManager({
      ...(journal !== null ? { journal } : {}), transactions, routing, media, cdr, local: transport, logger: log, t1Ms: config.sip.t1Ms, t2Ms: config.sip.t2Ms, load: overload,
      nonCall: { handle: (req, stx, inbound, cls) => phoneQoe.handle(req, stx) || registrations.nonCall.handle(req, stx, inbound, cls) },
      gate: registrations.gate,
      pendingCallsPerSource: (address) => (guard.trusted(address) ? Number.POSITIVE_INFINITY : num('SIPMaxPendingCallsPerSource', 50)),
      onRefused: (inbound, kind) => guard.report(kind === 'no-dialog' ? 'abnormal-flow' : 'dialog-failure', inbound.remote, inbound.interfaceName),
    });
    calls.attach(transactions);
    registrations.attachDialogs(calls);
    liveCalls = calls;
    const workerLive = { activeCalls: 0, relaySessions: 0, relayPackets: 0 };
    metrics.bindLive({
      activeCalls: () => calls.stats().calls + workerLive.activeCalls,
      relaySessions: () => relay.sessionCount() + workerLive.relaySessions,
      relayPacketsTotal: () => relay.packetsRelayed() + workerLive.relayPackets,
    });
    registerEdgeMetrics(metrics.registry, { pools: () => media.poolUsage(), pending: () => calls.stats(), ackTimeouts: () => transactions.stats().ackTimeouts });

    const sbc = new Sbc(store, transport, transactions, proxySets, calls, relay, metrics, cdr, overload, media, opts.allowGcOnStatus ?? false, guard, log);
    sbc.listeners.push(...listeners);
    sbc.fileSinks.push(...fileSinks);
    sbc.persistence = persistence;
    sbc.observability = observability;
    sbc.registrations = registrations;
    sbc.journal = journal;
    const shares: Record<string, number> = {};
    for (const l of listeners) if (l.udpShare !== undefined) shares[l.name] = l.udpShare;
    const streamPorts: Record<string, { tcpPort?: number; tlsPort?: number }> = {};
    for (const l of listeners) {
      if (l.tcpPort !== undefined || l.tlsPort !== undefined) {
        streamPorts[l.name] = { ...(l.tcpPort !== undefined ? { tcpPort: l.tcpPort } : {}), ...(l.tlsPort !== undefined ? { tlsPort: l.tlsPort } : {}) };
      }
    }
    // A worker that cannot start fails the start, with what the main thread opened closed again.
    const workers = admissionCounters !== null && sharedCounters !== null ? await startSipWorkers({
      shards, configFile: opts.configFile, shares, streamPorts, streams: transport, relay: opts.relay ?? 'native', admissionBuffer: admissionCounters, counters: sharedCounters,
      proxySets, configText: () => store.text(), log,
      injectDatagram: (iface, bytes, address, port) => transport.injectDatagram(iface, bytes, address, port),
      writeCdr: (record) => cdr.write(record),
    }).catch(async (err: unknown) => {
      await sbc.stop(0);
      throw err;
    }) : null;
    sbc.workers = workers;
    const workerMetrics = workers === null ? null : new WorkerMetrics(workers, metrics);
    if (workerMetrics !== null) workerGroups = () => workerMetrics.bySourceGroup;
    void journal?.releaseOrphans(transactions, (r) => observability.emit(r));
    store.on('change', ({ config: next, changes }) => {
      workers?.reload(store.text());
      proxySets.update(next);
      registrations.update(next);
      guard.update(edgeGuardOptions(next, log.child({ module: 'security' })));
      if (changes.some((c) => c.startsWith('SIPInterface') || c.startsWith('InterfaceTable'))) {
        log.warn('SIP interface changes take effect after a restart; routing and manipulation changes apply to new calls now');
      }
    });
    const removeConfigSighup = store.reloadOnSighup();
    // SIGHUP also re-reads certificate files: rotation without a restart.
    const onSighup = (): void => {
      void transport.reloadTls().then((res) => {
        for (const r of res) {
          if (r.error === null) log.info({ iface: r.interfaceName }, 'TLS certificate files reloaded');
          else log.error({ iface: r.interfaceName, err: r.error }, 'TLS certificate reload failed; the previous certificate stays in use');
        }
      });
    };
    process.on('SIGHUP', onSighup);
    sbc.removeSighup = () => {
      removeConfigSighup();
      process.off('SIGHUP', onSighup);
    };
    for (const c of config.tlsContexts) {
      if (!c.verifyServerCertificate) log.warn({ tlsContext: c.name }, 'TLS context does not verify server certificates: outgoing TLS accepts any peer');
      if (c.ocspEnable) log.warn({ tlsContext: c.name }, 'OcspEnable is not supported: certificate revocation is not checked (docs/security.md)');
    }
    await proxySets.start();
    await registrations.start();
    if (config.api.port > 0) {
      const apiLog = log.child({ module: 'api' });
      if (config.webUsers.length === 0 && config.scalars.get('sbcapiauthentication') !== '0') {
        apiLog.warn('SbcApiPort is set but WebUsers is empty: every REST API request will be refused (401); add a user (sbc hash-password)');
      }
      const apiTls = apiTlsOf(config);
      const views = createCallViews({
        calls: () => calls.liveCalls(), privacy, qoe: (c) => liveCallQoe(c, phoneQoe, observability),
        ended: () => cdr.recent, endRecords: () => observability.cdr.recent(),
      });
      const api = await startApiServer({
        host: config.api.address, port: config.api.port, metrics, logger: apiLog,
        auth: {
          enabled: Number(config.scalars.get('sbcapiauthentication') ?? '1') !== 0,
          users: () => store.current().webUsers.map((u) => ({
            username: u.username, passwordHash: u.password, role: u.userLevel, sessionTimeoutMin: u.sessionTimeout,
          })),
          // The address only: user names typed by strangers and passwords stay out of the log.
          onFailure: (address) => apiLog.warn({ address }, 'REST API authentication failed'),
        },
        ...(apiTls !== null ? { tls: apiTls } : {}),
        metricsOpenOnLoopback: config.scalars.get('sbcapimetricsopen') === '1',
        cdrs: () => observability.apiSource(),
        backend: {
          status: async (o) => (workers === null ? sbc.status(o) : { ...mergeStatus(sbc.status(o), await workers.ask('stats')), workerRestarts: workers.restarts }),
          ...callBackend(views, workers, privacy, apiLog),
          proxySets: () => proxySets.status(),
          reload: () => store.reload(undefined, { kind: 'file', detail: 'POST /api/v1/config/reload' }),
          refreshGauges: async () => {
            if (workerMetrics !== null) {
              await workerMetrics.refresh();
              Object.assign(workerLive, workerMetrics.live);
            }
            sbc.refreshGauges();
          },
          admission: async () => (workers === null ? admission.stats() : mergeAdmission(admission.stats(), await workers.ask('admission'))),
          security: {
            denied: () => guard.denied(),
            allow: (source) => guard.ids.remove(source),
            deny: (address, seconds) => guard.ids.deny(address, seconds),
            stats: () => guard.stats(),
          },
        },
        register: (server) => {
          registerConfigRoutes(server, { store, onResult: (ok) => metrics.configReloadsTotal.inc({ result: ok ? 'ok' : 'rejected' }) });
          registerUserRoutes(server, store);
          registerConfigConsoleRoutes(server, { store });
          registerIpGroupRoutes(server, {
            windows: () => observability.callMetrics.stats.entries().map((e) => ({ ipGroup: e.ipGroup, direction: e.direction, ...e.summary })),
            active: async () => {
              if (workerMetrics !== null) await workerMetrics.refresh();
              return activeCallsByIpGroup();
            },
          });
        },
        routes: [registrations.routes],
      });
      sbc.apiClose = () => api.server.close();
    }
    log.info({ listeners, relay: relay.kind, sipThreads: shards, config: opts.configFile }, 'SBC started');
    return sbc;
  }

  status(opts: { gc: boolean } = { gc: false }): { version: string; uptimeSec: number; activeCalls: number; [k: string]: unknown } {
    const gc = (globalThis as { gc?: () => void }).gc;
    const gcRan = opts.gc && this.allowGc && gc !== undefined;
    if (gcRan) gc();
    const s = this.calls.stats();
    const mem = process.memoryUsage();
    return {
      version: '0.1.0',
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      activeCalls: s.calls,
      // `dialogs` sums what live calls hold; `registeredDialogs` is the manager's dialog map itself.
      calls: { ...s, registeredDialogs: this.calls.registeredDialogs },
      transactions: this.transactions.stats(),
      transport: this.transport.stats(),
      relay: { kind: this.relay.kind, sessions: this.relay.sessionCount(), packetsRelayed: this.relay.packetsRelayed() },
      overload: this.overload.stats(),
      media: { portPools: this.media.poolUsage() },
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, gc: gcRan },
      security: this.guard.stats(),
    };
  }

  /** The proxy-server gauges, set from live state just before a scrape of /metrics, so they are never stale. */
  refreshGauges(): void {
    // Active calls and relay sessions are collect() gauges (read at scrape, metrics.bindLive).
    // From the Proxy Sets' state rather than their up/down events: a server that was never
    // down (no event) shows as 1, and a server a reload removed disappears.
    this.metrics.proxyServerUp.reset();
    for (const s of this.proxySets.status()) {
      this.metrics.proxyServerUp.set({ proxy_set: s.proxySetName, server: `${s.address}:${s.port}` }, s.up ? 1 : 0);
    }
  }

  /** Graceful stop: release calls with BYE/CANCEL, give them a moment, then close everything. */
  stop(graceMs = 2000): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info('SBC stopping');
      this.calls.shutdown();
      const workersStopped = this.workers?.stop(graceMs);
      const unregistered = this.registrations?.stop(graceMs);
      const deadline = Date.now() + graceMs;
      while (this.calls.stats().calls > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await unregistered;
      await workersStopped;
      // Calls still up after the grace period stay in the journal: the next start releases them.
      await this.journal?.close();
      this.removeSighup?.();
      this.persistence?.stop();
      this.proxySets.stop();
      if (this.apiClose) await this.apiClose();
      this.transactions.close();
      await this.transport.close();
      await this.relay.shutdown();
      this.overload.close();
      this.guard.close();
      for (const f of this.fileSinks) await f.close();
      // Every CDR sink and QoE feed written, delivered or spooled before exit.
      if (this.observability !== null) await this.observability.close();
      this.log.info('SBC stopped');
    })();
    return this.stopping;
  }
}

export { ConfigError };
export type { SbcConfig };
