/**
 * Issue 11, the SBC as authenticator: the RemoteUsers IP Group of
 * `config/remote-users.ini` gets AuthenticationMode = SBC as server with
 * MethodList REGISTER and an SBCUserInfoTable row. A sipp phone with the
 * right password registers (the SBC challenges, checks, and relays the
 * REGISTER to Kamailio without its credentials); a wrong password gets 403
 * and is counted per source (REST API and Prometheus).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { startSbc, type SbcProcess } from './helpers/sbc-process.js';
import { startKamailioRegistrar, type KamailioRegistrar } from './helpers/kamailio.js';
import { remoteUsersIni } from './helpers/remote-users.js';

const PHONE_IP = '127.0.0.6';
const PBX_IP = '127.0.0.20';

describe('issue 11: the SBC authenticates registering users (SBCUserInfoTable)', () => {
  let dir = '';
  let kam: KamailioRegistrar | null = null;
  let sbc: SbcProcess | null = null;
  let wanPort = 0;
  let apiPort = 0;

  async function registerWith(password: string, name: string): Promise<Awaited<ReturnType<typeof readSippTrace>>> {
    const trace = join(dir, `${name}.log`);
    const r = await runSipp({
      scenario: join(SCENARIOS, 'reg-phone-auth.xml'), target: `127.0.0.1:${wanPort}`, localAddress: PHONE_IP, calls: 1, service: '200',
      timeoutMs: 15_000, extraArgs: ['-au', 'alice', '-ap', password, '-trace_msg', '-message_file', trace],
    });
    expect(r.successful, `phone: ${r.output}${r.errors}`).toBe(1);
    return readSippTrace(trace);
  }

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'reg-auth-'));
    const [lanPort, extPort] = await Promise.all([findFreePort(), findFreePort('127.0.0.21')]);
    [wanPort, apiPort] = await Promise.all([findFreePort(), findFreePort()]);
    kam = await startKamailioRegistrar({ address: PBX_IP, extensions: { address: '127.0.0.21', port: extPort } });
    const pbxPort = kam.port;
    sbc = await startSbc(await remoteUsersIni({
      lanPort, wanPort, pbxPort, apiPort,
      extraIpGroupColumns: { names: ['AuthenticationMode', 'MethodList'], pbx: ['0', '""'], users: ['2', '"REGISTER"'] },
      extra: [
        '[ SBCUserInfoTable ]',
        'FORMAT Index = LocalUser, Username, Password, IPGroupName;',
        'SBCUserInfoTable 0 = "200", "alice", "s3cret", "RemoteUsers";',
        '[ \\SBCUserInfoTable ]',
      ].join('\n'),
    }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    await kam?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('challenges the REGISTER, accepts the right answer and registers the user upstream', async () => {
    const trace = await registerWith('s3cret', 'good');
    const challenge = received(trace, 401)[0]!.msg.getHeader('www-authenticate')!;
    expect(challenge).toMatch(/^Digest realm="pbx\.local", nonce="[A-Za-z0-9_-]{43}", algorithm=MD5, qop="auth"$/);
    expect(received(trace, 200)).toHaveLength(1);
    const users = await sbc!.api<Array<{ aor: string }>>('/api/v1/registrations/users');
    expect(users.map((u) => u.aor)).toEqual(['200@pbx.local']);
    expect(await sbc!.api('/api/v1/registrations/auth-failures')).toEqual({});
  }, 30_000);

  it('refuses a wrong password with 403 and counts the failure for the source', async () => {
    const trace = await registerWith('guess', 'bad');
    expect(received(trace, 403)).toHaveLength(1);
    expect(received(trace, 200)).toHaveLength(0);
    expect(await sbc!.api('/api/v1/registrations/auth-failures')).toEqual({ [PHONE_IP]: 1 });
    const metrics = (await sbc!.http("/metrics")).body;
    expect(metrics).toMatch(/^sbc_auth_failures_total 1$/m);
  }, 30_000);
});
