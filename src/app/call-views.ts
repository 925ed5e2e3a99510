/**
 * Calls as the REST API and the web console see them (docs/console.md):
 * the live list, filtered and paged before the costly part (each listed
 * call's live QoE) is computed; a call's ladder and media statistics, live
 * or recently ended (the timelines the CDR fan-out keeps of the last calls);
 * and ending a call for an operator.
 *
 * Nothing here runs per call by itself: every function works only when an
 * API client (or an open console) asks.
 */
import type { Call } from '../b2bua/call.js';
import type { CdrMediaStream, CdrRecord } from '../cdr/model.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { Pseudonymiser } from '../security/pseudonym.js';
import type { CallListQuery } from '../api/call-routes.js';
import { callLadder, callTimes, type CallLadder } from './call-ladder.js';
import type { LiveQoe } from './live-qoe.js';

export interface CallListPage {
  /** Calls matching the filter (before paging). */
  total: number;
  calls: unknown[];
}

/** A call's ladder with its media statistics; `ended` when it comes from the timeline of an ended call. */
export interface CallView extends CallLadder {
  ended: boolean;
  state: string;
  media: CdrMediaStream[];
  /** For an ended call: its final status and why it ended. */
  sipStatus?: number;
  terminationReason?: string;
}

export interface CallViewDeps {
  calls: () => Iterable<Call>;
  privacy: () => Pseudonymiser | null;
  qoe: (c: Call) => LiveQoe | null;
  /** Recently ended calls with their timelines (already redacted for privacy), oldest first. */
  ended: () => readonly CallDetailRecord[];
  /** Recent end records (with their judged media), oldest first. */
  endRecords: () => readonly CdrRecord[];
}

export interface CallViews {
  list(q: CallListQuery): CallListPage;
  view(id: string): CallView | null;
  /** Ends a live call with BYE/CANCEL on both legs (the engine's terminate); false when there is no such call. */
  end(id: string, by: string): boolean;
}

export function createCallViews(d: CallViewDeps): CallViews {
  const find = (id: string): Call | null => {
    for (const c of d.calls()) if (c.id === id) return c;
    return null;
  };
  return {
    list(q) {
      const p = d.privacy();
      const hide = (v: string | undefined): string | undefined => (p === null || v === undefined ? v : p.header(v));
      const needle = (q.q ?? '').trim().toLowerCase();
      const offset = q.offset ?? 0;
      const limit = q.limit ?? Number.POSITIVE_INFINITY;
      const page: Array<{ c: Call; row: Record<string, unknown> }> = [];
      let total = 0;
      for (const c of d.calls()) {
        const row = {
          id: c.id, state: c.state, srcIpGroup: c.src.name, dstIpGroup: c.dst?.name ?? null,
          legACallId: c.inviteA.callId, from: hide(c.inviteA.getHeader('from')), to: hide(c.inviteA.getHeader('to')),
        };
        if (needle !== '' && ![row.id, row.state, row.srcIpGroup, row.dstIpGroup, row.legACallId, row.from, row.to]
          .some((v) => typeof v === 'string' && v.toLowerCase().includes(needle))) continue;
        if (total >= offset && page.length < limit) page.push({ c, row });
        total++;
      }
      // The QoE of the listed calls only: with thousands of calls a page costs what it shows.
      return { total, calls: page.map(({ c, row }) => ({ ...row, qoe: d.qoe(c), ...callTimes(c) })) };
    },
    view(id) {
      const live = find(id);
      if (live !== null) {
        const ladder = callLadder([live], id, d.privacy());
        return ladder === null ? null : { ...ladder, ended: false, state: live.state, media: d.qoe(live)?.streams ?? [] };
      }
      const ended = [...d.ended()].reverse().find((r) => r.callId === id);
      if (ended === undefined) return null;
      const end = [...d.endRecords()].reverse().find((r) => r.sessionId === id && r.reportType === 'CALL_END');
      return {
        id, caller: ended.caller, callee: ended.callee, srcIpGroup: ended.srcIpGroup, dstIpGroup: ended.dstIpGroup,
        events: ended.timeline, ended: true, state: 'ended', media: end?.media ?? [],
        sipStatus: ended.sipStatus, terminationReason: ended.terminationReason,
      };
    },
    end(id, by) {
      const c = find(id);
      if (c === null || c.ended) return false;
      // On the call's own queue, like every other event of the call (timers, requests).
      c.enqueue('operator-end', () => c.terminate('sbc', `ended by operator ${by}`));
      return true;
    },
  };
}
