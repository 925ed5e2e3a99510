/**
 * GET /api/v1/cdrs?from=&to=&caller=&callee=&ipGroup=&result=&offset=&limit=
 * GET /api/v1/cdrs.csv?(same)
 * `view=summary`: flat rows with the same keys from the ring and from files.
 *
 * from/to: ISO 8601 or epoch milliseconds (inclusive, matched against the
 * release time); caller/callee: substring of the party's user or URI,
 * before or after manipulation; ipGroup: either leg's IP Group; result:
 * answered, unanswered, a termination category or a final status (486);
 * offset: matches to skip (paging); limit: 1..1000 (default 100; the CSV
 * download up to 10000). Newest first: the in-memory ring (full records),
 * then the local CDR files (their columns).
 *
 * The CSV has the local CDR file's columns (SBCCDRFormat, else the
 * defaults), RFC 4180 quoting, one line per call (docs/cdr.md).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { csvCell, csvHeader, csvLine, defaultColumns, streamsOf } from '../cdr/format.js';
import type { CdrRecord } from '../cdr/model.js';
import { partyUser, queryCdrs, rowFields, type CdrArchive, type CdrQuery, type CdrRow } from '../cdr/query.js';

export interface CdrApiSource {
  recent(): readonly CdrRecord[];
  archive: CdrArchive | null;
}

interface CdrQueryString {
  from?: string; to?: string; caller?: string; callee?: string; ipGroup?: string; result?: string; offset?: string; limit?: string;
  /** `summary`: one flat object per call with the same keys whether it came from the ring or a file (the console's CDR page). */
  view?: string;
}

/** The keys of `view=summary` (CDR field keys, docs/cdr.md). */
const SUMMARY_KEYS = [
  'sessionId', 'reportType', 'method', 'callerUser', 'calleeUser', 'srcIpGroup', 'dstIpGroup', 'setupTime', 'connectTime', 'releaseTime',
  'durationMs', 'sipStatus', 'sipReason', 'terminationReason', 'terminationCategory', 'releaseSide', 'coder', 'mos', 'qoeVerdict',
] as const;

function parseTime(v: string | undefined): number | undefined | null {
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** The query, or the 400 message. */
function parseQuery(qs: CdrQueryString, maxLimit: number, defLimit: number): CdrQuery | string {
  const from = parseTime(qs.from);
  const to = parseTime(qs.to);
  if (from === null || to === null) return 'from/to must be ISO 8601 or epoch milliseconds';
  const limitText = qs.limit ?? String(defLimit);
  const limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
  if (!(limit >= 1 && limit <= maxLimit)) return `limit must be 1..${maxLimit}`;
  const offsetText = qs.offset ?? '0';
  const offset = /^\d+$/.test(offsetText) ? Number(offsetText) : Number.NaN;
  if (!(offset >= 0 && offset <= 100_000)) return 'offset must be 0..100000';
  const q: CdrQuery = { limit };
  if (offset > 0) q.offset = offset;
  if (from !== undefined) q.from = from;
  if (to !== undefined) q.to = to;
  for (const k of ['caller', 'callee', 'ipGroup', 'result'] as const) {
    const v = qs[k];
    if (v !== undefined && v !== '') q[k] = v.slice(0, 128);
  }
  return q;
}

function isRecord(row: CdrRow): row is CdrRow & CdrRecord {
  return typeof row['sessionId'] === 'string' && typeof row['legA'] === 'object';
}

export function registerCdrRoutes(server: FastifyInstance, source: () => CdrApiSource | null): void {
  const run = async (qs: CdrQueryString, reply: FastifyReply, maxLimit: number, defLimit: number): Promise<{ rows: CdrRow[]; src: CdrApiSource } | null> => {
    const src = source();
    if (src === null) {
      await reply.code(404).send({ error: 'CDRs are not enabled' });
      return null;
    }
    const q = parseQuery(qs, maxLimit, defLimit);
    if (typeof q === 'string') {
      await reply.code(400).send({ error: q });
      return null;
    }
    return { rows: await queryCdrs(q, src.recent(), src.archive), src };
  };
  server.get<{ Querystring: CdrQueryString }>('/api/v1/cdrs', { config: { role: 'monitor' } }, async (req, reply) => {
    const r = await run(req.query, reply, 1000, 100);
    if (r === null) return reply;
    if (req.query.view !== 'summary') return { count: r.rows.length, records: r.rows };
    const records = r.rows.map((row) => {
      const get = rowFields(row, r.src.archive);
      const o: Record<string, unknown> = {};
      for (const k of SUMMARY_KEYS) {
        const v = get(k);
        o[k] = v === undefined || v === '' ? null : v;
      }
      o['callerUser'] = partyUser(get, 'caller');
      o['calleeUser'] = partyUser(get, 'callee');
      return o;
    });
    return { count: records.length, records };
  });
  server.get<{ Querystring: CdrQueryString }>('/api/v1/cdrs.csv', { config: { role: 'monitor' } }, async (req, reply) => {
    const r = await run(req.query, reply, 10_000, 1000);
    if (r === null) return reply;
    const cols = r.src.archive?.columns ?? defaultColumns('call');
    let text = csvHeader(cols);
    for (const row of r.rows) {
      // Ring records are whole records; file rows already carry the columns' text.
      text += isRecord(row) ? csvLine(cols, row, streamsOf(row)[0] ?? null) : cols.map((c) => csvCell(stringOrNull(row[c.title]))).join(',') + '\n';
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="cdrs-${stamp}.csv"`).header('cache-control', 'no-store').send(text);
  });
}

function stringOrNull(v: unknown): string | null {
  return v === undefined || v === null ? null : String(v);
}
