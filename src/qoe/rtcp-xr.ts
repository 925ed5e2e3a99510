/**
 * RTCP Extended Reports (RFC 3611): finds XR packets (PT 207) in a compound
 * RTCP packet and decodes VoIP Metrics report blocks (BT 7, §4.7). Every
 * length is checked against the buffer; a malformed packet yields no block
 * rather than an exception, since this reads what remote parties send.
 */

export const RTCP_XR_PT = 207;
export const XR_VOIP_METRICS_BT = 7;

export interface VoipMetrics {
  /** SSRC of the stream the metrics describe. */
  ssrc: number;
  /** Fractions 0..1 (wire: x/256). */
  lossRate: number;
  discardRate: number;
  burstDensity: number;
  gapDensity: number;
  /** ms. */
  burstDurationMs: number;
  gapDurationMs: number;
  roundTripDelayMs: number;
  endSystemDelayMs: number;
  /** dBm / dB; null where the sender put 127 (unavailable). */
  signalLevelDbm: number | null;
  noiseLevelDbm: number | null;
  rerlDb: number | null;
  gmin: number;
  /** 0..100; null = 127 (unavailable). */
  rFactor: number | null;
  extRFactor: number | null;
  /** 1.0..4.9 (wire: x10); null = 127. */
  mosLq: number | null;
  mosCq: number | null;
  /** RX config byte: PLC (2 bits), JBA (2 bits), JB rate (4 bits). */
  plc: 'unspecified' | 'disabled' | 'enhanced' | 'standard';
  jitterBufferAdaptive: 'unknown' | 'reserved' | 'non-adaptive' | 'adaptive';
  jitterBufferRate: number;
  jitterBufferNominalMs: number;
  jitterBufferMaxMs: number;
  jitterBufferAbsMaxMs: number;
}

export interface XrReport {
  /** SSRC of the XR packet's sender. */
  senderSsrc: number;
  voipMetrics: VoipMetrics[];
}

const PLC = ['unspecified', 'disabled', 'enhanced', 'standard'] as const;
const JBA = ['unknown', 'reserved', 'non-adaptive', 'adaptive'] as const;

const opt127 = (v: number): number | null => (v === 127 ? null : v);
const signed8 = (v: number): number => (v > 127 ? v - 256 : v);

function voipMetrics(b: Buffer, o: number): VoipMetrics {
  const rx = b[o + 28]!;
  const sig = b[o + 20]!;
  const noise = b[o + 21]!;
  const mosLq = b[o + 26]!;
  const mosCq = b[o + 27]!;
  return {
    ssrc: b.readUInt32BE(o + 4),
    lossRate: b[o + 8]! / 256,
    discardRate: b[o + 9]! / 256,
    burstDensity: b[o + 10]! / 256,
    gapDensity: b[o + 11]! / 256,
    burstDurationMs: b.readUInt16BE(o + 12),
    gapDurationMs: b.readUInt16BE(o + 14),
    roundTripDelayMs: b.readUInt16BE(o + 16),
    endSystemDelayMs: b.readUInt16BE(o + 18),
    signalLevelDbm: sig === 127 ? null : signed8(sig),
    noiseLevelDbm: noise === 127 ? null : signed8(noise),
    rerlDb: opt127(b[o + 22]!),
    gmin: b[o + 23]!,
    rFactor: opt127(b[o + 24]!),
    extRFactor: opt127(b[o + 25]!),
    mosLq: mosLq === 127 ? null : mosLq / 10,
    mosCq: mosCq === 127 ? null : mosCq / 10,
    plc: PLC[rx >> 6]!,
    jitterBufferAdaptive: JBA[(rx >> 4) & 3]!,
    jitterBufferRate: rx & 15,
    jitterBufferNominalMs: b.readUInt16BE(o + 30),
    jitterBufferMaxMs: b.readUInt16BE(o + 32),
    jitterBufferAbsMaxMs: b.readUInt16BE(o + 34),
  };
}

/** XR reports (with their VoIP Metrics blocks) of a compound RTCP packet; [] when none or malformed. */
export function parseRtcpXr(buf: Buffer): XrReport[] {
  const out: XrReport[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const v = buf[off]! >> 6;
    if (v !== 2) break;
    const pt = buf[off + 1]!;
    const len = (buf.readUInt16BE(off + 2) + 1) * 4;
    if (off + len > buf.length) break;
    if (pt === RTCP_XR_PT && len >= 8) {
      const end = off + len;
      const report: XrReport = { senderSsrc: buf.readUInt32BE(off + 4), voipMetrics: [] };
      let b = off + 8;
      while (b + 4 <= end) {
        const bt = buf[b]!;
        const blen = (buf.readUInt16BE(b + 2) + 1) * 4;
        if (b + blen > end) break;
        // §4.7: block length 8, i.e. 36 bytes; anything shorter cannot be read.
        if (bt === XR_VOIP_METRICS_BT && blen >= 36) report.voipMetrics.push(voipMetrics(buf, b));
        b += blen;
      }
      out.push(report);
    }
    off += len;
  }
  return out;
}

/** Encodes an XR packet with one VoIP Metrics block (tests, and an SBC that reports its own view). */
export function buildRtcpXrVoipMetrics(senderSsrc: number, m: VoipMetrics): Buffer {
  const b = Buffer.alloc(8 + 36);
  b[0] = 0x80;
  b[1] = RTCP_XR_PT;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(senderSsrc >>> 0, 4);
  const o = 8;
  b[o] = XR_VOIP_METRICS_BT;
  b.writeUInt16BE(8, o + 2);
  b.writeUInt32BE(m.ssrc >>> 0, o + 4);
  const frac = (x: number): number => Math.max(0, Math.min(255, Math.round(x * 256)));
  b[o + 8] = frac(m.lossRate);
  b[o + 9] = frac(m.discardRate);
  b[o + 10] = frac(m.burstDensity);
  b[o + 11] = frac(m.gapDensity);
  b.writeUInt16BE(m.burstDurationMs & 0xffff, o + 12);
  b.writeUInt16BE(m.gapDurationMs & 0xffff, o + 14);
  b.writeUInt16BE(m.roundTripDelayMs & 0xffff, o + 16);
  b.writeUInt16BE(m.endSystemDelayMs & 0xffff, o + 18);
  b[o + 20] = m.signalLevelDbm === null ? 127 : m.signalLevelDbm & 0xff;
  b[o + 21] = m.noiseLevelDbm === null ? 127 : m.noiseLevelDbm & 0xff;
  b[o + 22] = m.rerlDb ?? 127;
  b[o + 23] = m.gmin;
  b[o + 24] = m.rFactor ?? 127;
  b[o + 25] = m.extRFactor ?? 127;
  b[o + 26] = m.mosLq === null ? 127 : Math.round(m.mosLq * 10);
  b[o + 27] = m.mosCq === null ? 127 : Math.round(m.mosCq * 10);
  b[o + 28] = (PLC.indexOf(m.plc) << 6) | (JBA.indexOf(m.jitterBufferAdaptive) << 4) | (m.jitterBufferRate & 15);
  b.writeUInt16BE(m.jitterBufferNominalMs & 0xffff, o + 30);
  b.writeUInt16BE(m.jitterBufferMaxMs & 0xffff, o + 32);
  b.writeUInt16BE(m.jitterBufferAbsMaxMs & 0xffff, o + 34);
  return b;
}
