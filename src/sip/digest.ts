/**
 * HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617,
 * RFC 7616, RFC 8760): reading a WWW-Authenticate / Proxy-Authenticate
 * challenge and answering it with an Authorization / Proxy-Authorization
 * value. The B2BUA uses it when a trunk challenges our requests; the
 * credential parser lets a test (or a future registrar) check answers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { quote, splitList, unquote } from './grammar.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque: string | null;
  /** MD5 when the challenge names none (RFC 2617 §3.2.1). */
  algorithm: DigestAlgorithm;
  /** Offered qop values, lower-case (`auth`, `auth-int`); empty for an RFC 2069 challenge. */
  qop: string[];
  /** The nonce was stale: retry with the new one without asking anyone for a password. */
  stale: boolean;
  domain: string | null;
}

export interface DigestAnswerInput {
  method: string;
  /** The digest-uri: the Request-URI of the request being authorised, as sent. */
  uri: string;
  username: string;
  password: string;
  /** Client nonce; a random one when omitted. Needed only when qop is used. */
  cnonce?: string;
  /** Nonce count: how many times this nonce has been used, starting at 1. */
  nc?: number;
  /** Message body, for qop=auth-int (only chosen when the challenge offers nothing else). */
  body?: Buffer | string;
}

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm;
  cnonce: string | null;
  opaque: string | null;
  qop: string | null;
  /** As written: eight hex digits. */
  nc: string | null;
}

const HASH_OF: Readonly<Record<DigestAlgorithm, string>> = {
  'MD5': 'md5',
  'MD5-sess': 'md5',
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
  'SHA-512-256': 'sha512-256',
  'SHA-512-256-sess': 'sha512-256',
};

/** Preference when a server offers several challenges (RFC 8760 §2.4: strongest first). */
const STRENGTH: Readonly<Record<DigestAlgorithm, number>> = {
  'SHA-512-256': 6, 'SHA-512-256-sess': 5, 'SHA-256': 4, 'SHA-256-sess': 3, 'MD5': 2, 'MD5-sess': 1,
};

function toAlgorithm(raw: string | undefined): DigestAlgorithm | null {
  if (raw === undefined) return 'MD5';
  switch (raw.toUpperCase()) {
    case 'MD5': return 'MD5';
    case 'MD5-SESS': return 'MD5-sess';
    case 'SHA-256': return 'SHA-256';
    case 'SHA-256-SESS': return 'SHA-256-sess';
    case 'SHA-512-256': return 'SHA-512-256';
    case 'SHA-512-256-SESS': return 'SHA-512-256-sess';
    default: return null;
  }
}

/**
 * Splits `Digest a=b, c="d,e"` into its scheme and lower-cased parameter
 * names with unquoted values. Null when the scheme is not Digest or a
 * parameter is malformed.
 */
function parseDigestParams(value: string): Map<string, string> | null {
  const s = value.trim();
  let sp = 0;
  while (sp < s.length && s.charCodeAt(sp) !== 32 && s.charCodeAt(sp) !== 9) sp++;
  if (s.slice(0, sp).toLowerCase() !== 'digest') return null;
  const params = new Map<string, string>();
  for (const item of splitList(s.slice(sp))) {
    const eq = item.indexOf('=');
    if (eq <= 0) return null;
    const name = item.slice(0, eq).trim().toLowerCase();
    const raw = item.slice(eq + 1).trim();
    if (raw.charCodeAt(0) === 34 && (raw.length < 2 || raw.charCodeAt(raw.length - 1) !== 34)) return null;
    if (!params.has(name)) params.set(name, unquote(raw));
  }
  return params;
}

/**
 * Parses a WWW-Authenticate or Proxy-Authenticate value. Null when it is
 * not a Digest challenge, lacks realm or nonce, or names an algorithm we
 * cannot compute.
 */
export function parseDigestChallenge(value: string): DigestChallenge | null {
  const p = parseDigestParams(value);
  if (p === null) return null;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined || nonce === undefined) return null;
  const algorithm = toAlgorithm(p.get('algorithm'));
  if (algorithm === null) return null;
  const qopRaw = p.get('qop');
  const qop: string[] = [];
  if (qopRaw !== undefined) {
    for (const q of qopRaw.split(',')) {
      const t = q.trim().toLowerCase();
      if (t.length > 0) qop.push(t);
    }
  }
  return {
    realm,
    nonce,
    opaque: p.get('opaque') ?? null,
    algorithm,
    qop,
    stale: (p.get('stale') ?? '').toLowerCase() === 'true',
    domain: p.get('domain') ?? null,
  };
}

/**
 * Of several challenge header values (one response may carry one per
 * algorithm), the one with the strongest algorithm we support; null when
 * none is usable.
 */
