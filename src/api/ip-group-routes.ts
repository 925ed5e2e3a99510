/**
 * GET /api/v1/ip-groups (Monitor): per IP Group and direction the
 * answer-seizure ratio (ASR), network effectiveness ratio (NER), average
 * call duration (ACD), average MOS and poor-call share over its last calls
 * (the same windows as the sbc_ip_group_* metrics), with the calls it has
 * up now. For the console's dashboard and for scripts.
 */
import type { FastifyInstance } from 'fastify';
import type { CallWindowSummary } from '../qoe/call-window.js';

/** One IP Group's window in one direction (in = calls from the group, out = calls to it). */
export type IpGroupFigures = CallWindowSummary & { ipGroup: string; direction: 'in' | 'out' };

export interface IpGroupBackend {
  windows(): IpGroupFigures[];
  /** Live calls per source IP Group (may ask worker threads). */
  active(): ReadonlyMap<string, number> | Promise<ReadonlyMap<string, number>>;
}

export function registerIpGroupRoutes(server: FastifyInstance, backend: IpGroupBackend): void {
  server.get('/api/v1/ip-groups', { config: { role: 'monitor' } }, async () => {
    const active = await backend.active();
    const rows = backend.windows().map((w) => ({ ...w, activeCalls: w.direction === 'in' ? (active.get(w.ipGroup) ?? 0) : null }));
    // A group with calls up but none ended yet has no window: it still shows.
    for (const [ipGroup, n] of active) {
      if (!rows.some((r) => r.ipGroup === ipGroup && r.direction === 'in')) {
        rows.push({ ipGroup, direction: 'in', calls: 0, asr: null, ner: null, acdSec: null, avgMos: null, poorRatio: null, activeCalls: n });
      }
    }
    return rows.sort((a, b) => a.ipGroup.localeCompare(b.ipGroup) || a.direction.localeCompare(b.direction));
  });
}
