/**
 * The last N ended calls of one IP Group (in one direction), summarized as
 * the ratios operators watch: ASR, NER (ITU-T E.425), ACD, average MOS and
 * the share of poor calls. Fed from CALL_END records.
 */
import type { CdrRecord } from '../cdr/model.js';

export interface CallOutcome {
  answered: boolean;
  /** Call ended for a reason the network is not to blame for (E.425: answered, busy, no answer, caller abandoned). */
  effective: boolean;
  durationSec: number;
  mos: number | null;
}

export interface CallWindowSummary {
  calls: number;
  /** 0..1; null with no calls. */
  asr: number | null;
  ner: number | null;
  /** Mean duration of answered calls (s); null when none answered. */
  acdSec: number | null;
  /** Mean MOS of calls with a MOS; null when none. */
  avgMos: number | null;
  /** Share of calls with a MOS below the poor threshold; null when none had a MOS. */
  poorRatio: number | null;
}

/** MOS below this is a poor call (R < 60, "many users dissatisfied" in G.107 Annex B). */
export const POOR_MOS = 3.1;

export function outcomeOf(r: CdrRecord): CallOutcome {
  const answered = r.connectTime !== null;
  const c = r.terminationCategory;
  const effective = answered || c === 'busy' || c === 'no-answer' || c === 'cancelled';
  let mos: number | null = null;
  for (const s of r.media) {
    for (const leg of [s.A, s.B]) {
      for (const d of [leg.rx, leg.tx]) if (d.mos !== null && (mos === null || d.mos < mos)) mos = d.mos;
    }
  }
  return { answered, effective, durationSec: r.durationMs / 1000, mos };
}

export class CallWindow {
  private readonly buf: CallOutcome[] = [];
  private next = 0;
  constructor(readonly size: number) {}

  add(o: CallOutcome): void {
    if (this.buf.length < this.size) this.buf.push(o);
    else {
      this.buf[this.next] = o;
      this.next = (this.next + 1) % this.size;
    }
  }

  get count(): number {
    return this.buf.length;
  }

  summary(): CallWindowSummary {
    const n = this.buf.length;
    if (n === 0) return { calls: 0, asr: null, ner: null, acdSec: null, avgMos: null, poorRatio: null };
    let answered = 0;
    let effective = 0;
    let dur = 0;
    let mosN = 0;
    let mosSum = 0;
    let poor = 0;
    for (const o of this.buf) {
      if (o.answered) {
        answered++;
        dur += o.durationSec;
      }
      if (o.effective) effective++;
      if (o.mos !== null) {
        mosN++;
        mosSum += o.mos;
        if (o.mos < POOR_MOS) poor++;
      }
    }
    return {
      calls: n, asr: answered / n, ner: effective / n, acdSec: answered > 0 ? dur / answered : null,
      avgMos: mosN > 0 ? mosSum / mosN : null, poorRatio: mosN > 0 ? poor / mosN : null,
    };
  }
}

/** Windows per IP Group and direction ('in' = calls from the group, 'out' = calls to it). */
export class IpGroupCallStats {
  private readonly windows = new Map<string, CallWindow>();
  constructor(private readonly windowSize = 100) {}

  /** Feed with every record; only CALL_END counts. */
  record(r: CdrRecord): void {
    if (r.reportType !== 'CALL_END') return;
    const o = outcomeOf(r);
    if (r.legA.ipGroup) this.window(r.legA.ipGroup, 'in').add(o);
    if (r.legB.ipGroup) this.window(r.legB.ipGroup, 'out').add(o);
  }

  window(ipGroup: string, direction: 'in' | 'out'): CallWindow {
    const k = `${direction}\u0000${ipGroup}`;
    let w = this.windows.get(k);
    if (w === undefined) this.windows.set(k, (w = new CallWindow(this.windowSize)));
    return w;
  }

  entries(): Array<{ ipGroup: string; direction: 'in' | 'out'; summary: CallWindowSummary }> {
    return [...this.windows].map(([k, w]) => {
      const [direction, ipGroup] = k.split('\u0000') as ['in' | 'out', string];
      return { ipGroup, direction, summary: w.summary() };
    });
  }
}
