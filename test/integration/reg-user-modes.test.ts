/**
 * Issue 11, IP Group RegistrationMode for User-type groups (Mediant), on
 * the real SBC process with sipp:
 * - sbc-initiates: the SBC registers the group's SBCUserInfoTable users
 *   with the group's serving IP Group (sipp registrar challenging with
 *   digest and verifying each user's credentials), shows them in
 *   GET /api/v1/registrations, and un-registers them on shutdown;
 * - not-needed: the group's users are registered by configuration at the
 *   group's proxy set address, so a PBX call routed to "All Users" reaches
 *   a sipp UAS standing there without any REGISTER.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { startSbc, testWebUsers, type SbcProcess } from './helpers/sbc-process.js';
import { until, waitUdpBound } from './helpers/wait.js';

const PBX_IP = '127.0.0.2';
const REGISTRAR_IP = '127.0.0.4';
const DESK_IP = '127.0.0.6';

interface AccountStatusView { name: string; state: string; servedIpGroup: string; servingIpGroup: string; registrar: string | null }
interface BindingView { aor: string; contact: string; ipGroup: string; permanent: boolean; expiresInSec: number | null; flow: { address: string; port: number } }

function modesIni(o: { lanPort: number; wanPort: number; apiPort: number; pbxPort: number; registrarPort: number; deskPort: number; deskUser?: string }): string {
  return [
    '[SIP Params]',
    'SipT1Rtx = 100', 'SipT2Rtx = 400', 'SipT4Rtx = 500', 'SBCOverloadLagMs = 0',
    'RegistrationTime = 60', 'RegistrationRetryTime = 1',
    `SbcApiPort = ${o.apiPort}`, 'SbcApiAddress = 127.0.0.1',
    '',
    '[ InterfaceTable ]',
    'FORMAT Index = ApplicationTypes, InterfaceMode, IPAddress, PrefixLength, Gateway, InterfaceName;',
    'InterfaceTable 0 = 6, 10, 127.0.0.1, 8, 0.0.0.0, "LAN_IF";',
    'InterfaceTable 1 = 6, 10, 127.0.0.1, 8, 0.0.0.0, "WAN_IF";',
    '[ \\InterfaceTable ]',
    '[ SIPInterface ]',
    'FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, ClassificationFailureResponseType;',
    `SIPInterface 0 = "LAN", "LAN_IF", 2, ${o.lanPort}, ${o.lanPort}, 0, 403;`,
    `SIPInterface 1 = "WAN", "WAN_IF", 2, ${o.wanPort}, ${o.wanPort}, 0, 403;`,
    '[ \\SIPInterface ]',
    '[ ProxySet ]',
    'FORMAT Index = ProxyName, SBCIPv4SIPInterfaceName;',
    'ProxySet 0 = "PBX", "LAN";',
    'ProxySet 1 = "Registrar", "LAN";',
    'ProxySet 2 = "Desk", "WAN";',
    '[ \\ProxySet ]',
    '[ ProxyIp ]',
    'FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType;',
    `ProxyIp 0 = "0", 0, "${PBX_IP}:${o.pbxPort}", 0;`,
    `ProxyIp 1 = "1", 0, "${REGISTRAR_IP}:${o.registrarPort}", 0;`,
    `ProxyIp 2 = "2", 0, "${DESK_IP}:${o.deskPort}", 0;`,
    '[ \\ProxyIp ]',
    '[ IPGroup ]',
    'FORMAT Index = Type, Name, ProxySetName, SIPGroupName, ClassifyByProxySet, RegistrationMode, ServingIPGroupName;',
    'IPGroup 0 = 0, "PBX", "PBX", "pbx.test", 1, 0, "";',
    'IPGroup 1 = 0, "Registrar", "Registrar", "pbx.test", 1, 0, "";',
    // Users the SBC registers on their behalf (Mediant: SBC initiates registrations).
    'IPGroup 2 = 1, "Branch", "", "pbx.test", 0, 1, "Registrar";',
    // Users that need no registration (Mediant: No registrations needed), standing at the Desk proxy set.
    'IPGroup 3 = 1, "Desk", "Desk", "pbx.test", 0, 2, "";',
    '[ \\IPGroup ]',
    '[ SBCUserInfoTable ]',
    'FORMAT Index = LocalUser, Username, Password, IPGroupName;',
    'SBCUserInfoTable 0 = "201", "u201", "pw201", "Branch";',
    'SBCUserInfoTable 1 = "202", "u202", "pw202", "Branch";',
    `SBCUserInfoTable 2 = "${o.deskUser ?? '301'}", "", "", "Desk";`,
    '[ \\SBCUserInfoTable ]',
    '[ IP2IPRouting ]',
    'FORMAT Index = RouteName, SrcIPGroupName, DestUsernamePrefix, DestType, DestIPGroupName;',
    'IP2IPRouting 0 = "PBX to users", "PBX", "*", 9, "Desk";',
    '[ \\IP2IPRouting ]',
    '',
    // The API users here too, so that a reload (SIGHUP re-reads the file) keeps them.
    testWebUsers(),
  ].join('\r\n');
}

describe('issue 11: IP Group RegistrationMode sbc-initiates and not-needed', () => {
  let dir = '';
  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'reg-modes-'));
  });
  afterAll(async () => {
    if (dir && !process.env['KEEP_TRACE']) await rm(dir, { recursive: true, force: true });
  });

  it('registers the sbc-initiates users with digest, reaches not-needed users without REGISTER, un-registers on shutdown', async () => {
    const [lanPort, wanPort, apiPort, pbxPort, registrarPort, deskPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort(PBX_IP), findFreePort(REGISTRAR_IP), findFreePort(DESK_IP),
    ]);
    const regTrace = join(dir, 'registrar.log');
    const registrar = startSipp({
      scenario: join(SCENARIOS, 'reg-userinfo-registrar.xml'), calls: 2, localAddress: REGISTRAR_IP, localPort: registrarPort, timeoutMs: 60_000,
      extraArgs: ['-trace_msg', '-message_file', regTrace],
    });
    let sbc: SbcProcess | null = null;
    try {
      await waitUdpBound(REGISTRAR_IP, registrarPort);
      sbc = await startSbc(modesIni({ lanPort, wanPort, apiPort, pbxPort, registrarPort, deskPort }));
      const s = sbc;

      // sbc-initiates: both Branch users registered, like accounts.
      const accounts = await until('both users registered', async () => {
        const r = await s.api<{ accounts: AccountStatusView[] }>('/api/v1/registrations');
        return r.accounts.filter((a) => a.state === 'registered').length === 2 ? r.accounts : null;
      });
      expect(accounts.map((a) => a.name).sort()).toEqual(['User 201 (Branch)', 'User 202 (Branch)']);
      for (const a of accounts) expect(a.registrar).toBe(`udp:${REGISTRAR_IP}:${registrarPort}`);

      // not-needed: user 301 is in the registration database without any REGISTER, at the Desk proxy set address.
      const users = await s.api<BindingView[]>('/api/v1/registrations/users');
      const desk = users.filter((b) => b.ipGroup === 'Desk');
      expect(desk).toHaveLength(1);
      expect(desk[0]).toMatchObject({ aor: '301@pbx.test', contact: `<sip:301@${DESK_IP}:${deskPort}>`, permanent: true, expiresInSec: null });

      // A PBX call to 301 (All Users) reaches the sipp UAS at the Desk address.
      const deskTrace = join(dir, 'desk.log');
      const uas = startSipp({
        scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls: 1, localAddress: DESK_IP, localPort: deskPort, timeoutMs: 20_000,
        extraArgs: ['-trace_msg', '-message_file', deskTrace],
      });
      await waitUdpBound(DESK_IP, deskPort);
      const call = await runSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, localPort: pbxPort, calls: 1,
        service: '301', timeoutMs: 20_000, extraArgs: ['-d', '200'],
      });
      expect(call.successful, `PBX: ${call.output}${call.errors}\nSBC: ${s.stderr()}`).toBe(1);
      const u = await uas.done;
      expect(u.successful, `Desk: ${u.output}${u.errors}`).toBe(1);
      const invites = received(await readSippTrace(deskTrace), 'INVITE');
      expect(invites.length).toBeGreaterThan(0);
      expect(invites[0]!.msg.requestUri).toBe(`sip:301@${DESK_IP}:${deskPort}`);

      // A reload: the not-needed set follows the table (301 replaced by 302); the sbc-initiates users stay registered.
      await s.reload(modesIni({ lanPort, wanPort, apiPort, pbxPort, registrarPort, deskPort, deskUser: '302' }));
      await s.waitForLog((l) => l.msg.startsWith('configuration reloaded'));
      const after = (await s.api<BindingView[]>('/api/v1/registrations/users')).filter((b) => b.ipGroup === 'Desk');
      expect(after.map((b) => b.aor)).toEqual(['302@pbx.test']);
      const still = await s.api<{ accounts: AccountStatusView[] }>('/api/v1/registrations');
      expect(still.accounts.filter((a) => a.state === 'registered')).toHaveLength(2);

      // Shutdown: both users un-registered (Expires: 0) — the registrar's two "calls" end only then.
      expect(await sbc.stop()).toBe(0);
      sbc = null;
      const r = await registrar.done;
      expect(r.successful, `registrar: ${r.output}${r.errors}`).toBe(2);
      expect(r.failed).toBe(0);
      const regs = received(await readSippTrace(regTrace), 'REGISTER');
      const authorized = regs.map((m) => m.msg.getHeader('authorization') ?? '').filter((a) => a !== '');
      expect(authorized.some((a) => a.includes('username="u201"'))).toBe(true);
      expect(authorized.some((a) => a.includes('username="u202"'))).toBe(true);
      expect(regs.filter((m) => m.msg.getHeader('expires') === '0').map((m) => m.msg.getHeader('to'))).toEqual(
        expect.arrayContaining([expect.stringContaining('sip:201@pbx.test'), expect.stringContaining('sip:202@pbx.test')]),
      );
    } finally {
      await sbc?.stop();
      await registrar.stop();
    }
  }, 90_000);
});
