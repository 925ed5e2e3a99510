/**
 * Journal of active calls, so that a crash (kill -9, power loss) does not
 * leave both peers holding dead calls and no CDR: the engine records a call
 * when it connects (with what is needed to send BYE on both legs and to
 * write its end CDR) and removes it when it ends. After a restart,
 * `ActiveCallJournal.open()` returns the calls that were up; the engine
 * sends BYE on both legs of each and emits a CALL_END with termination
 * category `restart`.
 *
 * Writes are batched (one asynchronous append per flush interval, default
 * 200 ms), so a connect or an end costs a string push, not a disk write:
 * a crash loses at most the last interval of connects/ends. The file is
 * rewritten with only the live calls when it has grown well past them.
 */
import { appendFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../util/logger.js';
import type { CdrRecord } from './model.js';
import { StringTable } from '../util/string-table.js';

/** One leg's dialog, as needed to send an in-dialog BYE (RFC 3261 §12.2.1.1). */
export interface JournalDialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From/To of our requests on this leg (URI with display name, no tags). */
  localUri: string;
  remoteUri: string;
  /** Remote target (the peer's Contact). */
  remoteTarget: string;
  /** Route set, in the order our requests carry it. */
  routeSet: string[];
  /** Our next local CSeq number on this leg. */
  localCseq: number;
  /** Where requests on this leg go, and from which SIP Interface. */
  dest: { address: string; port: number; transport: string };
  sipInterface: string;
}

export interface JournalCall {
  sessionId: string;
  legA: JournalDialog;
  legB: JournalDialog;
  /** The call's CDR as of connect: the end CDR after a restart starts from it. */
  cdr: CdrRecord;
}

type Entry = { op: 'up'; call: JournalCall } | { op: 'down'; sessionId: string };

export interface JournalOptions {
  /** Longest an entry waits before its append (default 200 ms). */
  flushIntervalMs?: number;
  log: Logger;
}

export class ActiveCallJournal {
  /** A StringTable: one insert and delete per connected call (util/string-table.ts). */
  private readonly live = new StringTable<JournalCall>();
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private linesInFile = 0;
  private closed = false;
  errors = 0;

  private constructor(readonly path: string, private readonly opts: JournalOptions) {}

  /**
   * Opens the journal: returns the calls a previous run left up (to be
   * released by the engine), and starts a fresh file. Lines that cannot be
   * read (a torn last write, a corrupt file, an entry missing what a BYE
   * needs) are skipped and counted in `skippedLines` for the caller to log.
   */
  static async open(
    path: string, opts: JournalOptions,
  ): Promise<{ journal: ActiveCallJournal; orphans: JournalCall[]; lastWriteMs: number | null; skippedLines: number }> {
    await mkdir(dirname(path), { recursive: true });
    const orphans = new Map<string, JournalCall>();
    let text = '';
    let lastWriteMs: number | null = null;
    let skippedLines = 0;
    try {
      text = await readFile(path, 'utf8');
      lastWriteMs = (await stat(path)).mtimeMs;
    } catch {
      // no journal yet
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let e: Entry;
      try {
        e = JSON.parse(line) as Entry;
      } catch {
        skippedLines++; // a torn last line, or a corrupt file
        continue;
      }
      if (e?.op === 'up' && isJournalCall(e.call)) orphans.set(e.call.sessionId, e.call);
      else if (e?.op === 'down' && typeof e.sessionId === 'string') orphans.delete(e.sessionId);
      else skippedLines++;
    }
    await writeFile(path, '', 'utf8');
    return { journal: new ActiveCallJournal(path, opts), orphans: [...orphans.values()], lastWriteMs, skippedLines };
  }

  /** The call is up (2xx on both legs). */
  up(call: JournalCall): void {
    if (this.closed) return;
    this.live.set(call.sessionId, call);
    this.push({ op: 'up', call });
  }

  /** The call ended (whatever the reason); also after a restart once its BYEs went out. */
  down(sessionId: string): void {
    if (this.closed || !this.live.delete(sessionId)) return;
    this.push({ op: 'down', sessionId });
  }

  get size(): number {
    return this.live.size;
  }

  /** Writes what is pending. */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const next = this.chain.then(() => this.write());
    this.chain = next.catch(() => {});
    return next;
  }

  /** On a clean stop every call has ended: the file is left empty. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.live.size === 0) await writeFile(this.path, '', 'utf8').catch(() => {});
  }

  private push(e: Entry): void {
    let line: string;
    try {
      line = JSON.stringify(e) + '\n';
    } catch (err) {
      this.errors++;
      this.opts.log.error({ err }, 'journal entry could not be encoded');
      return;
    }
    this.pending.push(line);
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.opts.flushIntervalMs ?? 200);
      this.timer.unref();
    }
  }

  private async write(): Promise<void> {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    try {
      // Grown well past the live set: rewrite it with only the live calls.
      if (this.linesInFile + lines.length > 1000 && this.linesInFile + lines.length > 4 * this.live.size) {
        const text = [...this.live.values()].map((call) => JSON.stringify({ op: 'up', call } satisfies Entry) + '\n').join('');
        await writeFile(this.path + '.tmp', text, 'utf8');
        await rename(this.path + '.tmp', this.path);
        this.linesInFile = this.live.size;
        return;
      }
      await appendFile(this.path, lines.join(''), 'utf8');
      this.linesInFile += lines.length;
    } catch (err) {
      this.errors++;
      this.pending = lines.concat(this.pending);
      if (this.pending.length > 100_000) this.pending.splice(0, this.pending.length - 100_000);
      this.opts.log.error({ err, path: this.path }, 'active-call journal write failed');
    }
  }
}

const isText = (v: unknown): v is string => typeof v === 'string';

/** A dialog read back from the file: every field a BYE is built from, of the right type. */
function isJournalDialog(v: unknown): v is JournalDialog {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Partial<JournalDialog>;
  return isText(d.callId) && isText(d.localTag) && isText(d.remoteTag) && isText(d.localUri) && isText(d.remoteUri)
    && isText(d.remoteTarget) && Array.isArray(d.routeSet) && d.routeSet.every(isText) && Number.isInteger(d.localCseq)
    && typeof d.dest === 'object' && d.dest !== null && isText(d.dest.address) && Number.isInteger(d.dest.port)
    && isText(d.dest.transport) && isText(d.sipInterface);
}

function isJournalCall(v: unknown): v is JournalCall {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Partial<JournalCall>;
  return isText(c.sessionId) && isJournalDialog(c.legA) && isJournalDialog(c.legB) && typeof c.cdr === 'object' && c.cdr !== null;
}

/**
 * The end CDR of a call found in the journal after a restart. The release
 * time is the journal's last write (the best known bound of the crash) when
 * given, else now.
 */
export function restartCdr(call: JournalCall, releaseTime: number | null, now = Date.now()): CdrRecord {
  const c = call.cdr;
  const end = Math.max(releaseTime ?? now, c.connectTime ?? c.setupTime);
  return {
    ...c,
    reportType: 'CALL_END',
    recordTime: now,
    releaseTime: end,
    durationMs: c.connectTime === null ? 0 : Math.max(0, end - c.connectTime),
    releaseSide: 'sbc',
    terminationReason: 'BYE',
    sipReason: 'SBC restarted',
    terminationCategory: 'restart',
  };
}
