/**
 * Child process for cdr-sigterm.test.ts: builds the CDR pipeline from an ini
 * text given in argv[2], emits records until SIGTERM, then flushes and
 * exits, printing how many records it emitted.
 */
import { loadConfigText } from '../../src/config/load.js';
import { createCdrPipeline } from '../../src/cdr/from-config.js';
import { sampleCdr } from '../../src/cdr/sample-record.js';
import { createLogger } from '../../src/util/logger.js';

const loaded = loadConfigText(process.argv[2]!, 'child.ini');
if (loaded.config === null) {
  console.error(JSON.stringify(loaded.diagnostics));
  process.exit(2);
}
const { pipeline } = await createCdrPipeline(loaded.config, createLogger({ level: 'silent' }));
let n = 0;
let stopping = false;
const timer = setInterval(() => {
  if (stopping) return;
  for (let i = 0; i < 5; i++) {
    n++;
    pipeline.emit(sampleCdr({ sessionId: `k${n}`, recordTime: Date.now() }));
  }
  if (n % 50 === 0) process.stdout.write(`emitted ${n}\n`);
}, 2);
process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(timer);
  void (async () => {
    await pipeline.flush();
    await pipeline.close();
    process.stdout.write(`done ${n}\n`);
    process.exit(0);
  })();
});
