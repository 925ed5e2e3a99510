/**
 * Bytes -> SipMessage (RFC 3261 §7, §20, §25).
 *
 * The parser never throws. It returns either a message, or an error with
 * as much of the message as could be read, so that the transaction layer
 * can answer a request that is broken but addressable with a 400 (or 505,
 * 513) whose reason phrase names the problem (§8.2.2, §21.4.1), and drop
 * the rest.
 *
 * Hot path: one native scan for the end of the headers, one decode of the
 * head, then index arithmetic on that one string. Header values are kept as
 * raw text; only the hot headers are parsed during validation.
 */
import { canonicalHeaderName, KNOWN_HEADER_NAMES_BY_LENGTH, type KnownHeaderName } from './header-names.js';
import { isTokenChar } from './grammar.js';
import { SipMessage } from './message.js';
import { hasEmptyElement } from './strict.js';

export interface ParseLimits {
  /** Whole message, headers and body. */
  maxMessageBytes: number;
  maxHeaders: number;
  maxHeaderLineBytes: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxMessageBytes: 65535,
  maxHeaders: 256,
  maxHeaderLineBytes: 8192,
};

export type ParseResult =
  | { ok: true; message: SipMessage }
  | {
      ok: false;
      /** Human-readable reason, usable as a 400 reason phrase. */
      error: string;
      /**
       * The message as far as it was read, when the start line and
       * headers were readable: a request here can be answered with 400.
       */
      partial: SipMessage | null;
    };

/**
 * The error strings the parser returns, for callers that map them to a
 * status code: a request failing with UNSUPPORTED_VERSION deserves 505,
 * MESSAGE_TOO_LARGE 513, everything else 400.
 */
export const PARSE_ERRORS = {
  MESSAGE_TOO_LARGE: 'Message Too Large',
  EMPTY: 'Empty Message',
  NO_END_OF_HEADERS: 'Missing End Of Headers',
  BAD_START_LINE: 'Bad Request Line',
  BAD_STATUS_LINE: 'Bad Status Line',
  BAD_STATUS_CODE: 'Bad Status Code',
  BAD_METHOD: 'Bad Method',
  BAD_REQUEST_URI: 'Bad Request-URI',
  UNSUPPORTED_VERSION: 'Unsupported SIP Version',
  HEADER_LINE_TOO_LONG: 'Header Line Too Long',
  BAD_FOLDING: 'Bad Header Folding',
  MALFORMED_HEADER_LINE: 'Malformed Header Line',
  MALFORMED_HEADER_NAME: 'Malformed Header Name',
  TOO_MANY_HEADERS: 'Too Many Headers',
  BAD_CONTENT_LENGTH: 'Bad Content-Length',
  CONFLICTING_CONTENT_LENGTH: 'Conflicting Content-Length',
  CONTENT_LENGTH_EXCEEDS_BODY: 'Content-Length Exceeds Body',
  MISSING_CALL_ID: 'Missing Call-ID',
  MULTIPLE_CALL_ID: 'Multiple Call-ID',
  MISSING_FROM: 'Missing From',
  MULTIPLE_FROM: 'Multiple From',
  BAD_FROM: 'Bad From',
  MISSING_TO: 'Missing To',
  MULTIPLE_TO: 'Multiple To',
  BAD_TO: 'Bad To',
  MISSING_CSEQ: 'Missing CSeq',
  MULTIPLE_CSEQ: 'Multiple CSeq',
  BAD_CSEQ: 'Bad CSeq',
  CSEQ_METHOD_MISMATCH: 'CSeq Method Mismatch',
  MISSING_VIA: 'Missing Via',
  BAD_VIA: 'Bad Via',
  BAD_CONTACT: 'Bad Contact',
  TRAILING_WHITESPACE: 'Whitespace After SIP-Version',
  BAD_MAX_FORWARDS: 'Bad Max-Forwards',
} as const;

const E = PARSE_ERRORS;

