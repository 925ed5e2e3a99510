/**
 * Proxy Set keep-alive over real UDP: our TransportLayer + TransactionLayer
 * send OPTIONS (KeepAliveProber) to two sipp UAS processes standing in for
 * the two servers of a SIP trunk. Stopping a server must mark it down after
 * FailureDetectionRetransmissions misses, starting it again must mark it up
 * after SuccessDetectionRetries answers, and routing must follow.
 *
 * Intervals are shrunk through the manager's secondsToMs and a small T1
 * (timer F = 64 * T1), so the whole file runs in seconds; every wait is
 * bounded and every sipp is stopped in afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadConfigText, type SbcConfig } from '../../src/config/index.js';
import {
  ProxySetManager, routeRequest, type KeepAliveProber, type ProxySetManagerEvents, type RouteDecision, type RoutedRequest, type ServerEvent,
} from '../../src/routing/index.js';
import { KeepAliveProber as OptionsProber } from '../../src/transaction/keepalive.js';
import { TransactionLayer } from '../../src/transaction/transaction-layer.js';
import { TransportLayer } from '../../src/transport/transport-layer.js';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess } from './helpers/sipp.js';

const SCENARIO = fileURLToPath(new URL('../scenarios/keepalive-options-uas.xml', import.meta.url));

// Timer F = 64 * T1 = 2.56 s: how long one unanswered probe takes (room for a loaded machine).
const T1_MS = 40;
// One configured second lasts this many ms (ProxyKeepAliveTime and SuccessDetectionInterval are 1 s).
const MS_PER_CONFIG_SECOND = 250;
const FAILURE_RETRIES = 2;
const SUCCESS_RETRIES = 2;
const WAIT_MS = 15_000;

function configText(port1: number, port2: number, withAlternative: boolean): string {
  return `
[ ProxySet ]
FORMAT Index = ProxyName, EnableProxyKeepAlive, ProxyKeepAliveTime, ProxyRedundancyMode, SuccessDetectionRetries, SuccessDetectionInterval, FailureDetectionRetransmissions;
ProxySet 0 = "Trunk", 1, 1, 1, ${SUCCESS_RETRIES}, 1, ${FAILURE_RETRIES};
ProxySet 1 = "Pbx", 0, 60, -1, 1, 10, -1;
[ \\ProxySet ]
[ ProxyIp ]
FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType, Priority;
ProxyIp 0 = "Trunk", 0, "127.0.0.1:${port1}", 0, 0;
ProxyIp 1 = "Trunk", 1, "127.0.0.1:${port2}", 0, 1;
ProxyIp 2 = "Pbx", 0, "127.0.0.9:5060", 0, 0;
[ \\ProxyIp ]
[ IPGroup ]
FORMAT Index = Type, Name, ProxySetName;
IPGroup 0 = 0, "PBX", "Pbx";
IPGroup 1 = 0, "ITSP", "Trunk";
[ \\IPGroup ]
[ IP2IPRouting ]
FORMAT Index = RouteName, SrcIPGroupName, DestType, DestIPGroupName, DestAddress, AltRouteOptions;
IP2IPRouting 0 = "to trunk", "PBX", 0, "ITSP", "", 0;
${withAlternative ? 'IP2IPRouting 1 = "trunk down", "PBX", 1, "", "127.0.0.1:5999", 1;' : ''}
[ \\IP2IPRouting ]
`;
}

function load(text: string): SbcConfig {
  const r = loadConfigText(text, 'keepalive.ini');
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}: ${d.message}`).join('\n'));
  return r.config;
}

const invite: RoutedRequest = {
  method: 'INVITE', srcAddress: '127.0.0.9', srcPort: 5060, transport: 'udp', sipInterfaceName: 'sbc',
  srcUser: '1001', srcHost: 'pbx.local', dstUser: '2125551234', dstHost: 'trunk', requestUriUser: '2125551234', requestUriHost: 'trunk',
  srcIpGroupName: 'PBX',
};

/** Ports of the candidates of an ip-group decision, in the order they would be tried. */
function candidatePorts(d: RouteDecision): number[] {
  if (d.kind !== 'route' || d.destination.kind !== 'ip-group') return [];
  return d.destination.candidates.map((c) => c.port);
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('Proxy Set keep-alive against two sipp trunk servers', () => {
  let transport: TransportLayer;
  let layer: TransactionLayer;
  let manager: ProxySetManager;
  let config: SbcConfig;
  let noAltConfig: SbcConfig;
  let port1 = 0;
  let port2 = 0;
  const sipps = new Set<SippProcess>();
  let server1: SippProcess | null = null;
  let server2: SippProcess | null = null;
  /** Every probe result, per server port, in order. */
  const probes = new Map<number, Array<number | 'timeout'>>();
  const events: Array<{ name: keyof ProxySetManagerEvents; port?: number; probesBefore?: Array<number | 'timeout'> }> = [];
  const logged: string[] = [];

  function startServer(port: number): SippProcess {
    // -m bounds the probes answered; the helper's -timeout and kill timer bound the run.
    const p = startSipp({ scenario: SCENARIO, localPort: port, calls: 5000, timeoutMs: 45_000 });
    sipps.add(p);
    return p;
  }

  async function stopServer(p: SippProcess | null): Promise<void> {
    if (!p) return;
    await p.stop();
    sipps.delete(p);
  }

  const resultsOf = (port: number): Array<number | 'timeout'> => probes.get(port) ?? [];
  const statusOf = (port: number) => manager.status().find((s) => s.port === port)!;
  const eventIndex = (name: keyof ProxySetManagerEvents, port?: number, from = 0): number =>
    events.findIndex((e, i) => i >= from && e.name === name && (port === undefined || e.port === port));

  beforeAll(async () => {
    assertSippInstalled();
    port1 = await findFreePort();
    do port2 = await findFreePort(); while (port2 === port1);
    server1 = startServer(port1);
    server2 = startServer(port2);
    await Promise.all([server1.bound(), server2.bound()]);

    transport = new TransportLayer();
    await transport.listen({ name: 'sbc', address: '127.0.0.1', udpPort: 0 });
    layer = new TransactionLayer(transport, { t1Ms: T1_MS, t2Ms: 4 * T1_MS });
    const options = new OptionsProber(layer, { interfaceName: 'sbc', userAgent: 'sbc-keepalive-test' });
    // The real prober, with each result recorded so the test can count misses and answers.
    const prober: KeepAliveProber = {
      async probe(target, proxySetName) {
        const r = await options.probe(target, proxySetName);
        let list = probes.get(target.port);
        if (!list) probes.set(target.port, (list = []));
        list.push(r);
        return r;
      },
    };
    config = load(configText(port1, port2, true));
    noAltConfig = load(configText(port1, port2, false));
    manager = new ProxySetManager(config, {
      prober,
      secondsToMs: (s) => s * MS_PER_CONFIG_SECOND,
      logger: { info: (_o, msg) => logged.push(msg), warn: (_o, msg) => logged.push(msg) },
    });
    const record = (name: 'server-up' | 'server-down') => (e: ServerEvent): void => {
      events.push({ name, port: e.port, probesBefore: [...resultsOf(e.port)] });
    };
    manager.on('server-down', record('server-down'));
    manager.on('server-up', record('server-up'));
    manager.on('proxy-set-down', () => events.push({ name: 'proxy-set-down' }));
    manager.on('proxy-set-up', () => events.push({ name: 'proxy-set-up' }));
    await manager.start();
  }, 30_000);

  afterAll(async () => {
    manager?.stop();
    await Promise.all([...sipps].map((p) => p.stop()));
    sipps.clear();
    layer?.close();
    await transport?.close();
  }, 30_000);

  it('sees both servers answer OPTIONS and routes to the preferred one', async () => {
    await waitUntil('two answered probes per server', () => resultsOf(port1).length >= 2 && resultsOf(port2).length >= 2);
    expect(resultsOf(port1).slice(0, 2)).toEqual([200, 200]);
    expect(resultsOf(port2).slice(0, 2)).toEqual([200, 200]);
    expect(statusOf(port1)).toMatchObject({ up: true, lastResponse: 200, proxySetName: 'Trunk' });
    expect(statusOf(port2)).toMatchObject({ up: true, lastResponse: 200 });
    expect(manager.isIpGroupAvailable('ITSP')).toBe(true);
    // The PBX's proxy set has no keep-alive: its server counts as alive and is never probed.
    expect(manager.isIpGroupAvailable('PBX')).toBe(true);
    expect(probes.has(5060)).toBe(false);

    const d = routeRequest(config, invite, manager);
    expect(d.kind).toBe('route');
    if (d.kind !== 'route') return;
    expect(d.position).toBe(0);
    expect(d.target).toMatchObject({ address: '127.0.0.1', port: port1, transport: 'udp' });
    // Homing: priority order among live servers.
    expect(candidatePorts(d)).toEqual([port1, port2]);
    expect(events).toEqual([]);
  });

  it('marks server 2 down after the configured misses; routing uses server 1 only', async () => {
    await stopServer(server2);
    server2 = null;
    await waitUntil('server-down for server 2', () => eventIndex('server-down', port2) >= 0);
    const down = events[eventIndex('server-down', port2)]!;
    // Exactly FAILURE_RETRIES consecutive misses at the end of its probe history.
    const history = down.probesBefore!;
    expect(history.slice(-FAILURE_RETRIES)).toEqual(Array(FAILURE_RETRIES).fill('timeout'));
    expect(history[history.length - FAILURE_RETRIES - 1]).toBe(200);
    expect(statusOf(port2)).toMatchObject({ up: false, lastResponse: 'timeout' });
    expect(statusOf(port1)).toMatchObject({ up: true, lastResponse: 200 });
    expect(logged).toContain('proxy server down');

    // One live server left: the IP Group stays available and only server 1 is offered.
    expect(manager.isIpGroupAvailable('ITSP')).toBe(true);
    expect(eventIndex('proxy-set-down')).toBe(-1);
    const d = routeRequest(config, invite, manager);
    expect(d.kind === 'route' && d.position).toBe(0);
    expect(d.kind === 'route' && d.target?.port).toBe(port1);
    expect(candidatePorts(d)).toEqual([port1]);
  });

  it('makes the IP Group unavailable when both servers are down; routing skips it', async () => {
    await stopServer(server1);
    server1 = null;
    await waitUntil('proxy-set-down', () => eventIndex('proxy-set-down') >= 0);
    expect(eventIndex('server-down', port1)).toBeGreaterThanOrEqual(0);
    expect(events[eventIndex('server-down', port1)]!.probesBefore!.slice(-FAILURE_RETRIES)).toEqual(Array(FAILURE_RETRIES).fill('timeout'));
    expect(statusOf(port1).up).toBe(false);
    expect(statusOf(port2).up).toBe(false);
    expect(manager.isIpGroupAvailable('ITSP')).toBe(false);
    expect(manager.candidates('Trunk')).toEqual([]);
    expect(logged).toContain('proxy set has no live server');

    // With an alternative row: the unavailable group is skipped for it.
    const alt = routeRequest(config, invite, manager);
    expect(alt.kind).toBe('route');
    if (alt.kind === 'route') {
      expect(alt.position).toBe(1);
      expect(alt.destination).toMatchObject({ kind: 'address', host: '127.0.0.1', port: 5999 });
    }
    // Without one: 503.
    const none = routeRequest(noAltConfig, invite, manager);
    expect(none.kind).toBe('no-route');
    if (none.kind === 'no-route') {
      expect(none.responseCode).toBe(503);
      expect(none.skipped.map((s) => s.row.routeName)).toEqual(['to trunk']);
    }
  });

  it('marks server 2 up again after the configured answers; routing uses it again', async () => {
    const from = events.length;
    server2 = startServer(port2);
    await server2.bound();
    await waitUntil('server-up for server 2', () => eventIndex('server-up', port2, from) >= 0);
    const up = events[eventIndex('server-up', port2, from)]!;
    const history = up.probesBefore!;
    expect(history.slice(-SUCCESS_RETRIES)).toEqual(Array(SUCCESS_RETRIES).fill(200));
    expect(history[history.length - SUCCESS_RETRIES - 1]).toBe('timeout');
    expect(eventIndex('proxy-set-up', undefined, from)).toBeGreaterThanOrEqual(0);
    expect(statusOf(port2)).toMatchObject({ up: true, lastResponse: 200 });
    expect(statusOf(port1).up).toBe(false);
    expect(logged).toContain('proxy server up');

    expect(manager.isIpGroupAvailable('ITSP')).toBe(true);
    const d = routeRequest(config, invite, manager);
    expect(d.kind === 'route' && d.position).toBe(0);
    expect(d.kind === 'route' && d.target?.port).toBe(port2);
    expect(candidatePorts(d)).toEqual([port2]);
    // Server 1 never answered again, so it never came back.
    expect(eventIndex('server-up', port1)).toBe(-1);
  });
});
