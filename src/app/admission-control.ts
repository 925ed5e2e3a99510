/**
 * Mediant call admission control (SBCAdmissionControl) at runtime: per
 * rule and entity (an Any row counts each IP Group / SIP Interface on its
 * own), per direction and request type — concurrent dialogs (Limit),
 * concurrent dialogs per user (LimitPerUser), a token bucket (Rate per
 * second, MaxBurst tokens) and Reservation (dialogs an IP Group may still
 * open when its SIP Interface's limit is reached). Every rule must admit;
 * the counters move only when all did. Refusals are counted per rule.
 */
import type { SbcConfig } from '../config/index.js';
import type { AdmissionControlRow } from '../config/schema.js';
import type { AdmissionClaim, AdmissionPort } from '../b2bua/ports.js';

export interface AdmissionRuleStats {
  rule: string;
  entity: string;
  active: number;
  admitted: number;
  rejected: { limit: number; perUser: number; rate: number };
}

interface RuleState {
  rule: string;
  entity: string;
  active: number;
  admitted: number;
  rejected: { limit: number; perUser: number; rate: number };
  users: Map<string, number>;
  tokens: number;
  last: number;
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

  constructor(private readonly config: () => SbcConfig, private readonly now: () => number = Date.now) {}

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
    for (const a of applied) if (!a.isInterface && a.row.reservation > 0 && a.state.active < a.row.reservation) reserved = true;
    for (const a of applied) {
      const why = this.refusal(a.row, a.state, c.user, now, a.isInterface && reserved);
      if (why !== null) {
        a.state.rejected[why]++;
        return { reject: 503, reason: `Call Admission Control (${a.row.admissionControlName || `rule ${a.row.index}`}: ${why})` };
      }
    }
    for (const a of applied) {
      const s = a.state;
      s.active++;
      s.admitted++;
      if (a.row.rate > 0) s.tokens -= 1;
      if (c.user !== '' && a.row.limitPerUser >= 0) s.users.set(c.user, (s.users.get(c.user) ?? 0) + 1);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const a of applied) {
        const s = a.state;
        s.active = Math.max(0, s.active - 1);
        if (c.user !== '' && a.row.limitPerUser >= 0) {
          const n = (s.users.get(c.user) ?? 1) - 1;
          if (n <= 0) s.users.delete(c.user);
          else s.users.set(c.user, n);
        }
      }
    };
  }

  stats(): AdmissionRuleStats[] {
    return [...this.states.values()].map((s) => ({ rule: s.rule, entity: s.entity, active: s.active, admitted: s.admitted, rejected: { ...s.rejected } }));
  }

  private refusal(row: AdmissionControlRow, s: RuleState, user: string, now: number, reservedPastLimit: boolean): Reason | null {
    if (row.limit >= 0 && s.active >= row.limit && !reservedPastLimit) return 'limit';
    if (row.limitPerUser >= 0 && user !== '' && (s.users.get(user) ?? 0) >= row.limitPerUser) return 'perUser';
    if (row.rate > 0) {
      // Token bucket: Rate tokens per second, at most MaxBurst (0 = one second's worth).
      const size = row.maxBurst > 0 ? row.maxBurst : Math.max(1, row.rate);
      s.tokens = Math.min(size, s.tokens + ((now - s.last) * row.rate) / 1000);
      s.last = now;
      if (s.tokens < 1) return 'rate';
    }
    return null;
  }

  private state(row: AdmissionControlRow, entity: string): RuleState {
    // The name is part of the key: a reload that puts another rule at this index starts it afresh.
    const key = `${row.index}|${row.admissionControlName}|${entity.toLowerCase()}`;
    let s = this.states.get(key);
    if (s === undefined) {
      const size = row.maxBurst > 0 ? row.maxBurst : Math.max(1, row.rate);
      s = {
        rule: row.admissionControlName || `rule ${row.index}`, entity, active: 0, admitted: 0,
        rejected: { limit: 0, perUser: 0, rate: 0 }, users: new Map(), tokens: size, last: this.now(),
      };
      this.states.set(key, s);
    }
    return s;
  }
}
