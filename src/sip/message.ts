/**
 * The SIP message model shared by every layer above the parser.
 *
 * Headers are kept as raw text, in order, one entry per header line; only
 * the few headers every message needs (Via, Call-ID, CSeq, From/To tags)
 * are parsed, once, and cached. Everything else is parsed when someone
 * asks for it. Mutations go through the methods below so that the caches
 * stay right and the serializer writes what was changed.
 */
import { canonicalHeaderName, isListHeader, prettyHeaderName } from './header-names.js';
import { formatParams, nameAddrParamsStart, nameAddrTag, parseNameAddr, splitList, type NameAddr } from './grammar.js';
import { parseUri, type SipUri } from './uri.js';
import { parseCSeq, parseVia, type CSeq, type Via } from './via.js';

export interface SipHeader {
  /** Lower-case long form (`from`, `call-id`, `via`); compact forms are expanded. */
  readonly name: string;
  /** The name as it was written, or the pretty form for headers we added. */
  readonly rawName: string;
  readonly value: string;
}

/** A header line as the message stores it; only SipMessage writes `value`. */
interface HeaderLine {
  readonly name: string;
  readonly rawName: string;
  value: string;
}

const EMPTY_BODY = Buffer.alloc(0);

/**
 * A value written by a layer above (a manipulation rule, a config string)
 * must stay on its own header line: a CR or LF in it would let the value
 * inject headers or end the head early. Line ends become spaces.
 */
export function sanitizeHeaderValue(value: string): string {
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0) break;
  }
  if (i === value.length) return value;
  let out = value.slice(0, i);
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    out += c === 13 || c === 10 || c === 0 ? ' ' : value[i]!;
  }
  return out;
}

/** What a message counter needs of a message (a SipMessage, or a response kept as bytes). */
export interface SipMessageKind {
  readonly isRequest: boolean;
  readonly method: string;
  readonly status: number;
}

export class SipMessage {
  /** Request-line or status-line fields. For a response, `method` is the CSeq method. */
  isRequest: boolean;
  method: string;
  requestUri: string;
  status: number;
  reason: string;
  /** Header lines in order; edited only through the methods below, so the caches stay right. */
  private readonly lines: HeaderLine[];
  body: Buffer;

  private cachedCallId: string | undefined;
  private cachedCSeq: CSeq | null | undefined;
  private cachedRuriText: string | undefined;
  private cachedRuri: SipUri | null = null;
  private cachedTopVia: Via | null | undefined;
  private cachedFromTag: string | null | undefined;
  private cachedToTag: string | null | undefined;

  private constructor(isRequest: boolean, method: string, requestUri: string, status: number, reason: string) {
    this.isRequest = isRequest;
    this.method = method;
    this.requestUri = requestUri;
    this.status = status;
    this.reason = reason;
    this.lines = [];
    this.body = EMPTY_BODY;
  }

  static request(method: string, requestUri: string): SipMessage {
    return new SipMessage(true, method, requestUri, 0, '');
  }

  static response(status: number, reason: string, method = ''): SipMessage {
    return new SipMessage(false, method, '', status, reason);
  }

  // --- generic header access -------------------------------------------

