/**
 * Builds the IDS engine's view of a configuration: IDSPolicy / IDSRule /
 * IDSMatch rows compiled into predicates, the built-in default policy when
 * the operator configured none, and the known peers (Proxy Set addresses,
 * Classification source addresses) that are never denied automatically.
 */
import net from 'node:net';
import type { SbcConfig } from '../config/sbc-config.js';
import type { IdsRuleRow } from '../config/schema.js';
import { compileAddress, type AddressPattern } from '../syntax/pattern.js';
import { splitHostPort } from '../syntax/values.js';
import { parseIdList, parseSubnetExpression } from './address-match.js';
import type { IdsMatch, IdsRule } from './ids.js';

/**
 * The default policy (ours; Mediant ships none): applies to every SIP
 * Interface and source when EnableIDS = 1 and IDSMatch is empty. Sized so
 * that a phone with a wrong password or a PBX with a bad day is not
 * denied, while a scanner or a flood is within a minute.
 */
export const DEFAULT_IDS_RULES: readonly IdsRule[] = Object.freeze([
  rule('default/1', 'malformed', 'ip', 60, 20, 300),
  rule('default/2', 'auth-failure', 'ip', 60, 10, 600),
  rule('default/3', 'dialog-failure', 'ip', 60, 30, 300),
  rule('default/4', 'abnormal-flow', 'ip', 60, 200, 300),
  rule('default/5', 'connection-abuse', 'ip', 60, 50, 300),
]);

function rule(label: string, reason: IdsRule['reason'], scope: IdsRule['scope'], windowSec: number, deny: number, denySec: number): IdsRule {
  return Object.freeze({ label, reason, scope, windowMs: windowSec * 1000, alarms: [], denyThreshold: deny, denyMs: denySec * 1000 });
}

function compileRule(r: IdsRuleRow, policyName: string): IdsRule {
  const alarms: Array<{ level: 'minor' | 'major' | 'critical'; threshold: number }> = [];
  if (r.minorAlarmThreshold > 0) alarms.push({ level: 'minor', threshold: r.minorAlarmThreshold });
  if (r.majorAlarmThreshold > 0) alarms.push({ level: 'major', threshold: r.majorAlarmThreshold });
  if (r.criticalAlarmThreshold > 0) alarms.push({ level: 'critical', threshold: r.criticalAlarmThreshold });
  alarms.sort((a, b) => a.threshold - b.threshold);
  // A deny threshold without a period denies for Mediant's typical minute.
  const denySec = r.denyPeriod > 0 ? r.denyPeriod : 60;
  return Object.freeze({
    label: `${policyName}/${r.ruleId}`, reason: r.reason, scope: r.thresholdScope, windowMs: r.thresholdWindow * 1000,
    alarms, denyThreshold: r.denyThreshold > 0 ? r.denyThreshold : -1, denyMs: denySec * 1000,
  });
}

function samePolicy(ref: string, name: string, index: number): boolean {
  const t = ref.trim();
  return t.toLowerCase() === name.toLowerCase() || (/^\d+$/.test(t) && Number(t) === index);
}

/** Literal IP addresses of a proxy set's ProxyIp rows (host names are resolved elsewhere). */
function proxySetAddresses(config: SbcConfig, proxySetName: string): string[] {
  const out: string[] = [];
  for (const p of config.proxyIpsOf(proxySetName)) {
    const hp = splitHostPort(p.ipAddress);
    const host = (hp?.host ?? p.ipAddress).replace(/^\[|\]$/g, '');
    if (net.isIP(host) !== 0) out.push(host);
  }
  return out;
}

export interface CompiledIds {
  enabled: boolean;
  matches: IdsMatch[];
  /** Sources never denied nor rate-limited automatically (IDSProtectKnownPeers). */
  knownPeer: (address: string) => boolean;
  /**
   * True when a request from this address on this SIP Interface can only be
   * dropped silently (no IP Group could classify it and the interface's
   * ClassificationFailureResponseType is 0): it is dropped before a
   * transaction exists, and a malformed one gets no 400.
   */
  silentStranger: (address: string, interfaceName: string) => boolean;
  /** Problems found (the config validator reports them with file:line). */
  errors: string[];
}

