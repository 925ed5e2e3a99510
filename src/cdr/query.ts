/**
 * GET /api/v1/cdrs: the newest end records matching a time window and a
 * caller, from the in-memory ring first, then from the local CDR files
 * (current file, then rotated .gz files, newest first) when the ring does
 * not reach far enough back.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { parseCsvLine, type CdrColumn } from './format.js';
import type { CdrRecord } from './model.js';

export interface CdrQuery {
  /** Epoch ms, inclusive; matched against the release time (else the record time). */
  from?: number;
  to?: number;
  /** Substring of the caller's user part or URI, before or after manipulation. */
  caller?: string;
  limit: number;
}

/** Local files to read beyond the ring, and how they are laid out. */
export interface CdrArchive {
  files(): Promise<string[]>;
  format: 'csv' | 'jsonl';
  columns: readonly CdrColumn[];
}

export type CdrRow = Record<string, unknown>;

const timeOf = (r: CdrRecord): number => r.releaseTime ?? r.recordTime;

function ringMatches(q: CdrQuery, r: CdrRecord): boolean {
  const t = timeOf(r);
  if (q.from !== undefined && t < q.from) return false;
  if (q.to !== undefined && t > q.to) return false;
  if (q.caller !== undefined && q.caller !== '') {
    const c = q.caller.toLowerCase();
    const hay = [r.caller.user, r.caller.uri, r.callerBeforeMap.user, r.callerBeforeMap.uri];
    if (!hay.some((h) => h.toLowerCase().includes(c))) return false;
  }
  return true;
}

export async function queryCdrs(q: CdrQuery, ring: readonly CdrRecord[], archive: CdrArchive | null): Promise<CdrRow[]> {
  const out: CdrRow[] = [];
  const seen = new Set<string>();
  for (let i = ring.length - 1; i >= 0 && out.length < q.limit; i--) {
    const r = ring[i]!;
    seen.add(`${r.sessionId}|${r.reportType}`);
    if (ringMatches(q, r)) out.push(r as unknown as CdrRow);
  }
  const oldest = ring.length > 0 ? timeOf(ring[0]!) : Number.POSITIVE_INFINITY;
  const ringCovers = q.from !== undefined && q.from >= oldest;
  if (out.length >= q.limit || ringCovers || archive === null) return out;
  await readArchive(q, archive, seen, out);
  return out;
}

function titleOf(cols: readonly CdrColumn[], key: string): string | null {
  return cols.find((c) => c.field.key === key)?.title ?? null;
}

async function readArchive(q: CdrQuery, archive: CdrArchive, seen: Set<string>, out: CdrRow[]): Promise<void> {
  const cols = archive.columns;
  const tRelease = titleOf(cols, 'releaseTime');
  const tRecord = titleOf(cols, 'recordTime');
  const tSession = titleOf(cols, 'sessionId');
  const tType = titleOf(cols, 'reportType');
  const callerTitles = ['callerUser', 'callerUserBeforeMap', 'srcUri', 'srcUriBeforeMap']
    .map((k) => titleOf(cols, k)).filter((t): t is string => t !== null);
  const matches = (row: CdrRow): boolean => {
    const tv = (tRelease !== null ? row[tRelease] : null) ?? (tRecord !== null ? row[tRecord] : null);
    const t = typeof tv === 'string' && tv !== '' ? Date.parse(tv) : Number.NaN;
    if ((q.from !== undefined || q.to !== undefined) && !Number.isFinite(t)) return false;
    if (q.from !== undefined && t < q.from) return false;
    if (q.to !== undefined && t > q.to) return false;
    if (q.caller !== undefined && q.caller !== '') {
      const c = q.caller.toLowerCase();
      if (!callerTitles.some((k) => String(row[k] ?? '').toLowerCase().includes(c))) return false;
    }
    return true;
  };
  for (const file of await archive.files()) {
    // Within a file records are oldest first: collect the file's matches, then take them newest first.
    const rows = await readRows(file, archive.format).catch(() => [] as CdrRow[]);
    for (let i = rows.length - 1; i >= 0 && out.length < q.limit; i--) {
      const row = rows[i]!;
      const key = tSession !== null && tType !== null ? `${String(row[tSession])}|${String(row[tType])}` : null;
      if (key !== null && seen.has(key)) continue;
      if (key !== null) seen.add(key);
      if (tType !== null && row[tType] !== 'CALL_END' && row[tType] !== 'DIALOG_END') continue;
      if (matches(row)) out.push(row);
    }
    if (out.length >= q.limit) return;
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
