/**
 * Frames SIP messages out of a byte stream (TCP, TLS) by Content-Length
 * (RFC 3261 §18.3). Also recognises RFC 5626 §3.5.1 keep-alives: a CRLFCRLF
 * "ping" between messages, to be answered with a CRLF "pong".
 *
 * A framing error (no or bad Content-Length, a message over the size
 * limit) leaves no way to find where the next message starts: the framer
 * reports `fatal` and the transport must close the connection. Every later
 * push reports the same fatal error again.
 */
import { DEFAULT_PARSE_LIMITS, findHeaderEnd, parseContentLength, parseFramed, type ParseLimits, type ParseResult } from './parser.js';

export type FramerEvent =
  | { kind: 'message'; result: ParseResult }
  /** A whole message not parsed (a framer made with `raw`): its start line and headers, and its body. */
  | { kind: 'frame'; head: string; body: Buffer }
  | { kind: 'ping' }
  /** Unrecoverable framing error: the connection must be closed. */
  | { kind: 'fatal'; error: string };

const EMPTY = Buffer.alloc(0);

export class StreamFramer {
  private buf: Buffer = EMPTY;
  /**
   * Storage we own behind `buf` (null while `buf` is a socket chunk): bytes
   * are appended in place and the capacity doubles, so a peer trickling a
   * message in tiny segments costs linear, not quadratic, copying.
   */
  private store: Buffer | null = null;
  private readonly limits: ParseLimits;
  /** Bytes of `buf` already searched for the end of the headers. */
  private scanned = 0;
  /** Once the head is known: its end, separator length and the total message length. */
  private headEnd = -1;
  private sepLen = 0;
  private total = -1;
  private fatalError: string | null = null;
  private readonly raw: boolean;

  /**
   * `raw`: messages come out as `frame` events (head and body) for the
   * caller to parse, or to hand to the thread that owns their call
   * (docs/performance.md, "Multi-core signalling").
   */
  constructor(limits: ParseLimits = DEFAULT_PARSE_LIMITS, opts: { raw?: boolean } = {}) {
    this.limits = limits;
    this.raw = opts.raw ?? false;
  }

  /** Bytes held while waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  /** The fatal error reported, if any. */
  get failed(): string | null {
    return this.fatalError;
  }

  /** Feeds bytes; returns the events they complete. Never throws. */
  push(chunk: Buffer): FramerEvent[] {
    if (this.fatalError !== null) return [{ kind: 'fatal', error: this.fatalError }];
    if (chunk.length > 0) this.append(chunk);
    const events: FramerEvent[] = [];
    for (;;) {
      if (this.total < 0 && !this.skipLineEnds(events)) break;
      if (this.buf.length === 0) break;
      if (this.total < 0) {
        const he = findHeaderEnd(this.buf, Math.max(0, this.scanned - 3));
        if (he.end < 0) {
          this.scanned = this.buf.length;
          if (this.buf.length > this.limits.maxMessageBytes) return this.fail(events, 'Message Too Large');
          break;
        }
        const cl = findContentLength(this.buf, he.end);
        // Mandatory on streams: without it the next message's start is unknowable.
        if (cl === -1) return this.fail(events, 'Missing Content-Length');
        if (cl === -2) return this.fail(events, 'Bad Content-Length');
        const total = he.end + he.sepLen + cl;
        if (total > this.limits.maxMessageBytes) return this.fail(events, 'Message Too Large');
        this.headEnd = he.end;
        this.sepLen = he.sepLen;
        this.total = total;
      }
      if (this.buf.length < this.total) break;
      const head = this.buf.toString('utf8', 0, this.headEnd);
      // A copy, so that the message does not pin the whole socket chunk.
      const body = this.total > this.headEnd + this.sepLen
        ? Buffer.from(this.buf.subarray(this.headEnd + this.sepLen, this.total))
        : EMPTY;
      events.push(this.raw ? { kind: 'frame', head, body } : { kind: 'message', result: parseFramed(head, body, this.limits) });
      this.buf = this.total === this.buf.length ? EMPTY : this.buf.subarray(this.total);
      this.total = -1;
      this.headEnd = -1;
      this.scanned = 0;
    }
    return events;
  }

