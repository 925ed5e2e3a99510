/**
 * Lexer/parser for the Mediant ini grammar. It knows nothing about which
 * tables exist: it produces scalars and raw tables (strings with positions),
 * and collects every syntax problem instead of stopping at the first one, so
 * an operator sees all mistakes of a hand-edited file in one run.
 */
import type { Diagnostic } from './diagnostics.js';

export interface IniScalar {
  /** Name as written (case preserved); lookups lower-case it. */
  readonly name: string;
  readonly value: string;
  readonly line: number;
  /** Section header (`[SIP Params]`) the scalar appeared under, if any. */
  readonly section: string | null;
}

/**
 * One cell of a data line.
 * - `default`: `$$`, the column's default.
 * - `empty`: nothing between the commas (Mediant exports do this); treated as default
 *   for non-string columns and as the empty string for strings.
 * - `quoted`: a "string" or 'string'; `text` has the quotes removed.
 * - `bare`: an unquoted token (number, enum code, or an unquoted word).
 */
export interface IniCell {
  readonly kind: 'default' | 'empty' | 'quoted' | 'bare';
  readonly text: string;
  /** 1-based column of the cell's first character. */
  readonly column: number;
}

export interface IniRow {
  readonly index: number;
  readonly line: number;
  readonly cells: readonly IniCell[];
}

export interface IniFormatColumn {
  /** Column name without the `Table_` prefix, case preserved. */
  readonly name: string;
  readonly column: number;
}

export interface IniTable {
  /** Table name as written in the header. */
  readonly name: string;
  /** Line of the `[ Table ]` header. */
  readonly line: number;
  /** Line of the FORMAT line (0 if missing). */
  readonly formatLine: number;
  readonly columns: readonly IniFormatColumn[];
  readonly rows: readonly IniRow[];
}

export interface IniDocument {
  readonly scalars: readonly IniScalar[];
  readonly tables: readonly IniTable[];
}

export interface IniParseResult {
  readonly document: IniDocument;
  readonly diagnostics: Diagnostic[];
}

interface OpenTable {
  name: string;
  line: number;
  formatLine: number;
  columns: IniFormatColumn[] | null;
  rows: IniRow[];
}

function splitLines(text: string): string[] {
  // Exports from Windows tools carry CRLF; a stray lone CR is treated as a break too.
  return text.split(/\r\n|\n|\r/);
}

function stripTablePrefix(table: string, column: string): string {
  const p = table.length + 1;
  if (column.length > p && column[table.length] === '_' && column.slice(0, table.length).toLowerCase() === table.toLowerCase()) {
    return column.slice(p);
  }
  return column;
}

function unquoteScalar(v: string): string {
  if (v.length >= 2) {
    const q = v[0];
    if ((q === '"' || q === "'") && v[v.length - 1] === q) return v.slice(1, -1);
  }
  return v;
}

/**
 * Splits a comma-separated value list, honouring double and single quotes.
 * `offset` is the 0-based position of `body` in the line, for cell columns.
 */
function splitCells(body: string, offset: number, err: (col: number, msg: string) => void): IniCell[] {
  const cells: IniCell[] = [];
  let i = 0;
  const n = body.length;
  for (;;) {
    while (i < n && (body[i] === ' ' || body[i] === '\t')) i++;
    const start = i;
    let kind: IniCell['kind'];
    let text: string;
    const c = body[i];
    if (c === '"' || c === "'") {
      const close = body.indexOf(c, i + 1);
      if (close < 0) {
        err(offset + start + 1, `unterminated quoted string`);
        text = body.slice(i + 1);
        i = n;
      } else {
        text = body.slice(i + 1, close);
        i = close + 1;
      }
      kind = 'quoted';
      while (i < n && (body[i] === ' ' || body[i] === '\t')) i++;
      if (i < n && body[i] !== ',') {
        err(offset + i + 1, `unexpected text after quoted string`);
        const comma = body.indexOf(',', i);
        i = comma < 0 ? n : comma;
      }
    } else {
      let end = body.indexOf(',', i);
      if (end < 0) end = n;
      text = body.slice(i, end).trim();
      i = end;
      kind = text === '' ? 'empty' : text === '$$' ? 'default' : 'bare';
    }
    cells.push({ kind, text, column: offset + start + 1 });
    if (i >= n) break;
    i++; // the comma
  }
  return cells;
}

