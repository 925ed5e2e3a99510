import { describe, expect, it } from 'vitest';
import { placeRow } from '../config/convert.js';
import type { QoeColorRuleRow, QoeProfileRow, QualityOfServiceRuleRow } from '../config/schema.js';
import { loadConfigText } from '../config/load.js';
import { sampleCdr } from '../cdr/sample-record.js';
import { silentLogger } from '../util/logger.js';
import { compileQoeProfiles, defaultQoeProfile, judgeStream, nextColor, QoeVerdictTracker, type ColorRule } from './profile.js';
import { QosRules } from './qos-alarm.js';

const mosRule: ColorRule = { param: 'mos', direction: 'device-side', minor: 3.5, minorHysteresis: 0.1, major: 3.0, majorHysteresis: 0.1 };
const lossRule: ColorRule = { param: 'packet-loss', direction: 'device-side', minor: 2, minorHysteresis: 0.5, major: 5, majorHysteresis: 1 };

describe('QoE color rules', () => {
  it('gets worse at once, better only past the hysteresis (MOS: lower is worse)', () => {
    const seq = [4.2, 3.5, 3.55, 3.61, 3.0, 3.05, 3.11, 3.2, 3.7, null];
    const colors: string[] = [];
    let c: ReturnType<typeof nextColor> = 'gray';
    for (const v of seq) colors.push((c = nextColor(mosRule, c, v)));
    expect(colors).toEqual(['green', 'yellow', 'yellow', 'green', 'red', 'red', 'yellow', 'yellow', 'green', 'green']);
  });

  it('loss: higher is worse; green can jump straight to red and back to green', () => {
    expect(nextColor(lossRule, 'green', 6)).toBe('red');
    expect(nextColor(lossRule, 'red', 4.5)).toBe('red'); // within the major hysteresis
    expect(nextColor(lossRule, 'red', 3.9)).toBe('yellow');
    expect(nextColor(lossRule, 'red', 0.1)).toBe('green');
    expect(nextColor(lossRule, 'yellow', 1.7)).toBe('yellow');
    expect(nextColor(lossRule, 'gray', null)).toBe('gray');
  });

  it('a tracker gives the worst color of a stream\'s values, and says when it changed', () => {
    const t = new QoeVerdictTracker({ name: 'p', rules: [mosRule, lossRule] });
    const q = (mos: number, loss: number) => ({
      deviceSide: { mos, delayMs: null, lossPct: loss, jitterMs: null }, remoteSide: { mos: null, delayMs: null, lossPct: null, jitterMs: null },
    });
    expect(t.update(q(4.3, 0.1))).toMatchObject({ verdict: 'green', changed: true });
    expect(t.update(q(4.3, 0.2))).toMatchObject({ verdict: 'green', changed: false });
    expect(t.update(q(3.4, 0.2)).verdict).toBe('yellow');
    expect(t.update(q(4.3, 7)).verdict).toBe('red');
  });

  it('judges streams of a CDR: clean is green, 5% loss with a low MOS is red', () => {
    const p = defaultQoeProfile();
    const clean = sampleCdr().media[0]!;
    expect(judgeStream(p, clean)).toBe('green');
    const lossy = structuredClone(clean);
    lossy.B.rx = { ...lossy.B.rx, lossPct: 6, mos: 2.9 };
    expect(judgeStream(p, lossy)).toBe('red');
    const unknown = structuredClone(clean);
    for (const leg of [unknown.A, unknown.B]) for (const d of [leg.rx, leg.tx]) Object.assign(d, { mos: null, lossPct: null, jitterMs: null, rttMs: null });
    expect(judgeStream(p, unknown)).toBe('gray');
  });

  it('compiles QOEProfile/QOEColorRules from the ini (MOS in tenths, presets for -1)', () => {
    const ini = `
[ IPGroup ]
FORMAT Index = Type, Name, QOEProfile;
IPGroup 0 = 0, ITSP, Strict;
[ \\IPGroup ]
[ QOEProfile ]
FORMAT Index = Name, SensitivityLevel;
QOEProfile 0 = Strict, 3;
[ \\QOEProfile ]
[ QOEColorRules ]
FORMAT Index = QOEProfile, ColorRuleIndex, MonitoredParam, Direction, Profile, MinorThreshold, MinorHysteresis, MajorThreshold, MajorHysteresis;
QOEColorRules 0 = Strict, 0, 0, 0, 0, 38, 1, 33, 1;
QOEColorRules 1 = 0, 1, 2, 1, 3, -1, -1, -1, -1;
[ \\QOEColorRules ]
`;
    const r = loadConfigText(ini, 'qoe.ini');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const c = r.config!;
    expect(c.ipGroupByName('ITSP')!.qoeProfile).toBe('Strict');
    const profiles = compileQoeProfiles(c.qoeProfiles, c.qoeColorRules);
    expect(profiles.get('strict')!.rules).toEqual([
      { param: 'mos', direction: 'device-side', minor: 3.8, minorHysteresis: 0.1, major: 3.3, majorHysteresis: 0.1 },
      { param: 'packet-loss', direction: 'remote-side', minor: 1, minorHysteresis: 0.2, major: 3, majorHysteresis: 0.5 },
    ]);
    const bad = loadConfigText(ini.replace('QOEColorRules 1 = 0,', 'QOEColorRules 1 = Nope,'), 'qoe.ini');
    expect(bad.config).toBeNull();
    expect(bad.diagnostics.some((d) => d.severity === 'error' && /QOEProfile 'Nope'/.test(d.message) && d.line > 0)).toBe(true);
  });
});

