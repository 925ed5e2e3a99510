import { describe, expect, it } from 'vitest';
import { loadConfigText, type SbcConfig } from '../config/index.js';
import {
  applyNumberManipulation, classify, explainRoute, manipulateUser, nextAlternative, routeRequest, staticProxyState,
  type ProxyStateView, type RequestView, type RouteDecision,
} from './index.js';
import { routeCommand } from '../cli/route.js';
import { checkConfigCommand } from '../cli/check-config.js';

const INI = `
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, UDPPort, TCPPort, TLSPort, ClassificationFailureResponseType;
SIPInterface 0 = "LAN", "IF", 5060, 5060, 0, 403;
SIPInterface 1 = "WAN", "IF", 5080, 5080, 0, 0;
[ \\SIPInterface ]
[ ProxySet ]
FORMAT Index = ProxyName, SBCIPv4SIPInterfaceName, IsProxyHotSwap;
ProxySet 0 = "PBX", "LAN", 0;
ProxySet 1 = "ITSP", "WAN", 1;
ProxySet 2 = "ITSP2", "WAN", 0;
[ \\ProxySet ]
[ ProxyIp ]
FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, Priority;
ProxyIp 0 = "0", 0, "127.0.0.20", 0;
ProxyIp 1 = "1", 0, "127.0.0.21:5060", 0;
ProxyIp 2 = "1", 1, "127.0.0.22:5062", 1;
ProxyIp 3 = "ITSP2", 0, "127.0.0.23", 0;
[ \\ProxyIp ]
[ IpProfile ]
FORMAT Index = ProfileName;
IpProfile 0 = "P1";
IpProfile 1 = "Special";
[ \\IpProfile ]
[ MessageConditions ]
FORMAT Index = Name, Condition;
MessageConditions 0 = "VIP", "header.x-vip exists";
[ \\MessageConditions ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName, ProfileName, ClassifyByProxySet;
IPGroup 0 = 0, "PBX", "PBX", "P1", 1;
IPGroup 1 = 0, "ITSP", "ITSP", "", 1;
IPGroup 2 = 0, "ITSP2", "ITSP2", "", 0;
IPGroup 3 = 1, "Users", "", "", 0;
[ \\IPGroup ]
[ Classification ]
FORMAT Index = ClassificationName, SrcSIPInterfaceName, SrcAddress, SrcPort, SrcTransportType, SrcUsernamePrefix, DestHost, MessageConditionName, ActionType, SrcIPGroupName, IpProfileName;
Classification 0 = "blocked", "WAN", "127.0.0.66", 0, -1, "*", "*", "", 0, "", "";
Classification 1 = "vip users", "WAN", "127.0.1.0/24", 0, -1, "*", "*", "VIP", 1, "Users", "Special";
Classification 2 = "users", "WAN", "127.0.1.0/24", 0, 1, "2xx#", "pbx.local", "", 1, "Users", "";
Classification 3 = "itsp2", "WAN", "127.0.0.23", 5060, 0, "*", "*", "", 1, "ITSP2", "";
[ \\Classification ]
[ IP2IPRouting ]
FORMAT Index = RouteName, SrcIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, DestHost, RequestType, MessageConditionName, Trigger, ReRouteIPGroupName, DestType, DestIPGroupName, DestAddress, DestPort, DestTransportType, AltRouteOptions;
IP2IPRouting 0 = "options local", "Any", "*", "*", "*", 6, "", 0, "", 7, "", "reject(405)", 0, -1, 0;
IP2IPRouting 1 = "emergency", "PBX", "*", "911#", "*", 1, "", 0, "", 1, "", "127.0.0.99", 5099, 1, 0;
IP2IPRouting 2 = "vip", "PBX", "*", "*", "*", 0, "VIP", 0, "", 2, "", "", 0, -1, 0;
IP2IPRouting 3 = "redirected", "Any", "*", "*", "*", 0, "", 1, "ITSP", 0, "PBX", "", 0, -1, 0;
IP2IPRouting 4 = "pbx out", "PBX", "*", "*", "*", 0, "", 0, "", 0, "ITSP", "", 0, -1, 0;
IP2IPRouting 5 = "alt 2nd trunk", "PBX", "*", "*", "*", 0, "", 0, "", 0, "ITSP2", "", 0, -1, 1;
IP2IPRouting 6 = "alt only for 1", "PBX", "*", "1", "*", 0, "", 0, "", 1, "", "127.0.0.30", 0, -1, 2;
IP2IPRouting 7 = "alt reject", "PBX", "*", "*", "*", 0, "", 0, "", 7, "", "reject(503)", 0, -1, 1;
IP2IPRouting 8 = "to users", "ITSP", "*", "2xx#", "*", 0, "", 0, "", 9, "Users", "", 0, -1, 0;
IP2IPRouting 9 = "itsp rest", "ITSP", "*", "*", "*", 0, "", 0, "", 0, "PBX", "", 0, -1, 0;
[ \\IP2IPRouting ]
[ IPInboundManipulation ]
FORMAT Index = ManipulationName, IsAdditionalManipulation, ManipulationPurpose, SrcIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, ManipulatedURI, RemoveFromLeft, RemoveFromRight, LeaveFromRight, Prefix2Add, Suffix2Add;
IPInboundManipulation 0 = "strip 9", 0, 0, "PBX", "*", "9", 1, 1, 0, 255, "", "";
IPInboundManipulation 1 = "then E164", 1, 0, "PBX", "*", "[2-9]xxxxxxxxx#", 1, 0, 0, 255, "+1", "";
IPInboundManipulation 2 = "not chained", 0, 0, "PBX", "*", "*", 0, 0, 0, 255, "never", "";
IPInboundManipulation 3 = "routing only", 0, 1, "ITSP", "*", "+1555", 1, 0, 0, 3, "", "";
[ \\IPInboundManipulation ]
[ IPOutboundManipulation ]
FORMAT Index = ManipulationName, SrcIPGroupName, DestIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, ManipulatedURI, RemoveFromLeft, RemoveFromRight, LeaveFromRight, Prefix2Add, Suffix2Add;
IPOutboundManipulation 0 = "ext out", "PBX", "ITSP", "1xxx#", "*", 0, 0, 0, 255, "+1555123", "";
IPOutboundManipulation 1 = "to pbx", "Any", "PBX", "*", "*", 1, 0, 1, 4, "", "#";
[ \\IPOutboundManipulation ]
[ SBCAlternativeRoutingReasons ]
FORMAT Index = ReleaseCause;
SBCAlternativeRoutingReasons 0 = 503;
[ \\SBCAlternativeRoutingReasons ]
SBCMaxAltRouteAttempts = 4
`;

