/**
 * SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966). Unknown schemes are
 * kept as opaque text so a message that carries one still round-trips.
 */
import { formatParams, parseParams, type Params } from './grammar.js';

export interface SipUri {
  /** Lower-case scheme: 'sip', 'sips', 'tel' or anything else. */
  scheme: string;
  /** User part (escaped form as written), or the telephone-subscriber for tel:. Empty when absent. */
  user: string;
  password: string | null;
  /** Host as written, IPv6 references with their brackets. Empty for tel: and opaque URIs. */
  host: string;
  port: number | null;
  params: Params;
  /** `?h=v&h2=v2` part, kept raw (without the `?`); empty when absent. */
  headers: string;
  /** For schemes we do not model: everything after `scheme:`. */
  opaque: string | null;
}

export function parseUri(text: string): SipUri | null {
  const s = text.trim();
  const colon = s.indexOf(':');
  if (colon <= 0) return null;
  const scheme = s.slice(0, colon).toLowerCase();
  for (let i = 0; i < scheme.length; i++) {
    const c = scheme.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (i > 0 && ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46));
    if (!ok) return null;
  }
  const rest = s.slice(colon + 1);
  if (scheme === 'tel') return parseTel(rest);
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (rest.length === 0) return null;
    return { scheme, user: '', password: null, host: '', port: null, params: new Map(), headers: '', opaque: rest };
  }
  let hostStart = 0;
  let user = '';
  let password: string | null = null;
  // The userinfo ends at the last '@' before any ';' or '?' that follows it;
  // '@' may not appear unescaped in the host part, so lastIndexOf is safe.
  const qPos = rest.indexOf('?');
  const searchEnd = qPos < 0 ? rest.length : qPos;
  const at = rest.lastIndexOf('@', searchEnd - 1);
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pw = userinfo.indexOf(':');
    if (pw >= 0) {
      user = userinfo.slice(0, pw);
      password = userinfo.slice(pw + 1);
    } else user = userinfo;
    if (user.length === 0) return null;
    hostStart = at + 1;
  }
  let i = hostStart;
  let host: string;
  if (rest.charCodeAt(i) === 91 /* [ */) {
    const close = rest.indexOf(']', i);
    if (close < 0) return null;
    host = rest.slice(i, close + 1);
    i = close + 1;
  } else {
    const start = i;
    while (i < rest.length) {
      const c = rest.charCodeAt(i);
      if (c === 58 || c === 59 || c === 63) break; // : ; ?
      i++;
    }
    host = rest.slice(start, i);
  }
  if (host.length === 0 || !isPlausibleHost(host)) return null;
  let port: number | null = null;
  if (rest.charCodeAt(i) === 58) {
    i++;
    const pStart = i;
    let p = 0;
    while (i < rest.length) {
      const c = rest.charCodeAt(i);
      if (c < 48 || c > 57) break;
      p = p * 10 + (c - 48);
      i++;
    }
    if (i === pStart || p > 65535) return null;
    port = p;
  }
  const paramEnd = qPos < 0 ? rest.length : qPos;
  let params: Params = new Map();
  if (i < paramEnd) {
    if (rest.charCodeAt(i) !== 59) return null;
    const parsed = parseParams(rest, i, paramEnd);
    if (parsed === null) return null;
    params = parsed;
  }
  const headers = qPos < 0 ? '' : rest.slice(qPos + 1);
  return { scheme, user, password, host, port, params, headers, opaque: null };
}

function parseTel(rest: string): SipUri | null {
  const semi = rest.indexOf(';');
  const number = semi < 0 ? rest : rest.slice(0, semi);
  if (number.length === 0) return null;
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(rest, semi);
  if (params === null) return null;
  return { scheme: 'tel', user: number, password: null, host: '', port: null, params, headers: '', opaque: null };
}

function isPlausibleHost(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
      c === 45 || c === 46 || c === 58 || c === 91 || c === 93 || c === 95;
    if (!ok) return false;
  }
  return true;
}

export function formatUri(u: SipUri): string {
  if (u.opaque !== null) return `${u.scheme}:${u.opaque}`;
  if (u.scheme === 'tel') return `tel:${u.user}${formatParams(u.params)}`;
  let out = `${u.scheme}:`;
  if (u.user.length > 0) {
    out += u.user;
    if (u.password !== null) out += `:${u.password}`;
    out += '@';
  }
  out += u.host;
  if (u.port !== null) out += `:${u.port}`;
  out += formatParams(u.params);
  if (u.headers.length > 0) out += `?${u.headers}`;
  return out;
}

/** Host without IPv6 brackets, for socket calls. */
export function bareHost(host: string): string {
  return host.charCodeAt(0) === 91 && host.charCodeAt(host.length - 1) === 93 ? host.slice(1, -1) : host;
}

/** Host as it must appear in a URI or Via: IPv6 literals get brackets. */
export function uriHost(address: string): string {
  return address.indexOf(':') >= 0 && address.charCodeAt(0) !== 91 ? `[${address}]` : address;
}
