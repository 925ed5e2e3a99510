/**
 * Live state of the proxy sets: resolved server addresses, keep-alive by
 * OPTIONS (through an injected prober, the SIP layer's job), up/down
 * detection, redundancy (homing/parking) and load balancing. Implements the
 * ProxyStateView the router reads.
 */
import { EventEmitter } from 'node:events';
import { lookup, resolveSrv } from 'node:dns/promises';
import type { SbcConfig } from '../config/sbc-config.js';
import type { ProxySetRow, Transport } from '../config/schema.js';
import { splitHostPort } from '../syntax/values.js';
import type { ProxyStateView, ServerTarget } from './types.js';

export interface KeepAliveProber {
  /** Sends OPTIONS to the target; resolves with the final response code or 'timeout'. */
  probe(target: { address: string; port: number; transport: 'udp' | 'tcp' | 'tls' }, proxySetName: string): Promise<number | 'timeout'>;
}

export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/** DNS as the manager needs it; inject a fake in tests. */
export interface DnsResolver {
  /** IPv4 addresses of a host name. */
  resolve4(host: string): Promise<string[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

export const systemResolver: DnsResolver = {
  async resolve4(host) {
    // getaddrinfo honours /etc/hosts, which operators expect for names like "pbx.local".
    const r = await lookup(host, { all: true, family: 4 });
    return r.map((x) => x.address);
  },
  async resolveSrv(name) {
    return resolveSrv(name);
  },
};

export interface ProxyLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ProxySetManagerOptions {
  readonly prober?: KeepAliveProber;
  readonly resolver?: DnsResolver;
  readonly logger?: ProxyLogger;
  /** Random source for weighted balancing, in [0, 1). */
  readonly random?: () => number;
  /** Converts a configured interval in seconds to timer milliseconds (tests shrink it). */
  readonly secondsToMs?: (seconds: number) => number;
  /** How long resolved names are kept before being resolved again, ms (default 60 s). */
  readonly dnsCacheMs?: number;
}

export interface ServerStatus {
  readonly proxySetName: string;
  /** Host as configured. */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly priority: number;
  readonly weight: number;
  readonly up: boolean;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly lastResponse: number | 'timeout' | null;
  /** When the server entered its current state (ms since the epoch; start or reload for one never changed). */
  readonly since: number;
}

export interface ServerEvent {
  readonly proxySetName: string;
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
}

export interface ProxySetManagerEvents {
  'server-down': [ServerEvent];
  'server-up': [ServerEvent];
  'proxy-set-down': [{ proxySetName: string }];
  'proxy-set-up': [{ proxySetName: string }];
}

interface Server {
  readonly key: string;
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly priority: number;
  readonly weight: number;
  up: boolean;
  failures: number;
  successes: number;
  last: number | 'timeout' | null;
  /** When `up` last changed (or the server appeared). */
  since: number;
  timer: NodeJS.Timeout | null;
  probing: boolean;
}

interface SetState {
  row: ProxySetRow;
  servers: Server[];
  /** ProxyIp entries still needing (re-)resolution. */
  entries: Array<{ host: string; port: number; transport: 'udp' | 'tcp' | 'tls'; priority: number; weight: number; literal: boolean }>;
  rr: number;
  parkedKey: string | null;
  wasAvailable: boolean;
}

function concrete(t: Transport): 'udp' | 'tcp' | 'tls' {
  return t === 'tcp' || t === 'tls' ? t : 'udp';
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

function defaultPort(t: 'udp' | 'tcp' | 'tls'): number {
  return t === 'tls' ? 5061 : 5060;
}

export class ProxySetManager extends EventEmitter<ProxySetManagerEvents> implements ProxyStateView {
  #config: SbcConfig;
  #sets = new Map<string, SetState>();
  #running = false;
  #dnsCache = new Map<string, { at: number; servers: Array<{ address: string; port: number; priority: number; weight: number }> }>();
  #refreshTimer: NodeJS.Timeout | null = null;
  readonly #opts: ProxySetManagerOptions;

  constructor(config: SbcConfig, options: ProxySetManagerOptions = {}) {
    super();
    this.#config = config;
    this.#opts = options;
    this.#build(new Map());
  }

  #ms(seconds: number): number {
    return this.#opts.secondsToMs ? this.#opts.secondsToMs(seconds) : seconds * 1000;
  }

  #build(previous: Map<string, Server>): void {
    this.#sets.clear();
    for (const row of this.#config.proxySets) {
      const entries: SetState['entries'] = [];
      for (const ip of this.#config.proxyIpsOf(row.proxyName)) {
        const hp = splitHostPort(ip.ipAddress);
        if (!hp) continue;
        const transport = concrete(ip.transportType);
        entries.push({ host: hp.host, port: hp.port, transport, priority: ip.priority, weight: ip.weight, literal: isIp(hp.host) });
      }
      const st: SetState = { row, servers: [], entries, rr: 0, parkedKey: null, wasAvailable: true };
      this.#sets.set(row.proxyName.toLowerCase(), st);
      // IP literals are usable at once; names after the first resolution.
      for (const e of entries) {
        if (!e.literal) continue;
        this.#addServer(st, e.host, e.host, e.port || defaultPort(e.transport), e.transport, e.priority, e.weight, previous);
      }
      this.#sortServers(st);
      st.wasAvailable = this.#setAvailable(st);
    }
  }

  #addServer(st: SetState, host: string, address: string, port: number, transport: 'udp' | 'tcp' | 'tls', priority: number, weight: number, previous: Map<string, Server>): void {
    const key = `${st.row.proxyName.toLowerCase()}|${host.toLowerCase()}|${address}|${port}|${transport}`;
    if (st.servers.some((s) => s.key === key)) return;
    const old = previous.get(key);
    st.servers.push({
      key, host, address, port, transport, priority, weight,
      up: old ? old.up : true, failures: old ? old.failures : 0, successes: old ? old.successes : 0, last: old ? old.last : null,
      since: old ? old.since : Date.now(),
      timer: null, probing: false,
    });
  }

