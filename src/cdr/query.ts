/**
 * GET /api/v1/cdrs: the newest end records matching a time window and a
 * caller, from the in-memory ring first, then from the local CDR files
 * (current file, then rotated .gz files, newest first) when the ring does
 * not reach far enough back.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { findCdrField } from './fields.js';
import { parseCsvLine, streamsOf, type CdrColumn } from './format.js';
import type { CdrRecord } from './model.js';

export interface CdrQuery {
  /** Epoch ms, inclusive; matched against the release time (else the record time). */
  from?: number;
  to?: number;
  /** Substring of the caller's user part or URI, before or after manipulation. */
  caller?: string;
  /** Substring of the callee's user part or URI, before or after manipulation. */
  callee?: string;
  /** Either leg's IP Group (case-insensitive, whole name). */
  ipGroup?: string;
  /** `answered`, `unanswered`, a termination category (busy, no-answer, ...) or a final SIP status (486). */
  result?: string;
  /** Matches to skip first (paging, newest first). */
  offset?: number;
  limit: number;
}

/** Local files to read beyond the ring, and how they are laid out. */
export interface CdrArchive {
  files(): Promise<string[]>;
  format: 'csv' | 'jsonl';
  columns: readonly CdrColumn[];
}

export type CdrRow = Record<string, unknown>;

/** A record's field by our key: from the record itself (ring) or from its column (files). */
export type FieldOf = (key: string) => unknown;

const CALLER_KEYS = ['callerUser', 'callerUserBeforeMap', 'srcUri', 'srcUriBeforeMap'];
const CALLEE_KEYS = ['calleeUser', 'calleeUserBeforeMap', 'dstUri', 'dstUriBeforeMap'];

function timeValue(v: unknown): number {
  if (typeof v === 'number') return v;
  return typeof v === 'string' && v !== '' ? Date.parse(v) : Number.NaN;
}

function matches(q: CdrQuery, get: FieldOf): boolean {
  const rel = timeValue(get('releaseTime'));
  const t = Number.isFinite(rel) ? rel : timeValue(get('recordTime'));
  if ((q.from !== undefined || q.to !== undefined) && !Number.isFinite(t)) return false;
  if (q.from !== undefined && t < q.from) return false;
  if (q.to !== undefined && t > q.to) return false;
  const has = (keys: string[], needle: string | undefined): boolean => {
    if (needle === undefined || needle === '') return true;
    const n = needle.toLowerCase();
    return keys.some((k) => String(get(k) ?? '').toLowerCase().includes(n));
  };
  if (!has(CALLER_KEYS, q.caller) || !has(CALLEE_KEYS, q.callee)) return false;
  if (q.ipGroup !== undefined && q.ipGroup !== '') {
    const g = q.ipGroup.toLowerCase();
    if (!['srcIpGroup', 'dstIpGroup'].some((k) => String(get(k) ?? '').toLowerCase() === g)) return false;
  }
  if (q.result !== undefined && q.result !== '') {
    const connect = get('connectTime');
    const answered = connect !== null && connect !== undefined && connect !== '';
    const r = q.result.toLowerCase();
    if (r === 'answered') return answered;
    if (r === 'unanswered') return !answered;
    if (/^\d{3}$/.test(r)) return String(get('sipStatus') ?? '') === r;
    return String(get('terminationCategory') ?? '').toLowerCase() === r;
  }
  return true;
}

const timeOf = (r: CdrRecord): number => r.releaseTime ?? r.recordTime;

function ringField(r: CdrRecord): FieldOf {
  const stream = streamsOf(r)[0] ?? null;
  return (key) => {
    try {
      return findCdrField(key)?.get(r, stream) ?? null;
    } catch {
      return null;
    }
  };
}

