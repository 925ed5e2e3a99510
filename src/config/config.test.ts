import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigStore, formatDiagnostic, loadConfigFile, loadConfigText, writeIni } from './index.js';

const BASE = `
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, UDPPort, TCPPort, TLSPort;
SIPInterface 0 = "LAN", "IF", 5060, 5060, 0;
[ \\SIPInterface ]
[ ProxySet ]
FORMAT Index = ProxyName;
ProxySet 0 = "P";
[ \\ProxySet ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName, Password;
IPGroup 0 = 0, "PBX", "P", "s3cret";
[ \\IPGroup ]
`;

const errors = (text: string) => loadConfigText(text, 't.ini').diagnostics.filter((d) => d.severity === 'error');

describe('schema', () => {
  it('types rows, fills defaults and keeps line numbers out of equality', () => {
    const r = loadConfigText(BASE, 't.ini');
    expect(r.diagnostics).toEqual([]);
    const g = r.config!.ipGroupByName('pbx')!;
    expect(g).toMatchObject({ index: 0, type: 'server', name: 'PBX', classifyByProxySet: true, inboundManSet: -1 });
    expect(g.line).toBe(16);
    expect(g.file).toBe('t.ini');
    expect(Object.keys(g)).not.toContain('line');
    expect(Object.isFrozen(g)).toBe(true);
    expect(Object.isFrozen(r.config!.ipGroups)).toBe(true);
    expect(r.config!.sipInterfaceAddress('LAN')).toBe('127.0.0.1');
  });

  it('accepts textual enum aliases and bools', () => {
    const r = loadConfigText(BASE.replace('IPGroup 0 = 0,', 'IPGroup 0 = server,') + '\n[ ProxyIp ]\nFORMAT Index = ProxySetId, IpAddress, TransportType;\nProxyIp 0 = "P", "a.example:5070", tls;\n[ \\ProxyIp ]\n', 't.ini');
    expect(r.diagnostics).toEqual([]);
    expect(r.config!.proxyIpsOf('P')[0]!.transportType).toBe('tls');
  });

  it('lists unknown tables once and unknown columns as ignored (not as warnings), and skips them', () => {
    const text = BASE + '[ PstnPrefix ]\nFORMAT Index = A;\nPstnPrefix 0 = 1;\n[ \\PstnPrefix ]\n[ PstnPrefix ]\nFORMAT Index = A;\n[ \\PstnPrefix ]\n'
      + '[ MessageConditions ]\nFORMAT Index = Name, Condition, SRDName;\nMessageConditions 0 = "c", "header.x exists", "x";\n[ \\MessageConditions ]\n';
    const r = loadConfigText(text, 't.ini');
    expect(r.config).not.toBeNull();
    expect(r.diagnostics.filter((d) => d.severity === 'warning')).toEqual([]);
    const ignored = r.ignored.map((i) => `${i.kind} ${i.name} ${i.reason}`);
    expect(ignored.filter((m) => m.includes('PstnPrefix'))).toEqual(['table PstnPrefix not supported']);
    expect(ignored).toContain('column MessageConditions.SRDName not supported');
  });

  it('reports wrong types with line and column', () => {
    const e = errors(BASE.replace('IPGroup 0 = 0, "PBX", "P"', 'IPGroup 0 = 7, "PBX", "P"').replace('5060, 5060, 0', 'abc, 5060, 0'));
    expect(e.map((d) => [d.line, d.column])).toEqual([[8, 31], [16, 13]]);
    expect(e[0]!.message).toContain('not an integer');
    expect(e[1]!.message).toContain("unknown value '7'");
  });

  it('reports duplicate indexes and names', () => {
    const e = errors(BASE.replace('ProxySet 0 = "P";', 'ProxySet 0 = "P";\nProxySet 0 = "Q";\nProxySet 1 = "p";'));
    expect(e.map((d) => d.line)).toEqual([13, 14]);
    expect(e[0]!.message).toContain('duplicate index 0');
    expect(e[1]!.message).toContain('duplicate name');
  });

  it('reports every dangling reference with the line of the reference', () => {
    const text = BASE.replace('IPGroup 0 = 0, "PBX", "P", "s3cret";', 'IPGroup 0 = 0, "PBX", "NoSet", "s3cret";')
      .replace('FORMAT Index = Type, Name, ProxySetName, Password;', 'FORMAT Index = Type, Name, ProxySetName, Password, ProfileName, MediaRealm, InboundManSet;')
      .replace('"NoSet", "s3cret";', '"NoSet", "s3cret", "NoProfile", "NoRealm", 4;')
      + `[ Classification ]
FORMAT Index = SrcSIPInterfaceName, SrcIPGroupName, MessageConditionName, SrcAddress;
Classification 0 = "NoIf", "NoGroup", "NoCond", "10.0.0.300";
[ \\Classification ]
[ IP2IPRouting ]
FORMAT Index = SrcIPGroupName, DestType, DestIPGroupName, DestUsernamePrefix, AltRouteOptions;
IP2IPRouting 0 = "Any", 0, "Missing", "[5-", 1;
IP2IPRouting 1 = "Nobody", 3, "", "*", 0;
[ \\IP2IPRouting ]
[ Account ]
FORMAT Index = ServedIPGroupName, ServingIPGroupName;
Account 0 = "PBX", "Nope";
[ \\Account ]
[ CpMediaRealm ]
FORMAT Index = MediaRealmName, IPv4IF, PortRangeStart, PortRangeEnd;
CpMediaRealm 0 = "A", "IF", 6000, 6999;
CpMediaRealm 1 = "B", "IF", 6500, 7999;
CpMediaRealm 2 = "C", "NoIF", 9000, 8000;
[ \\CpMediaRealm ]
`;
    const e = errors(text);
    const byLine = (l: number) => e.filter((d) => d.line === l).map((d) => d.message).join(' | ');
    expect(byLine(16)).toMatch(/ProxySet 'NoSet'.*IpProfile 'NoProfile'.*CpMediaRealm 'NoRealm'/);
    // A manipulation set number without rows is a no-op on the device: a warning, not an error.
    expect(byLine(16)).not.toMatch(/InboundManSet/);
    expect(byLine(20)).toMatch(/MessageConditions 'NoCond'/);
    expect(byLine(20)).toMatch(/SIPInterface 'NoIf'/);
    expect(byLine(20)).toMatch(/IPGroup 'NoGroup'/);
    expect(byLine(20)).toMatch(/10\.0\.0\.300/);
    expect(byLine(24)).toMatch(/IPGroup 'Missing'/);
    expect(byLine(24)).toMatch(/missing '\]'/);
    expect(byLine(24)).toMatch(/first row/);
    expect(byLine(25)).toMatch(/IPGroup 'Nobody'/);
    expect(byLine(25)).toMatch(/enum is not supported/);
    expect(byLine(29)).toMatch(/IPGroup 'Nope'/);
    expect(byLine(34)).toMatch(/overlaps media realm 'A'/);
    expect(byLine(35)).toMatch(/InterfaceTable 'NoIF'/);
    expect(byLine(35)).toMatch(/below PortRangeStart/);
  });

  it('reports clashing SIP listening ports and bad scalars', () => {
    const e = errors(BASE.replace('SIPInterface 0 = "LAN", "IF", 5060, 5060, 0;', 'SIPInterface 0 = "LAN", "IF", 5060, 5060, 0;\nSIPInterface 1 = "WAN", "IF", 5060, 5080, 5080;') + 'SipT1Rtx = fast\n');
    expect(e.map((d) => d.line)).toEqual([9, 9, 19]);
  });

  it('reads typed SIP scalars with defaults', () => {
    const c = loadConfigText(BASE, 't.ini').config!;
    expect(c.sip).toMatchObject({ t1Ms: 500, t2Ms: 4000, maxForwardsLimit: 10, sessionExpiresSec: 180, maxCallDurationMin: 0, altRouteReasons: [408, 503] });
    expect(c.api.port).toBe(0);
    const c2 = loadConfigText(BASE + 'sipt1rtx = 250\nSBCAlternativeRoutingReasons = "486,600"\n', 't.ini').config!;
    expect(c2.sip.t1Ms).toBe(250);
    expect(c2.sip.altRouteReasons).toEqual([408, 486, 600]);
    expect(c2.scalars.get('sipt1rtx')).toBe('250');
  });
});

