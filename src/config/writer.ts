/**
 * SbcConfig -> ini text. The output reads back (loadConfigText) to a config
 * equal to the input; tables are written in the newer bare-column style.
 */
import { TABLES, enumCode, type ColumnDef, type TableDef } from './schema.js';
import { SCALARS, type SbcConfig } from './sbc-config.js';

export interface WriteOptions {
  /** Replace password columns by "*****" (for display; such a file no longer carries the secret). */
  readonly maskSecrets?: boolean;
  /** First comment line. */
  readonly header?: string;
}

export const MASK = '*****';

function quote(s: string): string {
  return s.includes('"') ? `'${s}'` : `"${s}"`;
}

function cellText(col: ColumnDef, value: unknown, mask: boolean): string {
  if (col.secret && mask && value !== '') return quote(MASK);
  switch (col.type.kind) {
    case 'string':
      return quote(String(value));
    case 'int':
      return String(value);
    case 'bool':
      return value ? '1' : '0';
    case 'enum':
      return String(enumCode(col.type.def, String(value)));
    case 'codes':
      return quote((value as readonly number[]).join(','));
  }
}

function scalarText(v: string): string {
  if (v === '') return '""';
  const first = v[0];
  const last = v[v.length - 1];
  if (v.trim() !== v || ((first === '"' || first === "'") && first === last) || v.includes(';')) return quote(v);
  return v;
}

export function writeIni(config: SbcConfig, options: WriteOptions = {}): string {
  const mask = options.maskSecrets === true;
  const out: string[] = [];
  out.push(`; ${options.header ?? 'SBC configuration written by the SBC'}`);
  out.push('');
  const specNames = new Map(SCALARS.map((s) => [s.name.toLowerCase(), s.name]));
  const names = [...config.scalars.keys()].sort();
  if (names.length > 0) {
    out.push('[SBC Params]');
    for (const k of names) {
      let v = config.scalars.get(k)!;
      if (mask && k.includes('password') && v !== '') v = MASK;
      out.push(`${specNames.get(k) ?? k} = ${scalarText(v)}`);
    }
    out.push('');
  }
  for (const def of TABLES) {
    const rows = config[def.configKey] as unknown as ReadonlyArray<Record<string, unknown> & { index: number }>;
    if (rows.length === 0) continue;
    out.push(...tableLines(def, rows, mask));
    out.push('');
  }
  return out.join('\n');
}

/** One table block: header, FORMAT with every column, data lines, end mark. */
export function tableLines(def: TableDef, rows: ReadonlyArray<Record<string, unknown> & { index: number }>, mask = false): string[] {
  const out: string[] = [];
  out.push(`[ ${def.name} ]`);
  out.push(`FORMAT Index = ${def.columns.map((c) => c.ini).join(', ')};`);
  for (const row of rows) {
    out.push(`${def.name} ${row.index} = ${def.columns.map((c) => cellText(c, row[c.key], mask)).join(', ')};`);
  }
  out.push(`[ \\${def.name} ]`);
  return out;
}
