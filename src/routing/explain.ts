/**
 * A readable trace of what the SBC would do with a request: classification,
 * inbound number manipulation, routing rows, outbound number manipulation.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import { classify } from './classify.js';
import { callTags, describeMatch } from './dial-plan.js';
import { applyNumberManipulation } from './number-manipulation.js';
import { describeDestination, routeRequest, staticProxyState } from './route.js';
import type { ClassificationResult, NumberManipulationResult, ProxyStateView, RequestView, RouteDecision } from './types.js';

export interface RouteExplanation {
  readonly lines: string[];
  readonly classification: ClassificationResult;
  readonly inbound?: NumberManipulationResult;
  readonly decision?: RouteDecision;
  readonly outbound?: NumberManipulationResult;
}

export function explainRoute(config: SbcConfig, req: RequestView, proxyState: ProxyStateView = staticProxyState(config)): RouteExplanation {
  const lines: string[] = [];
  lines.push(`request: ${req.method} sip:${req.requestUriUser}@${req.requestUriHost} from sip:${req.srcUser}@${req.srcHost}`);
  lines.push(`  arrived from ${req.transport}:${req.srcAddress}:${req.srcPort} on SIP Interface ${req.sipInterfaceName || '(none)'}`);
  lines.push('classification:');
  const classification = classify(config, req, proxyState, lines);
  if (classification.rejected) {
    lines.push(`  => rejected (${classification.reason}): ${classification.responseCode === 'drop' ? 'dropped silently' : `answered ${classification.responseCode}`}`);
    return { lines, classification };
  }
  const src = classification.ipGroup;
  lines.push(`  => source IP Group ${src.name}${classification.ipProfile ? `, IP Profile ${classification.ipProfile.profileName}` : ''}`);
  lines.push('inbound number manipulation:');
  const inbound = applyNumberManipulation(config, 'inbound', {
    method: req.method, srcIpGroupName: src.name, srcUser: req.srcUser, srcHost: req.srcHost, dstUser: req.requestUriUser, dstHost: req.requestUriHost,
  }, lines);
  lines.push(`  => source user '${inbound.srcUser}', destination user '${inbound.dstUser}'`);
  const routed = { ...req, srcIpGroupName: src.name, srcUser: inbound.routingSrcUser, requestUriUser: inbound.routingDstUser };
  const tags = callTags(config, routed);
  if (tags.dialPlanName !== '') {
    lines.push(`dial plan ${tags.dialPlanName} (IP Group ${src.name}):`);
    lines.push(`  ${describeMatch('source', tags.src, routed.srcUser)}`);
    lines.push(`  ${describeMatch('destination', tags.dst, routed.requestUriUser)}`);
  }
  lines.push('routing:');
  const trace: string[] = [];
  const decision = routeRequest(config, routed, proxyState, { trace });
  lines.push(...trace);
  if (decision.kind === 'no-route') {
    lines.push(`  => no route: ${decision.reason}; answered ${decision.responseCode}`);
    return { lines, classification, inbound, decision };
  }
  lines.push(`  => ${describeDestination(decision.destination)}${decision.target ? `; first server ${decision.target.transport}:${decision.target.address}:${decision.target.port}` : ''}`);
  if (decision.destination.kind === 'reject') return { lines, classification, inbound, decision };
  lines.push('outbound number manipulation:');
  const outbound = applyNumberManipulation(config, 'outbound', {
    method: req.method, srcIpGroupName: src.name, dstIpGroupName: decision.dstIpGroup?.name ?? '',
    srcUser: inbound.srcUser, srcHost: req.srcHost, dstUser: inbound.dstUser, dstHost: req.requestUriHost,
  }, lines);
  lines.push(`  => source user '${outbound.srcUser}', destination user '${outbound.dstUser}'`);
  return { lines, classification, inbound, decision, outbound };
}
