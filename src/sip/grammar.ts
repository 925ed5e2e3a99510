/**
 * Small hand-written scanners for the pieces of RFC 3261 §25 grammar that
 * headers share: comma lists, parameters, quoted strings, name-addr.
 * No regular expressions: these run for every message.
 */

export type Params = Map<string, string | null>;

const SP = 32;
const HT = 9;

export function isWhitespaceCode(c: number): boolean {
  return c === SP || c === HT || c === 13 || c === 10;
}

/** RFC 3261 token characters. */
export function isTokenChar(c: number): boolean {
  if (c >= 97 && c <= 122) return true; // a-z
  if (c >= 65 && c <= 90) return true; // A-Z
  if (c >= 48 && c <= 57) return true; // 0-9
  switch (c) {
    case 45: case 46: case 33: case 37: case 42: case 95: case 43: case 96: case 39: case 126:
      return true; // - . ! % * _ + ` ' ~
    default:
      return false;
  }
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Splits a list header value at top-level commas: commas inside quoted
 * strings or inside <...> are part of an element.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++; // backslash escapes the next char
      else if (c === 34) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 44 && !inAngle) {
      const el = value.slice(start, i).trim();
      if (el.length > 0) out.push(el);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last.length > 0) out.push(last);
  return out;
}

/** Index just past the closing quote of a quoted string starting at `i` (which is `"`), or -1. */
export function skipQuoted(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

export function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== 34 || s.charCodeAt(s.length - 1) !== 34) return s;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length - 1) {
      out += s[++i];
    } else out += ch;
  }
  return out;
}

export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"' || ch === '\\') out += '\\';
    out += ch;
  }
  return out + '"';
}

/**
 * Where the parameter nextParam found lies in its string: name
 * [nameStart, nameEnd) (upper: it has A-Z), value [valueStart, valueEnd)
 * with quotes kept, valueStart -1 for a flag. One object for the module:
 * nothing is allocated per parameter, and nothing runs between the walk
 * filling it and its caller reading it.
 */
const found = { nameStart: 0, nameEnd: 0, upper: false, valueStart: -1, valueEnd: -1 };
/** nextParam: no parameter left. */
const PARAMS_END = -1;
/** nextParam: a quoted value never closes. */
const UNTERMINATED_QUOTE = -2;

/**
 * The parameter walk parseParams and nameAddrTag share: finds the next
 * `;name=value` or `;flag` at or after `i` (before `end`), fills `found`
 * and returns where the walk goes on, or PARAMS_END / UNTERMINATED_QUOTE.
 */
function nextParam(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 59 /* ; */) break;
    if (isWhitespaceCode(c)) { i++; continue; }
    // Stray text between parameters: be liberal and skip to the next ';'.
    const next = s.indexOf(';', i);
    if (next < 0 || next >= end) return PARAMS_END;
    i = next;
  }
  if (i >= end) return PARAMS_END;
  i++;
  while (i < end && isWhitespaceCode(s.charCodeAt(i))) i++;
  found.nameStart = i;
  let upper = false;
  while (i < end) {
    const d = s.charCodeAt(i);
    if (d === 61 || d === 59 || isWhitespaceCode(d)) break;
    if (d >= 65 && d <= 90) upper = true;
    i++;
  }
  found.nameEnd = i;
  found.upper = upper;
  found.valueStart = -1;
  while (i < end && isWhitespaceCode(s.charCodeAt(i))) i++;
  if (i < end && s.charCodeAt(i) === 61 /* = */) {
    i++;
    while (i < end && isWhitespaceCode(s.charCodeAt(i))) i++;
    if (i < end && s.charCodeAt(i) === 34) {
      const q = skipQuoted(s, i);
      if (q < 0 || q > end) return UNTERMINATED_QUOTE;
      found.valueStart = i;
      found.valueEnd = q;
      i = q;
    } else {
      const vStart = i;
      while (i < end && s.charCodeAt(i) !== 59) i++;
      let vEnd = i;
      while (vEnd > vStart && isWhitespaceCode(s.charCodeAt(vEnd - 1))) vEnd--;
      found.valueStart = vStart;
      found.valueEnd = vEnd;
    }
  }
  return i;
}

/**
 * Parses `;name=value;flag` parameters starting at `start` (which points
 * at the first `;` or whitespace before it). Values may be quoted; quotes
 * are kept so that the parameter writes back unchanged.
 * Returns null on an unterminated quote.
 */
export function parseParams(s: string, start: number, end = s.length): Params | null {
  const params: Params = new Map();
  for (let i = start; ;) {
    i = nextParam(s, i, end);
    if (i === UNTERMINATED_QUOTE) return null;
    if (i === PARAMS_END) return params;
    if (found.nameEnd === found.nameStart) continue;
    // Parameter names are case-insensitive; most are already lower case.
    const raw = s.slice(found.nameStart, found.nameEnd);
    params.set(found.upper ? raw.toLowerCase() : raw, found.valueStart < 0 ? null : s.slice(found.valueStart, found.valueEnd));
  }
}

export function formatParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

