/**
 * The call's outcome as it happens (times, who ended it and why, routing
 * attempts) and the call detail record built from it when the call ends.
 */
import { flatString } from '../util/flat-string.js';
import { sharedMethod } from './compact.js';
import type { CallDetail, CallDetailRecord, CallParty, TerminationSide, TimelineEvent } from '../cdr/record.js';
import { parseNameAddr } from '../sip/grammar.js';
import type { SipMessage } from '../sip/message.js';
import { userOf } from './headers.js';

const TIMELINE_LIMIT = 200;

export class CallOutcome {
  readonly setupTime = Date.now();
  private connected: number | null = null;
  private ended: number | null = null;
  private side: TerminationSide = 'sbc';
  private reason = '';
  /** Routing attempt of the current leg-B INVITE (0 = first route). */
  private attemptNow = 0;
  private redirectCount = 0;
  private alerted: number | null = null;
  private route: string | null = null;
  private redirectTo: string | null = null;
  private finalReason = '';

  get connectTime(): number | null {
    return this.connected;
  }

  get attempt(): number {
    return this.attemptNow;
  }

  get redirects(): number {
    return this.redirectCount;
  }

  get terminationReason(): string {
    return this.reason;
  }

  /** The first reason given wins: later ones are consequences of it. */
  noteTermination(side: TerminationSide, reason: string): void {
    if (this.reason !== '') return;
    this.side = side;
    this.reason = reason;
  }

  /** The reason, when none was given before (the side stays as it is). */
  noteReason(reason: string): void {
    if (this.reason === '') this.reason = reason;
  }

  /** Who ends the call when no reason was given before (a failed route names leg B). */
  noteSide(side: TerminationSide): void {
    if (this.reason === '') this.side = side;
  }

  noteAttempt(n: number): void {
    this.attemptNow = n;
  }

  noteRedirect(): void {
    this.redirectCount++;
  }

  /** The first 18x went to the caller (Mediant's alert time). */
  noteAlert(): void {
    if (this.alerted === null) this.alerted = Date.now();
  }

  noteRoute(ruleName: string | null): void {
    this.route = ruleName;
  }

  noteRedirectTo(uri: string): void {
    this.redirectTo = uri;
  }

  /** Reason phrase of the final response to the caller. */
  noteFinalReason(reason: string): void {
    this.finalReason = reason;
  }

  get alertTime(): number | null {
    return this.alerted;
  }

  get routeName(): string | null {
    return this.route;
  }

  get redirectUri(): string | null {
    return this.redirectTo;
  }

  get sipReason(): string {
    return this.finalReason;
  }

  markConnected(): void {
    this.connected = Date.now();
  }

  markEnded(): void {
    this.ended = Date.now();
  }

  /** The record for the CDR sinks. */
  toRecord(call: CdrSource, qoe: unknown): CallDetailRecord {
    const end = this.ended ?? Date.now();
    const rec: CallDetailRecord = {
      callId: call.id,
      legACallId: call.inviteA.callId,
      legBCallId: call.legBCallId,
      srcIpGroup: call.srcIpGroupName,
      dstIpGroup: call.dstIpGroupName,
      caller: userOf(call.aReq.getHeader('from')),
      callee: userOf(call.aReq.requestUri) || userOf(call.aReq.getHeader('to')),
      setupTime: new Date(this.setupTime).toISOString(),
      connectTime: this.connected === null ? null : new Date(this.connected).toISOString(),
      endTime: new Date(end).toISOString(),
      durationSec: this.connected === null ? 0 : Math.round((end - this.connected) / 1000),
      terminationSide: this.side,
      terminationReason: this.reason,
      sipStatus: call.finalStatusToCaller,
      altRouteAttempts: this.attemptNow,
      redirects3xx: this.redirectCount,
      timeline: call.timeline.snapshot(end),
      detail: call.detail(),
    };
    if (qoe !== undefined) rec.qoe = qoe;
    return rec;
  }
}

/** What the record is built from. */
export interface CdrSource {
  readonly id: string;
  readonly inviteA: SipMessage;
  readonly aReq: SipMessage;
  readonly legBCallId: string | null;
  readonly srcIpGroupName: string;
  readonly dstIpGroupName: string | null;
  readonly finalStatusToCaller: number;
  readonly timeline: Timeline;
  detail(): CallDetail;
}

/** A From/To header value as a party (user, whole URI, display name). */
export function partyOfNameAddr(value: string | undefined): CallParty {
  const na = value === undefined ? null : parseNameAddr(value);
  if (na === null) return { user: userOf(value), uri: value ?? '', displayName: null };
  return { user: userOf(na.uri), uri: na.uri, displayName: na.displayName ?? null };
}

/** The called party of a request: its Request-URI, with the To header's display name. */
export function calleeOf(req: SipMessage): CallParty {
  const to = req.getHeader('to');
  const na = to === undefined ? null : parseNameAddr(to);
  return { user: userOf(req.requestUri) || userOf(to), uri: req.requestUri, displayName: na?.displayName ?? null };
}

/** Every message and event of the call, for the CDR and the call's ladder; bounded. */
export class Timeline {
  private readonly events: TimelineEvent[] = [];
  private dropped = 0;

  get list(): readonly TimelineEvent[] {
    return this.events;
  }

  record(leg: 'A' | 'B' | '-', dir: 'in' | 'out' | 'event', msg: SipMessage | null, note?: string): void {
    if (this.events.length >= TIMELINE_LIMIT) {
      this.dropped++;
      return;
    }
    // Events live as long as the call: shared method names, notes as standalone strings, and
    // each event made whole in one literal (a field added later goes to a separate array).
    const t = Date.now();
    const n = note === undefined ? undefined : flatString(note);
    let ev: TimelineEvent;
    if (msg === null) ev = n === undefined ? { t, leg, dir } : { t, leg, dir, note: n };
    else {
      const method = sharedMethod(msg.isRequest ? msg.method : msg.cseq?.method ?? msg.method);
      if (msg.isRequest) ev = n === undefined ? { t, leg, dir, method } : { t, leg, dir, method, note: n };
      else ev = n === undefined ? { t, leg, dir, method, status: msg.status } : { t, leg, dir, method, status: msg.status, note: n };
    }
    this.events.push(ev);
  }

  snapshot(end: number): TimelineEvent[] {
    return this.dropped > 0 ? [...this.events, { t: end, leg: '-', dir: 'event', note: `${this.dropped} events not recorded` }] : this.events;
  }
}
