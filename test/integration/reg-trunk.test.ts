/**
 * Issue 11, trunk registration (Mediant `Account` table) through the real
 * SBC process: sipp plays the trunk's registrar. The SBC registers with
 * digest credentials, refreshes, places a PBX call with the registered
 * identity and answers the INVITE challenge, backs off and comes back
 * when the registrar stops answering, honours 423 Min-Expires, and
 * un-registers (Expires: 0) when it stops.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { execFile } from 'node:child_process';
import { SBC_MAIN, startSbc, TEST_API_USERS, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { until, waitUdpBound } from './helpers/wait.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';

interface AccountStatusView {
  name: string; state: string; registrar: string | null; expiresInSec: number | null; lastResponse: unknown; failures: number;
}

function accountIni(o: {
  lanPort: number; wanPort: number; pbxPort: number; trunkPort: number; apiPort: number; extraScalars?: string[]; contactUser?: string; mandatory?: boolean;
  itspProfile?: Record<string, string | number>;
}): string {
  return testIni({
    lanPort: o.lanPort, wanPort: o.wanPort, apiPort: o.apiPort, media: false, ...(o.itspProfile ? { itspProfile: o.itspProfile } : {}),
    pbx: { address: PBX_IP, port: o.pbxPort },
    itsp: [{ address: TRUNK_IP, port: o.trunkPort }],
    scalars: ['RegistrationTime = 60', 'RegistrationRetryTime = 1', ...(o.extraScalars ?? [])],
    extra: [
      '[ Account ]',
      'FORMAT Index = ServedIPGroupName, ServingIPGroupName, Username, Password, HostName, ContactUser, Register, AccountName, RouteOnlyWhenRegistered;',
      `Account 0 = "PBX", "ITSP", "trunkuser", "trunkpass", "reg.itsp.test", "${o.contactUser ?? '4930123'}", 1, "carrier", ${o.mandatory ? 1 : 0};`,
      '[ \\Account ]',
      '',
    ].join('\r\n'),
  });
}

describe('issue 11: the SBC registers to a trunk (Account table)', () => {
  let dir = '';
  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'reg-trunk-'));
  });
  afterAll(async () => {
    if (dir && !process.env['KEEP_TRACE']) await rm(dir, { recursive: true, force: true });
  });

  it('registers with digest, refreshes, calls out with the registered identity, un-registers on shutdown', async () => {
    const [lanPort, wanPort, apiPort, trunkPort, pbxPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP),
    ]);
    const trace = join(dir, 'registrar.log');
    const registrar = startSipp({
      scenario: join(SCENARIOS, 'reg-trunk-registrar.xml'), calls: 2, localAddress: TRUNK_IP, localPort: trunkPort, timeoutMs: 60_000,
      extraArgs: ['-trace_msg', '-message_file', trace],
    });
    let sbc: SbcProcess | null = null;
    try {
      await waitUdpBound(TRUNK_IP, trunkPort);
      // SBCAssertIdentity = 1 (Add): the trunk gets a P-Asserted-Identity from the source URL, with the Account's HostName.
      sbc = await startSbc(accountIni({ lanPort, wanPort, pbxPort, trunkPort, apiPort, itspProfile: { SBCAssertIdentity: 1 } }));
      const s = sbc;
      const acc = await until('registered', async () => {
        const r = await s.api<{ accounts: AccountStatusView[] }>('/api/v1/registrations');
        return r.accounts.find((a) => a.state === 'registered');
      });
      expect(acc.name).toBe('carrier');
      expect(acc.registrar).toBe(`udp:${TRUNK_IP}:${trunkPort}`);
      expect(acc.expiresInSec, JSON.stringify(acc)).toBeLessThanOrEqual(4);
      // sbc status shows the account (a Monitor's credentials from the environment, as for sbc config).
      const cli = await new Promise<{ code: number; out: string }>((resolve) => {
        execFile(process.execPath, [SBC_MAIN, 'status', '--api', `http://127.0.0.1:${apiPort}`], {
          env: { PATH: process.env['PATH'] ?? '', SBC_API_USER: TEST_API_USERS.monitor.username, SBC_API_PASSWORD: TEST_API_USERS.monitor.password },
          timeout: 15_000,
        }, (err, out) => resolve({ code: err === null ? 0 : 1, out }));
      });
      expect(cli.code, cli.out).toBe(0);
      expect(cli.out).toMatch(/^Accounts \(registrations to trunks\): 1 of 1 registered$/m);
      expect(cli.out).toMatch(new RegExp(`^ {2}carrier {2}PBX -> ITSP {2}sip:4930123@reg\\.itsp\\.test {2}registered {2}at udp:127\\.0\\.0\\.3:${trunkPort} {2}expires in \\d+ s {2}last 200$`, 'm'));
      const metrics = (await s.http("/metrics")).body;
      expect(metrics).toMatch(/sbc_account_registered\{account="carrier",serving_ip_group="ITSP"\} 1/);
      // The registrar granted 4 s: a refresh follows after 2 s (RegistrationTimeDivider 50 %).
      await until('a refresh', async () => (await readSippTrace(trace).catch(() => [])).filter((m) => m.dir === 'received' && m.msg.method === 'REGISTER').length >= 3);

      const call = await startSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, localPort: pbxPort, calls: 1,
        service: '004930999', timeoutMs: 20_000, extraArgs: ['-d', '200'],
      }).done;
      expect(call.successful, `PBX: ${call.output}${call.errors}`).toBe(1);

      expect(await sbc.stop()).toBe(0);
      sbc = null;
      const r = await registrar.done;
      expect(r.successful, `registrar: ${r.output}${r.errors}`).toBe(2);
      expect(r.failed).toBe(0);
      const msgs = await readSippTrace(trace);
      // One per CSeq: UDP retransmissions (T1 is 100 ms in the test ini) are not new requests.
      const regs = received(msgs, 'REGISTER').filter((m, i, all) => all.findIndex((o) => o.msg.cseq?.seq === m.msg.cseq?.seq) === i);
      expect(regs[0]!.msg.getHeader('authorization')).toBeUndefined();
      expect(regs[1]!.msg.getHeader('authorization')).toMatch(/username="trunkuser".*qop=auth, nc=00000001/);
      // Refreshes reuse the nonce with a counted nc, keep the Call-ID.
      expect(regs[2]!.msg.getHeader('authorization')).toMatch(/nc=00000002/);
      expect(new Set(regs.map((m) => m.msg.callId)).size).toBe(1);
      const last = regs[regs.length - 1]!.msg;
      expect(last.getHeader('expires')).toBe('0');
      const invites = received(msgs, 'INVITE').filter((m, i, all) => all.findIndex((o) => o.msg.cseq?.seq === m.msg.cseq?.seq) === i);
      expect(invites).toHaveLength(2);
      expect(invites[1]!.msg.getHeader('authorization')).toMatch(/username="trunkuser"/);
      expect(invites[1]!.msg.getHeader('from')).toContain('@reg.itsp.test');
      // The registered identity: ContactUser in our Contact, PAI from the source URL on the Account's host (the PBX's own PAI replaced).
      expect(invites[1]!.msg.getHeader('contact')).toMatch(/^<sip:4930123@127\.0\.0\.1:\d+>$/);
      expect(invites[1]!.msg.getHeader('p-asserted-identity')).toBe('"PBX Ext 100" <sip:100@reg.itsp.test>');
      expect(invites[1]!.msg.getHeaderValues('p-asserted-identity')).toHaveLength(1);
      expect(invites[1]!.msg.getHeader('p-preferred-identity')).toBeUndefined();
    } finally {
      await sbc?.stop();
      await registrar.stop();
    }
  }, 90_000);

  it('answers 423 with the Min-Expires the registrar asks for', async () => {
    const [lanPort, wanPort, apiPort, trunkPort, pbxPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP),
    ]);
    const trace = join(dir, 'registrar-423.log');
    const registrar = startSipp({
      scenario: join(SCENARIOS, 'reg-423-registrar.xml'), calls: 1, localAddress: TRUNK_IP, localPort: trunkPort, timeoutMs: 40_000,
      extraArgs: ['-trace_msg', '-message_file', trace],
    });
    let sbc: SbcProcess | null = null;
    try {
      await waitUdpBound(TRUNK_IP, trunkPort);
      sbc = await startSbc(accountIni({ lanPort, wanPort, pbxPort, trunkPort, apiPort }));
      const s = sbc;
      const acc = await until('registered', async () =>
        (await s.api<{ accounts: AccountStatusView[] }>('/api/v1/registrations')).accounts.find((a) => a.state === 'registered'));
      expect(acc.expiresInSec).toBeGreaterThan(60);
      expect(await sbc.stop()).toBe(0);
      sbc = null;
      const r = await registrar.done;
      expect(r.successful, `registrar: ${r.output}${r.errors}`).toBe(1);
      const regs = received(await readSippTrace(trace), 'REGISTER').filter((m, i, all) => all.findIndex((o) => o.msg.cseq?.seq === m.msg.cseq?.seq) === i);
      expect(regs.map((m) => m.msg.getHeader('expires'))).toEqual(['60', '120', '0']);
    } finally {
      await sbc?.stop();
      await registrar.stop();
    }
  }, 60_000);

  it('backs off while the registrar does not answer and registers again, with a new Call-ID, when it comes back', async () => {
    const [lanPort, wanPort, apiPort, trunkPort, pbxPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP),
    ]);
    const traces = [join(dir, 'outage-1.log'), join(dir, 'outage-2.log')];
    const registrarOn = (trace: string): SippProcess => startSipp({
      scenario: join(SCENARIOS, 'reg-simple-registrar.xml'), calls: 1, localAddress: TRUNK_IP, localPort: trunkPort, timeoutMs: 60_000,
      extraArgs: ['-key', 'grant', '2', '-trace_msg', '-message_file', trace],
    });
    let registrar = registrarOn(traces[0]!);
    let sbc: SbcProcess | null = null;
    try {
      await waitUdpBound(TRUNK_IP, trunkPort);
      sbc = await startSbc(accountIni({ lanPort, wanPort, pbxPort, trunkPort, apiPort, mandatory: true }));
      const s = sbc;
      const accounts = async (): Promise<AccountStatusView[]> => (await s.api<{ accounts: AccountStatusView[] }>('/api/v1/registrations')).accounts;
      await until('registered', async () => (await accounts()).find((a) => a.state === 'registered'));
      await registrar.stop();
      // The next refresh (after 1 s) gets no answer: timer F (64 * T1 = 6.4 s), then the account is down.
      const down = await until('failed', async () => (await accounts()).find((a) => a.state === 'failed'), 30_000);
      expect(down.lastResponse).toBe('timeout');
      expect(down.failures).toBeGreaterThanOrEqual(1);
      const metrics = (await s.http("/metrics")).body;
      expect(metrics).toMatch(/sbc_account_registered\{account="carrier",serving_ip_group="ITSP"\} 0/);
      // RouteOnlyWhenRegistered: the trunk is unavailable for routing now, a PBX call is refused at once (503), not sent.
      await runSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, localPort: pbxPort, calls: 1,
        service: '004930999', timeoutMs: 15_000,
      });
      const cdr = await s.waitForLog((l) => l.msg === 'call detail record');
      expect((cdr['cdr'] as { sipStatus: number }).sipStatus).toBe(503);
      registrar = registrarOn(traces[1]!);
      const back = await until('registered again', async () => (await accounts()).find((a) => a.state === 'registered'), 30_000);
      expect(back.failures).toBe(0);
      expect(await sbc.stop()).toBe(0);
      sbc = null;
      const r = await registrar.done;
      expect(r.successful, `registrar: ${r.output}${r.errors}`).toBe(1);
      const first = received(await readSippTrace(traces[0]!), 'REGISTER');
      const second = received(await readSippTrace(traces[1]!), 'REGISTER');
      expect(first.length).toBeGreaterThanOrEqual(1);
      expect(second.length).toBeGreaterThanOrEqual(2);
      expect(second[0]!.msg.callId).not.toBe(first[0]!.msg.callId);
      expect(second[second.length - 1]!.msg.getHeader('expires')).toBe('0');
    } finally {
      await sbc?.stop();
      await registrar.stop();
    }
  }, 90_000);

  it('a reload that changes the Account un-registers the old binding and registers the new one', async () => {
    const [lanPort, wanPort, apiPort, trunkPort, pbxPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP),
    ]);
    const trace = join(dir, 'reload.log');
    const registrar = startSipp({
      scenario: join(SCENARIOS, 'reg-simple-registrar.xml'), calls: 2, localAddress: TRUNK_IP, localPort: trunkPort, timeoutMs: 40_000,
      extraArgs: ['-key', 'grant', '60', '-trace_msg', '-message_file', trace],
    });
    let sbc: SbcProcess | null = null;
    try {
      await waitUdpBound(TRUNK_IP, trunkPort);
      const o = { lanPort, wanPort, pbxPort, trunkPort, apiPort };
      sbc = await startSbc(accountIni(o));
      const s = sbc;
      const registered = async (): Promise<AccountStatusView | undefined> =>
        (await s.api<{ accounts: AccountStatusView[] }>('/api/v1/registrations')).accounts.find((a) => a.state === 'registered');
      await until('registered', registered);
      // The same ini again changes nothing: no new REGISTER.
      await sbc.reload(accountIni(o));
      await sbc.waitForLog((l) => l.msg.startsWith('configuration reloaded'));
      await sbc.reload(accountIni({ ...o, contactUser: '4930124' }));
      await until('re-registered with the new contact', async () => {
        const regs = received(await readSippTrace(trace).catch(() => []), 'REGISTER');
        return regs.some((m) => (m.msg.getHeader('contact') ?? '').includes('sip:4930124@')) && (await registered()) !== undefined;
      });
      expect(await sbc.stop()).toBe(0);
      sbc = null;
      const r = await registrar.done;
      expect(r.successful, `registrar: ${r.output}${r.errors}`).toBe(2);
      const regs = received(await readSippTrace(trace), 'REGISTER').filter((m, i, all) =>
        all.findIndex((x) => x.msg.callId === m.msg.callId && x.msg.cseq?.seq === m.msg.cseq?.seq) === i);
      const summary = regs.map((m) => `${/sip:(\d+)@/.exec(m.msg.getHeader('contact') ?? '')?.[1]} ${m.msg.getHeader('expires')}`);
      expect(summary).toEqual(['4930123 60', '4930123 0', '4930124 60', '4930124 0']);
      expect(regs[2]!.msg.callId).not.toBe(regs[0]!.msg.callId);
    } finally {
      await sbc?.stop();
      await registrar.stop();
    }
  }, 60_000);
});
