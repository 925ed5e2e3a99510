export type * from './relay-types.js';
export type { MediaDirection, MediaSecurityMode, PayloadInfo, StreamInfo, StreamTransport } from './sdp-types.js';
export {
  anchorSdp, parseSdpMedia, tryParseSdpMedia, securedProtocol, SdpOriginState, SdpError,
  type AnchorOptions, type AnchorStreamOptions, type AnchorResult,
} from './sdp.js';
export { PortPool, PortPoolError, type PortPoolOptions } from './port-pool.js';
export {
  restrictCoders, checkAnswerSubset, normalizeCoderName, payloadCoderName, policyFor, STATIC_PAYLOAD_TYPES,
  type CoderPolicy, type CoderRestriction,
} from './coders.js';
export {
  parseCryptoAttribute, formatCryptoAttribute, chooseAnswerCrypto, makeCryptoAttribute, generateKeySalt,
  toSrtpKeying, isSupportedSuite, isUsableCrypto, SUPPORTED_SRTP_SUITES, SRTP_KEY_SALT_LENGTH,
  type CryptoAttribute, type CryptoKeyParam, type CryptoParseResult,
} from './crypto-attr.js';
export {
  MediaSession, DEFAULT_LEG_POLICY, mediaSecurityModeFromIni, srtpSuitesFromIni,
  type LegMediaPolicy, type MediaSessionOptions, type MediaResult, type MediaFailureStatus, type StreamStats,
} from './media-session.js';
