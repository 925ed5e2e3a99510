import type { CryptoAttribute } from './crypto-attr.js';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** IP Profile media security mode. */
export type MediaSecurityMode =
  /** Plain RTP only: a=crypto removed, RTP/AVP. */
  | 'rtp'
  /** SRTP only: RTP/SAVP with our own a=crypto; plain RTP offers are refused. */
  | 'srtp'
  /** Either: offers go out as RTP/AVP with a=crypto (best-effort SDES); both are accepted. */
  | 'both'
  /** Mirror the other leg: SRTP toward this leg when the other side used SRTP; both are accepted. */
  | 'as-is';

/** How the stream's packets are carried, derived from the m= protocol. */
export type StreamTransport = 'rtp' | 'udptl' | 'other';

export interface PayloadInfo {
  pt: number;
  /** Encoding name from a=rtpmap, or the RFC 3551 static name; null for an unknown dynamic PT. */
  name: string | null;
  clockRate: number | null;
  channels: number | null;
  fmtp: string | null;
}

export interface StreamInfo {
  /** Position of the m= line (0-based); offer and answer are matched by it. */
  index: number;
  /** audio, video, image, application, ... */
  media: string;
  port: number;
  protocol: string;
  /** Format tokens of the m= line as written (payload types for RTP, "t38" for T.38). */
  formats: string[];
  /** m= port 0 (RFC 3264 §6: stream rejected / disabled). */
  rejected: boolean;
  transport: StreamTransport;
  /** RTP/SAVP or RTP/SAVPF (SDES-keyed SRTP). */
  secure: boolean;
  /** UDP/TLS/RTP/SAVP(F): DTLS-SRTP, which the SBC does not terminate. */
  dtls: boolean;
  /** Media-level c= address, else session-level; null when neither is present. */
  connectionAddress: string | null;
  /** From a=rtcp, else port+1 (or port when rtcp-mux); null for non-RTP streams. */
  rtcpPort: number | null;
  /** Address given in a=rtcp, if any. */
  rtcpAddress: string | null;
  rtcpMux: boolean;
  /** Media-level direction, else session-level, else sendrecv. */
  direction: MediaDirection;
  payloads: PayloadInfo[];
  /** RFC 4733 telephone-event PT (the first one at 8000 Hz if several); null when absent. */
  telephoneEventPt: number | null;
  crypto: CryptoAttribute[];
  /** a=crypto lines that could not be parsed (kept out of `crypto`). */
  cryptoErrors: string[];
  ptime: number | null;
  mid: string | null;
  /** The peer signalled ICE (candidates or ice-ufrag); its c= may then be a 0.0.0.0 placeholder. */
  ice: boolean;
}