/** Datagram mode: the body is the rest of the packet, or Content-Length of it (§18.3). */
export function parseMessage(buf: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  // Leading CRLFs before a message are allowed and ignored (§7.5).
  let start = 0;
  const len = buf.length;
  while (start < len && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= len) return fail(E.EMPTY, null);
  if (len > limits.maxMessageBytes) {
    // Still read the head when it fits, so that a request can get its 513.
    const he = findHeaderEnd(buf, start);
    if (he.end < 0 || he.end - start > limits.maxMessageBytes) return fail(E.MESSAGE_TOO_LARGE, null);
    const res = parseHead(buf.toString('utf8', start, he.end), limits);
    return fail(E.MESSAGE_TOO_LARGE, res.ok ? res.message : res.partial);
  }
  const headEnd = findHeaderEnd(buf, start);
  if (headEnd.end < 0) {
    // A datagram cut short, or a sender that forgot the blank line: keep
    // what was readable so the request can still be answered.
    const res = parseHead(buf.toString('utf8', start, len), limits);
    return fail(E.NO_END_OF_HEADERS, res.ok ? res.message : res.partial);
  }
  const res = parseHead(buf.toString('utf8', start, headEnd.end), limits);
  if (!res.ok) return res;
  const msg = res.message;
  const bodyStart = headEnd.end + headEnd.sepLen;
  const available = len - bodyStart;
  let bodyLen = available;
  const cl = declaredContentLength(msg);
  if (cl === CL_BAD) return fail(E.BAD_CONTENT_LENGTH, msg);
  if (cl === CL_CONFLICT) return fail(E.CONFLICTING_CONTENT_LENGTH, msg);
  if (cl >= 0) {
    if (cl > available) return fail(E.CONTENT_LENGTH_EXCEEDS_BODY, msg);
    bodyLen = cl; // extra bytes after the declared body are discarded (§18.3)
  }
  if (bodyLen > 0) msg.body = buf.subarray(bodyStart, bodyStart + bodyLen);
  return validate(msg);
}

/** Stream mode helper: parses a head + exact body framed by the caller. */
export function parseFramed(head: string, body: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  const res = parseHead(head, limits);
  if (!res.ok) return res;
  if (body.length > 0) res.message.body = body;
  return validate(res.message);
}

