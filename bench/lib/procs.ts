/**
 * Every process the bench starts goes through here. Each one gets its own
 * process group (detached), so stopping it also stops whatever it forked
 * (Kamailio's children, a shell wrapper's child), and a registry lets the
 * exit/signal handlers kill everything still alive even when the harness
 * itself fails half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** null while running. */
  exitInfo(): ExitInfo | null;
  /** Last few KiB of stdout / stderr, for error reports. */
  stdoutTail(): string;
  stderrTail(): string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'pipe' keeps stdin open for a line protocol; default 'ignore'. */
  stdin?: 'pipe' | 'ignore';
  /** Bytes of output to keep per stream (default 16 KiB). */
  tailBytes?: number;
  /** Called with every stdout chunk (for line protocols). */
  onStdout?: (chunk: string) => void;
  /** Open a Node IPC channel (child is a Node script). */
  ipc?: boolean;
}

const live = new Set<ManagedProcess>();
let handlersInstalled = false;

function appendTail(prev: string, chunk: string, max: number): string {
  const s = prev + chunk;
  return s.length > max ? s.slice(s.length - max) : s;
}

export function spawnManaged(name: string, command: string, args: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
  installCleanupHandlers();
  const max = opts.tailBytes ?? 16 * 1024;
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: opts.ipc === true ? [opts.stdin ?? 'ignore', 'pipe', 'pipe', 'ipc'] : [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let info: ExitInfo | null = null;
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    out = appendTail(out, c, max);
    opts.onStdout?.(c);
  });
  child.stderr?.on('data', (c: string) => {
    err = appendTail(err, c, max);
  });
  let managed: ManagedProcess;
  const exited = new Promise<ExitInfo>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (info !== null) return;
      info = { code, signal };
      live.delete(managed);
      resolve(info);
    };
    child.once('error', (e: Error) => {
      err = appendTail(err, `spawn error: ${e.message}\n`, max);
      done(127, null);
    });
    child.once('exit', done);
  });
  managed = {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    exitInfo: () => info,
    stdoutTail: () => out,
    stderrTail: () => err,
  };
  if (child.pid !== undefined) live.add(managed);
  return managed;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM the process group, then SIGKILL it after graceMs. Always resolves. */
export async function stopManaged(p: ManagedProcess, graceMs = 2000, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitInfo> {
  if (p.exitInfo() === null) killGroup(p.pid, signal);
  const timer = new Promise<null>((r) => setTimeout(() => r(null), graceMs).unref());
  const first = await Promise.race([p.exited, timer]);
  if (first !== null) {
    // The leader is gone; children in its group may linger (Kamailio): reap them too.
    killGroup(p.pid, 'SIGKILL');
    return first;
  }
  killGroup(p.pid, 'SIGKILL');
  const t2 = new Promise<ExitInfo>((r) => setTimeout(() => r({ code: null, signal: 'SIGKILL' }), 2000).unref());
  return Promise.race([p.exited, t2]);
}

/** Synchronous last resort for 'exit' and signal handlers. */
export function killAllSync(): void {
  for (const p of live) killGroup(p.pid, 'SIGKILL');
  live.clear();
}

export function liveProcessCount(): number {
  return live.size;
}

export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** A port free for both UDP and TCP on 127.0.0.1 at the time of the call. */
export async function freePort(even = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        const p = typeof a === 'object' && a !== null ? a.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (even && port % 2 !== 0) continue;
    const udpOk = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpOk) return port;
  }
  throw new Error('could not find a free port on 127.0.0.1');
}

/** Several distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let guard = 0; out.length < n && guard < n * 20; guard++) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  if (out.length < n) throw new Error('could not find enough free ports');
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Waits for `p` at most `ms`; 'timeout' if the time ran out. The timer is
 * cleared as soon as `p` settles: a long backstop left pending would keep
 * the harness alive after its work is done.
 */
export async function waitAtMost<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** The repository root: the nearest ancestor with a package.json (works from bench/ and dist/bench/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        const name = (JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name;
        if (name === 'sbc') return dir;
      } catch {
        /* keep walking */
      }
    }
    dir = dirname(dir);
  }
  return process.cwd();
}

/** Resolves true if which(cmd) finds an executable. */
export function commandExists(path: string): boolean {
  if (path.includes('/')) return existsSync(path);
  const dirs = (process.env.PATH ?? '').split(':');
  return dirs.some((d) => d !== '' && existsSync(join(d, path)));
}
