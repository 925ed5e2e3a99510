/**
 * ITU-T G.107 E-model: a transmission rating R computed from impairments,
 * mapped to an estimated MOS (conversational quality, narrowband scale).
 *
 *   R = Ro - Is - Id - Ie,eff + A
 *
 * Ro  basic signal-to-noise ratio (circuit and room noise, loudness ratings),
 * Is  impairments that occur together with the voice (loudness, sidetone,
 *     quantisation),
 * Id  impairments caused by delay (talker echo, listener echo, absolute delay),
 * Ie,eff equipment impairment of the codec, raised by packet loss,
 * A   advantage factor (user expectation; 0 for wired VoIP).
 *
 * All terminal/network parameters other than delay, codec and loss take the
 * G.107 default values (Table 3 of the recommendation); with those defaults
 * and no delay or loss, R is about 93.2, i.e. MOS about 4.41.
 */

/** G.107 default parameter values (dB unless noted). */
const DEFAULTS = {
  SLR: 8, // send loudness rating
  RLR: 2, // receive loudness rating
  STMR: 15, // sidetone masking rating
  LSTR: 18, // listener sidetone rating
  Ds: 3, // D-value of telephone, send side
  Dr: 3, // D-value of telephone, receive side
  TELR: 65, // talker echo loudness rating
  WEPL: 110, // weighted echo path loss
  qdu: 1, // quantising distortion units
  Nc: -70, // circuit noise referred to the 0 dBr point (dBm0p)
  Nfor: -64, // noise floor at the receive side (dBmp)
  Ps: 35, // room noise at the send side (dB(A))
  Pr: 35, // room noise at the receive side (dB(A))
  A: 0, // advantage factor
  mT: 100, // delay (ms) at which Idd starts to grow
  sT: 1, // sensitivity to absolute delay
} as const;

const log10 = Math.log10;

/** Basic signal-to-noise ratio Ro and the noise sum No it is built from. */
function basicRating(): { Ro: number; No: number; OLR: number } {
  const { SLR, RLR, Ds, Nc, Nfor, Ps, Pr, LSTR } = DEFAULTS;
  const OLR = SLR + RLR;
  // Room noise at the send side, as heard at the 0 dBr point.
  const Nos = Ps - SLR - Ds - 100 + 0.004 * (Ps - OLR - Ds - 14) ** 2;
  // Room noise at the receive side, raised by the listener sidetone path.
  const Pre = Pr + 10 * log10(1 + 10 ** ((10 - LSTR) / 10));
  const Nor = RLR - 121 + Pre + 0.008 * (Pre - 35) ** 2;
  // Noise floor at the receive side.
  const Nfo = Nfor + RLR;
  // The four noise sources add as powers.
  const No = 10 * log10(10 ** (Nc / 10) + 10 ** (Nos / 10) + 10 ** (Nor / 10) + 10 ** (Nfo / 10));
  return { Ro: 15 - 1.5 * (SLR + No), No, OLR };
}

/** Simultaneous impairment Is = Iolr + Ist + Iq. */
function simultaneousImpairment(Ro: number, No: number, OLR: number, T: number): { Is: number; Ist: number } {
  const { RLR, STMR, TELR, qdu } = DEFAULTS;
  // Too-low overall loudness.
  const Xolr = OLR + 0.2 * (64 + No - RLR);
  const Iolr = 20 * ((1 + (Xolr / 8) ** 8) ** (1 / 8) - Xolr / 8);
  // Non-optimum sidetone; STMRo combines sidetone with the talker echo heard as sidetone.
  const STMRo = -10 * log10(10 ** (-STMR / 10) + Math.exp(-T / 4) * 10 ** (-TELR / 10));
  const Ist = 12 * (1 + ((STMRo - 13) / 6) ** 8) ** (1 / 8)
    - 28 * (1 + ((STMRo + 1) / 19.4) ** 35) ** (1 / 35)
    - 13 * (1 + ((STMRo - 3) / 33) ** 13) ** (1 / 13)
    + 29;
  // Quantising distortion.
  const Q = 37 - 15 * log10(qdu);
  const G = 1.07 + 0.258 * Q + 0.0602 * Q ** 2;
  const Y = (Ro - 100) / 15 + 46 / 8.4 - G / 9;
  const Z = 46 / 30 - G / 40;
  const Iq = 15 * log10(1 + 10 ** Y + 10 ** Z);
  return { Is: Iolr + Ist + Iq, Ist };
}

/**
 * Delay impairment Id = Idte + Idle + Idd.
 * T  mean one-way delay of the echo path (ms), Tr round-trip delay of the
 * 4-wire loop (ms), Ta absolute one-way delay (ms).
 */
