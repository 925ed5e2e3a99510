/**
 * Holds the running configuration and swaps it. Every change (SIGHUP re-read,
 * REST PUT or row edit, rollback) takes one path: validate the whole text
 * first (an invalid text changes nothing and records nothing), write the file
 * back atomically when the text did not come from the file, swap, record a
 * version in the history, copy a backup. The swap is a single reference
 * assignment, so whoever took `current()` for a call keeps a consistent
 * (frozen) configuration until the call ends. Changes are serialised.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { removeStaleTemps, writeFileAtomic } from './atomic-file.js';
import type { ConfigBackups } from './backup.js';
import { formatDiagnostic, type Diagnostic } from './diagnostics.js';
import { diffConfigs, formatDiff } from './diff.js';
import { sha256, type ConfigHistory, type ConfigOrigin, type ConfigVersion } from './history.js';
import { loadConfigText } from './load.js';
import type { SbcConfig } from './sbc-config.js';
import { summarizeIgnored, type IgnoredSetting } from './support.js';

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
  /** Read but not acted on (see support.ts). */
  readonly ignored?: IgnoredSetting[];
  /** The version recorded for this change; null when nothing was recorded (refused, same text, or no history). */
  readonly version?: ConfigVersion | null;
}

/** Lists what differs between two configurations; secret values are never shown. */
export function describeChanges(before: SbcConfig, after: SbcConfig): string[] {
  return formatDiff(diffConfigs(before, after));
}

export interface ConfigStoreEvents {
  change: [summary: { changes: string[]; config: SbcConfig; previous: SbcConfig; version: ConfigVersion | null }];
}

