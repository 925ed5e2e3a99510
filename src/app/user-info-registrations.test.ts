import { describe, expect, it } from 'vitest';
import { loadConfigText, type SbcConfig } from '../config/index.js';
import { RegistrationDb } from '../registrar/bindings.js';
import { accountSpecOf } from './account-registrar.js';
import { permanentBindings, servingGroupOf, syncPermanentBindings, userInfoAccounts } from './user-info-registrations.js';

function ini(groups: string, users: string, routing = ''): string {
  return `
[ InterfaceTable ]
FORMAT Index = ApplicationTypes, InterfaceMode, IPAddress, PrefixLength, Gateway, InterfaceName;
InterfaceTable 0 = 6, 10, 127.0.0.1, 8, 0.0.0.0, "LAN_IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort;
SIPInterface 0 = "LAN", "LAN_IF", 2, 5060, 5060, 0;
[ \\SIPInterface ]
[ ProxySet ]
FORMAT Index = ProxyName, SBCIPv4SIPInterfaceName;
ProxySet 0 = "PBX", "LAN";
ProxySet 1 = "Phones", "LAN";
[ \\ProxySet ]
[ ProxyIp ]
FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType;
ProxyIp 0 = "0", 0, "127.0.0.20:5060", 0;
ProxyIp 1 = "1", 0, "127.0.0.30:5090", 0;
[ \\ProxyIp ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName, SIPGroupName, RegistrationMode, ServingIPGroupName;
IPGroup 0 = 0, "PBX", "PBX", "pbx.local", 0, "";
${groups}
[ \\IPGroup ]
[ SBCUserInfoTable ]
FORMAT Index = LocalUser, Username, Password, IPGroupName;
${users}
[ \\SBCUserInfoTable ]
[ IP2IPRouting ]
FORMAT Index = RouteName, SrcIPGroupName, RequestType, DestType, DestIPGroupName;
${routing}
[ \\IP2IPRouting ]
`;
}

function load(text: string): SbcConfig {
  const r = loadConfigText(text, 'test.ini');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.config!;
}

const USERS = `SBCUserInfoTable 0 = "201", "u201", "pw201", "Phones";
SBCUserInfoTable 1 = "202", "", "pw202", "Phones";
SBCUserInfoTable 2 = "900", "u900", "x", "PBX";`;

describe('RegistrationMode not-needed', () => {
  const config = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 2, "";', USERS));

  it('puts the group\'s users in as permanent bindings at the proxy set address', () => {
    const { bindings, errors } = permanentBindings(config, 1000);
    expect(errors).toEqual([]);
    expect(bindings.map((b) => [b.aor, b.contactUri, b.ipGroup, b.flow.address, b.flow.port, b.flow.transport, b.permanent])).toEqual([
      ['201@pbx.local', 'sip:201@127.0.0.30:5090', 'Phones', '127.0.0.30', 5090, 'udp', true],
      ['202@pbx.local', 'sip:202@127.0.0.30:5090', 'Phones', '127.0.0.30', 5090, 'udp', true],
    ]);
  });

  it('they are located, never expire, and a reload replaces the set', () => {
    const db = new RegistrationDb();
    expect(syncPermanentBindings(db, config, Date.now())).toEqual([]);
    const loc = db.locate('201', Date.now() + 10 * 365 * 86_400_000);
    expect(loc).not.toBeNull();
    expect(loc === 'expired' ? loc : loc?.contactUri).toBe('sip:201@127.0.0.30:5090');
    expect(db.due(Date.now() + 10 * 365 * 86_400_000)).toEqual([]);
    const reloaded = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 2, "";', 'SBCUserInfoTable 0 = "203", "", "", "Phones";'));
    syncPermanentBindings(db, reloaded, Date.now());
    expect([...db.all()].map((b) => b.aorUser)).toEqual(['203']);
    expect(db.locate('201', Date.now())).not.toEqual(expect.objectContaining({ aorUser: '201' }));
    const userInitiated = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 0, "";', USERS));
    syncPermanentBindings(db, userInitiated, Date.now());
    expect(db.size).toBe(0);
  });

  it('a group without proxy address is an error per user', () => {
    const c = load(ini('IPGroup 1 = 1, "Phones", "", "pbx.local", 2, "";', USERS));
    const { bindings, errors } = permanentBindings(c, 0);
    expect(bindings).toEqual([]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain('no proxy set address');
  });
});

describe('RegistrationMode sbc-initiates', () => {
  it('derives one registration per user toward ServingIPGroupName with the user\'s credentials', () => {
    const config = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 1, "PBX";', USERS));
    const { accounts, errors } = userInfoAccounts(config);
    expect(errors).toEqual([]);
    expect(accounts.map((a) => a.key)).toEqual(['user:0', 'user:1']);
    const spec = accountSpecOf(config, accounts[0]!.row, accounts[0]!.key);
    if ('error' in spec) throw new Error(spec.error);
    expect(spec).toMatchObject({
      key: 'user:0', servingIpGroup: 'PBX', servedIpGroup: 'Phones', aorUser: '201', aorHost: 'pbx.local',
      requestUri: 'sip:pbx.local', contactUser: '201', username: 'u201', password: 'pw201', interfaceName: 'LAN',
    });
    // An empty Username digests as the local user.
    expect(accounts[1]!.row.username).toBe('202');
  });

  it('without ServingIPGroupName the group\'s REGISTER routing rule names the registrar', () => {
    const config = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 1, "";', USERS,
      'IP2IPRouting 0 = "calls", "Phones", 1, 0, "PBX";\nIP2IPRouting 1 = "reg", "Phones", 2, 0, "PBX";'));
    expect(servingGroupOf(config, config.ipGroupByName('Phones')!)).toBe('PBX');
    expect(userInfoAccounts(config).accounts).toHaveLength(2);
  });

  it('no registrar: an error per user, nothing registered', () => {
    const config = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 1, "";', USERS));
    const r = userInfoAccounts(config);
    expect(r.accounts).toEqual([]);
    expect(r.errors).toHaveLength(2);
  });

  it('other modes and server groups derive nothing', () => {
    const config = load(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 0, "PBX";', USERS));
    expect(userInfoAccounts(config).accounts).toEqual([]);
    expect(permanentBindings(config, 0).bindings).toEqual([]);
  });
});

describe('config checks', () => {
  it('an unknown ServingIPGroupName is an error with its line; a mode on a Server-type group a warning', () => {
    const bad = loadConfigText(ini('IPGroup 1 = 1, "Phones", "Phones", "pbx.local", 1, "Nowhere";', USERS), 'test.ini');
    expect(bad.config).toBeNull();
    const e = bad.diagnostics.find((d) => d.severity === 'error');
    expect(e?.message).toContain('Nowhere');
    expect(e?.line).toBeGreaterThan(0);
    const warned = loadConfigText(ini('IPGroup 1 = 0, "Phones", "Phones", "pbx.local", 2, "";', USERS), 'test.ini');
    expect(warned.config).not.toBeNull();
    expect(warned.diagnostics.some((d) => d.severity === 'warning' && d.message.includes('User-type'))).toBe(true);
  });
});
