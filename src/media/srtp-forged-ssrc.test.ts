/**
 * Regression (found by test/integration/media-srtp.test.ts): packets that do
 * not authenticate must leave no trace in the SRTP state. Before the fix a
 * few forged packets with made-up SSRCs recycled the state slot of the real
 * stream, so its replay window (and ROC) was forgotten and a replayed packet
 * was accepted. Both implementations, same expectations.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, type NativeSrtpOp } from './relay-native.js';
import { generateSrtpKeySalt, SrtpContext } from './srtp-js.js';

const native = loadNativeAddon();
const keySalt = generateSrtpKeySalt();
const SUITE = 'AES_CM_128_HMAC_SHA1_80';

function rtp(seq: number, ssrc: number): Buffer {
  const p = Buffer.alloc(12 + 160);
  p[0] = 0x80;
  p[1] = 8;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(seq * 160, 4);
  p.writeUInt32BE(ssrc >>> 0, 8);
  randomBytes(160).copy(p, 12);
  return p;
}

function rtcpRr(ssrc: number): Buffer {
  const p = Buffer.alloc(8);
  p[0] = 0x80;
  p[1] = 201;
  p.writeUInt16BE(1, 2);
  p.writeUInt32BE(ssrc >>> 0, 4);
  return p;
}

/** Forged packets, each with a new SSRC: more than the state slots of either implementation. */
function forged(count: number, rtcp: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const g = randomBytes(rtcp ? 40 : 100);
    g[0] = 0x80;
    g[1] = rtcp ? 201 : 8;
    g.writeUInt32BE((0x10000 + i) >>> 0, rtcp ? 4 : 8);
    out.push(g);
  }
  return out;
}

const norm = (r: Buffer | string): string => (typeof r === 'string' ? r : 'ok');

function runBoth(op: NativeSrtpOp, input: Buffer[]): { native: string[]; js: string[] } {
  const rx = new SrtpContext({ suite: SUITE, keySalt });
  const js = input.map((x) => (op === 'unprotectRtp' ? rx.unprotectRtp(x) : rx.unprotectRtcp(x)));
  return { native: native.srtpTransform(keySalt, 10, op, input).map(norm), js: js.map(norm) };
}

describe('SRTP state is only touched by authenticated packets', () => {
  it('SRTP: forged SSRCs do not make a replay acceptable', () => {
    const tx = new SrtpContext({ suite: SUITE, keySalt });
    const real = [1, 2, 3].map((s) => tx.protectRtp(rtp(500 + s, 0xabc)) as Buffer);
    const input = [...real, ...forged(20, false), real[1]!, real[2]!];
    const expected = ['ok', 'ok', 'ok', ...Array<string>(20).fill('auth'), 'replay', 'replay'];
    const r = runBoth('unprotectRtp', input);
    expect(r.native).toEqual(expected);
    expect(r.js).toEqual(expected);
  });

  it('SRTP: the ROC of a stream survives forged SSRCs', () => {
    const tx = new SrtpContext({ suite: SUITE, keySalt });
    // Cross the 16-bit sequence rollover, then forge, then continue: the receiver must still know ROC = 1.
    const before = [65533, 65534, 65535, 0, 1].map((s) => tx.protectRtp(rtp(s, 0xdef)) as Buffer);
    const after = [2, 3].map((s) => tx.protectRtp(rtp(s, 0xdef)) as Buffer);
    const input = [...before, ...forged(20, false), ...after];
    const expected = [...Array<string>(5).fill('ok'), ...Array<string>(20).fill('auth'), 'ok', 'ok'];
    const r = runBoth('unprotectRtp', input);
    expect(r.native).toEqual(expected);
    expect(r.js).toEqual(expected);
  });

  it('SRTCP: forged SSRCs do not make a replay acceptable', () => {
    const tx = new SrtpContext({ suite: SUITE, keySalt });
    const real = [0, 1].map(() => tx.protectRtcp(rtcpRr(0x123)) as Buffer);
    const input = [...real, ...forged(20, true), real[0]!];
    const expected = ['ok', 'ok', ...Array<string>(20).fill('auth'), 'replay'];
    const r = runBoth('unprotectRtcp', input);
    expect(r.native).toEqual(expected);
    expect(r.js).toEqual(expected);
  });
});