  /** Value of the first header line with this name (compact or long, any case). */
  getHeader(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    const hs = this.lines;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.name === key) return hs[i]!.value;
    return undefined;
  }

  hasHeader(name: string): boolean {
    return this.getHeader(name) !== undefined;
  }

  /**
   * Every value of a header, across lines; list headers (Via, Route,
   * Contact, Allow, ...) are split at top-level commas.
   */
  getHeaderValues(name: string): string[] {
    const key = canonicalHeaderName(name);
    const split = isListHeader(key);
    const out: string[] = [];
    for (const h of this.lines) {
      if (h.name !== key) continue;
      if (split) for (const v of splitList(h.value)) out.push(v);
      else out.push(h.value);
    }
    return out;
  }

  /** Number of header lines with this name (not list elements). */
  countHeaderLines(name: string): number {
    const key = canonicalHeaderName(name);
    let n = 0;
    for (const h of this.lines) if (h.name === key) n++;
    return n;
  }

  /** Replaces every line of this header with one line holding `value`, where the first one was. */
  setHeader(name: string, value: string): void {
    value = sanitizeHeaderValue(value);
    const key = canonicalHeaderName(name);
    const idx = this.lines.findIndex((h) => h.name === key);
    if (idx < 0) {
      this.lines.push({ name: key, rawName: spellingOf(name, key), value });
    } else {
      this.lines[idx]!.value = value;
      for (let i = this.lines.length - 1; i > idx; i--) if (this.lines[i]!.name === key) this.lines.splice(i, 1);
    }
    this.invalidate(key);
  }

  /**
   * Adds a header line. `top` puts it before the first line of the same
   * name (the place for a new Via or Record-Route; at the head of the
   * message when there is none), otherwise it is
   * appended after the last line of that name, or at the end.
   */
  addHeader(name: string, value: string, top = false): void {
    value = sanitizeHeaderValue(value);
    const key = canonicalHeaderName(name);
    const line: SipHeader = { name: key, rawName: spellingOf(name, key), value };
    let at = -1;
    if (top) {
      at = this.lines.findIndex((h) => h.name === key);
      // A first Via (or Record-Route) goes to the head of the message, where
      // proxies and humans expect to find it.
      if (at < 0) at = 0;
    } else {
      for (let i = this.lines.length - 1; i >= 0; i--) {
        if (this.lines[i]!.name === key) { at = i + 1; break; }
      }
    }
    if (at < 0) this.lines.push(line);
    else this.lines.splice(at, 0, line);
    this.invalidate(key);
  }

  /** Removes every line of this header; returns how many were removed. */
  removeHeader(name: string): number {
    const key = canonicalHeaderName(name);
    let removed = 0;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      if (this.lines[i]!.name === key) {
        this.lines.splice(i, 1);
        removed++;
      }
    }
    if (removed > 0) this.invalidate(key);
    return removed;
  }

  /**
   * Removes the element at `index` of a (list) header, counting elements
   * across lines as getHeaderValues does. Used to pop our own top Via.
   */
  removeHeaderValueAt(name: string, index: number): boolean {
    if (!Number.isInteger(index) || index < 0) return false;
    const key = canonicalHeaderName(name);
    let seen = 0;
    for (let i = 0; i < this.lines.length; i++) {
      const h = this.lines[i]!;
      if (h.name !== key) continue;
      const values = isListHeader(key) ? splitList(h.value) : [h.value];
      if (index < seen + values.length) {
        values.splice(index - seen, 1);
        if (values.length === 0) this.lines.splice(i, 1);
        else h.value = values.join(', ');
        this.invalidate(key);
        return true;
      }
      seen += values.length;
    }
    return false;
  }

  /** Replaces the element at `index` of a header (counting as getHeaderValues does). */
  setHeaderValueAt(name: string, index: number, value: string): boolean {
    if (!Number.isInteger(index) || index < 0) return false;
    value = sanitizeHeaderValue(value);
    const key = canonicalHeaderName(name);
    let seen = 0;
    for (const h of this.lines) {
      if (h.name !== key) continue;
      const values = isListHeader(key) ? splitList(h.value) : [h.value];
      if (index < seen + values.length) {
        values[index - seen] = value;
        h.value = values.length === 1 ? values[0]! : values.join(', ');
        this.invalidate(key);
        return true;
      }
      seen += values.length;
    }
    return false;
  }

  // --- the hot headers ---------------------------------------------------

  get callId(): string {
    if (this.cachedCallId === undefined) this.cachedCallId = this.getHeader('call-id') ?? '';
    return this.cachedCallId;
  }

  /**
   * The Request-URI parsed (null for responses or when it does not parse).
   * Cached against the text of `requestUri`, so assigning a new
   * `requestUri` is picked up. Shared: treat it as read-only.
   */
  get parsedRequestUri(): Readonly<SipUri> | null {
    if (!this.isRequest) return null;
    if (this.cachedRuriText !== this.requestUri) {
      this.cachedRuriText = this.requestUri;
      this.cachedRuri = parseUri(this.requestUri);
    }
    return this.cachedRuri;
  }

  get cseq(): CSeq | null {
    if (this.cachedCSeq === undefined) {
      const v = this.getHeader('cseq');
      this.cachedCSeq = v === undefined ? null : parseCSeq(v);
    }
    return this.cachedCSeq;
  }

  /** The first Via element: where a response to this request goes, and the transaction key. */
  get topVia(): Via | null {
    if (this.cachedTopVia === undefined) {
      const first = this.firstListElement('via');
      this.cachedTopVia = first === null ? null : parseVia(first);
    }
    return this.cachedTopVia;
  }

  get fromTag(): string | null {
    if (this.cachedFromTag === undefined) this.cachedFromTag = this.tagOf('from');
    return this.cachedFromTag;
  }

  get toTag(): string | null {
    if (this.cachedToTag === undefined) this.cachedToTag = this.tagOf('to');
    return this.cachedToTag;
  }

  /** From/To/Contact/... as name-addr; null when absent or malformed. */
  getNameAddr(name: string): NameAddr | null {
    const v = this.getHeaderValues(name)[0];
    return v === undefined ? null : parseNameAddr(v);
  }

  /**
   * Sets a parameter on the first name-addr of From or To (e.g. our tag);
   * `value` null writes a flag parameter. Returns false when the header is
   * absent or malformed.
   */
  setNameAddrParam(name: 'from' | 'to', param: string, value: string | null): boolean {
    const raw = this.getHeader(name);
    if (raw === undefined) return false;
    const na = parseNameAddr(raw);
    if (na === null) return false;
    const key = param.toLowerCase();
    let out: string;
    if (!na.params.has(key)) {
      // Appending leaves every byte that was there untouched.
      out = value === null ? `${raw};${param}` : `${raw};${param}=${value}`;
    } else {
      const at = nameAddrParamsStart(raw);
      if (at < 0) return false;
      na.params.set(key, value);
      out = raw.slice(0, at).trimEnd() + formatParams(na.params);
    }
    this.setHeader(name, out);
    return true;
  }

  /**
   * Parses From or To once and caches its tag; false when the value is not
   * a valid name-addr / addr-spec. The parser calls this while validating.
   */
  checkNameAddr(name: 'from' | 'to'): boolean {
    const v = this.getHeader(name);
    if (v === undefined) return false;
    const tag = nameAddrTag(v);
    if (tag === false) return false;
    if (name === 'from') this.cachedFromTag = tag;
    else this.cachedToTag = tag;
    return true;
  }

  /** Content-Type without parameters, lower-case; '' when absent. */
  get contentType(): string {
    const ct = this.getHeader('content-type');
    if (ct === undefined) return '';
    const semi = ct.indexOf(';');
    return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  }

  /** Sets the body and keeps Content-Type and Content-Length consistent. */
  setBody(body: Buffer | string, contentType?: string): void {
    this.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (this.body.length === 0) this.removeHeader('content-type');
    else if (contentType !== undefined) this.setHeader('content-type', contentType);
    this.setHeader('content-length', String(this.body.length));
  }

  /** Deep copy: headers and body are independent of the original. */
  clone(): SipMessage {
    const m = new SipMessage(this.isRequest, this.method, this.requestUri, this.status, this.reason);
    for (const h of this.lines) m.lines.push({ name: h.name, rawName: h.rawName, value: h.value });
    m.body = this.body.length === 0 ? EMPTY_BODY : Buffer.from(this.body);
    return m;
  }

  /** Called by the parser only: appends without cache bookkeeping. */
  pushParsedHeader(name: string, rawName: string, value: string): void {
    this.lines.push({ name, rawName, value });
  }

  /** The header lines in order (read-only: edit through setHeader/addHeader/setHeaderLine/removeHeaderLine...). */
  get headers(): readonly SipHeader[] {
    return this.lines;
  }

  /** Replaces the value of one line returned by `headers` (a manipulation rule editing one instance). */
  setHeaderLine(line: SipHeader, value: string): boolean {
    const idx = this.lines.indexOf(line as HeaderLine);
    if (idx < 0) return false;
    this.lines[idx]!.value = sanitizeHeaderValue(value);
    this.invalidate(line.name);
    return true;
  }

  /** Removes one line returned by `headers`. */
  removeHeaderLine(line: SipHeader): boolean {
    const idx = this.lines.indexOf(line as HeaderLine);
    if (idx < 0) return false;
    this.lines.splice(idx, 1);
    this.invalidate(line.name);
    return true;
  }

  /** Removes every line whose canonical name starts with `prefix` (e.g. `x-`); returns how many. */
  removeHeadersByPrefix(prefix: string): number {
    let removed = 0;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      if (this.lines[i]!.name.startsWith(prefix)) {
        this.lines.splice(i, 1);
        removed++;
      }
    }
    if (removed > 0) this.invalidate();
    return removed;
  }

  private invalidate(canonical?: string): void {
    if (canonical === undefined || canonical === 'call-id') this.cachedCallId = undefined;
    if (canonical === undefined || canonical === 'cseq') this.cachedCSeq = undefined;
    if (canonical === undefined || canonical === 'via') this.cachedTopVia = undefined;
    if (canonical === undefined || canonical === 'from') this.cachedFromTag = undefined;
    if (canonical === undefined || canonical === 'to') this.cachedToTag = undefined;
  }

  private firstListElement(key: string): string | null {
    for (const h of this.lines) {
      if (h.name !== key) continue;
      // Fast path: a single Via per line is by far the common case.
      if (h.value.indexOf(',') < 0) return h.value;
      const parts = splitList(h.value);
      if (parts.length > 0) return parts[0]!;
    }
    return null;
  }

  private tagOf(key: string): string | null {
    const v = this.getHeader(key);
    if (v === undefined) return null;
    // Fast path: no ';' after the URI means no parameters, so no tag.
    // (The first '>' is at or before the one closing the URI.)
    const gt = v.indexOf('>');
    if (v.indexOf(';', gt < 0 ? 0 : gt) < 0) return null;
    const tag = nameAddrTag(v);
    return tag === false ? null : tag;
  }
}

/**
 * The name to write for a header we add: the caller's own spelling when it
 * has one (a relayed `X-PBX-Trace` keeps its case), else the usual form.
 */
function spellingOf(name: string, canonical: string): string {
  if (name.length > 1 && name !== canonical && name.toLowerCase() === canonical) return name;
  return prettyHeaderName(canonical);
}
