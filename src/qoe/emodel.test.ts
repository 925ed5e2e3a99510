import { describe, expect, it } from 'vitest';
import { computeEModel, computeMos, defaultRating, effectiveEquipmentImpairment, mosFromR } from './emodel.js';

const base = { codec: 'PCMU', packetLossPct: 0, jitterMs: 2, rttMs: 20 };

describe('E-model (G.107)', () => {
  it('default parameters give R ≈ 93.2', () => {
    expect(defaultRating()).toBeCloseTo(93.2, 1);
  });

  it('maps R to MOS per G.107', () => {
    expect(mosFromR(-5)).toBe(1);
    expect(mosFromR(0)).toBe(1);
    expect(mosFromR(100)).toBe(4.5);
    expect(mosFromR(93.2)).toBeCloseTo(4.41, 2);
    expect(mosFromR(50)).toBeCloseTo(2.58, 2);
  });

  it('G.711 without loss at low delay is about 4.4', () => {
    const mos = computeMos(base);
    expect(mos).toBeGreaterThanOrEqual(4.3);
    expect(mos).toBeLessThanOrEqual(4.41);
  });

  it('5% loss is much worse', () => {
    expect(computeMos({ ...base, packetLossPct: 5 })).toBeLessThan(4.0);
    expect(computeMos({ ...base, packetLossPct: 20 })).toBeLessThan(3.0);
  });

  it('is monotonic in loss, jitter and RTT', () => {
    let prev = Infinity;
    for (let loss = 0; loss <= 30; loss += 0.5) {
      const m = computeEModel({ ...base, packetLossPct: loss }).mos;
      expect(m).toBeLessThanOrEqual(prev);
      prev = m;
    }
    prev = Infinity;
    for (let rtt = 0; rtt <= 1500; rtt += 25) {
      const m = computeEModel({ ...base, rttMs: rtt }).mos;
      expect(m).toBeLessThanOrEqual(prev + 1e-12);
      prev = m;
    }
    prev = Infinity;
    for (let jitter = 0; jitter <= 200; jitter += 5) {
      const m = computeEModel({ ...base, jitterMs: jitter }).mos;
      expect(m).toBeLessThanOrEqual(prev + 1e-12);
      prev = m;
    }
    expect(computeMos({ ...base, rttMs: 800 })).toBeLessThan(computeMos(base) - 0.5);
  });

  it('rates G.729 below G.711 and is less robust to loss', () => {
    expect(computeMos({ ...base, codec: 'G729' })).toBeLessThan(computeMos(base));
    expect(computeMos({ ...base, codec: 'g729', packetLossPct: 3 })).toBeLessThan(computeMos({ ...base, packetLossPct: 3 }));
  });

  it('Ie,eff grows from Ie toward 95 with loss, faster for bursty loss', () => {
    expect(effectiveEquipmentImpairment(11, 19, 0)).toBe(11);
    expect(effectiveEquipmentImpairment(0, 25.1, 100)).toBeGreaterThan(75);
    expect(effectiveEquipmentImpairment(0, 25.1, 5, 2)).toBeGreaterThan(effectiveEquipmentImpairment(0, 25.1, 5, 1));
  });

  it('tolerates nonsense input', () => {
    for (const p of [
      { ...base, packetLossPct: Number.NaN }, { ...base, packetLossPct: -3 }, { ...base, packetLossPct: 500 },
      { ...base, jitterMs: -1 }, { ...base, rttMs: null }, { ...base, rttMs: Number.POSITIVE_INFINITY }, { ...base, codec: 'nonsense' },
    ]) {
      const m = computeMos(p);
      expect(m).toBeGreaterThanOrEqual(1);
      expect(m).toBeLessThanOrEqual(4.5);
    }
  });
});
