/**
 * Accessors for the parts of a SIP message a rule can read or change. One
 * accessor is built per element reference at load time; at run time it
 * parses only the header value it addresses. Every writer refuses (returns
 * false) rather than produce a header the parser would reject.
 */
import { isTokenChar, splitList, parseNameAddr, parseParams, quote, formatParams, type NameAddr, type Params } from '../sip/grammar.js';
import type { SipHeader, SipMessage } from '../sip/message.js';
import { isListHeader } from '../sip/header-names.js';
import { reasonPhrase } from '../sip/response.js';
import { formatUri, parseUri, type SipUri } from '../sip/uri.js';
import { parseCSeq, parseVia } from '../sip/via.js';
import type { ElementRef, SubElement } from './parser.js';
import type { ManipulationContext } from './types.js';

export interface Accessor {
  /** undefined = the element is not in this message. */
  get(m: SipMessage, ctx: ManipulationContext): string | undefined;
  /** Replace an existing element; false (no change) when absent or refused. */
  modify: ((m: SipMessage, v: string) => boolean) | null;
  /** Create (or, for single-valued parts, set) the element. */
  add: ((m: SipMessage, v: string) => boolean) | null;
  remove: ((m: SipMessage) => boolean) | null;
  normalize: ((m: SipMessage) => boolean) | null;
}

/** Headers the transaction layer cannot do without. */
export const ESSENTIAL_HEADERS: ReadonlySet<string> = new Set(['call-id', 'cseq', 'from', 'to', 'via', 'max-forwards']);

/** Headers whose value is a name-addr (so `param.X` means a header parameter after the URI). */
const NAME_ADDR_HEADERS: ReadonlySet<string> = new Set([
  'from', 'to', 'contact', 'p-asserted-identity', 'p-preferred-identity', 'diversion', 'referred-by',
  'refer-to', 'route', 'record-route', 'reply-to', 'history-info', 'p-called-party-id', 'remote-party-id',
  'path', 'service-route', 'p-associated-uri',
]);

/** URI parameters that Normalize keeps (RFC 3261 §19.1.1 and common extensions). */
const KNOWN_URI_PARAMS: ReadonlySet<string> = new Set([
  'transport', 'user', 'method', 'ttl', 'maddr', 'lr', 'ob', 'gr', 'sigcomp', 'phone-context', 'isub', 'ext', 'cpc', 'rn', 'npdi',
]);

const URL_TYPE_CODES: Readonly<Record<string, string>> = { sip: '1', tel: '2', sips: '3' };

function hasLineBreak(v: string): boolean {
  return v.indexOf('\r') >= 0 || v.indexOf('\n') >= 0;
}

/** Would the message still parse with `value` as an element of header `name`? */
function acceptableHeaderValue(m: SipMessage, name: string, value: string): boolean {
  if (hasLineBreak(value)) return false;
  switch (name) {
    case 'call-id':
      return value.length > 0 && !/\s/.test(value);
    case 'cseq': {
      const c = parseCSeq(value);
      const old = m.cseq;
      return c !== null && (old === null || c.method === old.method);
    }
    case 'from':
    case 'to': {
      const na = parseNameAddr(value);
      if (na === null || parseUri(na.uri) === null) return false;
      // The tag identifies the dialog: a rule may not drop or change it.
      const oldTag = name === 'from' ? m.fromTag : m.toTag;
      return (na.params.get('tag') ?? null) === oldTag;
    }
    case 'via': {
      const parts = splitList(value);
      return parts.length > 0 && parts.every((p) => parseVia(p) !== null);
    }
    case 'max-forwards': {
      if (!/^\d{1,3}$/.test(value.trim())) return false;
      return Number(value) <= 255;
    }
    default:
      return true;
  }
}

function isDisplayToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && !isTokenChar(c)) return false;
  }
  return true;
}

/** Like formatNameAddr, but keeps a display name quoted when it was quoted. */
export function writeNameAddr(na: NameAddr, wasQuoted: boolean): string {
  let out = '';
  if (na.displayName !== null && na.displayName.length > 0) {
    out += wasQuoted || !isDisplayToken(na.displayName) ? quote(na.displayName) : na.displayName;
    out += ' ';
  }
  return out + `<${na.uri}>` + formatParams(na.params);
}

function startsQuoted(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 32 || c === 9) continue;
    return c === 34;
  }
  return false;
}

/** First ';' outside quotes and angle brackets, or -1. */
function paramStart(v: string): number {
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++;
      else if (c === 34) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 59 && !inAngle) return i;
  }
  return -1;
}