  /**
   * Drops line ends before a message, reporting each CRLFCRLF as a ping.
   * Returns false when the buffer holds only the start of a possible ping,
   * which is kept until more bytes arrive.
   */
  private skipLineEnds(events: FramerEvent[]): boolean {
    const b = this.buf;
    const n = b.length;
    let i = 0;
    while (i < n) {
      const c = b[i];
      if (c !== 13 && c !== 10) break;
      if (c === 13 && i + 3 < n && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) {
        events.push({ kind: 'ping' });
        i += 4;
        continue;
      }
      if (c === 13 && n - i < 4 && isPingPrefix(b, i, n)) {
        if (i > 0) this.buf = b.subarray(i);
        return false;
      }
      i++;
    }
    if (i > 0) {
      this.buf = i === n ? EMPTY : b.subarray(i);
      this.scanned = 0;
    }
    return true;
  }

  private append(chunk: Buffer): void {
    if (this.buf.length === 0) {
      this.buf = chunk;
      this.store = null;
      return;
    }
    const store = this.store;
    if (store !== null) {
      const end = this.buf.byteOffset - store.byteOffset + this.buf.length;
      if (end + chunk.length <= store.length) {
        chunk.copy(store, end);
        this.buf = store.subarray(end - this.buf.length, end + chunk.length);
        return;
      }
    }
    const needed = this.buf.length + chunk.length;
    const next = Buffer.allocUnsafe(Math.max(needed, Math.min(Math.max(needed * 2, 4096), this.limits.maxMessageBytes * 2)));
    this.buf.copy(next, 0);
    chunk.copy(next, this.buf.length);
    this.store = next;
    this.buf = next.subarray(0, needed);
  }

  private fail(events: FramerEvent[], error: string): FramerEvent[] {
    this.fatalError = error;
    this.buf = EMPTY;
    this.store = null;
    events.push({ kind: 'fatal', error });
    return events;
  }
}

/** True when b[i, n) is "\r", "\r\n" or "\r\n\r": a ping may be arriving. */
function isPingPrefix(b: Buffer, i: number, n: number): boolean {
  for (let k = i; k < n; k++) if (b[k] !== ((k - i) % 2 === 0 ? 13 : 10)) return false;
  return true;
}

/**
 * Content-Length from the raw head bytes [0, end): value, -1 when absent,
 * -2 when malformed or given twice with different values. Works on bytes
 * so that nothing is decoded before the message is complete.
 */
function findContentLength(buf: Buffer, end: number): number {
  // Skip the start line.
  let pos = buf.indexOf(10);
  if (pos < 0 || pos >= end) return -1;
  pos++;
  let found = -1;
  while (pos < end) {
    let nl = buf.indexOf(10, pos);
    if (nl < 0 || nl > end) nl = end;
    const c0 = buf[pos]! | 0x20;
    // Header names are case-insensitive; 'l' is the compact form.
    if (c0 === 99 /* c */ || c0 === 108 /* l */) {
      const v = contentLengthAt(buf, pos, nl);
      if (v === -2) return -2;
      if (v >= 0) {
        if (found >= 0 && found !== v) return -2;
        found = v;
      }
    }
    pos = nl + 1;
  }
  return found;
}

const CONTENT_LENGTH = 'content-length';

/** For a header line [pos, nl): -1 when it is not Content-Length, -2 when its value is bad, else the value. */
function contentLengthAt(buf: Buffer, pos: number, nl: number): number {
  let colon = -1;
  for (let i = pos; i < nl; i++) if (buf[i] === 58) { colon = i; break; }
  if (colon < 0) return -1;
  let nEnd = colon;
  while (nEnd > pos && (buf[nEnd - 1] === 32 || buf[nEnd - 1] === 9)) nEnd--;
  const nameLen = nEnd - pos;
  if (nameLen === 1) {
    if ((buf[pos]! | 0x20) !== 108) return -1;
  } else if (nameLen === CONTENT_LENGTH.length) {
    for (let k = 0; k < nameLen; k++) {
      if ((buf[pos + k]! | 0x20) !== CONTENT_LENGTH.charCodeAt(k)) return -1;
    }
  } else return -1;
  const v = parseContentLength(buf.toString('latin1', colon + 1, nl));
  return v < 0 ? -2 : v;
}
