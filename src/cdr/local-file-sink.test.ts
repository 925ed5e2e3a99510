import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger.js';
import { defaultColumns, parseCsvLine } from './format.js';
import { LocalFileSink, type LocalFileSinkOptions } from './local-file-sink.js';
import { sampleCdr } from './sample-record.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-local-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sink = (over: Partial<LocalFileSinkOptions> = {}): LocalFileSink => new LocalFileSink({
  dir, name: 'cdr', format: 'csv', kind: 'call', columns: defaultColumns('call'), maxFileBytes: 1 << 20, maxFiles: 3,
  intervalMs: 0, log: silentLogger(), ...over,
});

async function allCsvRows(): Promise<string[][]> {
  const names = (await readdir(dir)).sort();
  const rows: string[][] = [];
  const rotated = names.filter((n) => n.endsWith('.gz'));
  for (const n of [...rotated, 'cdr.csv']) {
    if (!names.includes(n)) continue;
    const raw = await readFile(join(dir, n));
    const text = n.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe(defaultColumns('call').map((c) => c.title).join(','));
    rows.push(...lines.slice(1).map(parseCsvLine));
  }
  return rows;
}

describe('LocalFileSink', () => {
  it('writes a CSV header line then one line per record, quoting where needed', async () => {
    const s = sink();
    s.write(sampleCdr({ sessionId: 's1' }));
    s.write(sampleCdr({ sessionId: 's2' }));
    await s.close();
    const rows = await allCsvRows();
    const cols = defaultColumns('call').map((c) => c.title);
    expect(rows).toHaveLength(2);
    const r0 = Object.fromEntries(cols.map((c, i) => [c, rows[0]![i]]));
    expect(r0).toMatchObject({
      SBCReportType: 'CALL_END', SessionId: 's1', SIPCallId: 'a-leg@pbx', SourceIp: '192.0.2.10', DestIp: '198.51.100.20',
      DstTransportType: 'TLS', Caller: 'Alice, "Sales"', SrcURIBeforeMap: 'sip:1000@pbx.example', SrcURI: 'sip:+15551000@itsp.example',
      SetupTime: '2025-01-02T03:04:05.678Z', DurationMs: '30000', TrmSd: 'A', SRTP: 'yes', AlertTime: '2025-01-02T03:04:06.478Z',
    });
  });

  it('writes JSON Lines keyed by column title', async () => {
    const s = sink({ format: 'jsonl' });
    s.write(sampleCdr());
    await s.close();
    const line = (await readFile(join(dir, 'cdr.jsonl'), 'utf8')).trim();
    const o = JSON.parse(line) as Record<string, unknown>;
    expect(o['SessionId']).toBe('c0ffee01');
    expect(o['ARxLossPct']).toBe(0.2);
    expect(o['RedirectURINum']).toBeNull();
  });

  it('rotates by size into gzip files and keeps only the configured count; no record lost among the kept files', async () => {
    const s = sink({ maxFileBytes: 4096, maxFiles: 3 });
    const n = 200;
    for (let i = 0; i < n; i++) {
      s.write(sampleCdr({ sessionId: `s${i}` }));
      if (i % 10 === 9) await s.flush();
    }
    await s.close();
    const names = await readdir(dir);
    const gz = names.filter((x) => x.endsWith('.csv.gz'));
    expect(gz).toHaveLength(3);
    expect(names.filter((x) => /_\d{5}\.csv$/.test(x))).toHaveLength(0);
    for (const g of gz) expect(g).toMatch(/^cdr_\d\d\.\d\d\.\d\d-\d\d\.\d\d\.\d\d_\d{5}\.csv\.gz$/);
    expect(s.stats().rotations).toBeGreaterThan(3);
    // The files kept hold a contiguous, ordered tail of the records.
    const ids = (await allCsvRows()).map((r) => Number(r[1]!.slice(1)));
    expect(ids.length).toBeGreaterThan(10);
    expect(ids[ids.length - 1]).toBe(n - 1);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 1]! + 1);
  });

  it('rotates by interval when the file has records', async () => {
    const s = sink({ intervalMs: 50 });
    s.write(sampleCdr());
    await s.flush();
    const end = Date.now() + 10_000;
    while (!(await readdir(dir)).some((x) => x.endsWith('.gz'))) {
      if (Date.now() > end) throw new Error('no interval rotation');
      await new Promise((r) => setTimeout(r, 50));
      // rotation is checked at most once a minute in production; here the interval is short
    }
    await s.close();
    expect(await allCsvRows()).toHaveLength(1);
  });

  it('starts a new file when the columns changed since the current one was written', async () => {
    await writeFile(join(dir, 'cdr.csv'), 'Old,Header\n1,2\n');
    const s = sink();
    s.write(sampleCdr());
    await s.close();
    const names = await readdir(dir);
    expect(names.filter((x) => x.endsWith('.gz'))).toHaveLength(1);
    expect((await allCsvRows().catch(() => null))).toBeNull(); // the old file keeps its own header
    const cur = (await readFile(join(dir, 'cdr.csv'), 'utf8')).split('\n');
    expect(cur[0]).toBe(defaultColumns('call').map((c) => c.title).join(','));
  });

  it('an unwritable directory is counted and logged, never thrown; records are kept for a retry', async () => {
    const blocker = join(dir, 'blocked');
    await writeFile(blocker, 'a file, not a directory');
    const s = sink({ dir: blocker });
    expect(() => s.write(sampleCdr())).not.toThrow();
    await s.flush();
    const st = s.stats();
    expect(st.errors).toBeGreaterThan(0);
    expect(st.up).toBe(false);
    expect(st.queued).toBe(1);
    await rm(blocker);
    await s.flush();
    expect(s.stats()).toMatchObject({ written: 1, queued: 0, up: true });
    await s.close();
  });

  it('ignores records of the other family', async () => {
    const s = sink();
    s.write(sampleCdr({ reportType: 'MEDIA_END' }));
    await s.close();
    expect(s.stats().written).toBe(0);
  });
});
