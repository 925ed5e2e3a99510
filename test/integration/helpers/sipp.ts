/**
 * Runs sipp (the `sip-tester` Debian package) for integration tests and
 * reports what it counted. Every run is bounded: `-m` caps the calls,
 * `-timeout` makes sipp stop itself, and a kill timer stops it if it
 * does not.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';

export const SIPP_PATH = process.env['SIPP'] ?? '/usr/bin/sipp';

export type SippTransport = 'u1' | 'un' | 't1' | 'tn' | 'l1' | 'ln';

export interface SippOptions {
  /** A built-in scenario name (`uac`, `uas`, `branchc`, ...) or the path of an XML scenario. */
  scenario: string;
  /** `host:port` of the system under test; omit for a UAS-side sipp. */
  target?: string;
  /** Calls after which sipp exits (`-m`): always set so every run ends. */
  calls: number;
  /** Calls per second (`-r`). Default 10. */
  rate?: number;
  /** Maximum simultaneous calls (`-l`). */
  limit?: number;
  transport?: SippTransport;
  /** Local address (`-i`). Default 127.0.0.1. */
  localAddress?: string;
  /** Local port (`-p`); default: sipp picks a free one. */
  localPort?: number;
  /** Simulated loss in percent (`-lost`). */
  lostPercent?: number;
  /** `-max_socket` for `tn`/`un`. */
  maxSocket?: number;
  /** Request-URI user (`-s`). */
  service?: string;
  /** Hard limit for the whole run; sipp gets `-timeout` a bit below it. Default 60 s. */
  timeoutMs?: number;
  /** Anything else, appended as is. */
  extraArgs?: string[];
}

export interface SippResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** True when we had to kill sipp. */
  killed: boolean;
  successful: number;
  failed: number;
  retransmissions: number;
  /** The last row of the -trace_stat CSV, column name -> value. */
  stats: Record<string, string>;
  /** Last few KB of sipp's screen output and stderr, for failure messages. */
  output: string;
  errors: string;
  args: string[];
}

export interface SippProcess {
  readonly pid: number | undefined;
  readonly args: string[];
  /** Resolves when sipp exits by itself (or is killed at the time limit). */
  readonly done: Promise<SippResult>;
  /** Stops sipp (SIGTERM, then SIGKILL) and returns what it counted. */
  stop(): Promise<SippResult>;
  /**
   * Resolves once sipp's SIP socket is bound on `localAddress:localPort`
   * (needs `localPort`; UDP, or a TCP listener for `t1`/`tn`); rejects if
   * sipp exits first or does not bind within `timeoutMs`.
   */
  bound(timeoutMs?: number): Promise<void>;
}

export function assertSippInstalled(): void {
  if (!existsSync(SIPP_PATH)) throw new Error('sipp not found: apt-get install sip-tester');
}

const BUILTIN = new Set(['uac', 'uas', 'regexp', 'branchc', 'branchs', 'uac_pcap', '3pcc-A', '3pcc-B', '3pcc-C-A', '3pcc-C-B']);

function tail(s: string, n = 4000): string {
  return s.length > n ? s.slice(s.length - n) : s;
}

function parseStatCsv(text: string): Record<string, string> {
  const lines = text.split('\n').filter((l) => l.trim().length > 0);
  if (lines.length < 2) return {};
  const names = lines[0]!.split(';');
  const values = lines[lines.length - 1]!.split(';');
  const out: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) if (names[i]) out[names[i]!] = values[i] ?? '';
  return out;
}

/** Counts from the final screen, used when the CSV is missing. */
function parseScreen(text: string, label: string): number {
  const idx = text.lastIndexOf(label);
  if (idx < 0) return NaN;
  const line = text.slice(idx, text.indexOf('\n', idx) < 0 ? undefined : text.indexOf('\n', idx));
  const nums = line.split('|').map((p) => Number.parseInt(p.trim(), 10)).filter((n) => Number.isFinite(n));
  return nums.length > 0 ? nums[nums.length - 1]! : NaN;
}

