/**
 * Bridges today's engine output to the new record: the engine's
 * CallDetailRecord (src/cdr/record.ts) and the QoE report built from the
 * relay counters (src/qoe/report.ts) become a CALL_END CdrRecord. Fields the
 * old record does not carry stay null until the engine fills them itself.
 */
import type { QoeDirection, QoeLeg, QoeReport } from '../qoe/report.js';
import { categorize, emptyLeg, emptyMediaDirection, party, type CdrMediaDirection, type CdrMediaStream, type CdrRecord } from './model.js';
import type { CallDetailRecord } from './record.js';

function direction(d: QoeDirection, rttMs: number | null): CdrMediaDirection {
  return { ...emptyMediaDirection(), packets: d.packets, lost: d.lost, lossPct: d.lossPct, jitterMs: d.jitterMs, rttMs, mos: d.mos };
}

function mediaLeg(l: QoeLeg): CdrMediaStream['A'] {
  return {
    rx: direction(l.received, l.rttMs),
    tx: direction(l.sent, l.rttMs),
    localRtp: null,
    remoteRtp: l.latchedAddress !== null && l.latchedPort !== null ? { address: l.latchedAddress, port: l.latchedPort, transport: 'udp' } : null,
  };
}

/** The audio stream of a QoE report, as a CDR media stream. */
export function streamFromQoe(q: QoeReport, srtp = false): CdrMediaStream {
  return { index: 0, media: 'audio', coder: q.legs.A.codec, ptimeMs: null, srtp, A: mediaLeg(q.legs.A), B: mediaLeg(q.legs.B), verdict: null };
}

/**
 * The termination category from the engine's release reason (the strings given to
 * Call.finish/terminate in src/b2bua: 'media inactivity', 'shutdown', 'no route',
 * 'routing rejected with 403', 'destination call limit'). Matched whole, not by
 * loose words: 'media: no common codec' is an SDP failure, not a media timeout.
 */
export function categoryOfReason(reason: string, sipStatus: number, connected: boolean): CdrRecord['terminationCategory'] {
  const r = reason.trim().toLowerCase();
  return categorize({
    sipStatus, connected,
    mediaTimeout: /^media (inactivity|timeout)\b/.test(r),
    shutdown: r === 'shutdown' || r.startsWith('stopping'),
    routeRejected: !connected && (r === 'no route' || r.startsWith('routing rejected') || r === 'destination call limit' || r.startsWith('admission')),
  });
}

export function isQoeReport(v: unknown): v is QoeReport {
  return typeof v === 'object' && v !== null && 'legs' in v && 'paths' in v;
}

export function fromLegacyCdr(c: CallDetailRecord): CdrRecord {
  const setup = Date.parse(c.setupTime);
  const connect = c.connectTime === null ? null : Date.parse(c.connectTime);
  const end = Date.parse(c.endTime);
  const media = isQoeReport(c.qoe) ? [streamFromQoe(c.qoe)] : [];
  const reason = c.terminationReason;
  const d = c.detail;
  return {
    reportType: 'CALL_END',
    sessionId: c.callId,
    recordTime: end,
    method: 'INVITE',
    legA: {
      ...emptyLeg(), callId: c.legACallId, ipGroup: c.srcIpGroup,
      ...(d ? { remote: d.legA.remote, local: d.legA.local, sipInterface: d.legA.sipInterface } : {}),
    },
    legB: {
      ...emptyLeg(), callId: c.legBCallId, ipGroup: c.dstIpGroup,
      ...(d ? { remote: d.legB.remote, sipInterface: d.legB.sipInterface } : {}),
    },
    routeName: d?.routeName ?? null,
    caller: d ? d.caller : party(c.caller),
    callee: d ? d.callee : party(c.callee),
    callerBeforeMap: d ? d.callerBeforeMap : party(c.caller),
    calleeBeforeMap: d ? d.calleeBeforeMap : party(c.callee),
    setupTime: setup,
    alertTime: d?.alertTime ?? null,
    connectTime: connect,
    releaseTime: end,
    durationMs: connect === null ? 0 : Math.max(0, end - connect),
    releaseSide: c.terminationSide,
    sipStatus: c.sipStatus,
    sipReason: d?.sipReason || reason,
    terminationReason: connect !== null ? 'BYE' : c.sipStatus === 487 ? 'CANCEL' : String(c.sipStatus),
    terminationCategory: categoryOfReason(reason, c.sipStatus, connect !== null),
    altRouteAttempts: c.altRouteAttempts,
    redirects3xx: c.redirects3xx,
    redirectUri: d?.redirectUri ?? null,
    coder: media[0]?.coder ?? null,
    srtp: false,
    media,
    qoeVerdict: null,
  };
}
