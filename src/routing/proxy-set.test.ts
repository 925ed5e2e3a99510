import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfigText, type SbcConfig } from '../config/index.js';
import { ProxySetManager, type DnsResolver, type KeepAliveProber } from './proxy-set.js';
import { routeRequest } from './route.js';

function cfg(proxySet: string, proxyIps: string, extra = ''): SbcConfig {
  const text = `
[ ProxySet ]
FORMAT Index = ProxyName, EnableProxyKeepAlive, ProxyKeepAliveTime, ProxyLoadBalancingMethod, IsProxyHotSwap, ProxyRedundancyMode, KeepAliveFailureResp, SuccessDetectionRetries, SuccessDetectionInterval, FailureDetectionRetransmissions, DNSResolveMethod;
${proxySet}
[ \\ProxySet ]
[ ProxyIp ]
FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType, Priority, Weight;
${proxyIps}
[ \\ProxyIp ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName;
IPGroup 0 = 0, "ITSP", "S";
IPGroup 1 = 1, "Users", "";
[ \\IPGroup ]
[ IP2IPRouting ]
FORMAT Index = SrcIPGroupName, DestType, DestIPGroupName, DestAddress, AltRouteOptions;
IP2IPRouting 0 = "Any", 0, "ITSP", "", 0;
IP2IPRouting 1 = "Any", 7, "", "reject(503)", 1;
[ \\IP2IPRouting ]
${extra}`;
  const r = loadConfigText(text, 'p.ini');
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}: ${d.message}`).join('\n'));
  return r.config;
}

class FakeProber implements KeepAliveProber {
  answers = new Map<string, number | 'timeout'>();
  calls: string[] = [];
  async probe(t: { address: string; port: number }): Promise<number | 'timeout'> {
    this.calls.push(`${t.address}:${t.port}`);
    return this.answers.get(t.address) ?? 200;
  }
}

const TWO = `ProxyIp 0 = "0", 0, "127.0.0.21", 0, 0, 1;\nProxyIp 1 = "0", 1, "127.0.0.22:5070", 0, 1, 3;`;
const set = (fields: string) => `ProxySet 0 = "S", ${fields};`;

let managers: ProxySetManager[] = [];
afterEach(() => {
  for (const m of managers) m.stop();
  managers = [];
  vi.useRealTimers();
});
function manager(c: SbcConfig, opts: ConstructorParameters<typeof ProxySetManager>[1]): ProxySetManager {
  const m = new ProxySetManager(c, opts);
  managers.push(m);
  return m;
}
const req = { method: 'INVITE', srcAddress: '1.1.1.1', srcPort: 5060, transport: 'udp' as const, sipInterfaceName: '', srcUser: 'a', srcHost: 'b', dstUser: 'c', dstHost: 'd', requestUriUser: 'c', requestUriHost: 'd', srcIpGroupName: 'Users' };

describe('ProxySetManager', () => {
  it('marks a server down after the configured misses and up after the configured successes; routing follows', async () => {
    const c = cfg(set('1, 10, 0, 1, 1, "503", 2, 5, 2, 0'), TWO);
    const prober = new FakeProber();
    const m = manager(c, { prober });
    const events: string[] = [];
    m.on('server-down', (e) => events.push(`down ${e.proxySetName} ${e.address}`));
    m.on('server-up', (e) => events.push(`up ${e.proxySetName} ${e.address}`));
    m.on('proxy-set-down', () => events.push('set down'));
    m.on('proxy-set-up', () => events.push('set up'));

    expect(m.candidates('S').map((s) => s.address)).toEqual(['127.0.0.21', '127.0.0.22']);
    prober.answers.set('127.0.0.21', 'timeout');
    await m.probeNow();
    expect(events).toEqual([]); // one miss of two
    await m.probeNow();
    expect(events).toEqual(['down S 127.0.0.21']);
    expect(m.candidates('S').map((s) => s.address)).toEqual(['127.0.0.22']);
    expect(routeRequest(c, req, m)).toMatchObject({ target: { address: '127.0.0.22', port: 5070 } });

    prober.answers.set('127.0.0.22', 503); // listed in KeepAliveFailureResp
    await m.probeNow();
    await m.probeNow();
    expect(events).toEqual(['down S 127.0.0.21', 'down S 127.0.0.22', 'set down']);
    expect(m.isIpGroupAvailable('ITSP')).toBe(false);
    expect(routeRequest(c, req, m)).toMatchObject({ row: { index: 1 }, destination: { kind: 'reject', responseCode: 503 } });

    prober.answers.set('127.0.0.21', 404); // any other final response means alive
    await m.probeNow();
    expect(m.isIpGroupAvailable('ITSP')).toBe(false); // needs 2 successes
    await m.probeNow();
    expect(events.slice(3)).toEqual(['up S 127.0.0.21', 'set up']);
    expect(routeRequest(c, req, m)).toMatchObject({ target: { address: '127.0.0.21' } });
    expect(m.status().find((s) => s.address === '127.0.0.22')).toMatchObject({ up: false, lastResponse: 503 });
  });

  it('treats a throwing prober as a timeout', async () => {
    const c = cfg(set('1, 10, 0, 0, 1, "", 1, 5, -1, 0'), TWO);
    const m = manager(c, { prober: { probe: async () => { throw new Error('socket closed'); } } });
    await m.probeNow();
    expect(m.isIpGroupAvailable('ITSP')).toBe(false);
  });

  it('without keep-alive every server stays up', async () => {
    const c = cfg(set('0, 10, 0, 0, 1, "", 1, 5, -1, 0'), TWO);
    const prober = new FakeProber();
    const m = manager(c, { prober });
    prober.answers.set('127.0.0.21', 'timeout');
    await m.probeNow();
    expect(prober.calls).toEqual([]);
    expect(m.isIpGroupAvailable('ITSP')).toBe(true);
    expect(m.isIpGroupAvailable('Users')).toBe(true);
    expect(m.isIpGroupAvailable('Nope')).toBe(false);
  });

  it('homing returns to the preferred server; parking stays where it is', async () => {
    for (const [mode, expected] of [[1, '127.0.0.21'], [0, '127.0.0.22']] as const) {
      const c = cfg(set(`1, 10, 0, 1, ${mode}, "", 1, 5, 1, 0`), TWO);
      const prober = new FakeProber();
      const m = manager(c, { prober });
      expect(m.candidates('S')[0]!.address).toBe('127.0.0.21');
      prober.answers.set('127.0.0.21', 'timeout');
      await m.probeNow();
      expect(m.candidates('S')[0]!.address).toBe('127.0.0.22');
      prober.answers.delete('127.0.0.21');
      await m.probeNow();
      expect(m.candidates('S')[0]!.address, `mode ${mode}`).toBe(expected);
    }
  });

  it('balances round robin and by weight', () => {
    const rr = manager(cfg(set('0, 10, 1, 0, -1, "", 1, 5, 1, 0'), TWO), {});
    expect([0, 1, 2].map(() => rr.candidates('S')[0]!.address)).toEqual(['127.0.0.21', '127.0.0.22', '127.0.0.21']);
    const values = [0.1, 0.5, 0.9, 0.5];
    let i = 0;
    const w = manager(cfg(set('0, 10, 2, 0, -1, "", 1, 5, 1, 0'), TWO), { random: () => values[i++ % 4]! });
    // weights 1 and 3: 0.1 * 4 = 0.4 -> first server; 0.9 * 4 = 3.6 -> second
    expect(w.candidates('S').map((s) => s.address)).toEqual(['127.0.0.21', '127.0.0.22']);
    expect(w.candidates('S')[0]!.address).toBe('127.0.0.22');
  });

  it('resolves host names (A and SRV) through the injected resolver, with a cache', async () => {
    const lookups: string[] = [];
    const resolver: DnsResolver = {
      async resolve4(h) { lookups.push(`A ${h}`); if (h === 'trunk.test') return ['127.0.0.31', '127.0.0.32']; if (h === 's1.trunk.test') return ['127.0.0.41']; throw new Error('NXDOMAIN'); },
      async resolveSrv(n) { lookups.push(`SRV ${n}`); if (n === '_sip._tcp.srv.test') return [{ name: 's1.trunk.test', port: 5090, priority: 10, weight: 5 }]; throw new Error('NXDOMAIN'); },
    };
    const c = cfg(set('1, 10, 0, 1, 1, "", 1, 5, 1, 0') + '\nProxySet 1 = "T", 0, 10, 0, 1, 1, "", 1, 5, 1, 1;',
      'ProxyIp 0 = "0", 0, "trunk.test", 0, 0, 0;\nProxyIp 1 = "0", 1, "missing.test", 0, 1, 0;\nProxyIp 2 = "1", 0, "srv.test", 1, 0, 0;');
    const m = manager(c, { resolver, logger: { info: () => {}, warn: () => {} } });
    expect(m.candidates('S')).toEqual([]); // nothing resolved yet
    await m.refreshDns();
    expect(m.candidates('S').map((s) => `${s.address}:${s.port}/${s.host}`)).toEqual(['127.0.0.31:5060/trunk.test', '127.0.0.32:5060/trunk.test']);
    expect(m.candidates('T').map((s) => `${s.transport}:${s.address}:${s.port}`)).toEqual(['tcp:127.0.0.41:5090']);
    expect(m.addressesOf('S')).toEqual(['127.0.0.31', '127.0.0.32']);
    const n = lookups.length;
    await m.refreshDns();
    expect(lookups.length).toBe(n); // answers (and failures) are cached
  });

  it('keeps server state across a configuration update', async () => {
    const c = cfg(set('1, 10, 0, 1, 1, "", 1, 5, 1, 0'), TWO);
    const prober = new FakeProber();
    const m = manager(c, { prober });
    prober.answers.set('127.0.0.21', 'timeout');
    await m.probeNow();
    m.update(cfg(set('1, 20, 0, 1, 1, "", 1, 5, 1, 0'), TWO + '\nProxyIp 2 = "0", 2, "127.0.0.23", 0, 2, 0;'));
    expect(m.candidates('S').map((s) => s.address)).toEqual(['127.0.0.22', '127.0.0.23']);
  });

  it('probes on its own timers: ProxyKeepAliveTime while up, SuccessDetectionInterval while down', async () => {
    vi.useFakeTimers();
    const c = cfg(set('1, 30, 0, 1, 1, "", 1, 5, 1, 0'), 'ProxyIp 0 = "0", 0, "127.0.0.21", 0, 0, 0;');
    const prober = new FakeProber();
    const m = manager(c, { prober });
    await m.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(prober.calls).toHaveLength(1);
    prober.answers.set('127.0.0.21', 'timeout');
    await vi.advanceTimersByTimeAsync(29_000);
    expect(prober.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(prober.calls).toHaveLength(2);
    expect(m.isIpGroupAvailable('ITSP')).toBe(false);
    prober.answers.delete('127.0.0.21');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(prober.calls).toHaveLength(3);
    expect(m.isIpGroupAvailable('ITSP')).toBe(true);
    m.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(prober.calls).toHaveLength(3);
  });
});
