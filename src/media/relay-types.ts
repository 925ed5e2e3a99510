/**
 * The contract between the JavaScript side (SDP, calls) and a media relay
 * engine. Two engines implement it: the native addon (default, its own
 * thread) and a pure-JavaScript fallback/baseline. JavaScript decides,
 * the engine moves bytes.
 *
 * A relay *session* joins two *legs* (A = toward the caller, B = toward the
 * callee). Each leg owns local sockets bound in that leg's Media Realm and
 * sends to the peer of that leg. A packet received on leg A is sent out of
 * leg B to B's peer, and vice versa.
 */

export type LegId = 'A' | 'B';

/** How the remote address of a leg is learned (symmetric RTP latching, RFC 4961 style). */
export type LatchMode =
  /** Latch onto the source of the first packet received (NAT friendly; the default). */
  | 'first-packet'
  /** Only accept packets from the address signalled in SDP. */
  | 'signalled-only';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

export interface SrtpKeying {
  suite: SrtpSuite;
  /** 30 bytes: 16-byte master key followed by the 14-byte master salt (RFC 4568 inline key, base64-decoded). */
  keySalt: Buffer;
}

export interface LegSrtp {
  /** Key used to decrypt what the peer of this leg sends us (the peer's a=crypto). */
  inbound: SrtpKeying;
  /** Key used to encrypt what we send to the peer of this leg (our a=crypto toward it). */
  outbound: SrtpKeying;
}

export interface LegConfig {
  /** Local IP to bind (the Media Realm address of this leg). */
  localAddress: string;
  /** Local RTP port (even); RTCP uses rtpPort+1 unless rtcpMux. */
  localRtpPort: number;
  rtcpMux: boolean;
  /** Remote RTP address/port from the SDP of this leg's peer; null until known. */
  remote: { address: string; rtpPort: number; rtcpPort: number } | null;
  latch: LatchMode;
  /** When set, the peer of this leg speaks SRTP/SRTCP; otherwise plain RTP. */
  srtp: LegSrtp | null;
  /**
   * RFC 4733 telephone-event payload type as negotiated on this leg; when the
   * two legs differ the engine rewrites the PT of those packets on the way
   * through. null = not negotiated (packets relayed unchanged).
   */
  telephoneEventPt: number | null;
  /**
   * RTP clock rate of the stream (Hz), used to express jitter in ms.
   * Optional; 8000 when absent.
   */
  clockRate?: number;
}

export interface LegCounters {
  /** Packets/bytes received from this leg's peer. */
  rtpPacketsIn: number;
  rtpBytesIn: number;
  rtcpPacketsIn: number;
  /** Packets sent to this leg's peer. */
  rtpPacketsOut: number;
  rtcpPacketsOut: number;
  /** Expected minus received per RFC 3550 A.3 (from sequence numbers). */
  packetsLost: number;
  outOfOrder: number;
  /** Interarrival jitter per RFC 3550 A.8, in milliseconds. */
  jitterMs: number;
  /** Wall-clock ms (Date.now() scale) of the last packet received; 0 = never. */
  lastArrivalMs: number;
  /** SRTP/SRTCP packets dropped because authentication failed. */
  srtpAuthFailures: number;
  /** Packets dropped by the replay window. */
  srtpReplayDrops: number;
  /** Packets dropped because they came from an address that does not match (signalled-only latch). */
  rejectedSource: number;
  /** Address currently latched as this leg's peer, if any. */
  latchedAddress: string | null;
  latchedPort: number | null;
  /** Round-trip delay from RTCP SR/RR (LSR/DLSR), ms; null when unknown. */
  rttMs: number | null;
  /** Fraction lost as reported by the peer in RTCP RR (0..1); null when none received. */
  remoteFractionLost: number | null;
  /** Interarrival jitter the peer reported in RTCP SR/RR (RFC 3550 6.4.1), ms at this leg's clock rate; null when none. */
  remoteJitterMs: number | null;
  /** Packets we could not hand to the kernel (full socket buffer, unreachable peer). Optional. */
  sendErrors?: number;
  /**
   * SRTP packets dropped because their SSRC would exceed the per-key SSRC
   * limit (32): inbound from this leg's peer, or outbound toward it. State is
   * never evicted, so an SSRC cannot come back at ROC 0 (RFC 3711 9.2).
   */
  srtpSsrcLimitDrops?: number;
  /**
   * Packets toward this leg's SRTP peer dropped because their (SSRC, index)
   * was already encrypted under the key or is older than the 64-packet
   * window: duplicates or sequence restarts from the other leg (RFC 3711 9.2).
   */
  srtpIndexReuseDrops?: number;
  /** RTP packets whose transit difference was skipped for jitter as a timestamp discontinuity (> 3 s). */
  jitterClamps?: number;
  /**
   * RTCP report blocks from this leg's peer whose interarrival jitter was
   * beyond the same 3 s bound: ignored (remoteJitterMs keeps the last
   * plausible value) and counted here.
   */
  remoteJitterClamps?: number;
}

export interface RelaySessionStats {
  A: LegCounters;
  B: LegCounters;
}

/** Ports actually bound for a leg (equal to the configured ones unless 0 was asked for). */
export interface LegPorts {
  rtp: number;
  /** Same as rtp with rtcp-mux. */
  rtcp: number;
}

export interface RelaySession {
  readonly id: number;
  /** Local ports bound per leg; a localRtpPort of 0 binds any free port (tests). */
  readonly localPorts: { A: LegPorts; B: LegPorts };
  /** Update a leg (new remote after re-INVITE, SRTP keys, PT). Sockets stay. */
  updateLeg(leg: LegId, config: Partial<Omit<LegConfig, 'localAddress' | 'localRtpPort' | 'rtcpMux'>>): void;
  /** Stop relaying in both directions (hold is expressed by SDP direction; this is for 'inactive'). */
  setPaused(paused: boolean): void;
  /** Current counters; after close(), the counters as they were at close. */
  stats(): RelaySessionStats;
  close(): void;
}

export interface RelayEngine {
  /** 'native' or 'js'. */
  readonly kind: 'native' | 'js';
  /** Binds both legs' sockets; rejects (EADDRINUSE etc.) without leaking sockets. */
  createSession(a: LegConfig, b: LegConfig): Promise<RelaySession>;
  /** Number of live sessions. */
  sessionCount(): number;
  /** RTP and RTCP packets sent on since the engine started (closed sessions included). */
  packetsRelayed(): number;
  shutdown(): Promise<void>;
}
