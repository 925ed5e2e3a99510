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
import type { Endpoint, StreamFrame, StreamSend } from '../../transport/types.js';
import type { FromWorker, ToWorker, WorkerSetup } from './messages.js';

export interface WorkerPoolOptions {
  /** Shards in all, the main thread's included. */
  shards: number;
  configFile: string;
  shares: Record<string, number>;
  streamPorts: WorkerSetup['streamPorts'];
  relay: 'native' | 'js';
  admission: SharedArrayBuffer;
  logger: Logger;
  onDatagram(iface: string, bytes: Buffer, address: string, port: number): void;
  /** A TCP/TLS message a worker does not own, for the main thread's transport. */
  onStreamMessage(iface: string, connectionId: number, remote: Endpoint, bytes: Buffer): void;
  /** A worker's TCP/TLS send, done by the main thread's transport. */
  onStreamSend(send: StreamSend): Promise<void>;
  onCdr(record: CallDetailRecord): void;
  /** A worker died with its calls: what it held (admission counts) is given back for it. */
  onShardLost?(shard: number): void;
  /** A worker was started again: it gets what changed since the start (live config, proxy states). */
  onShardRestarted?(shard: number): void;
}

/** A worker that dies is started again after this, doubled per death within RESTART_WINDOW_MS (crash loops back off). */
const RESTART_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;
const RESTART_WINDOW_MS = 60_000;

/** An RPC a worker did not answer within this is counted as unanswered (a stuck worker must not hang the API). */
const RPC_TIMEOUT_MS = 2000;

export class SipWorkerPool {
  /** Worker of shard k at index k - 1 (replaced when it is restarted). */
  private readonly workers: Worker[] = [];
  private readonly exited = new Set<Worker>();
  /** Workers that said 'ready' (a restarted one is not, until it has built its shard). */
  private readonly ready = new WeakSet<Worker>();
  private nextRpc = 1;
  private readonly pending = new Map<number, (v: unknown) => void>();
  private stopped = false;
  /** Restarts so far, and when the recent deaths of each shard were (backoff). */
  private restartCount = 0;
  private readonly deaths = new Map<number, number[]>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();

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

  /** Workers started again after they died. */
  get restarts(): number {
    return this.restartCount;
  }

  private spawn(shard: number): Promise<void> {
    const setup: WorkerSetup = {
      configFile: this.o.configFile, shard, shards: this.o.shards, shares: this.o.shares, streamPorts: this.o.streamPorts, relay: this.o.relay,
      admission: this.o.admission,
    };
    const w = new Worker(new URL('./sip-worker.js', import.meta.url), { workerData: setup });
    this.workers[shard - 1] = w;
    return new Promise((resolve, reject) => {
      w.on('message', (m: FromWorker) => {
        switch (m.kind) {
          case 'ready':
            this.ready.add(w);
            resolve();
            return;
          case 'failed':
            reject(new Error(`SIP worker ${shard}: ${m.error}`));
            return;
          case 'datagram':
            this.o.onDatagram(m.iface, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), m.address, m.port);
            return;
          case 'stream-message':
            this.o.onStreamMessage(m.iface, m.connectionId, m.remote, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
            return;
          case 'stream-send':
            this.o.onStreamSend(m.send).then(
              () => this.send(w, { kind: 'stream-sent', id: m.id, error: null }),
              (err: Error) => this.send(w, { kind: 'stream-sent', id: m.id, error: err.message }),
            );
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
        // Before it was ready the start itself fails (the caller closes everything); after, it is restarted.
        if (!this.stopped && this.ready.has(w)) this.restartLater(shard, code);
      });
    });
  }

  /**
   * A worker died: its calls are gone (their parties learn it from a 481 or
   * a timeout), what it held is given back, and the shard is started again
   * on the same share of the UDP sockets, so its Call-IDs are answered
   * again. The shard's datagram queue (bounded) keeps what arrived meanwhile.
   */
  private restartLater(shard: number, code: number): void {
    const now = Date.now();
    const recent = (this.deaths.get(shard) ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
    recent.push(now);
    this.deaths.set(shard, recent);
    const delay = Math.min(RESTART_MAX_DELAY_MS, RESTART_DELAY_MS * 2 ** (recent.length - 1));
    this.o.onShardLost?.(shard);
    this.o.logger.error({ worker: shard, code, restartInMs: delay, deathsInLastMinute: recent.length }, 'SIP worker thread exited; its calls are lost; starting it again');
    const t = setTimeout(() => {
      this.restartTimers.delete(t);
      if (this.stopped) return;
      this.spawn(shard).then(
        () => {
          this.restartCount++;
          this.o.onShardRestarted?.(shard);
          this.o.logger.warn({ worker: shard, restarts: this.restartCount }, 'SIP worker thread started again');
        },
        (err: unknown) => {
          this.o.logger.error({ err, worker: shard }, 'SIP worker thread could not be started again');
          void this.workers[shard - 1]?.terminate();
          this.restartLater(shard, -1);
        },
      );
    }, delay);
    this.restartTimers.add(t);
  }

  /**
   * A message framed off one of the main thread's TCP/TLS connections, for
   * the worker of `shard`. False when that worker is not running or not
   * ready yet (being started again): then the main thread handles it,
   * which is better than a message the worker would drop.
   */
  postStream(shard: number, frame: StreamFrame): boolean {
    const w = this.workers[shard - 1];
    if (w === undefined || this.exited.has(w) || !this.ready.has(w) || this.stopped) return false;
    this.send(w, { kind: 'stream', frame });
    return true;
  }

  /** Test hook (SBC_TEST_HOOKS=1 in the worker): the worker throws an uncaught exception. */
  crashForTest(shard: number): void {
    const w = this.workers[shard - 1];
    if (w !== undefined) this.send(w, { kind: 'crash' });
  }

  private send(w: Worker, m: ToWorker): void {
    w.postMessage(m);
  }

  /** Asks every worker; a worker that does not answer in time gives null. */
  ask(method: 'stats' | 'calls' | 'ladder' | 'admission' | 'end', arg?: string): Promise<unknown[]> {
    return Promise.all(this.live().map((w) => new Promise<unknown>((resolve) => {
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

  proxyState(server: ServerEvent, up: boolean, shard?: number): void {
    for (const w of this.live(shard)) this.send(w, { kind: 'proxy', server, up });
  }

  reload(text: string, shard?: number): void {
    for (const w of this.live(shard)) this.send(w, { kind: 'reload', text });
  }

  private live(shard?: number): Worker[] {
    const ws = shard === undefined ? this.workers : [this.workers[shard - 1]].filter((w): w is Worker => w !== undefined);
    return ws.filter((w) => !this.exited.has(w));
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    await Promise.all(this.live().map((w) => new Promise<void>((resolve) => {
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
