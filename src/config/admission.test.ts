import { describe, expect, it } from 'vitest';
import { formatDiagnostic, loadConfigText, writeIni } from './index.js';

const BASE = `
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, UDPPort, TCPPort, TLSPort;
SIPInterface 0 = "LAN", "IF", 5060, 0, 0;
SIPInterface 1 = "WAN", "IF", 5070, 0, 0;
[ \\SIPInterface ]
[ ProxySet ]
FORMAT Index = ProxyName;
ProxySet 0 = "P";
[ \\ProxySet ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName;
IPGroup 0 = 0, "PBX", "P";
IPGroup 1 = 0, "ITSP", "P";
IPGroup 2 = 1, "Users", "";
[ \\IPGroup ]
`;

const FORMAT = 'FORMAT Index = AdmissionControlName, LimitType, IPGroupName, SIPInterfaceName, RequestType, RequestDirection, Limit, LimitPerUser, Rate, MaxBurst, Reservation;';

function withRules(...rows: string[]): string {
  return `${BASE}[ SBCAdmissionControl ]\n${FORMAT}\n${rows.map((r, i) => `SBCAdmissionControl ${i} = ${r};`).join('\n')}\n[ \\SBCAdmissionControl ]\n`;
}

function load(text: string) {
  const r = loadConfigText(text, 'cac.ini');
  if (!r.config) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.config;
}

const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('SBCAdmissionControl table', () => {
  it('reads Mediant codes and textual aliases, and fills defaults', () => {
    const text = withRules(
      '"trunk", 0, "ITSP", "", 1, 2, 30, -1, 5, 10, 4',
      '"lan", sip-interface, "", "LAN", subscribe, inbound, 100, 2, 0, 0, 0',
      '"all", ip-group, "Any", "", other, both, 0, $$, $$, $$, $$',
    ) + `[ SBCAdmissionControl ]\nFORMAT Index = IPGroupName;\nSBCAdmissionControl 9 = "PBX";\n[ \\SBCAdmissionControl ]\n`;
    const r = loadConfigText(text, 'cac.ini');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const rows = r.config!.admissionControl;
    expect(rows[0]).toMatchObject({
      index: 0, admissionControlName: 'trunk', limitType: 'ip-group', ipGroupName: 'ITSP', requestType: 'invite',
      requestDirection: 'outbound', limit: 30, limitPerUser: -1, rate: 5, maxBurst: 10, reservation: 4,
    });
    expect(rows[1]).toMatchObject({ limitType: 'sip-interface', sipInterfaceName: 'LAN', requestType: 'subscribe', requestDirection: 'inbound', limitPerUser: 2 });
    expect(rows[2]).toMatchObject({ requestType: 'other', limit: 0, limitPerUser: -1, rate: 0, maxBurst: 0, reservation: 0 });
    expect(rows[3]).toMatchObject({
      index: 9, limitType: 'ip-group', ipGroupName: 'PBX', srdName: '', requestType: 'all', requestDirection: 'both', limit: -1,
    });
    expect(rows[3]!.line).toBe(lineOf(text, 'SBCAdmissionControl 9'));
  });

  it('rejects unknown codes and out-of-range numbers with line and column', () => {
    const text = withRules('"x", 3, "PBX", "", 0, 0, -1, -1, 0, 0, 0', '"y", 0, "PBX", "", 0, 5, -2, -1, 0, 0, 0');
    const e = loadConfigText(text, 'cac.ini').diagnostics.filter((d) => d.severity === 'error');
    expect(e.map((d) => d.line)).toEqual([lineOf(text, 'SBCAdmissionControl 0'), lineOf(text, 'SBCAdmissionControl 1'), lineOf(text, 'SBCAdmissionControl 1')]);
    expect(e[0]!.message).toContain("LimitType: unknown value '3'");
    expect(e[1]!.message).toContain("RequestDirection: unknown value '5'");
    expect(e[2]!.message).toContain('Limit: -2 is below the minimum -1');
    expect(e.every((d) => d.column !== undefined)).toBe(true);
  });

  it('reports dangling and missing references and inconsistent values with file:line', () => {
    const text = withRules(
      '"a", 0, "NoSuchGroup", "", 1, 0, 10, -1, 0, 0, 0',
      '"b", 2, "", "NoSuchIf", 1, 0, 10, -1, 0, 0, 0',
      '"c", 0, "", "", 1, 0, 10, -1, 0, 0, 0',
      '"d", 2, "", "", 1, 0, 10, -1, 0, 0, 0',
      '"e", 0, "PBX", "", 1, 0, 10, -1, 5, 0, 0',
      '"f", 0, "PBX", "", 1, 0, 10, -1, 0, 0, 10',
      '"g", 0, "Any", "", 1, 0, 10, -1, 0, 0, 2',
    );
    const r = loadConfigText(text, 'cac.ini');
    expect(r.config).toBeNull();
    const e = r.diagnostics.filter((d) => d.severity === 'error');
    const at = (i: number) => e.filter((d) => d.line === lineOf(text, `SBCAdmissionControl ${i} `)).map((d) => d.message);
    expect(at(0)).toEqual(["SBCAdmissionControl 0: refers to IPGroup 'NoSuchGroup' which does not exist"]);
    expect(at(1)).toEqual(["SBCAdmissionControl 1: refers to SIPInterface 'NoSuchIf' which does not exist"]);
    expect(at(2)[0]).toContain('IPGroupName is required');
    expect(at(3)[0]).toContain('SIPInterfaceName is required');
    expect(at(4)[0]).toContain('needs a MaxBurst above 0');
    expect(at(5)[0]).toContain('Reservation 10 must be below Limit 10');
    expect(at(6)[0]).toContain('Reservation needs a named IP Group');
    expect(e).toHaveLength(7);
    expect(formatDiagnostic(e[0]!)).toMatch(/^cac\.ini:\d+:\d+: error: /);
  });

  it('warns about SRD rules and columns of the other limit type', () => {
    const text = withRules('"s", 1, "", "", 0, 0, 10, -1, 0, 0, 0', '"i", 2, "PBX", "wan", 0, 0, 10, -1, 0, 0, 0');
    const r = loadConfigText(text, 'cac.ini');
    expect(r.config).not.toBeNull();
    const w = r.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.message);
    expect(w).toEqual([
      'SBCAdmissionControl 0: LimitType srd is not supported (there are no SRDs); the rule is ignored',
      "SBCAdmissionControl 1: IPGroupName 'PBX' is ignored with LimitType sip-interface",
    ]);
  });

  it('round-trips through the writer', () => {
    const a = load(withRules(
      '"trunk", 0, "ITSP", "", 1, 2, 30, -1, 5, 10, 4',
      '"lan", 2, "", "LAN", 2, 1, 100, 2, 0, 0, 0',
      '"any", 0, "any", "", 3, 0, 0, -1, 0, 0, 0',
    ));
    const text = writeIni(a);
    expect(text).toContain('[ SBCAdmissionControl ]');
    expect(text).toContain('SBCAdmissionControl 0 = "trunk", 0, "ITSP", "", "", 1, 2, 30, -1, 5, 10, 4;');
    const b = loadConfigText(text, 'written.ini');
    expect(b.diagnostics).toEqual([]);
    expect(b.config).toEqual(a);
    expect(b.config!.admissionControl).toEqual(a.admissionControl);
  });
});

