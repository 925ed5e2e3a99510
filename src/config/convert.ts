/**
 * Raw ini tables -> typed, frozen rows, following the descriptors in schema.ts.
 */
import type { Diagnostic, IgnoredSetting } from './diagnostics.js';
import type { IniCell, IniDocument } from './ini-reader.js';
import {
  TABLES, type ColumnDef, type SbcTables, type TableDef, type TableKey, enumFromText, findColumn, tableDef,
} from './schema.js';

/** Column (1-based) of each cell of a row, by property key; used to point diagnostics at a cell. */
const cellColumns = new WeakMap<object, ReadonlyMap<string, number>>();

export function cellColumn(row: object, key: string): number | undefined {
  return cellColumns.get(row)?.get(key);
}

/** Gives a row its (non-enumerable) position, so equality and JSON ignore where it came from. */
export function placeRow<T extends object>(row: T, file: string, line: number): T {
  Object.defineProperty(row, 'line', { value: line, enumerable: false });
  Object.defineProperty(row, 'file', { value: file, enumerable: false });
  return Object.freeze(row);
}

type Value = string | number | boolean | readonly number[];

export function parseCodes(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.split(/[,;\s]+/)) {
    if (part === '') continue;
    if (!/^\d{3}$/.test(part)) return null;
    out.push(Number(part));
  }
  return out;
}

type Converted = { value: Value; warning?: string } | { error: string };

function convertCell(col: ColumnDef, cell: IniCell): Converted {
  if (cell.kind === 'default') return { value: col.def };
  const text = cell.text;
  switch (col.type.kind) {
    case 'string':
      return { value: cell.kind === 'empty' ? (col.def as string) : text };
    case 'int': {
      if (cell.kind === 'empty') return { value: col.def };
      const t = text.trim();
      if (!/^-?\d+$/.test(t)) return { error: `${col.ini}: '${text}' is not an integer` };
      const n = Number(t);
      if (col.type.min !== undefined && n < col.type.min) return { error: `${col.ini}: ${n} is below the minimum ${col.type.min}` };
      if (col.type.max !== undefined && n > col.type.max) return { error: `${col.ini}: ${n} is above the maximum ${col.type.max}` };
      return { value: n };
    }
    case 'bool': {
      if (cell.kind === 'empty') return { value: col.def };
      const t = text.trim().toLowerCase();
      if (t === '1' || t === 'yes' || t === 'true' || t === 'enable' || t === 'enabled' || t === 'on') return { value: true };
      if (t === '0' || t === 'no' || t === 'false' || t === 'disable' || t === 'disabled' || t === 'off') return { value: false };
      return { error: `${col.ini}: '${text}' is not 0 or 1` };
    }
    case 'enum': {
      if (cell.kind === 'empty') return { value: col.def };
      const v = enumFromText(col.type.def, text);
      if (v === undefined && text.trim() === '-1') {
        // Device exports write -1 ("not configured": use the global default) in enum columns
        // whose documented values start at 0; the device loads it, so we take the default.
        return { value: col.def, warning: `${col.ini}: -1 (not configured) means the default '${String(col.def)}'` };
      }
      if (v === undefined) {
        const allowed = col.type.def.values.map((x) => `${x[0]} (${x[1]})`).join(', ');
        return { error: `${col.ini}: unknown value '${text}'; expected one of ${allowed}` };
      }
      return { value: v };
    }
    case 'codes': {
      if (cell.kind === 'empty') return { value: col.def };
      const codes = parseCodes(text);
      if (!codes) return { error: `${col.ini}: '${text}' is not a list of SIP response codes` };
      return { value: Object.freeze(codes) };
    }
  }
}

/**
 * Converts a JSON value (from the REST API) for a column exactly as the same text in an ini
 * cell would be: strings as quoted cells, numbers/booleans as bare ones; null = the default.
 */
export function convertJsonValue(col: ColumnDef, v: unknown): Converted {
  if (v === null || v === undefined) return { value: col.def };
  if (typeof v === 'boolean') return convertCell(col, { kind: 'bare', text: v ? '1' : '0', column: 0 });
  if (typeof v === 'number') return convertCell(col, { kind: 'bare', text: String(v), column: 0 });
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return convertCell(col, { kind: 'bare', text: v.join(','), column: 0 });
  if (typeof v === 'string') return convertCell(col, { kind: col.type.kind === 'string' ? 'quoted' : 'bare', text: v, column: 0 });
  return { error: `${col.ini}: a ${col.type.kind} value is expected` };
}