export interface NameAddr {
  /** Display name without quotes; null when absent. */
  displayName: string | null;
  /** The URI text between < > (or the bare addr-spec). */
  uri: string;
  /** Header parameters (after the URI): tag, expires, q, ... */
  params: Params;
  /** True when the URI was written in angle brackets. */
  angle: boolean;
}

/**
 * name-addr / addr-spec (RFC 3261 §20.10): `"Alice" <sip:a@b;lr>;tag=1`,
 * `<sip:a@b>`, or `sip:a@b;tag=1` where, without brackets, everything
 * after the first `;` belongs to the header, not the URI.
 */
export function parseNameAddr(value: string): NameAddr | null {
  const s = value;
  let i = 0;
  const n = s.length;
  while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
  if (i >= n) return null;
  let displayName: string | null = null;
  const lt = findAngle(s, i);
  if (lt === -2) return null; // unterminated quote
  if (lt >= 0) {
    const dn = s.slice(i, lt).trim();
    if (dn.length > 0) displayName = dn.charCodeAt(0) === 34 ? unquote(dn) : dn;
    const gt = s.indexOf('>', lt + 1);
    if (gt < 0) return null;
    const uri = s.slice(lt + 1, gt).trim();
    if (uri.length === 0) return null;
    const params = parseParams(s, gt + 1);
    if (params === null) return null;
    return { displayName, uri, params, angle: true };
  }
  const semi = s.indexOf(';', i);
  const uriEnd = semi < 0 ? n : semi;
  const uri = s.slice(i, uriEnd).trim();
  if (uri.length === 0 || uri.indexOf(' ') >= 0) return null;
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(s, semi);
  if (params === null) return null;
  return { displayName: null, uri, params, angle: false };
}

/**
 * Index in `value` where the header parameters of a name-addr / addr-spec
 * begin (just after `>`, or at the first `;` of an addr-spec; the length
 * of the value when there are none); -1 when the value is malformed.
 */
export function nameAddrParamsStart(value: string): number {
  let i = 0;
  while (i < value.length && isWhitespaceCode(value.charCodeAt(i))) i++;
  const lt = findAngle(value, i);
  if (lt === -2) return -1;
  if (lt >= 0) {
    const gt = value.indexOf('>', lt + 1);
    return gt < 0 ? -1 : gt + 1;
  }
  const semi = value.indexOf(';', i);
  return semi < 0 ? value.length : semi;
}

/** Position of the `<` that opens the URI, -1 when none, -2 when a quote never closes. */
function findAngle(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) {
      const q = skipQuoted(s, i);
      if (q < 0) return -2;
      i = q - 1;
    } else if (c === 60) return i;
  }
  return -1;
}

export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== null && na.displayName.length > 0) {
    out += isDisplayToken(na.displayName) ? na.displayName : quote(na.displayName);
    out += ' ';
  }
  // Without brackets, URI parameters would be read as header parameters:
  // always bracket when we write.
  out += `<${na.uri}>`;
  return out + formatParams(na.params);
}

function isDisplayToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== SP && !isTokenChar(c)) return false;
  }
  return true;
}

/** The whitespace of String.prototype.trim, with which parseNameAddr trims a URI. */
function isTrimSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
    || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * The tag parameter of a From/To value without building its NameAddr:
 * the tag (the last one, as parseParams keeps it), null when there is none
 * or it is a flag, false exactly when parseNameAddr would return null.
 * Every message's From and To are checked this way (parser.ts, validate),
 * so it allocates nothing but the tag itself.
 */
export function nameAddrTag(value: string): string | null | false {
  const s = value;
  const n = s.length;
  let i = 0;
  while (i < n && isWhitespaceCode(s.charCodeAt(i))) i++;
  if (i >= n) return false;
  const lt = findAngle(s, i);
  if (lt === -2) return false;
  let paramsAt: number;
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1);
    if (gt < 0) return false;
    let a = lt + 1;
    while (a < gt && isTrimSpace(s.charCodeAt(a))) a++;
    if (a === gt) return false;
    paramsAt = gt + 1;
  } else {
    const semi = s.indexOf(';', i);
    let a = i;
    let b = semi < 0 ? n : semi;
    while (a < b && isTrimSpace(s.charCodeAt(a))) a++;
    while (b > a && isTrimSpace(s.charCodeAt(b - 1))) b--;
    if (a === b) return false;
    for (let k = a; k < b; k++) if (s.charCodeAt(k) === SP) return false;
    if (semi < 0) return null;
    paramsAt = semi;
  }
  return tagParam(s, paramsAt);
}

/** parseParams(s, start).get('tag') folded to string | null, or false on an unterminated quote. */
function tagParam(s: string, start: number): string | null | false {
  let tag: string | null = null;
  for (let i = start; ;) {
    i = nextParam(s, i, s.length);
    if (i === UNTERMINATED_QUOTE) return false;
    if (i === PARAMS_END) return tag;
    const n = found.nameStart;
    if (found.nameEnd - n === 3 && (s.charCodeAt(n) | 0x20) === 116 && (s.charCodeAt(n + 1) | 0x20) === 97 && (s.charCodeAt(n + 2) | 0x20) === 103) {
      tag = found.valueStart < 0 ? null : s.slice(found.valueStart, found.valueEnd);
    }
  }
}
