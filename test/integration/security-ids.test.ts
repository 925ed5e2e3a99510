/**
 * Intrusion detection and blocking against the real SBC process (issue 12):
 * Mediant IDSPolicy/IDSRule/IDSMatch tables; sipvicious svmap/svwar from an
 * unclassified source (dropped silently) are denied after the threshold and
 * let in again after the deny period; a 10,000 OPTIONS/s flood from one
 * address is denied while the PBX's calls complete; the deny list is read
 * and edited through the REST API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PBX = '127.0.0.51';
const ITSP = '127.0.0.52';
const FLOODER = '127.0.0.53';
const SCANNER = '127.0.0.54';

interface Status {
  calls: { calls: number };
  transactions: { serverTransactions: number; clientTransactions: number };
  transport: { deniedDropped: number; gateDropped: number };
  security: { ids: { denials: number; deniedDropped: number; events: Record<string, number> }; rateLimited: number };
  memory: { heapUsed: number };
}
interface Denied { address: string; reason: string; rule: string; dropped: number }

const IDS_TABLES = [
  '[ IDSPolicy ]',
  'FORMAT Index = Name, Description;',
  'IDSPolicy 0 = "edge", "test policy";',
  '[ \\IDSPolicy ]',
  '',
  '[ IDSRule ]',
  'FORMAT Index = Policy, RuleID, Reason, ThresholdScope, ThresholdWindow, MinorAlarmThreshold, MajorAlarmThreshold, CriticalAlarmThreshold, DenyThreshold, DenyPeriod;',
  // Dialog establishment failures (classification failures here): > 5 in 30 s deny the IP for 8 s.
  'IDSRule 0 = "edge", 1, 4, 2, 30, 3, -1, -1, 5, 8;',
  'IDSRule 1 = "edge", 2, 2, 2, 30, -1, -1, -1, 10, 4;',
  'IDSRule 2 = "edge", 3, 5, 2, 30, -1, -1, -1, 100, 4;',
  '[ \\IDSRule ]',
  '',
  '[ IDSMatch ]',
  'FORMAT Index = SIPInterface, ProxySet, Subnet, Policy;',
  'IDSMatch 0 = "", "", "", "edge";',
  '[ \\IDSMatch ]',
  '',
].join('\r\n');

function runTool(tool: string, args: string[], home: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(`/usr/bin/${tool}`, args, { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

async function waitUntil<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await read();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last ${JSON.stringify(v).slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

describe('IDS: deny list, scanners and floods (real SBC process)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;
  let wanPort: number;
  let home: string;

  beforeAll(async () => {
    assertSippInstalled();
    for (const tool of ['svmap', 'svwar']) if (!existsSync(`/usr/bin/${tool}`)) throw new Error(`${tool} not found: apt-get install sipvicious`);
    home = await mkdtemp(join(tmpdir(), 'sipvicious-ids-'));
    lanPort = await findFreePort();
    wanPort = await findFreePort();
    const uasPort = await findFreePort(ITSP);
    const apiPort = await findFreePort();
    uas = startSipp({ scenario: 'uas', calls: 1000, localAddress: ITSP, localPort: uasPort, timeoutMs: 120_000 });
    let ini = testIni({ lanPort, wanPort, apiPort, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }], extra: IDS_TABLES });
    // Unclassified requests are dropped silently (ClassificationFailureResponseType 0).
    ini = ini.replace(/^(SIPInterface \d+ = .*), 403;$/gm, '$1, 0;');
    sbc = await startSbc(ini, { exposeGc: true });
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('svmap and svwar get nothing, the scanner is denied after the threshold and let in again after the deny period', async () => {
    // Against a silent target each tool gives up after its first probe; scanners come back, so do we.
    const isDenied = async (): Promise<Denied[] | null> => {
      const l = await sbc.api<Denied[]>('/api/v1/security/denied');
      return l.some((d) => d.address === SCANNER) ? l : null;
    };
    let denied: Denied[] | null = null;
    let runs = 0;
    for (let round = 0; round < 4 && denied === null; round++) {
      const map = await runTool('svmap', ['-b', SCANNER, '-P', String(await findFreePort(SCANNER)), '-p', `${lanPort},${wanPort}`, '127.0.0.1'], home);
      expect(map).not.toMatch(/\|\s*127\.0\.0\.1:\d+\s*\|/);
      runs++;
      for (const method of ['INVITE', 'REGISTER']) {
        if ((denied = await isDenied()) !== null) break;
        const war = await runTool('svwar', ['-b', SCANNER, '-P', String(await findFreePort(SCANNER)), '-m', method, '-p', String(wanPort), '-e', '100-160', '127.0.0.1'], home);
        expect(war).not.toMatch(/^\|\s*1\d\d\s*\|/m);
        runs++;
      }
      denied ??= await isDenied();
    }
    process.stdout.write(`ids scanners: denied after ${runs} sipvicious runs\n`);
    expect(denied).not.toBeNull();
    const entry = denied!.find((d) => d.address === SCANNER)!;
    expect(entry.reason).toBe('dialog-failure');
    expect(entry.rule).toBe('edge/1');
    // Logged once per episode, however many packets were dropped.
    const denyLogs = sbc.logs.filter((l) => l.msg === 'IDS: source denied' && JSON.stringify(l).includes(SCANNER));
    expect(denyLogs.length).toBe(1);
    expect(sbc.logs.some((l) => l.msg === 'IDS alarm')).toBe(true);
    // Still denied: a further scan is dropped unread (counted), then the deny period ends.
    // (svmap honours -b; svwar sends from 127.0.0.1 whatever -b says.)
    await runTool('svmap', ['-b', SCANNER, '-P', String(await findFreePort(SCANNER)), '-p', String(wanPort), '127.0.0.1'], home, 10_000);
    const s = await sbc.api<Status>('/api/v1/status');
    expect(s.transport.deniedDropped).toBeGreaterThan(0);
    await sbc.waitForLog((l) => l.msg === 'IDS: deny period over' && JSON.stringify(l).includes(SCANNER), 15_000);
    expect((await sbc.api<Denied[]>('/api/v1/security/denied')).some((d) => d.address === SCANNER)).toBe(false);
  }, 90_000);

  it('a 10,000 OPTIONS/s flood from one address is denied while the PBX completes its calls; no answer reaches the flooder', async () => {
    const before = await sbc.api<Status>('/api/v1/status?gc=1');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, FLOODER, () => r()));
    let answers = 0;
    sock.on('message', () => { answers++; });
    const calls = runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 10, rate: 5, timeoutMs: 40_000 });
    const started = Date.now();
    let sent = 0;
    // 3 s at 10,000/s in 10 ms ticks of 100 datagrams: bounded.
    for (let tick = 0; tick < 300; tick++) {
      for (let k = 0; k < 100; k++) {
        const n = sent++;
        const msg = `OPTIONS sip:ping@127.0.0.1:${lanPort} SIP/2.0\r\nVia: SIP/2.0/UDP ${FLOODER}:${sock.address().port};branch=z9hG4bKfl${n};rport\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:f@${FLOODER}>;tag=f${n}\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: flood-${n}@${FLOODER}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
        sock.send(msg, lanPort, '127.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const result = await calls;
    expect(result.failed, result.output).toBe(0);
    expect(result.successful).toBe(10);
    const deny = await sbc.waitForLog((l) => l.msg === 'IDS: source denied' && JSON.stringify(l).includes(FLOODER), 5000);
    const deniedAfterMs = (deny['time'] as number) - started;
    const after = await waitUntil(() => sbc.api<Status>('/api/v1/status?gc=1'), (s) => s.transactions.serverTransactions === 0 && s.calls.calls === 0, 20_000, 'transactions settle');
    sock.close();
    const dropped = after.transport.deniedDropped - before.transport.deniedDropped;
    process.stdout.write(`ids flood: ${sent} OPTIONS in ${Date.now() - started} ms, denied after ${deniedAfterMs} ms, ${dropped} dropped unread, ` +
      `answers to flooder ${answers}, heap ${(before.memory.heapUsed / 1048576).toFixed(1)} -> ${(after.memory.heapUsed / 1048576).toFixed(1)} MiB\n`);
    expect(answers).toBe(0);
    expect(dropped).toBeGreaterThan(sent / 2);
    // The PBX, a known peer, is never on the list.
    expect((await sbc.api<Denied[]>('/api/v1/security/denied')).some((d) => d.address === PBX)).toBe(false);
    expect(sbc.logs.some((l) => l.msg === 'IDS: source denied' && JSON.stringify(l).includes(PBX))).toBe(false);
  }, 90_000);

  it('the API adds and removes deny-list entries; a denied source is dropped unread', async () => {
    const base = `http://127.0.0.1:${apiPortOf(sbc)}/api/v1/security/denied`;
    const add = await fetch(base, {
      method: 'POST', headers: { ...sbc.authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify({ address: SCANNER, seconds: 600 }),
    });
    expect(add.status).toBe(201);
    expect((await sbc.api<Denied[]>('/api/v1/security/denied')).some((d) => d.address === SCANNER)).toBe(true);
    const before = await sbc.api<Status>('/api/v1/status');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, SCANNER, () => r()));
    sock.send('OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n', lanPort, '127.0.0.1');
    await waitUntil(() => sbc.api<Status>('/api/v1/status'), (s) => s.transport.deniedDropped > before.transport.deniedDropped, 5000, 'datagram dropped');
    sock.close();
    const del = await fetch(`${base}/${SCANNER}`, { method: 'DELETE', headers: sbc.authHeaders() });
    expect(del.status).toBe(200);
    expect((await sbc.api<Denied[]>('/api/v1/security/denied')).some((d) => d.address === SCANNER)).toBe(false);
    expect((await fetch(`${base}/${SCANNER}`, { method: 'DELETE', headers: sbc.authHeaders() })).status).toBe(404);
  });
});

function apiPortOf(sbc: SbcProcess): number {
  return Number(/SbcApiPort\s*=\s*(\d+)/.exec(sbc.iniText)![1]);
}
