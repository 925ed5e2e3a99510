/**
 * The main thread's side of the SIP worker threads (docs/performance.md,
 * "Multi-core signalling"): starts shards 1..N-1 (the main thread is shard
 * 0), takes what they hand back (messages they do not own, CDRs), passes
 * reloads on, and asks them for their calls and counters for the API.
 */
import { Worker } from 'node:worker_threads';
import type { CallDetailRecord } from '../../cdr/index.js';
import type { Logger } from '../../util/logger.js';
import type { ServerEvent } from '../../routing/proxy-set.js';
import type { FromWorker, ToWorker, WorkerSetup } from './messages.js';

export interface WorkerPoolOptions {
  /** Shards in all, the main thread's included. */
  shards: number;
  configFile: string;
  shares: Record<string, number>;
  relay: 'native' | 'js';
  admission: SharedArrayBuffer;
  logger: Logger;
  onDatagram(iface: string, bytes: Buffer, address: string, port: number): void;
  onCdr(record: CallDetailRecord): void;
}

/** An RPC a worker did not answer within this is counted as unanswered (a stuck worker must not hang the API). */
const RPC_TIMEOUT_MS = 2000;

export class SipWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly exited = new Set<Worker>();
  private nextRpc = 1;
  private readonly pending = new Map<number, (v: unknown) => void>();
  private stopped = false;

  private constructor(private readonly o: WorkerPoolOptions) {}

  static async start(o: WorkerPoolOptions): Promise<SipWorkerPool> {
    const pool = new SipWorkerPool(o);
    try {
      await Promise.all(Array.from({ length: o.shards - 1 }, (_, i) => pool.spawn(i + 1)));
    } catch (err) {
      await pool.stop(0);
      throw err;
    }
    return pool;
  }

  get count(): number {
    return this.workers.length;
  }

  private spawn(shard: number): Promise<void> {
    const setup: WorkerSetup = {
      configFile: this.o.configFile, shard, shards: this.o.shards, shares: this.o.shares, relay: this.o.relay, admission: this.o.admission,
    };
    const w = new Worker(new URL('./sip-worker.js', import.meta.url), { workerData: setup });
    this.workers.push(w);
    return new Promise((resolve, reject) => {
      w.on('message', (m: FromWorker) => {
        switch (m.kind) {
          case 'ready':
            resolve();
            return;
          case 'failed':
            reject(new Error(`SIP worker ${shard}: ${m.error}`));
            return;
          case 'datagram':
            this.o.onDatagram(m.iface, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), m.address, m.port);
            return;
          case 'cdr':
            this.o.onCdr(m.record);
            return;
          case 'rpc':
            this.pending.get(m.id)?.(m.value);
            this.pending.delete(m.id);
            return;
          case 'stopped':
            return;
        }
      });
      w.on('error', (err) => {
        this.o.logger.error({ err, worker: shard }, 'SIP worker thread failed');
        reject(err);
      });
      w.on('exit', (code) => {
        this.exited.add(w);
        if (!this.stopped) this.o.logger.error({ worker: shard, code }, 'SIP worker thread exited; its calls are lost and its share of new calls is not answered');
      });
    });
  }

  private send(w: Worker, m: ToWorker): void {
    w.postMessage(m);
  }

  /** Asks every worker; a worker that does not answer in time gives null. */
  ask(method: 'stats' | 'calls' | 'ladder' | 'admission' | 'end', arg?: string): Promise<unknown[]> {
    return Promise.all(this.workers.filter((w) => !this.exited.has(w)).map((w) => new Promise<unknown>((resolve) => {
      const id = this.nextRpc++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, RPC_TIMEOUT_MS);
      this.pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.send(w, { kind: 'rpc', id, method, ...(arg !== undefined ? { arg } : {}) });
    })));
  }

  proxyState(server: ServerEvent, up: boolean): void {
    for (const w of this.workers) this.send(w, { kind: 'proxy', server, up });
  }

  reload(text: string): void {
    for (const w of this.workers) this.send(w, { kind: 'reload', text });
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers.filter((w) => !this.exited.has(w)).map((w) => new Promise<void>((resolve) => {
      const kill = setTimeout(() => void w.terminate(), graceMs + 2000);
      w.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      this.send(w, { kind: 'stop', graceMs });
    })));
  }
}

/**
 * SIP worker threads for this configuration (SIPWorkerThreads, ours; the
 * environment's SBC_SIP_WORKERS wins): 1 = the main thread alone (the
 * default), 0 = one per core, else that many in all. A configuration with
 * registered users or Accounts stays on one thread: the registrar and its
 * bindings live on the main thread (docs/performance.md says why).
 */
export function sipWorkerShards(
  config: { scalars: ReadonlyMap<string, string>; ipGroups: ReadonlyArray<{ type: string }>; accounts: ReadonlyArray<unknown> },
  env: string | undefined, cores: number, log: Logger,
): number {
  const raw = env !== undefined && env !== '' ? env : (config.scalars.get('sipworkerthreads') ?? '1');
  const n = Number.parseInt(raw, 10);
  let shards = !Number.isFinite(n) || n < 0 ? 1 : n === 0 ? cores : n;
  shards = Math.min(Math.max(shards, 1), 64);
  if (shards > 1 && (config.ipGroups.some((g) => g.type === 'user') || config.accounts.length > 0)) {
    log.warn({ shards }, 'SIPWorkerThreads: registered users or Accounts are configured; signalling stays on one thread');
    return 1;
  }
  return shards;
}
