/**
 * Entry point of a SIP worker thread (started by worker-pool.ts): builds
 * this thread's CallShard and answers the main thread's messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setCallIdShard } from '../../sip/call-id-shard.js';
import { createLogger } from '../../util/logger.js';
import { CallShard } from './call-shard.js';
import type { FromWorker, ToWorker, WorkerSetup } from './messages.js';

const port = parentPort;
if (port === null) throw new Error('sip-worker.ts runs as a worker thread');
const setup = workerData as WorkerSetup;
const log = createLogger().child({ worker: setup.shard });
const post = (m: FromWorker): void => port.postMessage(m);
setCallIdShard(setup.shard, setup.shards);

let shard: CallShard | null = null;

async function answer(m: ToWorker & { kind: 'rpc' }, s: CallShard): Promise<unknown> {
  switch (m.method) {
    case 'stats':
      return s.stats();
    case 'calls':
      return s.liveCalls();
    case 'ladder':
      return s.ladder(m.arg ?? '');
    case 'admission':
      return s.admission.stats();
    case 'end': {
      // arg: "<call id>\n<API user>"
      const [id = '', by = 'api'] = (m.arg ?? '').split('\n');
      return s.endCall(id, by);
    }
  }
}

port.on('message', (m: ToWorker) => {
  const s = shard;
  if (s === null) return;
  if (m.kind === 'stream') {
    s.acceptStreamFrame(m.frame);
  } else if (m.kind === 'stream-sent') {
    s.streamSent(m.id, m.error);
  } else if (m.kind === 'rpc') {
    answer(m, s).then((value) => post({ kind: 'rpc', id: m.id, value }), (err: Error) => post({ kind: 'rpc', id: m.id, value: { error: err.message } }));
  } else if (m.kind === 'proxy') {
    s.followProxy(m.server, m.up);
  } else if (m.kind === 'reload') {
    void s.reload(m.text);
  } else if (m.kind === 'crash') {
    if (process.env['SBC_TEST_HOOKS'] === '1') {
      setImmediate(() => {
        throw new Error('test hook: SIP worker crash');
      });
    }
  } else if (m.kind === 'stop') {
    void s.stop(m.graceMs).then(() => {
      post({ kind: 'stopped' });
      port.close();
    });
  }
});

CallShard.start(setup, log, post).then(
  (s) => {
    shard = s;
    post({ kind: 'ready' });
  },
  (err: Error) => {
    log.error({ err }, 'SIP worker failed to start');
    post({ kind: 'failed', error: err.message });
  },
);
