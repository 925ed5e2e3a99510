/**
 * Per-leg media policy (the IP Profile's media settings) and how the ini's
 * values map onto it.
 */
import { SUPPORTED_SRTP_SUITES } from './crypto-attr.js';
import type { CoderPolicy } from './coders.js';
import type { LatchMode, SrtpSuite } from './relay-types.js';
import type { MediaSecurityMode } from './sdp-types.js';

export interface LegMediaPolicy {
  /** IP Profile media security mode of this leg. */
  security: MediaSecurityMode;
  /** SRTP suites we offer/accept on this leg, in preference order. */
  srtpSuites: readonly SrtpSuite[];
  /** IP Profile allowed coders group of this leg. */
  allowedCoders?: CoderPolicy;
  latch: LatchMode;
  /** Offer rtcp-mux toward this leg and accept it from it. */
  rtcpMux: boolean;
}

/** Maps the ini's SBCMediaSecurityBehaviour value to a security mode. */
export function mediaSecurityModeFromIni(value: string): MediaSecurityMode {
  switch (value.trim().toLowerCase()) {
    case 'secured': case 'srtp': case '1': return 'srtp';
    case 'not-secured': case 'not secured': case 'rtp': case '2': return 'rtp';
    case 'both': case '3': return 'both';
    default: return 'as-is';
  }
}

/** Maps the ini's SRTPOfferedSuites value to the suites we offer/accept. */
export function srtpSuitesFromIni(value: string): readonly SrtpSuite[] {
  const v = value.trim().toLowerCase().replace(/_/g, '-');
  if (v === 'aes-cm-128-hmac-sha1-80' || v === '1') return ['AES_CM_128_HMAC_SHA1_80'];
  if (v === 'aes-cm-128-hmac-sha1-32' || v === '2') return ['AES_CM_128_HMAC_SHA1_32'];
  return SUPPORTED_SRTP_SUITES;
}

export const DEFAULT_LEG_POLICY: LegMediaPolicy = {
  security: 'rtp',
  srtpSuites: SUPPORTED_SRTP_SUITES,
  latch: 'first-packet',
  rtcpMux: true,
};
