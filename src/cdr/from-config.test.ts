import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../config/load.js';
import { silentLogger } from '../util/logger.js';
import { parseCsvLine } from './format.js';
import { createCdrPipeline } from './from-config.js';
import { sampleCdr } from './sample-record.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-cfg-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const csv = async (name: string): Promise<string[][]> =>
  (await readFile(join(dir, name), 'utf8')).split('\n').filter((l) => l !== '').map(parseCsvLine);

describe('createCdrPipeline from the ini', () => {
  it('SBCCDRFormat chooses, orders and titles the local columns; media records go per stream to their own file', async () => {
    const ini = `
CDRLocalDir = ${dir}
CDRReportLevel = 3
MediaCDRReportLevel = 1
[ SBCCDRFormat ]
FORMAT Index = CDRType, FieldType, Title;
SBCCDRFormat 0 = 5, SessionId, ;
SBCCDRFormat 1 = 5, srcUriBeforeMap, From;
SBCCDRFormat 2 = 5, 408, Seconds;
SBCCDRFormat 3 = 5, sbcreporttype, ;
SBCCDRFormat 4 = 1, SessionId, ;
[ \\SBCCDRFormat ]
`;
    const r = loadConfigText(ini, 'cdr.ini');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const { pipeline, archive, settings } = await createCdrPipeline(r.config!, silentLogger());
    expect(settings.local).toMatchObject({ maxFileBytes: 1024 * 1024, maxFiles: 5, intervalMs: 3_600_000, formats: ['csv'] });
    expect(archive?.columns.map((c) => c.title)).toEqual(['SessionId', 'From', 'Seconds', 'SBCReportType']);
    const rec = sampleCdr();
    rec.media.push({ ...structuredClone(rec.media[0]!), index: 1, media: 'video', coder: 'H264' });
    pipeline.emit(sampleCdr({ reportType: 'CALL_START' })); // level 3: not written
    pipeline.emit(sampleCdr({ reportType: 'CALL_CONNECT' }));
    pipeline.emit(rec);
    pipeline.emit({ ...rec, reportType: 'MEDIA_END' });
    await pipeline.close();
    expect(await csv('cdr.csv')).toEqual([
      ['SessionId', 'From', 'Seconds', 'SBCReportType'],
      ['c0ffee01', 'sip:1000@pbx.example', '30', 'CALL_CONNECT'],
      ['c0ffee01', 'sip:1000@pbx.example', '30', 'CALL_END'],
    ]);
    const media = await csv('cdr-media.csv');
    expect(media).toHaveLength(3);
    const h = media[0]!;
    expect(media.slice(1).map((row) => [row[h.indexOf('MediaType')], row[h.indexOf('Coder')], row[h.indexOf('SBCReportType')]])).toEqual([
      ['audio', 'PCMA', 'MEDIA_END'], ['video', 'H264', 'MEDIA_END'],
    ]);
  });

  it('an unknown field is a config error at its line', () => {
    const r = loadConfigText('[ SBCCDRFormat ]\nFORMAT Index = CDRType, FieldType;\nSBCCDRFormat 0 = 5, NoSuchField;\n[ \\SBCCDRFormat ]\n', 'x.ini');
    expect(r.config).toBeNull();
    expect(r.diagnostics).toContainEqual(expect.objectContaining({ severity: 'error', line: 3, message: expect.stringContaining("unknown CDR field 'NoSuchField'") }));
  });

  it('a bad scalar is a config error with its line', () => {
    const r = loadConfigText('CDRReportLevel = 9\nCDRSyslogServerPort = 0\n', 'x.ini');
    expect(r.config).toBeNull();
    expect(r.diagnostics.map((d) => d.line).sort()).toEqual([1, 2]);
  });
});