/** -1 when the value is not a non-negative decimal integer below 2^31. */
export function parseContentLength(raw: string): number {
  let a = 0;
  let b = raw.length;
  while (a < b && isLws(raw.charCodeAt(a))) a++;
  while (b > a && isLws(raw.charCodeAt(b - 1))) b--;
  if (a === b || b - a > 10) return -1;
  let n = 0;
  for (let i = a; i < b; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n > 0x7fffffff ? -1 : n;
}

/**
 * Position of the blank line that ends the headers, accepting bare LF as
 * well as CRLF (and a mix of the two). `end` is where the last header line
 * ends (before its line terminator), `sepLen` the length of the terminator
 * plus the blank line.
 */
export function findHeaderEnd(buf: Buffer, from: number): { end: number; sepLen: number } {
  let p = buf.indexOf(10, from);
  while (p >= 0) {
    let q = p + 1;
    if (buf[q] === 13) q++;
    if (buf[q] === 10) {
      const end = p > from && buf[p - 1] === 13 ? p - 1 : p;
      return { end, sepLen: q + 1 - end };
    }
    p = buf.indexOf(10, q);
  }
  return { end: -1, sepLen: 0 };
}

function fail(error: string, partial: SipMessage | null): ParseResult {
  return { ok: false, error, partial };
}

function isLws(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

type HeadResult = { ok: true; message: SipMessage } | { ok: false; error: string; partial: SipMessage | null };

/**
 * Start line and header lines. After the start line, errors do not stop
 * the scan: the first one is reported, and the partial message carries
 * every header that could be read, so that a 400 has its Via and tags.
 */
function parseHead(head: string, limits: ParseLimits): HeadResult {
  const hlen = head.length;
  let lineEnd = head.indexOf('\n');
  if (lineEnd < 0) lineEnd = hlen;
  const sl = parseStartLine(head, lineEnd > 0 && head.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd);
  if (typeof sl === 'string') return { ok: false, error: sl, partial: null };
  const msg = sl.message;
  let error: string | null = sl.error;

  let pos = lineEnd + 1;
  let count = 0;
  // Pending header: name known, value is head[vStart, vEnd) plus folded continuation text.
  let name = '';
  let rawName = '';
  let vStart = 0;
  let vEnd = 0;
  let folded: string | null = null;
  let have = false;
  while (pos < hlen) {
    let nl = head.indexOf('\n', pos);
    if (nl < 0) nl = hlen;
    let end = nl;
    if (end > pos && head.charCodeAt(end - 1) === 13) end--;
    const lineStart = pos;
    pos = nl + 1;
    if (end - lineStart > limits.maxHeaderLineBytes) {
      if (have) msg.pushParsedHeader(name, rawName, folded ?? head.slice(vStart, vEnd));
      return { ok: false, error: error ?? E.HEADER_LINE_TOO_LONG, partial: msg };
    }
    if (end === lineStart) continue;
    const c0 = head.charCodeAt(lineStart);
    if (c0 === 32 || c0 === 9) {
      // Line folding (§7.3.1): the continuation joins the previous value with one space.
      let a = lineStart;
      let b = end;
      while (a < b && isLws(head.charCodeAt(a))) a++;
      while (b > a && isLws(head.charCodeAt(b - 1))) b--;
      if (!have) {
        if (a < b) error ??= E.BAD_FOLDING;
        continue;
      }
      if (a === b) continue;
      folded = (folded ?? head.slice(vStart, vEnd)) + ' ' + head.slice(a, b);
      if (folded.length > limits.maxHeaderLineBytes) {
        msg.pushParsedHeader(name, rawName, folded);
        return { ok: false, error: error ?? E.HEADER_LINE_TOO_LONG, partial: msg };
      }
      continue;
    }
    if (have) {
      msg.pushParsedHeader(name, rawName, folded ?? head.slice(vStart, vEnd));
      have = false;
      folded = null;
    }
    let colon = -1;
    for (let i = lineStart; i < end; i++) {
      if (head.charCodeAt(i) === 58) { colon = i; break; }
    }
    if (colon < 0) {
      error ??= E.MALFORMED_HEADER_LINE;
      continue;
    }
    // Whitespace is allowed between the name and the colon (§7.3.1).
    let nEnd = colon;
    while (nEnd > lineStart && (head.charCodeAt(nEnd - 1) === 32 || head.charCodeAt(nEnd - 1) === 9)) nEnd--;
    const known = matchKnownName(head, lineStart, nEnd);
    if (known !== null) {
      rawName = known.raw;
      name = known.canonical;
    } else {
      let nameOk = nEnd > lineStart;
      for (let i = lineStart; i < nEnd && nameOk; i++) nameOk = isTokenChar(head.charCodeAt(i));
      if (!nameOk) {
        error ??= colon === lineStart ? E.MALFORMED_HEADER_LINE : E.MALFORMED_HEADER_NAME;
        continue;
      }
      rawName = head.slice(lineStart, nEnd);
      name = canonicalHeaderName(rawName);
    }
    if (++count > limits.maxHeaders) return { ok: false, error: error ?? E.TOO_MANY_HEADERS, partial: msg };
    vStart = colon + 1;
    vEnd = end;
    while (vStart < vEnd && isLws(head.charCodeAt(vStart))) vStart++;
    while (vEnd > vStart && isLws(head.charCodeAt(vEnd - 1))) vEnd--;
    have = true;
  }
  if (have) msg.pushParsedHeader(name, rawName, folded ?? head.slice(vStart, vEnd));
  if (error !== null) return { ok: false, error, partial: msg };
  return { ok: true, message: msg };
}

/** The common spelling written at head[start, end), matched in place; null when it is not one. */
function matchKnownName(head: string, start: number, end: number): KnownHeaderName | null {
  const len = end - start;
  if (len >= KNOWN_HEADER_NAMES_BY_LENGTH.length) return null;
  const bucket = KNOWN_HEADER_NAMES_BY_LENGTH[len]!;
  const c0 = head.charCodeAt(start);
  for (let k = 0; k < bucket.length; k++) {
    const e = bucket[k]!;
    if (e.firstChar === c0 && head.startsWith(e.raw, start)) return e;
  }
  return null;
}

interface StartLine {
  message: SipMessage;
  /** Set when the line was readable enough to build the message but is wrong (e.g. SIP/3.0). */
  error: string | null;
}

function isSipVersion(line: string, at: number, end: number): boolean {
  return end - at === 7 && line.startsWith('SIP/2.0', at);
}

/** Returns the message shell (maybe with an error to report), or an error string when nothing is usable. */
function parseStartLine(head: string, end: number): StartLine | string {
  if (head.startsWith('SIP/')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const sp1 = head.indexOf(' ');
    if (sp1 < 0 || sp1 >= end) return E.BAD_STATUS_LINE;
    if (!isSipVersion(head, 0, sp1)) return E.UNSUPPORTED_VERSION;
    if (end - sp1 < 4) return E.BAD_STATUS_CODE;
    let code = 0;
    for (let i = sp1 + 1; i < sp1 + 4; i++) {
      const c = head.charCodeAt(i);
      if (c < 48 || c > 57) return E.BAD_STATUS_CODE;
      code = code * 10 + (c - 48);
    }
    if (code < 100 || code > 699) return E.BAD_STATUS_CODE;
    if (sp1 + 4 < end && head.charCodeAt(sp1 + 4) !== 32) return E.BAD_STATUS_CODE;
    const reason = sp1 + 5 < end ? head.slice(sp1 + 5, end) : '';
    return { message: SipMessage.response(code, reason), error: null };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version CRLF (§25.1): nothing
  // may follow the version. Read the line without the trailing blanks so the
  // request can still be answered 400 rather than dropped unanswered.
  let trailing = false;
  while (end > 0 && (head.charCodeAt(end - 1) === 32 || head.charCodeAt(end - 1) === 9)) {
    end--;
    trailing = true;
  }
  const sp1 = head.indexOf(' ');
  if (sp1 <= 0 || sp1 >= end) return E.BAD_START_LINE;
  let sp2 = end - 1;
  while (sp2 > sp1 && head.charCodeAt(sp2) !== 32) sp2--;
  if (sp2 <= sp1) return E.BAD_START_LINE;
  for (let i = 0; i < sp1; i++) {
    if (!isTokenChar(head.charCodeAt(i))) return E.BAD_METHOD;
  }
  const method = head.slice(0, sp1);
  let uStart = sp1 + 1;
  let uEnd = sp2;
  // Tolerate extra spaces around the Request-URI; spaces inside it are wrong.
  while (uStart < uEnd && head.charCodeAt(uStart) === 32) uStart++;
  while (uEnd > uStart && head.charCodeAt(uEnd - 1) === 32) uEnd--;
  const uri = head.slice(uStart, uEnd);
  const vOk = isSipVersion(head, sp2 + 1, end);
  if (!vOk && !head.startsWith('SIP/', sp2 + 1)) return E.BAD_START_LINE;
  const message = SipMessage.request(method, uri);
  if (!vOk) return { message, error: E.UNSUPPORTED_VERSION };
  if (!isPlausibleRequestUri(uri)) return { message, error: E.BAD_REQUEST_URI };
  return { message, error: trailing ? E.TRAILING_WHITESPACE : null };
}

/**
 * Cheap structural check: a scheme, then no whitespace or control
 * characters. The full URI grammar is applied lazily by whoever routes.
 */
function isPlausibleRequestUri(uri: string): boolean {
  const n = uri.length;
  if (n === 0) return false;
  let i = 0;
  const c0 = uri.charCodeAt(0) | 0x20;
  if (c0 < 97 || c0 > 122) return false;
  for (i = 1; i < n; i++) {
    const c = uri.charCodeAt(i);
    if (c === 58) break;
    const lc = c | 0x20;
    if (!((lc >= 97 && lc <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) return false;
  }
  if (i >= n - 1) return false;
  for (i++; i < n; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 60 || c === 62 || c === 34) return false;
  }
  return true;
}

const CL_ABSENT = -1;
const CL_BAD = -2;
const CL_CONFLICT = -3;

/** Content-Length as declared: >= 0, or CL_ABSENT / CL_BAD / CL_CONFLICT. */
function declaredContentLength(msg: SipMessage): number {
  const hs = msg.headers;
  let found = CL_ABSENT;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    if (h.name !== 'content-length') continue;
    const v = parseContentLength(h.value);
    if (v < 0) return CL_BAD;
    if (found >= 0 && found !== v) return CL_CONFLICT;
    found = v;
  }
  return found;
}

/**
 * Checks that make a message usable by a transaction layer (§8.1.1): the
 * headers every request and response must carry, with parseable values.
 * One pass over the header list counts the mandatory headers.
 */
function validate(msg: SipMessage): ParseResult {
  let callIds = 0;
  let froms = 0;
  let tos = 0;
  let cseqs = 0;
  let vias = 0;
  let maxForwards: string | undefined;
  let callId = '';
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    switch (h.name) {
      case 'call-id': if (callIds++ === 0) callId = h.value; break;
      case 'from': froms++; break;
      case 'to': tos++; break;
      case 'cseq': cseqs++; break;
      case 'via': vias++; break;
      case 'max-forwards': if (maxForwards === undefined) maxForwards = h.value; break;
      default: break;
    }
  }
  if (callIds === 0 || callId.length === 0) return fail(E.MISSING_CALL_ID, msg);
  if (callIds > 1) return fail(E.MULTIPLE_CALL_ID, msg);
  if (froms === 0) return fail(E.MISSING_FROM, msg);
  if (tos === 0) return fail(E.MISSING_TO, msg);
  if (froms > 1) return fail(E.MULTIPLE_FROM, msg);
  if (tos > 1) return fail(E.MULTIPLE_TO, msg);
  if (cseqs === 0) return fail(E.MISSING_CSEQ, msg);
  if (cseqs > 1) return fail(E.MULTIPLE_CSEQ, msg);
  const cseq = msg.cseq;
  if (cseq === null) return fail(E.BAD_CSEQ, msg);
  if (vias === 0) return fail(E.MISSING_VIA, msg);
  if (msg.topVia === null) return fail(E.BAD_VIA, msg);
  if (!msg.checkNameAddr('from')) return fail(E.BAD_FROM, msg);
  if (!msg.checkNameAddr('to')) return fail(E.BAD_TO, msg);
  if (msg.isRequest) {
    if (cseq.method !== msg.method) return fail(E.CSEQ_METHOD_MISMATCH, msg);
    // `,,` / `;;` / `;name=` in Via or Contact match no production of §25.1.
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i]!;
      if (h.name === 'via' && hasEmptyElement(h.value)) return fail(E.BAD_VIA, msg);
      if (h.name === 'contact' && hasEmptyElement(h.value)) return fail(E.BAD_CONTACT, msg);
    }
    if (maxForwards !== undefined) {
      const n = parseContentLength(maxForwards);
      if (n < 0 || n > 255) return fail(E.BAD_MAX_FORWARDS, msg);
    }
  } else {
    msg.method = cseq.method;
  }
  return { ok: true, message: msg };
}
