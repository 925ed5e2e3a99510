/**
 * A line-preserving model of an SDP body: the session section and one block
 * per m= line, each a list of raw "x=value" lines. Rewriting works on these
 * lines so that attributes we do not understand keep their exact text and
 * their position.
 */

export class SdpError extends Error {
  override readonly name = 'SdpError';
}

/** Upper bounds for input from the network. */
export const SDP_MAX_BYTES = 64 * 1024;
export const SDP_MAX_MEDIA = 32;
export const SDP_MAX_LINES = 2000;

export interface SdpLines {
  /** Session-level lines, v= first. */
  session: string[];
  /** One entry per m= line; element 0 of each is the m= line itself. */
  media: string[][];
}

/** Splits an SDP body into session and media blocks; throws SdpError on structural errors. */
export function splitSdp(input: string): SdpLines {
  if (typeof input !== 'string') throw new SdpError('SDP body is not text');
  if (input.length > SDP_MAX_BYTES) throw new SdpError(`SDP body is larger than ${SDP_MAX_BYTES} bytes`);
  const raw = input.split(/\r\n|\r|\n/);
  if (raw.length > SDP_MAX_LINES) throw new SdpError(`SDP body has more than ${SDP_MAX_LINES} lines`);
  const session: string[] = [];
  const media: string[][] = [];
  let current = session;
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i]!;
    if (line.length === 0) continue; // trailing CRLF, blank lines some UAs add
    const type = line.charCodeAt(0);
    if (line.length < 2 || line.charCodeAt(1) !== 61 /* = */ || type < 97 || type > 122) {
      throw new SdpError(`SDP line ${i + 1} is not of the form x=value: "${line.slice(0, 40)}"`);
    }
    if (type === 109 /* m */) {
      if (media.length >= SDP_MAX_MEDIA) throw new SdpError(`SDP has more than ${SDP_MAX_MEDIA} m= lines`);
      current = [];
      media.push(current);
    }
    current.push(line);
  }
  if (session.length === 0 || session[0] !== 'v=0') throw new SdpError('SDP does not start with v=0');
  if (!session.some((l) => l.startsWith('o='))) throw new SdpError('SDP has no o= line');
  return { session, media };
}

export function joinSdp(lines: SdpLines): string {
  let out = lines.session.join('\r\n') + '\r\n';
  for (const block of lines.media) out += block.join('\r\n') + '\r\n';
  return out;
}

/** Name of an a= attribute ("rtpmap" for "a=rtpmap:0 PCMU/8000", "sendrecv" for "a=sendrecv"); null for other lines. */
export function attributeName(line: string): string | null {
  if (!line.startsWith('a=')) return null;
  const colon = line.indexOf(':', 2);
  return (colon < 0 ? line.slice(2) : line.slice(2, colon)).toLowerCase();
}

/** Value of an a= attribute after the first colon ("" for flags). */
export function attributeValue(line: string): string {
  const colon = line.indexOf(':', 2);
  return colon < 0 ? '' : line.slice(colon + 1);
}

export interface MediaLine {
  media: string;
  port: number;
  /** Number of ports from "port/count" (RFC 4566 §5.14); 1 when absent. */
  portCount: number;
  protocol: string;
  formats: string[];
}

export function parseMediaLine(line: string): MediaLine {
  const fields = line.slice(2).trim().split(/ +/);
  if (fields.length < 3) throw new SdpError(`m= line needs media, port and protocol: "${line}"`);
  const [media, portText, protocol, ...formats] = fields as [string, string, string, ...string[]];
  const slash = portText.indexOf('/');
  const portPart = slash < 0 ? portText : portText.slice(0, slash);
  const countPart = slash < 0 ? '1' : portText.slice(slash + 1);
  const port = Number(portPart);
  const portCount = Number(countPart);
  if (!/^\d{1,5}$/.test(portPart) || port > 65535) throw new SdpError(`m= line has an invalid port: "${line}"`);
  if (!/^\d{1,3}$/.test(countPart) || portCount < 1) throw new SdpError(`m= line has an invalid port count: "${line}"`);
  if (!/^[A-Za-z0-9._-]+$/.test(media)) throw new SdpError(`m= line has an invalid media type: "${line}"`);
  return { media, port, portCount, protocol, formats };
}

export function formatMediaLine(m: MediaLine): string {
  const port = m.portCount > 1 ? `${m.port}/${m.portCount}` : String(m.port);
  const parts = [m.media, port, m.protocol, ...m.formats];
  return 'm=' + parts.join(' ');
}

/** Parses "IN IP4 192.0.2.1" / "IN IP6 ::1" (multicast "/ttl/n" suffixes dropped). */
export function parseConnectionLine(line: string): { ipVersion: 4 | 6; address: string } {
  const fields = line.slice(2).trim().split(/ +/);
  if (fields.length !== 3 || fields[0] !== 'IN' || (fields[1] !== 'IP4' && fields[1] !== 'IP6')) {
    throw new SdpError(`c= line is not "IN IP4|IP6 address": "${line}"`);
  }
  const addr = fields[2]!;
  const slash = addr.indexOf('/');
  const address = slash < 0 ? addr : addr.slice(0, slash);
  if (address.length === 0) throw new SdpError(`c= line has no address: "${line}"`);
  return { ipVersion: fields[1] === 'IP6' ? 6 : 4, address };
}

export function connectionLine(address: string): string {
  return `c=IN ${address.includes(':') ? 'IP6' : 'IP4'} ${address}`;
}
