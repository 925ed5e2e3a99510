/**
 * Issue 14 through the real SBC process, its CLI and sipp:
 * - check-config on real-export quirks (warnings only, ignored summary, exit 0)
 *   and on real mistakes (file:line:column, exit 1); `sbc diff`;
 * - three changes to a running SBC (SIGHUP edit, REST PUT, row PATCH) make
 *   three versions with their diffs and origins; refused changes alter and
 *   record nothing; `sbc config rollback 1` restores the first routing (a sipp
 *   call follows it) and is recorded; a call up across all of it ends normally;
 * - backups: the daily one at "now + 2 s", and retention after N+2 changes;
 * - atomic writes: a crash between write and rename leaves the old ini intact
 *   and the next start ignores the stale temporary file.
 * Dial plans: e2e-dial-plan.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort } from './helpers/sipp.js';
import { basicAuth, SBC_MAIN, startSbc, TEST_API_USERS, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import {
  FIXTURES, PBX_IP, TRUNK2_IP, TRUNK_IP, http, invitesAt, sbcCli, sippCalls, waitUdpBound, withRouting, type Version,
} from './helpers/config-e2e.js';

describe('issue 14: check-config and sbc diff', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-cfgcli-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads the quirk fixture with warnings only, prints the ignored summary, lists it with --verbose, exit 0', () => {
    const file = join(FIXTURES, 'mediant-quirks.ini');
    const r = sbcCli(['check-config', file]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const warnings = r.stdout.split('\n').filter((l) => l.includes(': warning: '));
    expect(warnings.map((l) => l.slice(file.length + 1).split(': ')[0])).toEqual(['30', '60:67', '67:89', '74:34', '81:87', '88', '92']);
    const summary = r.stdout.split('\n').filter((l) => l.includes('not supported; ignored'));
    expect(summary).toEqual([`${file}: not supported; ignored: 7 parameters, 1 table, 11 columns; accepted but without effect: 5 settings (--verbose lists them)`]);
    expect(r.stdout).toContain(`${file}: OK (0 errors, 7 warnings)`);
    const v = sbcCli(['check-config', '--verbose', file]);
    expect(v.status).toBe(0);
    expect(v.stdout).toContain(`  ${file}:24: parameter ProxyKeepAliveUsingIPG: not supported; ignored`);
    expect(v.stdout).toMatch(/:43: table SRD: not supported; ignored/);
    expect(v.stdout).toMatch(/:80:53: column IP2IPRouting\.RoutingPolicyName: not supported; ignored/);
    expect(v.stdout).toMatch(/column InterfaceTable\.Gateway: accepted, no effect: stored only/);
  });

  it('prints the summary for a working ini with unknown scalars, exit 0', async () => {
    const file = join(dir, 'unknown-scalars.ini');
    await writeFile(file, testIni({ lanPort: 5060, wanPort: 5070, pbx: { address: PBX_IP, port: 5060 }, itsp: [{ address: TRUNK_IP, port: 5060 }], media: false, scalars: ['ProxyKeepAliveUsingIPG = 1', 'EnableSyslog = 1'] }));
    const r = sbcCli(['check-config', file]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`: not supported; ignored: 2 parameters;[^\n]*\\(--verbose lists them\\)`));
    const v = sbcCli(['check-config', '--verbose', file]);
    expect(v.stdout).toMatch(/parameter ProxyKeepAliveUsingIPG: not supported; ignored/);
    expect(v.stdout).toMatch(/parameter EnableSyslog: not supported; ignored/);
  });

  it('refuses the error fixture with file:line:column per error class, exit 1', () => {
    const file = join(FIXTURES, 'mediant-errors.ini');
    const r = sbcCli(['check-config', file]);
    expect(r.status).toBe(1);
    for (const at of ['13:38: error: SIPInterface 0: UDPPort', '29:32: error: IPGroup 0: refers to IpProfile', '35:36: error: IP2IPRouting 0: DestType', '37:31: error: unexpected text after quoted string']) {
      expect(r.stderr).toContain(`${file}:${at}`);
    }
    expect(r.stdout).toContain('INVALID');
  });

  it('sbc diff shows the semantic difference, rows matched by name then index', async () => {
    const base = testIni({ lanPort: 5060, wanPort: 5070, pbx: { address: PBX_IP, port: 5060 }, itsp: [{ address: TRUNK_IP, port: 5060 }], media: false });
    const a = join(dir, 'a.ini');
    const b = join(dir, 'b.ini');
    await writeFile(a, base);
    // Swap the two IP Group rows (renumbering only), change one column, add a parameter.
    const swapped = base
      .replace('IPGroup 0 = 0, "PBX"', 'IPGroup 9 = 0, "PBX"').replace('IPGroup 1 = 0, "ITSP", "ITSP", "itsp.test"', 'IPGroup 0 = 0, "ITSP", "ITSP", "trunk.test"')
      .replace('SipT4Rtx = 500', 'SipT4Rtx = 500\r\nSBCSessionExpires = 600');
    await writeFile(b, swapped);
    const r = sbcCli(['diff', a, b]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([
      "parameter sbcsessionexpires set to '600'",
      "IPGroup 0 (ITSP): moved from index 1, SIPGroupName 'itsp.test' -> 'trunk.test'",
      'IPGroup 9 (PBX): moved from index 0',
    ]);
    expect(sbcCli(['diff', a, a])).toMatchObject({ status: 0, stdout: 'no differences\n' });
  });
});

describe('issue 14: versions, origins, rollback of the running SBC', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let apiPort = 0;
  let uas1Port = 0;
  let uas2Port = 0;
  const ROUTE_FORMAT = 'RouteName, SrcIPGroupName, DestUsernamePrefix, DestType, DestIPGroupName, DestAddress, DestPort, DestTransportType';
  let v1 = '';
  const sipp = sippCalls(() => dir, () => lanPort);

  async function nextReload(text: string): Promise<LogLine> {
    const before = new Set(sbc.logs);
    await sbc.reload(text);
    return sbc.waitForLog((l) => !before.has(l) && l.msg.startsWith('configuration reload'), 10_000);
  }
  const history = async (): Promise<Version[]> => (await http(apiPort, 'GET', '/api/v1/config/history')).json['versions'] as Version[];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'e2e-config-'));
    [lanPort, uas1Port, uas2Port] = await Promise.all([findFreePort(), findFreePort(TRUNK_IP), findFreePort(TRUNK2_IP)]);
    const wanPort = await findFreePort();
    apiPort = await findFreePort();
    v1 = withRouting(testIni({
      apiAuth: false,
      lanPort, wanPort, apiPort, media: false, pbx: { address: PBX_IP, port: 5060 }, itsp: [{ address: TRUNK_IP, port: uas1Port }],
      scalars: ['ConfigBackupTime = ""'],
    }), ROUTE_FORMAT, [
      '"PBX to ITSP", "PBX", "*", 0, "ITSP", "", 0, -1',
      '"ITSP to PBX", "ITSP", "*", 0, "PBX", "", 0, -1',
    ]);
    sbc = await startSbc(v1);
  }, 30_000);

  afterAll(async () => {
    await sipp.stopAll();
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records SIGHUP, PUT and row PATCH as versions, refuses bad changes without a trace, and rolls back to version 1', async () => {
    expect((await history()).map((v) => v.origin.kind)).toEqual(['startup']);

    // A call up across every change below, on the first routing (trunk 1).
    const trunk1 = sipp.uas(TRUNK_IP, uas1Port, 2);
    await waitUdpBound(TRUNK_IP, uas1Port);
    const longCall = sipp.uac('0201111111', 15_000);
    let up: Array<{ state: string; legACallId: string }> = [];
    for (let i = 0; i < 100 && up.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      up = ((await sbc.api('/api/v1/calls')) as typeof up).filter((c) => c.state === 'confirmed');
    }
    expect(up, 'the long call never got connected').toHaveLength(1);

    // Change 1: SIGHUP after editing the file — calls from the PBX go to trunk 2.
    const v2text = withRouting(v1, ROUTE_FORMAT, [
      `"PBX to trunk 2", "PBX", "*", 1, "", "${TRUNK2_IP}", ${uas2Port}, 0`,
      '"ITSP to PBX", "ITSP", "*", 0, "PBX", "", 0, -1',
    ]);
    const ok1 = await nextReload(v2text);
    expect(ok1.msg).toBe('configuration reloaded');
    expect(ok1['version']).toBe(2);
    const trunk2 = sipp.uas(TRUNK2_IP, uas2Port, 1);
    await waitUdpBound(TRUNK2_IP, uas2Port);
    const viaTrunk2 = await sipp.uac('0202222222', 100).proc.done;
    expect(viaTrunk2.successful, viaTrunk2.output).toBe(1);

    // Change 2: REST PUT of the text read back from GET.
    const got = await http(apiPort, 'GET', '/api/v1/config');
    expect(got.json['version']).toBe(2);
    const putText = String(got.json['ini']).replace('SipT4Rtx = 500', 'SipT4Rtx = 500\r\nUserAgentDisplayInfo = sbc-v3');
    const put = await http(apiPort, 'PUT', '/api/v1/config', putText);
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    expect(put.json['version']).toBe(3);
    expect(await readFile(sbc.configPath, 'utf8')).toBe(putText);

    // Change 3: one row edited.
    const patch = await http(apiPort, 'PATCH', '/api/v1/config/tables/IP2IPRouting/1', { RouteName: 'ITSP to PBX (edited)' });
    expect(patch.status, JSON.stringify(patch.json)).toBe(200);
    expect(patch.json['version']).toBe(4);
    const onDisk = await readFile(sbc.configPath, 'utf8');
    expect(onDisk).toContain('"ITSP to PBX (edited)"');
    expect(onDisk).toContain('UserAgentDisplayInfo = sbc-v3'); // the rest of the file is kept as written

    // Refused changes: nothing applied, nothing recorded, the file unchanged.
    const badPut = await http(apiPort, 'PUT', '/api/v1/config', putText.replace('"PBX to trunk 2", "PBX"', '"PBX to trunk 2", "NOWHERE"'));
    expect(badPut.status).toBe(422);
    const badDiag = (badPut.json['diagnostics'] as Array<{ severity: string; text: string }>).filter((d) => d.severity === 'error');
    expect(badDiag.map((d) => d.text).join('\n')).toMatch(new RegExp(`${sbc.configPath}:\\d+:\\d+: error: IP2IPRouting 0: refers to IPGroup 'NOWHERE'`));
    const badPatch = await http(apiPort, 'PATCH', '/api/v1/config/tables/IP2IPRouting/0', { DestType: 0, DestIPGroupName: 'NOWHERE' });
    expect(badPatch.status).toBe(422);
    const badRow = await http(apiPort, 'PATCH', '/api/v1/config/tables/IP2IPRouting/0', { NoSuchColumn: 1 });
    expect(badRow.status).toBe(400);
    const validated = await http(apiPort, 'POST', '/api/v1/config/validate', putText.replace('SipT4Rtx = 500', 'SipT4Rtx = 7'));
    expect(validated.json['ok']).toBe(false);
    expect(await readFile(sbc.configPath, 'utf8')).toBe(onDisk);

    const versions = await history();
    expect(versions.map((v) => [v.version, v.origin.kind, v.origin.detail])).toEqual([
      [1, 'startup', undefined],
      [2, 'file', 'SIGHUP'],
      [3, 'api', 'PUT /api/v1/config'],
      [4, 'api', 'PATCH IP2IPRouting 1'],
    ]);
    expect(versions[2]!.origin.user).toBe('127.0.0.1');
    expect(versions[1]!.changes).toEqual([
      `IP2IPRouting 0: RouteName 'PBX to ITSP' -> 'PBX to trunk 2', DestType 'ip-group' -> 'dest-address', DestIPGroupName 'ITSP' -> '', DestAddress '' -> '${TRUNK2_IP}', DestPort 0 -> ${uas2Port}, DestTransportType 'any' -> 'udp'`,
    ]);
    expect(versions[2]!.changes).toEqual(["parameter useragentdisplayinfo set to 'sbc-v3'"]);
    expect(versions[3]!.changes).toEqual(["IP2IPRouting 1: RouteName 'ITSP to PBX' -> 'ITSP to PBX (edited)'"]);

    // The CLI against the running SBC.
    const cliHistory = sbcCli(['config', 'history', '--api', `http://127.0.0.1:${apiPort}`]);
    expect(cliHistory.status, cliHistory.stderr).toBe(0);
    expect(cliHistory.stdout).toMatch(/ {3}4 {2}\S+ {2}api by 127\.0\.0\.1 \(PATCH IP2IPRouting 1\) {2}1 change/);
    const cliDiff = sbcCli(['config', 'diff', '1', '4', '--config', sbc.configPath]);
    expect(cliDiff.status, cliDiff.stderr).toBe(0);
    expect(cliDiff.stdout).toContain("parameter useragentdisplayinfo set to 'sbc-v3'");
    expect(cliDiff.stdout).toContain("RouteName 'ITSP to PBX' -> 'ITSP to PBX (edited)'");

    // Rollback to version 1: the same validate-then-swap path, recorded as version 5.
    const rb = sbcCli(['config', 'rollback', '1', '--api', `http://127.0.0.1:${apiPort}`]);
    expect(rb.status, rb.stderr).toBe(0);
    expect(rb.stdout).toContain('rolled back; now version 5');
    const after = await history();
    expect(after[4]).toMatchObject({ version: 5, origin: { kind: 'rollback', user: '127.0.0.1', detail: 'rollback to version 1' } });
    expect(after[4]!.changes).toContain("parameter useragentdisplayinfo removed");
    expect(await readFile(sbc.configPath, 'utf8')).toBe(v1);

    // The restored routing carries the next call to trunk 1 again.
    const restored = await sipp.uac('0203333333', 100).proc.done;
    expect(restored.successful, restored.output).toBe(1);

    // The long call stayed up through all of it, and ends normally.
    const still = ((await sbc.api('/api/v1/calls')) as typeof up).filter((c) => c.legACallId === up[0]!.legACallId);
    expect(still.map((c) => c.state), 'the long call should still be up').toEqual(['confirmed']);
    const longRes = await longCall.proc.done;
    expect(longRes.successful, longRes.output).toBe(1);
    const t1 = await trunk1.proc.done;
    expect(t1.successful, t1.output).toBe(2);
    const t2 = await trunk2.proc.done;
    expect(t2.successful, t2.output).toBe(1);
    expect(await invitesAt(trunk1.trace)).toEqual(['sip:0201111111@itsp.test', 'sip:0203333333@itsp.test']);
    expect(await invitesAt(trunk2.trace)).toEqual([`sip:0202222222@${TRUNK2_IP}:${uas2Port}`]);
    const t1trace = await trunk1.trace();
    const longId = t1trace.find((x) => x.msg.isRequest && x.msg.requestUri === 'sip:0201111111@itsp.test')!.msg.callId;
    const atTrunk1 = t1trace.filter((m) => m.dir === 'received' && m.msg.isRequest && m.msg.callId === longId);
    expect(atTrunk1.map((m) => m.msg.method)).toEqual(['INVITE', 'ACK', 'BYE']);
  }, 90_000);
});

describe('issue 14: backups', () => {
  let sbc: SbcProcess;
  let apiPort = 0;

  beforeAll(async () => {
    const [lanPort, wanPort] = await Promise.all([findFreePort(), findFreePort()]);
    apiPort = await findFreePort();
    sbc = await startSbc(testIni({
      apiAuth: false,
      lanPort, wanPort, apiPort, media: false, pbx: { address: PBX_IP, port: 5060 }, itsp: [{ address: TRUNK_IP, port: 5062 }],
      scalars: ['ConfigBackupTime = ""', 'ConfigBackupKeep = 3'],
    }));
  }, 30_000);
  afterAll(async () => {
    await sbc?.stop();
  });

  it('makes the daily backup at the configured time and keeps the newest N after N+2 changes', async () => {
    const backupDir = `${sbc.configPath}.backup`;
    const list = async (): Promise<string[]> => (await readdir(backupDir).catch(() => [] as string[])).filter((n) => n.endsWith('.ini')).sort();
    // Daily time "now + 2 s", set through the API (a change: it makes one on-change backup as well).
    const at = new Date(Date.now() + 2000);
    const hhmmss = [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    const text = String((await http(apiPort, 'GET', '/api/v1/config')).json['ini']).replace('ConfigBackupTime = ""', `ConfigBackupTime = ${hhmmss}`);
    expect((await http(apiPort, 'PUT', '/api/v1/config', text)).status).toBe(200);
    const daily = await sbc.waitForLog((l) => l.msg === 'configuration backed up' && l['reason'] === 'daily', 15_000);
    const dailyName = String(daily['backup']).split('/').pop()!;
    expect(dailyName).toMatch(/^sbc\.ini\.\d{8}-\d{6}-\d{3}\.daily\.ini$/);
    expect(await readFile(String(daily['backup']), 'utf8')).toBe(text);
    expect((await list()).some((n) => n.endsWith('.change.ini'))).toBe(true);

    // N + 2 = 5 more changes: only the newest 3 backups remain, the last one holding the running text.
    for (let i = 0; i < 5; i++) {
      const r = await http(apiPort, 'PATCH', '/api/v1/config/tables/IP2IPRouting/0', { RouteName: `edit ${i}` });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    const names = await list();
    expect(names).toHaveLength(3);
    expect(names.every((n) => n.endsWith('.change.ini'))).toBe(true);
    expect(await readFile(join(backupDir, names[2]!), 'utf8')).toBe(await readFile(sbc.configPath, 'utf8'));
  }, 40_000);
});

/** The SBC on an existing ini file with extra environment (for the crash test); stopped by PID. */
function spawnSbc(configPath: string, env: Record<string, string> = {}): {
  proc: ChildProcess; logs: LogLine[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>; stop(): Promise<void>;
} {
  const proc = spawn(process.execPath, [SBC_MAIN, 'start', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const logs: LogLine[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      try {
        logs.push(JSON.parse(buf.slice(0, nl)) as LogLine);
      } catch { /* not a log line */ }
      buf = buf.slice(nl + 1);
    }
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  let done = false;
  void exited.then(() => { done = true; });
  return {
    proc, logs, exited,
    async waitFor(pred, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (done) throw new Error(`SBC exited; logs: ${logs.map((l) => l.msg).join(' | ')}; stderr: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`log line not seen; logs: ${logs.map((l) => l.msg).join(' | ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (done) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

describe('issue 14: atomic configuration writes', () => {
  let dir = '';
  const procs: Array<{ stop(): Promise<void> }> = [];
  afterAll(async () => {
    for (const p of procs) await p.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a crash between write and rename leaves the old ini whole; the next start ignores the stale temporary file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-atomic-'));
    const file = join(dir, 'sbc.ini');
    const [lanPort, wanPort, apiPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort()]);
    const original = testIni({ lanPort, wanPort, apiPort, apiAuth: false, media: false, pbx: { address: PBX_IP, port: 5060 }, itsp: [{ address: TRUNK_IP, port: 5062 }] });
    await writeFile(file, original);
    const crashing = spawnSbc(file, { SBC_FAULT_INJECT: 'config-write-before-rename' });
    procs.push(crashing);
    await crashing.waitFor((l) => l.msg === 'SBC started');
    const changed = original.replace('SipT4Rtx = 500', 'SipT4Rtx = 600');
    await fetch(`http://127.0.0.1:${apiPort}/api/v1/config`, { method: 'PUT', body: changed, headers: { ...basicAuth(TEST_API_USERS.admin), 'content-type': 'text/plain' } }).catch(() => undefined);
    const exit = await crashing.exited;
    expect(exit.signal, 'the fault hook kills the process like kill -9').toBe('SIGKILL');
    // The ini is the old one, complete; the new text sits whole in the temporary file only.
    expect(await readFile(file, 'utf8')).toBe(original);
    const temps = (await readdir(dir)).filter((n) => n.startsWith('.sbc.ini.tmp-'));
    expect(temps).toHaveLength(1);
    expect(await readFile(join(dir, temps[0]!), 'utf8')).toBe(changed);

    // Restart: the stale temporary file is ignored (and removed); the old configuration runs.
    const next = spawnSbc(file);
    procs.push(next);
    const warn = await next.waitFor((l) => l.msg.startsWith('stale temporary configuration files'));
    expect(warn['stale']).toEqual(temps);
    await next.waitFor((l) => l.msg === 'SBC started');
    expect((await readdir(dir)).filter((n) => n.startsWith('.sbc.ini.tmp-'))).toEqual([]);
    const cfg = (await (await fetch(`http://127.0.0.1:${apiPort}/api/v1/config`, { headers: basicAuth(TEST_API_USERS.admin) })).json()) as { ini: string };
    expect(cfg.ini).toBe(original);
    // Without the fault, the same PUT goes through temp + rename.
    const put = await fetch(`http://127.0.0.1:${apiPort}/api/v1/config`, { method: 'PUT', body: changed, headers: { ...basicAuth(TEST_API_USERS.admin), 'content-type': 'text/plain' } });
    expect(put.status).toBe(200);
    expect(await readFile(file, 'utf8')).toBe(changed);
    expect((await readdir(dir)).filter((n) => n.startsWith('.sbc.ini.tmp-'))).toEqual([]);
    await next.stop();
  }, 40_000);
});