// --- header slots ---------------------------------------------------------------

/** Reads and writes one element (by index) of a header. */
interface Slot {
  read(m: SipMessage): string | undefined;
  write(m: SipMessage, v: string): boolean;
}

function headerLine(m: SipMessage, name: string, idx: number): SipHeader | undefined {
  let seen = 0;
  for (const h of m.headers) {
    if (h.name !== name) continue;
    if (seen === idx) return h;
    seen++;
  }
  return undefined;
}

/**
 * The header line at `index` (Mediant counts header instances, i.e. lines).
 * `whole` addresses the full line; otherwise the first element of a list
 * line (`Contact: <a>;expires=1, <b>`) is what sub-elements work on.
 */
function headerSlot(name: string, index: number | null, whole: boolean): Slot {
  const idx = index ?? 0;
  const split = !whole && isListHeader(name);
  return {
    read: (m) => {
      const h = headerLine(m, name, idx);
      if (h === undefined) return undefined;
      if (!split || h.value.indexOf(',') < 0) return h.value;
      return splitList(h.value)[0];
    },
    write: (m, v) => {
      const h = headerLine(m, name, idx);
      if (h === undefined || !acceptableHeaderValue(m, name, v)) return false;
      if (!split || h.value.indexOf(',') < 0) return m.setHeaderLine(h, v);
      const parts = splitList(h.value);
      parts[0] = v;
      return m.setHeaderLine(h, parts.join(', '));
    },
  };
}

/** Edits a name-addr element in place; `edit` returns false for "no change". */
function editNameAddr(slot: Slot, m: SipMessage, edit: (na: NameAddr) => boolean): boolean {
  const raw = slot.read(m);
  if (raw === undefined) return false;
  const na = parseNameAddr(raw);
  if (na === null) return false;
  if (!edit(na)) return false;
  const out = writeNameAddr(na, startsQuoted(raw));
  if (out === raw) return false;
  return slot.write(m, out);
}

/** A place holding a URI: a name-addr header element or the Request-URI. */
interface UriSlot {
  read(m: SipMessage): string | undefined;
  write(m: SipMessage, uri: string): boolean;
}

function headerUriSlot(slot: Slot): UriSlot {
  return {
    read: (m) => {
      const raw = slot.read(m);
      if (raw === undefined) return undefined;
      return parseNameAddr(raw)?.uri;
    },
    write: (m, uri) => editNameAddr(slot, m, (na) => {
      if (na.uri === uri) return false;
      na.uri = uri;
      return true;
    }),
  };
}

const requestUriSlot: UriSlot = {
  read: (m) => (m.isRequest ? m.requestUri : undefined),
  write: (m, uri) => {
    if (!m.isRequest || uri === m.requestUri) return false;
    m.requestUri = uri;
    return true;
  },
};

function editUri(slot: UriSlot, m: SipMessage, edit: (u: SipUri) => boolean): boolean {
  const raw = slot.read(m);
  if (raw === undefined) return false;
  const u = parseUri(raw);
  if (u === null || !edit(u)) return false;
  const out = formatUri(u);
  // What we write must read back: refuse a host or user that breaks the URI.
  if (parseUri(out) === null || hasLineBreak(out) || out.indexOf('>') >= 0 || /\s/.test(out)) return false;
  return slot.write(m, out);
}

function readUri(slot: UriSlot, m: SipMessage): SipUri | null {
  const raw = slot.read(m);
  return raw === undefined ? null : parseUri(raw);
}

function normalizeUriParams(u: SipUri): boolean {
  let changed = false;
  for (const k of [...u.params.keys()]) {
    if (!KNOWN_URI_PARAMS.has(k)) { u.params.delete(k); changed = true; }
  }
  if (u.headers.length > 0) { u.headers = ''; changed = true; }
  return changed;
}

/** Digits of a dialled number without visual separators (RFC 3966 §5.1.1). */
function normalizeNumber(user: string): string {
  let out = '';
  for (let i = 0; i < user.length; i++) {
    const ch = user[i]!;
    if (ch === '-' || ch === '.' || ch === '(' || ch === ')' || ch === ' ') continue;
    out += ch;
  }
  return out;
}

