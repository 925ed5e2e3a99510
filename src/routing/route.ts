/**
 * IP-to-IP routing: a pure function of (configuration, request view, live
 * proxy state). First matching Route Row wins; the rows marked as its
 * alternatives (directly below it) are tried when its destination is
 * unavailable or fails.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { Ip2IpRoutingRow, IpGroupRow, Transport } from '../config/schema.js';
import { parseRejectAction, splitHostPort } from '../syntax/values.js';
import { compiled, groupMatches, requestTypeMatches } from './compiled.js';
import { callTags, describeMatch, tagsMatch } from './dial-plan.js';
import type {
  ProxyStateView, RouteAttempt, RouteDecision, RouteDestination, RouteFailure, RouteSkip, RoutedRequest, ServerTarget,
} from './types.js';

function concreteTransport(t: Transport, fallback: 'udp' | 'tcp' | 'tls' = 'udp'): 'udp' | 'tcp' | 'tls' {
  return t === 'tcp' || t === 'tls' || t === 'udp' ? t : fallback;
}

function isAlternative(r: Ip2IpRoutingRow): boolean {
  return r.altRouteOptions === 'alt-route-ignore-inputs' || r.altRouteOptions === 'alt-route-consider-inputs';
}

function isGroupMember(r: Ip2IpRoutingRow): boolean {
  return r.altRouteOptions === 'group-member-ignore-inputs' || r.altRouteOptions === 'group-member-consider-inputs';
}

function triggerMatches(r: Ip2IpRoutingRow, a: RouteAttempt | undefined): boolean {
  const t = a?.trigger ?? 'initial';
  switch (r.trigger) {
    case 'any': break;
    case '3xx': if (t !== '3xx') return false; break;
    case 'refer': if (t !== 'refer') return false; break;
    case '3xx-or-refer': if (t !== '3xx' && t !== 'refer') return false; break;
    case 'initial-only': if (t !== 'initial') return false; break;
    case 'broken-connection': if (t !== 'broken-connection') return false; break;
  }
  if (t === '3xx' || t === 'refer') return groupMatches(r.reRouteIpGroupName, a?.reRouteIpGroupName ?? '');
  return true;
}

/** Why the row's inputs do not match the request, or null when they do. */
function inputMismatch(config: SbcConfig, position: number, req: RoutedRequest, attempt: RouteAttempt | undefined): string | null {
  const r = config.ip2ipRouting[position]!;
  const m = compiled(config).routing[position]!;
  if (!groupMatches(r.srcIpGroupName, req.srcIpGroupName)) return `source IP Group ${req.srcIpGroupName} != ${r.srcIpGroupName}`;
  if (!requestTypeMatches(r.requestType, req.method)) return `method ${req.method} is not ${r.requestType}`;
  if (!m.srcUser.matches(req.srcUser)) return `source user '${req.srcUser}' does not match '${r.srcUsernamePrefix}'`;
  if (!m.srcHost.matches(req.srcHost)) return `source host '${req.srcHost}' does not match '${r.srcHost}'`;
  if (!m.dstUser.matches(req.requestUriUser)) return `destination user '${req.requestUriUser}' does not match '${r.destUsernamePrefix}'`;
  if (!m.dstHost.matches(req.requestUriHost)) return `destination host '${req.requestUriHost}' does not match '${r.destHost}'`;
  if (r.srcTags !== '' || r.destTags !== '') {
    const tags = callTags(config, req);
    if (r.srcTags !== '' && !tagsMatch(r.srcTags, tags.src?.tags ?? [])) return `source tags [${tags.src?.rule.tag ?? ''}] do not include ${r.srcTags}`;
    if (r.destTags !== '' && !tagsMatch(r.destTags, tags.dst?.tags ?? [])) return `destination tags [${tags.dst?.rule.tag ?? ''}] do not include ${r.destTags}`;
  }
  if (!triggerMatches(r, attempt)) return `trigger ${attempt?.trigger ?? 'initial'} does not match ${r.trigger}`;
  if (r.messageConditionName !== '' && !(req.matchesCondition?.(r.messageConditionName) ?? false)) return `message condition ${r.messageConditionName} is false`;
  return null;
}

interface Resolved {
  readonly destination: RouteDestination;
  readonly dstIpGroup: IpGroupRow | undefined;
  readonly sipInterfaceName: string | undefined;
}

