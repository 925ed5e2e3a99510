/**
 * The SBC's source gate (transport SourceGate): the IDS deny list before
 * parsing, a token bucket per source address for out-of-dialog requests,
 * and the IDS event reports of the layers above (malformed messages,
 * dialog establishment failures, abnormal flows, authentication failures).
 *
 * In-dialog requests (To tag present), ACK and CANCEL are never throttled:
 * the calls already admitted keep working whatever a flood does. Known
 * peers (Proxy Set and Classification addresses) are exempt from the rate
 * limit and from automatic denial unless IDSProtectKnownPeers = 0.
 */
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/message.js';
import type { Endpoint, SourceGate } from '../transport/types.js';
import { IdsEngine, type DenyEntry, type IdsEvent, type IdsMatch, type IdsStats } from './ids.js';

export interface RateLimit {
  /** Out-of-dialog requests per second per source address; 0 = no limit. */
  perSec: number;
  burst: number;
  /** 0 = drop silently, else the status answered (503). */
  response: number;
}

export interface EdgeGuardOptions {
  matches: readonly IdsMatch[];
  knownPeer: (address: string) => boolean;
  /** Requests from here are dropped before any state (see ids-policy silentStranger). */
  silentStranger?: (address: string, interfaceName: string) => boolean;
  rate: RateLimit;
  logger?: Logger;
  now?: () => number;
}

export interface EdgeGuardStats {
  ids: IdsStats;
  rateLimited: number;
  rateBuckets: number;
  /** Out-of-dialog requests from sources nobody classifies, dropped before any transaction (silent-drop interfaces). */
  strangersDropped: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

const MAX_BUCKETS = 100_000;

export class EdgeGuard implements SourceGate {
  readonly ids: IdsEngine;
  private knownPeer: (address: string) => boolean;
  private silentStranger: (address: string, interfaceName: string) => boolean;
  private strangersDropped = 0;
  private rate: RateLimit;
  private readonly buckets = new Map<string, Bucket>();
  private rateLimited = 0;
  private readonly now: () => number;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(opts: EdgeGuardOptions) {
    this.now = opts.now ?? Date.now;
    this.knownPeer = opts.knownPeer;
    this.silentStranger = opts.silentStranger ?? (() => false);
    this.rate = opts.rate;
    this.ids = new IdsEngine(opts.matches, opts.knownPeer, opts.logger, this.now);
    this.sweeper = setInterval(() => this.sweepBuckets(), 10_000);
    this.sweeper.unref();
  }

  /** A reload: new policy, peers and limits; the deny list stays. */
  update(opts: Pick<EdgeGuardOptions, 'matches' | 'knownPeer' | 'rate' | 'silentStranger'>): void {
    this.knownPeer = opts.knownPeer;
    this.silentStranger = opts.silentStranger ?? (() => false);
    this.rate = opts.rate;
    this.ids.update(opts.matches, opts.knownPeer);
  }

  admitSource(address: string, port: number): boolean {
    return !this.ids.isDenied(address, port);
  }

  admitRequest(msg: SipMessage, remote: Endpoint, interfaceName: string): 'pass' | 'drop' | number {
    const method = msg.method;
    if (method === 'ACK' || method === 'CANCEL' || msg.toTag !== null) return 'pass';
    const address = remote.address;
    // Nobody could classify it and the answer would be silence anyway: no transaction, no timer, no reply.
    if (this.silentStranger(address, interfaceName)) {
      this.strangersDropped++;
      this.ids.report('dialog-failure', { address, port: remote.port, interfaceName });
      return 'drop';
    }
    const rate = this.rate;
    if (rate.perSec <= 0) return 'pass';
    if (this.knownPeer(address)) return 'pass';
    const now = this.now();
    let b = this.buckets.get(address);
    if (b === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) {
        const first = this.buckets.keys().next();
        if (!first.done) this.buckets.delete(first.value);
      }
      b = { tokens: rate.burst, last: now };
      this.buckets.set(address, b);
    } else {
      b.tokens = Math.min(rate.burst, b.tokens + ((now - b.last) * rate.perSec) / 1000);
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'pass';
    }
    this.rateLimited++;
    this.ids.report('abnormal-flow', { address, port: remote.port, interfaceName });
    return rate.response === 0 ? 'drop' : rate.response;
  }

  malformed(remote: Endpoint, interfaceName: string): boolean {
    this.ids.report('malformed', { address: remote.address, port: remote.port, interfaceName });
    // A 400 to a stranger where silence is configured would be a reflection and a fingerprint.
    return !this.silentStranger(remote.address, interfaceName);
  }

  trusted(address: string): boolean {
    return this.knownPeer(address);
  }

  connectionAbuse(remote: Endpoint, interfaceName: string): void {
    this.ids.report('connection-abuse', { address: remote.address, port: remote.port, interfaceName });
  }

  /** For the layers above: a malicious event from this source. */
  report(event: IdsEvent, remote: { address: string; port: number }, interfaceName: string): void {
    this.ids.report(event, { address: remote.address, port: remote.port, interfaceName });
  }

  denied(): DenyEntry[] {
    return this.ids.list();
  }

  stats(): EdgeGuardStats {
    return { ids: this.ids.stats(), rateLimited: this.rateLimited, rateBuckets: this.buckets.size, strangersDropped: this.strangersDropped };
  }

  close(): void {
    clearInterval(this.sweeper);
    this.ids.close();
  }

  private sweepBuckets(): void {
    // A bucket refilled to the brim is the same as no bucket.
    const now = this.now();
    const full = this.rate.perSec > 0 ? (this.rate.burst / this.rate.perSec) * 1000 : 0;
    for (const [k, b] of this.buckets) if (now - b.last >= full) this.buckets.delete(k);
  }
}
