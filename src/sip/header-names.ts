/**
 * Header name canonicalisation. Every header is stored under its lower-case
 * long form so that `f:` and `From:` and `FROM:` are the same header
 * (RFC 3261 §7.3.1, §7.3.3). The serializer writes the pretty form.
 */

const COMPACT: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Well-known spellings, so that what we write looks like what people expect. */
const PRETTY: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  'rseq': 'RSeq',
  'rack': 'RAck',
};

/**
 * Headers whose value is a comma-separated list of elements (RFC 3261 §7.3.1
 * and the extension RFCs). Other headers (Authorization, Date, ...) contain
 * commas that are not separators and must never be split.
 */
const LIST_HEADERS = new Set<string>([
  'via', 'route', 'record-route', 'contact', 'allow', 'supported', 'require',
  'proxy-require', 'unsupported', 'accept', 'accept-encoding', 'accept-language',
  'content-encoding', 'allow-events', 'diversion', 'p-asserted-identity',
  'p-preferred-identity', 'history-info', 'path', 'service-route', 'in-reply-to',
  'alert-info', 'call-info', 'error-info', 'warning', 'reason', 'security-client',
  'security-server', 'security-verify', 'accept-contact', 'reject-contact',
  'request-disposition', 'privacy',
]);

const canonicalCache = new Map<string, string>();

/** Lower-case long form of a header name as written on the wire. */
export function canonicalHeaderName(raw: string): string {
  const cached = canonicalCache.get(raw);
  if (cached !== undefined) return cached;
  const lower = raw.toLowerCase();
  const canonical = lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
  // Bounded: a peer could send endless distinct names; stop caching then.
  if (canonicalCache.size < 2048) canonicalCache.set(raw, canonical);
  return canonical;
}

/** The spelling used when we write a header that we created ourselves. */
export function prettyHeaderName(canonical: string): string {
  const special = PRETTY[canonical];
  if (special !== undefined) return special;
  let out = '';
  let upper = true;
  for (let i = 0; i < canonical.length; i++) {
    const ch = canonical[i]!;
    out += upper ? ch.toUpperCase() : ch;
    upper = ch === '-';
  }
  return out;
}

export function isListHeader(canonical: string): boolean {
  return LIST_HEADERS.has(canonical);
}

/**
 * Header names as they are usually spelled on the wire. The parser matches
 * these in place in the decoded head, which saves slicing the name and a
 * hash lookup for nearly every header line; anything else takes the
 * generic path through canonicalHeaderName.
 */
const COMMON_SPELLINGS = [
  'Via', 'v', 'From', 'f', 'To', 't', 'Call-ID', 'Call-Id', 'i', 'CSeq', 'Contact', 'm', 'Max-Forwards',
  'Content-Type', 'c', 'Content-Length', 'l', 'Allow', 'Supported', 'k', 'User-Agent', 'Server', 'Route',
  'Record-Route', 'Allow-Events', 'u', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Session-Expires', 'x',
  'Min-SE', 'Expires', 'Accept', 'Date', 'Require', 'Authorization', 'Proxy-Authorization', 'WWW-Authenticate',
  'Proxy-Authenticate', 'Event', 'o', 'Subscription-State', 'Refer-To', 'r', 'Referred-By', 'b', 'RSeq', 'RAck',
  'Reason', 'Privacy', 'Diversion', 'Timestamp', 'Organization', 'Accept-Language', 'Accept-Encoding',
  'Content-Disposition', 'Warning', 'Proxy-Require', 'Unsupported', 'Path', 'Service-Route', 'History-Info',
  'Subject', 's', 'MIME-Version', 'Remote-Party-ID', 'Replaces', 'Min-Expires', 'Retry-After',
];

export interface KnownHeaderName {
  /** The spelling as written. */
  readonly raw: string;
  readonly canonical: string;
  readonly firstChar: number;
}

/** Known spellings bucketed by length (index = name length). */
export const KNOWN_HEADER_NAMES_BY_LENGTH: ReadonlyArray<ReadonlyArray<KnownHeaderName>> = (() => {
  const byLen: KnownHeaderName[][] = [];
  for (const raw of COMMON_SPELLINGS) {
    while (byLen.length <= raw.length) byLen.push([]);
    byLen[raw.length]!.push({ raw, canonical: canonicalHeaderName(raw), firstChar: raw.charCodeAt(0) });
  }
  return byLen;
})();
