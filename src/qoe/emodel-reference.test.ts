/**
 * E-model checks against published reference points:
 *  - G.107 (06/2015) Annex B: R 90 / 80 / 70 / 60 / 50 <-> MOS-CQE 4.34 / 4.03 / 3.60 / 3.10 / 2.58
 *    (the boundaries of the user-satisfaction classes);
 *  - G.107 default parameters: R = 93.2, MOS 4.41;
 *  - G.113 Appendix I equipment impairment values: G.711 with PLC Ie 0 / Bpl 25.1, G.729A with VAD Ie 11 / Bpl 19,
 *    G.723.1 (6.3 kbit/s) Ie 15 / Bpl 16.1; Ie,eff per G.107 eq. 7-29;
 *  - G.107 §7.3 Idd: 0 up to mT = 100 ms one-way; at 200 ms and 400 ms (X = 1 and 2) about 3.0 and 24.1.
 */
import { describe, expect, it } from 'vitest';
import { absoluteDelayImpairment, codecImpairment, computeEModel, computeMos, defaultRating, effectiveEquipmentImpairment, mosFromR } from './emodel.js';

describe('E-model reference points', () => {
  it('maps R to MOS at the G.107 Annex B class boundaries', () => {
    const points: Array<[number, number]> = [[90, 4.34], [80, 4.03], [70, 3.6], [60, 3.1], [50, 2.58]];
    // The table rounds to two decimals; the formula gives 4.024 at R = 80.
    for (const [R, mos] of points) expect(Math.abs(mosFromR(R) - mos)).toBeLessThanOrEqual(0.01);
  });

  it('default parameters: R 93.2, MOS 4.41; G.711 without loss at low delay is about 4.4', () => {
    expect(defaultRating()).toBeCloseTo(93.2, 1);
    expect(mosFromR(defaultRating())).toBeCloseTo(4.41, 2);
    const g711 = computeMos({ codec: 'PCMA', packetLossPct: 0, jitterMs: 0, rttMs: 0 });
    expect(g711).toBeGreaterThanOrEqual(4.35);
    expect(g711).toBeLessThanOrEqual(4.41);
  });

  it('uses the G.113 Ie/Bpl values', () => {
    expect(codecImpairment('PCMU')).toMatchObject({ Ie: 0, Bpl: 25.1 });
    expect(codecImpairment('G729')).toMatchObject({ Ie: 11, Bpl: 19 });
    expect(codecImpairment('G723')).toMatchObject({ Ie: 15, Bpl: 16.1 });
    // G.722 and Opus are rated on the narrowband scale (see docs/qoe.md), present and no worse than G.729.
    expect(codecImpairment('G722').Ie).toBeLessThanOrEqual(11);
    expect(codecImpairment('opus').Ie).toBeLessThanOrEqual(11);
  });

  it('Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) (G.107 eq. 7-29)', () => {
    expect(effectiveEquipmentImpairment(0, 25.1, 1)).toBeCloseTo(95 / 26.1, 6);
    expect(effectiveEquipmentImpairment(0, 25.1, 2)).toBeCloseTo(190 / 27.1, 6);
    expect(effectiveEquipmentImpairment(11, 19, 2)).toBeCloseTo(11 + 84 * 2 / 21, 6);
    expect(effectiveEquipmentImpairment(0, 25.1, 2, 2)).toBeCloseTo(190 / 26.1, 6);
  });

  it('loss lowers R by exactly Ie,eff (delay held equal): G.711 at 1/2/5 % random loss', () => {
    const at = (loss: number, codec = 'PCMU') => computeEModel({ codec, packetLossPct: loss, jitterMs: 0, rttMs: 0 });
    const r0 = at(0).R;
    for (const loss of [1, 2, 5]) expect(r0 - at(loss).R).toBeCloseTo(effectiveEquipmentImpairment(0, 25.1, loss), 6);
    // MOS at these points (derived from the formulas above).
    expect(at(1).mos).toBeGreaterThan(4.2);
    expect(at(2).mos).toBeGreaterThan(4.1);
    expect(at(5).mos).toBeLessThan(3.95);
    expect(at(5).mos).toBeGreaterThan(3.6);
  });

  it('G.729 rates lower than G.711 at every loss, by about Ie at none', () => {
    for (const loss of [0, 1, 3, 5, 10]) {
      const a = computeEModel({ codec: 'PCMU', packetLossPct: loss, jitterMs: 0, rttMs: 0 });
      const b = computeEModel({ codec: 'G729', packetLossPct: loss, jitterMs: 0, rttMs: 0 });
      expect(b.mos).toBeLessThan(a.mos);
    }
    const g711 = computeEModel({ codec: 'PCMU', packetLossPct: 0, jitterMs: 0, rttMs: 0 });
    const g729 = computeEModel({ codec: 'G729', packetLossPct: 0, jitterMs: 0, rttMs: 0 });
    // The G.729 frame adds delay too, so R drops by Ie plus a little.
    expect(g711.R - g729.R).toBeGreaterThanOrEqual(11);
    expect(g711.R - g729.R).toBeLessThan(13);
  });

  it('Idd: nothing up to 100 ms one-way, then G.107 §7.3 values', () => {
    expect(absoluteDelayImpairment(50)).toBe(0);
    expect(absoluteDelayImpairment(100)).toBe(0);
    expect(absoluteDelayImpairment(200)).toBeCloseTo(3.04, 2);
    expect(absoluteDelayImpairment(400)).toBeCloseTo(24.08, 1);
    // A 600 ms round trip (300 ms one way on the wire) costs well over half a MOS point.
    const near = computeMos({ codec: 'PCMU', packetLossPct: 0, jitterMs: 0, rttMs: 20 });
    const far = computeMos({ codec: 'PCMU', packetLossPct: 0, jitterMs: 0, rttMs: 600 });
    expect(near - far).toBeGreaterThan(0.3);
  });
});
