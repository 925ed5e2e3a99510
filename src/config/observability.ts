/**
 * Typed CDR and QoE settings read from the scalars and tables (names in
 * sbc-config.ts SCALARS and schema.ts), and the checks of those tables that
 * cross rows (field names, profile and IP Group references).
 */
import type { Diagnostic } from './diagnostics.js';
import { cellColumn } from './convert.js';
import { isAnyName, type CdrFormatType, type RowBase, type SbcCdrFormatRow, type SbcTables } from './schema.js';
import { SCALARS, type SbcConfig } from './sbc-config.js';
import { findCdrField } from '../cdr/fields.js';

export type SyslogProtocolSetting = 'udp' | 'tcp' | 'tls';

export interface CdrSettings {
  readonly callLevel: number;
  readonly mediaLevel: number;
  readonly nonCall: boolean;
  readonly syslog: { readonly host: string; readonly port: number; readonly protocol: SyslogProtocolSetting } | null;
  readonly local: {
    readonly dir: string;
    readonly formats: ReadonlyArray<'csv' | 'jsonl'>;
    readonly maxFileBytes: number;
    readonly maxFiles: number;
    readonly intervalMs: number;
  } | null;
  readonly httpUrl: string | null;
  readonly spoolDir: string | null;
  readonly spoolMaxBytes: number;
  /** SBCCDRFormat rows per CDRType, in Index order. */
  readonly formats: ReadonlyMap<CdrFormatType, readonly SbcCdrFormatRow[]>;
}

export interface QoeSettings {
  readonly sipCollector: { readonly host: string; readonly port: number } | null;
  readonly httpUrl: string | null;
  readonly reportIntervalSec: number;
}

function scalar(config: SbcConfig, name: string): string {
  const raw = config.scalars.get(name.toLowerCase());
  if (raw !== undefined && raw.trim() !== '') return raw.trim();
  const spec = SCALARS.find((s) => s.name === name);
  return spec === undefined ? '' : String(spec.def);
}

const num = (config: SbcConfig, name: string): number => Number(scalar(config, name));
const text = (config: SbcConfig, name: string): string => scalar(config, name).replace(/^"(.*)"$/, '$1');

export function cdrSettings(config: SbcConfig): CdrSettings {
  const host = text(config, 'CDRSyslogServerIP');
  const dir = text(config, 'CDRLocalDir');
  const fmt = num(config, 'CDRLocalFormat');
  const formats = new Map<CdrFormatType, SbcCdrFormatRow[]>();
  for (const r of [...config.cdrFormats].sort((a, b) => a.index - b.index)) {
    let list = formats.get(r.cdrType);
    if (list === undefined) formats.set(r.cdrType, (list = []));
    list.push(r);
  }
  const spool = text(config, 'CDRSpoolDir');
  const url = text(config, 'CDRHttpCollectorUrl');
  return {
    callLevel: num(config, 'CDRReportLevel'),
    mediaLevel: num(config, 'MediaCDRReportLevel'),
    nonCall: num(config, 'EnableNonCallCdr') === 1,
    syslog: host === '' ? null : {
      host, port: num(config, 'CDRSyslogServerPort'),
      protocol: (['udp', 'tcp', 'tls'] as const)[num(config, 'CDRSyslogTransportType')] ?? 'udp',
    },
    local: dir === '' ? null : {
      dir,
      formats: fmt === 0 ? ['csv'] : fmt === 1 ? ['jsonl'] : ['csv', 'jsonl'],
      maxFileBytes: num(config, 'CDRLocalMaxFileSize') * 1024,
      maxFiles: num(config, 'CDRLocalMaxNumOfFiles'),
      intervalMs: num(config, 'CDRLocalInterval') * 60_000,
    },
    httpUrl: url === '' ? null : url,
    spoolDir: spool === '' ? null : spool,
    spoolMaxBytes: num(config, 'CDRSpoolMaxSize') * 1024 * 1024,
    formats,
  };
}

export function qoeSettings(config: SbcConfig): QoeSettings {
  const host = text(config, 'QOEServerIP');
  const url = text(config, 'QOEHttpCollectorUrl');
  return {
    sipCollector: host === '' ? null : { host, port: num(config, 'QOEPort') },
    httpUrl: url === '' ? null : url,
    reportIntervalSec: num(config, 'QOEReportInterval'),
  };
}

/** Cross-row checks of SBCCDRFormat, QOEProfile/QOEColorRules, QualityOfServiceRules and IPGroup QOEProfile. */
export function validateObservabilityTables(t: SbcTables, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const err = (row: RowBase, key: string, table: string, message: string): void => {
    const column = cellColumn(row, key);
    out.push({
      severity: 'error', file: row.file || file, line: row.line, ...(column !== undefined ? { column } : {}),
      message: `${table} ${row.index}: ${message}`,
    });
  };
  for (const r of t.cdrFormats) {
    if (r.fieldType.trim() === '') err(r, 'fieldType', 'SBCCDRFormat', 'FieldType is required');
    else if (findCdrField(r.fieldType) === undefined) err(r, 'fieldType', 'SBCCDRFormat', `unknown CDR field '${r.fieldType}' (see docs/cdr.md for the names)`);
  }
  const profiles = new Set(t.qoeProfiles.map((p) => p.name.toLowerCase()));
  const profileIndexes = new Set(t.qoeProfiles.map((p) => String(p.index)));
  for (const r of t.qoeColorRules) {
    const ref = r.qoeProfile.trim();
    if (ref === '') err(r, 'qoeProfile', 'QOEColorRules', 'QOEProfile is required');
    else if (!profiles.has(ref.toLowerCase()) && !profileIndexes.has(ref)) err(r, 'qoeProfile', 'QOEColorRules', `refers to QOEProfile '${ref}' which does not exist`);
    if (r.sensitivityLevel === 'user-defined' && (r.minorThreshold < 0 || r.majorThreshold < 0)) {
      err(r, 'minorThreshold', 'QOEColorRules', 'user-defined rules need MinorThreshold and MajorThreshold');
    }
  }
  for (const g of t.ipGroups) {
    if (g.qoeProfile.trim() !== '' && !profiles.has(g.qoeProfile.toLowerCase())) {
      err(g, 'qoeProfile', 'IPGroup', `refers to QOEProfile '${g.qoeProfile}' which does not exist`);
    }
  }
  const groups = new Set(t.ipGroups.map((g) => g.name.toLowerCase()));
  for (const r of t.qualityOfServiceRules) {
    if (isAnyName(r.ipGroupName) || !groups.has(r.ipGroupName.toLowerCase())) {
      err(r, 'ipGroupName', 'QualityOfServiceRules', `refers to IPGroup '${r.ipGroupName}' which does not exist`);
    }
  }
  return out;
}
