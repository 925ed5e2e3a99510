import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { createSpooledDelivery, ReliableDelivery, type DeliveryTransport } from './reliable.js';

/** A receiver that can be switched off; records what it accepted, in order. */
class FakeReceiver implements DeliveryTransport {
  readonly description = 'fake';
  up = true;
  received: string[] = [];
  attempts = 0;
  async send(batch: readonly string[]): Promise<void> {
    this.attempts++;
    await new Promise((r) => setImmediate(r));
    if (!this.up) throw new Error('down');
    this.received.push(...batch);
  }
  async close(): Promise<void> {}
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reliable-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const items = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `r${from + i}`);

describe('ReliableDelivery', () => {
  it('delivers in order and batches', async () => {
    const rx = new FakeReceiver();
    const d = new ReliableDelivery({ name: 't', transport: rx, spool: null, maxBatch: 50, log: silentLogger() });
    for (const it of items(0, 500)) d.enqueue(it);
    await until(() => rx.received.length === 500, 'delivery');
    expect(rx.received).toEqual(items(0, 500));
    expect(rx.attempts).toBeLessThan(500);
    expect(d.stats()).toMatchObject({ delivered: 500, lost: 0, queued: 0 });
  });

  it('spools while the receiver is down and replays in order when it returns; nothing lost', async () => {
    const rx = new FakeReceiver();
    const d = await createSpooledDelivery({ name: 't', transport: rx, spoolDir: dir, retryMinMs: 20, retryMaxMs: 50, log: silentLogger() });
    for (const it of items(0, 100)) d.enqueue(it);
    await until(() => rx.received.length === 100, 'first batch');
    rx.up = false;
    for (const it of items(100, 300)) d.enqueue(it);
    await until(() => d.stats().spooled > 0 && !d.stats().up, 'spooling');
    for (const it of items(400, 100)) d.enqueue(it);
    rx.up = true;
    await until(() => rx.received.length === 500, 'replay');
    expect(rx.received).toEqual(items(0, 500));
    expect(d.stats()).toMatchObject({ lost: 0, spooled: 0, queued: 0, up: true });
    expect(d.stats().failures).toBeGreaterThan(0);
  });

  it('flush with the receiver down puts everything on disk; the next run replays it', async () => {
    const rx = new FakeReceiver();
    rx.up = false;
    const d = await createSpooledDelivery({ name: 't', transport: rx, spoolDir: dir, log: silentLogger() });
    for (const it of items(0, 250)) d.enqueue(it);
    await d.close(2000);
    expect(d.stats().spooled).toBe(250);
    expect(d.stats().lost).toBe(0);

    const rx2 = new FakeReceiver();
    const d2 = await createSpooledDelivery({ name: 't', transport: rx2, spoolDir: dir, log: silentLogger() });
    d2.enqueue('after-restart');
    await until(() => rx2.received.length === 251, 'replay after restart');
    expect(rx2.received).toEqual([...items(0, 250), 'after-restart']);
    await d2.close();
  });

  it('flush with the receiver up delivers everything before resolving', async () => {
    const rx = new FakeReceiver();
    const d = await createSpooledDelivery({ name: 't', transport: rx, spoolDir: dir, lingerMs: 10_000, log: silentLogger() });
    for (const it of items(0, 1000)) d.enqueue(it);
    await d.flush();
    expect(rx.received).toEqual(items(0, 1000));
  });

  it('without a spool, loses only beyond the memory bound, and counts it', async () => {
    const rx = new FakeReceiver();
    rx.up = false;
    const losses: number[] = [];
    const d = new ReliableDelivery({
      name: 't', transport: rx, spool: null, maxMemoryItems: 100, retryMinMs: 10, retryMaxMs: 10, log: silentLogger(),
      onLoss: (n) => losses.push(n),
    });
    for (const it of items(0, 300)) d.enqueue(it);
    await until(() => rx.attempts >= 2, 'retries');
    rx.up = true;
    await until(() => d.stats().queued === 0, 'drain');
    const lost = d.stats().lost;
    expect(lost).toBe(200);
    expect(losses.reduce((a, b) => a + b, 0)).toBe(200);
    // The newest are the ones kept, in order.
    expect(rx.received).toEqual(items(200, 100));
  });

  it('a spool bound hit drops the oldest, counted; the rest arrives in order', async () => {
    const rx = new FakeReceiver();
    rx.up = false;
    const d = await createSpooledDelivery({
      name: 't', transport: rx, spoolDir: dir, maxSpoolBytes: 4096, retryMinMs: 10, retryMaxMs: 10, log: silentLogger(),
    });
    for (let i = 0; i < 20; i++) {
      for (const it of items(i * 50, 50)) d.enqueue(it);
      await d.flush(100);
    }
    rx.up = true;
    d.kick();
    await until(() => d.stats().spooled === 0 && d.stats().queued === 0, 'drain');
    const lost = d.stats().lost;
    expect(lost).toBeGreaterThan(0);
    expect(rx.received.length + lost).toBe(1000);
    expect(rx.received).toEqual(items(lost, 1000 - lost));
  });
});