describe('admissionLimitFor / admissionRulesFor', () => {
  const c = load(withRules(
    '"itsp-all", 0, "ITSP", "", 0, 0, 50, -1, 0, 0, 0',
    '"itsp-out-invite", 0, "itsp", "", 1, 2, 20, -1, 0, 0, 0',
    '"itsp-in-invite", 0, "ITSP", "", 1, 1, 30, -1, 0, 0, 0',
    '"itsp-subscribe", 0, "ITSP", "", 2, 0, 1, -1, 0, 0, 0',
    '"itsp-other", 0, "ITSP", "", 3, 0, 0, -1, 0, 0, 0',
    '"any-group", 0, "Any", "", 1, 1, 40, -1, 0, 0, 0',
    '"unlimited", 0, "PBX", "", 1, 0, -1, 5, 0, 0, 0',
    '"lan", 2, "", "LAN", 0, 0, 7, -1, 0, 0, 0',
    '"srd", 1, "", "", 0, 0, 1, -1, 0, 0, 0',
  ));

  it('returns the smallest INVITE limit for the direction asked', () => {
    // outbound: itsp-all 50, itsp-out-invite 20 (name matched case-insensitively).
    expect(c.admissionLimitFor('ITSP', 'outbound')).toBe(20);
    // inbound: itsp-all 50, itsp-in-invite 30, any-group 40.
    expect(c.admissionLimitFor('itsp', 'inbound')).toBe(30);
    // both = every direction: the strictest INVITE rule.
    expect(c.admissionLimitFor('ITSP', 'both')).toBe(20);
    // SUBSCRIBE and "other" rules never limit INVITEs; SIP Interface and SRD rules are not IP Group rules.
    expect(c.admissionLimitFor('PBX', 'outbound')).toBeNull();
    expect(c.admissionLimitFor('PBX', 'inbound')).toBe(40);
    expect(c.admissionLimitFor('Users', 'both')).toBe(40);
    expect(c.admissionLimitFor('NoSuchGroup', 'outbound')).toBeNull();
  });

  it('returns 0 for a blocking rule and null without rules', () => {
    const blocked = load(withRules('"block", 0, "PBX", "", 1, 0, 0, -1, 0, 0, 0'));
    expect(blocked.admissionLimitFor('PBX', 'inbound')).toBe(0);
    expect(blocked.admissionLimitFor('ITSP', 'inbound')).toBeNull();
    expect(load(BASE).admissionLimitFor('PBX', 'both')).toBeNull();
  });

  it('lists the rules applying to an entity, method and direction in index order', () => {
    const names = (rows: readonly { admissionControlName: string }[]) => rows.map((r) => r.admissionControlName);
    expect(names(c.admissionRulesFor({ ipGroupName: 'ITSP' }, 'INVITE', 'inbound'))).toEqual(['itsp-all', 'itsp-in-invite', 'any-group']);
    expect(names(c.admissionRulesFor({ ipGroupName: 'ITSP' }, 'subscribe', 'outbound'))).toEqual(['itsp-all', 'itsp-subscribe']);
    expect(names(c.admissionRulesFor({ ipGroupName: 'ITSP' }, 'REGISTER', 'both'))).toEqual(['itsp-all', 'itsp-other']);
    expect(names(c.admissionRulesFor({ ipGroupName: 'PBX' }, 'INVITE', 'outbound'))).toEqual(['unlimited']);
    expect(names(c.admissionRulesFor({ sipInterfaceName: 'lan' }, 'INVITE', 'inbound'))).toEqual(['lan']);
    expect(c.admissionRulesFor({ sipInterfaceName: 'WAN' }, 'INVITE', 'inbound')).toEqual([]);
  });
});
