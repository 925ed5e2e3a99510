/**
 * Crash safety of connected calls (docs/cdr.md, "Crash safety"): the call
 * engine's CallJournalPort on top of the active-call journal
 * (src/cdr/journal.ts), and the release of the calls a previous run left
 * up.
 *
 * Cost per call: a connect only puts the call in a map; every flush
 * interval (`CallJournalFlushInterval`, 200 ms) the calls connected since
 * the last one are encoded and appended in one asynchronous write. A call
 * that ends before that never reaches the file, so short calls cost a map
 * insert and delete. A crash loses at most the last interval: calls that
 * connected in it are not released after the restart.
 *
 * After a restart every call found in the journal gets a BYE on both legs,
 * built from the journal's dialog data (RFC 3261 §12.2.1.1) and sent
 * through the transaction layer, then its end CDR with termination
 * category `restart`. Until both BYEs are answered (or timed out) the call
 * stays in the new journal, so a crash during the release repeats it.
 */
import { join } from 'node:path';
import type { CallJournalPort, JournalledCall, TransactionPort } from '../b2bua/ports.js';
import { ActiveCallJournal, restartCdr, type JournalCall, type JournalDialog } from '../cdr/journal.js';
import type { CdrRecord } from '../cdr/model.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { SbcConfig } from '../config/sbc-config.js';
import { Dialog } from '../dialog/dialog.js';
import type { Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { StringTable } from '../util/string-table.js';

/** File name of the journal inside CallJournalDir. */
export const JOURNAL_FILE = 'active-calls.jsonl';

/**
 * The journal holds the CSeq of each leg at connect; requests sent later in
 * the dialog (re-INVITE, keep-alive OPTIONS, session refresh) took higher
 * numbers. The BYE after a restart jumps this far ahead so that the peer
 * does not refuse it as out of order (§12.2.2, 500). A UAS-side dialog with
 * no request of ours yet holds 0; its first number is at most 0x7fff.
 */
const RESTART_CSEQ_STEP = 100_000;
const MAX_CSEQ = 2 ** 31 - 1;

export interface CallJournalOptions {
  dir: string;
  flushIntervalMs: number;
  log: Logger;
  /** The engine's record as the CDR sinks get it (privacy applied). */
  toCdr: (r: CallDetailRecord) => CdrRecord;
}

export class CallJournal implements CallJournalPort {
  /** A StringTable: one insert and delete per connected call (util/string-table.ts). */
  private readonly pending = new StringTable<JournalledCall>();
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly journal: ActiveCallJournal,
    private readonly opts: CallJournalOptions,
    /** What the previous run left up, until `releaseOrphans`. */
    private orphans: JournalCall[],
    private readonly lastWriteMs: number | null,
  ) {}

  /**
   * Opens `<CallJournalDir>/active-calls.jsonl` when the ini names a
   * directory; null without one, or when it cannot be opened (logged: the
   * SBC runs without crash safety rather than not at all).
   */
  static async fromConfig(config: SbcConfig, log: Logger, toCdr: CallJournalOptions['toCdr']): Promise<CallJournal | null> {
    const dir = (config.scalars.get('calljournaldir') ?? '').trim().replace(/^"(.*)"$/, '$1');
    if (dir === '') return null;
    const interval = Number.parseInt(config.scalars.get('calljournalflushinterval') ?? '', 10);
    const opts: CallJournalOptions = { dir, flushIntervalMs: Number.isFinite(interval) && interval > 0 ? interval : 200, log, toCdr };
    const path = join(dir, JOURNAL_FILE);
    try {
      const opened = await ActiveCallJournal.open(path, { log, flushIntervalMs: opts.flushIntervalMs });
      if (opened.skippedLines > 0) {
        log.warn({ path, skippedLines: opened.skippedLines }, 'active-call journal: unreadable lines skipped (torn write or corrupt file)');
      }
      // Back into the fresh file at once: if this start fails before they are released, the next one still finds them.
      for (const o of opened.orphans) opened.journal.up(o);
      await opened.journal.flush();
      return new CallJournal(opened.journal, opts, opened.orphans, opened.lastWriteMs);
    } catch (err) {
      log.error({ err, path }, 'active-call journal cannot be opened: calls are not protected against a crash');
      return null;
    }
  }

  // --- CallJournalPort --------------------------------------------------------

  connected(call: JournalledCall): void {
    this.pending.set(call.sessionId, call);
    if (this.timer === null) {
      this.timer = setTimeout(() => this.writePending(), this.opts.flushIntervalMs);
      this.timer.unref();
    }
  }

  ended(sessionId: string): void {
    if (this.pending.delete(sessionId)) return;
    this.journal.down(sessionId);
  }

  /** Calls in the journal (written or about to be). */
  get size(): number {
    return this.journal.size + this.pending.size;
  }

  get foundAtStart(): number {
    return this.orphans.length;
  }

  private writePending(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    for (const c of this.pending.values()) {
      try {
        this.journal.up({ sessionId: c.sessionId, legA: c.legA, legB: c.legB, cdr: this.opts.toCdr(c.record()) });
      } catch (err) {
        this.opts.log.error({ err, sessionId: c.sessionId }, 'active-call journal entry could not be built');
      }
    }
    this.pending.clear();
    void this.journal.flush();
  }

  /** Writes what is pending and closes the file (empty when no call is left). */
  async close(): Promise<void> {
    this.writePending();
    await this.journal.close();
  }

  // --- after a restart -----------------------------------------------------------

  /**
   * BYE on both legs of every call the previous run left up, then its
   * `restart` CDR. Resolves when every BYE has an answer or timed out.
   */
  async releaseOrphans(tx: TransactionPort, emit: (r: CdrRecord) => void): Promise<void> {
    const orphans = this.orphans;
    this.orphans = [];
    if (orphans.length === 0) return;
    const log = this.opts.log;
    log.warn({ calls: orphans.length, lastWrite: this.lastWriteMs === null ? null : new Date(this.lastWriteMs).toISOString() },
      'calls left up by the previous run: sending BYE on both legs');
    let answered = 0;
    await Promise.all(orphans.map(async (call) => {
      // Still in the journal (fromConfig put it back) until both BYEs are done: a crash now repeats the release.
      const [a, b] = await Promise.all([sendBye(tx, call.legA), sendBye(tx, call.legB)]);
      if (a === 'answered' && b === 'answered') answered++;
      else log.info({ sessionId: call.sessionId, legA: a, legB: b }, 'BYE after restart not answered on every leg');
      try {
        emit(restartCdr(call, this.lastWriteMs));
      } catch (err) {
        log.error({ err, sessionId: call.sessionId }, 'restart CDR could not be emitted');
      }
      this.journal.down(call.sessionId);
    }));
    await this.journal.flush();
    log.info({ calls: orphans.length, answeredOnBothLegs: answered }, 'calls left up by the previous run released');
  }
}

