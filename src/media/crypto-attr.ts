import { randomBytes } from 'node:crypto';
import type { SrtpKeying, SrtpSuite } from './relay-types.js';

/**
 * SDES (RFC 4568) `a=crypto` attributes for SRTP.
 *
 * a=crypto:<tag> <crypto-suite> <key-params> [<session-param> ...]
 * key-params = key-param *(";" key-param)
 * key-param  = "inline:" base64(master key || master salt) ["|" lifetime] ["|" MKI ":" length]
 *
 * The key in an SDP is the key its author encrypts with; the receiver of the
 * SDP uses it to decrypt that author's media. Each leg of the SBC therefore
 * has two keys: the peer's (inbound) and ours (outbound).
 */

export const SUPPORTED_SRTP_SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

/** Master key (16 bytes) + master salt (14 bytes) of the AES_CM_128 suites. */
export const SRTP_KEY_SALT_LENGTH = 30;

export interface CryptoKeyParam {
  /** Key method; only "inline" is defined for SRTP. */
  method: string;
  /** The base64 text as received (kept so unknown encodings survive a round trip). */
  keySaltBase64: string;
  /** Decoded master key || salt, or null when the text is not valid base64. */
  keySalt: Buffer | null;
  /** "2^31" or a decimal number; kept, not enforced. */
  lifetime: string | null;
  /** "<mki>:<length>"; kept, not used by the relay. */
  mki: string | null;
}

export interface CryptoAttribute {
  tag: number;
  suite: string;
  keyParams: CryptoKeyParam[];
  /** Session parameters (KDR=, UNENCRYPTED_SRTP, ...) verbatim. */
  sessionParams: string[];
}

export type CryptoParseResult = { ok: true; value: CryptoAttribute } | { ok: false; error: string };

const BASE64_CHARS = /^[A-Za-z0-9+/]+={0,2}$/;

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function decodeBase64(text: string): Buffer | null {
  if (!BASE64_CHARS.test(text) || text.length % 4 === 1) return null;
  return Buffer.from(text, 'base64');
}

/** Parses the value of an a=crypto attribute: everything after "a=crypto:". */
export function parseCryptoAttribute(value: string): CryptoParseResult {
  const fields = value.trim().split(/[ \t]+/);
  if (fields.length < 3) return { ok: false, error: `a=crypto needs tag, suite and key params: "${value}"` };
  const [tagText, suite, keyParamsText, ...sessionParams] = fields as [string, string, string, ...string[]];
  if (!isDigits(tagText) || tagText.length > 9) return { ok: false, error: `a=crypto tag is not 1-9 digits: "${tagText}"` };
  if (!/^[A-Za-z0-9_]+$/.test(suite)) return { ok: false, error: `a=crypto suite is malformed: "${suite}"` };
  const keyParams: CryptoKeyParam[] = [];
  for (const kp of keyParamsText.split(';')) {
    const colon = kp.indexOf(':');
    if (colon <= 0) return { ok: false, error: `a=crypto key param has no method: "${kp}"` };
    const method = kp.slice(0, colon);
    const parts = kp.slice(colon + 1).split('|');
    const keySaltBase64 = parts[0] ?? '';
    if (keySaltBase64.length === 0) return { ok: false, error: 'a=crypto key param has an empty key' };
    let lifetime: string | null = null;
    let mki: string | null = null;
    for (let i = 1; i < parts.length; i++) {
      const p = parts[i]!;
      // MKI is the only part with a colon; lifetime is "2^n" or decimal.
      if (p.includes(':')) mki = p;
      else lifetime = p;
    }
    if (parts.length > 3) return { ok: false, error: `a=crypto key param has too many "|" parts: "${kp}"` };
    keyParams.push({ method, keySaltBase64, keySalt: decodeBase64(keySaltBase64), lifetime, mki });
  }
  return { ok: true, value: { tag: Number(tagText), suite, keyParams, sessionParams } };
}

/** Formats the value of an a=crypto attribute (without the "a=crypto:" prefix). */
export function formatCryptoAttribute(c: CryptoAttribute): string {
  const kps = c.keyParams.map((kp) => {
    let s = `${kp.method}:${kp.keySaltBase64}`;
    if (kp.lifetime !== null) s += `|${kp.lifetime}`;
    if (kp.mki !== null) s += `|${kp.mki}`;
    return s;
  });
  const parts = [String(c.tag), c.suite, kps.join(';'), ...c.sessionParams];
  return parts.join(' ');
}

export function isSupportedSuite(suite: string): suite is SrtpSuite {
  return (SUPPORTED_SRTP_SUITES as readonly string[]).includes(suite);
}

/** Whether the relay can use this attribute: known suite, one inline 30-byte key, no session params. */
export function isUsableCrypto(c: CryptoAttribute): boolean {
  if (!isSupportedSuite(c.suite)) return false;
  if (c.sessionParams.length > 0) return false; // KDR, UNENCRYPTED_*, FEC_ORDER... not implemented by the relay
  if (c.keyParams.length !== 1) return false;
  const kp = c.keyParams[0]!;
  return kp.method === 'inline' && kp.keySalt !== null && kp.keySalt.length === SRTP_KEY_SALT_LENGTH;
}

/**
 * Picks the offered attribute to answer: the first one, in offer order, whose
 * suite we support and is also in `allowedSuites`. Attributes carrying an MKI
 * are only taken when nothing else fits, because the relay contract has no
 * MKI field.
 */
export function chooseAnswerCrypto(
  offered: readonly CryptoAttribute[],
  allowedSuites: readonly SrtpSuite[] = SUPPORTED_SRTP_SUITES,
): CryptoAttribute | null {
  let withMki: CryptoAttribute | null = null;
  for (const c of offered) {
    if (!isUsableCrypto(c) || !(allowedSuites as readonly string[]).includes(c.suite)) continue;
    if (c.keyParams[0]!.mki === null) return c;
    withMki ??= c;
  }
  return withMki;
}

/** Fresh master key + salt from the OS CSPRNG. */
export function generateKeySalt(): Buffer {
  return randomBytes(SRTP_KEY_SALT_LENGTH);
}

/** Builds our own a=crypto for `suite` (a new key unless `keySalt` is given). */
export function makeCryptoAttribute(tag: number, suite: SrtpSuite, keySalt: Buffer = generateKeySalt()): CryptoAttribute {
  return {
    tag,
    suite,
    keyParams: [{ method: 'inline', keySaltBase64: keySalt.toString('base64'), keySalt, lifetime: null, mki: null }],
    sessionParams: [],
  };
}

/** The relay's view of a usable attribute; null when it is not usable. */
export function toSrtpKeying(c: CryptoAttribute): SrtpKeying | null {
  if (!isUsableCrypto(c)) return null;
  return { suite: c.suite as SrtpSuite, keySalt: c.keyParams[0]!.keySalt! };
}
