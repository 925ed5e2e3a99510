/**
 * Edits of ini text that keep the operator's file as it is wherever it can:
 * - a row edit (REST POST/PATCH/DELETE of one table row) rewrites only that
 *   table's block; comments and layout elsewhere stay untouched;
 * - masking (for display) and unmasking (a PUT that sends back "*****" for a
 *   password keeps the running password) replace just the value token.
 */
import { cellColumn, convertDocument, convertJsonValue } from './convert.js';
import { parseIni } from './ini-reader.js';
import { findColumn, tableDef, TABLES, type TableDef } from './schema.js';
import type { SbcConfig } from './sbc-config.js';
import { isSecretScalar } from './diff.js';
import { MASK, tableLines } from './writer.js';

type Row = Record<string, unknown> & { index: number };

function eolOf(text: string): string {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

function quote(s: string): string {
  return s.includes('"') ? `'${s}'` : `"${s}"`;
}

const END_RE = /^\s*\[\s*[\\/]\s*([^\]]*?)\s*\]/;
const HEADER_RE = /^\s*\[\s*([^\]\\/][^\]]*?)\s*\]/;

function namesOf(def: TableDef): Set<string> {
  return new Set([def.name, ...(def.aliases ?? [])].map((n) => n.toLowerCase()));
}

/** Replaces every block of `def` with one block holding `rows` (where the first was, else at the end); no rows = no block. */
export function replaceTable(text: string, def: TableDef, rows: readonly Row[]): string {
  const eol = eolOf(text);
  const lines = text.split(/\r\n|\n/);
  const names = namesOf(def);
  const out: string[] = [];
  let inserted = false;
  const block = rows.length > 0 ? tableLines(def, rows) : [];
  for (let i = 0; i < lines.length; i++) {
    const h = HEADER_RE.exec(lines[i]!);
    if (h && names.has(h[1]!.toLowerCase())) {
      let end = i + 1;
      while (end < lines.length) {
        const m = END_RE.exec(lines[end]!);
        if (m && names.has(m[1]!.toLowerCase())) break;
        end++;
      }
      if (!inserted) out.push(...block);
      inserted = true;
      i = end;
      continue;
    }
    out.push(lines[i]!);
  }
  if (!inserted && block.length > 0) {
    if (out.length > 0 && out[out.length - 1] !== '') out.push('');
    out.push(...block, '');
  }
  return out.join(eol);
}

export type RowEditResult = { readonly text: string; readonly detail: string } | { readonly status: 400 | 404 | 409; readonly error: string };

/**
 * One row of one table added (POST), merged (PATCH) or deleted (DELETE) on the text of the
 * running configuration `config`. `values` are keyed by Mediant column names.
 */
export function editRow(
  text: string, config: SbcConfig, op: 'add' | 'patch' | 'delete', tableName: string, index: number, values: Record<string, unknown> = {},
): RowEditResult {
  const def = tableDef(tableName);
  if (!def) return { status: 404, error: `no table ${tableName}` };
  if (!Number.isInteger(index) || index < 0) return { status: 400, error: `row index must be a non-negative integer` };
  const rows = [...(config[def.configKey] as unknown as readonly Row[])];
  const at = rows.findIndex((r) => r.index === index);
  if (op === 'add' && at >= 0) return { status: 409, error: `${def.name} ${index} already exists` };
  if (op !== 'add' && at < 0) return { status: 404, error: `${def.name} ${index} does not exist` };
  if (op === 'delete') {
    rows.splice(at, 1);
    return { text: replaceTable(text, def, rows), detail: `DELETE ${def.name} ${index}` };
  }
  const row: Row = { index };
  for (const c of def.columns) row[c.key] = op === 'patch' ? rows[at]![c.key] : c.def;
  for (const [name, v] of Object.entries(values)) {
    const col = findColumn(def, name);
    if (!col) return { status: 400, error: `${def.name} has no column ${name}` };
    const r = convertJsonValue(col, v);
    if ('error' in r) return { status: 400, error: r.error };
    row[col.key] = r.value;
  }
  if (op === 'add') rows.push(row);
  else rows[at] = row;
  rows.sort((a, b) => a.index - b.index);
  return { text: replaceTable(text, def, rows), detail: `${op === 'add' ? 'POST' : 'PATCH'} ${def.name} ${index}` };
}

