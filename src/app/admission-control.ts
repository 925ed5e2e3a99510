/**
 * Mediant call admission control (SBCAdmissionControl) at runtime: per
 * rule and entity (an Any row counts each IP Group / SIP Interface on its
 * own), per direction and request type — concurrent dialogs (Limit),
 * concurrent dialogs per user (LimitPerUser), a token bucket (Rate per
 * second, MaxBurst tokens) and Reservation (dialogs an IP Group may still
 * open when its SIP Interface's limit is reached). Every rule must admit;
 * the counters move only when all did. Refusals are counted per rule.
 * Concurrent counts live in `ConcurrencyCounters`: shared memory when
 * several SIP worker threads admit calls, so limits stay exact.
 */
import type { SbcConfig } from '../config/index.js';
import type { AdmissionControlRow } from '../config/schema.js';
import type { AdmissionClaim, AdmissionPort } from '../b2bua/ports.js';
import { LocalCounters, type ConcurrencyCounters } from './concurrency-counters.js';

export interface AdmissionRuleStats {
  rule: string;
  entity: string;
  active: number;
  admitted: number;
  rejected: { limit: number; perUser: number; rate: number };
}

interface RuleState {
  /** The counters' key of this rule and entity. */
  key: string;
  rule: string;
  entity: string;
  admitted: number;
  rejected: { limit: number; perUser: number; rate: number };
}

type Reason = 'limit' | 'perUser' | 'rate';

/**
 * The release of a claim no rule counted. One shared function: a new
 * closure per claim would keep the claim (and this call's scope) alive for
 * as long as the call holds it, on every call of an SBC without rules.
 */
const NOTHING_HELD = (): void => undefined;

export class AdmissionControl implements AdmissionPort {
  private readonly states = new Map<string, RuleState>();

  constructor(
    private readonly config: () => SbcConfig,
    private readonly now: () => number = Date.now,
    private readonly counters: ConcurrencyCounters = new LocalCounters(),
  ) {}

  claim(c: AdmissionClaim): (() => void) | { reject: number; reason: string } {
    const config = this.config();
    if (config.admissionControl.length === 0) return NOTHING_HELD;
    const applied: Array<{ row: AdmissionControlRow; state: RuleState; isInterface: boolean }> = [];
    if (c.group !== null) {
      for (const row of config.admissionRulesFor({ ipGroupName: c.group }, c.method, c.direction)) {
        applied.push({ row, state: this.state(row, c.group), isInterface: false });
      }
    }
    if (c.interfaceName !== null) {
      for (const row of config.admissionRulesFor({ sipInterfaceName: c.interfaceName }, c.method, c.direction)) {
        applied.push({ row, state: this.state(row, c.interfaceName), isInterface: true });
      }
    }
    if (applied.length === 0) return NOTHING_HELD;
    const now = this.now();
    // Reservation: the IP Group's guaranteed dialogs, usable past an interface limit.
    let reserved = false;
    for (const a of applied) if (!a.isInterface && a.row.reservation > 0 && this.counters.value(a.state.key) < a.row.reservation) reserved = true;
    // Take every count (each take is atomic at its limit), then every rate; a refusal gives back what was taken.
    const taken: string[] = [];
    const paced: Array<{ key: string; rate: number }> = [];
    const giveBack = (): void => {
      for (const k of taken) this.counters.give(k);
    };
    const refuse = (a: { row: AdmissionControlRow; state: RuleState }, why: Reason): { reject: number; reason: string } => {
      giveBack();
      for (const p of paced) this.counters.unpace(p.key, p.rate);
      return this.refuse(a, why);
    };
    for (const a of applied) {
      const limit = a.row.limit >= 0 && !(a.isInterface && reserved) ? a.row.limit : -1;
      if (!this.counters.take(a.state.key, limit)) return refuse(a, 'limit');
      taken.push(a.state.key);
      if (c.user !== '' && a.row.limitPerUser >= 0) {
        const userKey = `${a.state.key}|user|${c.user}`;
        if (!this.counters.take(userKey, a.row.limitPerUser)) return refuse(a, 'perUser');
        taken.push(userKey);
      }
    }
    for (const a of applied) {
      if (a.row.rate <= 0) continue;
      // Rate tokens per second, at most MaxBurst (0 = one second's worth).
      const burst = a.row.maxBurst > 0 ? a.row.maxBurst : Math.max(1, a.row.rate);
      if (!this.counters.pace(a.state.key, a.row.rate, burst, now)) return refuse(a, 'rate');
      paced.push({ key: a.state.key, rate: a.row.rate });
    }
    for (const a of applied) a.state.admitted++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      giveBack();
    };
  }

  stats(): AdmissionRuleStats[] {
    return [...this.states.values()].map((s) => ({
      rule: s.rule, entity: s.entity, active: this.counters.value(s.key), admitted: s.admitted, rejected: { ...s.rejected },
    }));
  }

  private refuse(a: { row: AdmissionControlRow; state: RuleState }, why: Reason): { reject: number; reason: string } {
    a.state.rejected[why]++;
    return { reject: 503, reason: `Call Admission Control (${a.row.admissionControlName || `rule ${a.row.index}`}: ${why})` };
  }

  private state(row: AdmissionControlRow, entity: string): RuleState {
    // The name is part of the key: a reload that puts another rule at this index starts it afresh.
    const key = `${row.index}|${row.admissionControlName}|${entity.toLowerCase()}`;
    let s = this.states.get(key);
    if (s === undefined) {
      s = { key, rule: row.admissionControlName || `rule ${row.index}`, entity, admitted: 0, rejected: { limit: 0, perUser: 0, rate: 0 } };
      this.states.set(key, s);
    }
    return s;
  }
}
