/**
 * Per-stream offer/answer state of a MediaSession and the decision, for an
 * answer, of what each relayed stream becomes: the two legs' peers, keys,
 * rtcp-mux, telephone-event PTs and RTP clock rate. Pure: nothing here
 * touches the relay or the port pools.
 */
import type { CryptoAttribute } from './crypto-attr.js';
import { toSrtpKeying } from './crypto-attr.js';
import { payloadCoderName } from './coders.js';
import type { LegMediaPolicy } from './media-policy.js';
import type { LegId, LegSrtp, RelaySession, SrtpSuite } from './relay-types.js';
import type { PayloadInfo, StreamInfo } from './sdp-types.js';

export interface LegNegotiation {
  remote: { address: string; rtpPort: number; rtcpPort: number } | null;
  rtcpMux: boolean;
  srtp: LegSrtp | null;
  telephoneEventPt: number | null;
  /** RTP clock rate of the stream's coder (Hz), null when unknown (the relay then assumes 8000). */
  clockRate: number | null;
}

export interface StreamState {
  index: number;
  media: string;
  local: Record<LegId, number | null>;
  /** Our SRTP master keys toward each leg, by suite; kept across re-offers so an unchanged SDP stays unchanged. */
  keys: Record<LegId, Map<SrtpSuite, Buffer>>;
  relay: RelaySession | null;
  relayMux: Record<LegId, boolean> | null;
  codec: string | null;
  /** Whether each leg's peer may send on this stream, per the last offer/answer (see `expectedSenders`). */
  sends: Record<LegId, boolean>;
}

export function newStreamState(index: number, media: string): StreamState {
  return {
    index,
    media,
    local: { A: null, B: null },
    keys: { A: new Map(), B: new Map() },
    relay: null,
    relayMux: null,
    codec: null,
    sends: { A: true, B: true },
  };
}

export interface StreamPlan {
  active: boolean;
  reason: string | null;
  /** The offerer's crypto we accepted and our answer crypto toward the offerer. */
  offererSrtp: { theirs: CryptoAttribute; ours: CryptoAttribute } | null;
  offererMux: boolean;
  /** Our crypto in the offer toward the answerer. */
  offeredCrypto: CryptoAttribute[];
  offeredMux: boolean;
}

export interface PendingOffer {
  from: LegId;
  to: LegId;
  offer: StreamInfo[];
  /** What we sent toward the answerer, parsed (for the subset check). */
  sent: StreamInfo[];
  plans: StreamPlan[];
  /** Ports taken for this offer only; released if it fails. */
  allocated: Array<{ index: number; leg: LegId }>;
}

export interface AnswerDecision {
  enable: boolean;
  legs?: Record<LegId, LegNegotiation>;
  paused?: boolean;
  codec?: string | null;
  sends?: Record<LegId, boolean>;
}

export const other = (leg: LegId): LegId => (leg === 'A' ? 'B' : 'A');

function isZeroAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

function firstPayload(s: StreamInfo): PayloadInfo | null {
  for (const p of s.payloads) {
    const n = payloadCoderName(p);
    if (n !== 'telephone-event' && n !== 'cn') return p;
  }
  return null;
}

function firstCoder(s: StreamInfo): string | null {
  const p = firstPayload(s);
  if (p !== null) return p.name ?? payloadCoderName(p);
  return s.transport === 'udptl' ? 't38' : null;
}

/**
 * RTP timestamp rate of the stream's first coder, from its a=rtpmap or the
 * RFC 3551 static table. G.722 is 8000 whatever a=rtpmap says: its RTP clock
 * runs at 8 kHz although it samples at 16 kHz (RFC 3551 4.5.2), and some
 * endpoints write G722/16000. Null when unknown or out of the relay's range.
 */
export function streamClockRate(s: StreamInfo): number | null {
  if (s.transport !== 'rtp') return null;
  const p = firstPayload(s);
  if (p === null) return null;
  if (payloadCoderName(p) === 'g722') return 8000;
  const r = p.clockRate;
  return r !== null && Number.isInteger(r) && r >= 1000 && r <= 192000 ? r : null;
}

