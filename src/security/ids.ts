/**
 * Intrusion detection and blocking (Mediant IDS): malicious events are
 * counted per rule and scope (global, source IP, source IP+port) in fixed
 * windows; crossing an alarm threshold is logged once per window, crossing
 * the deny threshold puts the source on the deny list for the rule's deny
 * period. The transport asks `isDenied` before parsing anything, so a
 * denied source costs one Map lookup per packet.
 *
 * Memory is bounded: counters live one window, the maps are capped, and a
 * sweep (unref'd timer) drops what expired.
 */
import type { Logger } from 'pino';

export type IdsEvent = 'connection-abuse' | 'malformed' | 'auth-failure' | 'dialog-failure' | 'abnormal-flow';

export interface IdsSource {
  address: string;
  port: number;
  interfaceName: string;
}

export interface IdsRule {
  /** "policy/ruleId" for logs and the API. */
  readonly label: string;
  readonly reason: IdsEvent | 'any';
  readonly scope: 'global' | 'ip' | 'ip-port';
  readonly windowMs: number;
  readonly alarms: ReadonlyArray<{ readonly level: 'minor' | 'major' | 'critical'; readonly threshold: number }>;
  /** -1 = never deny. */
  readonly denyThreshold: number;
  readonly denyMs: number;
}

/** One IDSMatch row: which traffic its policy's rules watch. */
export interface IdsMatch {
  readonly interfaces: (interfaceName: string) => boolean;
  readonly sources: (address: string) => boolean;
  /** The match names proxy sets explicitly: their addresses lose the known-peer exemption for it. */
  readonly explicitPeers: (address: string) => boolean;
  readonly rules: readonly IdsRule[];
}

export interface DenyEntry {
  address: string;
  /** Set when the rule's scope is ip-port. */
  port: number | null;
  reason: IdsEvent;
  rule: string;
  since: number;
  until: number;
  /** Packets/connections dropped while denied. */
  dropped: number;
}

export interface IdsStats {
  events: Record<IdsEvent, number>;
  alarms: number;
  denials: number;
  deniedDropped: number;
  deniedNow: number;
  trackedCounters: number;
}

interface Counter {
  windowEnd: number;
  count: number;
  alarmed: number;
}

const MAX_COUNTERS = 200_000;
const MAX_DENIED = 100_000;

export class IdsEngine {
  private readonly counters = new Map<string, Counter>();
  private readonly denied = new Map<string, DenyEntry>();
  private readonly stats_ = {
    events: { 'connection-abuse': 0, malformed: 0, 'auth-failure': 0, 'dialog-failure': 0, 'abnormal-flow': 0 } as Record<IdsEvent, number>,
    alarms: 0,
    denials: 0,
    deniedDropped: 0,
  };
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    private matches: readonly IdsMatch[],
    private exempt: (address: string) => boolean,
    private readonly log: Logger | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  /** A reload: new rules and exemptions; deny entries and counters stay. */
  update(matches: readonly IdsMatch[], exempt: (address: string) => boolean): void {
    this.matches = matches;
    this.exempt = exempt;
  }

  /** Hot path: is this source denied? Counts the drop when it is. */
  isDenied(address: string, port: number): boolean {
    if (this.denied.size === 0) return false;
    const e = this.denied.get(address) ?? this.denied.get(`${address}|${port}`);
    if (e === undefined) return false;
    if (this.now() >= e.until) {
      this.expire(e);
      return false;
    }
    e.dropped++;
    this.stats_.deniedDropped++;
    return true;
  }

  report(event: IdsEvent, src: IdsSource): void {
    this.stats_.events[event]++;
    const now = this.now();
    const exempt = this.exempt(src.address);
    for (const m of this.matches) {
      if (!m.interfaces(src.interfaceName) || !m.sources(src.address)) continue;
      const protectedPeer = exempt && !m.explicitPeers(src.address);
      for (const r of m.rules) {
        if (r.reason !== 'any' && r.reason !== event) continue;
        this.count(r, event, src, now, protectedPeer);
      }
    }
  }

