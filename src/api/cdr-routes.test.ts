import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultColumns, parseCsvLine } from '../cdr/format.js';
import { LocalFileSink } from '../cdr/local-file-sink.js';
import { CdrPipeline } from '../cdr/pipeline.js';
import { sampleCdr } from '../cdr/sample-record.js';
import { silentLogger } from '../util/logger.js';
import { registerCdrRoutes } from './cdr-routes.js';
import { registerQoeRoutes } from './qoe-routes.js';

/**
 * 20 calls: the ring holds the last 5, the rest are read back from the CSV
 * file. Even calls PBX -> ITSP answered to 2000, odd calls PBX -> TEAMS busy
 * to 3000; every fourth call's media is red (MOS 2.1).
 */
describe('CDR search, paging, CSV and the QoE summary over the ring and the files', () => {
  let dir: string;
  let server: FastifyInstance;
  let pipeline: CdrPipeline;
  const t0 = Date.UTC(2025, 0, 1, 10, 0, 0);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdr-routes-'));
    const cols = defaultColumns('call');
    const file = new LocalFileSink({ dir, name: 'cdr', format: 'csv', kind: 'call', columns: cols, maxFileBytes: 1_000_000, maxFiles: 10, intervalMs: 0, log: silentLogger() });
    pipeline = new CdrPipeline({ sinks: [file], levels: { callLevel: 1, mediaLevel: 0, nonCall: false }, ringSize: 5, log: silentLogger() });
    for (let i = 0; i < 20; i++) {
      const odd = i % 2 === 1;
      const base = sampleCdr();
      const red = i % 4 === 0;
      const stream = { ...base.media[0]!, verdict: red ? 'red' as const : 'green' as const, A: { ...base.media[0]!.A, rx: { ...base.media[0]!.A.rx, mos: red ? 2.1 : 4.4 } } };
      pipeline.emit(sampleCdr({
        sessionId: `s${i}`, releaseTime: t0 + i * 60_000, recordTime: t0 + i * 60_000,
        legB: { ...base.legB, ipGroup: odd ? 'TEAMS' : 'ITSP' },
        callee: { user: odd ? '3000' : '2000', uri: `sip:${odd ? '3000' : '2000'}@x`, displayName: null },
        calleeBeforeMap: { user: odd ? '3000' : '2000', uri: `sip:${odd ? '3000' : '2000'}@pbx`, displayName: null },
        ...(odd ? { connectTime: null, durationMs: 0, sipStatus: 486, terminationCategory: 'busy' as const } : {}),
        media: [stream], qoeVerdict: stream.verdict,
      }));
    }
    await pipeline.flush();
    await file.rotateNow();
    server = Fastify({ logger: false });
    const source = () => ({ recent: () => pipeline.recent(), archive: { files: () => file.files(), format: 'csv' as const, columns: cols } });
    registerCdrRoutes(server, source);
    registerQoeRoutes(server, source);
  });
  afterAll(async () => {
    await server?.close();
    await pipeline?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ids = async (qs: string): Promise<string[]> => {
    const r = await server.inject({ url: `/api/v1/cdrs?view=summary&${qs}` });
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { records: Array<{ sessionId: string }> }).records.map((x) => x.sessionId);
  };

  it('filters by callee, IP Group and result in the ring and in the files alike, and pages', async () => {
    expect(await ids('callee=3000&limit=4')).toEqual(['s19', 's17', 's15', 's13']);
    expect(await ids('ipGroup=teams&offset=4&limit=3')).toEqual(['s11', 's9', 's7']);
    expect(await ids('result=busy&limit=100')).toHaveLength(10);
    expect(await ids('result=answered&from=' + (t0 + 10 * 60_000) + '&limit=100')).toEqual(['s18', 's16', 's14', 's12', 's10']);
    expect(await ids('result=486&callee=2000')).toEqual([]);
    // Every page of 3 over all 20, without gaps or repeats.
    const all: string[] = [];
    for (let off = 0; off < 21; off += 3) all.push(...await ids(`offset=${off}&limit=3`));
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => `s${19 - i}`));
    expect((await server.inject({ url: '/api/v1/cdrs?offset=-1' })).statusCode).toBe(400);
  });

  it('view=summary has the same keys and values for a ring record and a file row', async () => {
    const r = (await server.inject({ url: '/api/v1/cdrs?view=summary&callee=2000&limit=10' })).json() as { records: Array<Record<string, unknown>> };
    const ring = r.records.find((x) => x['sessionId'] === 's18')!;
    const file = r.records.find((x) => x['sessionId'] === 's4')!;
    expect(Object.keys(file)).toEqual(Object.keys(ring));
    expect(ring).toMatchObject({ callerUser: '+15551000', calleeUser: '2000', srcIpGroup: 'PBX', dstIpGroup: 'ITSP', qoeVerdict: 'green' });
    expect(file).toMatchObject({ callerUser: '+15551000', calleeUser: '2000', srcIpGroup: 'PBX', dstIpGroup: 'ITSP', qoeVerdict: 'red' });
    expect(Number(ring['sipStatus'])).toBe(200);
    expect(Number(file['sipStatus'])).toBe(200);
  });

  it('CSV: the file columns, one line per call, RFC 4180 quoting for ring and file rows', async () => {
    const r = await server.inject({ url: '/api/v1/cdrs.csv?ipGroup=ITSP&limit=10' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="cdrs-[\dT-]+Z\.csv"$/);
    const lines = r.body.trimEnd().split('\n');
    expect(lines).toHaveLength(11);
    const header = parseCsvLine(lines[0]!);
    expect(header).toEqual(defaultColumns('call').map((c) => c.title));
    for (const line of lines.slice(1)) {
      expect(parseCsvLine(line)).toHaveLength(header.length);
      // The display name with a comma and quotes: quoted, quotes doubled (from the ring and from the file).
      expect(line).toContain('"Alice, ""Sales"""');
    }
    const sessions = lines.slice(1).map((l) => parseCsvLine(l)[header.indexOf('SessionId')]);
    expect(sessions).toEqual(['s18', 's16', 's14', 's12', 's10', 's8', 's6', 's4', 's2', 's0']);
    expect((await server.inject({ url: '/api/v1/cdrs.csv?limit=10001' })).statusCode).toBe(400);
  });

  it('QoE summary: per IP Group calls, poor share per bucket, MOS bands, and the red calls', async () => {
    const r = await server.inject({ url: `/api/v1/qoe/summary?from=${t0}&to=${t0 + 20 * 60_000}&bucketMin=10` });
    expect(r.statusCode, r.body).toBe(200);
    const s = r.json() as {
      bucketMs: number; groups: Array<{ ipGroup: string; calls: number; poor: number; mosHistogram: number[]; buckets: Array<{ calls: number; poor: number; mos: number | null }> }>;
      poorCalls: Array<{ sessionId: string; verdict: string; mos: number }>;
    };
    expect(s.bucketMs).toBe(600_000);
    expect(s.groups.map((g) => g.ipGroup)).toEqual(['ITSP', 'PBX', 'TEAMS']);
    const pbx = s.groups.find((g) => g.ipGroup === 'PBX')!;
    expect(pbx).toMatchObject({ calls: 20, poor: 5 });
    expect(pbx.mosHistogram).toEqual([5, 0, 0, 0, 0, 15]); // 2.1 and 4.4
    expect(pbx.buckets.map((b) => [b.calls, b.poor])).toEqual([[10, 3], [10, 2]]);
    const itsp = s.groups.find((g) => g.ipGroup === 'ITSP')!;
    expect(itsp).toMatchObject({ calls: 10, poor: 5 });
    expect(s.groups.find((g) => g.ipGroup === 'TEAMS')).toMatchObject({ calls: 10, poor: 0 });
    expect(s.poorCalls.map((c) => c.sessionId)).toEqual(['s16', 's12', 's8', 's4', 's0']);
    expect(s.poorCalls[0]).toMatchObject({ verdict: 'red', mos: 2.1 });
    expect((await server.inject({ url: '/api/v1/qoe/summary?bucketMin=0' })).statusCode).toBe(400);
  });
});