/** The author of this SDP may send on the stream: sendrecv/sendonly, and not an RFC 2543 hold (c=0.0.0.0). */
function peerSends(s: StreamInfo): boolean {
  if (s.direction !== 'sendrecv' && s.direction !== 'sendonly') return false;
  return !(s.connectionAddress !== null && isZeroAddress(s.connectionAddress) && !s.ice);
}

function remoteOf(s: StreamInfo, mux: boolean): LegNegotiation['remote'] {
  if (s.connectionAddress === null || isZeroAddress(s.connectionAddress) || s.port === 0) return null;
  const rtcpPort = mux || s.rtcpPort === null ? s.port : s.rtcpPort;
  return { address: s.connectionAddress, rtpPort: s.port, rtcpPort };
}

/** Our offer's crypto the answer accepted, as the answerer leg's keys; an error when the answer breaks the policy. */
function answererKeys(a: StreamInfo, plan: StreamPlan, polAnswerer: LegMediaPolicy, line: number): { srtp: LegSrtp | null } | { error: string } {
  if (a.transport !== 'rtp') return { srtp: null };
  if (plan.offeredCrypto.length === 0) {
    return a.secure ? { error: `m= line ${line}: answer is SRTP but we offered RTP` } : { srtp: null };
  }
  for (const c of a.crypto) {
    const ours = plan.offeredCrypto.find((x) => x.tag === c.tag && x.suite === c.suite);
    const theirs = toSrtpKeying(c);
    if (ours !== undefined && theirs !== null) return { srtp: { inbound: theirs, outbound: toSrtpKeying(ours)! } };
  }
  if (polAnswerer.security === 'srtp' || a.secure || a.crypto.length > 0) {
    return { error: `m= line ${line}: answer has no a=crypto matching our offer` };
  }
  return { srtp: null };
}

/**
 * Decides every stream of an answer to the pending offer before anything is
 * changed, so a bad answer changes nothing (the caller refuses it with 488).
 */
export function decideAnswer(p: PendingOffer, answer: StreamInfo[], polAnswerer: LegMediaPolicy): { decisions: AnswerDecision[] } | { error: string } {
  const from = p.to;
  const offerer = p.from;
  const decisions: AnswerDecision[] = [];
  for (let i = 0; i < answer.length; i++) {
    const a = answer[i]!;
    const plan = p.plans[i]!;
    const o = p.offer[i]!;
    if (!plan.active || a.rejected || a.connectionAddress === null) {
      decisions.push({ enable: false });
      continue;
    }
    const keys = answererKeys(a, plan, polAnswerer, i + 1);
    if ('error' in keys) return keys;
    const offererSrtp: LegSrtp | null = plan.offererSrtp
      ? { inbound: toSrtpKeying(plan.offererSrtp.theirs)!, outbound: toSrtpKeying(plan.offererSrtp.ours)! }
      : null;
    const isRtp = a.transport === 'rtp';
    const answererMux = isRtp ? a.rtcpMux && plan.offeredMux : true;
    const offererMux = isRtp ? plan.offererMux : true;
    const te = isRtp && a.telephoneEventPt !== null && o.telephoneEventPt !== null;
    // No transcoding: both legs carry the answer's coder, at its clock rate.
    const clockRate = streamClockRate(a);
    const legs = {} as Record<LegId, LegNegotiation>;
    legs[from] = {
      remote: remoteOf(a, answererMux),
      rtcpMux: answererMux,
      srtp: keys.srtp,
      telephoneEventPt: te ? a.telephoneEventPt : null,
      clockRate,
    };
    legs[offerer] = {
      remote: remoteOf(o, offererMux),
      rtcpMux: offererMux,
      srtp: offererSrtp,
      telephoneEventPt: te ? o.telephoneEventPt : null,
      clockRate,
    };
    const paused = a.direction === 'inactive' || o.direction === 'inactive';
    const sends = {} as Record<LegId, boolean>;
    sends[from] = !paused && peerSends(a);
    sends[offerer] = !paused && peerSends(o);
    decisions.push({ enable: true, legs, paused, codec: firstCoder(a), sends });
  }
  return { decisions };
}
