/**
 * The assembled SBC process at the edges of a call's life:
 * - SIGTERM with calls up: the SBC releases both legs of every call with
 *   BYE and the CDR file sink (CdrFilePath) holds a record of each call
 *   when the process has exited: the buffered lines were flushed.
 * - Call admission control at runtime through the real routing port: an
 *   SBCAdmissionControl row limits the trunk's IP Group to 2 concurrent
 *   calls; the third is refused with 503 while two are up, a call after
 *   they ended is admitted, and a reload that sets the limit to 0 blocks
 *   the next call.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess } from './helpers/sipp.js';
import { readSippTrace, SCENARIOS, type SippTrace } from './helpers/b2bua-harness.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';

interface Status {
  calls: { calls: number; callsByIpGroup: Record<string, number>; rejected: number };
}

async function waitFor<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Final responses to INVITE a sipp trace received, in order. */
function inviteFinals(trace: SippTrace): number[] {
  return trace.filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.cseq?.method === 'INVITE' && m.msg.status >= 200).map((m) => m.msg.status);
}

describe('SBC process: SIGTERM with calls up', () => {
  let sbc: SbcProcess | undefined;
  let dir = '';
  const procs: SippProcess[] = [];

  beforeAll(() => {
    assertSippInstalled();
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('releases both legs of every call with BYE and the CDR file holds every call once the process has exited', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sbc-sigterm-'));
    const cdrFile = join(dir, 'cdr.jsonl');
    const [lanPort, wanPort, apiPort, uasPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP)]);
    const uasFile = join(dir, 'uas.log');
    const uas = startSipp({
      scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls: 2, localAddress: TRUNK_IP, localPort: uasPort, timeoutMs: 40_000,
      extraArgs: ['-trace_msg', '-message_file', uasFile],
    });
    procs.push(uas);
    await uas.bound();
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort, media: false,
      scalars: [`CdrFilePath = ${cdrFile}`],
      pbx: { address: PBX_IP, port: 5060 },
      itsp: [{ address: TRUNK_IP, port: uasPort }],
    }));
    // Two calls held for 30 s: they are up when the SBC is told to stop.
    const uac = startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, calls: 2, rate: 20, limit: 2,
      timeoutMs: 40_000, extraArgs: ['-d', '30000', '-trace_msg', '-message_file', join(dir, 'uac.log')],
    });
    procs.push(uac);
    const up = await waitFor('two confirmed calls', () => sbc!.api<Array<{ state: string; legACallId: string }>>('/api/v1/calls'),
      (c) => c.filter((x) => x.state === 'confirmed').length === 2);
    // CDRs are written to the file in batches (1 s); none is due yet.
    expect(await readFile(cdrFile, 'utf8').catch(() => '')).toBe('');

    expect(await sbc.stop()).toBe(0);
    const lines = (await readFile(cdrFile, 'utf8')).split('\n').filter((l) => l.length > 0);
    const records = lines.map((l) => JSON.parse(l) as { legACallId: string; connectTime: string | null; terminationSide: string; terminationReason: string; sipStatus: number });
    expect(records.map((r) => r.legACallId).sort()).toEqual(up.map((c) => c.legACallId).sort());
    for (const r of records) {
      expect(r.connectTime).not.toBeNull();
      expect(r.sipStatus).toBe(200);
      expect(r.terminationSide).toBe('sbc');
      expect(r.terminationReason).toMatch(/shutdown/);
    }
    // The trunk side got the SBC's BYE for both calls (its scenario waits for exactly that).
    const uasRes = await uas.done;
    expect(uasRes.successful, `${uasRes.output}${uasRes.errors}`).toBe(2);
    expect((await readSippTrace(uasFile)).filter((m) => m.dir === 'received' && m.msg.method === 'BYE')).toHaveLength(2);
    // And the PBX side got one too, for each call.
    await uac.stop();
    expect((await readSippTrace(join(dir, 'uac.log'))).filter((m) => m.dir === 'received' && m.msg.method === 'BYE')).toHaveLength(2);
  }, 60_000);
});

