import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, type NativeSrtpOp } from './relay-native.js';
import { aesCmKeystream, generateSrtpKeySalt, SrtpContext, srtpKdf } from './srtp-js.js';
import type { SrtpSuite } from './relay-types.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const native = loadNativeAddon();

const impls = [
  { name: 'js', kdf: srtpKdf, keystream: aesCmKeystream },
  { name: 'native', kdf: native.srtpKdf, keystream: native.aesCmKeystream },
];

describe.each(impls)('RFC 3711 test vectors ($name)', ({ kdf, keystream }) => {
  it('B.2 AES-CM keystream', () => {
    const key = hex('2B7E151628AED2A6ABF7158809CF4F3C');
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    const ks = keystream(key, iv, 0xff02 * 16);
    expect(ks.subarray(0, 48).toString('hex').toUpperCase()).toBe(
      'E03EAD0935C95E80E166B16DD92B4EB4' + 'D23513162B02D0F72A43A2FE4A5F97AB' + '41E95B3BB0A2E8DD477901E4FCA894C0',
    );
    expect(ks.subarray(0xfeff * 16).toString('hex').toUpperCase()).toBe(
      'EC8CDF7398607CB0F2D21675EA9EA1E4' + '362B7C3C6773516318A077D7FC5073AE' + '6A2CC3787889374FBEB4C81B17BA6C44',
    );
  });

  it('B.3 key derivation', () => {
    const mk = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
    const ms = hex('0EC675AD498AFEEBB6960B3AABE6');
    expect(kdf(mk, ms, 0, 16).toString('hex').toUpperCase()).toBe('C61E7A93744F39EE10734AFE3FF7A087');
    expect(kdf(mk, ms, 2, 14).toString('hex').toUpperCase()).toBe('30CBBC08863D8C85D49DB34A9AE1');
    expect(kdf(mk, ms, 1, 20).toString('hex').toUpperCase()).toBe('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });
});

function rtp(seq: number, ssrc = 0xdecafbad, payloadLen = 160, ext = false): Buffer {
  const extBytes = ext ? Buffer.from([0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00]) : Buffer.alloc(0);
  const h = Buffer.alloc(12);
  h[0] = ext ? 0x90 : 0x80;
  h[1] = 0;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE((seq * 160) >>> 0, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, extBytes, randomBytes(payloadLen)]);
}

function rtcp(ssrc: number): Buffer {
  const b = randomBytes(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

function runJs(ctx: SrtpContext, op: NativeSrtpOp, pkts: Buffer[]): Array<Buffer | string> {
  return pkts.map((p) => ctx[op](p));
}

describe.each<[SrtpSuite, number]>([
  ['AES_CM_128_HMAC_SHA1_80', 10],
  ['AES_CM_128_HMAC_SHA1_32', 4],
])('native and JS SRTP agree byte for byte (%s)', (suite, tagLen) => {
  const keySalt = generateSrtpKeySalt();

  it('SRTP across a sequence-number rollover (ROC) and with header extensions', () => {
    const seqs = [65530, 65531, 65533, 65532, 65535, 0, 1, 2, 70, 71];
    const pkts = seqs.map((s, i) => rtp(s, 0xdecafbad, 20 + i * 7, i % 3 === 0));
    const fromNative = native.srtpTransform(keySalt, tagLen, 'protectRtp', pkts);
    const fromJs = runJs(new SrtpContext({ suite, keySalt }), 'protectRtp', pkts);
    expect(fromNative.length).toBe(pkts.length);
    for (let i = 0; i < pkts.length; i++) {
      expect(Buffer.isBuffer(fromNative[i])).toBe(true);
      expect((fromNative[i] as Buffer).equals(fromJs[i] as Buffer)).toBe(true);
      expect((fromNative[i] as Buffer).length).toBe(pkts[i]!.length + tagLen);
    }
    // Each side decrypts the other's output back to the original.
    const back = native.srtpTransform(keySalt, tagLen, 'unprotectRtp', fromJs as Buffer[]);
    back.forEach((b, i) => expect((b as Buffer).equals(pkts[i]!)).toBe(true));
    const backJs = runJs(new SrtpContext({ suite, keySalt }), 'unprotectRtp', fromNative as Buffer[]);
    backJs.forEach((b, i) => expect((b as Buffer).equals(pkts[i]!)).toBe(true));
  });

  it('SRTCP with E-bit and index', () => {
    const pkts = [rtcp(1), rtcp(1), rtcp(2), rtcp(1)];
    const n = native.srtpTransform(keySalt, tagLen, 'protectRtcp', pkts) as Buffer[];
    const j = runJs(new SrtpContext({ suite, keySalt }), 'protectRtcp', pkts) as Buffer[];
    for (let i = 0; i < pkts.length; i++) {
      expect(n[i]!.equals(j[i]!)).toBe(true);
      expect(n[i]!.length).toBe(pkts[i]!.length + 4 + 10); // SRTCP keeps an 80-bit tag
      expect(n[i]!.readUInt32BE(pkts[i]!.length) >>> 31).toBe(1);
    }
    expect(n[1]!.readUInt32BE(28) & 0x7fffffff).toBe(1); // second packet of SSRC 1
    expect(n[2]!.readUInt32BE(28) & 0x7fffffff).toBe(0); // first of SSRC 2
    const back = native.srtpTransform(keySalt, tagLen, 'unprotectRtcp', j);
    back.forEach((b, i) => expect((b as Buffer).equals(pkts[i]!)).toBe(true));
  });

  it('rejects tampering, replays and packets older than the 64-packet window', () => {
    const tx = new SrtpContext({ suite, keySalt });
    const p = (seq: number): Buffer => tx.protectRtp(rtp(seq)) as Buffer;
    const first = p(1000);
    const later = [p(1001), p(1100)];
    const tampered = Buffer.from(p(1101));
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    // 80 behind 1100: outside the window. Our sender refuses to encrypt an index
    // that far behind (RFC 3711 9.2), so it comes from a second sender context,
    // as a packet captured earlier and replayed would.
    const old = new SrtpContext({ suite, keySalt }).protectRtp(rtp(1020)) as Buffer;
    const input = [first, ...later, first, tampered, old, Buffer.from([0x80, 0])];
    const expected = ['ok', 'ok', 'ok', 'replay', 'auth', 'replay', 'malformed'];
    const n = native.srtpTransform(keySalt, tagLen, 'unprotectRtp', input);
    const rx = new SrtpContext({ suite, keySalt });
    const j = input.map((x) => rx.unprotectRtp(x));
    const norm = (r: Buffer | string): string => (typeof r === 'string' ? r : 'ok');
    expect(n.map(norm)).toEqual(expected);
    expect(j.map(norm)).toEqual(expected);
  });
});

describe('SRTP key generation', () => {
  it('produces 30 random bytes each time', () => {
    const a = generateSrtpKeySalt();
    const b = generateSrtpKeySalt();
    expect(a.length).toBe(30);
    expect(a.equals(b)).toBe(false);
  });
});
