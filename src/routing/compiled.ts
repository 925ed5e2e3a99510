/**
 * Matchers of the routing tables, compiled once per configuration object (the
 * configuration is immutable, so the cache can never go stale) instead of
 * parsing prefixes on every request.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { RequestType } from '../config/schema.js';
import { isAnyName } from '../config/schema.js';
import { compileAddress, compileHost, compilePrefix, type AddressPattern, type HostPattern, type PrefixPattern } from '../syntax/pattern.js';

export interface RowMatchers {
  readonly srcUser: PrefixPattern;
  readonly srcHost: HostPattern;
  readonly dstUser: PrefixPattern;
  readonly dstHost: HostPattern;
}

export interface ClassificationMatchers extends RowMatchers {
  readonly srcAddress: AddressPattern;
}

export interface CompiledConfig {
  readonly classification: readonly ClassificationMatchers[];
  readonly routing: readonly RowMatchers[];
  readonly inbound: readonly RowMatchers[];
  readonly outbound: readonly RowMatchers[];
  /** Literal IP of a ProxyIp row -> names of proxy sets holding it (lower-cased). */
  readonly proxyAddressSets: ReadonlyMap<string, readonly string[]>;
}

const cache = new WeakMap<SbcConfig, CompiledConfig>();

const NEVER_ADDRESS: AddressPattern = Object.freeze({ source: '', any: false, matches: () => false });

function safeAddress(s: string): AddressPattern {
  // A valid config never has a bad address (validation rejects it); stay safe for hand-built ones.
  try {
    return compileAddress(s);
  } catch {
    return NEVER_ADDRESS;
  }
}

function safePrefix(s: string): PrefixPattern {
  try {
    return compilePrefix(s);
  } catch {
    return Object.freeze({ source: s, any: false, matches: () => false });
  }
}

function rowMatchers(r: { srcUsernamePrefix: string; srcHost: string; destUsernamePrefix: string; destHost: string }): RowMatchers {
  return Object.freeze({
    srcUser: safePrefix(r.srcUsernamePrefix),
    srcHost: compileHost(r.srcHost),
    dstUser: safePrefix(r.destUsernamePrefix),
    dstHost: compileHost(r.destHost),
  });
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

export function literalHostOf(ipAddress: string): string {
  const t = ipAddress.trim();
  if (t.startsWith('[')) return t.slice(1, t.indexOf(']'));
  const colons = t.split(':').length - 1;
  if (colons === 1) return t.slice(0, t.indexOf(':'));
  return t;
}

export function compiled(config: SbcConfig): CompiledConfig {
  let c = cache.get(config);
  if (c) return c;
  const proxyAddressSets = new Map<string, string[]>();
  for (const ps of config.proxySets) {
    for (const ip of config.proxyIpsOf(ps.proxyName)) {
      const host = literalHostOf(ip.ipAddress).toLowerCase();
      if (!isIpLiteral(host)) continue;
      let list = proxyAddressSets.get(host);
      if (!list) proxyAddressSets.set(host, (list = []));
      if (!list.includes(ps.proxyName.toLowerCase())) list.push(ps.proxyName.toLowerCase());
    }
  }
  c = Object.freeze({
    classification: config.classifications.map((r) => Object.freeze({ ...rowMatchers(r), srcAddress: safeAddress(r.srcAddress) })),
    routing: config.ip2ipRouting.map(rowMatchers),
    inbound: config.inboundManipulations.map(rowMatchers),
    outbound: config.outboundManipulations.map(rowMatchers),
    proxyAddressSets,
  });
  cache.set(config, c);
  return c;
}

export function groupMatches(pattern: string, name: string): boolean {
  return isAnyName(pattern) || pattern.toLowerCase() === name.toLowerCase();
}

export function requestTypeMatches(type: RequestType, method: string): boolean {
  switch (type) {
    case 'all': return true;
    case 'invite': return method === 'INVITE';
    case 'register': return method === 'REGISTER';
    case 'subscribe': return method === 'SUBSCRIBE';
    case 'invite-and-register': return method === 'INVITE' || method === 'REGISTER';
    case 'invite-and-subscribe': return method === 'INVITE' || method === 'SUBSCRIBE';
    case 'options': return method === 'OPTIONS';
  }
}
