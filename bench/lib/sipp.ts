/**
 * Running sipp as a bench peer and reading its statistics back: the final
 * line of the -trace_stat CSV (cumulative counters) and the -trace_rtt CSV
 * (one INVITE -> 200 time per call, in ms).
 */
import { mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnManaged, stopManaged, type ManagedProcess } from './procs.js';

export type SipTransport = 'udp' | 'tcp';

export interface SippStats {
  created: number;
  successful: number;
  failed: number;
  retransmissions: number;
  /** Messages that matched no call (late retransmissions, reordered responses). */
  outOfCallMessages: number;
  deadCallMessages: number;
}

export interface SippUasOptions {
  scenarioFile: string;
  transport: SipTransport;
  port: number;
  /** Exit after this many calls (sipp -m); omitted = run until stopped. */
  calls?: number;
  timeoutS: number;
  workDir: string;
}

export interface SippUacOptions {
  scenarioFile: string;
  transport: SipTransport;
  /** host:port of the system under test. */
  target: string;
  rate: number;
  calls: number;
  /** Hold time between ACK and BYE (sipp -d), ms. */
  holdMs: number;
  /** Max simultaneous calls (sipp -l); default unlimited. */
  limit?: number;
  /** A call with no response for this long fails (sipp -recv_timeout); default 5000. */
  recvTimeoutMs?: number;
  timeoutS: number;
  workDir: string;
}

export interface SippRun {
  proc: ManagedProcess;
  workDir: string;
}

function transportFlag(t: SipTransport): string {
  return t === 'udp' ? 'u1' : 't1';
}

const common = (workDir: string, timeoutS: number): string[] => [
  '-i', '127.0.0.1',
  '-nostdin',
  '-trace_stat', '-stf', join(workDir, 'stat.csv'), '-fd', '1',
  '-timeout', `${timeoutS}s`,
  // Screen output goes nowhere useful; -trace_err keeps the reasons for failed calls.
  '-trace_err',
  // Many transactions in flight at high rates.
  '-max_socket', '4096',
  // 4 MiB socket buffers (sipp's default is 64 KiB): the generator must not be what drops a burst.
  '-buff_size', '4194304',
];

export function startUas(o: SippUasOptions): SippRun {
  mkdirSync(o.workDir, { recursive: true });
  const args = [
    '-sf', o.scenarioFile,
    '-p', String(o.port),
    '-t', transportFlag(o.transport),
    ...common(o.workDir, o.timeoutS),
  ];
  if (o.calls !== undefined) args.push('-m', String(o.calls));
  return { proc: spawnManaged('sipp-uas', 'sipp', args, { cwd: o.workDir, tailBytes: 4096 }), workDir: o.workDir };
}

export function startUac(o: SippUacOptions): SippRun {
  mkdirSync(o.workDir, { recursive: true });
  const args = [
    o.target,
    '-sf', o.scenarioFile,
    '-t', transportFlag(o.transport),
    '-r', String(o.rate), '-rp', '1000',
    '-m', String(o.calls),
    '-d', String(o.holdMs),
    '-trace_rtt', '-rtt_freq', '1',
    // A call stuck waiting for a response (lost or dropped) fails after 5 s instead of holding the step open.
    '-recv_timeout', String(o.recvTimeoutMs ?? 5000),
    ...common(o.workDir, o.timeoutS),
  ];
  if (o.limit !== undefined) args.push('-l', String(o.limit));
  return { proc: spawnManaged('sipp-uac', 'sipp', args, { cwd: o.workDir, tailBytes: 4096 }), workDir: o.workDir };
}

/** Asks sipp to stop (SIGUSR1 = quit after calls; then TERM/KILL) and waits. */
export async function stopSipp(run: SippRun, graceMs = 1500): Promise<void> {
  if (run.proc.exitInfo() !== null) return;
  await stopManaged(run.proc, graceMs, 'SIGUSR1');
}

