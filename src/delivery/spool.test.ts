import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskSpool, spoolBytes } from './spool.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function drain(s: DiskSpool): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const b = await s.peek(7);
    if (b.length === 0) return out;
    out.push(...b);
    await s.consume(b.length);
  }
}

describe('DiskSpool', () => {
  it('keeps items in order across segments, including newlines and unicode', async () => {
    const s = await DiskSpool.open(dir, { maxBytes: 1 << 20, segmentBytes: 300 });
    const items = Array.from({ length: 100 }, (_, i) => `item ${i}\nline two ✓`);
    await s.append(items.slice(0, 40));
    await s.append(items.slice(40));
    expect(s.count).toBe(100);
    expect(await drain(s)).toEqual(items);
    expect(s.count).toBe(0);
    expect(await spoolBytes(dir)).toBe(0);
  });

  it('appends while the head segment is being read keep their place after it', async () => {
    const s = await DiskSpool.open(dir, { segmentBytes: 10_000 });
    await s.append(['a', 'b']);
    expect(await s.peek(1)).toEqual(['a']);
    await s.append(['c']);
    await s.consume(1);
    expect(await drain(s)).toEqual(['b', 'c']);
  });

  it('survives a restart: a new instance adopts the segments, compacted past what was consumed', async () => {
    const s = await DiskSpool.open(dir, { segmentBytes: 1000 });
    await s.append(['1', '2', '3', '4']);
    await s.peek(2);
    await s.consume(2);
    await s.compact();
    const again = await DiskSpool.open(dir);
    expect(again.count).toBe(2);
    expect(await drain(again)).toEqual(['3', '4']);
  });

  it('drops whole oldest segments beyond the bound and counts them', async () => {
    const dropped: number[] = [];
    const s = await DiskSpool.open(dir, { maxBytes: 2000, segmentBytes: 500, onDrop: (n) => dropped.push(n) });
    const items = Array.from({ length: 200 }, (_, i) => `record-${String(i).padStart(4, '0')}`);
    for (const it of items) await s.append([it]);
    expect(s.bytes).toBeLessThanOrEqual(2000 + 500);
    const lost = dropped.reduce((a, b) => a + b, 0);
    expect(lost).toBeGreaterThan(0);
    expect(s.dropped).toBe(lost);
    const rest = await drain(s);
    expect(rest.length + lost).toBe(200);
    // What is left is the newest, still in order.
    expect(rest).toEqual(items.slice(lost));
  });

  it('skips a torn last line left by a crash', async () => {
    await writeFile(join(dir, 'seg-000000000001.spool'), '"a"\n"b"\n"c', 'utf8');
    const s = await DiskSpool.open(dir);
    expect(await drain(s)).toEqual(['a', 'b']);
  });

  it('rejects appends it cannot write, keeping its state', async () => {
    const s = await DiskSpool.open(dir);
    await rm(dir, { recursive: true, force: true });
    await writeFile(dir, 'not a directory');
    await expect(s.append(['x'])).rejects.toThrow();
    expect(s.count).toBe(0);
    await rm(dir, { force: true });
  });
});