function uriAccessor(slot: UriSlot, sub: SubElement): Accessor {
  switch (sub.kind) {
    case 'url': {
      const modify = (m: SipMessage, v: string): boolean => {
        const t = v.trim();
        if (parseUri(t) === null || /\s/.test(t) || t.indexOf('>') >= 0) return false;
        return slot.write(m, t);
      };
      return {
        get: (m) => slot.read(m),
        modify,
        add: modify,
        remove: null,
        normalize: (m) => editUri(slot, m, normalizeUriParams),
      };
    }
    case 'url.user': {
      const set = (m: SipMessage, v: string): boolean => editUri(slot, m, (u) => {
        if (u.opaque !== null || u.user === v) return false;
        if (u.scheme === 'tel' && v.length === 0) return false;
        u.user = v;
        if (v.length === 0) u.password = null;
        return true;
      });
      return {
        get: (m) => {
          const u = readUri(slot, m);
          return u === null || u.user.length === 0 ? undefined : u.user;
        },
        modify: set,
        add: set,
        remove: (m) => set(m, ''),
        normalize: (m) => editUri(slot, m, (u) => {
          const n = normalizeNumber(u.user);
          if (n === u.user || n.length === 0) return false;
          u.user = n;
          return true;
        }),
      };
    }
    case 'url.host': {
      const set = (m: SipMessage, v: string): boolean => editUri(slot, m, (u) => {
        if (u.scheme === 'tel' || u.opaque !== null || v.length === 0 || u.host === v) return false;
        u.host = v;
        return true;
      });
      return {
        get: (m) => {
          const u = readUri(slot, m);
          return u === null || u.host.length === 0 ? undefined : u.host;
        },
        modify: set,
        add: set,
        remove: null,
        normalize: (m) => editUri(slot, m, (u) => {
          const h = u.host.toLowerCase();
          if (h === u.host) return false;
          u.host = h;
          return true;
        }),
      };
    }
    case 'url.port': {
      const set = (m: SipMessage, v: string): boolean => editUri(slot, m, (u) => {
        if (u.scheme === 'tel' || u.opaque !== null) return false;
        const t = v.trim();
        if (!/^\d{1,5}$/.test(t)) return false;
        const p = Number(t);
        if (p < 1 || p > 65535 || u.port === p) return false;
        u.port = p;
        return true;
      });
      return {
        get: (m) => {
          const u = readUri(slot, m);
          return u === null || u.port === null ? undefined : String(u.port);
        },
        modify: set,
        add: set,
        remove: (m) => editUri(slot, m, (u) => {
          if (u.port === null) return false;
          u.port = null;
          return true;
        }),
        normalize: null,
      };
    }
    case 'url.type': {
      const set = (m: SipMessage, v: string): boolean => editUri(slot, m, (u) => changeScheme(u, v.trim()));
      return {
        get: (m) => {
          const u = readUri(slot, m);
          return u === null ? undefined : URL_TYPE_CODES[u.scheme] ?? '0';
        },
        modify: set,
        add: set,
        remove: null,
        normalize: null,
      };
    }
    case 'url.param': {
      const name = sub.name;
      return {
        get: (m) => {
          const u = readUri(slot, m);
          if (u === null || !u.params.has(name)) return undefined;
          return u.params.get(name) ?? '';
        },
        modify: (m, v) => editUri(slot, m, (u) => setParam(u.params, name, v, false)),
        add: (m, v) => editUri(slot, m, (u) => setParam(u.params, name, v, true)),
        remove: (m) => editUri(slot, m, (u) => u.params.delete(name)),
        normalize: null,
      };
    }
    default:
      throw new Error(`sub-element ${sub.kind} does not belong to a URI`);
  }
}

/** url.type: 1 SIP, 2 tel, 3 SIPS. Converting tel -> sip needs a host we do not have, so it is refused. */
function changeScheme(u: SipUri, code: string): boolean {
  const target = code === '1' ? 'sip' : code === '2' ? 'tel' : code === '3' ? 'sips' : null;
  if (target === null || u.opaque !== null || u.scheme === target) return false;
  if (target === 'tel') {
    if (u.user.length === 0) return false;
    u.scheme = 'tel';
    u.host = '';
    u.port = null;
    u.password = null;
    u.headers = '';
    u.params.delete('user');
    u.params.delete('transport');
    u.params.delete('lr');
    u.params.delete('maddr');
    return true;
  }
  if (u.scheme === 'tel') return false;
  u.scheme = target;
  return true;
}

function setParam(params: Params, name: string, v: string, create: boolean): boolean {
  if (!create && !params.has(name)) return false;
  if (hasLineBreak(v) || v.indexOf(';') >= 0) return false;
  const value = v.length === 0 ? null : v;
  if (params.has(name) && params.get(name) === value) return false;
  params.set(name, value);
  return true;
}

