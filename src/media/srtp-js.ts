/**
 * SRTP/SRTCP (RFC 3711) in JavaScript on node:crypto, for the suites we
 * offer over SDES (RFC 4568): AES_CM_128_HMAC_SHA1_80 and _32. Used by the
 * JavaScript relay and, as an independent implementation, by the tests of
 * the native one (both must agree byte for byte).
 */
import { createCipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SrtpKeying, SrtpSuite } from './relay-types.js';

/**
 * Why a packet was not (un)protected. 'replay' on protect: that (SSRC,
 * index) was already encrypted under this key, or is older than the window
 * (RFC 3711 9.2). 'ssrc-limit': a new SSRC while MAX_STREAMS are held.
 */
export type SrtpFailure = 'auth' | 'replay' | 'malformed' | 'ssrc-limit';

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

export interface StreamState {
  ssrc: number;
  seqStarted: boolean;
  roc: number;
  sl: number;
  rtpWindow: ReplayWindow;
  rtcpWindow: ReplayWindow;
  rtcpSendIndex: number;
}

/**
 * SSRCs with state per direction and key, as in the native relay (a call has
 * one or two). State is never evicted: forgetting an outbound SSRC would
 * restart it at ROC 0 / SRTCP index 0 and encrypt the same (SSRC, index)
 * twice under one key, a two-time pad (RFC 3711 9.2). Beyond the limit,
 * packets of new SSRCs are dropped ('ssrc-limit').
 */
export const MAX_STREAMS = 32;

/** Per-SSRC state of one direction; outbound contexts of one key share it (see JsRelayEngine). */
export type SrtpStreamTable = Map<number, StreamState>;

export function newSrtpStreamTable(): SrtpStreamTable {
  return new Map();
}

function newStreamState(ssrc = 0): StreamState {
  return { ssrc, seqStarted: false, roc: 0, sl: 0, rtpWindow: new ReplayWindow(), rtcpWindow: new ReplayWindow(), rtcpSendIndex: 0 };
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
  private readonly streams: SrtpStreamTable;

  /** `table`: per-SSRC state to continue (outbound, same key); a fresh one when absent. */
  constructor(keying: SrtpKeying, table: SrtpStreamTable = newSrtpStreamTable()) {
    this.streams = table;
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
   * The state of `ssrc`, created if needed; null when MAX_STREAMS are held.
   * Inbound, only called once a packet has authenticated, so forged SSRCs
   * cannot take slots.
   */
  private stream(ssrc: number): StreamState | null {
    const s = this.streams.get(ssrc);
    if (s) return s;
    if (this.streams.size >= MAX_STREAMS) return null;
    const fresh = newStreamState(ssrc);
    this.streams.set(ssrc, fresh);
    return fresh;
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
    if (!s) return 'ssrc-limit';
    const v = SrtpContext.estimate(s, seq);
    const index = (BigInt(v) << 16n) | BigInt(seq);
    // RFC 3711 9.2: an index is encrypted at most once under a key. A repeated
    // or stale sequence number from the plain side (duplicate, sender restart,
    // injected packet) is dropped; so is a ROC that would wrap past 2^32.
    if (s.rtpWindow.seen(index) || (s.seqStarted && s.roc === 0xffffffff && v === 0)) return 'replay';
    SrtpContext.update(s, seq, v);
    s.rtpWindow.accept(index);
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
    const s = known ?? this.stream(ssrc);
    if (!s) return 'ssrc-limit';
    const dec = SrtpContext.crypt(this.rtpKey, this.iv(this.rtpSalt, ssrc, index), body.subarray(h));
    SrtpContext.update(s, seq, v);
    s.rtpWindow.accept(index);
    return Buffer.concat([body.subarray(0, h), dec]);
  }

  protectRtcp(pkt: Buffer): Buffer | SrtpFailure {
    if (pkt.length < 8 || (pkt[0]! >> 6) !== 2) return 'malformed';
    const ssrc = pkt.readUInt32BE(4);
    const s = this.stream(ssrc);
    if (!s) return 'ssrc-limit';
    // The 31-bit SRTCP index never wraps under one key (RFC 3711 9.2).
    if (s.rtcpSendIndex > 0x7fffffff) return 'replay';
    const index = s.rtcpSendIndex++;
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
    const known = this.streams.get(ssrc);
    if (known?.rtcpWindow.seen(index)) return 'replay';
    const tag = SrtpContext.mac(this.rtcpAuth, pkt.subarray(0, tagPos), null).subarray(0, SRTCP_TAG_LEN);
    if (!timingSafeEqual(tag, pkt.subarray(tagPos))) return 'auth';
    const s = known ?? this.stream(ssrc);
    if (!s) return 'ssrc-limit';
    let payload = pkt.subarray(8, tagPos - 4);
    if (eIndex & 0x80000000) {
      payload = SrtpContext.crypt(this.rtcpKey, this.iv(this.rtcpSalt, ssrc, index), payload);
    }
    s.rtcpWindow.accept(index);
    return Buffer.concat([pkt.subarray(0, 8), payload]);
  }
}

/**
 * Outbound SRTP state by master key, for one relay engine: a key that comes
 * back (relay rebuilt for an rtcp-mux change, SRTP switched off and on, a
 * suite toggled back) continues its ROC / SRTCP index instead of restarting
 * at 0 (RFC 3711 9.2). Tables no live context uses are kept, least recently
 * used first out, up to REMEMBERED_KEYS. Indexed by a digest so no raw key
 * outlives its session here. Same rules as the native engine.
 */
export class SrtpSendTables {
  static readonly REMEMBERED_KEYS = 4096;
  /** Map order is the recency order (oldest first). */
  private readonly tables = new Map<string, { table: SrtpStreamTable; users: number }>();

  /** The table for this key; call release() with the same key when the context goes away. */
  acquire(keySalt: Buffer): SrtpStreamTable {
    const k = createHash('sha256').update(keySalt).digest('base64');
    let e = this.tables.get(k);
    if (e) this.tables.delete(k);
    else {
      this.forgetUnused();
      e = { table: newSrtpStreamTable(), users: 0 };
    }
    e.users++;
    this.tables.set(k, e);
    return e.table;
  }

  release(keySalt: Buffer): void {
    const e = this.tables.get(createHash('sha256').update(keySalt).digest('base64'));
    if (e && e.users > 0) e.users--;
  }

  get size(): number {
    return this.tables.size;
  }

  private forgetUnused(): void {
    let tries = 0;
    for (const [k, e] of this.tables) {
      if (this.tables.size < SrtpSendTables.REMEMBERED_KEYS || tries++ >= 8) return;
      if (e.users === 0) this.tables.delete(k);
    }
  }
}
