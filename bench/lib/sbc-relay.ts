/**
 * The SBC's relay engines as a media bench target: bench/relay-child.ts in a
 * child Node process (so its CPU is measured alone, relay threads included),
 * driven over the IPC channel.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, spawnManaged, stopManaged, type ManagedProcess } from './procs.js';
import type { RelayChildReply, RelayChildRequest, SrtpLegTotals } from '../relay-child.js';

export type { SrtpLegTotals } from '../relay-child.js';

/** A relay the generator can be pointed at (the SBC's, rtpengine, or none). */
export interface RelayUnderTest {
  /** Process group to measure, null = nothing to measure (direct). */
  pgid: number | null;
  kind?: string;
  /** Relay threads actually running (native engines in the child, rtpengine --num-threads). */
  threads?: number;
  allocate(genPorts: readonly number[]): Promise<number[]>;
  /** Tears the sessions down; the SBC's relay also says what crossed its SRTP legs. */
  release(): Promise<SrtpLegTotals | null>;
  stop(): Promise<void>;
}

export class RelayChild implements RelayUnderTest {
  readonly pgid: number;
  kind?: string;
  threads?: number;
  private readonly proc: ManagedProcess;
  private waiter: ((r: RelayChildReply) => void) | null = null;

  constructor(proc: ManagedProcess) {
    this.proc = proc;
    this.pgid = proc.pid;
    proc.child.on('message', (m: RelayChildReply) => {
      const w = this.waiter;
      this.waiter = null;
      w?.(m);
    });
  }

  request(m: RelayChildRequest, timeoutMs: number): Promise<RelayChildReply> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve({ type: 'error', message: `relay child: no reply to ${m.type} within ${timeoutMs} ms` });
      }, timeoutMs);
      void this.proc.exited.then((e) => {
        clearTimeout(t);
        resolve({ type: 'error', message: `relay child exited (code ${String(e.code)}): ${this.proc.stderrTail().slice(-400)}` });
      });
      this.waiter = (r) => {
        clearTimeout(t);
        resolve(r);
      };
      try {
        this.proc.child.send(m);
      } catch (e) {
        clearTimeout(t);
        resolve({ type: 'error', message: (e as Error).message });
      }
    });
  }

  async allocate(genPorts: readonly number[]): Promise<number[]> {
    const r = await this.request({ type: 'create', genPorts: [...genPorts] }, 30_000);
    if (r.type !== 'created') throw new Error(r.type === 'error' ? r.message : `unexpected ${r.type}`);
    return r.targets;
  }

  async release(): Promise<SrtpLegTotals | null> {
    const r = await this.request({ type: 'close' }, 10_000);
    return r.type === 'closed' && r.srtp.legs > 0 ? r.srtp : null;
  }

  async stop(): Promise<void> {
    if (this.proc.exitInfo() === null) {
      try {
        this.proc.child.send({ type: 'shutdown' } satisfies RelayChildRequest);
      } catch {
        /* channel closed */
      }
    }
    await stopManaged(this.proc, 2000);
  }
}

export function sbcRelayPaths(): { child: string; module: string } {
  const root = repoRoot();
  // SBC_BENCH_RELAY_MODULE points the bench at another build of the relay module.
  const override = process.env.SBC_BENCH_RELAY_MODULE;
  return {
    child: join(root, 'dist', 'bench', 'relay-child.js'),
    module: override !== undefined && override !== '' ? override : join(root, 'dist', 'src', 'media', 'relay.js'),
  };
}

export interface SbcRelayOptions {
  prefer: 'native' | 'js';
  /** Relay engines in the child: one relay thread each for the native engine. */
  engines: number;
  /** Chain two relay sessions per generator session, SRTP between them. */
  srtp: boolean;
}

export async function startSbcRelay(o: SbcRelayOptions): Promise<{ ok: true; relay: RelayChild } | { ok: false; reason: string }> {
  const p = sbcRelayPaths();
  if (!existsSync(p.module)) return { ok: false, reason: `not available: ${p.module} not found (src/media/relay.ts not written or not built yet)` };
  if (!existsSync(p.child)) return { ok: false, reason: `not available: ${p.child} not found (run npm run build)` };
  const proc = spawnManaged(`relay-${o.prefer}`, process.execPath, [p.child], { ipc: true, cwd: repoRoot() });
  const relay = new RelayChild(proc);
  const r = await relay.request({ type: 'init', prefer: o.prefer, modulePath: p.module, engines: o.engines, srtp: o.srtp }, 15_000);
  if (r.type !== 'ready') {
    await relay.stop();
    return { ok: false, reason: `not available: ${r.type === 'error' ? r.message : r.type}` };
  }
  relay.kind = r.kind;
  relay.threads = r.engines;
  if (r.kind !== o.prefer) {
    await relay.stop();
    return { ok: false, reason: `not available: asked for the ${o.prefer} engine, the factory returned '${r.kind}'` };
  }
  return { ok: true, relay };
}
