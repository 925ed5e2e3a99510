/**
 * GET /api/v1/cdrs?from=&to=&caller=&limit=
 *
 * from/to: ISO 8601 or epoch milliseconds (inclusive, matched against the
 * release time); caller: substring of the caller's user or URI, before or
 * after manipulation; limit: 1..1000 (default 100). Newest first: the
 * in-memory ring (full records), then the local CDR files (their columns).
 */
import type { FastifyInstance } from 'fastify';
import type { CdrRecord } from '../cdr/model.js';
import { queryCdrs, type CdrArchive, type CdrQuery } from '../cdr/query.js';

export interface CdrApiSource {
  recent(): readonly CdrRecord[];
  archive: CdrArchive | null;
}

function parseTime(v: string | undefined): number | undefined | null {
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

export function registerCdrRoutes(server: FastifyInstance, source: () => CdrApiSource | null): void {
  server.get<{ Querystring: { from?: string; to?: string; caller?: string; limit?: string } }>('/api/v1/cdrs', { config: { role: 'monitor' } }, async (req, reply) => {
    const src = source();
    if (src === null) return reply.code(404).send({ error: 'CDRs are not enabled' });
    const from = parseTime(req.query.from);
    const to = parseTime(req.query.to);
    if (from === null || to === null) return reply.code(400).send({ error: 'from/to must be ISO 8601 or epoch milliseconds' });
    const limitText = req.query.limit ?? '100';
    const limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!(limit >= 1 && limit <= 1000)) return reply.code(400).send({ error: 'limit must be 1..1000' });
    const q: CdrQuery = { limit };
    if (from !== undefined) q.from = from;
    if (to !== undefined) q.to = to;
    if (req.query.caller !== undefined && req.query.caller !== '') q.caller = req.query.caller.slice(0, 128);
    const records = await queryCdrs(q, src.recent(), src.archive);
    return { count: records.length, records };
  });
}
