/**
 * The media bench's engines by name (the names are ours, see docs/bench.md):
 * which relay carries the streams, on how many relay threads, and whether
 * each stream crosses the SRTP<->RTP chain (encrypted once, decrypted once).
 */
import { availableParallelism } from 'node:os';

export const MEDIA_ENGINE_NAMES = [
  'direct',
  'rtpengine',
  'rtpengine-srtp',
  'sbc-native',
  'sbc-native-mt',
  'sbc-native-srtp',
  'sbc-native-srtp-mt',
  'sbc-js',
] as const;

export type MediaEngineName = (typeof MEDIA_ENGINE_NAMES)[number];

export interface MediaEngineSpec {
  relay: 'direct' | 'rtpengine' | 'native' | 'js';
  /**
   * Relay threads: native engines in the relay child (each NativeRelayEngine
   * owns one thread), rtpengine's --num-threads; 0 for direct, 1 for the JS
   * relay (the child's event loop).
   */
  threads: number;
  /** Every stream goes RTP -> SRTP -> RTP through two chained relay sessions. */
  srtp: boolean;
}

/**
 * Relay threads of the multi-thread engines: one per core, at least 2 so the
 * threading is exercised even on one core. rtpengine gets the same number so
 * the comparison is fair.
 */
export function relayThreadCount(cores: number = availableParallelism()): number {
  return Math.max(2, Math.floor(cores));
}

export function mediaEngineSpec(name: MediaEngineName, cores?: number): MediaEngineSpec {
  const k = relayThreadCount(cores);
  switch (name) {
    case 'direct': return { relay: 'direct', threads: 0, srtp: false };
    case 'rtpengine': return { relay: 'rtpengine', threads: k, srtp: false };
    case 'rtpengine-srtp': return { relay: 'rtpengine', threads: k, srtp: true };
    case 'sbc-native': return { relay: 'native', threads: 1, srtp: false };
    case 'sbc-native-mt': return { relay: 'native', threads: k, srtp: false };
    case 'sbc-native-srtp': return { relay: 'native', threads: 1, srtp: true };
    case 'sbc-native-srtp-mt': return { relay: 'native', threads: k, srtp: true };
    case 'sbc-js': return { relay: 'js', threads: 1, srtp: false };
  }
}

/** The engines `npm run bench` runs by default (full and --quick). */
export const DEFAULT_MEDIA_ENGINES: MediaEngineName[] = [...MEDIA_ENGINE_NAMES];

/** What the report needs of an engine's result to compare ceilings. */
export interface CeilingFigures {
  engine: MediaEngineName;
  available: boolean;
  threads?: number;
  maxCleanPps: number | null;
  cpuPer10kPpsAtMax: number | null;
  /** True when a step missed the criterion (the ceiling was found, not bounded by the ladder). */
  failed: boolean;
}

/** ">= " marks a ceiling the ladder did not reach (no step failed): a lower bound. */
const pps = (f: CeilingFigures): string => (f.maxCleanPps === null ? 'none' : `${f.failed ? '' : '>= '}${f.maxCleanPps} pps`);
const cpu = (v: number | null): string => (v === null ? '-' : `${v.toFixed(1)}%`);
const ratio = (a: CeilingFigures, b: CeilingFigures): string => {
  if (a.maxCleanPps === null || b.maxCleanPps === null || b.maxCleanPps <= 0) return 'x-';
  // Only a ratio of two found ceilings is a measurement; otherwise say it is not.
  const bounded = !a.failed || !b.failed ? ', not both ceilings found' : '';
  return `x${(a.maxCleanPps / b.maxCleanPps).toFixed(2)}${bounded}`;
};

/**
 * The comparison lines under the media table: native relay scaling (1 thread
 * vs K threads) and the SRTP<->RTP ceiling against plain RTP, per relay.
 */
export function mediaComparisonLines(results: readonly CeilingFigures[]): string[] {
  const get = (n: MediaEngineName): CeilingFigures | undefined => results.find((r) => r.engine === n && r.available);
  const out: string[] = [];
  const one = get('sbc-native');
  const mt = get('sbc-native-mt');
  if (one && mt) {
    out.push(
      `native relay scaling: 1 thread ${pps(one)}, ${mt.threads ?? '?'} threads ${pps(mt)} ` +
        `(${ratio(mt, one)}); CPU per 10k pps ${cpu(one.cpuPer10kPpsAtMax)} vs ${cpu(mt.cpuPer10kPpsAtMax)}`,
    );
  }
  const pairs: Array<[MediaEngineName, MediaEngineName]> = [
    ['sbc-native', 'sbc-native-srtp'],
    ['sbc-native-mt', 'sbc-native-srtp-mt'],
    ['rtpengine', 'rtpengine-srtp'],
  ];
  for (const [plainName, srtpName] of pairs) {
    const plain = get(plainName);
    const srtp = get(srtpName);
    if (!plain || !srtp) continue;
    out.push(
      `SRTP<->RTP ${srtpName}: ${pps(srtp)} vs plain ${plainName} ${pps(plain)} ` +
        `(${ratio(srtp, plain)}); CPU per 10k pps ${cpu(srtp.cpuPer10kPpsAtMax)} vs ${cpu(plain.cpuPer10kPpsAtMax)}`,
    );
  }
  if (out.length > 0) out.push('">= N pps": the ladder ended before the engine failed a step, so N is a lower bound of its ceiling.');
  return out;
}