export function emptyTables(): { -readonly [K in TableKey]: SbcTables[K][number][] } {
  const t = {} as Record<TableKey, unknown[]>;
  for (const d of TABLES) t[d.configKey] = [];
  return t as { -readonly [K in TableKey]: SbcTables[K][number][] };
}

/** Builds a row of `def` from plain values, filling defaults (used by tests and the API). */
export function makeRow(def: TableDef, index: number, values: Record<string, Value>, file = '', line = 0): object {
  const row: Record<string, Value> = { index };
  for (const c of def.columns) row[c.key] = c.key in values ? values[c.key]! : c.def;
  return placeRow(row, file, line);
}

/**
 * Unsupported tables and columns go to `ignored` (reported by check-config), not to the
 * diagnostics: a device export is full of them and they are not mistakes.
 */
export function convertDocument(doc: IniDocument, file: string, diagnostics: Diagnostic[], ignored: IgnoredSetting[] = []): SbcTables {
  const tables = emptyTables();
  const warnedTables = new Set<string>();
  const seenTables = new Map<TableKey, number>();
  for (const raw of doc.tables) {
    const def = tableDef(raw.name);
    if (!def) {
      const k = raw.name.toLowerCase();
      if (!warnedTables.has(k)) {
        warnedTables.add(k);
        ignored.push({ kind: 'table', name: raw.name, file, line: raw.line, reason: 'not supported' });
      }
      continue;
    }
    const prevLine = seenTables.get(def.configKey);
    if (prevLine !== undefined) {
      diagnostics.push({ severity: 'warning', file, line: raw.line, message: `table ${def.name} appears again (first on line ${prevLine}); rows are merged` });
    } else {
      seenTables.set(def.configKey, raw.line);
    }
    const mapping: Array<ColumnDef | null> = [];
    const mapped = new Set<string>();
    for (const c of raw.columns) {
      if (c.name.toLowerCase() === 'index') {
        diagnostics.push({ severity: 'error', file, line: raw.formatLine, column: c.column, message: `column Index is the row index and cannot be a data column` });
        mapping.push(null);
        continue;
      }
      const col = findColumn(def, c.name);
      if (!col) {
        ignored.push({ kind: 'column', name: `${def.name}.${c.name}`, file, line: raw.formatLine, column: c.column, reason: 'not supported' });
        mapping.push(null);
      } else if (mapped.has(col.key)) {
        diagnostics.push({ severity: 'error', file, line: raw.formatLine, column: c.column, message: `column ${c.name} is a second spelling of ${col.ini}` });
        mapping.push(null);
      } else {
        mapped.add(col.key);
        mapping.push(col);
      }
    }
    const target = tables[def.configKey] as object[];
    const indexLines = new Map<number, number>();
    for (const r of target) indexLines.set((r as { index: number }).index, (r as { line: number }).line);
    for (const rawRow of raw.rows) {
      const firstLine = indexLines.get(rawRow.index);
      if (firstLine !== undefined) {
        diagnostics.push({ severity: 'error', file, line: rawRow.line, message: `duplicate index ${rawRow.index} in table ${def.name} (first on line ${firstLine})` });
        continue;
      }
      indexLines.set(rawRow.index, rawRow.line);
      const row: Record<string, Value> = { index: rawRow.index };
      const cols = new Map<string, number>();
      for (const c of def.columns) row[c.key] = c.def;
      for (let i = 0; i < rawRow.cells.length; i++) {
        const col = mapping[i];
        if (!col) continue;
        const cell = rawRow.cells[i]!;
        cols.set(col.key, cell.column);
        const r = convertCell(col, cell);
        if ('error' in r) {
          diagnostics.push({ severity: 'error', file, line: rawRow.line, column: cell.column, message: `${def.name} ${rawRow.index}: ${r.error}` });
        } else {
          row[col.key] = r.value;
          if (r.warning) diagnostics.push({ severity: 'warning', file, line: rawRow.line, column: cell.column, message: `${def.name} ${rawRow.index}: ${r.warning}` });
        }
      }
      const placed = placeRow(row, file, rawRow.line);
      cellColumns.set(placed, cols);
      target.push(placed);
    }
  }
  for (const k of Object.keys(tables) as TableKey[]) Object.freeze(tables[k]);
  return tables as SbcTables;
}
