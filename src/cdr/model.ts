/**
 * The CDR record the call engine fills and every sink formats. One record
 * per call event (start / connect / end, and media start / update / end),
 * carrying both legs: leg A is the incoming leg (the caller's side), leg B
 * the outgoing leg. Non-call records (REGISTER, SUBSCRIBE, MESSAGE outcomes)
 * use the same shape with `method` set and no leg B media.
 *
 * Times are milliseconds since the epoch (UTC); sinks render them as ISO
 * 8601 UTC with milliseconds. Unknown values are null, never guessed.
 */

/** Mediant SBCReportType / MediaReportType values. */
export type CdrReportType =
  | 'CALL_START' | 'CALL_CONNECT' | 'CALL_END'
  | 'MEDIA_START' | 'MEDIA_UPDATE' | 'MEDIA_END'
  | 'DIALOG_START' | 'DIALOG_END';

export const CALL_REPORT_TYPES: readonly CdrReportType[] = ['CALL_START', 'CALL_CONNECT', 'CALL_END'];
export const MEDIA_REPORT_TYPES: readonly CdrReportType[] = ['MEDIA_START', 'MEDIA_UPDATE', 'MEDIA_END'];

/**
 * Why the call ended, in a few buckets billing and dashboards can group by
 * (Mediant has TrmReasonCategory with its own internal names; these are ours).
 */
export type TerminationCategory =
  | 'normal' // answered, then released by BYE
  | 'busy' // 486 / 600
  | 'no-answer' // 408 / 480 / alert timeout
  | 'cancelled' // caller CANCEL before answer
  | 'rejected-by-route' // no route, routing rule rejects, admission control
  | 'failed' // any other failure (4xx-6xx, transport, no response)
  | 'media-timeout' // released by the SBC for lack of RTP
  | 'shutdown' // released by the SBC because it was stopping
  | 'restart'; // found in the active-call journal after a crash

/** Who released the call: the caller's side, the callee's side, or the SBC itself. */
export type ReleaseSide = 'A' | 'B' | 'sbc';

export interface CdrEndpoint {
  address: string;
  port: number;
  /** udp, tcp, tls, ws, wss. */
  transport: string;
}

/** Signalling facts of one leg. */
export interface CdrLeg {
  /** SIP Call-ID of this leg; null for leg B before any INVITE went out. */
  callId: string | null;
  /** The peer: where leg A's INVITE came from, where leg B's went to. */
  remote: CdrEndpoint | null;
  /** Our SIP Interface address on this leg. */
  local: CdrEndpoint | null;
  sipInterface: string | null;
  ipGroup: string | null;
  proxySet: string | null;
  ipProfile: string | null;
  mediaRealm: string | null;
}

/** A party of the call as one URI: user part, the whole URI and the display name. */
export interface CdrParty {
  user: string;
  uri: string;
  displayName: string | null;
}

/** One direction of one leg's media, as measured (rx) or as the peer reported in RTCP (tx). */
export interface CdrMediaDirection {
  packets: number;
  bytes: number | null;
  lost: number | null;
  /** 0..100. */
  lossPct: number | null;
  jitterMs: number | null;
  /** Round-trip time from RTCP SR/RR. */
  rttMs: number | null;
  /** E-model MOS-CQ estimate (1..4.5). */
  mos: number | null;
  rFactor: number | null;
}

export interface CdrMediaLeg {
  /** What the peer of this leg sent us (our counters). */
  rx: CdrMediaDirection;
  /** What we sent the peer, as it reported in RTCP RR / XR (null fields when it sent none). */
  tx: CdrMediaDirection;
  localRtp: CdrEndpoint | null;
  remoteRtp: CdrEndpoint | null;
}

export type QoeColor = 'green' | 'yellow' | 'red' | 'gray';

export interface CdrMediaStream {
  /** m= line index. */
  index: number;
  media: string;
  coder: string | null;
  ptimeMs: number | null;
  srtp: boolean;
  A: CdrMediaLeg;
  B: CdrMediaLeg;
  /** Worst color of the stream's monitored values under the IP Group's QoE profile. */
  verdict: QoeColor | null;
}

export interface CdrRecord {
  reportType: CdrReportType;
  /** The SBC's id of the call, the same on both legs and in every record of the call. */
  sessionId: string;
  /** Assigned by the pipeline: strictly increasing per process run (Mediant "Call End Sequence Number"-like). */
  seq?: number;
  /** When the record was produced. */
  recordTime: number;
  /** INVITE for calls; REGISTER, SUBSCRIBE, MESSAGE... for non-call records. */
  method: string;
  legA: CdrLeg;
  legB: CdrLeg;
  /** IP-to-IP routing row that matched (RouteName); null when none did. */
  routeName: string | null;
  /** Caller and callee as sent on leg B (after manipulation). */
  caller: CdrParty;
  callee: CdrParty;
  /** Caller and callee as received on leg A (before manipulation). */
  callerBeforeMap: CdrParty;
  calleeBeforeMap: CdrParty;
  setupTime: number;
  alertTime: number | null;
  connectTime: number | null;
  releaseTime: number | null;
  /** Connect to release; 0 when never connected. */
  durationMs: number;
  releaseSide: ReleaseSide | null;
  /** Final status toward leg A (200 for an answered call); 0 while unknown. */
  sipStatus: number;
  /** Reason text: the Reason header if any, else the response's reason phrase, else ours. */
  sipReason: string;
  /** BYE, CANCEL, or the final status code as text (Mediant SIPTrmReason). */
  terminationReason: string;
  terminationCategory: TerminationCategory | null;
  altRouteAttempts: number;
  redirects3xx: number;
  /** Last 3xx Contact followed, if any. */
  redirectUri: string | null;
  /** Negotiated audio coder (rtpmap name). */
  coder: string | null;
  srtp: boolean;
  media: CdrMediaStream[];
  /** Worst verdict over the streams. */
  qoeVerdict: QoeColor | null;
}

/** An empty leg, for records whose leg B never existed. */
export function emptyLeg(): CdrLeg {
  return { callId: null, remote: null, local: null, sipInterface: null, ipGroup: null, proxySet: null, ipProfile: null, mediaRealm: null };
}

export function emptyMediaDirection(): CdrMediaDirection {
  return { packets: 0, bytes: null, lost: null, lossPct: null, jitterMs: null, rttMs: null, mos: null, rFactor: null };
}

export function party(user: string, uri = '', displayName: string | null = null): CdrParty {
  return { user, uri, displayName };
}

/** Maps a final status and release facts to a termination category. */
export function categorize(opts: {
  sipStatus: number;
  connected: boolean;
  cancelled?: boolean;
  routeRejected?: boolean;
  mediaTimeout?: boolean;
  shutdown?: boolean;
}): TerminationCategory {
  if (opts.shutdown) return 'shutdown';
  if (opts.mediaTimeout) return 'media-timeout';
  if (opts.connected) return 'normal';
  if (opts.cancelled || opts.sipStatus === 487) return 'cancelled';
  if (opts.routeRejected) return 'rejected-by-route';
  const s = opts.sipStatus;
  if (s === 486 || s === 600) return 'busy';
  if (s === 408 || s === 480) return 'no-answer';
  return 'failed';
}
