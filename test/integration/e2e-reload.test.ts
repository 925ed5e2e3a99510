/**
 * Issue 3 through the real SBC process and CLI:
 * - hot reload on SIGHUP: a valid IP2IPRouting edit (new destination, a
 *   reject row) applies to new calls while a call in progress keeps its
 *   route and ends normally; invalid edits (dangling reference, syntax
 *   error) are refused with their file:line and the running configuration
 *   keeps carrying calls;
 * - `sbc check-config` on the shipped examples and on a broken file;
 * - `sbc route` explaining a sample request.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess, type SippResult } from './helpers/sipp.js';
import { readSippTrace, SCENARIOS, type SippTrace } from './helpers/b2bua-harness.js';
import { SBC_MAIN, startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';
const TRUNK2_IP = '127.0.0.4';
const CONFIG_DIR = fileURLToPath(new URL('../../config/', import.meta.url));

function sbcCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SBC_MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Replaces the IP2IPRouting table of a test ini. */
function withRouting(ini: string, format: string, rows: string[]): string {
  const table = ['[ IP2IPRouting ]', `FORMAT Index = ${format};`, ...rows.map((r, i) => `IP2IPRouting ${i} = ${r};`), '[ \\IP2IPRouting ]'].join('\r\n');
  const out = ini.replace(/\[ IP2IPRouting \][\s\S]*?\[ \\IP2IPRouting \]/, table);
  if (out === ini) throw new Error('test ini has no IP2IPRouting table');
  return out;
}

