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

export interface SipWorkersWiring {
  shards: number;
  configFile: string;
  shares: Record<string, number>;
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
    shards: w.shards, configFile: w.configFile, shares: w.shares, relay: w.relay, admission: w.admissionBuffer, logger: w.log,
    onDatagram: (iface, bytes, address, port) => w.injectDatagram(iface, bytes, address, port),
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
  w.proxySets.on('server-up', (ev) => started.proxyState(ev, true));
  w.proxySets.on('server-down', (ev) => started.proxyState(ev, false));
  // Test hook: SIGUSR2 makes SIP worker 1 throw (test/integration/sip-worker-restart.test.ts).
  if (process.env['SBC_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => started.crashForTest(1));
  return started;
}
