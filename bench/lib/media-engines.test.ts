import { describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_ENGINES, MEDIA_ENGINE_NAMES, mediaComparisonLines, mediaEngineSpec, relayThreadCount, type CeilingFigures } from './media-engines.js';
import { onlySuite } from './rtpengine.js';
import { extendedSteps, refineMidpoint } from './media-ladder.js';

const fig = (engine: CeilingFigures['engine'], maxCleanPps: number | null, failed: boolean, threads?: number): CeilingFigures => ({
  engine, available: true, maxCleanPps, cpuPer10kPpsAtMax: maxCleanPps === null ? null : 20, failed, ...(threads !== undefined ? { threads } : {}),
});

describe('media bench engines', () => {
  it('gives the multi-thread engines one relay thread per core, at least 2, and rtpengine as many', () => {
    expect(relayThreadCount(1)).toBe(2);
    expect(relayThreadCount(2)).toBe(2);
    expect(relayThreadCount(8)).toBe(8);
    expect(mediaEngineSpec('sbc-native', 8)).toEqual({ relay: 'native', threads: 1, srtp: false });
    expect(mediaEngineSpec('sbc-native-mt', 8)).toEqual({ relay: 'native', threads: 8, srtp: false });
    expect(mediaEngineSpec('sbc-native-srtp', 8)).toEqual({ relay: 'native', threads: 1, srtp: true });
    expect(mediaEngineSpec('sbc-native-srtp-mt', 4)).toEqual({ relay: 'native', threads: 4, srtp: true });
    expect(mediaEngineSpec('rtpengine', 8).threads).toBe(mediaEngineSpec('sbc-native-mt', 8).threads);
    expect(mediaEngineSpec('rtpengine-srtp', 8)).toEqual({ relay: 'rtpengine', threads: 8, srtp: true });
    expect(DEFAULT_MEDIA_ENGINES).toEqual(expect.arrayContaining(['sbc-native', 'sbc-native-mt', 'sbc-native-srtp', 'rtpengine-srtp']));
    for (const n of DEFAULT_MEDIA_ENGINES) expect(MEDIA_ENGINE_NAMES).toContain(n);
  });

  it('states the scaling ratio, and marks a ceiling the ladder did not reach', () => {
    const lines = mediaComparisonLines([
      fig('sbc-native', 40_000, true, 1),
      fig('sbc-native-mt', 70_000, true, 2),
      fig('sbc-native-srtp', 20_000, true, 1),
      fig('rtpengine', 30_000, false, 2),
      fig('rtpengine-srtp', null, true, 2),
    ]);
    expect(lines[0]).toBe('native relay scaling: 1 thread 40000 pps, 2 threads 70000 pps (x1.75); CPU per 10k pps 20.0% vs 20.0%');
    expect(lines[1]).toBe('SRTP<->RTP sbc-native-srtp: 20000 pps vs plain sbc-native 40000 pps (x0.50); CPU per 10k pps 20.0% vs 20.0%');
    expect(lines[2]).toBe('SRTP<->RTP rtpengine-srtp: none vs plain rtpengine >= 30000 pps (x-); CPU per 10k pps - vs 20.0%');
    expect(lines.at(-1)).toMatch(/lower bound/);
    expect(mediaComparisonLines([fig('sbc-native', 40_000, false, 1), fig('sbc-native-mt', 40_000, true, 2)])[0]).toContain('(x1.00, not both ceilings found)');
    expect(mediaComparisonLines([fig('sbc-native', 1, true)])).toEqual([]);
  });

  it('keeps only the offered a=crypto lines of the chosen suite', () => {
    const sdp = 'v=0\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:1 AEAD_AES_256_GCM inline:x\r\na=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:y\r\na=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:z\r\na=ptime:20\r\n';
    expect(onlySuite(sdp, 'AES_CM_128_HMAC_SHA1_80')).toBe('v=0\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:y\r\na=ptime:20\r\n');
  });
});

describe('media ladder', () => {
  it('doubles past the listed steps up to the cap, and refines between clean and failing', () => {
    expect(extendedSteps([50, 100, 200, 400], 1600)).toEqual([800, 1600]);
    expect(extendedSteps([50, 100, 200, 400], 799)).toEqual([]);
    expect(extendedSteps([], 1600)).toEqual([]);
    expect(refineMidpoint(400, 800)).toBe(600);
    expect(refineMidpoint(400, 600)).toBe(500);
    expect(refineMidpoint(500, 560)).toBeNull();
    expect(refineMidpoint(20, 50)).toBe(35);
    expect(refineMidpoint(0, 50)).toBeNull();
    expect(refineMidpoint(50, 50)).toBeNull();
  });
});
