/**
 * Issue 13 acceptance: CDRs of a 1,000-call mix at 50 cps out of the real
 * SBC process into three sinks at once — the local CSV files (rotated and
 * gzip-compressed), a syslog receiver over TCP and an HTTP collector that is
 * stopped for 20 s in the middle of the run. Four sipp callers run in
 * parallel, 250 calls each at 12.5 cps: answered (held 8 s), busy (486 from
 * a callee routed by number prefix), cancelled (CANCEL after 180), and
 * rejected by a route row. Every sink must hold exactly the 1,000 records,
 * each with the category and SIP code of its call; the collector gets them
 * exactly once and in order after it returns.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readCsvFiles, startHttpCollector, startRetryingPortRace, startSyslogTcp, until, type CdrRow, type HttpCollector, type SyslogReceiver,
} from './helpers/cdr-receivers.js';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess, type SippResult } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PER_KIND = 250;
const TOTAL = 4 * PER_KIND;
/** Called number -> what its record must say. */
const EXPECTED = {
  '2001': { kind: 'answered', status: '200', category: 'normal', trmReason: 'BYE', route: 'answered', side: 'A' },
  '4861': { kind: 'busy', status: '486', category: 'busy', trmReason: '486', route: 'busy', side: 'B' },
  '4871': { kind: 'cancelled', status: '487', category: 'cancelled', trmReason: 'CANCEL', route: 'ringing', side: 'A' },
  '4031': { kind: 'rejected', status: '403', category: 'rejected-by-route', trmReason: '403', route: 'blocked', side: 'sbc' },
} as const;
type Called = keyof typeof EXPECTED;
const OUTAGE_MS = 20_000;

/** The IP2IPRouting table of the mix: one row per called number; 4031 hits a row that rejects. */
function routing(busyPort: number, ringPort: number): string {
  return [
    '[ IP2IPRouting ]',
    'FORMAT Index = RouteName, SrcIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, DestType, DestIPGroupName, DestAddress, DestTransportType;',
    'IP2IPRouting 0 = "answered", "PBX", "*", "2001", 0, "ITSP", "", -1;',
    `IP2IPRouting 1 = "busy", "PBX", "*", "4861", 1, "ITSP", "127.0.0.3:${busyPort}", 0;`,
    `IP2IPRouting 2 = "ringing", "PBX", "*", "4871", 1, "ITSP", "127.0.0.3:${ringPort}", 0;`,
    'IP2IPRouting 3 = "blocked", "PBX", "*", "4031", 7, "", "reject(403)", -1;',
    'IP2IPRouting 4 = "ITSP to PBX", "ITSP", "*", "*", 0, "PBX", "", -1;',
    '[ \\IP2IPRouting ]',
  ].join('\r\n');
}

/** The called number of a record (user part of the Request-URI received on leg A). */
function calledOf(r: Record<string, unknown>): Called {
  const m = /^sip:(\d+)@/.exec(String(r['DstURIBeforeMap'] ?? ''));
  const n = m?.[1];
  if (n === undefined || !(n in EXPECTED)) throw new Error(`record with unexpected called party: ${JSON.stringify(r)}`);
  return n as Called;
}

