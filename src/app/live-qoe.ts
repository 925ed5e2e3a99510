/**
 * Current voice quality of a live call for GET /api/v1/calls: the relay's
 * counters so far through the same QoE report as the end CDR (RFC 3550
 * loss and jitter, RTCP RR as the peers reported it, G.107 MOS), as CDR
 * media streams (leg A/B x rx/tx: packets, loss %, jitter, RTT, MOS),
 * with what the phones reported by PUBLISH vq-rtcpxr folded in and the
 * verdict of the IP Groups' QoE profiles so far.
 */
import { isQoeReport, streamFromQoe } from '../cdr/legacy.js';
import type { CdrMediaStream, QoeColor } from '../cdr/model.js';
import type { VqReport } from '../qoe/vq-rtcpxr.js';
import { applyPhoneReport } from './phone-qoe.js';

export interface LiveQoe {
  /** The worse of the two end-to-end paths' MOS; null while no media was measured. */
  mos: number | null;
  streams: CdrMediaStream[];
}

export interface LiveQoeInput {
  /** The media handle's stats() (a QoeReport while media is anchored). */
  stats: unknown;
  /** The latest phone report per leg, if any. */
  phone: { A: VqReport | null; B: VqReport | null };
  judge: (s: CdrMediaStream) => QoeColor;
}

/** Null when media is not anchored (nothing measured by the SBC) and no phone reported. */
export function liveQoe(i: LiveQoeInput): LiveQoe | null {
  const report = isQoeReport(i.stats) ? i.stats : null;
  const streams = report === null ? [] : [streamFromQoe(report)];
  for (const leg of ['A', 'B'] as const) {
    const vq = i.phone[leg];
    if (vq !== null) applyPhoneReport(streams, leg, vq);
  }
  if (report === null && streams.length === 0) return null;
  for (const s of streams) s.verdict = i.judge(s);
  return { mos: report?.mos ?? null, streams };
}