describe('examples', () => {
  for (const f of ['config/pbx-to-itsp.ini', 'config/remote-users.ini']) {
    it(`${f} loads with no errors or warnings and round-trips`, async () => {
      const r = await loadConfigFile(f);
      expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
      const again = loadConfigText(writeIni(r.config!), 'written.ini');
      expect(again.diagnostics).toEqual([]);
      expect(again.config).toEqual(r.config);
    });
  }
});

describe('writer', () => {
  it('round-trips quirky input, quotes and every table', () => {
    const text = BASE + `SomeParam = 'has "quotes"'
Other = " spaced "
[ MessageManipulations ]
FORMAT Index = ManSetID, Condition, ActionSubject, ActionType, ActionValue;
MessageManipulations 0 = 1, "header.from.url.user == '100'", "header.x-a", remove, "'v, w'";
[ \\MessageManipulations ]
[ ProxyIp ]
FORMAT Index = ProxySetId, IpAddress;
ProxyIp 0 = "0", "[::1]:5070";
[ \\ProxyIp ]
`;
    const a = loadConfigText(text, 'a.ini');
    expect(a.config).not.toBeNull();
    const b = loadConfigText(writeIni(a.config!), 'b.ini');
    expect(b.diagnostics).toEqual([]);
    expect(b.config).toEqual(a.config);
    expect(b.config!.scalars.get('other')).toBe(' spaced ');
  });

  it('masks passwords when asked', () => {
    const c = loadConfigText(BASE, 't.ini').config!;
    expect(writeIni(c)).toContain('s3cret');
    expect(writeIni(c, { maskSecrets: true })).not.toContain('s3cret');
  });
});

