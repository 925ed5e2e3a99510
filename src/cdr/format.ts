/**
 * Turns records into lines: CSV (RFC 4180 quoting, one header line per
 * file), JSON objects keyed by column title, and the column layout chosen
 * by the SBCCDRFormat table (or the defaults).
 */
import { DEFAULT_CALL_FIELDS, DEFAULT_MEDIA_FIELDS, findCdrField, type CdrField, type CdrValue } from './fields.js';
import type { CdrMediaStream, CdrRecord, CdrReportType } from './model.js';

export interface CdrColumn {
  readonly field: CdrField;
  readonly title: string;
}

/** Which record family a sink writes: signalling (calls and non-call dialogs) or media. */
export type CdrKind = 'call' | 'media';

export function kindOf(type: CdrReportType): CdrKind {
  return type.startsWith('MEDIA_') ? 'media' : 'call';
}

export function defaultColumns(kind: CdrKind): CdrColumn[] {
  return (kind === 'call' ? DEFAULT_CALL_FIELDS : DEFAULT_MEDIA_FIELDS).map((field) => ({ field, title: field.title }));
}

/** One SBCCDRFormat-style row: a field (key, title or Mediant code) and an optional title override. */
export interface CdrFormatRow {
  readonly fieldType: string;
  readonly title: string;
}

/** Columns from format rows (in order); defaults when there are none. Throws on an unknown field (config validation reports it first). */
export function columnsFrom(rows: readonly CdrFormatRow[], kind: CdrKind): CdrColumn[] {
  if (rows.length === 0) return defaultColumns(kind);
  return rows.map((r) => {
    const field = findCdrField(r.fieldType);
    if (field === undefined) throw new Error(`unknown CDR field '${r.fieldType}'`);
    return { field, title: r.title.trim() !== '' ? r.title.trim() : field.title };
  });
}

/** The streams a record is written as: one line per stream for media records, one line for the rest. */
export function streamsOf(r: CdrRecord): Array<CdrMediaStream | null> {
  if (kindOf(r.reportType) === 'media') return r.media.length > 0 ? r.media : [null];
  const audio = r.media.find((s) => s.media === 'audio') ?? r.media[0] ?? null;
  return [audio];
}

function value(col: CdrColumn, r: CdrRecord, s: CdrMediaStream | null): CdrValue {
  let v: CdrValue;
  try {
    v = col.field.get(r, s);
  } catch {
    v = null; // a half-filled record must still be written
  }
  if (v === undefined) return null;
  if (col.field.type === 'time' && typeof v === 'number') return Number.isFinite(v) ? new Date(v).toISOString() : null;
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}

export function toJsonObject(cols: readonly CdrColumn[], r: CdrRecord, s: CdrMediaStream | null): Record<string, CdrValue> {
  const o: Record<string, CdrValue> = {};
  for (const c of cols) o[c.title] = value(c, r, s);
  return o;
}

export function csvCell(v: CdrValue): string {
  if (v === null) return '';
  const t = typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
  return /[",\r\n]/.test(t) || t !== t.trim() ? `"${t.replace(/"/g, '""')}"` : t;
}

export function csvHeader(cols: readonly CdrColumn[]): string {
  return cols.map((c) => csvCell(c.title)).join(',') + '\n';
}

export function csvLine(cols: readonly CdrColumn[], r: CdrRecord, s: CdrMediaStream | null): string {
  return cols.map((c) => csvCell(value(c, r, s))).join(',') + '\n';
}

/** Parses one CSV line written by csvLine (for the API's file reader). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  let cur = '';
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
    i++;
  }
  out.push(cur);
  return out;
}
