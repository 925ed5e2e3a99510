/**
 * SRTP/SRTCP (RFC 3711) in JavaScript on node:crypto, for the suites we
 * offer over SDES (RFC 4568): AES_CM_128_HMAC_SHA1_80 and _32. Used by the
 * JavaScript relay and, as an independent implementation, by the tests of
 * the native one (both must agree byte for byte).
 */
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SrtpKeying, SrtpSuite } from './relay-types.js';

export type SrtpFailure = 'auth' | 'replay' | 'malformed';

/** RFC 4568 6.2: the SRTCP tag stays 80 bits for both suites. */
const SRTCP_TAG_LEN = 10;

export function srtpTagLength(suite: SrtpSuite): 10 | 4 {
  return suite === 'AES_CM_128_HMAC_SHA1_32' ? 4 : 10;
}

/** A fresh 30-byte master key + salt from the CSPRNG, for our own a=crypto lines. */
export function generateSrtpKeySalt(): Buffer {
  return randomBytes(30);
}

/** AES-CM keystream (RFC 3711 4.1.1) of `length` bytes starting at counter `iv`. */
export function aesCmKeystream(key: Buffer, iv: Buffer, length: number): Buffer {
  const c = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(length)), c.final()]);
}

/** RFC 3711 4.3.1 with key_derivation_rate 0. */
export function srtpKdf(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  if (masterKey.length !== 16 || masterSalt.length !== 14) throw new Error('srtpKdf: master key 16 and salt 14 bytes');
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7] = (iv[7] ?? 0) ^ label;
  return aesCmKeystream(masterKey, iv, length);
}

class ReplayWindow {
  private top = 0n;
  private bits = 0n;
  private started = false;
  seen(index: bigint): boolean {
    if (!this.started || index > this.top) return false;
    const delta = this.top - index;
    if (delta >= 64n) return true;
    return ((this.bits >> delta) & 1n) === 1n;
  }
  accept(index: bigint): void {
    if (!this.started) {
      this.started = true;
      this.top = index;
      this.bits = 1n;
      return;
    }
    if (index > this.top) {
      const shift = index - this.top;
      this.bits = shift >= 64n ? 0n : (this.bits << shift) & 0xffffffffffffffffn;
      this.bits |= 1n;
      this.top = index;
    } else {
      const delta = this.top - index;
      if (delta < 64n) this.bits |= 1n << delta;
    }
  }
}

interface StreamState {
  seqStarted: boolean;
  roc: number;
  sl: number;
  rtpWindow: ReplayWindow;
  rtcpWindow: ReplayWindow;
  rtcpSendIndex: number;
}

/** SSRCs with state per direction, as in the native relay. */
const MAX_STREAMS = 4;

function newStreamState(): StreamState {
  return { seqStarted: false, roc: 0, sl: 0, rtpWindow: new ReplayWindow(), rtcpWindow: new ReplayWindow(), rtcpSendIndex: 0 };
}

/** Index estimation for an SSRC not seen yet (never stored, never updated). */
const UNSEEN: Readonly<StreamState> = newStreamState();

function rtpHeaderLength(pkt: Buffer, len: number): number {
  if (len < 12 || (pkt[0]! >> 6) !== 2) return 0;
  let h = 12 + 4 * (pkt[0]! & 0x0f);
  if (pkt[0]! & 0x10) {
    if (len < h + 4) return 0;
    h += 4 + 4 * pkt.readUInt16BE(h + 2);
  }
  return h <= len ? h : 0;
}

/** One direction's crypto context (one master key), with per-SSRC state. */
export class SrtpContext {
  readonly tagLen: 10 | 4;
  private readonly rtpKey: Buffer;
  private readonly rtpAuth: Buffer;
  private readonly rtpSalt: Buffer;
  private readonly rtcpKey: Buffer;
  private readonly rtcpAuth: Buffer;
  private readonly rtcpSalt: Buffer;
  /** Few SSRCs per direction in practice; bounded so a flood of SSRCs cannot grow it. */
  private readonly streams = new Map<number, StreamState>();

  constructor(keying: SrtpKeying) {
    if (keying.keySalt.length !== 30) throw new Error('SRTP keySalt must be 30 bytes');
    this.tagLen = srtpTagLength(keying.suite);
    const mk = keying.keySalt.subarray(0, 16);
    const ms = keying.keySalt.subarray(16, 30);
    this.rtpKey = srtpKdf(mk, ms, 0, 16);
    this.rtpAuth = srtpKdf(mk, ms, 1, 20);
    this.rtpSalt = srtpKdf(mk, ms, 2, 14);
    this.rtcpKey = srtpKdf(mk, ms, 3, 16);
    this.rtcpAuth = srtpKdf(mk, ms, 4, 20);
    this.rtcpSalt = srtpKdf(mk, ms, 5, 14);
  }

  /**
   * The state of `ssrc`, created if needed; the least recently used one is
   * recycled beyond MAX_STREAMS. Inbound, only called once a packet has
   * authenticated, so forged SSRCs cannot evict a real stream's ROC and
   * replay window.
   */
  private stream(ssrc: number): StreamState {
    let s = this.streams.get(ssrc);
    if (s) {
      // Map order is the recency order: move to the end.
      this.streams.delete(ssrc);
      this.streams.set(ssrc, s);
      return s;
    }
    if (this.streams.size >= MAX_STREAMS) {
      const oldest = this.streams.keys().next().value;
      if (oldest !== undefined) this.streams.delete(oldest);
    }
    s = newStreamState();
    this.streams.set(ssrc, s);
    return s;
  }