describe('SBC process: SBCAdmissionControl limit on the trunk IP Group', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let iniWith: (limit: number) => string = () => '';
  let seq = 0;
  const procs: SippProcess[] = [];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'sbc-cac-'));
    const [lan, wanPort, apiPort, uasPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP)]);
    lanPort = lan;
    const uas = startSipp({ scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls: 10, localAddress: TRUNK_IP, localPort: uasPort, timeoutMs: 60_000 });
    procs.push(uas);
    await uas.bound();
    iniWith = (limit: number): string => testIni({
      lanPort, wanPort, apiPort, media: false,
      pbx: { address: PBX_IP, port: 5060 },
      itsp: [{ address: TRUNK_IP, port: uasPort }],
      extra: [
        '[ SBCAdmissionControl ]',
        'FORMAT Index = AdmissionControlName, LimitType, IPGroupName, RequestType, RequestDirection, Limit;',
        `SBCAdmissionControl 0 = "trunk calls", 0, "ITSP", 1, 0, ${limit};`,
        '[ \\SBCAdmissionControl ]',
        '',
      ].join('\r\n'),
    });
    sbc = await startSbc(iniWith(2));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function calls(n: number, holdMs: number): { proc: SippProcess; trace: () => Promise<SippTrace> } {
    const file = join(dir, `uac-${++seq}.log`);
    const proc = startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, calls: n, rate: 50, limit: n,
      timeoutMs: 30_000, extraArgs: ['-d', String(holdMs), '-trace_msg', '-message_file', file],
    });
    procs.push(proc);
    return { proc, trace: () => readSippTrace(file) };
  }

  it('admits two calls, refuses the third with 503 while they are up, and admits again once they ended', async () => {
    const before = await sbc.api<Status>('/api/v1/status');
    const held = calls(2, 4000);
    const at = await waitFor('two calls up toward the trunk', () => sbc.api<Status>('/api/v1/status'), (s) => (s.calls.callsByIpGroup['ITSP'] ?? 0) === 2);
    expect(at.calls.calls).toBe(2);

    const third = calls(1, 200);
    expect((await third.proc.done).successful).toBe(1);
    expect(inviteFinals(await third.trace())).toEqual([503]);
    expect((await sbc.api<Status>('/api/v1/status')).calls.callsByIpGroup['ITSP']).toBe(2);

    const heldRes = await held.proc.done;
    expect(heldRes.successful, `${heldRes.output}${heldRes.errors}`).toBe(2);
    expect(inviteFinals(await held.trace())).toEqual([200, 200]);
    const idle = await waitFor('no call left', () => sbc.api<Status>('/api/v1/status'), (s) => s.calls.calls === 0);
    expect(idle.calls.callsByIpGroup).toEqual({});

    const fourth = calls(1, 200);
    expect((await fourth.proc.done).successful).toBe(1);
    expect(inviteFinals(await fourth.trace())).toEqual([200]);
    const cdrs = sbc.logs.filter((l) => l.msg === 'call detail record').map((l) => l['cdr'] as { sipStatus: number });
    expect(cdrs.map((c) => c.sipStatus).sort()).toEqual([200, 200, 200, 503]);
    expect(before.calls.calls).toBe(0);
  }, 40_000);

  it('applies a changed limit to new calls after a reload (Limit 0 blocks)', async () => {
    await writeFile(sbc.configPath, iniWith(0));
    const r = await sbc.http('/api/v1/config/reload', { method: 'POST' });
    expect(r.status, r.body).toBe(200);
    expect((JSON.parse(r.body) as { changes: string[] }).changes.join(' ')).toMatch(/SBCAdmissionControl/);
    const blocked = calls(1, 200);
    expect((await blocked.proc.done).successful).toBe(1);
    expect(inviteFinals(await blocked.trace())).toEqual([503]);
  }, 30_000);
});
