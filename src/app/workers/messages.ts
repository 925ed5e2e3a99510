/**
 * What the main thread and the SIP worker threads say to each other
 * (docs/performance.md, "Multi-core signalling"). Everything here crosses a
 * MessagePort by structured clone: plain data only.
 */
import type { CallDetailRecord } from '../../cdr/index.js';
import type { ServerEvent } from '../../routing/proxy-set.js';

/** Given to a worker at start (workerData). */
export interface WorkerSetup {
  configFile: string;
  shard: number;
  shards: number;
  /** SIP Interface name -> the share id of its UDP socket on the main thread. */
  shares: Record<string, number>;
  relay: 'native' | 'js';
  /** Exact admission-control counters shared by every thread (shared-admission.ts). */
  admission: SharedArrayBuffer;
}

/** Main -> worker. */
export type ToWorker =
  | { kind: 'reload'; text: string }
  /** The main thread's keep-alive verdict on a proxy server. */
  | { kind: 'proxy'; server: ServerEvent; up: boolean }
  | { kind: 'rpc'; id: number; method: 'stats' | 'calls' | 'ladder' | 'admission' | 'end'; arg?: string }
  | { kind: 'stop'; graceMs: number }
  /** Test hook, obeyed only with SBC_TEST_HOOKS=1: an uncaught exception in the worker. */
  | { kind: 'crash' };

/** Worker -> main. */
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'failed'; error: string }
  /** A UDP message this worker does not own (docs/performance.md): main handles it as received. */
  | { kind: 'datagram'; iface: string; address: string; port: number; bytes: Uint8Array }
  | { kind: 'cdr'; record: CallDetailRecord }
  | { kind: 'rpc'; id: number; value: unknown }
  | { kind: 'stopped' };
