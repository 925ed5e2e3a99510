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
import type { CallBackend, CallLadderView, CallListPage, CallListQuery } from '../api/call-routes.js';
import type { Logger } from '../util/logger.js';
import { callLadder, callTimes, type CallLadder } from './call-ladder.js';
import type { LiveQoe } from './live-qoe.js';

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
        if (!rowMatches(row, needle)) continue;
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
      return endLiveCall(d.calls(), id, by);
    },
  };
}

/** A list row matches a lower-case needle: a substring of its id, state, IP Groups, Call-ID, From or To. */
function rowMatches(row: Record<string, unknown>, needle: string): boolean {
  if (needle === '') return true;
  return [row['id'], row['state'], row['srcIpGroup'], row['dstIpGroup'], row['legACallId'], row['from'], row['to']]
    .some((v) => typeof v === 'string' && v.toLowerCase().includes(needle));
}

/** Ends a live call with BYE/CANCEL on both legs, on the call's own queue like its other events; false when not live here. */
export function endLiveCall(calls: Iterable<Call>, id: string, by: string): boolean {
  for (const c of calls) {
    if (c.id !== id) continue;
    if (c.ended) return false;
    c.enqueue('operator-end', () => c.terminate('sbc', `ended by operator ${by}`));
    return true;
  }
  return false;
}

/** The SIP worker threads (docs/performance.md), asked for their calls when there are any. */
export interface WorkerCalls {
  ask(method: 'calls' | 'ladder' | 'end', arg?: string): Promise<unknown[]>;
}

/**
 * The API's call routes over this thread's calls and, with SIP worker
 * threads, theirs: their lists are read whole (each worker computes its
 * own rows), filtered and paged here; a ladder or an end request goes to
 * the workers when the call is not live (or recently ended) here.
 */
export function callBackend(views: CallViews, workers: WorkerCalls | null, privacy: () => Pseudonymiser | null, log: Logger): CallBackend {
  const list = async (q: CallListQuery): Promise<CallListPage> => {
    if (workers === null) return views.list(q);
    const p = privacy();
    const hide = (v: unknown): unknown => (p === null || typeof v !== 'string' ? v : p.header(v));
    const needle = (q.q ?? '').trim().toLowerCase();
    const own = views.list(q.q !== undefined ? { q: q.q } : {}).calls;
    const theirs = (await workers.ask('calls')).flatMap((l) => (Array.isArray(l) ? (l as Array<Record<string, unknown>>) : []))
      .map((c) => ({ ...c, from: hide(c['from']), to: hide(c['to']) }))
      .filter((c) => rowMatches(c, needle));
    const all = [...own, ...theirs];
    const offset = q.offset ?? 0;
    return { total: all.length, calls: all.slice(offset, offset + (q.limit ?? all.length)) };
  };
  return {
    calls: async () => (await list({})).calls,
    callList: list,
    callLadder: async (id) => {
      const own = views.view(id);
      // A worker's ladder is not pseudonymised: with PrivacyPseudonymizationKey set only the main thread's are shown.
      if (own !== null || workers === null || privacy() !== null) return own;
      const theirs = (await workers.ask('ladder', id)).find((l) => l !== null && typeof l === 'object');
      return theirs === undefined ? null : { ...(theirs as CallLadderView), ended: false, media: [] };
    },
    endCall: async (id, by) => {
      let ended = views.end(id, by);
      if (!ended && workers !== null) ended = (await workers.ask('end', `${id}\n${by}`)).some((v) => v === true);
      if (ended) log.info({ callId: id, by }, 'call ended through the API');
      return ended;
    },
  };
}
