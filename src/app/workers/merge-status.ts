/**
 * The API's view of an SBC with SIP worker threads: the main thread's
 * status with every worker's counters added in (calls, transactions,
 * transport, relay sessions), and each worker's own figures under
 * `workers` for whoever needs to see the balance.
 */
type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Adds the numbers of `b` into a copy of `a`, recursively (maps of counters included). */
export function addCounters(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === undefined) return b;
  if (!isTree(a) || !isTree(b)) return a;
  const out: Tree = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = addCounters(a[k], v);
  return out;
}

const SUMMED = ['activeCalls', 'calls', 'transactions', 'transport'] as const;

export function mergeStatus<S extends Tree>(main: S, workers: readonly unknown[]): S & { workers: unknown[] } {
  const out: Tree = { ...main };
  for (const w of workers) {
    if (!isTree(w)) continue;
    for (const k of SUMMED) out[k] = addCounters(out[k], w[k]);
    const relay = out['relay'];
    const wr = w['relay'];
    if (isTree(relay) && isTree(wr)) out['relay'] = { ...relay, sessions: Number(relay['sessions'] ?? 0) + Number(wr['sessions'] ?? 0) };
  }
  out['workers'] = [...workers];
  return out as S & { workers: unknown[] };
}

interface RuleCounters { rule: string; entity: string; active: number; admitted: number; rejected: { limit: number; perUser: number; rate: number } }

/**
 * Admission counters of every thread: admitted and refused are counted by
 * the thread that decided; `active` is the shared count itself (the same
 * number on every thread that has seen the rule).
 */
export function mergeAdmission(main: readonly RuleCounters[], workers: readonly unknown[]): RuleCounters[] {
  const byKey = new Map<string, RuleCounters>();
  for (const list of [main, ...workers]) {
    if (!Array.isArray(list)) continue;
    for (const r of list as RuleCounters[]) {
      const k = `${r.rule}|${r.entity}`;
      const seen = byKey.get(k);
      if (seen === undefined) {
        byKey.set(k, { ...r, rejected: { ...r.rejected } });
        continue;
      }
      seen.active = Math.max(seen.active, r.active);
      seen.admitted += r.admitted;
      seen.rejected.limit += r.rejected.limit;
      seen.rejected.perUser += r.rejected.perUser;
      seen.rejected.rate += r.rejected.rate;
    }
  }
  return [...byKey.values()];
}