/** Checks one sink's records: exactly TOTAL, one per call, each as its called number requires. */
function checkRecords(sink: string, records: Array<Record<string, unknown>>, answeredCallIds: ReadonlySet<string>): void {
  expect(records, sink).toHaveLength(TOTAL);
  const counts: Record<string, number> = {};
  for (const r of records) {
    const n = calledOf(r);
    const e = EXPECTED[n];
    counts[e.kind] = (counts[e.kind] ?? 0) + 1;
    const s = (k: string): string => (r[k] === null || r[k] === undefined ? '' : String(r[k]));
    expect({ sink, n, type: s('SBCReportType'), status: s('SIPStatus'), category: s('TrmReasonCategory'), trm: s('SIPTrmReason'), side: s('TrmSd') })
      .toEqual({ sink, n, type: 'CALL_END', status: e.status, category: e.category, trm: e.trmReason, side: e.side });
    expect(s('IPGroup'), sink).toBe('PBX');
    expect(s('SIPCallId'), sink).not.toBe('');
    expect(s('RouteName'), sink).toBe(e.route);
    if (e.kind !== 'rejected') {
      expect(s('DstIPGroup'), sink).toBe('ITSP');
      expect(s('SIPCallIdLegB'), sink).not.toBe('');
    } else {
      expect(s('SIPCallIdLegB'), sink).toBe('');
    }
    if (e.kind === 'answered') {
      expect(answeredCallIds.has(s('SIPCallId')), `${sink}: answered call ${s('SIPCallId')} unknown to sipp`).toBe(true);
      expect(Number(s('DurationMs')), sink).toBeGreaterThan(7000);
    } else {
      expect(s('ConnectTime'), sink).toBe('');
    }
    if (e.kind === 'cancelled') expect(s('AlertTime'), sink).not.toBe('');
  }
  expect(counts, sink).toEqual({ answered: PER_KIND, busy: PER_KIND, cancelled: PER_KIND, rejected: PER_KIND });
  expect(new Set(records.map((r) => r['SessionId'])).size, `${sink}: one record per call`).toBe(TOTAL);
  expect(new Set(records.map((r) => r['SIPCallId'])).size, `${sink}: one record per Call-ID`).toBe(TOTAL);
}