/** 1-based line of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split(/\r?\n/).findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in the text`);
  return i + 1;
}

describe('issue 3: sbc check-config and sbc route', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-cli-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('accepts both example configurations', () => {
    for (const f of ['pbx-to-itsp.ini', 'remote-users.ini']) {
      const r = sbcCli(['check-config', join(CONFIG_DIR, f)]);
      expect(r.status, `${f}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('OK (0 errors');
    }
  });

  it('refuses a broken file and names every bad line as file:line', async () => {
    const file = join(dir, 'broken.ini');
    const text = [
      '[SIP Params]',
      'SipT1Rtx = 100',
      'SBCOverloadLagMs = 0',
      '',
      '[ IP2IPRouting ]',
      'FORMAT Index = RouteName, SrcIPGroupName, DestType, DestIPGroupName;',
      'IP2IPRouting 0 = "to nowhere", "Any", 0, "NOWHERE";',
      '[ \\IP2IPRouting ]',
      'this line is not ini',
      '',
    ].join('\n');
    await writeFile(file, text);
    const r = sbcCli(['check-config', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${lineOf(text, 'NOWHERE')}(:\\d+)?: error: .*NOWHERE`));
    expect(r.stderr).toContain(`${file}:${lineOf(text, 'not ini')}`);
    expect(r.stdout).toContain('INVALID');
  });

  it('sbc route prints the classification, manipulation and routing rows a request matches', () => {
    const cfg = join(CONFIG_DIR, 'pbx-to-itsp.ini');
    const r = sbcCli(['route', '--config', cfg, '--from', 'sip:1001@pbx', '--to', 'sip:2125551234@itsp', '--src-ip', '127.0.0.20']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/source IP Group PBX/);
    expect(r.stdout).toMatch(/IP2IPRouting 0 \(PBX to ITSP, line \d+\): matched/);
    expect(r.stdout).toMatch(/IPOutboundManipulation \d+ \(national to E\.164.*, line \d+\): destination user '2125551234' -> '\+12125551234'/);
    // An unknown source is not classified, and says so.
    const u = sbcCli(['route', '--config', cfg, '--from', 'sip:1@x', '--to', 'sip:2@y', '--src-ip', '10.9.9.9']);
    expect(u.status).toBe(0);
    expect(u.stdout).toMatch(/no classification rule matched/);
  });
});

describe('issue 3: hot reload of the running SBC (SIGHUP)', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let uas1Port = 0;
  let uas2Port = 0;
  const ROUTE_FORMAT = 'RouteName, SrcIPGroupName, DestUsernamePrefix, DestType, DestIPGroupName, DestAddress, DestPort, DestTransportType';
  let baseIni: (tag: string) => string = () => '';
  let seq = 0;
  const sippProcs: SippProcess[] = [];

  function uac(service: string, holdMs: number): { proc: SippProcess; trace: () => Promise<SippTrace> } {
    const file = join(dir, `uac-${++seq}.log`);
    const proc = startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, calls: 1, service,
      timeoutMs: 30_000, extraArgs: ['-d', String(holdMs), '-trace_msg', '-message_file', file],
    });
    sippProcs.push(proc);
    return { proc, trace: () => readSippTrace(file) };
  }

  function uas(address: string, port: number, calls: number): { proc: SippProcess; trace: () => Promise<SippTrace> } {
    const file = join(dir, `uas-${++seq}.log`);
    const proc = startSipp({
      scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls, localAddress: address, localPort: port, timeoutMs: 40_000,
      extraArgs: ['-trace_msg', '-message_file', file],
    });
    sippProcs.push(proc);
    return { proc, trace: () => readSippTrace(file) };
  }

  /** Sends SIGHUP with `text` and returns the first reload outcome logged after it. */
  async function reload(text: string): Promise<LogLine> {
    const before = new Set(sbc.logs);
    await sbc.reload(text);
    return sbc.waitForLog((l) => !before.has(l) && l.msg.startsWith('configuration reload'), 10_000);
  }

  async function liveCalls(): Promise<Array<{ state: string; legACallId: string; dstIpGroup: string | null }>> {
    return sbc.api('/api/v1/calls');
  }

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'e2e-reload-'));
    [lanPort, uas1Port, uas2Port] = await Promise.all([findFreePort(), findFreePort(TRUNK_IP), findFreePort(TRUNK2_IP)]);
    const [wanPort, apiPort] = await Promise.all([findFreePort(), findFreePort()]);
    baseIni = (tag: string): string => testIni({
      lanPort, wanPort, apiPort, media: false,
      pbx: { address: PBX_IP, port: 5060 },
      itsp: [{ address: TRUNK_IP, port: uas1Port }],
      // Each configuration marks what it sends, so a message tells which configuration handled it.
      manipulations: [
        `"mark requests to the trunk", 1, "any.request", "", "header.x-config", 0, "'${tag}'", 0`,
        `"mark responses to the PBX", 2, "any.response", "", "header.x-config", 0, "'${tag}'", 0`,
      ],
      itspOutboundManSet: 1,
      pbxOutboundManSet: 2,
    });
    sbc = await startSbc(withRouting(baseIni('v1'), ROUTE_FORMAT, [
      '"PBX to ITSP", "PBX", "*", 0, "ITSP", "", 0, -1',
      '"ITSP to PBX", "ITSP", "*", 0, "PBX", "", 0, -1',
    ]));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(sippProcs.map((p) => p.stop()));
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies a valid edit to new calls, keeps the call in progress, and refuses invalid edits with their line', async () => {
    // A call in progress on the first configuration (to the trunk at 127.0.0.3).
    const trunk1 = uas(TRUNK_IP, uas1Port, 1);
    await trunk1.proc.bound();
    const longCall = uac('0201111111', 8000);
    let confirmed: Array<{ state: string; legACallId: string; dstIpGroup: string | null }> = [];
    for (let i = 0; i < 100 && confirmed.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      confirmed = (await liveCalls()).filter((c) => c.state === 'confirmed');
    }
    expect(confirmed, 'the first call never got connected').toHaveLength(1);
    const longCallId = confirmed[0]!.legACallId;
    expect(confirmed[0]!.dstIpGroup).toBe('ITSP');

    // Valid edit: calls from the PBX now go to a second trunk at 127.0.0.4, and 999 is refused.
    const trunk2 = uas(TRUNK2_IP, uas2Port, 2);
    await trunk2.proc.bound();
    const v2 = withRouting(baseIni('v2'), ROUTE_FORMAT, [
      '"blocked", "PBX", "999", 7, "", "reject(404)", 0, -1',
      `"PBX to second trunk", "PBX", "*", 1, "", "${TRUNK2_IP}", ${uas2Port}, 0`,
      '"ITSP to PBX", "ITSP", "*", 0, "PBX", "", 0, -1',
    ]);
    const ok = await reload(v2);
    expect(ok.msg, JSON.stringify(ok)).toBe('configuration reloaded');
    expect(JSON.stringify(ok['changes'])).toContain('IP2IPRouting');

    const second = uac('0202222222', 200);
    const secondRes = await second.proc.done;
    expect(secondRes.successful, `${secondRes.output}${secondRes.errors}`).toBe(1);
    // New calls get the new configuration's manipulations too.
    const secondOk = (await second.trace()).filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.status === 200);
    expect(secondOk.length).toBeGreaterThanOrEqual(2);
    for (const m of secondOk) expect(m.msg.getHeader('x-config')).toBe('v2');

    const blocked = uac('9995550000', 200);
    const blockedRes = await blocked.proc.done;
    expect(blockedRes.successful, `${blockedRes.output}${blockedRes.errors}`).toBe(1);
    const blockedFinals = (await blocked.trace()).filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.status >= 200);
    expect(blockedFinals.map((m) => m.msg.status)).toContain(404);
    expect(blockedFinals.map((m) => m.msg.status)).not.toContain(200);

    // Invalid edit 1: a route to an IP Group that does not exist.
    const dangling = withRouting(baseIni('v3'), ROUTE_FORMAT, [
      '"PBX to nowhere", "PBX", "*", 0, "NOWHERE", "", 0, -1',
      '"ITSP to PBX", "ITSP", "*", 0, "PBX", "", 0, -1',
    ]);
    const refused1 = await reload(dangling);
    expect(refused1.msg).toMatch(/configuration reload refused/);
    const errors1 = refused1['errors'] as string[];
    expect(errors1.some((e) => e.startsWith(`${sbc.configPath}:${lineOf(dangling, 'NOWHERE')}:`) && e.includes('NOWHERE')), errors1.join('\n')).toBe(true);

    // Invalid edit 2: a syntax error (unbalanced quote) in a data line.
    const syntax = v2.replace('"blocked", "PBX"', '"blocked, "PBX"');
    expect(syntax).not.toBe(v2);
    const refused2 = await reload(syntax);
    expect(refused2.msg).toMatch(/configuration reload refused/);
    const errors2 = refused2['errors'] as string[];
    expect(errors2.some((e) => e.startsWith(`${sbc.configPath}:${lineOf(syntax, '"blocked, "PBX"')}:`)), errors2.join('\n')).toBe(true);

    // The configuration of the valid edit still runs: the next call goes to the second trunk.
    const third = uac('0203333333', 200);
    const thirdRes = await third.proc.done;
    expect(thirdRes.successful, `${thirdRes.output}${thirdRes.errors}`).toBe(1);
    const trunk2Res = await trunk2.proc.done;
    expect(trunk2Res.successful, `${trunk2Res.output}${trunk2Res.errors}`).toBe(2);
    const atTrunk2 = (await trunk2.trace()).filter((m) => m.dir === 'received' && m.msg.isRequest && m.msg.method === 'INVITE');
    expect(atTrunk2.map((m) => m.msg.requestUri)).toEqual([
      `sip:0202222222@${TRUNK2_IP}:${uas2Port}`,
      `sip:0203333333@${TRUNK2_IP}:${uas2Port}`,
    ]);

    // Through all of this, the first call stayed up on its own route...
    const stillUp = (await liveCalls()).filter((c) => c.legACallId === longCallId);
    expect(stillUp.map((c) => c.state), 'the call in progress should still be up (8 s hold)').toEqual(['confirmed']);

    // ... and ends normally: the caller's BYE reaches the first trunk.
    const longRes = await longCall.proc.done;
    expect(longRes.successful, `${longRes.output}${longRes.errors}`).toBe(1);
    const trunk1Res = await trunk1.proc.done;
    expect(trunk1Res.successful, `${trunk1Res.output}${trunk1Res.errors}`).toBe(1);
    const atTrunk1 = (await trunk1.trace()).filter((m) => m.dir === 'received' && m.msg.isRequest);
    expect(atTrunk1.map((m) => m.msg.method)).toEqual(['INVITE', 'ACK', 'BYE']);
    expect(atTrunk1[0]!.msg.requestUri).toBe(`sip:0201111111@itsp.test`);
    // The call kept its configuration for its whole life, in-dialog requests and responses included.
    for (const m of atTrunk1) expect(m.msg.getHeader('x-config'), `${m.msg.method} to the first trunk`).toBe('v1');
    const atPbx = (await longCall.trace()).filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.status >= 180);
    expect(atPbx.map((m) => `${m.msg.status} ${m.msg.cseq?.method}`)).toEqual(expect.arrayContaining(['200 INVITE', '200 BYE']));
    for (const m of atPbx) expect(m.msg.getHeader('x-config'), `${m.msg.status} ${m.msg.cseq?.method} to the PBX`).toBe('v1');

    const cdr = await sbc.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as { legACallId?: string }).legACallId === longCallId);
    const rec = cdr['cdr'] as { dstIpGroup: string; sipStatus: number; terminationSide: string };
    expect(rec.dstIpGroup).toBe('ITSP');
    expect(rec.sipStatus).toBe(200);
    expect(rec.terminationSide).toBe('A');
  }, 60_000);
});
