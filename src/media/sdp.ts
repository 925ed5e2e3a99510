import { randomInt } from 'node:crypto';
import { parse as parseSdpTransform } from 'sdp-transform';
import type { MediaAttributes, SessionDescription } from 'sdp-transform';
import { formatCryptoAttribute, parseCryptoAttribute, type CryptoAttribute } from './crypto-attr.js';
import { policyFor, restrictCoders, STATIC_PAYLOAD_TYPES, type CoderPolicy } from './coders.js';
import {
  attributeName, attributeValue, connectionLine, formatMediaLine, joinSdp, parseConnectionLine, parseMediaLine,
  SdpError, splitSdp, type SdpLines,
} from './sdp-lines.js';
import type { MediaDirection, MediaSecurityMode, PayloadInfo, StreamInfo, StreamTransport } from './sdp-types.js';

export { SdpError } from './sdp-lines.js';

/**
 * SDP anchoring: every SDP crossing the SBC is rewritten so that the peer of
 * each leg sends its media to the SBC's Media Realm address and ports.
 *
 * Parsing of attributes is done by sdp-transform; the output is produced by
 * editing the original lines, so attributes we do not understand keep their
 * exact text and position (sdp-transform's writer would reorder them and drop
 * lines its grammar does not know).
 */

/** ICE attributes (RFC 8839) describe the other side's addresses: never forwarded. */
const ICE_ATTRIBUTES = new Set([
  'candidate', 'end-of-candidates', 'remote-candidates', 'ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite',
  'ice-mismatch', 'ice-pacing',
]);
/**
 * Attributes that describe the other side's host or software: RFC 5576
 * source attributes (a=ssrc carries the CNAME, typically user@host, and
 * a=ssrc-group names them) and a=tool (RFC 8866 §6.3, the product and
 * version). Topology hiding removes them; the relay forwards RTP with its
 * SSRCs unchanged, which needs no declaration.
 */
const TOPOLOGY_ATTRIBUTES = new Set(['ssrc', 'ssrc-group', 'tool']);
const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const PT_SCOPED_ATTRIBUTES = new Set(['rtpmap', 'fmtp', 'rtcp-fb']);

function transportOf(protocol: string): StreamTransport {
  const p = protocol.toUpperCase();
  if (p === 'RTP/AVP' || p === 'RTP/AVPF' || p === 'RTP/SAVP' || p === 'RTP/SAVPF'
    || p === 'UDP/TLS/RTP/SAVP' || p === 'UDP/TLS/RTP/SAVPF') return 'rtp';
  if (p === 'UDPTL' || p === 'UDP') return 'udptl';
  return 'other';
}

/** RTP/AVP <-> RTP/SAVP keeping the feedback profile (AVPF/SAVPF); other protocols unchanged. */
export function securedProtocol(protocol: string, secure: boolean): string {
  const p = protocol.toUpperCase();
  if (p === 'RTP/AVP' || p === 'RTP/SAVP') return secure ? 'RTP/SAVP' : 'RTP/AVP';
  if (p === 'RTP/AVPF' || p === 'RTP/SAVPF') return secure ? 'RTP/SAVPF' : 'RTP/AVPF';
  return protocol;
}

