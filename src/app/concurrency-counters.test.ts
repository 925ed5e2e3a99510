import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { LocalCounters, SharedCounters, type ConcurrencyCounters } from './concurrency-counters.js';

function behaves(make: () => ConcurrencyCounters): void {
  it('takes up to the limit, refuses past it without changing anything, and gives back', () => {
    const c = make();
    expect(c.take('r1|PBX', 2)).toBe(true);
    expect(c.take('r1|PBX', 2)).toBe(true);
    expect(c.take('r1|PBX', 2)).toBe(false);
    expect(c.value('r1|PBX')).toBe(2);
    expect(c.take('r1|ITSP', 2)).toBe(true); // another key counts on its own
    c.give('r1|PBX');
    expect(c.value('r1|PBX')).toBe(1);
    c.give('r1|PBX');
    c.give('r1|PBX'); // never below 0
    expect(c.value('r1|PBX')).toBe(0);
    expect(c.take('unlimited', -1)).toBe(true);
  });

  it('paces as a token bucket: a burst, then perSec, and unpace returns a token', () => {
    const c = make();
    const t = 1_000_000;
    // Burst 3 at 2/s: three at once, the fourth refused; half a second later one more.
    expect([1, 2, 3, 4].map(() => c.pace('rate', 2, 3, t))).toEqual([true, true, true, false]);
    expect(c.pace('rate', 2, 3, t + 499)).toBe(false);
    expect(c.pace('rate', 2, 3, t + 500)).toBe(true);
    c.unpace('rate', 2);
    expect(c.pace('rate', 2, 3, t + 500)).toBe(true);
    expect(c.pace('rate', 2, 3, t + 500)).toBe(false);
  });
}

describe('LocalCounters', () => behaves(() => new LocalCounters()));
describe('SharedCounters', () => {
  behaves(() => new SharedCounters(SharedCounters.allocate(1, 64)));

  it('two views of one buffer see the same counts; a full table refuses new keys', () => {
    const buf = SharedCounters.allocate(1, 4);
    const a = new SharedCounters(buf);
    const b = new SharedCounters(buf);
    expect(a.take('k', 1)).toBe(true);
    expect(b.take('k', 1)).toBe(false);
    expect(b.value('k')).toBe(1);
    for (const k of ['x', 'y', 'z']) expect(a.take(k, -1)).toBe(true);
    expect(a.take('one too many', -1)).toBe(false);
  });

  it('gives back what a dead thread held, and only that', () => {
    const buf = SharedCounters.allocate(3, 16);
    const main = new SharedCounters(buf, 0);
    const w1 = new SharedCounters(buf, 1);
    const w2 = new SharedCounters(buf, 2);
    for (let i = 0; i < 3; i++) expect(w1.take('rule', 10)).toBe(true);
    expect(w2.take('rule', 10)).toBe(true);
    expect(main.take('rule', 10)).toBe(true);
    w1.give('rule');
    expect(main.value('rule')).toBe(4);
    // Thread 1 dies holding 2: they come back; thread 2's and main's stay.
    expect(main.releaseThread(1)).toBe(2);
    expect(main.value('rule')).toBe(2);
    expect(main.releaseThread(1)).toBe(0);
    w2.give('rule');
    main.give('rule');
    expect(main.value('rule')).toBe(0);
    expect(() => new SharedCounters(buf, 3)).toThrow(RangeError);
  });

  it('stays exact when threads take at once: a limit of 500 admits 500 of 4 x 400', async () => {
    const buf = SharedCounters.allocate(1, 64);
    // Each worker thread loads this very module (tsx compiles it) over the same memory.
    const src = `
      const { workerData, parentPort } = require('node:worker_threads');
      import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.url); }).then(({ SharedCounters }) => {
        const c = new SharedCounters(workerData.buf);
        Atomics.wait(new Int32Array(workerData.go), 0, 0);
        let ok = 0;
        for (let i = 0; i < 400; i++) if (c.take('shared', 500)) ok++;
        parentPort.postMessage(ok);
      });`;
    const url = new URL('./concurrency-counters.ts', import.meta.url).href;
    const main = new SharedCounters(buf);
    const go = new SharedArrayBuffer(4);
    const workers = Array.from({ length: 4 }, () => new Worker(src, { eval: true, workerData: { buf, url, go } }));
    const results = workers.map((w) => new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    }));
    // All four start together (each waits on `go`), so their takes overlap.
    await new Promise((r) => setTimeout(r, 300));
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    const oks = await Promise.all(results);
    await Promise.all(workers.map((w) => w.terminate()));
    expect(oks.reduce((x, y) => x + y, 0)).toBe(500);
    expect(main.value('shared')).toBe(500);
    expect(main.take('shared', 500)).toBe(false);
  });
});
