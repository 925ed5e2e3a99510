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
}