/** `param.NAME` on a header: after the URI for name-addr values, after the first ';' otherwise. */
function headerParamAccessor(slot: Slot, header: string, name: string): Accessor {
  const isNameAddr = (raw: string): boolean => {
    if (NAME_ADDR_HEADERS.has(header)) return true;
    const t = raw.trimStart();
    return t.startsWith('<') || t.startsWith('"');
  };
  const edit = (m: SipMessage, fn: (p: Params) => boolean): boolean => {
    const raw = slot.read(m);
    if (raw === undefined) return false;
    if (isNameAddr(raw)) return editNameAddr(slot, m, (na) => fn(na.params));
    const semi = paramStart(raw);
    const base = (semi < 0 ? raw : raw.slice(0, semi)).trimEnd();
    const params = semi < 0 ? new Map<string, string | null>() : parseParams(raw, semi);
    if (params === null || !fn(params)) return false;
    const out = base + formatParams(params);
    return out !== raw && slot.write(m, out);
  };
  return {
    get: (m) => {
      const raw = slot.read(m);
      if (raw === undefined) return undefined;
      let params: Params | null;
      if (isNameAddr(raw)) params = parseNameAddr(raw)?.params ?? null;
      else {
        const semi = paramStart(raw);
        params = semi < 0 ? null : parseParams(raw, semi);
      }
      if (params === null || !params.has(name)) return undefined;
      return params.get(name) ?? '';
    },
    modify: (m, v) => edit(m, (p) => setParam(p, name, v, false)),
    add: (m, v) => edit(m, (p) => setParam(p, name, v, true)),
    remove: (m) => edit(m, (p) => p.delete(name)),
    normalize: null,
  };
}

function displayNameAccessor(slot: Slot): Accessor {
  const set = (m: SipMessage, v: string): boolean => editNameAddr(slot, m, (na) => {
    if (hasLineBreak(v)) return false;
    const next = v.length === 0 ? null : v;
    if (na.displayName === next) return false;
    na.displayName = next;
    return true;
  });
  return {
    get: (m) => {
      const raw = slot.read(m);
      if (raw === undefined) return undefined;
      return parseNameAddr(raw)?.displayName ?? undefined;
    },
    modify: set,
    add: set,
    remove: (m) => set(m, ''),
    normalize: null,
  };
}

function wholeHeaderAccessor(name: string, index: number | null, slot: Slot): Accessor {
  return {
    get: (m) => slot.read(m),
    modify: (m, v) => {
      const cur = slot.read(m);
      if (cur === undefined || cur === v) return false;
      return slot.write(m, v);
    },
    add: (m, v) => {
      if (hasLineBreak(v) || v.trim().length === 0) return false;
      m.addHeader(name, v);
      return true;
    },
    remove: (m) => {
      if (index === null) return m.removeHeader(name) > 0;
      const h = headerLine(m, name, index);
      if (h === undefined) return false;
      return m.removeHeaderLine(h);
    },
    normalize: (m) => {
      const raw = slot.read(m);
      if (raw === undefined) return false;
      const isNa = NAME_ADDR_HEADERS.has(name) || raw.trimStart().startsWith('<');
      if (isNa) {
        return editNameAddr(slot, m, (na) => {
          const u = parseUri(na.uri);
          if (u !== null && normalizeUriParams(u)) na.uri = formatUri(u);
          return true; // rewriting in canonical form is itself the change
        });
      }
      const out = raw.replace(/\s+/g, ' ').trim();
      return out !== raw && slot.write(m, out);
    },
  };
}

function prefixHeaderAccessor(prefix: string): Accessor {
  return {
    get: (m) => {
      for (const h of m.headers) if (h.name.startsWith(prefix)) return h.value;
      return undefined;
    },
    modify: null,
    add: null,
    remove: (m) => m.removeHeadersByPrefix(prefix) > 0,
    normalize: null,
  };
}

function bodyAccessor(contentType: string): Accessor {
  const matches = (m: SipMessage): boolean => m.body.length > 0 && m.contentType === contentType;
  return {
    get: (m) => (matches(m) ? m.body.toString('utf8') : undefined),
    modify: (m, v) => {
      if (!matches(m)) return false;
      const cur = m.body.toString('utf8');
      if (cur === v) return false;
      m.setBody(v);
      return true;
    },
    add: (m, v) => {
      if (v.length === 0) return false;
      // A second body of another type would need multipart: refused.
      if (m.body.length > 0 && !matches(m)) return false;
      m.setBody(v, contentType);
      return true;
    },
    remove: (m) => {
      if (!matches(m)) return false;
      m.setBody('');
      return true;
    },
    normalize: contentType === 'application/sdp'
      ? (m) => {
        if (!matches(m)) return false;
        const cur = m.body.toString('utf8');
        const lines = cur.split(/\r?\n/).filter((l) => /^[a-z]=/.test(l));
        const out = lines.join('\r\n') + '\r\n';
        if (out === cur) return false;
        m.setBody(out);
        return true;
      }
      : null,
  };
}