function cfg(extra = ''): SbcConfig {
  const r = loadConfigText(INI + extra, 'r.ini');
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}: ${d.message}`).join('\n'));
  return r.config;
}
const config = cfg();

function req(p: Partial<RequestView> = {}): RequestView {
  return {
    method: 'INVITE', srcAddress: '127.0.0.20', srcPort: 5060, transport: 'udp', sipInterfaceName: 'LAN',
    srcUser: '1001', srcHost: 'pbx.local', dstUser: '5551234', dstHost: 'x', requestUriUser: '5551234', requestUriHost: 'x', ...p,
  };
}

function liveState(down: string[] = [], downServers: string[] = []): ProxyStateView {
  const s = staticProxyState(config);
  return {
    isIpGroupAvailable: (n) => !down.includes(n),
    candidates: (ps) => s.candidates(ps).filter((c) => !downServers.includes(c.address)),
  };
}

describe('classify', () => {
  it('classifies by proxy set first', () => {
    const r = classify(config, req());
    expect(r).toMatchObject({ rejected: false, by: 'proxy-set', ipGroup: { name: 'PBX' }, ipProfile: { profileName: 'P1' } });
  });
  it('ignores proxy-set addresses arriving on another interface', () => {
    const r = classify(config, req({ sipInterfaceName: 'WAN' }));
    expect(r).toMatchObject({ rejected: true, responseCode: 'drop' });
  });
  it('skips groups with ClassifyByProxySet off and uses the table with port and transport', () => {
    const base = req({ srcAddress: '127.0.0.23', sipInterfaceName: 'WAN' });
    expect(classify(config, base)).toMatchObject({ rejected: false, by: 'classification', ipGroup: { name: 'ITSP2' }, row: { index: 3 } });
    expect(classify(config, { ...base, srcPort: 5070 }).rejected).toBe(true);
    expect(classify(config, { ...base, transport: 'tcp' }).rejected).toBe(true);
  });
  it('walks the table top-down: deny, condition, prefixes, hosts', () => {
    const wan = (p: Partial<RequestView>) => req({ sipInterfaceName: 'WAN', srcAddress: '127.0.1.7', transport: 'tcp', srcUser: '250', requestUriHost: 'pbx.local', ...p });
    expect(classify(config, wan({ srcAddress: '127.0.0.66' }))).toMatchObject({ rejected: true, responseCode: 'drop', row: { index: 0 } });
    expect(classify(config, wan({ matchesCondition: (n) => n === 'VIP' }))).toMatchObject({ ipGroup: { name: 'Users' }, ipProfile: { profileName: 'Special' }, row: { index: 1 } });
    expect(classify(config, wan({}))).toMatchObject({ ipGroup: { name: 'Users' }, ipProfile: undefined, row: { index: 2 } });
    expect(classify(config, wan({ srcUser: '2500' })).rejected).toBe(true);
    expect(classify(config, wan({ requestUriHost: 'evil' })).rejected).toBe(true);
  });
  it('answers unclassified requests per the SIP interface', () => {
    expect(classify(config, req({ srcAddress: '10.9.9.9' }))).toMatchObject({ rejected: true, responseCode: 403 });
  });
});

const pbxReq = (p: Partial<RequestView> = {}) => ({ ...req(p), srcIpGroupName: 'PBX' });

describe('routeRequest', () => {
  it('first match wins, top-down, by request type', () => {
    expect(routeRequest(config, pbxReq({ method: 'OPTIONS' }), liveState())).toMatchObject({ kind: 'route', row: { index: 0 }, destination: { kind: 'reject', responseCode: 405 } });
    const d = routeRequest(config, pbxReq({ requestUriUser: '911' }), liveState());
    expect(d).toMatchObject({ row: { index: 1 }, destination: { kind: 'address', host: '127.0.0.99', port: 5099, transport: 'tcp' } });
    expect(routeRequest(config, pbxReq({ requestUriUser: '9110' }), liveState())).toMatchObject({ row: { index: 4 } });
  });
  it('routes to an IP Group with ordered candidates and the proxy set interface', () => {
    const d = routeRequest(config, pbxReq(), liveState());
    expect(d).toMatchObject({
      kind: 'route', row: { index: 4 }, dstIpGroup: { name: 'ITSP' }, sipInterfaceName: 'WAN', attempt: 1,
      target: { address: '127.0.0.21', port: 5060, transport: 'udp' },
    });
    if (d.kind !== 'route' || d.destination.kind !== 'ip-group') throw new Error('expected ip-group');
    expect(d.destination.candidates.map((c) => `${c.address}:${c.port}`)).toEqual(['127.0.0.21:5060', '127.0.0.22:5062']);
  });
  it('uses message conditions through the injected evaluator, and Request-URI destinations', () => {
    const d = routeRequest(config, pbxReq({ matchesCondition: () => true, requestUriHost: 'far.example', requestUriPort: 5099 }), liveState());
    expect(d).toMatchObject({ row: { index: 2 }, destination: { kind: 'request-uri', host: 'far.example', port: 5099, transport: 'udp' } });
  });
  it('matches 3xx re-routing rows only for their trigger and re-routing group', () => {
    const r = { ...req({ srcAddress: '127.0.0.21' }), srcIpGroupName: 'ITSP' };
    expect(routeRequest(config, r, liveState(), { trigger: '3xx', reRouteIpGroupName: 'ITSP' })).toMatchObject({ row: { index: 3 } });
    expect(routeRequest(config, r, liveState(), { trigger: '3xx', reRouteIpGroupName: 'PBX' })).toMatchObject({ row: { index: 9 } });
    expect(routeRequest(config, r, liveState())).toMatchObject({ row: { index: 9 } });
  });
  it('routes to registered users', () => {
    const r = { ...req({ requestUriUser: '201' }), srcIpGroupName: 'ITSP' };
    expect(routeRequest(config, r, liveState())).toMatchObject({ destination: { kind: 'registered-users', ipGroup: { name: 'Users' } } });
  });
  it('skips an unavailable IP Group to its alternatives, honouring consider-inputs', () => {
    expect(routeRequest(config, pbxReq(), liveState(['ITSP']))).toMatchObject({ row: { index: 5 }, dstIpGroup: { name: 'ITSP2' } });
    expect(routeRequest(config, pbxReq({ requestUriUser: '1' }), liveState(['ITSP', 'ITSP2']))).toMatchObject({ row: { index: 6 }, destination: { kind: 'address', host: '127.0.0.30' } });
    expect(routeRequest(config, pbxReq(), liveState(['ITSP', 'ITSP2']))).toMatchObject({ row: { index: 7 }, destination: { kind: 'reject', responseCode: 503 } });
  });
  it('says no route when nothing matches', () => {
    expect(routeRequest(config, { ...req(), srcIpGroupName: 'Users' }, liveState())).toMatchObject({ kind: 'no-route', responseCode: 404 });
  });
});

describe('nextAlternative', () => {
  it('walks servers of a hot-swap set, then alternative rows, per failure reason and bounded', () => {
    const st = liveState();
    const d1 = routeRequest(config, pbxReq(), st);
    expect(nextAlternative(config, d1, { responseCode: 486 }, st)).toBeNull();
    const d2 = nextAlternative(config, d1, { responseCode: 503 }, st)!;
    expect(d2).toMatchObject({ row: { index: 4 }, target: { address: '127.0.0.22' }, attempt: 2 });
    const d3 = nextAlternative(config, d2, { noResponse: true }, st)!;
    expect(d3).toMatchObject({ row: { index: 5 }, target: { address: '127.0.0.23' }, attempt: 3 });
    const d4 = nextAlternative(config, d3, { responseCode: 408 }, st)!;
    expect(d4).toMatchObject({ row: { index: 7 }, destination: { kind: 'reject' }, attempt: 4 });
    expect(nextAlternative(config, d4, { responseCode: 503 }, st)).toBeNull();
  });
  it('stops at SBCMaxAltRouteAttempts', () => {
    const c = cfg('SBCMaxAltRouteAttempts = 2\n');
    const st = staticProxyState(c);
    const d1 = routeRequest(c, pbxReq(), st);
    const d2 = nextAlternative(c, d1, { responseCode: 503 }, st) as RouteDecision;
    expect(d2).not.toBeNull();
    expect(nextAlternative(c, d2, { responseCode: 503 }, st)).toBeNull();
  });
  it('skips alternatives whose group went down meanwhile', () => {
    const d1 = routeRequest(config, pbxReq({ requestUriUser: '2' }), liveState());
    const d2 = nextAlternative(config, { ...d1, candidateIndex: 1 } as RouteDecision, { responseCode: 503 }, liveState(['ITSP2']));
    expect(d2).toMatchObject({ row: { index: 7 } });
  });
});

describe('number manipulation', () => {
  it('applies remove/leave/prefix/suffix in Mediant order', () => {
    const row = { removeFromLeft: 1, removeFromRight: 1, leaveFromRight: 3, prefix2Add: '+', suffix2Add: '#' };
    expect(manipulateUser('0123456', row)).toBe('+345#');
    expect(manipulateUser('1', { ...row, leaveFromRight: 255 })).toBe('+#');
  });
  it('first match plus additional rows; others not chained', () => {
    const r = applyNumberManipulation(config, 'inbound', { method: 'INVITE', srcIpGroupName: 'PBX', srcUser: '100', srcHost: 'h', dstUser: '92125551234', dstHost: 'x' });
    expect(r.dstUser).toBe('+12125551234');
    expect(r.applied.map((a) => a.index)).toEqual([0, 1]);
    const r2 = applyNumberManipulation(config, 'inbound', { method: 'INVITE', srcIpGroupName: 'PBX', srcUser: '100', srcHost: 'h', dstUser: '55', dstHost: 'x' });
    expect(r2.srcUser).toBe('never100');
    expect(r2.applied.map((a) => a.index)).toEqual([2]);
  });
  it('routing-input-only changes only what routing sees', () => {
    const r = applyNumberManipulation(config, 'inbound', { method: 'INVITE', srcIpGroupName: 'ITSP', srcUser: 'a', srcHost: 'h', dstUser: '+15551234', dstHost: 'x' });
    expect(r.dstUser).toBe('+15551234');
    expect(r.routingDstUser).toBe('234');
  });
  it('outbound rows match the destination IP Group', () => {
    const v = { method: 'INVITE', srcIpGroupName: 'PBX', srcUser: '1001', srcHost: 'h', dstUser: '5551234', dstHost: 'x' };
    expect(applyNumberManipulation(config, 'outbound', { ...v, dstIpGroupName: 'ITSP' }).srcUser).toBe('+15551231001');
    expect(applyNumberManipulation(config, 'outbound', { ...v, dstIpGroupName: 'ITSP2' }).applied).toEqual([]);
    expect(applyNumberManipulation(config, 'outbound', { ...v, srcIpGroupName: 'ITSP', dstIpGroupName: 'PBX' }).dstUser).toBe('5123#');
  });
});

describe('explain and CLI', () => {
  it('explains classification, manipulation and routing', () => {
    const ex = explainRoute(config, req({ requestUriUser: '92125551234' }));
    const text = ex.lines.join('\n');
    expect(text).toContain('classified by proxy set PBX');
    expect(text).toContain("'92125551234' -> '2125551234'");
    expect(text).toContain('IP2IPRouting 4 (pbx out');
    expect(text).toContain("'1001' -> '+15551231001'");
  });
  it('sbc route prints the decision for the example config', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`) };
    const rc = await routeCommand(['--config', 'config/pbx-to-itsp.ini', '--from', 'sip:1001@pbx.local', '--to', 'sip:92125551234@127.0.0.1', '--src-ip', '127.0.0.20'], io);
    expect(rc).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('source IP Group PBX');
    expect(text).toContain("'2125551234' -> '+12125551234'");
    expect(text).toContain('IP Group ITSP via udp:127.0.0.21:5060, udp:127.0.0.22:5060');
    out.length = 0;
    expect(await routeCommand(['--config', 'config/pbx-to-itsp.ini', '--from', 'sip:a@b', '--to', 'sip:+15551230042@sbc', '--src-ip', '127.0.0.22'], io)).toBe(0);
    expect(out.join('\n')).toContain("'+15551230042' -> '0042'");
    expect(await routeCommand(['--config', 'config/pbx-to-itsp.ini'], io)).toBe(2);
  });
  it('sbc check-config prints file:line diagnostics and fails on errors', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    expect(await checkConfigCommand(['config/pbx-to-itsp.ini', 'config/remote-users.ini'], io)).toBe(0);
    expect(await checkConfigCommand(['/nonexistent/x.ini'], io)).toBe(1);
    expect(out.join('\n')).toMatch(/\/nonexistent\/x.ini:0: error: cannot read/);
  });
});