  private static estimate(s: Readonly<StreamState>, seq: number): number {
    if (!s.seqStarted) return 0;
    if (s.sl < 32768) return seq - s.sl > 32768 && s.roc > 0 ? s.roc - 1 : s.roc;
    return s.sl - 32768 > seq ? (s.roc + 1) >>> 0 : s.roc;
  }

  private static update(s: StreamState, seq: number, v: number): void {
    if (!s.seqStarted) {
      s.seqStarted = true;
      s.roc = v;
      s.sl = seq;
    } else if (v === s.roc + 1) {
      s.roc = v;
      s.sl = seq;
    } else if (v === s.roc && seq > s.sl) {
      s.sl = seq;
    }
  }

  private iv(salt: Buffer, ssrc: number, index: bigint): Buffer {
    const iv = Buffer.alloc(16);
    salt.copy(iv, 0);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    for (let i = 0; i < 6; i++) iv[13 - i] = iv[13 - i]! ^ Number((index >> BigInt(8 * i)) & 0xffn);
    return iv;
  }

  private static crypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
    const c = createCipheriv('aes-128-ctr', key, iv);
    return Buffer.concat([c.update(data), c.final()]);
  }

  private static mac(key: Buffer, a: Buffer, b: Buffer | null): Buffer {
    const h = createHmac('sha1', key);
    h.update(a);
    if (b) h.update(b);
    return h.digest();
  }

  protectRtp(pkt: Buffer): Buffer | SrtpFailure {
    const h = rtpHeaderLength(pkt, pkt.length);
    if (!h) return 'malformed';
    const seq = pkt.readUInt16BE(2);
    const ssrc = pkt.readUInt32BE(8);
    const s = this.stream(ssrc);
    const v = SrtpContext.estimate(s, seq);
    SrtpContext.update(s, seq, v);
    const index = (BigInt(v) << 16n) | BigInt(seq);
    const enc = SrtpContext.crypt(this.rtpKey, this.iv(this.rtpSalt, ssrc, index), pkt.subarray(h));
    const body = Buffer.concat([pkt.subarray(0, h), enc]);
    const roc = Buffer.alloc(4);
    roc.writeUInt32BE(v >>> 0);
    const tag = SrtpContext.mac(this.rtpAuth, body, roc).subarray(0, this.tagLen);
    return Buffer.concat([body, tag]);
  }

  unprotectRtp(pkt: Buffer): Buffer | SrtpFailure {
    if (pkt.length < 12 + this.tagLen) return 'malformed';
    const bodyLen = pkt.length - this.tagLen;
    const h = rtpHeaderLength(pkt, bodyLen);
    if (!h) return 'malformed';
    const seq = pkt.readUInt16BE(2);
    const ssrc = pkt.readUInt32BE(8);
    const known = this.streams.get(ssrc);
    const v = SrtpContext.estimate(known ?? UNSEEN, seq);
    const index = (BigInt(v) << 16n) | BigInt(seq);
    if (known?.rtpWindow.seen(index)) return 'replay';
    const roc = Buffer.alloc(4);
    roc.writeUInt32BE(v >>> 0);
    const body = pkt.subarray(0, bodyLen);
    const tag = SrtpContext.mac(this.rtpAuth, body, roc).subarray(0, this.tagLen);
    if (!timingSafeEqual(tag, pkt.subarray(bodyLen))) return 'auth';
    const dec = SrtpContext.crypt(this.rtpKey, this.iv(this.rtpSalt, ssrc, index), body.subarray(h));
    const s = this.stream(ssrc);
    SrtpContext.update(s, seq, v);
    s.rtpWindow.accept(index);
    return Buffer.concat([body.subarray(0, h), dec]);
  }

  protectRtcp(pkt: Buffer): Buffer | SrtpFailure {
    if (pkt.length < 8 || (pkt[0]! >> 6) !== 2) return 'malformed';
    const ssrc = pkt.readUInt32BE(4);
    const s = this.stream(ssrc);
    const index = s.rtcpSendIndex & 0x7fffffff;
    s.rtcpSendIndex = (index + 1) & 0x7fffffff;
    const enc = SrtpContext.crypt(this.rtcpKey, this.iv(this.rtcpSalt, ssrc, BigInt(index)), pkt.subarray(8));
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32BE((0x80000000 | index) >>> 0);
    const body = Buffer.concat([pkt.subarray(0, 8), enc, trailer]);
    const tag = SrtpContext.mac(this.rtcpAuth, body, null).subarray(0, SRTCP_TAG_LEN);
    return Buffer.concat([body, tag]);
  }

  unprotectRtcp(pkt: Buffer): Buffer | SrtpFailure {
    if (pkt.length < 8 + 4 + SRTCP_TAG_LEN || (pkt[0]! >> 6) !== 2) return 'malformed';
    const tagPos = pkt.length - SRTCP_TAG_LEN;
    const eIndex = pkt.readUInt32BE(tagPos - 4);
    const index = BigInt(eIndex & 0x7fffffff);
    const ssrc = pkt.readUInt32BE(4);
    if (this.streams.get(ssrc)?.rtcpWindow.seen(index)) return 'replay';
    const tag = SrtpContext.mac(this.rtcpAuth, pkt.subarray(0, tagPos), null).subarray(0, SRTCP_TAG_LEN);
    if (!timingSafeEqual(tag, pkt.subarray(tagPos))) return 'auth';
    let payload = pkt.subarray(8, tagPos - 4);
    if (eIndex & 0x80000000) {
      payload = SrtpContext.crypt(this.rtcpKey, this.iv(this.rtcpSalt, ssrc, index), payload);
    }
    this.stream(ssrc).rtcpWindow.accept(index);
    return Buffer.concat([pkt.subarray(0, 8), payload]);
  }
}
