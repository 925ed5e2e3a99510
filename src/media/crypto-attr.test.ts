import { describe, expect, it } from 'vitest';
import {
  chooseAnswerCrypto, formatCryptoAttribute, makeCryptoAttribute, parseCryptoAttribute, toSrtpKeying,
  type CryptoAttribute,
} from './crypto-attr.js';

const KEY = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR'; // RFC 4568 example, 30 bytes

function parse(v: string): CryptoAttribute {
  const r = parseCryptoAttribute(v);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('a=crypto', () => {
  it('parses tag, suite, key, lifetime and MKI and formats them back unchanged', () => {
    const text = `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:32`;
    const c = parse(text);
    expect(c.tag).toBe(1);
    expect(c.suite).toBe('AES_CM_128_HMAC_SHA1_80');
    expect(c.keyParams).toHaveLength(1);
    expect(c.keyParams[0]!.keySalt!.length).toBe(30);
    expect(c.keyParams[0]!.lifetime).toBe('2^20');
    expect(c.keyParams[0]!.mki).toBe('1:32');
    expect(formatCryptoAttribute(c)).toBe(text);
  });

  it('round-trips MKI without lifetime, several key params and session params', () => {
    for (const text of [
      `2 AES_CM_128_HMAC_SHA1_32 inline:${KEY}|1:4`,
      `3 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4;inline:${KEY}|2^20|2:4 KDR=1 UNENCRYPTED_SRTCP`,
      `9 F8_128_HMAC_SHA1_80 inline:${KEY}`,
    ]) {
      expect(formatCryptoAttribute(parse(text))).toBe(text);
    }
  });

  it('rejects malformed attributes with a message', () => {
    for (const bad of ['', '1 AES_CM_128_HMAC_SHA1_80', 'x AES_CM_128_HMAC_SHA1_80 inline:abc', '1 AES-CM inline:abc', `1 AES_CM_128_HMAC_SHA1_80 ${KEY}`, '1 AES_CM_128_HMAC_SHA1_80 inline:']) {
      const r = parseCryptoAttribute(bad);
      expect(r.ok, bad).toBe(false);
    }
    // bad base64 parses (the text is kept) but is not usable
    const c = parse('1 AES_CM_128_HMAC_SHA1_80 inline:not*base64');
    expect(c.keyParams[0]!.keySalt).toBeNull();
    expect(toSrtpKeying(c)).toBeNull();
  });

  it('answers with the first offered suite we support and prefers lines without MKI', () => {
    const offered = [
      parse(`1 AEAD_AES_256_GCM inline:${KEY}`),
      parse(`2 AES_CM_128_HMAC_SHA1_32 inline:${KEY}|2^20|1:4`),
      parse(`3 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`),
      parse(`4 AES_CM_128_HMAC_SHA1_32 inline:${KEY}`),
    ];
    expect(chooseAnswerCrypto(offered)!.tag).toBe(3);
    expect(chooseAnswerCrypto(offered, ['AES_CM_128_HMAC_SHA1_32'])!.tag).toBe(4);
    expect(chooseAnswerCrypto(offered.slice(0, 2))!.tag).toBe(2); // MKI only as a last resort
    expect(chooseAnswerCrypto([parse(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY} KDR=2`)])).toBeNull();
    expect(chooseAnswerCrypto([])).toBeNull();
  });

  it('generates fresh 30-byte keys', () => {
    const a = makeCryptoAttribute(1, 'AES_CM_128_HMAC_SHA1_80');
    const b = makeCryptoAttribute(1, 'AES_CM_128_HMAC_SHA1_80');
    expect(a.keyParams[0]!.keySalt!.length).toBe(30);
    expect(a.keyParams[0]!.keySaltBase64).not.toBe(b.keyParams[0]!.keySaltBase64);
    expect(formatCryptoAttribute(a)).toMatch(/^1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}$/);
    const k = toSrtpKeying(parse(formatCryptoAttribute(a)))!;
    expect(k.suite).toBe('AES_CM_128_HMAC_SHA1_80');
    expect(k.keySalt.equals(a.keyParams[0]!.keySalt!)).toBe(true);
  });
});
