/**
 * The SBC as digest authenticator (Mediant IP Group AuthenticationMode =
 * SBC as server, MethodList, SBCUserInfoTable): requests of the listed
 * methods from such a group are challenged (RFC 3261 §22.2, RFC 7616
 * with qop=auth) and checked against the users table.
 *
 * Nonces carry their issue time and an HMAC over it, so any nonce can be
 * checked without state and ages out after AuthNonceDuration (then the
 * answer is a fresh challenge with stale=true). The nonce-count of each
 * nonce must rise (RFC 7616 §3.4: a repeated or lower nc is a replay).
 * Responses are compared in constant time. Failures are counted per
 * source address and reported to a listener (the intrusion detection).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { digestResponse, parseDigestCredentials, type DigestAlgorithm, type DigestCredentials } from '../sip/digest.js';
import { quote } from '../sip/grammar.js';
import type { SipMessage } from '../sip/message.js';

export interface AuthUser {
  readonly username: string;
  readonly password: string;
  /** The AOR user it may register / call as (SBCUserInfoTable LocalUser); empty = any. */
  readonly localUser: string;
}

export interface AuthPolicy {
  readonly realm: string;
  /** Seconds a nonce is valid (Mediant AuthNonceDuration). */
  readonly nonceLifetimeSec: number;
  /** 401 WWW-Authenticate or 407 Proxy-Authenticate (Mediant AuthChallengeMethod). */
  readonly proxy: boolean;
  readonly algorithm: 'MD5' | 'SHA-256';
  user(username: string): AuthUser | undefined;
}

export type AuthResult =
  | { ok: true; username: string }
  | { ok: false; status: 401 | 407 | 403; header: [string, string] | null; reason: string };

/** What the intrusion detection learns of each failure. */
export interface AuthFailure {
  readonly source: string;
  /** Where the request came from and in (IDS scope ip+port and IDSMatch by SIP Interface); absent when the caller did not say. */
  readonly via?: AuthVia;
  readonly username: string | null;
  readonly reason: string;
  readonly count: number;
}

export interface AuthVia {
  readonly port: number;
  readonly interfaceName: string;
}

const MAX_NONCES = 100_000;
const MAX_SOURCES = 10_000;

export class DigestAuthenticator {
  private readonly secret = randomBytes(32);
  /** nonce -> highest nc accepted; entries older than the lifetime are pruned. */
  private readonly counts = new Map<string, { nc: number; issued: number }>();
  private readonly failures = new Map<string, number>();
  /** Called on every failed or replayed authentication. */
  onFailure: ((f: AuthFailure) => void) | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  newNonce(): string {
    const body = Buffer.alloc(16);
    body.writeDoubleBE(this.now(), 0);
    randomBytes(8).copy(body, 8);
    const mac = createHmac('sha256', this.secret).update(body).digest().subarray(0, 16);
    return Buffer.concat([body, mac]).toString('base64url');
  }

  /** Issue time of a nonce we made; null for anything else. */
  private nonceTime(nonce: string): number | null {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 32) return null;
    const mac = createHmac('sha256', this.secret).update(raw.subarray(0, 16)).digest().subarray(0, 16);
    if (!timingSafeEqual(mac, raw.subarray(16))) return null;
    return raw.readDoubleBE(0);
  }

  challenge(policy: AuthPolicy, stale: boolean): [string, string] {
    const value = `Digest realm=${quote(policy.realm)}, nonce="${this.newNonce()}", algorithm=${policy.algorithm}, qop="auth"${stale ? ', stale=true' : ''}`;
    return [policy.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate', value];
  }

  /** Checks `req` (from `source`, an address) against `policy`. */
  check(req: SipMessage, source: string, policy: AuthPolicy, via?: AuthVia): AuthResult {
    const header = policy.proxy ? 'proxy-authorization' : 'authorization';
    let creds: DigestCredentials | null = null;
    for (const v of req.getHeaderValues(header)) {
      const c = parseDigestCredentials(v);
      if (c !== null && c.realm === policy.realm) creds = c;
    }
    const status = policy.proxy ? 407 : 401;
    if (creds === null) return { ok: false, status, header: this.challenge(policy, false), reason: 'no credentials' };
    const issued = this.nonceTime(creds.nonce);
    if (issued === null) return this.fail(source, via, creds.username, 'unknown nonce', { ok: false, status, header: this.challenge(policy, false), reason: 'unknown nonce' });
    const user = policy.user(creds.username);
    const expected = user === undefined ? null : responseFor(creds, req.method, user.password);
    // Constant work whether or not the user exists: compare against a dummy when it does not.
    const got = Buffer.from(creds.response.toLowerCase().padEnd(64, '0').slice(0, 64));
    const want = Buffer.from((expected ?? '').padEnd(64, '0').slice(0, 64));
    const match = timingSafeEqual(got, want) && expected !== null && expected.length === creds.response.length;
    if (!match) return this.fail(source, via, creds.username, 'wrong credentials', { ok: false, status: 403, header: null, reason: 'Forbidden' });
    if (this.now() - issued > policy.nonceLifetimeSec * 1000) {
      // Right password, old nonce: a new challenge the UA answers without asking anyone (RFC 7616 §3.3 stale).
      return { ok: false, status, header: this.challenge(policy, true), reason: 'stale nonce' };
    }
    if (creds.qop !== 'auth' || creds.nc === null || !/^[0-9a-fA-F]{8}$/.test(creds.nc) || creds.cnonce === null) {
      return this.fail(source, via, creds.username, 'qop=auth with nc and cnonce required', { ok: false, status, header: this.challenge(policy, false), reason: 'qop required' });
    }
    const nc = Number.parseInt(creds.nc, 16);
    const seen = this.counts.get(creds.nonce);
    if (seen !== undefined && nc <= seen.nc) {
      return this.fail(source, via, creds.username, 'replayed nonce-count', { ok: false, status, header: this.challenge(policy, true), reason: 'replay' });
    }
    this.remember(creds.nonce, nc, issued, policy.nonceLifetimeSec);
    return { ok: true, username: creds.username };
  }

  failuresBySource(): Record<string, number> {
    return Object.fromEntries(this.failures);
  }

  private remember(nonce: string, nc: number, issued: number, lifetimeSec: number): void {
    this.counts.set(nonce, { nc, issued });
    if (this.counts.size > MAX_NONCES) {
      const cutoff = this.now() - lifetimeSec * 1000;
      for (const [k, v] of this.counts) if (v.issued < cutoff) this.counts.delete(k);
      // Still too many live nonces: forget the oldest (they will be answered with stale=true).
      while (this.counts.size > MAX_NONCES) this.counts.delete(this.counts.keys().next().value!);
    }
  }

  private fail(source: string, via: AuthVia | undefined, username: string | null, reason: string, result: AuthResult): AuthResult {
    const count = (this.failures.get(source) ?? 0) + 1;
    this.failures.delete(source);
    this.failures.set(source, count);
    if (this.failures.size > MAX_SOURCES) this.failures.delete(this.failures.keys().next().value!);
    this.onFailure?.({ source, username, reason, count, ...(via !== undefined ? { via } : {}) });
    return result;
  }
}

function responseFor(c: DigestCredentials, method: string, password: string): string {
  return digestResponse(c.algorithm, {
    method, uri: c.uri, username: c.username, password, realm: c.realm, nonce: c.nonce,
    qop: c.qop, cnonce: c.cnonce ?? '', nc: c.nc ?? '',
  });
}

export type { DigestAlgorithm };