export function compileIds(config: SbcConfig): CompiledIds {
  const errors: string[] = [];
  const enabled = Number(config.scalars.get('enableids') ?? '1') !== 0;
  const protectPeers = Number(config.scalars.get('idsprotectknownpeers') ?? '1') !== 0;
  const knownPeer = protectPeers ? knownPeerPredicate(config) : () => false;
  const matches: IdsMatch[] = [];
  const interfaces = config.sipInterfaces.map((s) => ({ index: s.index, name: s.interfaceName }));
  const proxySets = config.proxySets.map((p) => ({ index: p.index, name: p.proxyName }));
  for (const m of config.idsMatches) {
    const policy = config.idsPolicies.find((p) => samePolicy(m.policy, p.name, p.index));
    if (policy === undefined) {
      errors.push(`IDSMatch ${m.index}: policy "${m.policy}" is not in IDSPolicy`);
      continue;
    }
    const rules = config.idsRules.filter((r) => samePolicy(r.policy, policy.name, policy.index)).map((r) => compileRule(r, policy.name));
    const ifs = parseIdList(m.sipInterface, interfaces);
    const subnet = parseSubnetExpression(m.subnet);
    const ps = parseIdList(m.proxySet, proxySets);
    if (typeof ifs === 'string') errors.push(`IDSMatch ${m.index} SIPInterface: ${ifs}`);
    if (typeof subnet === 'string') errors.push(`IDSMatch ${m.index} Subnet: ${subnet}`);
    if (typeof ps === 'string') errors.push(`IDSMatch ${m.index} ProxySet: ${ps}`);
    if (typeof ifs === 'string' || typeof subnet === 'string' || typeof ps === 'string') continue;
    let sources = subnet;
    let explicitPeers: (a: string) => boolean = () => false;
    if (m.proxySet.trim() !== '') {
      const addrs = new Set<string>();
      for (const p of config.proxySets) if (ps(p.proxyName)) for (const a of proxySetAddresses(config, p.proxyName)) addrs.add(a);
      sources = (a) => addrs.has(a) && subnet(a);
      explicitPeers = (a) => addrs.has(a);
    }
    matches.push(Object.freeze({ interfaces: ifs, sources, explicitPeers, rules }));
  }
  if (matches.length === 0 && config.idsMatches.length === 0) {
    matches.push(Object.freeze({ interfaces: () => true, sources: () => true, explicitPeers: () => false, rules: DEFAULT_IDS_RULES }));
  }
  return { enabled, matches: enabled ? matches : [], knownPeer, silentStranger: silentStrangerPredicate(config), errors };
}

/**
 * Conservative: whenever classification could depend on more than the
 * source address (a Classification row matching any address on the
 * interface, a Proxy Set named by host name, user IP Groups), the answer
 * is false and the request takes the normal path.
 */
export function silentStrangerPredicate(config: SbcConfig): (address: string, interfaceName: string) => boolean {
  const dropIfs = new Set(config.sipInterfaces.filter((s) => s.classificationFailureResponseType === 0).map((s) => s.interfaceName.toLowerCase()));
  if (dropIfs.size === 0) return () => false;
  if (config.ipGroups.some((g) => g.type === 'user')) return () => false;
  for (const p of config.proxyIps) {
    const hp = splitHostPort(p.ipAddress);
    const host = (hp?.host ?? p.ipAddress).replace(/^\[|\]$/g, '');
    if (net.isIP(host) === 0) return () => false;
  }
  const open = new Set<string>();
  for (const c of config.classifications) {
    if (c.actionType !== 'allow') continue;
    const src = c.srcAddress.trim();
    if (src !== '' && src !== '*') continue;
    if (c.srcSipInterfaceName.trim() === '' || c.srcSipInterfaceName.trim() === '*' || c.srcSipInterfaceName.toLowerCase() === 'any') return () => false;
    open.add(c.srcSipInterfaceName.toLowerCase());
  }
  const known = knownPeerPredicate(config, true);
  return (address, interfaceName) => {
    const i = interfaceName.toLowerCase();
    return dropIfs.has(i) && !open.has(i) && !known(address);
  };
}

/**
 * Known peers: Proxy Set addresses and the literal source addresses of
 * allowing Classification rows. With `patterns`, also the subnets and
 * wildcards of Classification rows (everyone who could be classified by
 * address; `*`/empty never counts).
 */
export function knownPeerPredicate(config: SbcConfig, patterns = false): (address: string) => boolean {
  const literal = new Set<string>();
  for (const p of config.proxySets) for (const a of proxySetAddresses(config, p.proxyName)) literal.add(a);
  const compiledPatterns: AddressPattern[] = [];
  for (const c of config.classifications) {
    if (c.actionType !== 'allow') continue;
    const src = c.srcAddress.trim();
    if (src === '' || src === '*') continue;
    if (net.isIP(src) !== 0) {
      literal.add(src);
      continue;
    }
    if (!patterns) continue;
    try {
      const p = compileAddress(src);
      if (!p.any) compiledPatterns.push(p);
    } catch {
      /* the config validator reports it */
    }
  }
  if (compiledPatterns.length === 0) return (a) => literal.has(a);
  return (a) => literal.has(a) || compiledPatterns.some((p) => p.matches(a));
}
