/**
 * QoE profiles (Mediant QOEProfile + QOEColorRules): per monitored value
 * (MOS, delay, packet loss, jitter) and direction (what the SBC measured,
 * what the far end reported), a green/yellow boundary (Minor threshold) and
 * a yellow/red boundary (Major threshold), each with a hysteresis: a value
 * gets worse as soon as it crosses a boundary, and better only once it is
 * back beyond the boundary by the hysteresis (so a value sitting on a
 * boundary does not flap). The verdict of a stream or call is the worst
 * color of its monitored values; gray when nothing could be measured.
 */
import type { CdrMediaStream, QoeColor } from '../cdr/model.js';
import type { QoeColorRuleRow, QoeMonitoredParam, QoeProfileRow } from '../config/schema.js';

export interface ColorRule {
  param: QoeMonitoredParam;
  direction: 'device-side' | 'remote-side';
  /** In natural units: MOS (e.g. 3.5), ms, or %. */
  minor: number;
  minorHysteresis: number;
  major: number;
  majorHysteresis: number;
}

export interface QoeProfile {
  name: string;
  rules: readonly ColorRule[];
}

type Sensitivity = 'low' | 'medium' | 'high';
type Preset = readonly [minor: number, minorHyst: number, major: number, majorHyst: number];

/**
 * Presets for Profile = low/medium/high. Mediant does not publish its preset
 * values; these are ours: MOS 3.5/3.0 (medium) brackets G.107's "some users
 * dissatisfied" band, delay follows G.114's 150 ms one-way (300 ms round
 * trip), loss and jitter what G.711 with PLC tolerates.
 */
const PRESETS: Readonly<Record<QoeMonitoredParam, Readonly<Record<Sensitivity, Preset>>>> = {
  mos: { low: [3.2, 0.1, 2.7, 0.1], medium: [3.5, 0.1, 3.0, 0.1], high: [3.8, 0.1, 3.3, 0.1] },
  delay: { low: [400, 20, 600, 20], medium: [300, 20, 450, 20], high: [200, 10, 300, 10] },
  'packet-loss': { low: [3, 0.5, 7, 1], medium: [2, 0.5, 5, 1], high: [1, 0.2, 3, 0.5] },
  jitter: { low: [50, 5, 100, 10], medium: [30, 5, 60, 10], high: [20, 3, 40, 5] },
  rerl: { low: [0, 0, 0, 0], medium: [0, 0, 0, 0], high: [0, 0, 0, 0] },
};

/** Lower is worse for MOS; higher is worse for the rest. */
const lowerIsWorse = (p: QoeMonitoredParam): boolean => p === 'mos' || p === 'rerl';

/** Converts a QOEColorRules row to natural units (MOS thresholds are MOS x10 in the table). */
export function ruleFromRow(row: QoeColorRuleRow): ColorRule | null {
  if (row.monitoredParam === 'rerl') return null; // not measured (no echo canceller in the path)
  const preset = row.sensitivityLevel === 'user-defined' ? null : PRESETS[row.monitoredParam][row.sensitivityLevel];
  const scale = row.monitoredParam === 'mos' ? 10 : 1;
  const pick = (v: number, i: 0 | 1 | 2 | 3): number => (v >= 0 ? v / scale : preset !== null ? preset[i] : 0);
  return {
    param: row.monitoredParam, direction: row.direction,
    minor: pick(row.minorThreshold, 0), minorHysteresis: pick(row.minorHysteresis, 1),
    major: pick(row.majorThreshold, 2), majorHysteresis: pick(row.majorHysteresis, 3),
  };
}

/** Profiles by lower-cased name, with their rules in ColorRuleIndex order. */
export function compileQoeProfiles(profiles: readonly QoeProfileRow[], rules: readonly QoeColorRuleRow[]): Map<string, QoeProfile> {
  const out = new Map<string, QoeProfile>();
  for (const p of profiles) {
    const mine = rules
      .filter((r) => r.qoeProfile.toLowerCase() === p.name.toLowerCase() || r.qoeProfile === String(p.index))
      .sort((a, b) => a.colorRuleIndex - b.colorRuleIndex)
      .map(ruleFromRow)
      .filter((r): r is ColorRule => r !== null);
    out.set(p.name.toLowerCase(), { name: p.name, rules: mine });
  }
  return out;
}