function delayImpairment(Ro: number, No: number, Ist: number, T: number, Tr: number, Ta: number): number {
  const { RLR, STMR, TELR, WEPL, mT, sT } = DEFAULTS;
  // Talker echo: rated against the echo loudness corrected for its delay.
  let TERV = TELR - 40 * log10((1 + T / 10) / (1 + T / 150)) + 6 * Math.exp(-0.3 * T ** 2);
  if (STMR < 9) TERV += Ist / 2; // strong sidetone masks echo
  const Roe = -1.5 * (No - RLR);
  const Re = 80 + 2.5 * (TERV - 14);
  const Idte = ((Roe - Re) / 2 + Math.sqrt((Roe - Re) ** 2 / 4 + 100) - 1) * (1 - Math.exp(-T));
  // Listener echo, from the weighted echo path loss and the loop delay.
  const Rle = 10.5 * (WEPL + 7) * (Tr + 1) ** -0.25;
  const Idle = (Ro - Rle) / 2 + Math.sqrt((Ro - Rle) ** 2 / 4 + 169);
  return Idte + Idle + absoluteDelayImpairment(Ta, mT, sT);
}

/**
 * Idd, the impairment of absolute one-way delay Ta (ms), G.107 §7.3: zero
 * up to mT (100 ms by default), then growing with log2(Ta / mT).
 */
export function absoluteDelayImpairment(Ta: number, mT: number = DEFAULTS.mT, sT: number = DEFAULTS.sT): number {
  if (!(Ta > mT)) return 0;
  const X = log10(Ta / mT) / log10(2);
  const e = 6 * sT;
  return 25 * ((1 + X ** e) ** (1 / e) - 3 * (1 + (X / 3) ** e) ** (1 / e) + 2);
}

/**
 * Effective equipment impairment: the codec's Ie raised by packet loss Ppl
 * (%), weighted by the codec's packet-loss robustness Bpl and the burst
 * ratio (1 = random loss, > 1 = bursty).
 */
export function effectiveEquipmentImpairment(Ie: number, Bpl: number, Ppl: number, burstR = 1): number {
  const p = Math.max(0, Math.min(100, Ppl));
  return Ie + (95 - Ie) * (p / (p / burstR + Bpl));
}

/** G.107 mapping from R to estimated MOS (clamped to 1..4.5). */
export function mosFromR(R: number): number {
  if (!Number.isFinite(R) || R <= 0) return 1;
  if (R >= 100) return 4.5;
  return 1 + 0.035 * R + R * (R - 60) * (100 - R) * 7e-6;
}

export interface CodecImpairment {
  /** Equipment impairment factor Ie. */
  Ie: number;
  /** Packet-loss robustness factor Bpl. */
  Bpl: number;
  /** Algorithmic delay of the coder: frame + look-ahead (ms), added to the mouth-to-ear delay. */
  algorithmicDelayMs: number;
  /** Where the numbers come from. */
  source: 'G.113' | 'assumed';
}

/**
 * Ie/Bpl per ITU-T G.113 Appendix I (narrowband values, random loss, with the
 * codec's packet loss concealment). Wideband coders are rated on the
 * narrowband scale as if transparent (Ie 0): an approximation, since G.107
 * itself has no wideband range; they are marked 'assumed'.
 */
const CODECS: ReadonlyMap<string, CodecImpairment> = new Map([
  ['pcmu', { Ie: 0, Bpl: 25.1, algorithmicDelayMs: 0.125, source: 'G.113' }],
  ['pcma', { Ie: 0, Bpl: 25.1, algorithmicDelayMs: 0.125, source: 'G.113' }],
  ['g729', { Ie: 11, Bpl: 19, algorithmicDelayMs: 15, source: 'G.113' }],
  ['g723', { Ie: 15, Bpl: 16.1, algorithmicDelayMs: 37.5, source: 'G.113' }],
  ['g726', { Ie: 7, Bpl: 10, algorithmicDelayMs: 0.125, source: 'assumed' }],
  ['g728', { Ie: 7, Bpl: 10, algorithmicDelayMs: 0.625, source: 'assumed' }],
  ['gsm', { Ie: 20, Bpl: 10, algorithmicDelayMs: 20, source: 'assumed' }],
  ['ilbc', { Ie: 11, Bpl: 20, algorithmicDelayMs: 25, source: 'assumed' }],
  ['g722', { Ie: 0, Bpl: 25.1, algorithmicDelayMs: 1.5, source: 'assumed' }],
  ['opus', { Ie: 0, Bpl: 30, algorithmicDelayMs: 26.5, source: 'assumed' }],
  ['amr-wb', { Ie: 0, Bpl: 20, algorithmicDelayMs: 25, source: 'assumed' }],
  ['amr', { Ie: 5, Bpl: 20, algorithmicDelayMs: 25, source: 'assumed' }],
]);

const UNKNOWN_CODEC: CodecImpairment = { Ie: 10, Bpl: 15, algorithmicDelayMs: 20, source: 'assumed' };