/** Replaces the value token that starts at 1-based `column` of `line`. */
function replaceToken(line: string, column: number, replacement: string, toEnd: boolean): string {
  const start = column - 1;
  const q = line[start];
  let end: number;
  if (toEnd && !((q === '"' || q === "'") && line.trimEnd().endsWith(q))) {
    end = line.trimEnd().length;
  } else if (q === '"' || q === "'") {
    const close = line.indexOf(q, start + 1);
    end = close < 0 ? line.length : close + 1;
  } else {
    end = start;
    while (end < line.length && line[end] !== ',' && line[end] !== ';') end++;
    while (end > start && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  }
  return line.slice(0, start) + replacement + line.slice(end);
}

interface SecretCell {
  readonly line: number;
  readonly column: number;
  readonly value: string;
  /** Where the same secret lives in another configuration. */
  readonly table: TableDef | null;
  readonly index: number;
  readonly key: string;
  /** A scalar: the value runs to the end of the line. */
  readonly toEnd: boolean;
}

/** Secret values of a text: password columns of rows and password scalars, with their positions. */
function secretCells(text: string): SecretCell[] {
  const parsed = parseIni(text, '');
  const tables = convertDocument(parsed.document, '', []);
  const out: SecretCell[] = [];
  for (const def of TABLES) {
    const secrets = def.columns.filter((c) => c.secret);
    if (secrets.length === 0) continue;
    for (const r of tables[def.configKey] as unknown as readonly (Row & { line: number })[]) {
      for (const c of secrets) {
        const column = cellColumn(r, c.key);
        if (column !== undefined) out.push({ line: r.line, column, value: String(r[c.key]), table: def, index: r.index, key: c.key, toEnd: false });
      }
    }
  }
  const lines = text.split(/\r\n|\n/);
  for (const s of parsed.document.scalars) {
    if (!isSecretScalar(s.name)) continue;
    const l = lines[s.line - 1] ?? '';
    const eq = l.indexOf('=');
    let col = eq + 1;
    while (col < l.length && (l[col] === ' ' || l[col] === '\t')) col++;
    if (eq >= 0 && col < l.length) out.push({ line: s.line, column: col + 1, value: s.value, table: null, index: -1, key: s.name.toLowerCase(), toEnd: true });
  }
  return out;
}

type Replacement = { line: number; column: number; replacement: string; toEnd: boolean };

function rewrite(text: string, cells: readonly Replacement[]): string {
  if (cells.length === 0) return text;
  const eol = eolOf(text);
  const lines = text.split(/\r\n|\n/);
  // Right to left within a line, so earlier columns stay valid.
  for (const c of [...cells].sort((a, b) => a.line - b.line || b.column - a.column)) {
    lines[c.line - 1] = replaceToken(lines[c.line - 1]!, c.column, c.replacement, c.toEnd);
  }
  return lines.join(eol);
}

/** The text with every non-empty secret value replaced by "*****" (for display). */
export function maskIniText(text: string): string {
  return rewrite(text, secretCells(text).filter((c) => c.value !== '').map((c) => ({ line: c.line, column: c.column, replacement: quote(MASK), toEnd: c.toEnd })));
}

/** A text sent back with "*****" in place of secrets gets the running values back (same table and index, or same parameter). */
export function unmaskIniText(text: string, running: SbcConfig): string {
  const cells: Replacement[] = [];
  for (const c of secretCells(text)) {
    if (c.value !== MASK) continue;
    let real: string | undefined;
    if (c.table) {
      const r = (running[c.table.configKey] as unknown as readonly Row[]).find((x) => x.index === c.index);
      real = r ? String(r[c.key]) : undefined;
    } else real = running.scalars.get(c.key);
    if (real !== undefined) cells.push({ line: c.line, column: c.column, replacement: quote(real), toEnd: c.toEnd });
  }
  return rewrite(text, cells);
}
