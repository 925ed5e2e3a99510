/**
 * Live calls in the REST API (docs/console.md, docs/operations.md):
 *   GET    /api/v1/calls?q=&limit=&offset=   the live list (an array; X-Total-Count = matches before paging)
 *   GET    /api/v1/calls/:id/ladder          a call's SIP ladder and media statistics, live or recently ended
 *   DELETE /api/v1/calls/:id                 ends the call (BYE/CANCEL on both legs), Operator
 */
import type { FastifyInstance } from 'fastify';
import type { TimelineEvent } from '../cdr/record.js';

export interface CallListQuery {
  q?: string;
  limit?: number;
  offset?: number;
}

export interface CallLadderView {
  id: string;
  caller: string;
  callee: string;
  srcIpGroup: string | null;
  dstIpGroup: string | null;
  events: readonly TimelineEvent[];
  /** True when the call has ended (its timeline kept from the CDR). */
  ended?: boolean;
  /** Media statistics per stream (the CDR media shape, with the QoE verdict). */
  media?: readonly unknown[];
}

export interface CallListPage {
  /** Calls matching the filter (before paging). */
  total: number;
  calls: unknown[];
}

/** Each may answer at once or (with SIP worker threads, asking them) later. */
export interface CallBackend {
  /** Every live call (the list without paging); used when callList is absent. */
  calls(): unknown[] | Promise<unknown[]>;
  /** Filtered and paged, QoE computed for the page only. */
  callList?(q: CallListQuery): CallListPage | Promise<CallListPage>;
  /** A call's SIP ladder (its timeline, both legs); null = no such call (live or recently ended). */
  callLadder?(id: string): CallLadderView | null | Promise<CallLadderView | null>;
  /** Ends a live call; false = no such call. `by` names the API user, for the log and the timeline. */
  endCall?(id: string, by: string): boolean | Promise<boolean>;
}

const count = (v: string | undefined, max: number): number | null | undefined => {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) return null;
  const n = Number(v);
  return n <= max ? n : null;
};

export function registerCallRoutes(server: FastifyInstance, backend: CallBackend): void {
  server.get<{ Querystring: { q?: string; limit?: string; offset?: string } }>('/api/v1/calls', { config: { role: 'monitor' } }, async (req, reply) => {
    const limit = count(req.query.limit, 100_000);
    const offset = count(req.query.offset, 10_000_000);
    if (limit === null || limit === 0 || offset === null) return reply.code(400).send({ error: 'limit must be 1..100000 and offset a number' });
    const q: CallListQuery = {};
    if (req.query.q !== undefined && req.query.q !== '') q.q = req.query.q.slice(0, 128);
    if (limit !== undefined) q.limit = limit;
    if (offset !== undefined) q.offset = offset;
    let page: CallListPage;
    if (backend.callList !== undefined) page = await backend.callList(q);
    else {
      const all = await backend.calls();
      page = { total: all.length, calls: all.slice(q.offset ?? 0, (q.offset ?? 0) + (q.limit ?? all.length)) };
    }
    reply.header('x-total-count', String(page.total));
    return page.calls;
  });
  server.get<{ Params: { id: string } }>('/api/v1/calls/:id/ladder', { config: { role: 'monitor' } }, async (req, reply) => {
    const ladder = (await backend.callLadder?.(req.params.id)) ?? null;
    return ladder === null ? reply.code(404).send({ error: 'no live or recently ended call with this id' }) : ladder;
  });
  server.delete<{ Params: { id: string } }>('/api/v1/calls/:id', { config: { role: 'operator' } }, async (req, reply) => {
    if (backend.endCall === undefined) return reply.code(404).send({ error: 'calls cannot be ended here' });
    const ok = await backend.endCall(req.params.id, req.apiUser?.username ?? 'api');
    return ok ? { ended: req.params.id } : reply.code(404).send({ error: 'no live call with this id' });
  });
}
