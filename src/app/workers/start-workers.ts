/**
 * The main thread's wiring of the SIP worker threads (docs/performance.md,
 * "Multi-core signalling"): starts the pool, hands over what workers give
 * back (messages they do not own, CDRs), forwards proxy-server verdicts and
 * brings a restarted worker up to date (live configuration, proxy states,
 * the dead thread's admission counts given back).
 */
import type { CallDetailRecord } from '../../cdr/index.js';
import type { ProxySetManager } from '../../routing/index.js';
import type { Logger } from '../../util/logger.js';
import type { SharedCounters } from '../concurrency-counters.js';
import { SipWorkerPool } from './worker-pool.js';
import { shardOfHead } from '../../sip/call-id-shard.js';
import type { Endpoint, StreamFrame, StreamSend } from '../../transport/types.js';
import type { WorkerSetup } from './messages.js';
import { exactBytes } from './stream-sends.js';

/** The main thread's transport as the workers need it: it owns every TCP/TLS connection. */
export interface StreamOwner {
  setStreamHandOff(handOff: ((frame: StreamFrame) => boolean) | null): void;
  injectStreamMessage(interfaceName: string, connectionId: number, remote: Endpoint, buf: Buffer): void;
  sendForWorker(send: StreamSend): Promise<void>;
}

export interface SipWorkersWiring {
  shards: number;
  configFile: string;
  shares: Record<string, number>;
  streamPorts: WorkerSetup['streamPorts'];
  /** The main thread's transport: TCP/TLS messages of a worker's calls go there and back through it. */
  streams: StreamOwner;
  relay: 'native' | 'js';
  admissionBuffer: SharedArrayBuffer;
  /** The main thread's view of the shared admission counters. */
  counters: SharedCounters;
  proxySets: ProxySetManager;
  /** The running configuration's text (live edits included). */
  configText(): string;
  injectDatagram(iface: string, bytes: Buffer, address: string, port: number): void;
  writeCdr(record: CallDetailRecord): void;
  log: Logger;
}

export async function startSipWorkers(w: SipWorkersWiring): Promise<SipWorkerPool> {
  let pool: SipWorkerPool | null = null;
  pool = await SipWorkerPool.start({
    shards: w.shards, configFile: w.configFile, shares: w.shares, streamPorts: w.streamPorts, relay: w.relay, admission: w.admissionBuffer, logger: w.log,
    onDatagram: (iface, bytes, address, port) => w.injectDatagram(iface, bytes, address, port),
    onStreamMessage: (iface, connectionId, remote, bytes) => w.streams.injectStreamMessage(iface, connectionId, remote, bytes),
    onStreamSend: (send) => w.streams.sendForWorker(send),
    onCdr: (record) => w.writeCdr(record),
    onShardLost: (shard) => {
      const given = w.counters.releaseThread(shard);
      if (given > 0) w.log.warn({ worker: shard, given }, 'admission counts of the lost calls given back');
    },
    // What changed since the start reaches the new worker: the live configuration and the proxy servers' states.
    onShardRestarted: (shard) => {
      pool?.reload(w.configText(), shard);
      for (const st of w.proxySets.status()) {
        pool?.proxyState({ proxySetName: st.proxySetName, host: st.host, address: st.address, port: st.port, transport: st.transport }, st.up, shard);
      }
    },
  });
  const started = pool;
  // TCP/TLS: the connections stay here; each message goes to the thread that owns its Call-ID (the UDP dispatcher's rule).
  w.streams.setStreamHandOff((frame) => {
    const shard = shardOfHead(frame.head, w.shards);
    return shard !== 0 && started.postStream(shard, { ...frame, body: exactBytes(frame.body) });
  });
  w.proxySets.on('server-up', (ev) => started.proxyState(ev, true));
  w.proxySets.on('server-down', (ev) => started.proxyState(ev, false));
  // Test hook: SIGUSR2 makes SIP worker 1 throw (test/integration/sip-worker-restart.test.ts).
  if (process.env['SBC_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => started.crashForTest(1));
  return started;
}