function isZeroAddress(address: string | null): boolean {
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

interface ParsedSdp {
  lines: SdpLines;
  streams: StreamInfo[];
  sessionConnection: string | null;
}

function toNumber(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

function parseAll(input: string): ParsedSdp {
  const lines = splitSdp(input);
  let parsed: SessionDescription;
  try {
    parsed = parseSdpTransform(input);
  } catch (err) {
    throw new SdpError(`SDP could not be parsed: ${(err as Error).message}`);
  }
  let sessionConnection: string | null = null;
  for (const l of lines.session) {
    if (l.startsWith('c=')) sessionConnection = parseConnectionLine(l).address;
  }
  const sessionDirection = (parsed as { direction?: string }).direction;
  const sessionIce = lines.session.some((l) => l.startsWith('a=ice-ufrag:'));
  const streams: StreamInfo[] = [];
  for (let i = 0; i < lines.media.length; i++) {
    const block = lines.media[i]!;
    const m = parseMediaLine(block[0]!);
    const attrs: Partial<MediaAttributes> & { direction?: string; rtcpMux?: string } = parsed.media[i] ?? {};
    let mediaConnection: string | null = null;
    const crypto: CryptoAttribute[] = [];
    const cryptoErrors: string[] = [];
    let ice = sessionIce;
    for (let j = 1; j < block.length; j++) {
      const l = block[j]!;
      if (l.startsWith('c=')) mediaConnection = parseConnectionLine(l).address;
      else if (!ice && (l.startsWith('a=candidate:') || l.startsWith('a=ice-ufrag:'))) ice = true;
      else if (attributeName(l) === 'crypto') {
        const r = parseCryptoAttribute(attributeValue(l));
        if (r.ok) crypto.push(r.value);
        else cryptoErrors.push(r.error);
      }
    }
    const transport = transportOf(m.protocol);
    const payloads: PayloadInfo[] = [];
    let telephoneEventPt: number | null = null;
    if (transport === 'rtp') {
      for (const f of m.formats) {
        if (!/^\d{1,3}$/.test(f) || Number(f) > 127) {
          throw new SdpError(`m= line ${i + 1}: "${f}" is not an RTP payload type`);
        }
        const pt = Number(f);
        const map = attrs.rtp?.find((r) => r.payload === pt);
        const stat = STATIC_PAYLOAD_TYPES.get(pt);
        const fmtp = attrs.fmtp?.find((r) => r.payload === pt);
        const channels = map?.encoding !== undefined ? toNumber(map.encoding) : null;
        payloads.push({
          pt,
          name: map?.codec ?? stat?.name ?? null,
          clockRate: map ? toNumber(map.rate) : stat?.clockRate ?? null,
          channels: map ? channels : stat?.channels ?? null,
          fmtp: fmtp ? String(fmtp.config) : null,
        });
      }
      const te = payloads.filter((p) => p.name !== null && p.name.toLowerCase() === 'telephone-event');
      telephoneEventPt = (te.find((p) => p.clockRate === 8000) ?? te[0])?.pt ?? null;
    }
    const rtcpMux = attrs.rtcpMux !== undefined;
    const rtcpAttr = attrs.rtcp;
    const rtcpAttrPort = rtcpAttr ? toNumber(rtcpAttr.port) : null;
    const dir = attrs.direction ?? sessionDirection;
    const upper = m.protocol.toUpperCase();
    streams.push({
      index: i,
      media: m.media,
      port: m.port,
      protocol: m.protocol,
      formats: m.formats,
      rejected: m.port === 0,
      transport,
      secure: upper === 'RTP/SAVP' || upper === 'RTP/SAVPF',
      dtls: upper.startsWith('UDP/TLS/'),
      connectionAddress: mediaConnection ?? sessionConnection,
      rtcpPort: transport === 'rtp' ? (rtcpAttrPort !== null && rtcpAttrPort > 0 && rtcpAttrPort <= 65535 ? rtcpAttrPort : m.port + 1) : null,
      rtcpAddress: rtcpAttr?.address !== undefined ? String(rtcpAttr.address) : null,
      rtcpMux,
      direction: dir !== undefined && DIRECTIONS.has(dir) ? (dir as MediaDirection) : 'sendrecv',
      payloads,
      telephoneEventPt,
      crypto,
      cryptoErrors,
      ptime: attrs.ptime !== undefined ? toNumber(attrs.ptime) : null,
      mid: attrs.mid !== undefined ? String(attrs.mid) : null,
      ice,
    });
  }
  return { lines, streams, sessionConnection };
}

/**
 * Describes every m= line of an SDP body. Throws SdpError when the body is
 * malformed (no v=0/o=, bad m= or c= lines, non-numeric RTP formats).
 */
export function parseSdpMedia(input: string): StreamInfo[] {
  return parseAll(input).streams;
}

/** Like parseSdpMedia, but returns the error instead of throwing. */
export function tryParseSdpMedia(input: string): { ok: true; streams: StreamInfo[] } | { ok: false; error: string } {
  try {
    return { ok: true, streams: parseSdpMedia(input) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export interface AnchorStreamOptions {
  /** Our a=crypto attributes for this stream (the peer's are always removed). */
  crypto?: readonly CryptoAttribute[];
  /** Replacement m= protocol, e.g. "RTP/SAVP". */
  protocol?: string;
  /** true: a=rtcp-mux present; false: removed; undefined: as in the input. */
  rtcpMux?: boolean;
  /** Payload types to keep, in this order (overrides allowedCoders for this stream). */
  payloadOrder?: readonly number[];
  /** Replacement direction attribute. */
  direction?: MediaDirection;
}

export interface AnchorOptions {
  /** The Media Realm address that goes into c= and o=. */
  connectionAddress: string;
  /** One per m= line: our local RTP port; 0 disables the stream (m= port 0). */
  ports: readonly number[];
  /** o= username; "-" by default. */
  originUsername?: string;
  sessionId: string;
  sessionVersion: number;
  /**
   * Media security applied to every RTP stream: 'rtp' forces RTP/AVP(F)
   * without a=crypto; 'srtp' RTP/SAVP(F) with `crypto[i]`; 'both' RTP/AVP(F)
   * with `crypto[i]` (best-effort SDES). Undefined or 'as-is' keeps the
   * protocol and adds `crypto[i]` if given.
   */
  security?: MediaSecurityMode;
  /** Our a=crypto attributes per m= line. */
  crypto?: ReadonlyArray<readonly CryptoAttribute[] | undefined>;
  /** Restrict/reorder audio and video payloads. */
  allowedCoders?: CoderPolicy;
  /** Per m= line overrides (win over security/crypto/allowedCoders). */
  streams?: ReadonlyArray<AnchorStreamOptions | undefined>;
}

export interface AnchorResult {
  sdp: string;
  /** The streams as the input described them (the peer's addresses, payloads, keys). */
  streams: StreamInfo[];
  /** Indexes of m= lines that go out with port 0 (asked for, or no allowed coder left). */
  disabled: number[];
}

function originLine(username: string, sessionId: string, version: number, address: string): string {
  return `o=${username} ${sessionId} ${version} IN ${address.includes(':') ? 'IP6' : 'IP4'} ${address}`;
}

function checkToken(what: string, value: string): void {
  if (value.length === 0 || /[\s]/.test(value)) throw new SdpError(`${what} must be a non-empty token without spaces`);
}

/**
 * Rewrites an SDP so that its media is anchored at the SBC: c= and m= ports
 * become ours, the other side's a=rtcp, ICE attributes, a=crypto and BUNDLE
 * grouping are removed, o= becomes ours. Direction attributes and anything
 * not understood are kept verbatim. A c=0.0.0.0 hold (RFC 2543 style) is
 * turned into the equivalent direction attribute, since the address itself
 * is replaced (unless the peer uses ICE, where 0.0.0.0 is a trickle
 * placeholder).
 */
export function anchorSdp(input: string, opts: AnchorOptions): AnchorResult {
  const { lines, streams, sessionConnection } = parseAll(input);
  checkToken('connection address', opts.connectionAddress);
  checkToken('session id', opts.sessionId);
  const username = opts.originUsername ?? '-';
  checkToken('origin username', username);
  if (!Number.isInteger(opts.sessionVersion) || opts.sessionVersion < 0) throw new SdpError('session version must be a non-negative integer');
  if (opts.ports.length !== lines.media.length) {
    throw new SdpError(`${opts.ports.length} ports given for ${lines.media.length} m= lines`);
  }
  const ours = connectionLine(opts.connectionAddress);

  const session: string[] = [];
  let hasSessionConnection = false;
  for (const l of lines.session) {
    if (l.startsWith('o=')) {
      session.push(originLine(username, opts.sessionId, opts.sessionVersion, opts.connectionAddress));
      continue;
    }
    if (l.startsWith('c=')) {
      session.push(ours);
      hasSessionConnection = true;
      continue;
    }
    if (l.startsWith('k=')) continue; // a key of the other side
    const name = attributeName(l);
    if (name !== null) {
      if (ICE_ATTRIBUTES.has(name) || TOPOLOGY_ATTRIBUTES.has(name) || name === 'crypto' || name === 'rtcp') continue;
      // Each m= line gets its own ports from us, so BUNDLE grouping cannot be honoured.
      if (name === 'group' && attributeValue(l).trim().toUpperCase().startsWith('BUNDLE')) continue;
    }
    session.push(l);
  }

  const disabled: number[] = [];
  const media: string[][] = [];
  for (let i = 0; i < lines.media.length; i++) {
    const block = lines.media[i]!;
    const info = streams[i]!;
    const so = opts.streams?.[i];
    const port = opts.ports[i]!;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SdpError(`port for m= line ${i + 1} is invalid: ${port}`);
    const m = parseMediaLine(block[0]!);

    let keep: Set<number> | null = null;
    let formats = m.formats;
    let outPort = port;
    if (info.transport === 'rtp' && port !== 0) {
      let order: readonly number[] | undefined = so?.payloadOrder;
      if (order === undefined && opts.allowedCoders !== undefined) {
        const r = restrictCoders(info.payloads, policyFor(opts.allowedCoders, info.media));
        order = r.usable ? r.kept.map((p) => p.pt) : [];
      }
      if (order !== undefined) {
        const offered = new Set(info.payloads.map((p) => p.pt));
        const filtered = order.filter((pt) => offered.has(pt));
        if (filtered.length === 0) {
          outPort = 0; // nothing acceptable left: disable the stream, keep its formats as RFC 3264 wants
        } else {
          keep = new Set(filtered);
          formats = filtered.map(String);
        }
      }
    }
    if (outPort === 0) disabled.push(i);

    let protocol = m.protocol;
    let crypto: readonly CryptoAttribute[] = so?.crypto ?? opts.crypto?.[i] ?? [];
    if (info.transport === 'rtp' && !info.dtls) {
      if (opts.security === 'rtp') {
        protocol = securedProtocol(protocol, false);
        crypto = so?.crypto ?? [];
      } else if (opts.security === 'srtp') {
        protocol = securedProtocol(protocol, true);
      } else if (opts.security === 'both') {
        protocol = securedProtocol(protocol, false);
      }
    } else {
      crypto = so?.crypto ?? [];
    }
    if (so?.protocol !== undefined) protocol = so.protocol;
    if (outPort === 0) crypto = [];

    let direction = so?.direction;
    if (direction === undefined && outPort !== 0 && !info.ice && isZeroAddress(info.connectionAddress)) {
      if (info.direction === 'sendrecv') direction = 'sendonly';
      else if (info.direction === 'recvonly') direction = 'inactive';
    }

    const out: string[] = [formatMediaLine({ ...m, port: outPort, portCount: 1, protocol, formats })];
    let hasConnection = false;
    let hasMux = false;
    let directionWritten = false;
    for (let j = 1; j < block.length; j++) {
      const l = block[j]!;
      if (l.startsWith('c=')) {
        if (!hasConnection) out.push(ours);
        hasConnection = true;
        continue;
      }
      if (l.startsWith('k=')) continue;
      const name = attributeName(l);
      if (name === null) {
        out.push(l);
        continue;
      }
      if (ICE_ATTRIBUTES.has(name) || TOPOLOGY_ATTRIBUTES.has(name) || name === 'rtcp' || name === 'crypto' || name === 'bundle-only') continue;
      if (name === 'rtcp-mux') {
        if (so?.rtcpMux === false || hasMux) continue;
        hasMux = true;
        out.push(l);
        continue;
      }
      if (DIRECTIONS.has(name)) {
        if (direction !== undefined) {
          if (!directionWritten) out.push(`a=${direction}`);
          directionWritten = true;
          continue;
        }
        out.push(l);
        continue;
      }
      if (keep !== null && PT_SCOPED_ATTRIBUTES.has(name)) {
        const v = attributeValue(l);
        const sp = v.indexOf(' ');
        const ptText = sp < 0 ? v : v.slice(0, sp);
        if (ptText !== '*' && !keep.has(Number(ptText))) continue;
      }
      out.push(l);
    }
    if (!hasConnection && !hasSessionConnection && sessionConnection === null) {
      // Media without any c= is invalid, but we know our address: say it.
      let at = 1;
      while (at < out.length && out[at]!.startsWith('i=')) at++;
      out.splice(at, 0, ours);
    }
    for (const c of crypto) out.push(`a=crypto:${formatCryptoAttribute(c)}`);
    if (so?.rtcpMux === true && !hasMux && outPort !== 0) out.push('a=rtcp-mux');
    if (direction !== undefined && !directionWritten) out.push(`a=${direction}`);
    media.push(out);
  }
  return { sdp: joinSdp({ session, media }), streams, disabled };
}

/**
 * o= bookkeeping for the SDP the SBC sends toward one peer (RFC 3264 §8: the
 * version goes up by one whenever the SDP changes, and stays when an SDP is
 * sent again unchanged).
 */
export class SdpOriginState {
  readonly sessionId: string;
  readonly username: string;
  private version: number;
  private lastBody: string | null = null;

  constructor(opts: { sessionId?: string; username?: string; initialVersion?: number } = {}) {
    this.sessionId = opts.sessionId ?? String(randomInt(1, 2 ** 47));
    this.username = opts.username ?? '-';
    this.version = opts.initialVersion ?? 1;
  }

  /** Version of the last SDP stamped (the initial version before any). */
  get currentVersion(): number {
    return this.version;
  }

  /** The version to use for an SDP whose content apart from o= is `body`. */
  versionFor(body: string): number {
    if (this.lastBody !== null && this.lastBody !== body) this.version++;
    this.lastBody = body;
    return this.version;
  }

  /** Sets the version field of the o= line of `sdp` (which anchorSdp wrote) per versionFor. */
  stamp(sdp: string): string {
    const start = sdp.startsWith('o=') ? 0 : sdp.indexOf('\no=') + 1;
    if (start < 0 || (start === 0 && !sdp.startsWith('o='))) throw new SdpError('SDP has no o= line to stamp');
    let end = sdp.indexOf('\n', start);
    if (end < 0) end = sdp.length;
    const line = sdp.slice(start, end).replace(/\r$/, '');
    const fields = line.slice(2).split(' ');
    if (fields.length !== 6) throw new SdpError(`o= line is malformed: "${line}"`);
    const body = sdp.slice(0, start) + sdp.slice(end);
    fields[2] = String(this.versionFor(body));
    const eol = sdp.charCodeAt(end - 1) === 13 ? '\r' : '';
    return sdp.slice(0, start) + 'o=' + fields.join(' ') + eol + sdp.slice(end);
  }
}
