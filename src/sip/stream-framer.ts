/**
 * Frames SIP messages out of a byte stream (TCP, TLS) by Content-Length
 * (RFC 3261 §18.3). Also recognises RFC 5626 §3.5.1 keep-alives: a CRLFCRLF
 * "ping" between messages, to be answered with a CRLF "pong".
 */
import { DEFAULT_PARSE_LIMITS, findHeaderEnd, parseContentLength, parseFramed, type ParseLimits, type ParseResult } from './parser.js';

export type FramerEvent =
  | { kind: 'message'; result: ParseResult }
  | { kind: 'ping' }
  /** Unrecoverable framing error: the connection must be closed. */
  | { kind: 'fatal'; error: string };

export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  private readonly limits: ParseLimits;

  constructor(limits: ParseLimits = DEFAULT_PARSE_LIMITS) {
    this.limits = limits;
  }

  /** Bytes held while waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  /** Feeds bytes; returns the events they complete. */
  push(chunk: Buffer): FramerEvent[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const events: FramerEvent[] = [];
    for (;;) {
      // Keep-alives and stray line ends between messages.
      let i = 0;
      while (i < this.buf.length && (this.buf[i] === 13 || this.buf[i] === 10)) i++;
      if (i > 0) {
        if (i >= 4 && this.buf[0] === 13 && this.buf[1] === 10 && this.buf[2] === 13 && this.buf[3] === 10) {
          events.push({ kind: 'ping' });
        }
        this.buf = this.buf.subarray(i);
      }
      if (this.buf.length === 0) break;
      const he = findHeaderEnd(this.buf, 0);
      if (he.end < 0) {
        if (this.buf.length > this.limits.maxMessageBytes) events.push({ kind: 'fatal', error: 'Message Too Large' });
        break;
      }
      const head = this.buf.toString('utf8', 0, he.end);
      const cl = findContentLength(head);
      if (cl === -1) {
        // Mandatory on streams: without it the next message's start is unknowable.
        events.push({ kind: 'fatal', error: 'Missing Content-Length' });
        break;
      }
      if (cl === -2) {
        events.push({ kind: 'fatal', error: 'Bad Content-Length' });
        break;
      }
      const total = he.end + he.sepLen + cl;
      if (total > this.limits.maxMessageBytes) {
        events.push({ kind: 'fatal', error: 'Message Too Large' });
        break;
      }
      if (this.buf.length < total) break;
      const body = Buffer.from(this.buf.subarray(he.end + he.sepLen, total));
      events.push({ kind: 'message', result: parseFramed(head, body, this.limits) });
      this.buf = this.buf.subarray(total);
    }
    if (events.length > 0 && events[events.length - 1]!.kind === 'fatal') this.buf = Buffer.alloc(0);
    return events;
  }
}

/** Content-Length from a raw head: value, -1 when absent, -2 when malformed. */
function findContentLength(head: string): number {
  let pos = 0;
  while (pos < head.length) {
    let nl = head.indexOf('\n', pos);
    if (nl < 0) nl = head.length;
    const c0 = head.charCodeAt(pos);
    // Header names are case-insensitive; 'l' is the compact form.
    if (c0 === 67 || c0 === 99 || c0 === 76 || c0 === 108) {
      const colon = head.indexOf(':', pos);
      if (colon > 0 && colon < nl) {
        const name = head.slice(pos, colon).trim().toLowerCase();
        if (name === 'content-length' || name === 'l') {
          const v = parseContentLength(head.slice(colon + 1, nl));
          return v < 0 ? -2 : v;
        }
      }
    }
    pos = nl + 1;
  }
  return -1;
}