  #sortServers(st: SetState): void {
    st.servers.sort((a, b) => a.priority - b.priority);
  }

  #keepAlive(st: SetState): boolean {
    return st.row.enableProxyKeepAlive !== 'disable' && this.#opts.prober !== undefined;
  }

  #setAvailable(st: SetState): boolean {
    return st.servers.some((s) => s.up);
  }

  /** Resolves names and starts keep-alive timers. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.refreshDns();
    this.#scheduleAll();
    const every = this.#opts.dnsCacheMs ?? 60_000;
    this.#refreshTimer = setInterval(() => { void this.refreshDns(); }, every);
    this.#refreshTimer.unref();
  }

  stop(): void {
    this.#running = false;
    if (this.#refreshTimer) clearInterval(this.#refreshTimer);
    this.#refreshTimer = null;
    for (const st of this.#sets.values()) for (const s of st.servers) this.#clearTimer(s);
  }

  #clearTimer(s: Server): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
  }

  #scheduleAll(): void {
    for (const st of this.#sets.values()) for (const s of st.servers) this.#schedule(st, s, true);
  }

  #schedule(st: SetState, s: Server, immediate = false): void {
    if (!this.#running || !this.#keepAlive(st)) return;
    this.#clearTimer(s);
    const seconds = s.up ? st.row.proxyKeepAliveTime : st.row.successDetectionInterval;
    s.timer = setTimeout(() => {
      s.timer = null;
      void this.#probe(st, s).then(() => this.#schedule(st, s));
    }, immediate ? 0 : this.#ms(seconds));
    s.timer.unref();
  }

  /** Takes a new configuration (after reload); servers that still exist keep their state. */
  update(config: SbcConfig): void {
    const previous = new Map<string, Server>();
    for (const st of this.#sets.values()) {
      for (const s of st.servers) {
        this.#clearTimer(s);
        previous.set(s.key, s);
      }
    }
    this.#config = config;
    this.#build(previous);
    // Names resolved before stay usable until the next resolution.
    for (const st of this.#sets.values()) this.#applyResolved(st, previous);
    if (this.#running) {
      void this.refreshDns().then(() => this.#scheduleAll());
    }
  }

  #applyResolved(st: SetState, previous: Map<string, Server>): void {
    for (const e of st.entries) {
      if (e.literal) continue;
      const cached = this.#dnsCache.get(this.#dnsKey(st.row, e));
      if (!cached) continue;
      for (const r of cached.servers) {
        this.#addServer(st, e.host, r.address, r.port || e.port || defaultPort(e.transport), e.transport, r.priority, r.weight, previous);
      }
    }
    this.#sortServers(st);
  }

  #dnsKey(row: ProxySetRow, e: SetState['entries'][number]): string {
    return `${row.dnsResolveMethod}|${e.transport}|${e.host.toLowerCase()}|${e.port}|${e.priority}|${e.weight}`;
  }

  async #resolveEntry(row: ProxySetRow, e: SetState['entries'][number]): Promise<Array<{ address: string; port: number; priority: number; weight: number }>> {
    const resolver = this.#opts.resolver ?? systemResolver;
    const key = this.#dnsKey(row, e);
    const cached = this.#dnsCache.get(key);
    const maxAge = this.#opts.dnsCacheMs ?? 60_000;
    if (cached && Date.now() - cached.at < maxAge) return cached.servers;
    let servers: Array<{ address: string; port: number; priority: number; weight: number }> = [];
    try {
      if (row.dnsResolveMethod !== 'a-record' && e.port === 0) {
        const service = e.transport === 'tls' ? '_sips._tcp' : e.transport === 'tcp' ? '_sip._tcp' : '_sip._udp';
        let srv: SrvRecord[] = [];
        try {
          srv = await resolver.resolveSrv(`${service}.${e.host}`);
        } catch {
          srv = [];
        }
        srv = [...srv].sort((a, b) => a.priority - b.priority || b.weight - a.weight);
        for (const r of srv) {
          try {
            for (const a of await resolver.resolve4(r.name)) servers.push({ address: a, port: r.port, priority: r.priority, weight: r.weight });
          } catch {
            // one SRV target without an address does not spoil the others
          }
        }
      }
      if (servers.length === 0) {
        for (const a of await resolver.resolve4(e.host)) servers.push({ address: a, port: e.port, priority: e.priority, weight: e.weight });
      }
    } catch (err) {
      this.#opts.logger?.warn({ proxySet: row.proxyName, host: e.host, err: err instanceof Error ? err.message : String(err) }, 'proxy server name does not resolve');
      // Keep the previous answer rather than losing the server on a DNS hiccup.
      if (cached) return cached.servers;
      servers = [];
    }
    this.#dnsCache.set(key, { at: Date.now(), servers });
    return servers;
  }

  /** Resolves every host-name server (cached); called by start() and periodically. */
  async refreshDns(): Promise<void> {
    for (const st of this.#sets.values()) {
      const hostEntries = st.entries.filter((e) => !e.literal);
      if (hostEntries.length === 0) continue;
      const previous = new Map(st.servers.map((s) => [s.key, s]));
      const results = await Promise.all(hostEntries.map((e) => this.#resolveEntry(st.row, e)));
      const kept = st.servers.filter((s) => isIp(s.host));
      const fresh: Server[] = [];
      const tmp: SetState = { ...st, servers: fresh };
      hostEntries.forEach((e, i) => {
        for (const r of results[i]!) this.#addServer(tmp, e.host, r.address, r.port || e.port || defaultPort(e.transport), e.transport, r.priority, r.weight, previous);
      });
      for (const s of st.servers) if (!fresh.some((f) => f.key === s.key) && !kept.includes(s)) this.#clearTimer(s);
      st.servers = [...kept, ...fresh.map((f) => previous.get(f.key) ?? f)];
      this.#sortServers(st);
      if (this.#running) for (const s of st.servers) if (!s.timer && !s.probing) this.#schedule(st, s, true);
    }
  }

  async #probe(st: SetState, s: Server): Promise<void> {
    const prober = this.#opts.prober;
    if (!prober || s.probing) return;
    s.probing = true;
    let result: number | 'timeout';
    try {
      result = await prober.probe({ address: s.address, port: s.port, transport: s.transport }, st.row.proxyName);
    } catch {
      result = 'timeout';
    } finally {
      s.probing = false;
    }
    // The server may have been removed by a reload while the probe was in flight.
    if (!this.#sets.get(st.row.proxyName.toLowerCase())?.servers.includes(s)) return;
    s.last = result;
    const failed = result === 'timeout' || st.row.keepAliveFailureResp.includes(result);
    if (failed) {
      s.successes = 0;
      s.failures++;
      const limit = st.row.failureDetectionRetransmissions > 0 ? st.row.failureDetectionRetransmissions : 1;
      if (s.up && s.failures >= limit) this.#setUp(st, s, false);
    } else {
      s.failures = 0;
      s.successes++;
      if (!s.up && s.successes >= st.row.successDetectionRetries) this.#setUp(st, s, true);
    }
  }

  #setUp(st: SetState, s: Server, up: boolean): void {
    s.up = up;
    s.since = Date.now();
    s.successes = 0;
    s.failures = 0;
    const ev: ServerEvent = { proxySetName: st.row.proxyName, host: s.host, address: s.address, port: s.port, transport: s.transport };
    this.#opts.logger?.[up ? 'info' : 'warn']({ ...ev, lastResponse: s.last }, up ? 'proxy server up' : 'proxy server down');
    this.emit(up ? 'server-up' : 'server-down', ev);
    const available = this.#setAvailable(st);
    if (available !== st.wasAvailable) {
      st.wasAvailable = available;
      this.#opts.logger?.[available ? 'info' : 'warn']({ proxySet: st.row.proxyName }, available ? 'proxy set available' : 'proxy set has no live server');
      this.emit(available ? 'proxy-set-up' : 'proxy-set-down', { proxySetName: st.row.proxyName });
    }
  }

  /**
   * Takes a server's state from another thread's keep-alive: SIP worker
   * threads do not probe, they follow the main thread's verdicts (one
   * OPTIONS stream per server, one view of it). Quiet: the main thread logged it.
   */
  follow(ev: ServerEvent, up: boolean): void {
    const st = this.#sets.get(ev.proxySetName.toLowerCase());
    const s = st?.servers.find((x) => x.address === ev.address && x.port === ev.port && x.transport === ev.transport);
    if (st === undefined || s === undefined || s.up === up) return;
    s.up = up;
    s.since = Date.now();
    st.wasAvailable = this.#setAvailable(st);
  }

  /** Probes every server of one set (or all sets) once, now; for tests and the REST API. */
  async probeNow(proxySetName?: string): Promise<void> {
    const sets = proxySetName ? [this.#sets.get(proxySetName.toLowerCase())].filter((x): x is SetState => !!x) : [...this.#sets.values()];
    await Promise.all(sets.flatMap((st) => (this.#keepAlive(st) ? st.servers.map((s) => this.#probe(st, s)) : [])));
  }

  isIpGroupAvailable(ipGroupName: string): boolean {
    const g = this.#config.ipGroupByName(ipGroupName);
    if (!g) return false;
    if (g.proxySetName === '') return g.type !== 'server';
    const st = this.#sets.get(g.proxySetName.toLowerCase());
    return st !== undefined && this.#setAvailable(st);
  }

  candidates(proxySetName: string): readonly ServerTarget[] {
    const st = this.#sets.get(proxySetName.toLowerCase());
    if (!st) return [];
    const live = st.servers.filter((s) => s.up);
    if (live.length === 0) return [];
    let ordered: Server[];
    switch (st.row.proxyLoadBalancingMethod) {
      case 'round-robin': {
        const start = st.rr++ % live.length;
        if (st.rr > 1_000_000_000) st.rr = 0;
        ordered = [...live.slice(start), ...live.slice(0, start)];
        break;
      }
      case 'random-weights': {
        const rnd = this.#opts.random ?? Math.random;
        const pool = [...live];
        ordered = [];
        while (pool.length > 0) {
          const total = pool.reduce((n, s) => n + Math.max(1, s.weight), 0);
          let x = rnd() * total;
          let pick = pool.length - 1;
          for (let i = 0; i < pool.length; i++) {
            x -= Math.max(1, pool[i]!.weight);
            if (x < 0) { pick = i; break; }
          }
          ordered.push(pool.splice(pick, 1)[0]!);
        }
        break;
      }
      default: {
        ordered = live;
        if (st.row.proxyRedundancyMode === 'parking') {
          // Parking: stay on the server in use as long as it lives, even when a preferred one returns.
          let parked = live.find((s) => s.key === st.parkedKey);
          if (!parked) {
            parked = live[0]!;
            st.parkedKey = parked.key;
          }
          ordered = [parked, ...live.filter((s) => s !== parked)];
        }
      }
    }
    return ordered.map((s) => ({ address: s.address, port: s.port, transport: s.transport, host: s.host }));
  }

  addressesOf(proxySetName: string): readonly string[] {
    const st = this.#sets.get(proxySetName.toLowerCase());
    return st ? st.servers.map((s) => s.address) : [];
  }

  /** Snapshot for metrics and the REST API. */
  status(): ServerStatus[] {
    const out: ServerStatus[] = [];
    for (const st of this.#sets.values()) {
      for (const s of st.servers) {
        out.push({
          proxySetName: st.row.proxyName, host: s.host, address: s.address, port: s.port, transport: s.transport,
          priority: s.priority, weight: s.weight, up: s.up, consecutiveFailures: s.failures, consecutiveSuccesses: s.successes, lastResponse: s.last, since: s.since,
        });
      }
    }
    return out;
  }
}
