/**
 * CDRs out of the real SBC process (through today's engine record and the
 * legacy adapter): sipp uac -> SBC -> sipp uas, with a local CSV sink, a
 * syslog receiver over TCP and an HTTP collector that is down while the
 * calls run and comes back afterwards. Every call is in all three, once;
 * SIGTERM flushes them. /metrics shows held calls without /status first.
 */
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsvLine } from '../../src/cdr/format.js';
import { parseOctetCounted } from '../../src/delivery/syslog-transport.js';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('CDR sinks of the SBC process', () => {
  let dir: string;
  let sbc: SbcProcess | undefined;
  let uas: SippProcess | undefined;
  let syslog: net.Server;
  let collector: http.Server | null = null;
  const syslogMessages: string[] = [];
  const collected: Array<Record<string, unknown>> = [];
  let lanPort: number;
  let apiPort: number;
  let collectorPort: number;

  const startCollector = async (): Promise<void> => {
    collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        collected.push(...(JSON.parse(Buffer.concat(chunks).toString()) as Array<Record<string, unknown>>));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => collector!.listen(collectorPort, '127.0.0.1', r));
  };

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'cdr-int-'));
    syslog = net.createServer((sock) => {
      let buf: Buffer = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const { messages, rest } = parseOctetCounted(buf);
        syslogMessages.push(...messages);
        buf = rest;
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => syslog.listen(0, '127.0.0.1', r));
    const syslogPort = (syslog.address() as net.AddressInfo).port;
    collectorPort = await findFreePort(); // nothing listens yet: the collector is down
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasPort = await findFreePort();
    apiPort = await findFreePort();
    uas = startSipp({ scenario: 'uas', calls: 1000, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 120_000 });
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort, media: false,
      pbx: { address: '127.0.0.2', port: 5060 },
      itsp: [{ address: '127.0.0.3', port: uasPort }],
      scalars: [
        `CDRLocalDir = ${join(dir, 'cdr')}`, `CDRSyslogServerIP = 127.0.0.1`, `CDRSyslogServerPort = ${syslogPort}`, 'CDRSyslogTransportType = 1',
        `CDRHttpCollectorUrl = http://127.0.0.1:${collectorPort}/cdr`, `CDRSpoolDir = ${join(dir, 'spool')}`,
      ],
    }));
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
    collector?.closeAllConnections();
    await new Promise<void>((r) => (collector ? collector.close(() => r()) : r()));
    await new Promise<void>((r) => syslog.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('/metrics shows held calls without a /status call', async () => {
    const held = startSipp({
      scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 2, rate: 10, limit: 2, timeoutMs: 30_000,
      extraArgs: ['-d', '4000'],
    });
    let seen = 0;
    await until(async () => {
      const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
      seen = Number(/^sbc_active_calls (\d+)$/m.exec(text)?.[1] ?? 0);
      const perGroup = Number(/^sbc_ip_group_calls_active\{ip_group="PBX"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      return seen === 2 && perGroup === 2;
    }, 'two active calls in /metrics', 15_000);
    const r = await held.done;
    expect(r.successful).toBe(2);
    await until(async () => /^sbc_active_calls 0$/m.test(await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text()), 'calls gone', 15_000);
  });

  it('every call is in the CSV file, the syslog receiver and (after it comes back) the HTTP collector; SIGTERM flushes', async () => {
    const run = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 100, rate: 50, timeoutMs: 60_000 });
    expect(run.failed, run.output).toBe(0);
    const total = 102;
    await until(() => syslogMessages.length >= total, `${total} syslog messages`);
    await startCollector();
    await until(() => collected.length >= total, `${total} records at the collector`, 60_000);
    expect(await sbc!.stop()).toBe(0);

    const lines = (await readFile(join(dir, 'cdr', 'cdr.csv'), 'utf8')).split('\n').filter((l) => l !== '');
    const header = parseCsvLine(lines[0]!);
    const rows = lines.slice(1).map((l) => Object.fromEntries(parseCsvLine(l).map((v, i) => [header[i], v])));
    expect(rows).toHaveLength(total);
    const ids = new Set(rows.map((r) => r['SessionId']));
    expect(ids.size).toBe(total);
    for (const r of rows) {
      expect(r).toMatchObject({ SBCReportType: 'CALL_END', IPGroup: 'PBX', DstIPGroup: 'ITSP', SIPStatus: '200', TrmReasonCategory: 'normal', SIPMethod: 'INVITE' });
      expect(r['SIPCallId']).not.toBe('');
      expect(r['SIPCallIdLegB']).not.toBe('');
      expect(Date.parse(r['ReleaseTime']!)).toBeGreaterThanOrEqual(Date.parse(r['ConnectTime']!));
    }
    const sysIds = syslogMessages.map((m) => {
      expect(m).toMatch(/^<142>1 \S+ \S+ sbc \d+ CALL_END - \{/);
      return (JSON.parse(m.slice(m.indexOf('{'))) as Record<string, unknown>)['SessionId'];
    });
    expect(new Set(sysIds)).toEqual(ids);
    expect(sysIds).toHaveLength(total);
    expect(new Set(collected.map((c) => c['SessionId']))).toEqual(ids);
    expect(collected).toHaveLength(total);
    // The collector got them in the order they were produced.
    const seqs = collected.map((c) => Number(c['CdrSeq']));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});
