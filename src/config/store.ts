/**
 * Holds the running configuration and swaps it on reload. A reload validates
 * the whole file first: an invalid file changes nothing. The swap is a single
 * reference assignment, so whoever took `current()` for a call keeps a
 * consistent (frozen) configuration until the call ends.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { formatDiagnostic, type Diagnostic } from './diagnostics.js';
import { loadConfigText } from './load.js';
import { TABLES, type ColumnDef } from './schema.js';
import type { SbcConfig } from './sbc-config.js';
import { MASK } from './writer.js';

/** The subset of a pino logger the store uses. */
export interface ConfigLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly diagnostics: Diagnostic[];
  /** Human summary of what changed (passwords masked); empty when nothing changed or on failure. */
  readonly changes: string[];
}

function isSecretScalar(name: string): boolean {
  const n = name.toLowerCase();
  return n.includes('password') || n.includes('secret') || n.endsWith('key') || n.endsWith('keyfile');
}

function show(col: ColumnDef | null, v: unknown): string {
  if (Array.isArray(v)) return `"${v.join(',')}"`;
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

function rowLabel(def: (typeof TABLES)[number], row: Record<string, unknown> & { index: number }): string {
  const name = def.nameKey ? row[def.nameKey] : undefined;
  return name ? `${def.name} ${row.index} (${String(name)})` : `${def.name} ${row.index}`;
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/** Lists what differs between two configurations; secret values are never shown. */
export function describeChanges(before: SbcConfig, after: SbcConfig): string[] {
  const out: string[] = [];
  const keys = new Set([...before.scalars.keys(), ...after.scalars.keys()]);
  for (const k of [...keys].sort()) {
    const a = before.scalars.get(k);
    const b = after.scalars.get(k);
    if (a === b) continue;
    const secret = isSecretScalar(k);
    if (a === undefined) out.push(`parameter ${k} set to ${secret ? MASK : `'${b}'`}`);
    else if (b === undefined) out.push(`parameter ${k} removed`);
    else out.push(secret ? `parameter ${k} changed (value hidden)` : `parameter ${k}: '${a}' -> '${b}'`);
  }
  for (const def of TABLES) {
    type Row = Record<string, unknown> & { index: number };
    const oldRows = new Map((before[def.configKey] as unknown as readonly Row[]).map((r) => [r.index, r]));
    const newRows = new Map((after[def.configKey] as unknown as readonly Row[]).map((r) => [r.index, r]));
    for (const [i, r] of oldRows) if (!newRows.has(i)) out.push(`${rowLabel(def, r)} removed`);
    for (const [i, r] of newRows) {
      const o = oldRows.get(i);
      if (!o) {
        out.push(`${rowLabel(def, r)} added`);
        continue;
      }
      const diffs: string[] = [];
      for (const c of def.columns) {
        if (same(o[c.key], r[c.key])) continue;
        diffs.push(c.secret ? `${c.ini} changed (value hidden)` : `${c.ini} ${show(c, o[c.key])} -> ${show(c, r[c.key])}`);
      }
      if (diffs.length > 0) out.push(`${rowLabel(def, r)}: ${diffs.join(', ')}`);
    }
  }
  return out;
}

export interface ConfigStoreEvents {
  change: [summary: { changes: string[]; config: SbcConfig; previous: SbcConfig }];
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  #current: SbcConfig;
  #pending: Promise<ReloadResult> | null = null;
  readonly file: string;
  readonly #logger: ConfigLogger | undefined;

  constructor(file: string, initial: SbcConfig, logger?: ConfigLogger) {
    super();
    this.file = file;
    this.#current = initial;
    this.#logger = logger;
  }

  /** Loads `file`; the store is null when the file has errors. */
  static async open(file: string, logger?: ConfigLogger): Promise<{ store: ConfigStore | null; diagnostics: Diagnostic[] }> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      return { store: null, diagnostics: [{ severity: 'error', file, line: 0, message: `cannot read the configuration: ${reason}` }] };
    }
    const r = loadConfigText(text, file);
    if (!r.config) return { store: null, diagnostics: r.diagnostics };
    return { store: new ConfigStore(file, r.config, logger), diagnostics: r.diagnostics };
  }

  current(): SbcConfig {
    return this.#current;
  }

  /**
   * Re-reads the file (or uses `text`, e.g. uploaded through the REST API) and swaps the
   * configuration if it is valid. Concurrent calls are serialised.
   */
  reload(text?: string): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => this.#reload(text);
    const p = (this.#pending ?? Promise.resolve()).then(run, run);
    this.#pending = p;
    return p;
  }

  async #reload(text: string | undefined): Promise<ReloadResult> {
    let source = text;
    if (source === undefined) {
      try {
        source = await readFile(this.file, 'utf8');
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        const diagnostics: Diagnostic[] = [{ severity: 'error', file: this.file, line: 0, message: `cannot read the configuration: ${reason}` }];
        this.#logger?.error({ file: this.file, errors: diagnostics.map(formatDiagnostic) }, 'configuration reload refused; the running configuration is kept');
        return { ok: false, diagnostics, changes: [] };
      }
    }
    const r = loadConfigText(source, this.file);
    if (!r.config) {
      this.#logger?.error(
        { file: this.file, errors: r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic) },
        'configuration reload refused; the running configuration is kept',
      );
      return { ok: false, diagnostics: r.diagnostics, changes: [] };
    }
    const previous = this.#current;
    const changes = describeChanges(previous, r.config);
    this.#current = r.config;
    if (changes.length > 0) this.#logger?.info({ file: this.file, changes }, 'configuration reloaded');
    else this.#logger?.info({ file: this.file }, 'configuration reloaded; nothing changed');
    for (const d of r.diagnostics) if (d.severity === 'warning') this.#logger?.warn({ diagnostic: formatDiagnostic(d) }, 'configuration warning');
    this.emit('change', { changes, config: r.config, previous });
    return { ok: true, diagnostics: r.diagnostics, changes };
  }

  /** Reloads on SIGHUP; returns a function that removes the handler. */
  reloadOnSighup(): () => void {
    const handler = (): void => {
      void this.reload();
    };
    process.on('SIGHUP', handler);
    return () => {
      process.off('SIGHUP', handler);
    };
  }
}