export function startSipp(opts: SippOptions): SippProcess {
  assertSippInstalled();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const args: string[] = [];
  if (BUILTIN.has(opts.scenario)) args.push('-sn', opts.scenario);
  else args.push('-sf', resolve(opts.scenario));
  if (opts.target !== undefined) args.push(opts.target);
  args.push('-i', opts.localAddress ?? '127.0.0.1');
  if (opts.localPort !== undefined) args.push('-p', String(opts.localPort));
  args.push('-m', String(Math.max(1, Math.floor(opts.calls))));
  args.push('-r', String(opts.rate ?? 10));
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.transport !== undefined) args.push('-t', opts.transport);
  if (opts.lostPercent !== undefined) args.push('-lost', String(opts.lostPercent));
  if (opts.maxSocket !== undefined) args.push('-max_socket', String(opts.maxSocket));
  if (opts.service !== undefined) args.push('-s', opts.service);
  // sipp stops itself slightly before our kill timer.
  args.push('-timeout', `${Math.max(1, Math.floor(timeoutMs / 1000) - 2)}s`);
  args.push('-nostdin', '-trace_stat', '-fd', '1');
  if (opts.extraArgs !== undefined) args.push(...opts.extraArgs);

  let stopRequested = false;
  let killTimer: ReturnType<typeof setTimeout> | null = null;
  let killed = false;
  let childPid: number | undefined;
  let childRef: ReturnType<typeof spawn> | null = null;

  const done = (async (): Promise<SippResult> => {
    const dir = await mkdtemp(join(tmpdir(), 'sipp-'));
    const statFile = join(dir, 'stat.csv');
    const fullArgs = [...args, '-stf', statFile];
    const child = spawn(SIPP_PATH, fullArgs, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    childRef = child;
    childPid = child.pid;
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out = tail(out + d.toString('latin1'), 16_000);
    });
    child.stderr?.on('data', (d: Buffer) => {
      err = tail(err + d.toString('latin1'), 8_000);
    });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
      child.once('error', (e) => {
        err += String(e);
        res({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => res({ code, signal }));
      killTimer = setTimeout(() => {
        killed = true;
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      }, timeoutMs);
      if (stopRequested) child.kill('SIGTERM');
    });
    if (killTimer !== null) clearTimeout(killTimer);
    let stats: Record<string, string> = {};
    try {
      stats = parseStatCsv(await readFile(statFile, 'latin1'));
    } catch {
      // sipp may not have written it (killed early); fall back to the screen.
    }
    try {
      for (const f of await readdir(dir)) {
        if (f.endsWith('_errors.log')) err = tail(err + '\n' + (await readFile(join(dir, f), 'latin1')), 8_000);
      }
    } catch {
      /* nothing to add */
    }
    await rm(dir, { recursive: true, force: true });
    // The screen sipp prints as it exits is final; the CSV's last row may be a periodic dump.
    const num = (k: string, screenLabel: string): number => {
      const fromScreen = parseScreen(out, screenLabel);
      if (Number.isFinite(fromScreen)) return fromScreen;
      const v = Number.parseInt(stats[k] ?? '', 10);
      return Number.isFinite(v) ? v : NaN;
    };
    return {
      exitCode: exit.code,
      signal: exit.signal,
      killed,
      successful: num('SuccessfulCall(C)', 'Successful call'),
      failed: num('FailedCall(C)', 'Failed call'),
      retransmissions: num('Retransmissions(C)', 'Retransmissions'),
      stats,
      output: tail(out),
      errors: err,
      args: fullArgs,
    };
  })();

  let exited = false;
  void done.then(() => {
    exited = true;
  });
  return {
    get pid() {
      return childPid;
    },
    args,
    done,
    async bound(timeoutMs = 10_000) {
      if (opts.localPort === undefined) throw new Error('sipp.bound() needs a localPort');
      const proto = opts.transport !== undefined && opts.transport.startsWith('t') ? 'tcp' : 'udp';
      await waitForBound(opts.localAddress ?? '127.0.0.1', opts.localPort, proto, timeoutMs, () => (exited ? `sipp exited: ${args.join(' ')}` : null));
    },
    async stop() {
      stopRequested = true;
      if (childRef !== null && childRef.exitCode === null) childRef.kill('SIGTERM');
      return done;
    },
  };
}

/** `/proc/net/{udp,tcp}` spelling of an IPv4 address (the kernel prints the raw network-order word). */
function procHexAddress(address: string): string {
  return address.split('.').map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
}

/**
 * Whether a socket is bound on `address:port` (or the wildcard address):
 * UDP bound, or TCP in LISTEN. Read from /proc/net, so it does not touch
 * the port (a probe bind could take the port from the very process that is
 * about to bind it).
 */
export async function isBound(address: string, port: number, proto: 'udp' | 'tcp'): Promise<boolean> {
  const want = [`${procHexAddress(address)}:${port.toString(16).toUpperCase().padStart(4, '0')}`, `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`];
  const text = await readFile(`/proc/net/${proto}`, 'latin1');
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || !want.includes(cols[1]!)) continue;
    if (proto === 'udp' || cols[3] === '0A') return true;
  }
  return false;
}

/** Polls (every 20 ms) until something is bound on `address:port`; `gaveUp` may end the wait early with a reason. */
export async function waitForBound(
  address: string, port: number, proto: 'udp' | 'tcp' = 'udp', timeoutMs = 10_000, gaveUp: () => string | null = () => null,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isBound(address, port, proto)) return;
    const why = gaveUp();
    if (why !== null) throw new Error(`nothing bound ${proto} ${address}:${port}: ${why}`);
    if (Date.now() > deadline) throw new Error(`nothing bound ${proto} ${address}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs sipp to completion (or to `timeoutMs`) and returns its counts. */
export function runSipp(opts: SippOptions): Promise<SippResult> {
  return startSipp(opts).done;
}

/** A port free on both UDP and TCP at `address` (for a sipp UAS that must listen on a known port). */
export async function findFreePort(address = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((res, rej) => {
      const srv = net.createServer();
      srv.once('error', rej);
      srv.listen(0, address, () => {
        const a = srv.address();
        const p = typeof a === 'object' && a !== null ? a.port : 0;
        srv.close(() => res(p));
      });
    });
    const udpFree = await new Promise<boolean>((res) => {
      const s = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
      s.once('error', () => res(false));
      s.bind(port, address, () => s.close(() => res(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}