const ALIASES: ReadonlyMap<string, string> = new Map([
  ['g711u', 'pcmu'], ['g711ulaw', 'pcmu'], ['g711ulaw64k', 'pcmu'], ['g711a', 'pcma'], ['g711alaw', 'pcma'],
  ['g711alaw64k', 'pcma'], ['g729a', 'g729'], ['g729ab', 'g729'], ['g729b', 'g729'], ['g723.1', 'g723'],
  ['g726-32', 'g726'], ['gsm-fr', 'gsm'],
]);

export function codecImpairment(codec: string): CodecImpairment {
  const key = codec.trim().toLowerCase();
  return CODECS.get(ALIASES.get(key) ?? key) ?? UNKNOWN_CODEC;
}

export interface MosParams {
  /** rtpmap name (PCMU, PCMA, G729, G722, opus, ...). */
  codec: string;
  /** Packet loss 0..100 %. */
  packetLossPct: number;
  /** RFC 3550 interarrival jitter (ms). */
  jitterMs: number;
  /** Round-trip time from RTCP (ms); null when unknown (network delay then counts as 0). */
  rttMs: number | null;
  /** Packetisation interval (ms), default 20. */
  ptimeMs?: number;
  /**
   * Jitter buffer delay (ms); by default twice the jitter (what an adaptive
   * buffer typically holds), at least one packet.
   */
  jitterBufferMs?: number;
  /** Burst ratio for Ie,eff (1 = random loss). */
  burstRatio?: number;
  /** Advantage factor A (0 wired, up to 10 mobile). */
  advantage?: number;
}

export interface EModelResult {
  R: number;
  mos: number;
  /** Mouth-to-ear one-way delay used (ms). */
  oneWayDelayMs: number;
  Id: number;
  IeEff: number;
}

/** Runs the E-model for one direction of a call. */
export function computeEModel(params: MosParams): EModelResult {
  const codec = codecImpairment(params.codec);
  const ptime = params.ptimeMs !== undefined && params.ptimeMs > 0 ? params.ptimeMs : 20;
  const jitter = Number.isFinite(params.jitterMs) && params.jitterMs > 0 ? params.jitterMs : 0;
  const rtt = params.rttMs !== null && Number.isFinite(params.rttMs) && params.rttMs > 0 ? params.rttMs : 0;
  const jb = params.jitterBufferMs !== undefined && params.jitterBufferMs >= 0 ? params.jitterBufferMs : Math.max(2 * jitter, ptime);
  const loss = Number.isFinite(params.packetLossPct) ? params.packetLossPct : 0;

  // Mouth-to-ear: half the RTT on the wire, plus packetisation, coder and
  // jitter buffer delays at the ends. Echo paths are taken as the same
  // one-way delay (T = Ta) and a loop of twice that (Tr = 2T), the usual
  // simplification for VoIP where terminals cancel echo.
  const Ta = rtt / 2 + ptime + codec.algorithmicDelayMs + jb;
  const T = Ta;
  const Tr = 2 * Ta;

  const { Ro, No, OLR } = basicRating();
  const { Is, Ist } = simultaneousImpairment(Ro, No, OLR, T);
  const Id = delayImpairment(Ro, No, Ist, T, Tr, Ta);
  const IeEff = effectiveEquipmentImpairment(codec.Ie, codec.Bpl, loss, params.burstRatio ?? 1);
  const R = Ro - Is - Id - IeEff + (params.advantage ?? DEFAULTS.A);
  return { R, mos: mosFromR(R), oneWayDelayMs: Ta, Id, IeEff };
}

/** Estimated MOS (1..4.5) for one direction of a call, rounded to two decimals. */
export function computeMos(params: MosParams): number {
  return Math.round(computeEModel(params).mos * 100) / 100;
}

/**
 * Listening quality (RFC 3611 §4.7.5 R-LQ / MOS-LQ, as RFC 6035 QualityEst
 * carries them): the E-model without the delay impairment Id, so only the
 * codec and packet loss count.
 */
export function computeListeningQuality(p: { codec: string; packetLossPct: number; burstRatio?: number }): { R: number; mos: number } {
  const codec = codecImpairment(p.codec);
  const loss = Number.isFinite(p.packetLossPct) ? p.packetLossPct : 0;
  const { Ro, No, OLR } = basicRating();
  const { Is } = simultaneousImpairment(Ro, No, OLR, 0);
  const R = Ro - Is - effectiveEquipmentImpairment(codec.Ie, codec.Bpl, loss, p.burstRatio ?? 1) + DEFAULTS.A;
  return { R, mos: Math.round(mosFromR(R) * 100) / 100 };
}

/** R with every parameter at its G.107 default and no delay, loss or codec impairment (≈ 93.2). */
export function defaultRating(): number {
  const { Ro, No, OLR } = basicRating();
  const { Is, Ist } = simultaneousImpairment(Ro, No, OLR, 0);
  return Ro - Is - delayImpairment(Ro, No, Ist, 0, 0, 0);
}