export function pickDigestChallenge(values: readonly string[]): DigestChallenge | null {
  let best: DigestChallenge | null = null;
  for (const v of values) {
    const ch = parseDigestChallenge(v);
    if (ch !== null && (best === null || STRENGTH[ch.algorithm] > STRENGTH[best.algorithm])) best = ch;
  }
  return best;
}

function h(algorithm: DigestAlgorithm, data: string | Buffer): string {
  return createHash(HASH_OF[algorithm]).update(data).digest('hex');
}

/** Eight lower-case hex digits, as the nc parameter is written. */
export function formatNonceCount(nc: number): string {
  const n = Number.isInteger(nc) && nc > 0 && nc <= 0xffffffff ? nc : 1;
  return n.toString(16).padStart(8, '0');
}

/**
 * The request-digest (RFC 7616 §3.4.1). `qop` null is the RFC 2069 form
 * without cnonce and nc.
 */
export function digestResponse(
  algorithm: DigestAlgorithm,
  a: {
    method: string; uri: string; username: string; password: string; realm: string; nonce: string;
    qop: string | null; cnonce: string; nc: string; body?: Buffer | string;
  },
): string {
  let ha1 = h(algorithm, `${a.username}:${a.realm}:${a.password}`);
  if (algorithm.endsWith('-sess')) ha1 = h(algorithm, `${ha1}:${a.nonce}:${a.cnonce}`);
  const a2 = a.qop === 'auth-int'
    ? `${a.method}:${a.uri}:${h(algorithm, a.body ?? '')}`
    : `${a.method}:${a.uri}`;
  const ha2 = h(algorithm, a2);
  if (a.qop === null) return h(algorithm, `${ha1}:${a.nonce}:${ha2}`);
  return h(algorithm, `${ha1}:${a.nonce}:${a.nc}:${a.cnonce}:${a.qop}:${ha2}`);
}

/**
 * The Authorization / Proxy-Authorization value answering `challenge`.
 * qop=auth when offered, else auth-int when that is all that is offered,
 * else (no qop in the challenge) the RFC 2069 form. Null when the
 * challenge offers only qop values we do not know.
 */
export function buildDigestAuthorization(challenge: DigestChallenge, input: DigestAnswerInput): string | null {
  let qop: string | null = null;
  if (challenge.qop.length > 0) {
    if (challenge.qop.includes('auth')) qop = 'auth';
    else if (challenge.qop.includes('auth-int')) qop = 'auth-int';
    else return null;
  }
  const sess = challenge.algorithm.endsWith('-sess');
  const cnonce = input.cnonce ?? randomBytes(12).toString('hex');
  const nc = formatNonceCount(input.nc ?? 1);
  const response = digestResponse(challenge.algorithm, {
    method: input.method, uri: input.uri, username: input.username, password: input.password,
    realm: challenge.realm, nonce: challenge.nonce, qop, cnonce, nc, body: input.body,
  });
  let out = `Digest username=${quote(input.username)}, realm=${quote(challenge.realm)}, nonce=${quote(challenge.nonce)}`;
  out += `, uri=${quote(input.uri)}, response="${response}", algorithm=${challenge.algorithm}`;
  if (qop !== null || sess) out += `, cnonce=${quote(cnonce)}`;
  if (challenge.opaque !== null) out += `, opaque=${quote(challenge.opaque)}`;
  if (qop !== null) out += `, qop=${qop}, nc=${nc}`;
  return out;
}

/** Parses an Authorization / Proxy-Authorization value; null when it is not usable Digest credentials. */
export function parseDigestCredentials(value: string): DigestCredentials | null {
  const p = parseDigestParams(value);
  if (p === null) return null;
  const username = p.get('username');
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  const uri = p.get('uri');
  const response = p.get('response');
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) {
    return null;
  }
  const algorithm = toAlgorithm(p.get('algorithm'));
  if (algorithm === null) return null;
  return {
    username, realm, nonce, uri, response, algorithm,
    cnonce: p.get('cnonce') ?? null,
    opaque: p.get('opaque') ?? null,
    qop: p.get('qop')?.toLowerCase() ?? null,
    nc: p.get('nc') ?? null,
  };
}

/**
 * Checks credentials against a known password (constant work regardless
 * of where a mismatch is). The caller checks the nonce is one it issued.
 */
export function verifyDigestCredentials(
  creds: DigestCredentials, method: string, password: string, body?: Buffer | string,
): boolean {
  const expected = digestResponse(creds.algorithm, {
    method, uri: creds.uri, username: creds.username, password, realm: creds.realm, nonce: creds.nonce,
    qop: creds.qop, cnonce: creds.cnonce ?? '', nc: creds.nc ?? '', body,
  });
  const got = creds.response.toLowerCase();
  if (got.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff |= got.charCodeAt(i) ^ expected.charCodeAt(i);
  return diff === 0;
}
