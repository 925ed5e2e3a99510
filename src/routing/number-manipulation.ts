/**
 * IPInboundManipulation / IPOutboundManipulation: the everyday "strip the 9,
 * add +1" on the source or destination user part.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { NumberManipulationRow } from '../config/schema.js';
import { compiled, groupMatches, requestTypeMatches, type RowMatchers } from './compiled.js';
import type { NumberManipulationResult, NumberView } from './types.js';

/** Applies one row's operations in Mediant's order: remove left, remove right, leave right, add prefix, add suffix. */
export function manipulateUser(user: string, r: Pick<NumberManipulationRow, 'removeFromLeft' | 'removeFromRight' | 'leaveFromRight' | 'prefix2Add' | 'suffix2Add'>): string {
  let u = user;
  if (r.removeFromLeft > 0) u = u.slice(Math.min(r.removeFromLeft, u.length));
  if (r.removeFromRight > 0) u = u.slice(0, Math.max(0, u.length - r.removeFromRight));
  if (r.leaveFromRight < 255 && u.length > r.leaveFromRight) u = u.slice(u.length - r.leaveFromRight);
  return r.prefix2Add + u + r.suffix2Add;
}

function rowMatches(r: NumberManipulationRow, m: RowMatchers, inbound: boolean, v: NumberView, srcUser: string, dstUser: string): boolean {
  if (!groupMatches(r.srcIpGroupName, v.srcIpGroupName)) return false;
  if (!inbound && !groupMatches(r.destIpGroupName, v.dstIpGroupName ?? '')) return false;
  if (!requestTypeMatches(r.requestType, v.method)) return false;
  return m.srcUser.matches(srcUser) && m.srcHost.matches(v.srcHost) && m.dstUser.matches(dstUser) && m.dstHost.matches(v.dstHost);
}

export function applyNumberManipulation(config: SbcConfig, direction: 'inbound' | 'outbound', view: NumberView, trace?: string[]): NumberManipulationResult {
  const inbound = direction === 'inbound';
  const rows = inbound ? config.inboundManipulations : config.outboundManipulations;
  const matchers = inbound ? compiled(config).inbound : compiled(config).outbound;
  const table = inbound ? 'IPInboundManipulation' : 'IPOutboundManipulation';
  let srcUser = view.srcUser;
  let dstUser = view.dstUser;
  let routingSrcUser = srcUser;
  let routingDstUser = dstUser;
  const applied: NumberManipulationRow[] = [];
  let i = 0;
  for (; i < rows.length; i++) {
    const r = rows[i]!;
    // Additional rows only chain onto a matched row; alone they never start a match.
    if (r.isAdditionalManipulation) continue;
    if (rowMatches(r, matchers[i]!, inbound, view, srcUser, dstUser)) break;
  }
  if (i >= rows.length) {
    trace?.push(`  ${table}: no row matched`);
    return { srcUser, dstUser, routingSrcUser, routingDstUser, applied };
  }
  for (let j = i; j < rows.length; j++) {
    const r = rows[j]!;
    if (j > i) {
      if (!r.isAdditionalManipulation) break;
      if (!rowMatches(r, matchers[j]!, inbound, view, routingSrcUser, routingDstUser)) continue;
    }
    const onlyRouting = inbound && r.manipulationPurpose === 'routing-input-only';
    if (r.manipulatedUri === 'source') {
      const before = routingSrcUser;
      routingSrcUser = manipulateUser(routingSrcUser, r);
      if (!onlyRouting) srcUser = manipulateUser(srcUser, r);
      trace?.push(`  ${table} ${r.index} (${r.manipulationName || 'unnamed'}, line ${r.line}): source user '${before}' -> '${routingSrcUser}'${onlyRouting ? ' (routing input only)' : ''}`);
    } else {
      const before = routingDstUser;
      routingDstUser = manipulateUser(routingDstUser, r);
      if (!onlyRouting) dstUser = manipulateUser(dstUser, r);
      trace?.push(`  ${table} ${r.index} (${r.manipulationName || 'unnamed'}, line ${r.line}): destination user '${before}' -> '${routingDstUser}'${onlyRouting ? ' (routing input only)' : ''}`);
    }
    applied.push(r);
  }
  return { srcUser, dstUser, routingSrcUser, routingDstUser, applied };
}
