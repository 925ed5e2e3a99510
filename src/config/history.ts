/**
 * Configuration history: every accepted configuration is a version with its
 * time, origin, the semantic diff against the version before (secrets masked)
 * and the full ini text.
 *
 * Store: a directory holding an append-only log (`versions.jsonl`, one JSON
 * object per line, fsynced after each append) and one snapshot file per
 * version (`v000042.ini`, written atomically, mode 0600 because it holds
 * passwords). Why not an embedded database: the data is small, written a few
 * times a day and read rarely; a text log plus plain ini files needs no native
 * dependency, survives a crash (a torn last log line is skipped on open), and
 * an operator can read and restore a version with `cat` and `cp`.
 *
 * Retention: at most `maxVersions` versions are kept; older snapshots are
 * deleted and the log is rewritten (atomically) without them. Version numbers
 * never restart.
 */
import { appendFile, mkdir, open, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

export interface ConfigOrigin {
  /** startup: loaded at start; file: re-read on SIGHUP; api: REST (PUT or row edit); rollback: back to an older version. */
  readonly kind: 'startup' | 'file' | 'api' | 'rollback';
  /** Who asked, when known (API user once the API authenticates; today the client's address). */
  readonly user?: string;
  /** e.g. `PUT /api/v1/config`, `PATCH IP2IPRouting 2`, `rollback to version 3`. */
  readonly detail?: string;
}

export interface ConfigVersion {
  readonly version: number;
  /** ISO 8601 time the version was accepted. */
  readonly time: string;
  readonly origin: ConfigOrigin;
  /** Semantic diff against the previous version, one line per change (secrets masked). */
  readonly changes: readonly string[];
  /** SHA-256 of the ini text. */
  readonly sha256: string;
  readonly bytes: number;
}

export interface HistoryLogger {
  warn(obj: object, msg: string): void;
}

const LOG = 'versions.jsonl';

function snapshotName(version: number): string {
  return `v${String(version).padStart(6, '0')}.ini`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function isVersion(v: unknown): v is ConfigVersion {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return Number.isInteger(o['version']) && typeof o['time'] === 'string' && typeof o['origin'] === 'object' && o['origin'] !== null
    && Array.isArray(o['changes']) && typeof o['sha256'] === 'string';
}

export class ConfigHistory {
  readonly dir: string;
  readonly #maxVersions: number;
  readonly #logger: HistoryLogger | undefined;
  #versions: ConfigVersion[];

  private constructor(dir: string, maxVersions: number, versions: ConfigVersion[], logger: HistoryLogger | undefined) {
    this.dir = dir;
    this.#maxVersions = maxVersions;
    this.#versions = versions;
    this.#logger = logger;
  }

  /** Opens (creating) the history directory and reads its log; unreadable lines and versions without a snapshot are skipped. */
  static async open(dir: string, opts: { maxVersions: number; logger?: HistoryLogger }): Promise<ConfigHistory> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let text = '';
    try {
      text = await readFile(join(dir, LOG), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const versions: ConfigVersion[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!.trim();
      if (l === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        // A crash during an append leaves a torn last line.
        opts.logger?.warn({ dir, line: i + 1 }, 'configuration history: unreadable log line skipped');
        continue;
      }
      if (!isVersion(v)) continue;
      if (versions.length > 0 && v.version <= versions[versions.length - 1]!.version) continue;
      versions.push(v);
    }
    return new ConfigHistory(dir, Math.max(1, opts.maxVersions), versions, opts.logger);
  }

  list(): readonly ConfigVersion[] {
    return this.#versions;
  }

  latest(): ConfigVersion | undefined {
    return this.#versions[this.#versions.length - 1];
  }

  get(version: number): ConfigVersion | undefined {
    return this.#versions.find((v) => v.version === version);
  }

  /** The ini text of a version, or null when it is unknown or its snapshot is gone. */
  async text(version: number): Promise<string | null> {
    if (!this.get(version)) return null;
    try {
      return await readFile(join(this.dir, snapshotName(version)), 'utf8');
    } catch {
      return null;
    }
  }

  /** Records a new version: snapshot first, then the log line, so a logged version always has its text. */
  async record(text: string, origin: ConfigOrigin, changes: readonly string[], now = new Date()): Promise<ConfigVersion> {
    const version = (this.latest()?.version ?? 0) + 1;
    await writeFileAtomic(join(this.dir, snapshotName(version)), text, 0o600);
    const entry: ConfigVersion = {
      version, time: now.toISOString(), origin, changes: [...changes], sha256: sha256(text), bytes: Buffer.byteLength(text),
    };
    const logPath = join(this.dir, LOG);
    await appendFile(logPath, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    const fh = await open(logPath, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.#versions.push(entry);
    await this.#prune();
    return entry;
  }

  async #prune(): Promise<void> {
    const excess = this.#versions.length - this.#maxVersions;
    if (excess <= 0) return;
    const dropped = this.#versions.slice(0, excess);
    this.#versions = this.#versions.slice(excess);
    // Log first: a crash after it leaves orphan snapshots (harmless), never a logged version without text.
    await writeFileAtomic(join(this.dir, LOG), this.#versions.map((v) => `${JSON.stringify(v)}\n`).join(''), 0o600);
    for (const v of dropped) {
      await rm(join(this.dir, snapshotName(v.version)), { force: true }).catch((err: unknown) => {
        this.#logger?.warn({ err, version: v.version }, 'configuration history: old snapshot not deleted');
      });
    }
  }
}