const methodTypeAccessor: Accessor = {
  get: (m) => (m.isRequest ? m.method : String(m.status)),
  modify: (m, v) => setStatus(m, v),
  add: (m, v) => setStatus(m, v),
  remove: null,
  normalize: null,
};

/**
 * Changes a response's code and gives it the matching reason phrase.
 * Provisional and success responses drive transaction and dialog state,
 * so a code may only move within 1xx or within 2xx, or among 3xx-6xx.
 */
function setStatus(m: SipMessage, v: string): boolean {
  if (m.isRequest) return false;
  const t = v.trim();
  if (!/^[1-6]\d\d$/.test(t)) return false;
  const code = Number(t);
  if (code === m.status) return false;
  const cls = (s: number): number => (s < 300 ? Math.floor(s / 100) : 3);
  if (cls(code) !== cls(m.status)) return false;
  m.status = code;
  m.reason = reasonPhrase(code);
  return true;
}

const reasonAccessor: Accessor = {
  get: (m) => (m.isRequest ? undefined : m.reason),
  modify: (m, v) => {
    if (m.isRequest || hasLineBreak(v) || v === m.reason) return false;
    m.reason = v;
    return true;
  },
  add: null,
  remove: null,
  normalize: null,
};

type ParamGetter = (ctx: ManipulationContext) => string | undefined;

const CONTEXT_GETTERS: Readonly<Record<string, ParamGetter>> = {
  'call.src.user': (c) => c.callSrcUser,
  'call.dst.user': (c) => c.callDstUser,
  'call.src.host': (c) => c.callSrcHost,
  'call.dst.host': (c) => c.callDstHost,
  'ipg.src.name': (c) => c.srcIpGroup?.name,
  'ipg.src.id': (c) => (c.srcIpGroup === undefined ? undefined : String(c.srcIpGroup.id)),
  'ipg.src.type': (c) => c.srcIpGroup?.type,
  'ipg.src.host': (c) => c.srcIpGroup?.host,
  'ipg.src.user': (c) => c.srcIpGroup?.user,
  'ipg.dst.name': (c) => c.dstIpGroup?.name,
  'ipg.dst.id': (c) => (c.dstIpGroup === undefined ? undefined : String(c.dstIpGroup.id)),
  'ipg.dst.type': (c) => c.dstIpGroup?.type,
  'ipg.dst.host': (c) => c.dstIpGroup?.host,
  'ipg.dst.user': (c) => c.dstIpGroup?.user,
  'message.address.src.ip': (c) => c.messageSrcAddress,
  'message.address.src.port': (c) => (c.messageSrcPort === undefined ? undefined : String(c.messageSrcPort)),
  'message.sdp.ip': (c) => c.sdpIp,
  'message.sdp.rtpmode': (c) => c.sdpRtpMode,
};

/** Builds the accessor for a parsed element reference (load time). */
export function buildAccessor(ref: ElementRef): Accessor {
  switch (ref.kind) {
    case 'param': {
      const g = CONTEXT_GETTERS[ref.name];
      if (g === undefined) throw new Error(`no getter for param.${ref.name}`);
      return { get: (_m, ctx) => g(ctx), modify: null, add: null, remove: null, normalize: null };
    }
    case 'body':
      return bodyAccessor(ref.contentType);
    case 'methodtype':
      return methodTypeAccessor;
    case 'reason':
      return reasonAccessor;
    case 'request-uri':
      if (ref.sub.kind === 'url') {
        const a = uriAccessor(requestUriSlot, ref.sub);
        return { ...a, add: null };
      }
      return uriAccessor(requestUriSlot, ref.sub);
    case 'header': {
      if (ref.prefix) return prefixHeaderAccessor(ref.name);
      const sub = ref.sub;
      const slot = headerSlot(ref.name, ref.index, sub.kind === 'whole');
      switch (sub.kind) {
        case 'whole': return wholeHeaderAccessor(ref.name, ref.index, slot);
        case 'name': return displayNameAccessor(slot);
        case 'param': return headerParamAccessor(slot, ref.name, sub.name);
        default: return uriAccessor(headerUriSlot(slot), sub);
      }
    }
  }
}
