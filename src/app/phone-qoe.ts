/**
 * RFC 6035 reports from phones: a PUBLISH with `Event: vq-rtcpxr` and an
 * `application/vq-rtcpxr` body, from a classified source, is consumed by
 * the SBC (answered 200, RFC 3903 §6: with SIP-ETag and Expires) when
 * `QOEAcceptPublish` is 1 (the default; 0 relays it by IP2IPRouting like
 * any PUBLISH). Its metrics are folded into the report of the call whose
 * leg has the body's CallID:
 *  - call still up: kept, shown by GET /api/v1/calls, and folded into the
 *    call's end CDR (and so into the QoE feeds);
 *  - call ended (phones usually report at hang-up): folded into the end
 *    record the SBC still holds in memory (GET /api/v1/cdrs); the sinks
 *    already had it;
 *  - no such call: answered 200 all the same, counted, not kept.
 * The phone's LocalMetrics (what it received: what the SBC sent it on that
 * leg) become that leg's `tx` direction, which otherwise only RTCP RR
 * fills.
 */
import { randomBytes } from 'node:crypto';
import type { ServerTransactionRef } from '../b2bua/ports.js';
import { emptyMediaDirection, type CdrMediaLeg, type CdrMediaStream, type CdrRecord } from '../cdr/model.js';
import { mediaDirectionFromVq } from '../qoe/feed.js';
import { parseVqRtcpXr, type VqReport } from '../qoe/vq-rtcpxr.js';
import type { SipMessage } from '../sip/message.js';
import { createResponse, newTag } from '../sip/response.js';
import type { Logger } from '../util/logger.js';

/** Reports kept for calls still up: bounded in number and age. */
const MAX_KEPT = 10_000;
const KEEP_MS = 4 * 3600_000;
/** Expires granted (RFC 3903 §6 step 7): a report is one publication, not a state to refresh. */
const DEFAULT_EXPIRES = 3600;

export interface PhoneQoeDeps {
  readonly enabled: () => boolean;
  /** True when a live call has a leg with this Call-ID. */
  readonly isLiveLeg: (callId: string) => boolean;
  /** End records still in memory (the CDR ring). */
  readonly recent: () => readonly CdrRecord[];
  readonly log: Logger;
}

const emptyLeg = (): CdrMediaLeg => ({ rx: emptyMediaDirection(), tx: emptyMediaDirection(), localRtp: null, remoteRtp: null });

/** Folds one phone report into the leg of `record` it belongs to (by Call-ID); false when neither leg matches. */
export function foldPhoneReport(record: CdrRecord, vq: VqReport): boolean {
  const leg = record.legA.callId === vq.callId ? 'A' : record.legB.callId === vq.callId ? 'B' : null;
  return leg !== null && applyPhoneReport(record.media, leg, vq);
}

/** The phone on `leg` reported `vq`: its LocalMetrics become the leg's `tx` direction of the first stream (created if none). */
export function applyPhoneReport(media: CdrMediaStream[], leg: 'A' | 'B', vq: VqReport): boolean {
  const m = vq.local ?? vq.remote;
  if (m === null) return false;
  let s: CdrMediaStream | undefined = media[0];
  if (s === undefined) {
    s = { index: 0, media: 'audio', coder: m.payloadDesc, ptimeMs: m.frameDurationMs, srtp: false, A: emptyLeg(), B: emptyLeg(), verdict: null };
    media.push(s);
  }
  const before = s[leg].tx;
  s[leg].tx = { ...mediaDirectionFromVq(m, before.packets), bytes: before.bytes };
  return true;
}

export class PhoneQoeReports {
  private readonly kept = new Map<string, { at: number; report: VqReport }>();
  readonly counts = { received: 0, live: 0, ended: 0, unknown: 0, refused: 0 };

  constructor(private readonly deps: PhoneQoeDeps) {}

  /** True when the request was a vq-rtcpxr PUBLISH and has been answered. */
  handle(req: SipMessage, stx: ServerTransactionRef): boolean {
    if (req.method !== 'PUBLISH' || !this.deps.enabled()) return false;
    const event = (req.getHeader('event') ?? '').split(';')[0]!.trim().toLowerCase();
    if (event !== 'vq-rtcpxr') return false;
    const type = (req.getHeader('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/vq-rtcpxr') {
      this.counts.refused++;
      this.answer(stx, req, 415, [['Accept', 'application/vq-rtcpxr']]);
      return true;
    }
    const vq = parseVqRtcpXr(req.body.toString('utf8'));
    if (vq === null) {
      this.counts.refused++;
      this.answer(stx, req, 400, [], 'Bad vq-rtcpxr Body');
      return true;
    }
    this.counts.received++;
    const expires = Number.parseInt(req.getHeader('expires') ?? '', 10);
    this.answer(stx, req, 200, [
      ['SIP-ETag', randomBytes(8).toString('hex')], ['Expires', String(Number.isFinite(expires) && expires >= 0 ? Math.min(expires, DEFAULT_EXPIRES) : DEFAULT_EXPIRES)],
    ]);
    this.take(vq);
    return true;
  }

  private take(vq: VqReport): void {
    if (this.deps.isLiveLeg(vq.callId)) {
      this.counts.live++;
      this.keep(vq);
      return;
    }
    const ended = this.deps.recent().find((r) => r.legA.callId === vq.callId || r.legB.callId === vq.callId);
    if (ended !== undefined && foldPhoneReport(ended, vq)) {
      this.counts.ended++;
      this.deps.log.info({ sessionId: ended.sessionId, callId: vq.callId }, 'phone QoE report folded into an ended call');
      return;
    }
    this.counts.unknown++;
    this.deps.log.debug({ callId: vq.callId }, 'phone QoE report for no known call');
  }

  private keep(vq: VqReport): void {
    const now = Date.now();
    this.kept.delete(vq.callId);
    this.kept.set(vq.callId, { at: now, report: vq });
    for (const [k, v] of this.kept) {
      if (this.kept.size <= MAX_KEPT && now - v.at < KEEP_MS) break;
      this.kept.delete(k);
    }
  }

  /** The latest report a phone sent for this Call-ID (a live call's leg). */
  latest(callId: string | null): VqReport | null {
    return callId === null ? null : this.kept.get(callId)?.report ?? null;
  }

  /** At the call's end: its phones' reports go into its record, and are forgotten. */
  fold(record: CdrRecord): void {
    if (record.reportType !== 'CALL_END') return;
    for (const id of [record.legA.callId, record.legB.callId]) {
      const vq = this.latest(id);
      if (vq === null) continue;
      foldPhoneReport(record, vq);
      this.kept.delete(id!);
    }
  }

  private answer(stx: ServerTransactionRef, req: SipMessage, status: number, headers: Array<[string, string]>, reason?: string): void {
    const res = createResponse(req, status, reason, newTag());
    for (const [k, v] of headers) res.setHeader(k, v);
    stx.respond(res);
  }
}
