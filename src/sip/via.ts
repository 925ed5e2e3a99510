/**
 * Via (RFC 3261 §20.42, §18.2.1; rport per RFC 3581) and CSeq (§20.16).
 */
import { formatParams, isToken, isWhitespaceCode, parseParams, type Params } from './grammar.js';
import { uriHost } from './uri.js';

/** RFC 3261 §8.1.1.7: branches that start with this were made by an RFC 3261 element. */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

export interface Via {
  /** 'SIP/2.0' normally. */
  protocol: string;
  /** Upper-case transport: UDP, TCP, TLS, WS, WSS, SCTP ... */
  transport: string;
  host: string;
  port: number | null;
  params: Params;
}

export function parseVia(value: string): Via | null {
  const s = value;
  let i = 0;
  const n = s.length;
  while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
  // sent-protocol = name SLASH version SLASH transport, with LWS allowed around slashes.
  const slash1 = s.indexOf('/', i);
  if (slash1 < 0) return null;
  const slash2 = s.indexOf('/', slash1 + 1);
  if (slash2 < 0) return null;
  const protocol = `${s.slice(i, slash1).trim()}/${s.slice(slash1 + 1, slash2).trim()}`;
  i = slash2 + 1;
  while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
  const tStart = i;
  while (i < n && !isWhitespaceCode(s.charCodeAt(i))) i++;
  const transport = s.slice(tStart, i).toUpperCase();
  if (transport.length === 0) return null;
  while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
  // sent-by = host [ COLON port ]
  let host: string;
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close < 0) return null;
    host = s.slice(i, close + 1);
    i = close + 1;
  } else {
    const hStart = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 58 || c === 59 || isWhitespaceCode(c)) break;
      i++;
    }
    host = s.slice(hStart, i);
  }
  if (host.length === 0) return null;
  while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
  let port: number | null = null;
  if (s.charCodeAt(i) === 58) {
    i++;
    while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
    const pStart = i;
    let p = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      p = p * 10 + (c - 48);
      i++;
    }
    if (i === pStart || p > 65535) return null;
    port = p;
  }
  const params = parseParams(s, i);
  if (params === null) return null;
  return { protocol, transport, host, port, params };
}

export function formatVia(v: Via): string {
  let out = `${v.protocol}/${v.transport} ${v.host}`;
  if (v.port !== null) out += `:${v.port}`;
  return out + formatParams(v.params);
}

export function viaBranch(v: Via): string | null {
  const b = v.params.get('branch');
  return b === undefined ? null : b;
}

/**
 * Builds a Via for a request we send. `branch` must be unique per
 * transaction and carry the magic cookie; `rport` asks the next hop to
 * answer to our source port (RFC 3581).
 */
export function buildVia(transport: string, address: string, port: number, branch: string): string {
  return `SIP/2.0/${transport.toUpperCase()} ${uriHost(address)}:${port};branch=${branch};rport`;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** CSeq: 32-bit unsigned sequence number (§8.1.1.5) and a method token. */
export function parseCSeq(value: string): CSeq | null {
  const s = value.trim();
  let i = 0;
  let seq = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
    i++;
  }
  if (i === 0 || i > 10 || seq > 0xffffffff) return null;
  if (i >= s.length || !isWhitespaceCode(s.charCodeAt(i))) return null;
  const method = s.slice(i).trim();
  if (!isToken(method)) return null;
  return { seq, method };
}
