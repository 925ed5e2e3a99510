/**
 * What the SBC reads from a configuration but does not act on. A Mediant export
 * carries hundreds of parameters and many tables and columns this SBC has no
 * use for; loading them silently would let an operator believe they work. They
 * are collected here (never as errors: the device loads them) so that
 * `check-config` can say "not supported; ignored" per parameter, table and column.
 *
 * Two kinds:
 * - not supported: a parameter, table or column this SBC does not know at all;
 * - no effect: known to the schema (read, validated, written back) but nothing
 *   uses it yet. Reported only when the file sets a non-default value, since a
 *   default value loses nothing.
 */
import type { IgnoredSetting } from './diagnostics.js';
import type { IniScalar } from './ini-reader.js';

export type { IgnoredSetting };
import { SCALARS } from './sbc-config.js';
import { TABLES, type SbcTables } from './schema.js';


/** Scalars read by name outside the typed SCALARS list (see docs/configuration.md). */
export const RAW_SCALARS: readonly string[] = ['CdrFilePath', 'TLSCertFile', 'TLSKeyFile'];

/** Known scalars that are accepted but do nothing yet. */
const NO_EFFECT_SCALARS: Readonly<Record<string, string>> = {};

/**
 * Known table columns that nothing uses yet, by table name, with the reason.
 * Kept next to the schema's column docs: a column leaves this list when the
 * code that uses it lands.
 */
export const NO_EFFECT_COLUMNS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  InterfaceTable: {
    ApplicationTypes: 'stored only', InterfaceMode: 'stored only', PrefixLength: 'stored only', Gateway: 'stored only',
    PrimaryDNSServerIPAddress: 'host names are resolved by the system resolver', SecondaryDNSServerIPAddress: 'host names are resolved by the system resolver',
    UnderlyingDevice: 'stored only',
  },
  SIPInterface: { ApplicationType: 'every SIP Interface is started as an SBC interface' },
  IPGroup: { TopologyLocation: 'stored only (display)' },
  IP2IPRouting: { GroupPolicy: 'forking is not done; rows are tried sequentially', CostGroup: 'stored only' },
  IPInboundManipulation: { PrivacyRestrictionMode: 'privacy is not changed' },
  IPOutboundManipulation: { PrivacyRestrictionMode: 'privacy is not changed' },
  IpProfile: {
    SBCRFC2833Behavior: 'telephone-event is relayed as offered', SBCAlternativeDTMFMethod: 'DTMF is not converted',
    SBCExtensionCodersGroupName: 'no transcoding',
  },
  CpMediaRealm: { IPv6IF: 'media is relayed on IPv4' },
  AudioCoders: {
    AudioCodersGroupId: 'AudioCoders lists are not used (no transcoding)', AudioCodersIndex: 'AudioCoders lists are not used',
    Name: 'AudioCoders lists are not used', pTime: 'AudioCoders lists are not used', rate: 'AudioCoders lists are not used',
    PayloadType: 'AudioCoders lists are not used',
  },
  SBCAdmissionControl: { SRDName: 'there are no SRDs' },
};

/** Scalars that are neither typed, read by name, nor any other known name. */
export function ignoredScalars(list: readonly IniScalar[], file: string, extraKnown: readonly string[] = []): IgnoredSetting[] {
  const known = new Set([...SCALARS.map((s) => s.name), ...RAW_SCALARS, ...extraKnown].map((n) => n.toLowerCase()));
  const noEffect = new Map(Object.entries(NO_EFFECT_SCALARS).map(([k, v]) => [k.toLowerCase(), v]));
  const out: IgnoredSetting[] = [];
  const seen = new Set<string>();
  for (const s of list) {
    const k = s.name.toLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    const why = noEffect.get(k);
    if (why !== undefined) out.push({ kind: 'parameter', name: s.name, file, line: s.line, reason: why });
    else if (!known.has(k)) out.push({ kind: 'parameter', name: s.name, file, line: s.line, reason: 'not supported' });
  }
  return out;
}

/** Known columns with no effect that some row sets to a non-default value (first such row reported). */
export function noEffectColumns(tables: SbcTables, file: string): IgnoredSetting[] {
  const out: IgnoredSetting[] = [];
  for (const def of TABLES) {
    const cols = NO_EFFECT_COLUMNS[def.name];
    if (!cols) continue;
    const rows = tables[def.configKey] as unknown as ReadonlyArray<Record<string, unknown> & { line: number; file: string }>;
    for (const c of def.columns) {
      const why = cols[c.ini];
      if (why === undefined) continue;
      const row = rows.find((r) => !sameValue(r[c.key], c.def));
      if (row) out.push({ kind: 'column', name: `${def.name}.${c.ini}`, file: row.file || file, line: row.line, reason: why });
    }
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

export function formatIgnored(i: IgnoredSetting): string {
  const where = i.column !== undefined ? `${i.file}:${i.line}:${i.column}` : `${i.file}:${i.line}`;
  return `${where}: ${i.kind} ${i.name}: ${i.reason === 'not supported' ? 'not supported; ignored' : `accepted, no effect: ${i.reason}`}`;
}

/** One line: counts per kind. */
export function summarizeIgnored(list: readonly IgnoredSetting[]): string {
  const n = (kind: IgnoredSetting['kind'], unsupported: boolean): number =>
    list.filter((i) => i.kind === kind && (i.reason === 'not supported') === unsupported).length;
  const parts: string[] = [];
  const add = (count: number, what: string): void => {
    if (count > 0) parts.push(`${count} ${what}${count === 1 ? '' : 's'}`);
  };
  add(n('parameter', true), 'parameter');
  add(n('table', true), 'table');
  add(n('column', true), 'column');
  const unsupported = parts.join(', ');
  const noEffect = list.filter((i) => i.reason !== 'not supported').length;
  const out: string[] = [];
  if (unsupported) out.push(`not supported; ignored: ${unsupported}`);
  if (noEffect > 0) out.push(`accepted but without effect: ${noEffect} setting${noEffect === 1 ? '' : 's'}`);
  return out.join('; ');
}
