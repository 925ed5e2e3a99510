/**
 * Semantic difference between two configurations: scalars changed, and per
 * table the rows added, removed, changed or moved. Rows of tables referenced by
 * name are matched by name first (so renumbering a row reads as a move, not as
 * a removal plus an addition), the others by index. Secret values (password
 * columns and parameters) are never shown.
 */
import { TABLES, type ColumnDef, type TableDef } from './schema.js';
import type { SbcConfig } from './sbc-config.js';
import { MASK } from './writer.js';

export interface ScalarChange {
  readonly name: string;
  /** undefined = not set on that side; MASK for secrets. */
  readonly before?: string;
  readonly after?: string;
}

export interface ColumnChange {
  readonly column: string;
  readonly before: string;
  readonly after: string;
}

export interface RowChange {
  readonly table: string;
  readonly kind: 'added' | 'removed' | 'changed';
  /** Index on the new side (the old side for removed rows). */
  readonly index: number;
  /** Index on the old side when the row was renumbered. */
  readonly fromIndex?: number;
  readonly name?: string;
  readonly columns?: readonly ColumnChange[];
}

export interface ConfigDiff {
  readonly scalars: readonly ScalarChange[];
  readonly rows: readonly RowChange[];
}

type Row = Record<string, unknown> & { index: number };

export function isSecretScalar(name: string): boolean {
  // Passwords, secrets (PrivacyPseudonymizationKey) and key material (TLS key files) never appear in a diff.
  const n = name.toLowerCase();
  return n.includes('password') || n.includes('secret') || n.endsWith('key') || n.endsWith('keyfile');
}

function show(col: ColumnDef, v: unknown): string {
  if (col.secret) return MASK;
  if (Array.isArray(v)) return `"${v.join(',')}"`;
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

function nameOf(def: TableDef, r: Row): string | undefined {
  if (!def.nameKey) return undefined;
  const n = String(r[def.nameKey] ?? '');
  return n === '' ? undefined : n;
}

function diffTable(def: TableDef, before: readonly Row[], after: readonly Row[]): RowChange[] {
  const out: RowChange[] = [];
  const pairs: Array<[Row, Row]> = [];
  const oldLeft = new Set(before);
  const newLeft = new Set(after);
  if (def.nameKey) {
    const oldByName = new Map<string, Row>();
    for (const r of before) {
      const n = nameOf(def, r);
      if (n !== undefined && !oldByName.has(n.toLowerCase())) oldByName.set(n.toLowerCase(), r);
    }
    for (const r of after) {
      const n = nameOf(def, r);
      const o = n !== undefined ? oldByName.get(n.toLowerCase()) : undefined;
      if (o && oldLeft.has(o)) {
        pairs.push([o, r]);
        oldLeft.delete(o);
        newLeft.delete(r);
      }
    }
  }
  // What is left: unnamed rows, and renamed rows (their old name is gone), matched by index.
  const oldByIndex = new Map([...oldLeft].map((r) => [r.index, r]));
  for (const r of [...newLeft]) {
    const o = oldByIndex.get(r.index);
    if (o) {
      pairs.push([o, r]);
      oldLeft.delete(o);
      newLeft.delete(r);
    }
  }
  for (const o of oldLeft) out.push(withName(def, { table: def.name, kind: 'removed', index: o.index }, o));
  for (const [o, r] of pairs) {
    const columns: ColumnChange[] = [];
    for (const c of def.columns) {
      if (same(o[c.key], r[c.key])) continue;
      columns.push({ column: c.ini, before: show(c, o[c.key]), after: show(c, r[c.key]) });
    }
    if (columns.length === 0 && o.index === r.index) continue;
    out.push(withName(def, { table: def.name, kind: 'changed', index: r.index, ...(o.index !== r.index ? { fromIndex: o.index } : {}), columns }, r));
  }
  for (const r of newLeft) out.push(withName(def, { table: def.name, kind: 'added', index: r.index }, r));
  out.sort((a, b) => a.index - b.index || a.kind.localeCompare(b.kind));
  return out;
}

function withName(def: TableDef, c: RowChange, r: Row): RowChange {
  const n = nameOf(def, r);
  return n === undefined ? c : { ...c, name: n };
}

export function diffConfigs(before: SbcConfig, after: SbcConfig): ConfigDiff {
  const scalars: ScalarChange[] = [];
  const keys = new Set([...before.scalars.keys(), ...after.scalars.keys()]);
  for (const k of [...keys].sort()) {
    const a = before.scalars.get(k);
    const b = after.scalars.get(k);
    if (a === b) continue;
    const secret = isSecretScalar(k);
    scalars.push({
      name: k,
      ...(a !== undefined ? { before: secret ? MASK : a } : {}),
      ...(b !== undefined ? { after: secret ? MASK : b } : {}),
    });
  }
  const rows: RowChange[] = [];
  for (const def of TABLES) {
    rows.push(...diffTable(def, before[def.configKey] as unknown as readonly Row[], after[def.configKey] as unknown as readonly Row[]));
  }
  return { scalars, rows };
}

/** One human line per change, e.g. `IP2IPRouting 2 (to ITSP): DestIPGroupName 'A' -> 'B'`. */
export function formatDiff(d: ConfigDiff): string[] {
  const out: string[] = [];
  for (const s of d.scalars) {
    const secret = s.before === MASK || s.after === MASK;
    if (s.before === undefined) out.push(`parameter ${s.name} set to ${secret ? MASK : `'${s.after}'`}`);
    else if (s.after === undefined) out.push(`parameter ${s.name} removed`);
    else out.push(secret ? `parameter ${s.name} changed (value hidden)` : `parameter ${s.name}: '${s.before}' -> '${s.after}'`);
  }
  for (const r of d.rows) {
    const label = `${r.table} ${r.index}${r.name !== undefined ? ` (${r.name})` : ''}`;
    if (r.kind !== 'changed') {
      out.push(`${label} ${r.kind}`);
      continue;
    }
    const parts: string[] = [];
    if (r.fromIndex !== undefined) parts.push(`moved from index ${r.fromIndex}`);
    for (const c of r.columns ?? []) parts.push(c.before === MASK ? `${c.column} changed (value hidden)` : `${c.column} ${c.before} -> ${c.after}`);
    out.push(`${label}: ${parts.join(', ')}`);
  }
  return out;
}
