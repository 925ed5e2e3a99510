import { describe, expect, it } from 'vitest';
import { loadConfigText, type SbcConfig } from '../config/index.js';
import { explainRoute, routeRequest, staticProxyState } from './index.js';
import { lookupDialPlan, prefixWeight } from './dial-plan.js';
import type { RoutedRequest } from './types.js';

const INI = `
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, UDPPort, TCPPort, TLSPort;
SIPInterface 0 = "LAN", "IF", 5060, 5060, 0;
[ \\SIPInterface ]
[ ProxySet ]
FORMAT Index = ProxyName, SBCIPv4SIPInterfaceName;
ProxySet 0 = "PBX", "LAN";
ProxySet 1 = "LOCAL", "LAN";
ProxySet 2 = "INTL", "LAN";
[ \\ProxySet ]
[ ProxyIp ]
FORMAT Index = ProxySetId, IpAddress;
ProxyIp 0 = "PBX", "127.0.0.20";
ProxyIp 1 = "LOCAL", "127.0.0.21";
ProxyIp 2 = "INTL", "127.0.0.22";
[ \\ProxyIp ]
[ DialPlan ]
FORMAT DialPlan_Index = DialPlan_Name;
DialPlan 0 = "PLAN1";
[ \\DialPlan ]
[ DialPlanRule ]
FORMAT DialPlanRule_Index = DialPlanRule_DialPlanName, DialPlanRule_Name, DialPlanRule_Prefix, DialPlanRule_Tag;
DialPlanRule 0 = "PLAN1", "local", "42520[3-5]", "LOCL";
DialPlanRule 1 = "PLAN1", "intl", "00", "INTL;Class=premium";
DialPlanRule 2 = "PLAN1", "intl uk", "0044", "INTL;Country=UK";
DialPlanRule 3 = "PLAN1", "staff", "1xxx#", "STAFF";
[ \\DialPlanRule ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName, SBCDialPlanName;
IPGroup 0 = 0, "PBX", "PBX", "PLAN1";
IPGroup 1 = 0, "LOCAL", "LOCAL", "";
IPGroup 2 = 0, "INTL", "INTL", "";
[ \\IPGroup ]
[ IP2IPRouting ]
FORMAT Index = RouteName, SrcIPGroupName, SrcTags, DestTags, DestType, DestIPGroupName, DestAddress;
IP2IPRouting 0 = "uk by staff", "PBX", "STAFF", "country=uk", 0, "INTL", "";
IP2IPRouting 1 = "international", "PBX", "", "INTL", 7, "", "reject(403)";
IP2IPRouting 2 = "local", "PBX", "", "LOCL", 0, "LOCAL", "";
[ \\IP2IPRouting ]
`;

function load(text = INI): SbcConfig {
  const r = loadConfigText(text, 'dp.ini');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.config!;
}

function req(srcUser: string, dstUser: string): RoutedRequest {
  return {
    method: 'INVITE', srcAddress: '127.0.0.20', srcPort: 5060, transport: 'udp', sipInterfaceName: 'LAN', srcIpGroupName: 'PBX',
    srcUser, srcHost: 'pbx', dstUser, dstHost: 'x', requestUriUser: dstUser, requestUriHost: 'x',
  };
}

describe('dial plans', () => {
  it('picks the most specific matching prefix', () => {
    const c = load();
    expect(lookupDialPlan(c, 'PLAN1', '0044207')!.rule.name).toBe('intl uk');
    expect(lookupDialPlan(c, 'plan1', '0033')!.rule.name).toBe('intl');
    expect(lookupDialPlan(c, 'PLAN1', '4252041234')!.tags).toEqual(['locl']);
    expect(lookupDialPlan(c, 'PLAN1', '4252061234')).toBeNull();
    expect(lookupDialPlan(c, 'PLAN1', '1234')!.rule.name).toBe('staff');
    expect(lookupDialPlan(c, 'PLAN1', '12345')).toBeNull();
    expect(prefixWeight('42520[3-5]')).toBe(6);
    expect(prefixWeight('1xxx#')).toBe(4.5);
  });

  it('routes by source and destination tags', () => {
    const c = load();
    const ps = staticProxyState(c);
    const to = (src: string, dst: string): string => {
      const d = routeRequest(c, req(src, dst), ps);
      return d.kind === 'route' ? `${d.row.routeName}` : `no route ${d.responseCode}`;
    };
    expect(to('1001', '0044207')).toBe('uk by staff');
    expect(to('5001', '0044207')).toBe('international');
    expect(to('1001', '0033')).toBe('international');
    expect(to('1001', '4252031234')).toBe('local');
    expect(to('1001', '555')).toBe('no route 404');
  });

  it('sbc route names the dial plan rule that gave the tag', () => {
    const c = load();
    const ex = explainRoute(c, { ...req('1001', '4252031234') }, staticProxyState(c));
    const text = ex.lines.join('\n');
    expect(text).toMatch(/dial plan PLAN1 \(IP Group PBX\):/);
    expect(text).toMatch(/destination '4252031234': DialPlanRule 0 \(local, line \d+\) of dial plan PLAN1, prefix '42520\[3-5\]' -> tags LOCL/);
    expect(text).toMatch(/IP2IPRouting 0 \(uk by staff.*no: source tags \[STAFF\] do not include STAFF|IP2IPRouting 0 \(uk by staff.*no: destination tags \[LOCL\] do not include country=uk/);
    expect(text).toMatch(/IP2IPRouting 2 \(local, line \d+\): matched -> IP Group LOCAL/);
  });

  it('refuses broken dial plan references and prefixes with their line', () => {
    const bad = INI.replace('"PLAN1", "local", "42520[3-5]"', '"PLAN9", "local", "42520[3-5"').replace('IPGroup 1 = 0, "LOCAL", "LOCAL", ""', 'IPGroup 1 = 0, "LOCAL", "LOCAL", "NOPLAN"');
    const e = loadConfigText(bad, 'dp.ini').diagnostics.filter((d) => d.severity === 'error');
    expect(e.map((d) => d.message)).toEqual(expect.arrayContaining([
      expect.stringMatching(/IPGroup 1: refers to DialPlan 'NOPLAN'/),
      expect.stringMatching(/DialPlanRule 0: refers to DialPlan 'PLAN9'/),
      expect.stringMatching(/DialPlanRule 0: .*missing '\]'/),
    ]));
    expect(e.every((d) => d.line > 0 && d.column !== undefined)).toBe(true);
  });
});
