/**
 * Bytes -> SipMessage (RFC 3261 §7, §20, §25).
 *
 * The parser never throws. It returns either a message, or an error with
 * as much of the message as could be read, so that the transaction layer
 * can answer a request that is broken but addressable with a 400 whose
 * reason phrase names the problem (§8.2.2, §21.4.1), and drop the rest.
 */
import { canonicalHeaderName } from './header-names.js';
import { isTokenChar } from './grammar.js';
import { SipMessage } from './message.js';

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

/** Datagram mode: the body is the rest of the packet (§18.3). */
export function parseMessage(buf: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  if (buf.length > limits.maxMessageBytes) return fail('Message Too Large', null);
  // Leading CRLFs before a message are allowed and ignored (§7.5).
  let start = 0;
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= buf.length) return fail('Empty Message', null);
  const headEnd = findHeaderEnd(buf, start);
  if (headEnd.end < 0) return fail('Missing End Of Headers', null);
  const head = buf.toString('utf8', start, headEnd.end);
  const res = parseHead(head, limits);
  if (!res.ok) return res;
  const msg = res.message;
  const bodyStart = headEnd.end + headEnd.sepLen;
  const available = buf.length - bodyStart;
  const clRaw = msg.getHeader('content-length');
  let bodyLen = available;
  if (clRaw !== undefined) {
    const cl = parseContentLength(clRaw);
    if (cl < 0) return fail('Bad Content-Length', msg);
    if (cl > available) return fail('Content-Length Exceeds Body', msg);
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
  const s = raw.trim();
  if (s.length === 0 || s.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n > 0x7fffffff ? -1 : n;
}

/** Position of the blank line that ends the headers, accepting bare LF as well as CRLF. */
export function findHeaderEnd(buf: Buffer, from: number): { end: number; sepLen: number } {
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1');
  const lf = buf.indexOf('\n\n', from, 'latin1');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { end: crlf, sepLen: 4 };
  if (lf >= 0) return { end: lf, sepLen: 2 };
  return { end: -1, sepLen: 0 };
}

function fail(error: string, partial: SipMessage | null): ParseResult {
  return { ok: false, error, partial };
}

type HeadResult = { ok: true; message: SipMessage } | { ok: false; error: string; partial: SipMessage | null };

function parseHead(head: string, limits: ParseLimits): HeadResult {
  let lineEnd = head.indexOf('\n');
  if (lineEnd < 0) lineEnd = head.length;
  const startLine = stripCR(head.slice(0, lineEnd));
  const msg = parseStartLine(startLine);
  if (typeof msg === 'string') return { ok: false, error: msg, partial: null };

  let pos = lineEnd + 1;
  let count = 0;
  let name = '';
  let rawName = '';
  let value = '';
  let have = false;
  while (pos <= head.length) {
    let nl = head.indexOf('\n', pos);
    if (nl < 0) nl = head.length;
    const line = stripCR(head.slice(pos, nl));
    pos = nl + 1;
    if (line.length > limits.maxHeaderLineBytes) return { ok: false, error: 'Header Line Too Long', partial: null };
    if (line.length === 0) continue;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) {
      // Line folding (§7.3.1): the continuation joins the previous value with one space.
      if (!have) return { ok: false, error: 'Bad Header Folding', partial: null };
      value += ' ' + line.trim();
      if (value.length > limits.maxHeaderLineBytes) return { ok: false, error: 'Header Line Too Long', partial: null };
      continue;
    }
    if (have) msg.pushParsedHeader(name, rawName, value);
    const colon = line.indexOf(':');
    if (colon <= 0) return { ok: false, error: 'Malformed Header Line', partial: have ? msg : null };
    // Whitespace is allowed between the name and the colon (§7.3.1).
    let nEnd = colon;
    while (nEnd > 0 && (line.charCodeAt(nEnd - 1) === 32 || line.charCodeAt(nEnd - 1) === 9)) nEnd--;
    rawName = line.slice(0, nEnd);
    for (let i = 0; i < rawName.length; i++) {
      if (!isTokenChar(rawName.charCodeAt(i))) return { ok: false, error: 'Malformed Header Name', partial: msg };
    }
    if (rawName.length === 0) return { ok: false, error: 'Malformed Header Name', partial: msg };
    name = canonicalHeaderName(rawName);
    value = line.slice(colon + 1).trim();
    have = true;
    if (++count > limits.maxHeaders) return { ok: false, error: 'Too Many Headers', partial: null };
  }
  if (have) msg.pushParsedHeader(name, rawName, value);
  return { ok: true, message: msg };
}