function readError(file: string, e: unknown): Diagnostic[] {
  const reason = e instanceof Error ? e.message : String(e);
  return [{ severity: 'error', file, line: 0, message: `cannot read the configuration: ${reason}` }];
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  #current: SbcConfig;
  #text: string;
  #pending: Promise<unknown> = Promise.resolve();
  #history: ConfigHistory | null = null;
  #backups: ConfigBackups | null = null;
  readonly file: string;
  readonly #logger: ConfigLogger | undefined;

  constructor(file: string, initial: SbcConfig, logger?: ConfigLogger, text = '') {
    super();
    this.file = file;
    this.#current = initial;
    this.#text = text;
    this.#logger = logger;
  }

  /**
   * Loads `file`; the store is null when the file has errors. Temporary files a crash left
   * beside it (an interrupted atomic write) are deleted unread first.
   */
  static async open(file: string, logger?: ConfigLogger): Promise<{ store: ConfigStore | null; diagnostics: Diagnostic[]; ignored: IgnoredSetting[] }> {
    const stale = await removeStaleTemps(file);
    if (stale.length > 0) logger?.warn({ file, stale }, 'stale temporary configuration files from an interrupted write ignored and removed');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      return { store: null, diagnostics: readError(file, e), ignored: [] };
    }
    const r = loadConfigText(text, file);
    if (!r.config) return { store: null, diagnostics: r.diagnostics, ignored: r.ignored };
    return { store: new ConfigStore(file, r.config, logger, text), diagnostics: r.diagnostics, ignored: r.ignored };
  }

  current(): SbcConfig {
    return this.#current;
  }

  /** The ini text of the running configuration. */
  text(): string {
    return this.#text;
  }

  get history(): ConfigHistory | null {
    return this.#history;
  }

  get backups(): ConfigBackups | null {
    return this.#backups;
  }

  /**
   * Attaches history and backups and records the running text as a version when it differs
   * from the newest recorded one (first start, or the file was edited while the SBC was down).
   */
  async attach(history: ConfigHistory | null, backups: ConfigBackups | null): Promise<ConfigVersion | null> {
    this.#history = history;
    this.#backups = backups;
    backups?.start(() => this.#text);
    if (!history) return null;
    const latest = history.latest();
    if (latest && latest.sha256 === sha256(this.#text)) return null;
    let changes: string[] = [];
    if (latest) {
      const before = await history.text(latest.version);
      const prev = before === null ? null : loadConfigText(before, this.file).config;
      changes = prev ? describeChanges(prev, this.#current) : ['(previous version unreadable)'];
    }
    return history.record(this.#text, { kind: 'startup' }, changes);
  }

  /** Validates a text against the running configuration; nothing is applied. */
  validate(text: string): ReloadResult {
    const r = loadConfigText(text, this.file);
    return { ok: r.config !== null, diagnostics: r.diagnostics, ignored: r.ignored, changes: r.config ? describeChanges(this.#current, r.config) : [], version: null };
  }

  /** Re-reads the file (SIGHUP) — or applies `text` as if it were the file's — and swaps if valid. */
  reload(text?: string, origin: ConfigOrigin = { kind: 'file', detail: 'SIGHUP' }): Promise<ReloadResult> {
    return this.#serialise(async () => {
      let source = text;
      if (source === undefined) {
        try {
          source = await readFile(this.file, 'utf8');
        } catch (e) {
          const diagnostics = readError(this.file, e);
          this.#logger?.error({ file: this.file, errors: diagnostics.map(formatDiagnostic) }, 'configuration reload refused; the running configuration is kept');
          return { ok: false, diagnostics, changes: [], version: null };
        }
      }
      return this.#apply(source, origin, false);
    });
  }

  /** Applies a text from outside the file (REST): validated, written back to the file atomically, swapped, recorded. */
  apply(text: string, origin: ConfigOrigin): Promise<ReloadResult> {
    return this.#serialise(() => this.#apply(text, origin, true));
  }

  /**
   * Builds a text from the running one and applies it, in one serialised step (so two row
   * edits cannot both start from the same text and lose one of them).
   */
  edit<E>(build: (text: string, config: SbcConfig) => { text: string; origin: ConfigOrigin } | E): Promise<ReloadResult | E> {
    return this.#serialise(async () => {
      const b = build(this.#text, this.#current);
      if (typeof b === 'object' && b !== null && 'text' in b && 'origin' in b) {
        const ok = b as { text: string; origin: ConfigOrigin };
        return this.#apply(ok.text, ok.origin, true);
      }
      return b as E;
    });
  }

  /** Makes an older version current again, through the same path as any change; the rollback is a new version. */
  rollback(version: number, origin: Omit<ConfigOrigin, 'kind'> = {}): Promise<ReloadResult | { ok: false; notFound: true }> {
    return this.#serialise(async () => {
      const text = this.#history ? await this.#history.text(version) : null;
      if (text === null) return { ok: false as const, notFound: true as const };
      return this.#apply(text, { ...origin, kind: 'rollback', detail: origin.detail ?? `rollback to version ${version}` }, true);
    });
  }

  #serialise<T>(run: () => Promise<T>): Promise<T> {
    const p = this.#pending.then(run, run);
    this.#pending = p.catch(() => undefined);
    return p;
  }

  async #apply(source: string, origin: ConfigOrigin, writeBack: boolean): Promise<ReloadResult> {
    const r = loadConfigText(source, this.file);
    if (!r.config) {
      this.#logger?.error(
        { file: this.file, origin, errors: r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic) },
        'configuration reload refused; the running configuration is kept',
      );
      return { ok: false, diagnostics: r.diagnostics, ignored: r.ignored, changes: [], version: null };
    }
    const sameText = source === this.#text;
    if (writeBack && !sameText) {
      try {
        await writeFileAtomic(this.file, source, 0o644, 'config-write-before-rename');
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        const diagnostics: Diagnostic[] = [{ severity: 'error', file: this.file, line: 0, message: `cannot write the configuration: ${reason}` }];
        this.#logger?.error({ file: this.file, origin, reason }, 'configuration change refused: the file cannot be written; the running configuration is kept');
        return { ok: false, diagnostics, ignored: r.ignored, changes: [], version: null };
      }
    }
    const previous = this.#current;
    const changes = describeChanges(previous, r.config);
    this.#current = r.config;
    this.#text = source;
    let version: ConfigVersion | null = null;
    if (!sameText && this.#history) {
      try {
        version = await this.#history.record(source, origin, changes);
      } catch (err) {
        this.#logger?.error({ err, dir: this.#history.dir }, 'configuration history could not record the change');
      }
    }
    if (!sameText) await this.#backups?.backup(source, 'change');
    const ignored = r.ignored.length > 0 ? { ignored: summarizeIgnored(r.ignored) } : {};
    const v = version ? { version: version.version } : {};
    if (changes.length > 0) this.#logger?.info({ file: this.file, origin, changes, ...v, ...ignored }, 'configuration reloaded');
    else this.#logger?.info({ file: this.file, origin, ...v, ...ignored }, 'configuration reloaded; nothing changed');
    for (const d of r.diagnostics) if (d.severity === 'warning') this.#logger?.warn({ diagnostic: formatDiagnostic(d) }, 'configuration warning');
    this.emit('change', { changes, config: r.config, previous, version });
    return { ok: true, diagnostics: r.diagnostics, ignored: r.ignored, changes, version };
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
