/**
 * Issue 12 acceptance, toll-fraud brute force: sipvicious `svcrack` against
 * an IP Group that authenticates (AuthenticationMode = SBC as server, an
 * SBCUserInfoTable user). Every wrong password is an IDS authentication
 * failure of its source; after the IDSRule's DenyThreshold the source is
 * denied (later attempts get no answer at all), and it is let in again after
 * the DenyPeriod. A failed INVITE challenge counts the same way.
 *
 * svcrack sends from 127.0.0.1 whatever `-b` says (like svwar), so the
 * cracker's address is 127.0.0.1 here; the PBX (127.0.0.20) is another address.
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from './helpers/sipp.js';
import { startSbc, type SbcProcess } from './helpers/sbc-process.js';
import { remoteUsersIni } from './helpers/remote-users.js';

const CRACKER = '127.0.0.1';
const INVITER = '127.0.0.57';

interface Denied { address: string; port: number | null; reason: string; rule: string; dropped: number }
interface Status { security: { ids: { events: Record<string, number>; denials: number } }; transport: { deniedDropped: number } }

const IDS_TABLES = [
  '[ IDSPolicy ]',
  'FORMAT Index = Name, Description;',
  'IDSPolicy 0 = "fraud", "brute force";',
  '[ \\IDSPolicy ]',
  '[ IDSRule ]',
  'FORMAT Index = Policy, RuleID, Reason, ThresholdScope, ThresholdWindow, MinorAlarmThreshold, MajorAlarmThreshold, CriticalAlarmThreshold, DenyThreshold, DenyPeriod;',
  // Authentication failures: more than 5 within 20 s deny the source IP for 30 s (svcrack gives up after 10 s of silence).
  'IDSRule 0 = "fraud", 1, 3, 2, 20, 2, -1, -1, 5, 30;',
  '[ \\IDSRule ]',
  '[ IDSMatch ]',
  'FORMAT Index = SIPInterface, ProxySet, Subnet, Policy;',
  'IDSMatch 0 = "Phones", "", "", "fraud";',
  '[ \\IDSMatch ]',
  '[ SBCUserInfoTable ]',
  'FORMAT Index = LocalUser, Username, Password, IPGroupName;',
  'SBCUserInfoTable 0 = "200", "200", "s3cret-200", "RemoteUsers";',
  '[ \\SBCUserInfoTable ]',
].join('\n');

function runTool(tool: string, args: string[], home: string, timeoutMs: number): Promise<string> {
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

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

describe('IDS: svcrack brute force against an authenticating IP Group (real SBC process, real svcrack)', () => {
  let sbc: SbcProcess;
  let wanPort = 0;
  let home = '';

  beforeAll(async () => {
    if (!existsSync('/usr/bin/svcrack')) throw new Error('svcrack not found: apt-get install sipvicious');
    home = await mkdtemp(join(tmpdir(), 'svcrack-'));
    const [lanPort, pbxPort] = await Promise.all([findFreePort(), findFreePort('127.0.0.20')]);
    let apiPort: number;
    [wanPort, apiPort] = await Promise.all([findFreePort(), findFreePort()]);
    let ini = await remoteUsersIni({
      lanPort, wanPort, pbxPort, apiPort,
      // Every method of the phones' group is challenged (empty MethodList).
      extraIpGroupColumns: { names: ['AuthenticationMode', 'MethodList'], pbx: ['0', '""'], users: ['2', '""'] },
      extra: IDS_TABLES,
    });
    // svcrack addresses the SBC by IP (REGISTER sip:127.0.0.1): classify the 2xx users whatever the host.
    ini = ini.replace(/"2xx#", "pbx\.local"/, '"2xx#", ""');
    sbc = await startSbc(ini);
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('svcrack gets 403s, the source is denied after the threshold, later attempts get no answer, and it is let in after the deny period', async () => {
    const started = Date.now();
    // 1..40 are all wrong; the IDS must stop the guessing long before.
    const out = await runTool('svcrack', ['-P', String(await findFreePort()), '-u', '200', '-r', '1-40', '-p', String(wanPort), '127.0.0.1'], home, 60_000);
    const deny = await sbc.waitForLog((l) => l.msg === 'IDS: source denied' && JSON.stringify(l).includes(CRACKER), 5000);
    const status = await sbc.api<Status>('/api/v1/status');
    const failures = await sbc.api<Record<string, number>>('/api/v1/registrations/auth-failures');
    const attempts = failures[CRACKER] ?? 0;
    const dropped = (await sbc.api<Denied[]>('/api/v1/security/denied')).find((d) => d.address === CRACKER)?.dropped;
    process.stdout.write(`svcrack: ${attempts} wrong passwords answered 403, denied ${(deny['time'] as number) - started} ms after svcrack started, ` +
      `${dropped} of its packets dropped unread; ` +
      `svcrack output: ${JSON.stringify(out.trim().split('\n').slice(-3).join(' | '))}\n`);
    // No password found, and the tool saw the target go silent.
    expect(out).not.toMatch(/\|\s*200\s*\|\s*\S+\s*\|/);
    expect(out).toMatch(/since we last received a response - stopping/);
    expect(out).toMatch(/found nothing/);
    // Denied after DenyThreshold + 1 failures (answered with 403); what came after was dropped unread.
    expect(attempts).toBe(6);
    expect(status.security.ids.events['auth-failure']).toBeGreaterThanOrEqual(6);
    const entry = (await sbc.api<Denied[]>('/api/v1/security/denied')).find((d) => d.address === CRACKER);
    expect(entry).toMatchObject({ reason: 'auth-failure', rule: 'fraud/1', port: null });
    expect(entry!.dropped).toBeGreaterThan(0);
    expect(status.transport.deniedDropped).toBeGreaterThan(0);
    expect(sbc.logs.filter((l) => l.msg === 'IDS: source denied' && JSON.stringify(l).includes(CRACKER))).toHaveLength(1);
    expect(sbc.logs.some((l) => l.msg === 'IDS alarm' && JSON.stringify(l).includes('auth-failure'))).toBe(true);

    // A second run while denied: no answer to anything.
    const again = await runTool('svcrack', ['-P', String(await findFreePort()), '-u', '200', '-r', '41-45', '-p', String(wanPort), '127.0.0.1'], home, 30_000);
    expect((await sbc.api<Record<string, number>>('/api/v1/registrations/auth-failures'))[CRACKER]).toBe(6);
    expect(again).not.toMatch(/\|\s*200\s*\|\s*\S+\s*\|/);

    // The deny period (30 s) ends by itself: the SBC answers the source again.
    await sbc.waitForLog((l) => l.msg === 'IDS: deny period over' && JSON.stringify(l).includes(CRACKER), 20_000);
    expect((await sbc.api<Denied[]>('/api/v1/security/denied')).some((d) => d.address === CRACKER)).toBe(false);
    const after = await runTool('svcrack', ['-P', String(await findFreePort()), '-u', '200', '-r', '46-47', '-p', String(wanPort), '127.0.0.1'], home, 30_000);
    // Answered again (403 for each guess, counted in a new window), so svcrack finishes without waiting for silence.
    expect(after).not.toMatch(/since we last received a response/);
    expect((await sbc.api<Record<string, number>>('/api/v1/registrations/auth-failures'))[CRACKER]).toBeGreaterThanOrEqual(8);
    expect((await sbc.api<Denied[]>('/api/v1/security/denied')).some((d) => d.address === CRACKER)).toBe(false);
  }, 120_000);

  it('INVITEs challenged by the SBC that fail authentication count too: the caller is denied after the threshold', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, INVITER, () => r()));
    const port = sock.address().port;
    const inbox: string[] = [];
    sock.on('message', (m) => inbox.push(m.toString('utf8')));
    const waitAnswer = async (callId: string, cseq: number, ms: number): Promise<string | null> => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const hit = inbox.find((m) => m.includes(`Call-ID: ${callId}`) && new RegExp(`CSeq: ${cseq} INVITE`).test(m) && !/^SIP\/2\.0 1\d\d/.test(m));
        if (hit !== undefined) return hit;
        await new Promise((r) => setTimeout(r, 20));
      }
      return null;
    };
    const invite = (callId: string, cseq: number, auth: string): string => [
      `INVITE sip:201@127.0.0.1:${wanPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INVITER}:${port};branch=z9hG4bK${callId}-${cseq};rport`,
      'Max-Forwards: 70',
      `From: <sip:200@pbx.local>;tag=${callId}`,
      'To: <sip:201@pbx.local>',
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} INVITE`,
      `Contact: <sip:200@${INVITER}:${port}>`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0', '', '',
    ].join('\r\n');
    const results: string[] = [];
    for (let i = 0; i < 8; i++) {
      const callId = `crack-invite-${i}`;
      sock.send(invite(callId, 1, ''), wanPort, '127.0.0.1');
      const challenge = await waitAnswer(callId, 1, 3000);
      if (challenge === null) { results.push('none'); continue; }
      expect(challenge).toMatch(/^SIP\/2\.0 401 /);
      const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
      const uri = `sip:201@127.0.0.1:${wanPort}`;
      const ha1 = md5(`200:pbx.local:guess${i}`);
      const response = md5(`${ha1}:${nonce}:00000001:c${i}:auth:${md5(`INVITE:${uri}`)}`);
      sock.send(invite(callId, 2, `Digest username="200", realm="pbx.local", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c${i}"`), wanPort, '127.0.0.1');
      const answer = await waitAnswer(callId, 2, 3000);
      results.push(answer === null ? 'none' : answer.split('\r\n')[0]!.slice(8, 11));
    }
    sock.close();
    process.stdout.write(`INVITE guessing: ${results.join(' ')}\n`);
    // Six wrong answers (> DenyThreshold 5) are refused with 403; from then on nothing is answered.
    expect(results.slice(0, 6)).toEqual(['403', '403', '403', '403', '403', '403']);
    expect(results.slice(6)).toEqual(['none', 'none']);
    const entry = (await sbc.api<Denied[]>('/api/v1/security/denied')).find((d) => d.address === INVITER);
    expect(entry).toMatchObject({ reason: 'auth-failure', rule: 'fraud/1' });
    expect(sbc.logs.filter((l) => l.msg === 'authentication failed' && JSON.stringify(l).includes(INVITER))).toHaveLength(6);
  }, 60_000);
});