/** A medium-sensitivity profile over MOS, delay, loss and jitter, measured by the SBC: used when an IP Group names none. */
export function defaultQoeProfile(): QoeProfile {
  const rules = (['mos', 'delay', 'packet-loss', 'jitter'] as const).map((param): ColorRule => {
    const [minor, minorHysteresis, major, majorHysteresis] = PRESETS[param].medium;
    return { param, direction: 'device-side', minor, minorHysteresis, major, majorHysteresis };
  });
  return { name: 'default', rules };
}

const RANK: Readonly<Record<QoeColor, number>> = { gray: 0, green: 1, yellow: 2, red: 3 };

export function worst(colors: Iterable<QoeColor>): QoeColor {
  let w: QoeColor = 'gray';
  for (const c of colors) if (RANK[c] > RANK[w]) w = c;
  return w;
}

/** Next color of one value given the previous one (hysteresis applies only when getting better). */
export function nextColor(rule: ColorRule, prev: QoeColor, value: number | null): QoeColor {
  if (value === null || !Number.isFinite(value)) return prev === 'gray' ? 'gray' : prev;
  const worse = lowerIsWorse(rule.param);
  // Distance past a boundary on the bad side (>= 0 means crossed).
  const past = (boundary: number): number => (worse ? boundary - value : value - boundary);
  if (past(rule.major) >= 0) return 'red';
  if (past(rule.minor) >= 0) {
    // Between the boundaries: red stays red until it is back by the major hysteresis.
    if (prev === 'red' && past(rule.major) > -rule.majorHysteresis) return 'red';
    return 'yellow';
  }
  if (prev === 'red' && past(rule.major) > -rule.majorHysteresis) return 'red';
  if ((prev === 'yellow' || prev === 'red') && past(rule.minor) > -rule.minorHysteresis) return 'yellow';
  return 'green';
}

/** Values of one stream a profile looks at, per direction. */
export interface StreamQuality {
  deviceSide: { mos: number | null; delayMs: number | null; lossPct: number | null; jitterMs: number | null };
  remoteSide: { mos: number | null; delayMs: number | null; lossPct: number | null; jitterMs: number | null };
}

function valueOf(q: StreamQuality, rule: ColorRule): number | null {
  const side = rule.direction === 'device-side' ? q.deviceSide : q.remoteSide;
  switch (rule.param) {
    case 'mos': return side.mos;
    case 'delay': return side.delayMs;
    case 'packet-loss': return side.lossPct;
    case 'jitter': return side.jitterMs;
    default: return null;
  }
}

const minOf = (...v: Array<number | null>): number | null => {
  const n = v.filter((x): x is number => x !== null && Number.isFinite(x));
  return n.length === 0 ? null : Math.min(...n);
};
const maxOf = (...v: Array<number | null>): number | null => {
  const n = v.filter((x): x is number => x !== null && Number.isFinite(x));
  return n.length === 0 ? null : Math.max(...n);
};

/**
 * The worst of both legs per direction: device side = what we measured on
 * what we received (rx), remote side = what the peers reported about what
 * we sent (tx).
 */
export function streamQuality(s: CdrMediaStream): StreamQuality {
  const side = (d: 'rx' | 'tx'): StreamQuality['deviceSide'] => ({
    mos: minOf(s.A[d].mos, s.B[d].mos),
    delayMs: maxOf(s.A[d].rttMs, s.B[d].rttMs),
    lossPct: maxOf(s.A[d].lossPct, s.B[d].lossPct),
    jitterMs: maxOf(s.A[d].jitterMs, s.B[d].jitterMs),
  });
  return { deviceSide: side('rx'), remoteSide: side('tx') };
}

/** Stateful verdict of one stream: feed it periodic values; hysteresis keeps colors from flapping. */
export class QoeVerdictTracker {
  private readonly colors: QoeColor[];
  constructor(readonly profile: QoeProfile) {
    this.colors = profile.rules.map(() => 'gray');
  }

  update(q: StreamQuality): { verdict: QoeColor; changed: boolean; perRule: ReadonlyArray<{ rule: ColorRule; color: QoeColor }> } {
    let changed = false;
    const perRule = this.profile.rules.map((rule, i) => {
      const c = nextColor(rule, this.colors[i]!, valueOf(q, rule));
      if (c !== this.colors[i]) changed = true;
      this.colors[i] = c;
      return { rule, color: c };
    });
    return { verdict: worst(this.colors), changed, perRule };
  }

  get verdict(): QoeColor {
    return worst(this.colors);
  }
}

/** One-shot verdict of a finished stream (no history, so no hysteresis). */
export function judgeStream(profile: QoeProfile, s: CdrMediaStream): QoeColor {
  return new QoeVerdictTracker(profile).update(streamQuality(s)).verdict;
}
