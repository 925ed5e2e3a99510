import { describe, expect, it } from 'vitest';
import { formatDiagnostic, loadConfigText } from '../config/index.js';
import { AdmissionControl } from './admission-control.js';

const BASE = `
[ InterfaceTable ]
FORMAT Index = IPAddress, InterfaceName;
InterfaceTable 0 = 127.0.0.1, "IF";
[ \\InterfaceTable ]
[ SIPInterface ]
FORMAT Index = InterfaceName, NetworkInterface, UDPPort, TCPPort, TLSPort;
SIPInterface 0 = "LAN", "IF", 5060, 0, 0;
[ \\SIPInterface ]
[ ProxySet ]
FORMAT Index = ProxyName;
ProxySet 0 = "P";
[ \\ProxySet ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName;
IPGroup 0 = 0, "PBX", "P";
IPGroup 1 = 0, "ITSP", "P";
[ \\IPGroup ]
`;
const FORMAT = 'FORMAT Index = AdmissionControlName, LimitType, IPGroupName, SIPInterfaceName, RequestType, RequestDirection, Limit, LimitPerUser, Rate, MaxBurst, Reservation;';

function cac(...rows: string[]): { ac: AdmissionControl; advance(ms: number): void } {
  const text = `${BASE}[ SBCAdmissionControl ]\n${FORMAT}\n${rows.map((r, i) => `SBCAdmissionControl ${i} = ${r};`).join('\n')}\n[ \\SBCAdmissionControl ]\n`;
  const r = loadConfigText(text, 'cac.ini');
  if (!r.config) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  const config = r.config;
  let t = 0;
  return { ac: new AdmissionControl(() => config, () => t), advance: (ms) => { t += ms; } };
}

const inbound = (user = 'alice', group = 'PBX') => ({ group, interfaceName: 'LAN', direction: 'inbound' as const, method: 'INVITE', user });

describe('AdmissionControl (SBCAdmissionControl at runtime)', () => {
  it('Rate/MaxBurst: a token bucket per rule and IP Group', () => {
    const { ac, advance } = cac('"rate", 0, "PBX", "", 1, 1, -1, -1, 2, 3, 0');
    const r = [0, 1, 2, 3].map(() => typeof ac.claim(inbound()) === 'function');
    expect(r).toEqual([true, true, true, false]);
    advance(500); // one token
    expect(typeof ac.claim(inbound())).toBe('function');
    expect(typeof ac.claim(inbound())).not.toBe('function');
    expect(typeof ac.claim(inbound('bob', 'ITSP'))).toBe('function'); // other group, no rule
    expect(ac.stats()).toEqual([{ rule: 'rate', entity: 'PBX', active: 4, admitted: 4, rejected: { limit: 0, perUser: 0, rate: 2 } }]);
  });

  it('Limit and LimitPerUser, given back on release; direction is respected', () => {
    const { ac } = cac('"lim", 0, "PBX", "", 1, 1, 2, 1, 0, 0, 0');
    const a = ac.claim(inbound('alice'));
    expect(typeof a).toBe('function');
    expect(ac.claim(inbound('alice'))).toMatchObject({ reject: 503 });
    const b = ac.claim(inbound('bob'));
    expect(typeof b).toBe('function');
    expect(ac.claim(inbound('carol'))).toMatchObject({ reject: 503, reason: expect.stringContaining('limit') });
    (a as () => void)();
    (a as () => void)(); // twice is once
    expect(typeof ac.claim(inbound('alice'))).toBe('function');
    expect(typeof ac.claim({ ...inbound('dave'), direction: 'outbound' })).toBe('function');
  });

  it('Reservation: an IP Group keeps its guaranteed dialogs past the SIP Interface limit', () => {
    const { ac } = cac('"if", 2, "", "LAN", 0, 0, 2, -1, 0, 0, 0', '"pbx", 0, "PBX", "", 0, 0, -1, -1, 0, 0, 1');
    expect(typeof ac.claim(inbound('a', 'ITSP'))).toBe('function');
    expect(typeof ac.claim(inbound('b', 'ITSP'))).toBe('function');
    expect(ac.claim(inbound('c', 'ITSP'))).toMatchObject({ reject: 503 });
    expect(typeof ac.claim(inbound('d', 'PBX'))).toBe('function'); // reserved
    expect(ac.claim(inbound('e', 'PBX'))).toMatchObject({ reject: 503 });
  });
});
