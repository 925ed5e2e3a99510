/**
 * What the main thread and the SIP worker threads say to each other
 * (docs/performance.md, "Multi-core signalling"). Everything here crosses a
 * MessagePort by structured clone: plain data only.
 */
import type { CallDetailRecord } from '../../cdr/index.js';
import type { ServerEvent } from '../../routing/proxy-set.js';
import type { Endpoint, StreamFrame, StreamSend } from '../../transport/types.js';

/** Given to a worker at start (workerData). */
export interface WorkerSetup {
  configFile: string;
  shard: number;
  shards: number;
  /** SIP Interface name -> the share id of its UDP socket on the main thread. */
  shares: Record<string, number>;
  /** SIP Interface name -> the TCP/TLS ports the main thread listens on (its connections carry this thread's calls too). */
  streamPorts: Record<string, { tcpPort?: number; tlsPort?: number }>;
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
  /** A message from one of the main thread's TCP/TLS connections whose Call-ID is this thread's. */
  | { kind: 'stream'; frame: StreamFrame }
  /** The main thread's answer to a 'stream-send': done, or why not. */
  | { kind: 'stream-sent'; id: number; error: string | null }
  /** Test hook, obeyed only with SBC_TEST_HOOKS=1: an uncaught exception in the worker. */
  | { kind: 'crash' };

/** Worker -> main. */
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'failed'; error: string }
  /** A UDP message this worker does not own (docs/performance.md): main handles it as received. */
  | { kind: 'datagram'; iface: string; address: string; port: number; bytes: Uint8Array }
  /** A TCP/TLS message this worker does not own: main handles it as if its connection had delivered it. */
  | { kind: 'stream-message'; iface: string; connectionId: number; remote: Endpoint; bytes: Uint8Array }
  /** Send these bytes over TCP/TLS (the main thread owns every connection); answered by 'stream-sent'. */
  | { kind: 'stream-send'; id: number; send: StreamSend }
  | { kind: 'cdr'; record: CallDetailRecord }
  | { kind: 'rpc'; id: number; value: unknown }
  | { kind: 'stopped' };
