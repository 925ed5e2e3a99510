/**
 * SIGTERM loses nothing: a process emitting CDRs into a local CSV file and
 * an HTTP collector that is down is stopped mid-stream; every record it
 * emitted is in the CSV file, and every one is in the collector's spool on
 * disk (to be replayed by the next run).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskSpool } from '../delivery/spool.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-sigterm-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('CDR pipeline on SIGTERM', () => {
  it('flushes the local file and spools the unreachable collector before exit; nothing lost', async () => {
    const port = await closedPort();
    const ini = [
      `CDRLocalDir = ${join(dir, 'cdr')}`, 'CDRLocalMaxFileSize = 8', 'CDRLocalMaxNumOfFiles = 1000',
      `CDRHttpCollectorUrl = http://127.0.0.1:${port}/cdr`, `CDRSpoolDir = ${join(dir, 'spool')}`, '',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('test/fixtures/cdr-sigterm-child.ts'), ini], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const end = Date.now() + 30_000;
      while (!/emitted (\d{3,})/.test(out) || Number(/emitted (\d+)\n(?![\s\S]*emitted)/.exec(out)?.[1] ?? 0) < 500) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`child did not emit: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const n = Number(/done (\d+)/.exec(out)?.[1]);
    expect(n).toBeGreaterThanOrEqual(500);

    const names = await readdir(join(dir, 'cdr'));
    expect(names.some((x) => x.endsWith('.csv.gz'))).toBe(true);
    const ids: number[] = [];
    const ordered = names.filter((x) => x.endsWith('.gz')).sort((a, b) => Number(/_(\d+)\.csv/.exec(a)![1]) - Number(/_(\d+)\.csv/.exec(b)![1]));
    for (const name of [...ordered, 'cdr.csv']) {
      if (!names.includes(name)) continue;
      const raw = await readFile(join(dir, 'cdr', name));
      const text = name.endsWith('.gz') ? gunzipSync(raw).toString() : raw.toString();
      for (const line of text.split('\n').slice(1)) if (line !== '') ids.push(Number(line.split(',')[1]!.slice(1)));
    }
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => i + 1));

    const spool = await DiskSpool.open(join(dir, 'spool', 'cdr-http'));
    expect(spool.count).toBe(n);
    const first = JSON.parse((await spool.peek(1))[0]!) as Record<string, unknown>;
    expect(first['SessionId']).toBe('k1');
  }, 60_000); // a child process under load: beyond the unit project's short default
});
