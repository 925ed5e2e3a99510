/**
 * What both relay engines share at the JavaScript boundary: the relay error
 * type (errno-style codes; resource exhaustion maps to 503), validation and
 * merging of leg configurations, and the zeroed counters.
 */
import { isIP } from 'node:net';
import type { LegConfig, LegCounters } from './relay-types.js';

export type LegUpdate = Partial<Omit<LegConfig, 'localAddress' | 'localRtpPort' | 'rtcpMux'>>;

/** Codes that mean the host ran out of something (descriptors, memory, threads), not that the request was wrong. */
const RESOURCE_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ENOSPC', 'EAGAIN']);

/** A relay request that cannot be honoured; `code` is an errno name (EADDRINUSE) or EINVAL for bad config. */
export class RelayError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RelayError';
    this.code = code;
  }

  /**
   * The SBC is out of a resource (EMFILE: file descriptors, ...): the call
   * should get 503 Service Unavailable (RFC 3261 21.5.4), temporary overload,
   * rather than a 500, and an operator should see it in the log.
   */
  get resourceExhausted(): boolean {
    return RESOURCE_CODES.has(this.code);
  }
}

function isPort(p: unknown, allowZero: boolean): boolean {
  return typeof p === 'number' && Number.isInteger(p) && p >= (allowZero ? 0 : 1) && p <= 65535;
}

/** Throws RelayError('EINVAL') naming the first wrong field. */
export function validateLegConfig(cfg: LegConfig, name: string): void {
  const bad = (msg: string): never => {
    throw new RelayError('EINVAL', `relay leg ${name}: ${msg}`);
  };
  if (!cfg || typeof cfg !== 'object') bad('config missing');
  if (typeof cfg.localAddress !== 'string' || isIP(cfg.localAddress) === 0) bad(`localAddress '${String(cfg.localAddress)}' is not an IP address`);
  if (!isPort(cfg.localRtpPort, true)) bad(`localRtpPort ${String(cfg.localRtpPort)} out of range`);
  if (!cfg.rtcpMux && cfg.localRtpPort === 65535) bad('localRtpPort 65535 leaves no port for RTCP');
  validateLegUpdate(cfg, name);
}

export function validateLegUpdate(cfg: LegUpdate, name: string): void {
  const bad = (msg: string): never => {
    throw new RelayError('EINVAL', `relay leg ${name}: ${msg}`);
  };
  if (cfg.remote !== undefined && cfg.remote !== null) {
    const r = cfg.remote;
    if (typeof r.address !== 'string' || isIP(r.address) === 0) bad(`remote address '${String(r.address)}' is not an IP address`);
    if (!isPort(r.rtpPort, false)) bad(`remote rtpPort ${String(r.rtpPort)} out of range`);
    if (!isPort(r.rtcpPort, false)) bad(`remote rtcpPort ${String(r.rtcpPort)} out of range`);
  }
  if (cfg.latch !== undefined && cfg.latch !== 'first-packet' && cfg.latch !== 'signalled-only') bad(`latch '${String(cfg.latch)}' unknown`);
  if (cfg.srtp !== undefined && cfg.srtp !== null) {
    for (const dir of ['inbound', 'outbound'] as const) {
      const k = cfg.srtp[dir];
      if (!k || (k.suite !== 'AES_CM_128_HMAC_SHA1_80' && k.suite !== 'AES_CM_128_HMAC_SHA1_32')) bad(`srtp.${dir}.suite unsupported`);
      if (!Buffer.isBuffer(k.keySalt) || k.keySalt.length !== 30) bad(`srtp.${dir}.keySalt must be 30 bytes`);
    }
  }
  const pt = cfg.telephoneEventPt;
  if (pt !== undefined && pt !== null && !(Number.isInteger(pt) && pt >= 0 && pt <= 127)) bad(`telephoneEventPt ${String(pt)} not 0..127`);
  const cr = cfg.clockRate;
  if (cr !== undefined && !(Number.isInteger(cr) && cr >= 1000 && cr <= 192000)) bad(`clockRate ${String(cr)} out of range`);
}

export function mergeLegConfig(cur: LegConfig, patch: LegUpdate): LegConfig {
  const next: LegConfig = { ...cur };
  if (patch.remote !== undefined) next.remote = patch.remote ? { ...patch.remote } : null;
  if (patch.latch !== undefined) next.latch = patch.latch;
  if (patch.srtp !== undefined) next.srtp = patch.srtp;
  if (patch.telephoneEventPt !== undefined) next.telephoneEventPt = patch.telephoneEventPt;
  if (patch.clockRate !== undefined) next.clockRate = patch.clockRate;
  return next;
}

export function emptyCounters(): LegCounters {
  return {
    rtpPacketsIn: 0,
    rtpBytesIn: 0,
    rtcpPacketsIn: 0,
    rtpPacketsOut: 0,
    rtcpPacketsOut: 0,
    packetsLost: 0,
    outOfOrder: 0,
    jitterMs: 0,
    lastArrivalMs: 0,
    srtpAuthFailures: 0,
    srtpReplayDrops: 0,
    rejectedSource: 0,
    latchedAddress: null,
    latchedPort: null,
    rttMs: null,
    remoteFractionLost: null,
    remoteJitterMs: null,
    sendErrors: 0,
    srtpSsrcLimitDrops: 0,
    srtpIndexReuseDrops: 0,
    jitterClamps: 0,
    remoteJitterClamps: 0,
  };
}

/**
 * SIP status for a relay that could not be set up: 503 when the SBC is out
 * of a resource (descriptors, memory: RelayError.resourceExhausted), a
 * temporary overload per RFC 3261 21.5.4; 500 otherwise.
 */
export function relayFailureStatus(err: unknown): 500 | 503 {
  return err instanceof RelayError && err.resourceExhausted ? 503 : 500;
}
