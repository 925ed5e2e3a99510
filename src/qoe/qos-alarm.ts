/**
 * Quality of Service rules per IP Group (Mediant QualityOfServiceRules):
 * after each ended call, the rule's metric over the group's last N calls
 * (WindowCalls, ours) is compared with its Threshold (ours); below it the
 * alarm is raised (logged once, visible in sbc_qos_alarm), at or above it
 * cleared. Metrics: ASR and NER in %, ACD in seconds, voice quality as the
 * average MOS x10. Bandwidth and poor-invoice-quality rules are accepted in
 * the table but not evaluated. A rule is judged only once its window is
 * full, so a few early failures do not raise it.
 *
 * `rejects(ipGroup, now)` tells the engine whether a raised reject-calls
 * rule currently applies (for CallsRejectDuration minutes after raising);
 * Mediant answers such calls with 850 (signalling metrics) or 806 (media).
 */
import type { CdrRecord } from '../cdr/model.js';
import type { QualityOfServiceRuleRow } from '../config/schema.js';
import type { Logger } from '../util/logger.js';
import { CallWindow, outcomeOf, type CallWindowSummary } from './call-window.js';

export interface QosAlarm {
  ipGroup: string;
  metric: QualityOfServiceRuleRow['ruleMetric'];
  severity: QualityOfServiceRuleRow['severity'];
  action: QualityOfServiceRuleRow['ruleAction'];
  value: number;
  threshold: number;
  raisedAt: number;
  /** Mediant's rejection code for this metric. */
  rejectStatus: 850 | 806;
}

interface RuleState {
  rule: QualityOfServiceRuleRow;
  window: CallWindow;
  raised: QosAlarm | null;
}

function metricValue(rule: QualityOfServiceRuleRow, s: CallWindowSummary): number | null {
  switch (rule.ruleMetric) {
    case 'asr': return s.asr === null ? null : s.asr * 100;
    case 'ner': return s.ner === null ? null : s.ner * 100;
    case 'acd': return s.acdSec;
    case 'voice-quality': return s.avgMos === null ? null : s.avgMos * 10;
    default: return null;
  }
}

export class QosRules {
  private readonly states: RuleState[];

  constructor(rules: readonly QualityOfServiceRuleRow[], private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.states = rules.map((rule) => ({ rule, window: new CallWindow(Math.max(1, rule.windowCalls)), raised: null }));
  }

  /** Feed with every record (CdrPipeline.onRecord); counts CALL_END of calls to (and from) each rule's IP Group. */
  onCdr(r: CdrRecord): void {
    if (r.reportType !== 'CALL_END') return;
    const groups = [r.legB.ipGroup, r.legA.ipGroup].filter((g): g is string => g !== null).map((g) => g.toLowerCase());
    if (groups.length === 0) return;
    const o = outcomeOf(r);
    for (const st of this.states) {
      if (!groups.includes(st.rule.ipGroupName.toLowerCase())) continue;
      st.window.add(o);
      this.evaluate(st);
    }
  }

  private evaluate(st: RuleState): void {
    if (st.window.count < st.window.size) return;
    const value = metricValue(st.rule, st.window.summary());
    if (value === null) return;
    const below = value < st.rule.threshold;
    if (below && st.raised === null) {
      st.raised = {
        ipGroup: st.rule.ipGroupName, metric: st.rule.ruleMetric, severity: st.rule.severity, action: st.rule.ruleAction,
        value, threshold: st.rule.threshold, raisedAt: this.now(),
        rejectStatus: st.rule.ruleMetric === 'voice-quality' || st.rule.ruleMetric === 'bandwidth' ? 806 : 850,
      };
      this.log.warn({ alarm: st.raised, windowCalls: st.window.size }, 'quality of service alarm raised');
    } else if (!below && st.raised !== null) {
      this.log.info({ ipGroup: st.rule.ipGroupName, metric: st.rule.ruleMetric, value, threshold: st.rule.threshold }, 'quality of service alarm cleared');
      st.raised = null;
    } else if (st.raised !== null) {
      st.raised.value = value;
    }
  }

  /** Alarms currently raised. */
  active(): QosAlarm[] {
    return this.states.flatMap((s) => (s.raised === null ? [] : [s.raised]));
  }

  /** The raised reject-calls alarm that applies to new calls toward this IP Group now, if any. */
  rejects(ipGroup: string, now = this.now()): QosAlarm | null {
    const g = ipGroup.toLowerCase();
    for (const s of this.states) {
      const a = s.raised;
      if (a === null || a.action !== 'reject-calls' || s.rule.ipGroupName.toLowerCase() !== g) continue;
      if (now - a.raisedAt < s.rule.callsRejectDuration * 60_000) return a;
    }
    return null;
  }
}