async function metric(apiPort: number, name: string, sink: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  const m = new RegExp(`^${name}\\{sink="${sink}"\\} (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

describe('CDRs of a 1,000-call mix at 50 cps (issue 13 acceptance)', () => {
  let dir: string;
  let sbc: SbcProcess | undefined;
  let syslog: SyslogReceiver;
  let collector: HttpCollector;
  const parties: SippProcess[] = [];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'cdr-mix-'));
    syslog = await startSyslogTcp();
    collector = await startHttpCollector(await findFreePort());
  });

  afterAll(async () => {
    for (const p of parties) await p.stop();
    await sbc?.stop();
    await collector?.close();
    await syslog?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('every call is in the CSV files, the TCP syslog receiver and the HTTP collector (down 20 s mid-run), with its category and SIP code', async () => {
    const [uasPort, busyPort, ringPort] = await Promise.all(Array.from({ length: 3 }, () => findFreePort()));
    const calleeTimeout = 150_000;
    const answer = startSipp({ scenario: 'test/scenarios/cdr-uas-answer.xml', calls: PER_KIND, localAddress: '127.0.0.3', localPort: uasPort!, timeoutMs: calleeTimeout });
    const busy = startSipp({ scenario: 'test/scenarios/b2bua-uas-486.xml', calls: PER_KIND, localAddress: '127.0.0.3', localPort: busyPort!, timeoutMs: calleeTimeout });
    const ring = startSipp({ scenario: 'test/scenarios/cdr-uas-ringing-cancel.xml', calls: PER_KIND, localAddress: '127.0.0.3', localPort: ringPort!, timeoutMs: calleeTimeout });
    parties.push(answer, busy, ring);
    await Promise.all([answer.bound(), busy.bound(), ring.bound()]);

    let lanPort = 0;
    let apiPort = 0;
    const iniFor = (lan: number, wan: number, api: number): string => testIni({
      lanPort: lan, wanPort: wan, apiPort: api, media: false,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort! }],
      scalars: [
        `CDRLocalDir = ${join(dir, 'cdr')}`, 'CDRLocalMaxFileSize = 64', 'CDRLocalMaxNumOfFiles = 100', 'CDRLocalInterval = 0',
        'CDRSyslogServerIP = 127.0.0.1', `CDRSyslogServerPort = ${syslog.port}`, 'CDRSyslogTransportType = 1',
        `CDRHttpCollectorUrl = http://127.0.0.1:${collector.port}/cdr`, `CDRSpoolDir = ${join(dir, 'spool')}`,
      ],
    });
    const table = /\[ IP2IPRouting \][\s\S]*?\[ \\IP2IPRouting \]/;
    expect(iniFor(1, 2, 3)).toMatch(table);
    sbc = await startRetryingPortRace(async () => {
      const [lan, wan, api] = [await findFreePort(), await findFreePort(), await findFreePort()];
      const started = await startSbc(iniFor(lan, wan, api).replace(table, routing(busyPort!, ringPort!)));
      [lanPort, apiPort] = [lan, api];
      return started;
    });

    // 4 x 12.5 cps = 50 cps for 20 s; each caller on its own media port (sipp binds one per process).
    const logFile = join(dir, 'answered.log');
    const caller = async (scenario: string, service: string, extra: string[] = []): Promise<SippProcess> => startSipp({
      scenario, target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', service, calls: PER_KIND, rate: 25, timeoutMs: 120_000,
      extraArgs: ['-rp', '2000', '-mp', String(await findFreePort('127.0.0.2')), ...extra],
    });
    const callers = [
      await caller('test/scenarios/cdr-uac-logged.xml', '2001', ['-d', '8000', '-trace_logs', '-log_file', logFile]),
      await caller('test/scenarios/cdr-uac-fail.xml', '4861'),
      await caller('test/scenarios/cdr-uac-cancel.xml', '4871'),
      await caller('test/scenarios/cdr-uac-fail.xml', '4031'),
    ];
    parties.push(...callers);

    // The collector goes down once records are flowing, for 20 s, while calls keep ending.
    await until(() => collector.records.length >= 100, '100 records at the collector', 30_000);
    const outageStart = Date.now();
    await collector.stop();
    const syslogAtStop = syslog.messages.length;
    await until(async () => (await metric(apiPort, 'sbc_cdr_sink_up', 'http-collector')) === 0, 'the SBC to notice the collector is down', OUTAGE_MS);
    await until(async () => (await metric(apiPort, 'sbc_cdr_sink_spooled', 'http-collector')) > 0, 'records spooled for the collector', OUTAGE_MS);
    await new Promise((r) => setTimeout(r, Math.max(0, outageStart + OUTAGE_MS - Date.now())));
    const duringOutage = syslog.messages.length - syslogAtStop;
    await collector.start();
    const syslogAtRestart = syslog.messages.length;

    const results: SippResult[] = await Promise.all(callers.map((c) => c.done));
    const callees: SippResult[] = await Promise.all([answer, busy, ring].map((c) => c.done));
    for (const [i, r] of results.entries()) {
      const callee = callees[Math.min(i, 2)]!;
      expect({ caller: i, successful: r.successful, failed: r.failed }, `${r.output}${r.errors}\n--- callee:\n${callee.output}${callee.errors}`)
        .toEqual({ caller: i, successful: PER_KIND, failed: 0 });
    }
    for (const r of callees) expect(r.successful, r.output + r.errors).toBe(PER_KIND);
    const answeredIds = new Set((await readFile(logFile, 'utf8')).split('\n').flatMap((l) => /^done (\S+)/.exec(l)?.[1] ?? []));
    expect(answeredIds.size).toBe(PER_KIND);

    await until(() => syslog.messages.length >= TOTAL, () => `${TOTAL} syslog messages (have ${syslog.messages.length})`, 30_000);
    // The collector's sender backs off up to 30 s between attempts while it is down.
    await until(() => collector.records.length >= TOTAL, () => `${TOTAL} records at the collector (have ${collector.records.length})`, 90_000);
    for (const s of ['http-collector', 'syslog-tcp']) expect(await metric(apiPort, 'sbc_cdr_sink_lost', s), s).toBe(0);
    // GET /api/v1/cdrs reaches back over the ring and the (rotated, compressed) local files.
    const api = await sbc.api<{ count: number; records: Array<Record<string, unknown>> }>('/api/v1/cdrs?limit=1000');
    expect(api.count).toBe(TOTAL);
    expect(new Set(api.records.map((r) => r['sessionId'] ?? r['SessionId'])).size).toBe(TOTAL);
    expect(await sbc.stop()).toBe(0);
    expect(duringOutage, 'records produced while the collector was down').toBeGreaterThan(100);
    expect(TOTAL - syslogAtRestart, 'records produced after the collector came back').toBeGreaterThan(0);

    // Syslog: one RFC 5424 message per record.
    for (const m of syslog.messages) expect(m).toMatch(/^<142>1 \S+ \S+ sbc \d+ CALL_END - \{/);
    checkRecords('syslog', syslog.records(), answeredIds);

    // Collector: all, exactly once, in the order they were produced.
    checkRecords('collector', collector.records, answeredIds);
    const seqs = collector.records.map((r) => Number(r['CdrSeq']));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    // CSV: rotated files are gzip-compressed CSV with the same header; together with the current file, every record once.
    const files = await readCsvFiles(join(dir, 'cdr'));
    const rotated = files.filter((f) => f.seq !== Number.POSITIVE_INFINITY);
    expect(rotated.length, files.map((f) => f.name).join(' ')).toBeGreaterThanOrEqual(3);
    for (const f of rotated) {
      expect(f.name).toMatch(/\.csv\.gz$/);
      expect(f.header, f.name).toEqual(files[0]!.header);
      expect(f.rows.length, f.name).toBeGreaterThan(0);
    }
    expect(files[0]!.header).toContain('TrmReasonCategory');
    const rows: CdrRow[] = files.flatMap((f) => f.rows);
    checkRecords('csv', rows, answeredIds);
    const csvSeqs = rows.map((r) => Number(r['CdrSeq']));
    expect(csvSeqs).toEqual([...csvSeqs].sort((a, b) => a - b));
    console.log(`cdr mix: ${TOTAL} records in each sink; ${files.length} CSV files (${rotated.length} rotated .gz); collector down ${OUTAGE_MS} ms with ${duringOutage} records produced meanwhile and ${TOTAL - syslogAtRestart} after, ${collector.batches} batches accepted`);
  }, 240_000);
});

