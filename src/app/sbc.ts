/**
 * Assembles one running SBC from a configuration file: transports per SIP
 * Interface, the transaction layer, proxy-set keep-alive, the call engine
 * with routing/manipulation/media adapters, CDR/QoE sinks and the REST API.
 */
import { ConfigStore, formatDiagnostic, type Diagnostic, type SbcConfig } from '../config/index.js';
import { ProxySetManager } from '../routing/index.js';
import { TransportLayer, type ListenerInfo } from '../transport/index.js';
import { TransactionLayer, KeepAliveProber } from '../transaction/index.js';
import { CallManager } from '../b2bua/index.js';
import type { CdrSink, MediaPort } from '../b2bua/ports.js';
import { FileCdrSink, type CallDetailRecord } from '../cdr/index.js';
import { createRelayEngine } from '../media/relay.js';
import type { RelayEngine } from '../media/relay-types.js';
import { createMetrics, startApiServer, type SbcMetrics } from '../api/server.js';
import type { Logger } from '../util/logger.js';
import { ConfigRoutingPort } from './routing-port.js';
import { ConfigMediaPort } from './media-port.js';
import { RegistrationServices } from './registration-services.js';

export class ConfigError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`configuration has errors:\n${diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic).join('\n')}`);
  }
}

export interface SbcOptions {
  configFile: string;
  logger: Logger;
  /** Relay engine preference; default native with JS fallback. */
  relay?: 'native' | 'js';
  /** Registration store directory; overrides the ini's RegistrationDatabaseDir. */
  registrationDbDir?: string;
}

/** CDRs go to every sink; the last few are kept for the API. */
class CdrFanout implements CdrSink {
  readonly recent: CallDetailRecord[] = [];
  constructor(private readonly sinks: CdrSink[], private readonly metrics: SbcMetrics, private readonly log: Logger) {}
  write(record: CallDetailRecord): void {
    this.metrics.callsTotal.inc({ result: record.connectTime !== null ? 'answered' : `failed_${record.sipStatus}` });
    this.recent.push(record);
    if (this.recent.length > 100) this.recent.shift();
    this.log.info({ cdr: { ...record, timeline: undefined } }, 'call detail record');
    for (const s of this.sinks) s.write(record);
  }
}

export class Sbc {
  readonly listeners: ListenerInfo[] = [];
  private apiClose: (() => Promise<void>) | null = null;
  private removeSighup: (() => void) | null = null;
  private readonly startedAt = Date.now();
  private readonly fileSinks: FileCdrSink[] = [];
  private stopping: Promise<void> | null = null;
  registrations: RegistrationServices | null = null;

  private constructor(
    readonly store: ConfigStore,
    readonly transport: TransportLayer,
    readonly transactions: TransactionLayer,
    readonly proxySets: ProxySetManager,
    readonly calls: CallManager,
    readonly relay: RelayEngine,
    readonly metrics: SbcMetrics,
    readonly cdr: CdrFanout,
    private readonly log: Logger,
  ) {}

