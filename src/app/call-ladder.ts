/**
 * A live call as the web console's Calls page and ladder see it (GET
 * /api/v1/calls, GET /api/v1/calls/:id/ladder): both legs' messages from
 * the timeline the engine records (b2bua/cdr.ts Timeline), with the
 * numbers pseudonymised when SbcPseudonymKey is set, as in CDRs.
 */
import type { Call } from '../b2bua/call.js';
import type { CallLadderView } from '../api/call-routes.js';
import type { Pseudonymiser } from '../security/pseudonym.js';

/** A call's SIP ladder as the API shows it (the CDR's timeline, both legs). */
export type CallLadder = Pick<CallLadderView, 'id' | 'caller' | 'callee' | 'srcIpGroup' | 'dstIpGroup' | 'events'>;

/** When the call started and connected (ms since the epoch), for the call list's duration. */
export function callTimes(c: Call): { setupTime: number | null; connectTime: number | null } {
  return { setupTime: c.timeline.list[0]?.t ?? null, connectTime: c.outcome.connectTime };
}

export function callLadder(calls: Iterable<Call>, id: string, p: Pseudonymiser | null): CallLadder | null {
  for (const c of calls) {
    if (c.id !== id) continue;
    const from = c.inviteA.getHeader('from') ?? '';
    const to = c.inviteA.getHeader('to') ?? '';
    return {
      id: c.id, srcIpGroup: c.src.name, dstIpGroup: c.dst?.name ?? null,
      caller: p === null ? from : p.header(from), callee: p === null ? to : p.header(to),
      // Notes may quote numbers (routing decisions): left out under pseudonymisation.
      events: p === null ? c.timeline.list : c.timeline.list.map((e) => ({ t: e.t, leg: e.leg, dir: e.dir, ...(e.method !== undefined ? { method: e.method } : {}), ...(e.status !== undefined ? { status: e.status } : {}) })),
    };
  }
  return null;
}