/** An SBC with local CSV files (and a TCP syslog receiver) between a sipp UAS and the test's callers. */
async function sbcWithFiles(dir: string, scalars: string[]): Promise<{ sbc: SbcProcess; lanPort: number; uas: SippProcess }> {
  const uasPort = await findFreePort();
  const uas = startSipp({ scenario: 'test/scenarios/cdr-uas-answer.xml', calls: 1000, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 90_000 });
  await uas.bound();
  return startRetryingPortRace(async () => {
    const [lanPort, wanPort] = [await findFreePort(), await findFreePort()];
    const sbc = await startSbc(testIni({
      lanPort, wanPort, media: false,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
      scalars: [`CDRLocalDir = ${join(dir, 'cdr')}`, 'CDRLocalInterval = 0', ...scalars],
    }));
    return { sbc, lanPort, uas };
  });
}

describe('CDRs when the SBC stops mid-run, and file rotation', () => {
  let dir: string;
  const stops: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'cdr-stop-'));
  });

  afterAll(async () => {
    for (const s of stops.reverse()) await s();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM in the middle of 300 calls: every call sipp saw answered has its record in the CSV file and at the syslog receiver', async () => {
    const syslog = await startSyslogTcp();
    stops.push(() => syslog.close());
    const run = join(dir, 'sigterm');
    const { sbc, lanPort, uas } = await sbcWithFiles(run, [
      'CDRSyslogServerIP = 127.0.0.1', `CDRSyslogServerPort = ${syslog.port}`, 'CDRSyslogTransportType = 1',
    ]);
    stops.push(() => uas.stop(), () => sbc.stop());
    const logFile = join(dir, 'sigterm-calls.log');
    const uac = startSipp({
      scenario: 'test/scenarios/cdr-uac-logged.xml', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', service: '2001',
      calls: 300, rate: 50, timeoutMs: 60_000, extraArgs: ['-d', '2000', '-trace_logs', '-log_file', logFile],
    });
    stops.push(() => uac.stop());
    // Early in the run (6 s of calls): 2 s of calls set up, the first ones ended (counted from the SBC's own log, which
    // is written as each call ends, so sink delays do not move the moment).
    const ended = (): number => sbc.logs.filter((l) => l.msg === 'call detail record').length;
    await until(() => ended() >= 40, '40 calls ended', 30_000);
    expect(await sbc.stop()).toBe(0);
    await uac.stop();
    await uas.stop();

    const log = (await readFile(logFile, 'utf8')).split('\n');
    const answered = new Set(log.flatMap((l) => /^connected (\S+)/.exec(l)?.[1] ?? []));
    const endedIds = new Set(log.flatMap((l) => /^done (\S+)/.exec(l)?.[1] ?? []));
    expect(endedIds.size).toBeGreaterThan(0);
    expect(answered.size).toBeGreaterThan(endedIds.size);
    expect(answered.size).toBeLessThan(300);

    const files = await readCsvFiles(join(run, 'cdr'));
    const csv = new Map(files.flatMap((f) => f.rows).map((r) => [r['SIPCallId']!, r]));
    const sys = new Map(syslog.records().map((r) => [String(r['SIPCallId']), r]));
    expect(csv.size).toBe(files.flatMap((f) => f.rows).length);
    expect(sys.size).toBe(syslog.messages.length);
    expect([...sys.keys()].sort()).toEqual([...csv.keys()].sort());
    for (const id of endedIds) {
      expect(csv.get(id)?.['TrmReasonCategory'], `CSV record of ended call ${id}`).toBe('normal');
      expect(sys.get(id)?.['TrmReasonCategory'], `syslog record of ended call ${id}`).toBe('normal');
    }
    // Calls that were up when the SBC stopped were released by it, with a record each.
    let released = 0;
    for (const id of answered) {
      const r = csv.get(id);
      expect(r, `CSV record of answered call ${id}`).toBeDefined();
      expect(sys.has(id), `syslog record of answered call ${id}`).toBe(true);
      expect(['normal', 'shutdown']).toContain(r!['TrmReasonCategory']);
      if (r!['TrmReasonCategory'] === 'shutdown') released++;
    }
    expect(released).toBeGreaterThan(0);
    console.log(`sigterm: ${answered.size} calls answered, ${endedIds.size} ended by the caller, ${released} released by the stopping SBC; ${csv.size} records in CSV and syslog`);
  }, 90_000);

  it('rotation: rotated files are gzip-compressed CSV with the header, only CDRLocalMaxNumOfFiles are kept, and they are the newest', async () => {
    const run = join(dir, 'rotation');
    const { sbc, lanPort, uas } = await sbcWithFiles(run, ['CDRLocalMaxFileSize = 4', 'CDRLocalMaxNumOfFiles = 2']);
    stops.push(() => uas.stop(), () => sbc.stop());
    const calls = 250;
    const r = await startSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls, rate: 50, timeoutMs: 60_000 }).done;
    expect(r.successful, r.output).toBe(calls);
    expect(await sbc.stop()).toBe(0);

    const files = await readCsvFiles(join(run, 'cdr'));
    const rotated = files.filter((f) => f.seq !== Number.POSITIVE_INFINITY);
    expect(rotated.map((f) => f.name)).toHaveLength(2);
    const highest = Math.max(...rotated.map((f) => f.seq));
    expect(highest, 'more rotations than files kept').toBeGreaterThan(2);
    expect(rotated.map((f) => f.seq)).toEqual([highest - 1, highest]);
    for (const f of files) {
      expect(f.header, f.name).toContain('SessionId');
      expect(f.header, f.name).toEqual(files[0]!.header);
    }
    for (const f of rotated) {
      expect(f.name).toMatch(/^cdr_\d\d\.\d\d\.\d\d-\d\d\.\d\d\.\d\d_\d{5}\.csv\.gz$/);
      expect(f.rows.length, f.name).toBeGreaterThan(0);
    }
    // What is left is the newest records without a gap, ending with the last call.
    const seqs = files.flatMap((f) => f.rows).map((row) => Number(row['CdrSeq']));
    expect(seqs.length).toBeLessThan(calls);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    expect(seqs[seqs.length - 1]).toBe(Math.max(...seqs));
    const all = Math.max(...seqs);
    expect(all).toBeGreaterThanOrEqual(calls);
    console.log(`rotation: ${highest} rotations, ${rotated.length} kept, ${seqs.length} of ${all} records left`);
  }, 90_000);
});
