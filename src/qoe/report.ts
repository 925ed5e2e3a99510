import type { LegCounters, LegId, RelaySessionStats } from '../media/relay-types.js';
import { computeMos } from './emodel.js';

/**
 * Per-call QoE report built from the relay's counters. For each leg there are
 * two directions:
 *  - received: what the leg's peer sent us (our own counters: packets, loss
 *    from sequence numbers, RFC 3550 jitter);
 *  - sent: what we sent the peer, as the peer reported it in RTCP RR
 *    (fraction lost, jitter); null where the peer sent no RTCP.
 * End-to-end paths (A->B, B->A) combine the loss of the inbound leg with the
 * loss the far peer reported, and add up jitter and round-trip times.
 */

export interface QoeDirection {
  packets: number;
  /** Lost packets (received direction only; null where unknown). */
  lost: number | null;
  lossPct: number | null;
  jitterMs: number | null;
  mos: number | null;
}

export interface QoeLeg {
  leg: LegId;
  codec: string;
  rttMs: number | null;
  received: QoeDirection;
  sent: QoeDirection;
  outOfOrder: number;
  srtpAuthFailures: number;
  srtpReplayDrops: number;
  rejectedSource: number;
  latchedAddress: string | null;
  latchedPort: number | null;
}

export interface QoePath {
  lossPct: number | null;
  jitterMs: number | null;
  rttMs: number | null;
  mos: number | null;
}

export interface QoeReport {
  callId: string;
  /** ISO 8601 time the report was built. */
  generatedAt: string;
  legs: { A: QoeLeg; B: QoeLeg };
  /** Media from the caller's peer to the callee's peer, and back. */
  paths: { 'A->B': QoePath; 'B->A': QoePath };
  /** The worse of the two paths' MOS; null when no media was measured. */
  mos: number | null;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

function finiteOrNull(n: number | null | undefined): number | null {
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

function receivedDirection(c: LegCounters, codec: string): QoeDirection {
  const packets = Math.max(0, c.rtpPacketsIn);
  const lost = Math.max(0, c.packetsLost);
  const expected = packets + lost;
  const lossPct = expected > 0 ? round2((100 * lost) / expected) : null;
  const jitterMs = finiteOrNull(c.jitterMs);
  const mos = packets > 0 && lossPct !== null
    ? computeMos({ codec, packetLossPct: lossPct, jitterMs: jitterMs ?? 0, rttMs: finiteOrNull(c.rttMs) })
    : null;
  return { packets, lost, lossPct, jitterMs: jitterMs === null ? null : round2(jitterMs), mos };
}

function sentDirection(c: LegCounters, codec: string): QoeDirection {
  const packets = Math.max(0, c.rtpPacketsOut);
  const fraction = finiteOrNull(c.remoteFractionLost);
  const lossPct = fraction === null ? null : round2(100 * Math.max(0, Math.min(1, fraction)));
  const jitterMs = finiteOrNull(c.remoteJitterMs);
  const mos = packets > 0 && lossPct !== null
    ? computeMos({ codec, packetLossPct: lossPct, jitterMs: jitterMs ?? 0, rttMs: finiteOrNull(c.rttMs) })
    : null;
  return { packets, lost: null, lossPct, jitterMs: jitterMs === null ? null : round2(jitterMs), mos };
}

function path(inLeg: QoeLeg, outLeg: QoeLeg, codec: string): QoePath {
  const inLoss = inLeg.received.lossPct;
  if (inLoss === null || inLeg.received.packets === 0) return { lossPct: null, jitterMs: null, rttMs: null, mos: null };
  const outLoss = outLeg.sent.lossPct ?? 0;
  // Independent losses on the two hops: survive both.
  const lossPct = round2(100 * (1 - (1 - inLoss / 100) * (1 - outLoss / 100)));
  const jitterMs = round2((inLeg.received.jitterMs ?? 0) + (outLeg.sent.jitterMs ?? 0));
  const rttMs = inLeg.rttMs !== null || outLeg.rttMs !== null ? round2((inLeg.rttMs ?? 0) + (outLeg.rttMs ?? 0)) : null;
  return { lossPct, jitterMs, rttMs, mos: computeMos({ codec, packetLossPct: lossPct, jitterMs, rttMs }) };
}

function leg(id: LegId, c: LegCounters, codec: string): QoeLeg {
  return {
    leg: id,
    codec,
    rttMs: finiteOrNull(c.rttMs),
    received: receivedDirection(c, codec),
    sent: sentDirection(c, codec),
    outOfOrder: c.outOfOrder,
    srtpAuthFailures: c.srtpAuthFailures,
    srtpReplayDrops: c.srtpReplayDrops,
    rejectedSource: c.rejectedSource,
    latchedAddress: c.latchedAddress,
    latchedPort: c.latchedPort,
  };
}

/** Builds the JSON-able QoE report of one call from its relay counters. */
export function buildQoeReport(
  callId: string,
  stats: RelaySessionStats,
  codecByLeg: { A: string; B: string },
  now: Date = new Date(),
): QoeReport {
  const A = leg('A', stats.A, codecByLeg.A);
  const B = leg('B', stats.B, codecByLeg.B);
  const ab = path(A, B, codecByLeg.B);
  const ba = path(B, A, codecByLeg.A);
  const scores = [ab.mos, ba.mos].filter((m): m is number => m !== null);
  return {
    callId,
    generatedAt: now.toISOString(),
    legs: { A, B },
    paths: { 'A->B': ab, 'B->A': ba },
    mos: scores.length > 0 ? Math.min(...scores) : null,
  };
}
