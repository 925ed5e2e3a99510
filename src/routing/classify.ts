/**
 * Which IP Group sent this request? First the proxy-set addresses of Server
 * IP Groups (ClassifyByProxySet), then the Classification table top-down.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { ClassificationRow } from '../config/schema.js';
import { compiled } from './compiled.js';
import type { ClassificationResult, ProxyStateView, RequestView } from './types.js';

function transportMatches(rowTransport: string, t: string): boolean {
  return rowTransport === 'any' || rowTransport === t;
}

function rejectFor(config: SbcConfig, req: RequestView, reason: string, row?: ClassificationRow): ClassificationResult {
  const si = config.sipInterfaceByName(req.sipInterfaceName);
  const code = si ? si.classificationFailureResponseType : 0;
  const responseCode = code === 0 ? 'drop' : code;
  return row ? { rejected: true, responseCode, reason, row } : { rejected: true, responseCode, reason };
}

export function classify(config: SbcConfig, req: RequestView, proxyState?: ProxyStateView, trace?: string[]): ClassificationResult {
  const c = compiled(config);
  const src = req.srcAddress.toLowerCase();
  const literalSets = c.proxyAddressSets.get(src);
  for (const g of config.ipGroups) {
    if (g.type !== 'server' || !g.classifyByProxySet || g.proxySetName === '') continue;
    const setName = g.proxySetName.toLowerCase();
    let hit = literalSets !== undefined && literalSets.includes(setName);
    if (!hit && proxyState?.addressesOf) hit = proxyState.addressesOf(g.proxySetName).some((a) => a.toLowerCase() === src);
    if (!hit) continue;
    // A proxy set bound to a SIP Interface only classifies what arrives there.
    const ps = config.proxySetByName(g.proxySetName);
    if (ps && ps.sbcIpv4SipInterfaceName !== '' && ps.sbcIpv4SipInterfaceName.toLowerCase() !== req.sipInterfaceName.toLowerCase()) {
      trace?.push(`  proxy set ${ps.proxyName} holds ${req.srcAddress} but is bound to SIP Interface ${ps.sbcIpv4SipInterfaceName}`);
      continue;
    }
    trace?.push(`  classified by proxy set ${g.proxySetName} of IP Group ${g.name}`);
    return { rejected: false, ipGroup: g, ipProfile: g.profileName ? config.ipProfileByName(g.profileName) : undefined, by: 'proxy-set' };
  }
  const rows = config.classifications;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const m = c.classification[i]!;
    let why: string | null = null;
    if (r.srcSipInterfaceName !== '' && r.srcSipInterfaceName.toLowerCase() !== req.sipInterfaceName.toLowerCase()) why = `SIP Interface ${req.sipInterfaceName} != ${r.srcSipInterfaceName}`;
    else if (!m.srcAddress.matches(req.srcAddress)) why = `source address ${req.srcAddress} does not match ${r.srcAddress}`;
    else if (r.srcPort !== 0 && r.srcPort !== req.srcPort) why = `source port ${req.srcPort} != ${r.srcPort}`;
    else if (!transportMatches(r.srcTransportType, req.transport)) why = `transport ${req.transport} != ${r.srcTransportType}`;
    else if (!m.srcUser.matches(req.srcUser)) why = `source user '${req.srcUser}' does not match '${r.srcUsernamePrefix}'`;
    else if (!m.srcHost.matches(req.srcHost)) why = `source host '${req.srcHost}' does not match '${r.srcHost}'`;
    else if (!m.dstUser.matches(req.requestUriUser)) why = `destination user '${req.requestUriUser}' does not match '${r.destUsernamePrefix}'`;
    else if (!m.dstHost.matches(req.requestUriHost)) why = `destination host '${req.requestUriHost}' does not match '${r.destHost}'`;
    else if (r.messageConditionName !== '' && !(req.matchesCondition?.(r.messageConditionName) ?? false)) why = `message condition ${r.messageConditionName} is false`;
    if (why) {
      trace?.push(`  Classification ${r.index} (${r.classificationName || 'unnamed'}, line ${r.line}): no: ${why}`);
      continue;
    }
    if (r.actionType === 'deny') {
      trace?.push(`  Classification ${r.index} (${r.classificationName || 'unnamed'}, line ${r.line}): deny`);
      return rejectFor(config, req, `denied by Classification ${r.index}`, r);
    }
    const g = config.ipGroupByName(r.srcIpGroupName);
    if (!g) return rejectFor(config, req, `Classification ${r.index} names a missing IP Group`, r);
    const profileName = r.ipProfileName !== '' ? r.ipProfileName : g.profileName;
    trace?.push(`  Classification ${r.index} (${r.classificationName || 'unnamed'}, line ${r.line}): matched -> IP Group ${g.name}`);
    return { rejected: false, ipGroup: g, ipProfile: profileName ? config.ipProfileByName(profileName) : undefined, by: 'classification', row: r };
  }
  trace?.push(`  no classification rule matched`);
  return rejectFor(config, req, 'no classification rule matched');
}