/** The row's destination, or a reason why it cannot be used now. */
function resolveDestination(config: SbcConfig, r: Ip2IpRoutingRow, req: RoutedRequest, proxyState: ProxyStateView): Resolved | string {
  const group = r.destIpGroupName !== '' ? config.ipGroupByName(r.destIpGroupName) : undefined;
  const rowIf = r.destSipInterfaceName !== '' ? r.destSipInterfaceName : undefined;
  switch (r.destType) {
    case 'ip-group': {
      if (!group) return `IP Group '${r.destIpGroupName}' does not exist`;
      if (group.proxySetName === '') return `IP Group ${group.name} has no proxy set`;
      if (!proxyState.isIpGroupAvailable(group.name)) return `IP Group ${group.name} is unavailable (no live server in proxy set ${group.proxySetName})`;
      const candidates = proxyState.candidates(group.proxySetName);
      if (candidates.length === 0) return `IP Group ${group.name} has no resolved server in proxy set ${group.proxySetName}`;
      const ps = config.proxySetByName(group.proxySetName);
      const psIf = ps && ps.sbcIpv4SipInterfaceName !== '' ? ps.sbcIpv4SipInterfaceName : undefined;
      return { destination: { kind: 'ip-group', ipGroup: group, candidates }, dstIpGroup: group, sipInterfaceName: rowIf ?? psIf };
    }
    case 'dest-address': {
      const hp = splitHostPort(r.destAddress);
      if (!hp) return `DestAddress '${r.destAddress}' is not usable`;
      const transport = concreteTransport(r.destTransportType);
      const port = r.destPort !== 0 ? r.destPort : hp.port;
      return { destination: { kind: 'address', host: hp.host, port, transport }, dstIpGroup: group, sipInterfaceName: rowIf };
    }
    case 'request-uri': {
      if (req.requestUriHost === '') return 'the Request-URI has no host';
      const transport = concreteTransport(r.destTransportType, req.transport === 'ws' ? 'tcp' : req.transport);
      return {
        destination: { kind: 'request-uri', host: req.requestUriHost, port: r.destPort !== 0 ? r.destPort : (req.requestUriPort ?? 0), transport },
        dstIpGroup: group, sipInterfaceName: rowIf,
      };
    }
    case 'all-users': {
      if (!group) return `IP Group '${r.destIpGroupName}' does not exist`;
      return { destination: { kind: 'registered-users', ipGroup: group }, dstIpGroup: group, sipInterfaceName: rowIf };
    }
    case 'internal': {
      const code = parseRejectAction(r.destAddress);
      return { destination: { kind: 'reject', responseCode: code ?? 403 }, dstIpGroup: undefined, sipInterfaceName: undefined };
    }
    default:
      return `DestType ${r.destType} is not supported`;
  }
}

function label(r: Ip2IpRoutingRow): string {
  return `IP2IPRouting ${r.index} (${r.routeName || 'unnamed'}, line ${r.line})`;
}

function decision(
  r: Ip2IpRoutingRow, position: number, mainPosition: number, res: Resolved, attempt: number, req: RoutedRequest, a: RouteAttempt | undefined,
  candidateIndex = 0,
): RouteDecision {
  const target: ServerTarget | undefined = res.destination.kind === 'ip-group' ? res.destination.candidates[candidateIndex] : undefined;
  return {
    kind: 'route', row: r, position, mainPosition, destination: res.destination, dstIpGroup: res.dstIpGroup,
    sipInterfaceName: res.sipInterfaceName, target, candidateIndex, attempt, request: req, routeAttempt: a,
  };
}

/**
 * Tries the main row at `mainPosition` and then its alternatives from `from` on;
 * returns the first usable one.
 */
function walkAlternatives(
  config: SbcConfig, mainPosition: number, from: number, req: RoutedRequest, proxyState: ProxyStateView,
  a: RouteAttempt | undefined, attempt: number, skipped: RouteSkip[],
): RouteDecision | null {
  const rows = config.ip2ipRouting;
  for (let p = from; p < rows.length; p++) {
    const r = rows[p]!;
    if (p !== mainPosition) {
      if (isGroupMember(r)) continue;
      if (!isAlternative(r)) break;
      if (r.altRouteOptions === 'alt-route-consider-inputs') {
        const why = inputMismatch(config, p, req, a);
        if (why) {
          a?.trace?.push(`  ${label(r)}: alternative skipped: ${why}`);
          skipped.push({ row: r, reason: why });
          continue;
        }
      }
    }
    const res = resolveDestination(config, r, req, proxyState);
    if (typeof res === 'string') {
      a?.trace?.push(`  ${label(r)}: ${p === mainPosition ? 'matched but' : 'alternative'} skipped: ${res}`);
      skipped.push({ row: r, reason: res });
      continue;
    }
    a?.trace?.push(`  ${label(r)}: ${p === mainPosition ? 'matched' : 'alternative used'} -> ${describeDestination(res.destination)}`);
    if (a?.trace && (r.srcTags !== '' || r.destTags !== '')) {
      // Name the dial plan rule(s) that gave the tags this row asked for.
      const tags = callTags(config, req);
      if (r.srcTags !== '') a.trace.push(`    ${describeMatch('source', tags.src, req.srcUser)}`);
      if (r.destTags !== '') a.trace.push(`    ${describeMatch('destination', tags.dst, req.requestUriUser)}`);
    }
    return decision(r, p, mainPosition, res, attempt, req, a);
  }
  return null;
}