  private count(r: IdsRule, event: IdsEvent, src: IdsSource, now: number, protectedPeer: boolean): void {
    const scopeKey = r.scope === 'global' ? '*' : r.scope === 'ip' ? src.address : `${src.address}|${src.port}`;
    const key = `${r.label}#${scopeKey}`;
    let c = this.counters.get(key);
    if (c === undefined || now >= c.windowEnd) {
      if (c === undefined && this.counters.size >= MAX_COUNTERS) this.evictOldestCounter();
      c = { windowEnd: now + r.windowMs, count: 0, alarmed: 0 };
      this.counters.set(key, c);
    }
    c.count++;
    for (let i = r.alarms.length - 1; i >= 0; i--) {
      const a = r.alarms[i]!;
      if (c.count > a.threshold && c.alarmed <= i) {
        c.alarmed = i + 1;
        this.stats_.alarms++;
        this.log?.warn({ ids: { rule: r.label, reason: event, level: a.level, scope: r.scope, source: scopeKey, count: c.count, windowSec: r.windowMs / 1000 } }, 'IDS alarm');
        break;
      }
    }
    if (r.denyThreshold < 0 || r.scope === 'global' || c.count <= r.denyThreshold || protectedPeer) return;
    const denyKey = r.scope === 'ip' ? src.address : `${src.address}|${src.port}`;
    if (this.denied.has(denyKey)) return;
    if (this.denied.size >= MAX_DENIED) return;
    const e: DenyEntry = {
      address: src.address, port: r.scope === 'ip' ? null : src.port, reason: event, rule: r.label,
      since: now, until: now + r.denyMs, dropped: 0,
    };
    this.denied.set(denyKey, e);
    this.stats_.denials++;
    // Once per episode: the drops are counted, not logged.
    this.log?.warn({ ids: { source: denyKey, reason: event, rule: r.label, count: c.count, denySec: r.denyMs / 1000 } }, 'IDS: source denied');
  }

  /** The deny list, for the API. */
  list(): DenyEntry[] {
    const now = this.now();
    return [...this.denied.values()].filter((e) => e.until > now).map((e) => ({ ...e }));
  }

  /** Removes a source (address, or address|port) from the deny list; true when it was there. */
  remove(source: string): boolean {
    let found = false;
    for (const [k, e] of this.denied) {
      if (k === source || e.address === source) {
        this.denied.delete(k);
        found = true;
        this.log?.info({ ids: { source: k, dropped: e.dropped, by: 'operator' } }, 'IDS: source allowed again');
      }
    }
    // Its counters restart too, or the next event would deny it again at once.
    for (const k of [...this.counters.keys()]) if (k.endsWith(`#${source}`) || k.includes(`#${source}|`)) this.counters.delete(k);
    return found;
  }

  /** Denies a source by hand (API), for `seconds`. */
  deny(address: string, seconds: number, rule = 'operator'): void {
    const now = this.now();
    this.denied.set(address, { address, port: null, reason: 'abnormal-flow', rule, since: now, until: now + seconds * 1000, dropped: 0 });
    this.stats_.denials++;
    this.log?.warn({ ids: { source: address, rule, denySec: seconds } }, 'IDS: source denied');
  }

  stats(): IdsStats {
    return { ...this.stats_, events: { ...this.stats_.events }, deniedNow: this.denied.size, trackedCounters: this.counters.size };
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private expire(e: DenyEntry): void {
    const key = e.port === null ? e.address : `${e.address}|${e.port}`;
    if (this.denied.get(key) !== e) return;
    this.denied.delete(key);
    this.log?.info({ ids: { source: key, rule: e.rule, dropped: e.dropped, deniedSec: Math.round((e.until - e.since) / 1000) } }, 'IDS: deny period over');
  }

  private evictOldestCounter(): void {
    const first = this.counters.keys().next();
    if (!first.done) this.counters.delete(first.value);
  }

  private sweep(): void {
    const now = this.now();
    for (const e of [...this.denied.values()]) if (now >= e.until) this.expire(e);
    for (const [k, c] of this.counters) if (now >= c.windowEnd) this.counters.delete(k);
  }
}
