/**
 * What crosses from one leg to the other. A B2BUA builds every message it
 * sends; only headers that are end-to-end by nature are copied, so nothing
 * of one side's topology (Via, Contact, Record-Route, Route, Call-ID,
 * addresses) can leak to the other.
 */
import { formatNameAddr, parseNameAddr } from '../sip/grammar.js';
import type { SipMessage } from '../sip/message.js';
import { formatUri, parseUri, uriHost } from '../sip/uri.js';

/** Copied from the received message to the one we send on the other leg. */
const END_TO_END = new Set<string>([
  'p-asserted-identity', 'p-preferred-identity', 'privacy', 'diversion', 'history-info',
  'user-to-user', 'allow', 'subject', 'accept', 'accept-language', 'organization', 'priority',
  'call-info', 'alert-info', 'content-disposition', 'content-encoding', 'content-language',
  'referred-by', 'refer-to', 'event', 'subscription-state', 'allow-events', 'reason',
  'retry-after', 'warning', 'unsupported', 'expires', 'date', 'info-package', 'recv-info',
]);

/** The option tags the engine itself can honour. */
export const SUPPORTED_TAGS: ReadonlySet<string> = new Set(['100rel', 'timer', 'norefersub', 'path']);

export const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY, MESSAGE, SUBSCRIBE';

/** Copies the end-to-end headers (and custom X- headers) of `from` onto `to`. */
export function copyEndToEndHeaders(from: SipMessage, to: SipMessage): void {
  for (const h of from.headers) {
    if (END_TO_END.has(h.name) || (h.name.length > 2 && h.name.charCodeAt(0) === 120 /* x */ && h.name.charCodeAt(1) === 45)) {
      to.addHeader(h.rawName, h.value);
    }
  }
}

/** Option tags of a Supported/Require header, lower-case. */
export function optionTags(msg: SipMessage, header: 'supported' | 'require' | 'proxy-require'): string[] {
  const out: string[] = [];
  for (const v of msg.getHeaderValues(header)) {
    const t = v.trim().toLowerCase();
    if (t.length > 0) out.push(t);
  }
  return out;
}

export function hasOptionTag(msg: SipMessage, tag: string): boolean {
  return optionTags(msg, 'supported').includes(tag) || optionTags(msg, 'require').includes(tag);
}

/** Tags in Require/Proxy-Require we cannot honour (answered with 420 + Unsupported). */
export function unsupportedRequired(msg: SipMessage, prackAllowed: boolean): string[] {
  const out: string[] = [];
  for (const t of [...optionTags(msg, 'require'), ...optionTags(msg, 'proxy-require')]) {
    if (t === '100rel' && !prackAllowed) out.push(t);
    else if (!SUPPORTED_TAGS.has(t)) out.push(t);
  }
  return out;
}

/**
 * From/To for leg B: display name and user part from leg A (after
 * manipulation), host from the destination. URI parameters other than
 * `user=phone` stay behind, they describe the other side's network.
 */
export function rehomeNameAddr(value: string | undefined, host: string): string {
  const na = value === undefined ? null : parseNameAddr(value);
  if (na === null) return `<sip:${host}>`;
  na.params.delete('tag');
  const u = parseUri(na.uri);
  if (u === null || u.opaque !== null) return formatNameAddr({ ...na, uri: `sip:${host}` });
  if (u.scheme === 'tel') {
    const uri = `sip:${u.user}@${host};user=phone`;
    return formatNameAddr({ ...na, uri });
  }
  const params = new Map<string, string | null>();
  const userPhone = u.params.get('user');
  if (userPhone !== undefined) params.set('user', userPhone);
  const uri = formatUri({ scheme: u.scheme, user: u.user, password: null, host, port: null, params, headers: '', opaque: null });
  return formatNameAddr({ displayName: na.displayName, uri, params: na.params, angle: true });
}

