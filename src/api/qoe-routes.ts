/**
 * GET /api/v1/qoe/summary?from=&to=&bucketMin=  (Monitor; docs/qoe.md, docs/console.md)
 *
 * Call quality over time per IP Group, computed when asked from the CDRs
 * (the in-memory ring, then the local CDR files; at most 10,000 calls): per
 * group the calls with a MOS, the MOS distribution in ITU-T G.107 Annex B
 * user-satisfaction bands, the share of poor calls (QoE verdict red or
 * yellow) per time bucket, and the newest red/yellow calls. A call counts
 * for both its IP Groups. Nothing is kept per call for this: it costs
 * only when someone looks.
 */
import type { FastifyInstance } from 'fastify';
import { partyUser, queryCdrs, rowFields } from '../cdr/query.js';
import type { CdrApiSource } from './cdr-routes.js';

/** G.107 Annex B: MOS 4.34 / 4.03 / 3.60 / 3.10 / 2.58 separate very satisfied ... nearly all dissatisfied. */
export const MOS_BANDS = [
  { label: '< 2.58', min: 0 }, { label: '2.58–3.10', min: 2.58 }, { label: '3.10–3.60', min: 3.1 },
  { label: '3.60–4.03', min: 3.6 }, { label: '4.03–4.34', min: 4.03 }, { label: '≥ 4.34', min: 4.34 },
] as const;

interface GroupSummary {
  ipGroup: string;
  calls: number;
  /** Calls with a MOS. */
  measured: number;
  poor: number;
  mosHistogram: number[];
  buckets: Array<{ t: number; calls: number; poor: number; mosSum: number; mosCount: number }>;
}

export interface PoorCall {
  sessionId: string;
  time: number;
  srcIpGroup: string | null;
  dstIpGroup: string | null;
  caller: string;
  callee: string;
  mos: number | null;
  verdict: string;
}

const num = (v: unknown): number | null => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : null;
};
const time = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Date.parse(v) : Number.NaN);

export function registerQoeRoutes(server: FastifyInstance, source: () => CdrApiSource | null): void {
  server.get<{ Querystring: { from?: string; to?: string; bucketMin?: string } }>('/api/v1/qoe/summary', { config: { role: 'monitor' } }, async (req, reply) => {
    const src = source();
    if (src === null) return reply.code(404).send({ error: 'CDRs are not enabled' });
    const now = Date.now();
    const to = req.query.to !== undefined && req.query.to !== '' ? time(/^\d+$/.test(req.query.to) ? Number(req.query.to) : req.query.to) : now;
    const from = req.query.from !== undefined && req.query.from !== '' ? time(/^\d+$/.test(req.query.from) ? Number(req.query.from) : req.query.from) : to - 24 * 3600_000;
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) return reply.code(400).send({ error: 'from/to must be ISO 8601 or epoch milliseconds, from before to' });
    const bucketMin = req.query.bucketMin !== undefined ? Number(req.query.bucketMin) : Math.max(1, Math.ceil((to - from) / 60_000 / 24));
    if (!Number.isInteger(bucketMin) || bucketMin < 1 || (to - from) / (bucketMin * 60_000) > 1000) return reply.code(400).send({ error: 'bucketMin must be a whole number of minutes, at most 1000 buckets' });
    const bucketMs = bucketMin * 60_000;
    const rows = await queryCdrs({ from, to, limit: 10_000 }, src.recent(), src.archive);
    const groups = new Map<string, GroupSummary>();
    const nBuckets = Math.ceil((to - from) / bucketMs);
    const groupOf = (name: string): GroupSummary => {
      let g = groups.get(name);
      if (g === undefined) {
        g = {
          ipGroup: name, calls: 0, measured: 0, poor: 0, mosHistogram: MOS_BANDS.map(() => 0),
          buckets: Array.from({ length: nBuckets }, (_, i) => ({ t: from + i * bucketMs, calls: 0, poor: 0, mosSum: 0, mosCount: 0 })),
        };
        groups.set(name, g);
      }
      return g;
    };
    const poorCalls: PoorCall[] = [];
    for (const row of rows) {
      const get = rowFields(row, src.archive);
      if (String(get('method') ?? 'INVITE') !== 'INVITE') continue;
      const t = Number.isFinite(time(get('releaseTime'))) ? time(get('releaseTime')) : time(get('recordTime'));
      if (!Number.isFinite(t)) continue;
      const mos = num(get('mos'));
      const verdict = String(get('qoeVerdict') ?? '');
      const poor = verdict === 'red' || verdict === 'yellow';
      const srcGroup = get('srcIpGroup');
      const dstGroup = get('dstIpGroup');
      const names = new Set([srcGroup, dstGroup].filter((v): v is string => typeof v === 'string' && v !== ''));
      const b = Math.min(nBuckets - 1, Math.max(0, Math.floor((t - from) / bucketMs)));
      for (const name of names) {
        const g = groupOf(name);
        const bucket = g.buckets[b]!;
        g.calls++;
        bucket.calls++;
        if (poor) {
          g.poor++;
          bucket.poor++;
        }
        if (mos !== null) {
          g.measured++;
          bucket.mosSum += mos;
          bucket.mosCount++;
          let band = 0;
          for (let i = 0; i < MOS_BANDS.length; i++) if (mos >= MOS_BANDS[i]!.min) band = i;
          g.mosHistogram[band]!++;
        }
      }
      if (poor && poorCalls.length < 100) {
        poorCalls.push({
          sessionId: String(get('sessionId') ?? ''), time: t, srcIpGroup: typeof srcGroup === 'string' ? srcGroup : null, dstIpGroup: typeof dstGroup === 'string' ? dstGroup : null,
          caller: partyUser(get, 'caller') ?? '', callee: partyUser(get, 'callee') ?? '', mos, verdict,
        });
      }
    }
    return {
      from, to, bucketMs, calls: rows.length, truncated: rows.length >= 10_000, bands: MOS_BANDS.map((b) => b.label),
      groups: [...groups.values()].sort((a, b) => a.ipGroup.localeCompare(b.ipGroup)).map((g) => ({
        ipGroup: g.ipGroup, calls: g.calls, measured: g.measured, poor: g.poor, mosHistogram: g.mosHistogram,
        buckets: g.buckets.map((x) => ({ t: x.t, calls: x.calls, poor: x.poor, mos: x.mosCount > 0 ? Math.round((x.mosSum / x.mosCount) * 100) / 100 : null })),
      })),
      poorCalls,
    };
  });
}