function row<T extends object>(v: T): T & { index: number; line: number; file: string } {
  return placeRow({ index: 0, ...v }, 'x.ini', 1) as T & { index: number; line: number; file: string };
}

describe('QualityOfServiceRules alarm', () => {
  const rule = (over: Partial<QualityOfServiceRuleRow>): QualityOfServiceRuleRow => row({
    ipGroupName: 'ITSP', ruleMetric: 'asr', severity: 'major', ruleAction: 'reject-calls', callsRejectDuration: 5, altIpProfileName: '',
    threshold: 50, windowCalls: 10, ...over,
  }) as QualityOfServiceRuleRow;
  const call = (answered: boolean, mos = 4.3) => {
    const r = sampleCdr({ connectTime: answered ? 1 : null, terminationCategory: answered ? 'normal' : 'failed' });
    for (const leg of [r.media[0]!.A, r.media[0]!.B]) {
      leg.rx = { ...leg.rx, mos };
      leg.tx = { ...leg.tx, mos };
    }
    return r;
  };

  it('raises when ASR of the last N calls falls below the threshold and clears when it recovers', () => {
    let now = 1_000_000;
    const q = new QosRules([rule({})], silentLogger(), () => now);
    for (let i = 0; i < 10; i++) q.onCdr(call(true));
    expect(q.active()).toEqual([]);
    for (let i = 0; i < 6; i++) q.onCdr(call(false)); // 4 of the last 10 answered
    expect(q.active()).toMatchObject([{ ipGroup: 'ITSP', metric: 'asr', value: 40, threshold: 50, rejectStatus: 850 }]);
    expect(q.rejects('itsp')).not.toBeNull();
    now += 6 * 60_000;
    expect(q.rejects('ITSP')).toBeNull(); // CallsRejectDuration passed
    for (let i = 0; i < 5; i++) q.onCdr(call(true)); // the window slides: 5 of the last 10 answered
    expect(q.active()).toEqual([]);
  });

  it('voice quality: average MOS x10 below the threshold; judged only once the window is full', () => {
    const q = new QosRules([rule({ ruleMetric: 'voice-quality', threshold: 35, windowCalls: 4, ruleAction: 'alternative-ip-profile' })], silentLogger());
    for (let i = 0; i < 3; i++) q.onCdr(call(true, 2.0));
    expect(q.active()).toEqual([]);
    q.onCdr(call(true, 2.0));
    expect(q.active()[0]).toMatchObject({ metric: 'voice-quality', rejectStatus: 806 });
    expect(q.rejects('ITSP')).toBeNull(); // not a reject-calls rule
  });

  it('ignores calls of other groups and non-end records', () => {
    const q = new QosRules([rule({ ipGroupName: 'Other', windowCalls: 1 })], silentLogger());
    q.onCdr(call(false));
    q.onCdr(sampleCdr({ reportType: 'CALL_START', connectTime: null }));
    expect(q.active()).toEqual([]);
  });
});