/** The user part of a From/To/Request-URI, '' when absent. */
export function userOf(value: string | undefined): string {
  if (value === undefined) return '';
  const na = parseNameAddr(value);
  const u = parseUri(na === null ? value : na.uri);
  return u === null ? '' : u.user;
}

export function hostOfUri(uri: string): string | null {
  const u = parseUri(uri);
  return u === null || u.host.length === 0 ? null : u.host;
}

export function contactValue(user: string, address: string, port: number, transport: string): string {
  const userPart = user.length > 0 && isSafeUser(user) ? `${user}@` : '';
  const tp = transport === 'udp' ? '' : `;transport=${transport}`;
  return `<sip:${userPart}${uriHost(address)}:${port}${tp}>`;
}

function isSafeUser(user: string): boolean {
  for (let i = 0; i < user.length; i++) {
    const c = user.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 45 || c === 46 || c === 95 || c === 42 || c === 35 || c === 37;
    if (!ok) return false;
  }
  return true;
}

/** Max-Forwards of a request; 70 when absent or unreadable (§8.1.1.6). */
export function maxForwards(req: SipMessage): number {
  const v = req.getHeader('max-forwards');
  if (v === undefined) return 70;
  const n = Number.parseInt(v.trim(), 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 255) : 70;
}

/**
 * Parses Session-Expires (RFC 4028 §4): delta and refresher. Null when
 * absent or broken.
 */
export function parseSessionExpires(msg: SipMessage): { delta: number; refresher: 'uac' | 'uas' | null } | null {
  const v = msg.getHeader('session-expires');
  if (v === undefined) return null;
  const semi = v.indexOf(';');
  const delta = Number.parseInt((semi < 0 ? v : v.slice(0, semi)).trim(), 10);
  if (!Number.isFinite(delta) || delta <= 0) return null;
  let refresher: 'uac' | 'uas' | null = null;
  const lower = v.toLowerCase();
  const r = lower.indexOf('refresher=');
  if (r >= 0) {
    const val = lower.slice(r + 10, r + 13);
    if (val === 'uac' || val === 'uas') refresher = val;
  }
  return { delta, refresher };
}

// --- writers for the headers the engine builds --------------------------------

/** CSeq (§20.16). */
export function setCSeq(msg: SipMessage, seq: number, method: string): void {
  msg.setHeader('cseq', `${seq} ${method}`);
}

/** Max-Forwards (§20.22), decremented by the caller where a request is relayed. */
export function setMaxForwards(msg: SipMessage, hops: number): void {
  msg.setHeader('max-forwards', String(Math.max(0, hops)));
}

/** RAck (RFC 3262 §7.2): the RSeq of the reliable 1xx and the CSeq of its INVITE. */
export function setRAck(msg: SipMessage, rseq: number, inviteSeq: number): void {
  msg.setHeader('rack', `${rseq} ${inviteSeq} INVITE`);
}

/** Require: 100rel and RSeq on a reliable provisional response (RFC 3262 §3). */
export function markReliable(res: SipMessage, rseq: number): void {
  res.setHeader('require', '100rel');
  res.setHeader('rseq', String(rseq));
}

/** Session-Expires (RFC 4028 §4), with the refresher when one is named. */
export function setSessionExpires(msg: SipMessage, deltaSec: number, refresher: 'uac' | 'uas' | null): void {
  msg.setHeader('session-expires', refresher === null ? String(deltaSec) : `${deltaSec};refresher=${refresher}`);
}

/** Min-SE (RFC 4028 §5). */
export function setMinSe(msg: SipMessage, sec: number): void {
  msg.setHeader('min-se', String(sec));
}

/** The RSeq/RAck number in a reliable 1xx or PRACK; NaN when unreadable. */
export function rackRSeq(prack: SipMessage): number {
  const first = (prack.getHeader('rack') ?? '').trim().split(/\s+/)[0] ?? '';
  return Number.parseInt(first, 10);
}

export function hasSdp(msg: SipMessage): boolean {
  return msg.body.length > 0 && msg.contentType === 'application/sdp';
}