type ByeOutcome = 'answered' | 'timeout' | 'transport-error' | 'not-sent';

const TRANSPORTS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls']);

/** The BYE of one leg, from the journal's copy of its dialog. */
export function byeFromJournal(d: JournalDialog): ReturnType<Dialog['createRequest']> {
  const dialog = new Dialog({
    role: 'uac', callId: d.callId, localTag: d.localTag, remoteTag: d.remoteTag, localUri: d.localUri, remoteUri: d.remoteUri,
    remoteTarget: d.remoteTarget, routeSet: [...d.routeSet], localSeq: Math.min(MAX_CSEQ - 1, Math.max(0, d.localCseq) + RESTART_CSEQ_STEP),
    remoteSeq: -1, secure: false, state: 'confirmed',
  });
  return dialog.createRequest('BYE');
}

function sendBye(tx: TransactionPort, d: JournalDialog): Promise<ByeOutcome> {
  if (!TRANSPORTS.has(d.dest.transport)) return Promise.resolve('not-sent');
  return new Promise((resolve) => {
    try {
      tx.sendRequest(byeFromJournal(d), { address: d.dest.address, port: d.dest.port, transport: d.dest.transport as Transport }, d.sipInterface, {
        // Any final answer ends the dialog for the peer (481 included: it had already let go).
        onFinal: () => resolve('answered'),
        onTimeout: () => resolve('timeout'),
        onTransportError: () => resolve('transport-error'),
      });
    } catch {
      resolve('not-sent');
    }
  });
}
