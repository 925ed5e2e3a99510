/**
 * Proxy Sets and the REST API of the assembled SBC process:
 * - keep-alive wiring: the SBC's own OPTIONS prober marks the trunk's
 *   servers up, `/api/v1/proxy-sets` and `/metrics` show it, a server
 *   that dies is marked down and calls go to the other one;
 * - `POST /api/v1/config/reload` with a changed Proxy Set (a new server
 *   replaces the dead one): 200 with the changes, the new server is probed
 *   and gets the next call; an invalid file: 422 with file:line, nothing
 *   changes; `/metrics` counts both reloads;
 * - `/metrics` contents: the SBC's own metrics next to the process ones;
 * - failover during call setup: without keep-alive, the first server of
 *   the set dies; the INVITE to it goes unanswered and the SBC tries the
 *   second server for the same call (IsProxyHotSwap).
 *
 * Trunk servers are sipp instances on 127.0.0.3/.4/.5 running
 * test/scenarios/trunk-uas-options-and-calls.xml (answers OPTIONS and calls).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess } from './helpers/sipp.js';
import { readSippTrace, SCENARIOS, type SippTrace } from './helpers/b2bua-harness.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PBX_IP = '127.0.0.2';
const TRUNK = ['127.0.0.3', '127.0.0.4', '127.0.0.5'] as const;
const TRUNK_SCENARIO = join(SCENARIOS, 'trunk-uas-options-and-calls.xml');

interface ServerStatus {
  proxySetName: string;
  address: string;
  port: number;
  up: boolean;
  lastResponse: number | 'timeout' | null;
}

interface Trunk {
  address: string;
  port: number;
  proc: SippProcess;
  trace: () => Promise<SippTrace>;
}

async function waitFor<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Value of one sample line of a Prometheus text exposition, or undefined. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const kv of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) have[kv[1]!] = kv[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('SBC process: Proxy Set keep-alive, failover, reload and metrics through the REST API', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let wanPort = 0;
  let apiPort = 0;
  let seq = 0;
  const trunks: Trunk[] = [];
  const procs: SippProcess[] = [];

  async function startTrunk(address: string): Promise<Trunk> {
    const port = await findFreePort(address);
    const file = join(dir, `trunk-${address}-${port}.log`);
    const proc = startSipp({
      scenario: TRUNK_SCENARIO, calls: 1000, localAddress: address, localPort: port, timeoutMs: 90_000,
      extraArgs: ['-trace_msg', '-message_file', file],
    });
    procs.push(proc);
    await proc.bound();
    const t = { address, port, proc, trace: () => readSippTrace(file) };
    // In TRUNK order, whichever sipp bound first: the tests' t1/t2 are the ini's first and second server.
    trunks.push(t);
    trunks.sort((a, b) => TRUNK.indexOf(a.address as (typeof TRUNK)[number]) - TRUNK.indexOf(b.address as (typeof TRUNK)[number]));
    return t;
  }

  function ini(servers: Trunk[]): string {
    return testIni({
      lanPort, wanPort, apiPort, media: false, keepAlive: true, keepAliveSec: 1,
      pbx: { address: PBX_IP, port: 5060 },
      itsp: servers.map((s) => ({ address: s.address, port: s.port })),
    });
  }

  /** One call from the PBX; returns the server whose trace got its INVITE. */
  interface CdrSeen { sipStatus: number; dstIpGroup: string | null; legACallId: string; legBCallId: string | null; detail?: { legB: { remote: { address: string; port: number } | null } } }
  async function call(): Promise<{ calledAt: Trunk[]; cdr: CdrSeen }> {
    const file = join(dir, `uac-${++seq}.log`);
    const before = await Promise.all(trunks.map(async (t) => (await t.trace().catch(() => [])).filter((m) => m.dir === 'received' && m.msg.method === 'INVITE').length));
    const res = await startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, calls: 1,
      service: `02000${seq}`, timeoutMs: 30_000, extraArgs: ['-d', '200', '-trace_msg', '-message_file', file],
    }).done;
    expect(res.successful, `${res.output}${res.errors}`).toBe(1);
    const trace = await readSippTrace(file);
    const finals = trace.filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.cseq?.method === 'INVITE' && m.msg.status >= 200);
    expect(finals.map((m) => m.msg.status)).toEqual([200]);
    // This call's own record (leg A's Call-ID), whatever other records the log holds.
    const callId = trace.find((m) => m.dir === 'sent' && m.msg.isRequest && m.msg.method === 'INVITE')?.msg.callId;
    expect(callId).toBeTruthy();
    const line = await sbc.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as CdrSeen | undefined)?.legACallId === callId);
    const after = await Promise.all(trunks.map(async (t) => (await t.trace().catch(() => [])).filter((m) => m.dir === 'received' && m.msg.method === 'INVITE').length));
    return { calledAt: trunks.filter((_, i) => after[i]! > before[i]!), cdr: line['cdr'] as CdrSeen };
  }

  const proxySets = (): Promise<ServerStatus[]> => sbc.api<ServerStatus[]>('/api/v1/proxy-sets');
  const itspServer = (list: ServerStatus[], t: Trunk): ServerStatus | undefined =>
    list.find((s) => s.proxySetName === 'ITSP' && s.address === t.address && s.port === t.port);
  const metricsText = async (): Promise<string> => {
    const r = await sbc.http('/metrics');
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/plain/);
    return r.body;
  };

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'sbc-proxy-api-'));
    [lanPort, wanPort, apiPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort()]);
    const [t1, t2] = await Promise.all([startTrunk(TRUNK[0]), startTrunk(TRUNK[1])]);
    sbc = await startSbc(ini([t1!, t2!]));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('probes both trunk servers with OPTIONS and shows them up in /api/v1/proxy-sets and /metrics', async () => {
    const [t1, t2] = trunks;
    const list = await waitFor('both ITSP servers up', proxySets, (l) => itspServer(l, t1!)?.up === true && itspServer(l, t2!)?.up === true);
    expect(itspServer(list, t1!)).toMatchObject({ up: true, lastResponse: 200 });
    expect(itspServer(list, t2!)).toMatchObject({ up: true, lastResponse: 200 });
    // The PBX's set has keep-alive off: listed, never probed.
    expect(list.filter((s) => s.proxySetName === 'PBX').map((s) => `${s.address}:${s.port}`)).toEqual([`${PBX_IP}:5060`]);
    // The servers really got the SBC's OPTIONS, from its WAN interface.
    for (const t of [t1!, t2!]) {
      const options = (await t.trace()).filter((m) => m.dir === 'received' && m.msg.method === 'OPTIONS');
      expect(options.length).toBeGreaterThan(0);
      expect(options[0]!.msg.getHeader('via')).toContain(`127.0.0.1:${wanPort}`);
    }
    const text = await metricsText();
    expect(metric(text, 'sbc_proxy_server_up', { proxy_set: 'ITSP', server: `${t1!.address}:${t1!.port}` })).toBe(1);
    expect(metric(text, 'sbc_proxy_server_up', { proxy_set: 'ITSP', server: `${t2!.address}:${t2!.port}` })).toBe(1);
  });

  it('routes a call to the first server of the set (homing)', async () => {
    const r = await call();
    expect(r.calledAt.map((t) => t.address)).toEqual([TRUNK[0]]);
    expect(r.cdr.sipStatus).toBe(200);
    expect(r.cdr.dstIpGroup).toBe('ITSP');
  }, 40_000);

  it('/metrics carries the SBC metrics: calls, relay, proxy servers, and the process metrics', async () => {
    const text = await metricsText();
    expect(metric(text, 'sbc_calls_total', { result: 'answered' })).toBe(1);
    expect(metric(text, 'sbc_active_calls')).toBe(0);
    expect(metric(text, 'sbc_media_relay_sessions')).toBe(0);
    // The call of the previous test crossed the SBC: its INVITE came in on leg A and went out on leg B.
    expect(metric(text, 'sbc_sip_messages_total', { method: 'INVITE', direction: 'in' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'sbc_sip_messages_total', { method: 'INVITE', direction: 'out' })).toBeGreaterThanOrEqual(1);
    // prom-client's default metrics under the sbc_process_ prefix.
    expect(metric(text, 'sbc_process_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metric(text, 'sbc_process_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    for (const name of ['sbc_active_calls', 'sbc_calls_total', 'sbc_proxy_server_up', 'sbc_config_reloads_total', 'sbc_media_relay_sessions']) {
      expect(text, name).toContain(`# HELP ${name} `);
      expect(text, name).toContain(`# TYPE ${name} `);
    }
  });

  it('marks a server that stops answering down (API and metrics), and calls go to the other one', async () => {
    const [t1, t2] = trunks;
    await t1!.proc.stop();
    const list = await waitFor('server 1 down', proxySets, (l) => itspServer(l, t1!)?.up === false);
    expect(itspServer(list, t1!)).toMatchObject({ up: false, lastResponse: 'timeout' });
    expect(itspServer(list, t2!)?.up).toBe(true);
    const text = await metricsText();
    expect(metric(text, 'sbc_proxy_server_up', { proxy_set: 'ITSP', server: `${t1!.address}:${t1!.port}` })).toBe(0);
    expect(metric(text, 'sbc_proxy_server_up', { proxy_set: 'ITSP', server: `${t2!.address}:${t2!.port}` })).toBe(1);
    const r = await call();
    // Where leg B went, as the SBC recorded it (a stopped trunk's trace file can lag under load).
    expect(r.cdr.detail?.legB.remote, JSON.stringify({ calledAt: r.calledAt.map((t) => t.address), cdr: r.cdr })).toMatchObject({ address: TRUNK[1], port: t2!.port });
  }, 40_000);

  it('POST /api/v1/config/reload applies a changed Proxy Set, and refuses an invalid file with its line', async () => {
    const [, t2] = trunks;
    const t3 = await startTrunk(TRUNK[2]);
    // The dead server is replaced by a new one, first in priority.
    const next = ini([t3, t2!]);
    await writeFile(sbc.configPath, next);
    const ok = await sbc.http('/api/v1/config/reload', { method: 'POST' });
    expect(ok.status, ok.body).toBe(200);
    const okBody = JSON.parse(ok.body) as { ok: boolean; changes: string[] };
    expect(okBody.ok).toBe(true);
    expect(okBody.changes.join(' ')).toMatch(/ProxyIp/);

    const list = await waitFor('the new server up', proxySets, (l) => itspServer(l, t3)?.up === true);
    const itsp = list.filter((s) => s.proxySetName === 'ITSP').map((s) => `${s.address}:${s.port}`);
    expect(itsp.sort()).toEqual([`${t3.address}:${t3.port}`, `${t2!.address}:${t2!.port}`].sort());
    expect((await t3.trace()).some((m) => m.dir === 'received' && m.msg.method === 'OPTIONS')).toBe(true);
    const r = await call();
    expect(r.calledAt.map((t) => t.address)).toEqual([TRUNK[2]]);

    // An invalid file: 422 with the diagnostic's file:line; the running configuration stays.
    const broken = next.replace(/^IPGroup 1 = 0, "ITSP", "ITSP"/m, 'IPGroup 1 = 0, "ITSP", "NO-SUCH-SET"');
    expect(broken).not.toBe(next);
    await writeFile(sbc.configPath, broken);
    const bad = await sbc.http('/api/v1/config/reload', { method: 'POST' });
    expect(bad.status, bad.body).toBe(422);
    const badBody = JSON.parse(bad.body) as { ok: boolean; diagnostics: Array<{ line?: number; message: string; file?: string }> };
    expect(badBody.ok).toBe(false);
    const line = broken.split(/\r?\n/).findIndex((l) => l.includes('NO-SUCH-SET')) + 1;
    expect(badBody.diagnostics.some((d) => d.line === line && d.message.includes('NO-SUCH-SET')), JSON.stringify(badBody.diagnostics)).toBe(true);
    expect((await proxySets()).some((s) => s.address === t3.address && s.port === t3.port)).toBe(true);
    const again = await call();
    expect(again.calledAt.map((t) => t.address)).toEqual([TRUNK[2]]);

    const text = await metricsText();
    expect(metric(text, 'sbc_config_reloads_total', { result: 'ok' })).toBe(1);
    expect(metric(text, 'sbc_config_reloads_total', { result: 'rejected' })).toBe(1);
    expect(metric(text, 'sbc_calls_total', { result: 'answered' })).toBe(4);
  }, 60_000);
});

describe('SBC process: failover to the second trunk server during call setup (no keep-alive)', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let p1 = 0;
  let p2 = 0;
  const procs: SippProcess[] = [];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'sbc-failover-'));
    let wan = 0;
    [lanPort, wan, p1, p2] = await Promise.all([findFreePort(), findFreePort(), findFreePort(TRUNK[0]), findFreePort(TRUNK[1])]);
    sbc = await startSbc(testIni({
      lanPort, wanPort: wan, media: false,
      pbx: { address: PBX_IP, port: 5060 },
      itsp: [{ address: TRUNK[0], port: p1 }, { address: TRUNK[1], port: p2 }],
    }));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the first server answers; once it has died, the same call is retried on the second and connects', async () => {
    const trunk = (address: string, port: number, name: string): { proc: SippProcess; trace: () => Promise<SippTrace> } => {
      const file = join(dir, `${name}.log`);
      const proc = startSipp({
        scenario: TRUNK_SCENARIO, calls: 5, localAddress: address, localPort: port, timeoutMs: 60_000,
        extraArgs: ['-trace_msg', '-message_file', file],
      });
      procs.push(proc);
      return { proc, trace: () => readSippTrace(file, { mayBeEmpty: true }) };
    };
    const first = trunk(TRUNK[0], p1, 'first');
    const second = trunk(TRUNK[1], p2, 'second');
    await Promise.all([first.proc.bound(), second.proc.bound()]);
    const uac = async (n: number): Promise<SippTrace> => {
      const file = join(dir, `uac-${n}.log`);
      const res = await startSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, calls: 1,
        service: `03000${n}`, timeoutMs: 40_000, extraArgs: ['-d', '200', '-trace_msg', '-message_file', file],
      }).done;
      expect(res.successful, `${res.output}${res.errors}`).toBe(1);
      return readSippTrace(file);
    };
    const invitesAt = async (t: { trace: () => Promise<SippTrace> }): Promise<string[]> =>
      (await t.trace()).filter((m) => m.dir === 'received' && m.msg.method === 'INVITE').map((m) => m.msg.requestUri);

    await uac(1);
    expect(await invitesAt(first)).toEqual([`sip:030001@itsp.test`]);
    expect(await invitesAt(second)).toEqual([]);

    // The first server dies. Nobody tells the SBC (no keep-alive): its INVITE goes unanswered until
    // timer B, then the Proxy Set's next server gets the same call (hot swap) and answers.
    await first.proc.stop();
    const trace = await uac(2);
    const finals = trace.filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.cseq?.method === 'INVITE' && m.msg.status >= 200);
    expect(finals.map((m) => m.msg.status)).toEqual([200]);
    expect(await invitesAt(second)).toEqual([`sip:030002@itsp.test`]);
    const cdr = await sbc.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as { caller?: string; callee?: string; sipStatus?: number; altRouteAttempts?: number }).callee?.includes('030002') === true);
    const rec = cdr['cdr'] as { sipStatus: number; dstIpGroup: string; altRouteAttempts: number };
    expect(rec.sipStatus).toBe(200);
    expect(rec.dstIpGroup).toBe('ITSP');
    expect(rec.altRouteAttempts).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