describe('ConfigStore', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies a valid edit, refuses an invalid one with its line, never logs passwords', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sbc-cfg-'));
    const file = join(dir, 'sbc.ini');
    await writeFile(file, BASE);
    const logs: string[] = [];
    const logger = { info: (o: object, m: string) => logs.push(JSON.stringify(o) + m), warn: (o: object, m: string) => logs.push(JSON.stringify(o) + m), error: (o: object, m: string) => logs.push(JSON.stringify(o) + m) };
    const { store } = await ConfigStore.open(file, logger);
    const first = store!.current();
    const events: string[][] = [];
    store!.on('change', (e) => events.push(e.changes));

    await writeFile(file, BASE.replace('"s3cret"', '"n3wsecret"').replace('ProxySet 0 = "P";', 'ProxySet 0 = "P";\nProxySet 1 = "Q";') + 'SipT1Rtx = 300\n');
    const ok = await store!.reload();
    expect(ok.ok).toBe(true);
    expect(store!.current().sip.t1Ms).toBe(300);
    expect(store!.current()).not.toBe(first);
    expect(first.sip.t1Ms).toBe(500); // a call holding the old object keeps it
    expect(ok.changes).toEqual(['parameter sipt1rtx set to \'300\'', 'ProxySet 1 (Q) added', 'IPGroup 0 (PBX): Password changed (value hidden)']);
    expect(events).toEqual([ok.changes]);

    const good = store!.current();
    await writeFile(file, BASE.replace('IPGroup 0 = 0, "PBX", "P"', 'IPGroup 0 = 0, "PBX", "Gone"'));
    const bad = await store!.reload();
    expect(bad.ok).toBe(false);
    expect(bad.diagnostics.filter((d) => d.severity === 'error').map((d) => d.line)).toEqual([16]);
    expect(store!.current()).toBe(good);
    expect(events).toHaveLength(1);
    expect(logs.join('\n')).not.toMatch(/s3cret|n3wsecret/);
    expect(logs.some((l) => l.includes('t.ini') || l.includes(':16:'))).toBe(true);
  });

  it('reloads from text and reports a missing file', async () => {
    const c = loadConfigText(BASE, 'mem.ini').config!;
    const store = new ConfigStore(join(tmpdir(), 'does-not-exist-sbc.ini'), c);
    const r = await store.reload();
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0]!.message).toContain('cannot read');
    const r2 = await store.reload(BASE + 'SBCSessionExpires = 300\n');
    expect(r2.ok).toBe(true);
    expect(store.current().sip.sessionExpiresSec).toBe(300);
  });
});