const INDEX_RE = /^\d+$/;

export function parseIni(text: string, file: string): IniParseResult {
  const diagnostics: Diagnostic[] = [];
  const scalars: IniScalar[] = [];
  const tables: IniTable[] = [];
  const lines = splitLines(text);
  let open: OpenTable | null = null;
  let section: string | null = null;

  const error = (line: number, message: string, column?: number): void => {
    diagnostics.push(column === undefined ? { severity: 'error', file, line, message } : { severity: 'error', file, line, column, message });
  };
  const warn = (line: number, message: string, column?: number): void => {
    diagnostics.push(column === undefined ? { severity: 'warning', file, line, message } : { severity: 'warning', file, line, column, message });
  };

  const closeTable = (t: OpenTable): void => {
    tables.push({ name: t.name, line: t.line, formatLine: t.formatLine, columns: t.columns ?? [], rows: t.rows });
  };

  /**
   * What follows a `[ Name ]` header (distinguishes a table from a section header): a FORMAT line,
   * the table's own end mark with only comments between (an empty table, as device exports write
   * hidden tables), or anything else. `at` is the index of that line.
   */
  const nextAfterHeader = (from: number, name: string): { kind: 'format' | 'end' | 'other'; at: number } => {
    for (let j = from + 1; j < lines.length; j++) {
      const t = lines[j]!.trim();
      if (t === '' || t.startsWith(';')) continue;
      if (/^format\s/i.test(t)) return { kind: 'format', at: j };
      const end = /^\[\s*[\\/]\s*([^\]]*?)\s*\]/.exec(t);
      if (end && end[1]!.toLowerCase() === name.toLowerCase()) return { kind: 'end', at: j };
      return { kind: 'other', at: j };
    }
    return { kind: 'other', at: lines.length };
  };

  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    const raw = lines[li]!;
    const lead = raw.length - raw.trimStart().length;
    const t = raw.trim();
    if (t === '' || t.startsWith(';')) continue;

    if (t.startsWith('[')) {
      const close = t.indexOf(']');
      if (close < 0) {
        error(lineNo, `missing ']' in header`, lead + 1);
        continue;
      }
      if (t.slice(close + 1).trim() !== '' && !t.slice(close + 1).trim().startsWith(';')) {
        warn(lineNo, `text after ']' ignored`, lead + close + 2);
      }
      const inner = t.slice(1, close).trim();
      if (inner.startsWith('\\') || inner.startsWith('/')) {
        const endName = inner.slice(1).trim();
        if (!open) {
          error(lineNo, `end mark [ \\${endName} ] without an open table`, lead + 1);
        } else if (endName.toLowerCase() !== open.name.toLowerCase()) {
          error(lineNo, `end mark [ \\${endName} ] does not match open table ${open.name} (opened on line ${open.line})`, lead + 1);
          closeTable(open);
          open = null;
        } else {
          if (!open.columns) error(open.line, `table ${open.name} has no FORMAT line`);
          closeTable(open);
          open = null;
        }
        continue;
      }
      if (inner === '') {
        error(lineNo, `empty header []`, lead + 1);
        continue;
      }
      const next = nextAfterHeader(li, inner);
      if (next.kind === 'end') {
        if (open) {
          error(open.line, `table ${open.name} is not closed (missing [ \\${open.name} ] before line ${lineNo})`);
          closeTable(open);
          open = null;
        }
        // A Mediant export writes tables it hides as "[ Name ]" ... "[ \Name ]" with no FORMAT line;
        // the device loads them as empty, and so do we.
        warn(lineNo, `table ${inner} is empty (no FORMAT line, as device exports write hidden tables); ignored`);
        li = next.at;
        continue;
      }
      if (next.kind === 'format') {
        if (open) {
          error(open.line, `table ${open.name} is not closed (missing [ \\${open.name} ] before line ${lineNo})`);
          closeTable(open);
        }
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) error(lineNo, `invalid table name '${inner}'`, lead + 2);
        open = { name: inner, line: lineNo, formatLine: 0, columns: null, rows: [] };
      } else {
        if (open) {
          error(open.line, `table ${open.name} is not closed (missing [ \\${open.name} ] before line ${lineNo})`);
          closeTable(open);
          open = null;
        }
        section = inner;
      }
      continue;
    }

    if (open) {
      // Either FORMAT or a data line "Table idx = v, v;".
      let body = t;
      let semicolon = true;
      if (body.endsWith(';')) body = body.slice(0, -1);
      else semicolon = false;
      const eq = body.indexOf('=');
      if (eq < 0) {
        error(lineNo, `expected 'FORMAT ...' or '${open.name} <index> = values;' inside table ${open.name}`, lead + 1);
        continue;
      }
      const left = body.slice(0, eq).trim();
      const right = body.slice(eq + 1);
      const rightOffset = lead + eq + 1;
      const words = left.split(/\s+/);
      if (words[0]!.toLowerCase() === 'format') {
        if (!semicolon) warn(lineNo, `FORMAT line should end with ';'`);
        if (open.columns) {
          error(lineNo, `second FORMAT line in table ${open.name} (first on line ${open.formatLine})`, lead + 1);
          continue;
        }
        if (words.length !== 2) {
          error(lineNo, `FORMAT must name the index column: 'FORMAT ${open.name}_Index = ...'`, lead + 1);
        }
        const cols: IniFormatColumn[] = [];
        const seen = new Set<string>();
        const cells = splitCells(right, rightOffset, (col, msg) => error(lineNo, msg, col));
        for (const c of cells) {
          if (c.text === '') {
            error(lineNo, `empty column name in FORMAT`, c.column);
            continue;
          }
          const name = stripTablePrefix(open.name, c.text);
          const key = name.toLowerCase();
          if (seen.has(key)) {
            error(lineNo, `column ${name} listed twice in FORMAT`, c.column);
            continue;
          }
          seen.add(key);
          cols.push({ name, column: c.column });
        }
        open.columns = cols;
        open.formatLine = lineNo;
        continue;
      }
      if (words.length !== 2) {
        error(lineNo, `expected '${open.name} <index> = values;'`, lead + 1);
        continue;
      }
      if (words[0]!.toLowerCase() !== open.name.toLowerCase()) {
        error(lineNo, `data line names table ${words[0]} inside table ${open.name}`, lead + 1);
        continue;
      }
      if (!INDEX_RE.test(words[1]!)) {
        error(lineNo, `row index '${words[1]}' is not a non-negative integer`, lead + words[0]!.length + 2);
        continue;
      }
      if (!semicolon) warn(lineNo, `data line should end with ';'`);
      if (!open.columns) {
        error(lineNo, `data line before the FORMAT line of table ${open.name}`, lead + 1);
        continue;
      }
      let cells = splitCells(right, rightOffset, (col, msg) => error(lineNo, msg, col));
      // "Table 0 = ;" with no data columns is one empty cell; normalise.
      if (open.columns.length === 0 && cells.length === 1 && cells[0]!.kind === 'empty') cells = [];
      if (cells.length > open.columns.length) {
        error(lineNo, `${cells.length} values but FORMAT (line ${open.formatLine}) lists ${open.columns.length} columns`, cells[open.columns.length]!.column);
        cells = cells.slice(0, open.columns.length);
      } else if (cells.length < open.columns.length) {
        warn(lineNo, `${cells.length} values but FORMAT (line ${open.formatLine}) lists ${open.columns.length} columns; the missing ones take their defaults`);
      }
      open.rows.push({ index: Number(words[1]), line: lineNo, cells });
      continue;
    }

    // Scalar parameter.
    const eq = t.indexOf('=');
    if (eq <= 0) {
      if (/^format\s/i.test(t)) error(lineNo, `FORMAT line outside a table`, lead + 1);
      else error(lineNo, `expected 'Name = Value'`, lead + 1);
      continue;
    }
    const name = t.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.\-]*$/.test(name)) {
      error(lineNo, `invalid parameter name '${name}'`, lead + 1);
      continue;
    }
    let value = t.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && (value.length < 2 || value[value.length - 1] !== q)) {
      error(lineNo, `unterminated quoted value`, lead + eq + 2);
      continue;
    }
    value = unquoteScalar(value);
    scalars.push({ name, value, line: lineNo, section });
  }
  if (open) {
    error(open.line, `table ${open.name} is not closed (missing [ \\${open.name} ] at end of file)`);
    closeTable(open);
  }
  return { document: { scalars, tables }, diagnostics };
}