  static async start(opts: SbcOptions): Promise<Sbc> {
    const log = opts.logger;
    const { store, diagnostics } = await ConfigStore.open(opts.configFile, log.child({ module: 'config' }));
    for (const d of diagnostics) if (d.severity === 'warning') log.warn({ diagnostic: formatDiagnostic(d) }, 'configuration warning');
    if (store === null) throw new ConfigError(diagnostics);
    const config = store.current();

    const transport = new TransportLayer({ logger: log.child({ module: 'transport' }) });
    const listeners: ListenerInfo[] = [];
    try {
      for (const si of config.sipInterfaces) {
        const address = config.sipInterfaceAddress(si.interfaceName);
        if (address === undefined) throw new Error(`SIP interface ${si.interfaceName}: no IP address`);
        listeners.push(await transport.listen({
          name: si.interfaceName,
          address,
          ...(si.udpPort > 0 ? { udpPort: si.udpPort } : {}),
          ...(si.tcpPort > 0 ? { tcpPort: si.tcpPort } : {}),
          ...tlsOf(config, si.tlsPort),
        }));
      }
    } catch (err) {
      await transport.close();
      throw err;
    }
    const transactions = new TransactionLayer(transport, {
      t1Ms: config.sip.t1Ms, t2Ms: config.sip.t2Ms, t4Ms: config.sip.t4Ms, logger: log.child({ module: 'transaction' }),
    });
    const prober = new KeepAliveProber(transactions, {
      interfaceName: (ps) => store.current().proxySetByName(ps)?.sbcIpv4SipInterfaceName || (store.current().sipInterfaces[0]?.interfaceName ?? ''),
      userAgent: config.sip.userAgent,
    });
    const metrics = createMetrics();
    const proxyLog = log.child({ module: 'proxy-set' });
    const proxySets = new ProxySetManager(config, { prober, logger: proxyLog });
    proxySets.on('server-down', (e) => metrics.proxyServerUp.set({ proxy_set: e.proxySetName, server: `${e.address}:${e.port}` }, 0));
    proxySets.on('server-up', (e) => metrics.proxyServerUp.set({ proxy_set: e.proxySetName, server: `${e.address}:${e.port}` }, 1));

    const relay = createRelayEngine({ prefer: opts.relay ?? 'native', logger: log.child({ module: 'media' }) });
    const registrations = new RegistrationServices({
      config, currentConfig: () => store.current(), sender: transactions, proxySets,
      dbDir: opts.registrationDbDir ?? (config.scalars.get('registrationdatabasedir') || null), contactAddress: (i, t) => transport.contactAddress(i, t), registry: metrics.registry, logger: log,
    });
    const routing = new ConfigRoutingPort(() => store.current(), proxySets, log.child({ module: 'routing' }), registrations);
    const media: MediaPort = new ConfigMediaPort(() => store.current(), relay, log.child({ module: 'media' }));

    const sinks: CdrSink[] = [];
    const fileSinks: FileCdrSink[] = [];
    const cdrPath = config.scalars.get('cdrfilepath');
    if (cdrPath) {
      const f = new FileCdrSink(cdrPath, { onError: (err) => log.error({ err }, 'CDR file write failed') });
      fileSinks.push(f);
      sinks.push(f);
    }
    const cdr = new CdrFanout(sinks, metrics, log.child({ module: 'cdr' }));
    const calls = new CallManager({
      transactions, routing, media, cdr, local: transport, logger: log, t1Ms: config.sip.t1Ms, t2Ms: config.sip.t2Ms,
      nonCall: registrations.nonCall, gate: registrations.gate,
    });
    calls.attach(transactions);
    registrations.attachDialogs(calls);

    const sbc = new Sbc(store, transport, transactions, proxySets, calls, relay, metrics, cdr, log);
    sbc.listeners.push(...listeners);
    sbc.fileSinks.push(...fileSinks);
    sbc.registrations = registrations;
    store.on('change', ({ config: next, changes }) => {
      proxySets.update(next);
      registrations.update(next);
      if (changes.some((c) => c.startsWith('SIPInterface') || c.startsWith('InterfaceTable'))) {
        log.warn('SIP interface changes take effect after a restart; routing and manipulation changes apply to new calls now');
      }
    });
    sbc.removeSighup = store.reloadOnSighup();
    await proxySets.start();
    await registrations.start();
    if (config.api.port > 0) {
      const api = await startApiServer({
        host: config.api.address, port: config.api.port, metrics, logger: log.child({ module: 'api' }),
        backend: {
          status: (o) => sbc.status(o),
          calls: () => [...calls.liveCalls()].map((c) => ({
            id: c.id, state: c.state, srcIpGroup: c.src.name, dstIpGroup: c.dst?.name ?? null,
            legACallId: c.inviteA.callId, from: c.inviteA.getHeader('from'), to: c.inviteA.getHeader('to'),
          })),
          proxySets: () => proxySets.status(),
          reload: () => store.reload(),
        },
        routes: [registrations.routes],
      });
      sbc.apiClose = () => api.server.close();
    }
    log.info({ listeners, relay: relay.kind, config: opts.configFile }, 'SBC started');
    return sbc;
  }

  status(opts: { gc: boolean } = { gc: false }): { version: string; uptimeSec: number; activeCalls: number; [k: string]: unknown } {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (opts.gc && gc) gc();
    const s = this.calls.stats();
    this.metrics.activeCalls.set(s.calls);
    this.metrics.relaySessions.set(this.relay.sessionCount());
    const mem = process.memoryUsage();
    return {
      version: '0.1.0',
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      activeCalls: s.calls,
      calls: s,
      transactions: this.transactions.stats(),
      transport: this.transport.stats(),
      relay: { kind: this.relay.kind, sessions: this.relay.sessionCount() },
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
    };
  }

  /** Graceful stop: release calls with BYE/CANCEL, give them a moment, then close everything. */
  stop(graceMs = 2000): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info('SBC stopping');
      this.calls.shutdown();
      const unregistered = this.registrations?.stop(graceMs);
      const deadline = Date.now() + graceMs;
      while (this.calls.stats().calls > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await unregistered;
      this.removeSighup?.();
      this.proxySets.stop();
      if (this.apiClose) await this.apiClose();
      this.transactions.close();
      await this.transport.close();
      await this.relay.shutdown();
      for (const f of this.fileSinks) await f.close();
      this.log.info('SBC stopped');
    })();
    return this.stopping;
  }
}

function tlsOf(config: SbcConfig, tlsPort: number): { tlsPort?: number; tls?: { certFile: string; keyFile: string } } {
  if (tlsPort <= 0) return {};
  const certFile = config.scalars.get('tlscertfile');
  const keyFile = config.scalars.get('tlskeyfile');
  if (!certFile || !keyFile) return {};
  return { tlsPort, tls: { certFile, keyFile } };
}

export type { SbcConfig };