function stripCR(s: string): string {
  return s.length > 0 && s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}

/** Returns the message shell or an error string. */
function parseStartLine(line: string): SipMessage | string {
  if (line.startsWith('SIP/')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const sp1 = line.indexOf(' ');
    if (sp1 < 0) return 'Bad Status Line';
    const version = line.slice(0, sp1);
    if (version !== 'SIP/2.0') return 'Unsupported SIP Version';
    const codeStr = line.slice(sp1 + 1, sp1 + 4);
    if (codeStr.length !== 3) return 'Bad Status Code';
    let code = 0;
    for (let i = 0; i < 3; i++) {
      const c = codeStr.charCodeAt(i);
      if (c < 48 || c > 57) return 'Bad Status Code';
      code = code * 10 + (c - 48);
    }
    if (code < 100 || code > 699) return 'Bad Status Code';
    const after = line.charCodeAt(sp1 + 4);
    if (!Number.isNaN(after) && after !== 32) return 'Bad Status Code';
    return SipMessage.response(code, line.slice(sp1 + 5));
  }
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) return 'Bad Request Line';
  const sp2 = line.lastIndexOf(' ');
  if (sp2 <= sp1) return 'Bad Request Line';
  const method = line.slice(0, sp1);
  for (let i = 0; i < method.length; i++) {
    if (!isTokenChar(method.charCodeAt(i))) return 'Bad Method';
  }
  const uri = line.slice(sp1 + 1, sp2).trim();
  const version = line.slice(sp2 + 1);
  if (uri.length === 0 || uri.indexOf(' ') >= 0) return 'Bad Request-URI';
  if (version !== 'SIP/2.0') {
    return version.startsWith('SIP/') ? 'Unsupported SIP Version' : 'Bad Request Line';
  }
  if (uri.indexOf(':') <= 0) return 'Bad Request-URI';
  return SipMessage.request(method, uri);
}

/**
 * Checks that make a message usable by a transaction layer (§8.1.1): the
 * headers every request and response must carry, with parseable values.
 */
function validate(msg: SipMessage): ParseResult {
  if (msg.countHeaderLines('call-id') === 0 || msg.callId.length === 0) return fail('Missing Call-ID', msg);
  if (msg.countHeaderLines('call-id') > 1) return fail('Multiple Call-ID', msg);
  if (msg.getHeader('from') === undefined) return fail('Missing From', msg);
  if (msg.getHeader('to') === undefined) return fail('Missing To', msg);
  if (msg.countHeaderLines('from') > 1) return fail('Multiple From', msg);
  if (msg.countHeaderLines('to') > 1) return fail('Multiple To', msg);
  const rawCSeq = msg.getHeader('cseq');
  if (rawCSeq === undefined) return fail('Missing CSeq', msg);
  const cseq = msg.cseq;
  if (cseq === null) return fail('Bad CSeq', msg);
  if (msg.getHeader('via') === undefined) return fail('Missing Via', msg);
  if (msg.topVia === null) return fail('Bad Via', msg);
  if (msg.getNameAddr('from') === null) return fail('Bad From', msg);
  if (msg.getNameAddr('to') === null) return fail('Bad To', msg);
  if (msg.isRequest) {
    if (cseq.method !== msg.method) return fail('CSeq Method Mismatch', msg);
    const mf = msg.getHeader('max-forwards');
    if (mf !== undefined) {
      const n = parseContentLength(mf);
      if (n < 0 || n > 255) return fail('Bad Max-Forwards', msg);
    }
  } else {
    msg.method = cseq.method;
  }
  return { ok: true, message: msg };
}