function parseCsvLastRow(path: string): Map<string, string> | null {
  if (!existsSync(path)) return null;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const header = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  const m = new Map<string, string>();
  for (let i = 0; i < header.length; i++) m.set(header[i]!, row[i] ?? '');
  return m;
}

export function readStats(workDir: string): SippStats | null {
  const m = parseCsvLastRow(join(workDir, 'stat.csv'));
  if (m === null) return null;
  const n = (k: string): number => {
    const v = Number(m.get(k) ?? '0');
    return Number.isFinite(v) ? v : 0;
  };
  return {
    created: n('TotalCallCreated') || n('OutgoingCall(C)') + n('IncomingCall(C)'),
    successful: n('SuccessfulCall(C)'),
    failed: n('FailedCall(C)'),
    retransmissions: n('Retransmissions(C)'),
    outOfCallMessages: n('OutOfCallMsgs(C)'),
    deadCallMessages: n('DeadCallMsgs(C)'),
  };
}

/** The -trace_rtt file(s) as [ms after sipp started, INVITE -> 200 ms] rows. */
function readRttRows(workDir: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let files: string[];
  try {
    files = readdirSync(workDir).filter((f) => f.endsWith('_rtt.csv'));
  } catch {
    return out;
  }
  for (const f of files) {
    const lines = readFileSync(join(workDir, f), 'utf8').split('\n');
    for (let i = 1; i < lines.length; i++) {
      const parts = lines[i]!.split(';');
      if (parts.length < 2) continue;
      const at = Number(parts[0]);
      const v = Number(parts[1]);
      if (Number.isFinite(at) && Number.isFinite(v)) out.push([at, v]);
    }
  }
  return out;
}

/** When (ms after sipp started) the last INVITE -> 200 of the run was measured; null without samples. */
export function lastSetupAtMs(workDir: string): number | null {
  let last: number | null = null;
  for (const [at] of readRttRows(workDir)) if (last === null || at > last) last = at;
  return last;
}

/** INVITE -> 200 times in ms from the -trace_rtt file(s). */
export function readRtts(workDir: string): number[] {
  return readRttRows(workDir).map(([, v]) => v);
}

/**
 * Why calls failed, from sipp's error log, as counted categories, e.g.
 * "2x unexpected 'SIP/2.0 180 Ringing' while pausing; 1x receive timeout".
 */
export function summariseErrors(workDir: string): string {
  let text: string;
  try {
    const f = readdirSync(workDir).find((x) => x.endsWith('_errors.log'));
    if (f === undefined) return '';
    text = readFileSync(join(workDir, f), 'utf8');
  } catch {
    return '';
  }
  const counts = new Map<string, number>();
  const add = (k: string): void => {
    counts.set(k, (counts.get(k) ?? 0) + 1);
  };
  let from = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const i = text.indexOf('Aborting call on unexpected message', from);
    if (i < 0) break;
    const w = text.indexOf('while ', i);
    const r = text.indexOf("received '", i);
    const state = w >= 0 && w < i + 200 ? text.slice(w, text.indexOf(' (', w) >= 0 ? text.indexOf(' (', w) : w + 20) : '';
    const first = r >= 0 ? text.slice(r + 10, text.indexOf('\n', r)).trim() : '?';
    add(`unexpected '${first}' ${state}`.trim());
    from = i + 30;
  }
  const timeouts = text.split('receive timeout').length - 1;
  if (timeouts > 0) counts.set('receive timeout', timeouts);
  const maxRetrans = text.split('Max retransmission').length - 1;
  if (maxRetrans > 0) counts.set('max retransmissions reached', maxRetrans);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}x ${k}`).join('; ');
}

/** First lines of sipp's error log, to explain failures in the report. */
export function readErrors(workDir: string, maxChars = 600): string {
  try {
    const f = readdirSync(workDir).find((x) => x.endsWith('_errors.log'));
    if (f === undefined) return '';
    return readFileSync(join(workDir, f), 'utf8').slice(0, maxChars);
  } catch {
    return '';
  }
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