export function describeDestination(d: RouteDestination): string {
  switch (d.kind) {
    case 'ip-group': return `IP Group ${d.ipGroup.name} via ${d.candidates.map((c) => `${c.transport}:${c.address}:${c.port}`).join(', ')}`;
    case 'address': return `address ${d.transport}:${d.host}${d.port ? `:${d.port}` : ''}`;
    case 'request-uri': return `Request-URI host ${d.transport}:${d.host}${d.port ? `:${d.port}` : ''}`;
    case 'registered-users': return `registered users of IP Group ${d.ipGroup.name}`;
    case 'reject': return `reject with ${d.responseCode}`;
  }
}

export function routeRequest(config: SbcConfig, req: RoutedRequest, proxyState: ProxyStateView, attempt?: RouteAttempt): RouteDecision {
  const rows = config.ip2ipRouting;
  const skipped: RouteSkip[] = [];
  let matchedAny = false;
  for (let p = 0; p < rows.length; p++) {
    const r = rows[p]!;
    // Alternatives and group members are reached only through their main row.
    if (r.altRouteOptions !== 'route-row') continue;
    const why = inputMismatch(config, p, req, attempt);
    if (why) {
      attempt?.trace?.push(`  ${label(r)}: no: ${why}`);
      continue;
    }
    matchedAny = true;
    const d = walkAlternatives(config, p, p, req, proxyState, attempt, 1, skipped);
    if (d) return d;
    // Mediant stops at the first matching Route Row; when neither it nor its alternatives can be used, the request fails.
    break;
  }
  if (!matchedAny) {
    attempt?.trace?.push(`  no routing rule matched`);
    return { kind: 'no-route', responseCode: 404, reason: 'no routing rule matched', skipped };
  }
  return { kind: 'no-route', responseCode: 503, reason: 'every destination of the matching rule is unavailable', skipped };
}

/** Whether a failure of the current destination allows alternative routing. */
export function failureTriggersAlternative(config: SbcConfig, failure: RouteFailure): boolean {
  if (failure.noResponse) return config.sip.altRouteOnNoResponse;
  return failure.responseCode !== undefined && config.sip.altRouteReasons.includes(failure.responseCode);
}

/**
 * The next destination after `prev` failed: the next live server of the same
 * proxy set when it hot-swaps, else the next alternative row. null when the
 * failure does not allow re-routing, the attempt bound is reached, or nothing is left.
 */
export function nextAlternative(config: SbcConfig, prev: RouteDecision, failure: RouteFailure, proxyState: ProxyStateView): RouteDecision | null {
  if (prev.kind !== 'route') return null;
  if (!failureTriggersAlternative(config, failure)) return null;
  if (prev.attempt >= config.sip.maxAltRouteAttempts) return null;
  const a = prev.routeAttempt;
  const d = prev.destination;
  if (d.kind === 'ip-group') {
    const ps = config.proxySetByName(d.ipGroup.proxySetName);
    if (ps?.isProxyHotSwap && prev.candidateIndex + 1 < d.candidates.length) {
      a?.trace?.push(`  ${label(prev.row)}: next server of proxy set ${ps.proxyName}`);
      return { ...prev, candidateIndex: prev.candidateIndex + 1, target: d.candidates[prev.candidateIndex + 1], attempt: prev.attempt + 1 };
    }
  }
  const skipped: RouteSkip[] = [];
  return walkAlternatives(config, prev.mainPosition, prev.position + 1, prev.request, proxyState, a, prev.attempt + 1, skipped);
}

/** A ProxyStateView that treats every configured server as alive and uses addresses as written (no DNS). */
export function staticProxyState(config: SbcConfig): ProxyStateView {
  return {
    isIpGroupAvailable: () => true,
    candidates(proxySetName: string): readonly ServerTarget[] {
      const out: ServerTarget[] = [];
      const ips = [...config.proxyIpsOf(proxySetName)].sort((x, y) => x.priority - y.priority || x.proxyIpIndex - y.proxyIpIndex);
      for (const ip of ips) {
        const hp = splitHostPort(ip.ipAddress);
        if (!hp) continue;
        const transport = concreteTransport(ip.transportType);
        out.push({ address: hp.host, port: hp.port || (transport === 'tls' ? 5061 : 5060), transport, host: hp.host });
      }
      return out;
    },
  };
}
