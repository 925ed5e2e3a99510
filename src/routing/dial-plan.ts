/**
 * Dial plan tags (Mediant "Dial Plan" / "Dial Plan Rule" tables): after
 * classification and inbound manipulation, the source and destination numbers
 * of a call are looked up in the dial plan of its source IP Group
 * (IPGroup SBCDialPlanName); the matching rule's tags can then be required by
 * IP2IPRouting rows (SrcTags / DestTags). One rule with many prefixes replaces
 * one routing row per prefix.
 *
 * Which rule matches: the most specific matching prefix (the most digits it
 * fixes; an exact `#` prefix beats an open one of the same length), ties to the
 * lower RuleIndex, then the lower row index. Mediant documents "best match"
 * without a formula; this one is ours.
 */
import type { SbcConfig } from '../config/sbc-config.js';
import type { DialPlanRuleRow } from '../config/schema.js';
import { compilePrefix, type PrefixPattern } from '../syntax/pattern.js';

export interface DialPlanMatch {
  readonly dialPlanName: string;
  readonly rule: DialPlanRuleRow;
  /** Lower-cased tags of the rule (`tag` or `key=value`). */
  readonly tags: readonly string[];
}

export interface CallTags {
  /** Dial plan of the source IP Group; '' when it has none. */
  readonly dialPlanName: string;
  readonly src: DialPlanMatch | null;
  readonly dst: DialPlanMatch | null;
}

interface CompiledRule {
  readonly row: DialPlanRuleRow;
  readonly pattern: PrefixPattern;
  readonly weight: number;
  readonly tags: readonly string[];
}

const cache = new WeakMap<SbcConfig, ReadonlyMap<string, readonly CompiledRule[]>>();

/** How many characters of a number the prefix fixes (see the module comment). */
export function prefixWeight(source: string): number {
  let s = source.trim();
  let exact = 0;
  if (s.endsWith('#') && s.length > 1) {
    exact = 0.5;
    s = s.slice(0, -1);
  }
  if (s.endsWith('*')) s = s.slice(0, -1);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '[') {
      const close = s.indexOf(']', i);
      if (close < 0) break;
      const items = s.slice(i + 1, close).split(',').map((p) => p.trim().split('-')[0]!.trim().length);
      n += Math.min(...items);
      i = close;
    } else n++;
  }
  return n + exact;
}

export function splitTags(text: string): string[] {
  return text.split(';').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

function rulesByPlan(config: SbcConfig): ReadonlyMap<string, readonly CompiledRule[]> {
  let m = cache.get(config);
  if (m) return m;
  const byPlan = new Map<string, CompiledRule[]>();
  for (const row of config.dialPlanRules) {
    let pattern: PrefixPattern;
    try {
      pattern = compilePrefix(row.prefix);
    } catch {
      continue; // validation refuses such rows; stay safe for hand-built configurations
    }
    const k = row.dialPlanName.trim().toLowerCase();
    let list = byPlan.get(k);
    if (!list) byPlan.set(k, (list = []));
    list.push({ row, pattern, weight: prefixWeight(row.prefix), tags: Object.freeze(splitTags(row.tag)) });
  }
  for (const list of byPlan.values()) {
    list.sort((a, b) => b.weight - a.weight || a.row.ruleIndex - b.row.ruleIndex || a.row.index - b.row.index);
  }
  m = byPlan;
  cache.set(config, m);
  return m;
}

/** The rule of `dialPlanName` that tags `number`, or null. */
export function lookupDialPlan(config: SbcConfig, dialPlanName: string, number: string): DialPlanMatch | null {
  if (dialPlanName.trim() === '') return null;
  const rules = rulesByPlan(config).get(dialPlanName.trim().toLowerCase());
  if (!rules) return null;
  for (const r of rules) if (r.pattern.matches(number)) return { dialPlanName, rule: r.row, tags: r.tags };
  return null;
}

const perRequest = new WeakMap<object, CallTags>();

/** Tags of a routed request (computed once per request object and configuration). */
export function callTags(config: SbcConfig, req: { readonly srcIpGroupName: string; readonly srcUser: string; readonly requestUriUser: string }): CallTags {
  const hit = perRequest.get(req);
  if (hit) return hit;
  const dialPlanName = config.ipGroupByName(req.srcIpGroupName)?.sbcDialPlanName ?? '';
  const t: CallTags = {
    dialPlanName,
    src: lookupDialPlan(config, dialPlanName, req.srcUser),
    dst: lookupDialPlan(config, dialPlanName, req.requestUriUser),
  };
  perRequest.set(req, t);
  return t;
}

/** Every tag listed in `required` (`;`-separated, case-insensitive) is among `have`. */
export function tagsMatch(required: string, have: readonly string[]): boolean {
  for (const t of splitTags(required)) if (!have.includes(t)) return false;
  return true;
}

export function describeMatch(which: 'source' | 'destination', m: DialPlanMatch | null, number: string): string {
  if (!m) return `${which} '${number}': no dial plan rule`;
  const r = m.rule;
  return `${which} '${number}': DialPlanRule ${r.index} (${r.name || 'unnamed'}, line ${r.line}) of dial plan ${m.dialPlanName}, prefix '${r.prefix}' -> tags ${r.tag}`;
}
