/**
 * One call detail record per call, written when the call ends.
 */

export type TerminationSide = 'A' | 'B' | 'sbc';

export interface TimelineEvent {
  /** Milliseconds since the epoch. */
  t: number;
  leg: 'A' | 'B' | '-';
  dir: 'in' | 'out' | 'event';
  method?: string;
  status?: number;
  note?: string;
}

export interface CallDetailRecord {
  /** The SBC's own id of the call, shared by both legs in every log line. */
  callId: string;
  legACallId: string;
  legBCallId: string | null;
  srcIpGroup: string | null;
  dstIpGroup: string | null;
  caller: string;
  callee: string;
  /** ISO 8601 times. */
  setupTime: string;
  connectTime: string | null;
  endTime: string;
  /** Seconds from connect to end; 0 when never connected. */
  durationSec: number;
  terminationSide: TerminationSide;
  terminationReason: string;
  /** Final status sent to leg A for the INVITE (200 for a connected call). */
  sipStatus: number;
  altRouteAttempts: number;
  redirects3xx: number;
  timeline: TimelineEvent[];
  /** Filled by the media layer's QoE report. */
  qoe?: unknown;
  /** What the engine knows beyond the summary above (addresses, interfaces, URIs before and after manipulation). */
  detail?: CallDetail;
}

export interface CallEndpoint {
  address: string;
  port: number;
  transport: string;
}

/** A party as a whole URI with its user part and display name (from a From, To or Request-URI). */
export interface CallParty {
  user: string;
  uri: string;
  displayName: string | null;
}

export interface CallDetail {
  legA: { remote: CallEndpoint; local: CallEndpoint; sipInterface: string };
  /** Null fields: leg B was never sent (no route, rejected). */
  legB: { remote: CallEndpoint | null; sipInterface: string | null };
  /** IP2IPRouting row that routed the last leg-B INVITE. */
  routeName: string | null;
  /** As received on leg A (before any manipulation): From and Request-URI. */
  callerBeforeMap: CallParty;
  calleeBeforeMap: CallParty;
  /** As sent on leg B (after inbound and outbound manipulation); before-map values when leg B was never sent. */
  caller: CallParty;
  callee: CallParty;
  /** First 18x relayed to the caller (ms since the epoch). */
  alertTime: number | null;
  /** Contact of the last 3xx followed. */
  redirectUri: string | null;
  /** Reason phrase of the final response to the caller. */
  sipReason: string;
}
