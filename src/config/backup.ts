/**
 * Backups of the active ini file: a copy on every accepted change and one a
 * day at a configured time, in a backup directory, keeping the newest `keep`
 * copies (default 5, the retention a monitoring platform usually applies).
 *
 * File names sort by time: `<ini name>.<YYYYMMDD-HHMMSS-mmm>.<daily|change>.ini`.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

export interface BackupLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BackupOptions {
  readonly dir: string;
  /** The active ini file (its base name prefixes the backups). */
  readonly sourceFile: string;
  readonly keep: number;
  /** Local time of the daily backup, `hh:mm` or `hh:mm:ss`; null = no daily backup. */
  readonly dailyTime: string | null;
  readonly logger?: BackupLogger;
}

/** Parses `hh:mm[:ss]` into seconds after midnight, or null. */
export function parseTimeOfDay(text: string): number | null {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const s = Number(m[3] ?? '0');
  if (h > 23 || min > 59 || s > 59) return null;
  return h * 3600 + min * 60 + s;
}

/** Milliseconds from `now` to the next local `secondsOfDay` (strictly in the future). */
export function msUntil(secondsOfDay: number, now: Date): number {
  const next = new Date(now);
  next.setHours(0, 0, 0, 0);
  next.setSeconds(secondsOfDay);
  if (next.getTime() <= now.getTime()) next.setDate(next.getDate() + 1);
  return next.getTime() - now.getTime();
}

function stamp(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${p(d.getMilliseconds(), 3)}`;
}

export class ConfigBackups {
  #opts: BackupOptions;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  #text: () => string = () => '';
  #last = '';

  constructor(opts: BackupOptions) {
    this.#opts = opts;
  }

  get dir(): string {
    return this.#opts.dir;
  }

  /** Applies new retention / daily time (e.g. after a reload changed them). */
  configure(keep: number, dailyTime: string | null): void {
    const changedTime = dailyTime !== this.#opts.dailyTime;
    this.#opts = { ...this.#opts, keep, dailyTime };
    if (changedTime && this.#started) this.#schedule();
  }

  /** Starts the daily timer; `text` gives the active ini text when it fires. */
  start(text: () => string): void {
    this.#text = text;
    this.#started = true;
    this.#schedule();
  }

  stop(): void {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const t = this.#opts.dailyTime === null ? null : parseTimeOfDay(this.#opts.dailyTime);
    if (t === null) return;
    this.#timer = setTimeout(() => {
      void this.backup(this.#text(), 'daily').finally(() => this.#schedule());
    }, msUntil(t, new Date()));
    this.#timer.unref();
  }

  /** Writes one backup and prunes to `keep`; returns its path, or null when it failed (logged). */
  async backup(text: string, reason: 'daily' | 'change', now = new Date()): Promise<string | null> {
    const { dir, sourceFile, keep, logger } = this.#opts;
    const base = basename(sourceFile);
    // Two backups in one millisecond (a change right at the daily time) must not overwrite each other.
    let name = `${base}.${stamp(now)}.${reason}.ini`;
    if (name <= this.#last) name = `${this.#last.slice(0, -4)}+.ini`;
    this.#last = name;
    const path = join(dir, name);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(path, text, 0o600);
      const all = (await readdir(dir)).filter((n) => n.startsWith(`${base}.`) && n.endsWith('.ini') && !n.startsWith('.')).sort();
      for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) await rm(join(dir, old), { force: true });
      logger?.info({ backup: path, reason }, 'configuration backed up');
      return path;
    } catch (err) {
      logger?.error({ err, dir }, 'configuration backup failed');
      return null;
    }
  }
}