/** The caller's or callee's user part: its own column, else taken from the URI column (the default file columns have only URIs). */
export function partyUser(get: FieldOf, side: 'caller' | 'callee'): string | null {
  const user = get(side === 'caller' ? 'callerUser' : 'calleeUser');
  if (typeof user === 'string' && user !== '') return user;
  const uri = get(side === 'caller' ? 'srcUri' : 'dstUri') ?? get(side === 'caller' ? 'srcUriBeforeMap' : 'dstUriBeforeMap');
  if (typeof uri !== 'string' || uri === '') return null;
  return /^(?:sips?|tel):([^@;>]+)/.exec(uri)?.[1] ?? uri;
}

/** A row of queryCdrs (a ring record or a file row) read by field key. */
export function rowFields(row: CdrRow, archive: CdrArchive | null): FieldOf {
  if (typeof row['sessionId'] === 'string' && typeof row['legA'] === 'object') return ringField(row as unknown as CdrRecord);
  const titles = new Map((archive?.columns ?? []).map((c) => [c.field.key, c.title]));
  return (key) => {
    const title = titles.get(key);
    return title === undefined ? null : row[title];
  };
}

export async function queryCdrs(q: CdrQuery, ring: readonly CdrRecord[], archive: CdrArchive | null): Promise<CdrRow[]> {
  const out: CdrRow[] = [];
  const seen = new Set<string>();
  // Matches to skip (paging) count like results until `offset` of them were passed.
  const want = (q.offset ?? 0) + q.limit;
  for (let i = ring.length - 1; i >= 0 && out.length < want; i--) {
    const r = ring[i]!;
    seen.add(`${r.sessionId}|${r.reportType}`);
    if (matches(q, ringField(r))) out.push(r as unknown as CdrRow);
  }
  const oldest = ring.length > 0 ? timeOf(ring[0]!) : Number.POSITIVE_INFINITY;
  const ringCovers = q.from !== undefined && q.from >= oldest;
  if (out.length < want && !ringCovers && archive !== null) await readArchive(q, want, archive, seen, out);
  return out.slice(q.offset ?? 0);
}

function titleOf(cols: readonly CdrColumn[], key: string): string | null {
  return cols.find((c) => c.field.key === key)?.title ?? null;
}

async function readArchive(q: CdrQuery, want: number, archive: CdrArchive, seen: Set<string>, out: CdrRow[]): Promise<void> {
  const cols = archive.columns;
  const titles = new Map(cols.map((c) => [c.field.key, c.title]));
  const tSession = titleOf(cols, 'sessionId');
  const tType = titleOf(cols, 'reportType');
  for (const file of await archive.files()) {
    // Within a file records are oldest first: collect the file's matches, then take them newest first.
    const rows = await readRows(file, archive.format).catch(() => [] as CdrRow[]);
    for (let i = rows.length - 1; i >= 0 && out.length < want; i--) {
      const row = rows[i]!;
      const key = tSession !== null && tType !== null ? `${String(row[tSession])}|${String(row[tType])}` : null;
      if (key !== null && seen.has(key)) continue;
      if (key !== null) seen.add(key);
      if (tType !== null && row[tType] !== 'CALL_END' && row[tType] !== 'DIALOG_END') continue;
      const get: FieldOf = (k) => {
        const title = titles.get(k);
        return title === undefined ? null : row[title];
      };
      if (matches(q, get)) out.push(row);
    }
    if (out.length >= want) return;
  }
}

async function readRows(file: string, format: 'csv' | 'jsonl'): Promise<CdrRow[]> {
  const input = createReadStream(file);
  const stream = file.endsWith('.gz') ? input.pipe(createGunzip()) : input;
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  const rows: CdrRow[] = [];
  let header: string[] | null = null;
  try {
    for await (const line of rl) {
      if (line === '') continue;
      if (format === 'jsonl') {
        try {
          const v: unknown = JSON.parse(line);
          if (typeof v === 'object' && v !== null) rows.push(v as CdrRow);
        } catch {
          // a torn last line after a crash
        }
        continue;
      }
      const cells = parseCsvLine(line);
      if (header === null) {
        header = cells;
        continue;
      }
      const row: CdrRow = {};
      header.forEach((h, i) => (row[h] = cells[i] ?? ''));
      rows.push(row);
    }
  } finally {
    rl.close();
    input.destroy();
  }
  return rows;
}
