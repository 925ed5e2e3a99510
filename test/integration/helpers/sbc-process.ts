/**
 * Runs the real SBC (`node dist/src/cli/main.js start`) as a child process
 * for integration tests, on a generated ini file, and reads its JSON log
 * lines. `npm test` builds dist/ first; a missing build is a clear error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashPasswordSync } from '../../../src/api/password.js';

export const SBC_MAIN = fileURLToPath(new URL('../../../dist/src/cli/main.js', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface SbcProcess {
  readonly proc: ChildProcess;
  readonly configPath: string;
  /** The ini text the SBC was started with. */
  readonly iniText: string;
  readonly logs: LogLine[];
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** GET a JSON document from the REST API (needs apiPort in the ini). */
  api<T = unknown>(path: string, init?: { method?: string }): Promise<T>;
  /** Any REST API request; status code, content type and body text as they came. */
  http(path: string, init?: { method?: string }): Promise<{ status: number; contentType: string; body: string }>;
  /** Headers that authenticate a request to the REST API as the test ini's admin user. */
  authHeaders(): Record<string, string>;
  /** Writes a new configuration and sends SIGHUP. */
  reload(iniText: string): Promise<void>;
  stop(): Promise<number | null>;
  stderr(): string;
}

export interface TestIniOptions {
  /** SBC LAN side (toward the PBX) and WAN side (toward the trunk) UDP/TCP ports on 127.0.0.1. */
  lanPort: number;
  wanPort: number;
  /** PBX: where calls to the PBX go, and the source address that classifies as PBX. */
  pbx: { address: string; port: number };
  /** Trunk servers in priority order. */
  itsp: Array<{ address: string; port: number }>;
  apiPort?: number;
  /** Anchor media (Media Realms on 127.0.0.1) — default true. */
  media?: boolean;
  mediaPorts?: { lan: [number, number]; wan: [number, number] };
  /** Extra scalar lines (`Name = Value`). */
  scalars?: string[];
  /** IP Profile column overrides, per side, as `Column = value` pairs. */
  pbxProfile?: Record<string, string | number>;
  itspProfile?: Record<string, string | number>;
  /** Message manipulation rows (data part after `MessageManipulations N = `) and the sets each group uses. */
  manipulations?: string[];
  pbxInboundManSet?: number;
  itspOutboundManSet?: number;
  pbxOutboundManSet?: number;
  itspInboundManSet?: number;
  /** Extra tables appended as is. */
  extra?: string;
  /** OPTIONS keep-alive toward the trunk's Proxy Set (EnableProxyKeepAlive). */
  keepAlive?: boolean;
  /**
   * false: the REST API without users (SbcApiAuthentication = 0, loopback only), for tests that
   * compare ini texts byte for byte (user password hashes are secrets a GET masks).
   */
  apiAuth?: boolean;
  /** ProxyKeepAliveTime of the trunk's Proxy Set in seconds (default 5). */
  keepAliveSec?: number;
  /** ProxyIp TransportType of the trunk's servers: 0 UDP (default), 1 TCP, 2 TLS. */
  itspTransportType?: 0 | 1 | 2;
}

/** REST API users every test ini gets (WebUsers), one per role. */
export const TEST_API_USERS = {
  admin: { username: 'test-admin', password: 'admin-pw-for-tests', level: 200 },
  operator: { username: 'test-operator', password: 'operator-pw-for-tests', level: 100 },
  monitor: { username: 'test-monitor', password: 'monitor-pw-for-tests', level: 50 },
} as const;

let webUsersTable: string | null = null;
/** The WebUsers table of TEST_API_USERS (hashed once per test file). */
export function testWebUsers(): string {
  webUsersTable ??= [
    '[ WebUsers ]',
    'FORMAT Index = Username, Password, UserLevel, SessionTimeout;',
    ...Object.values(TEST_API_USERS).map((u, i) => `WebUsers ${i} = "${u.username}", "${hashPasswordSync(u.password)}", ${u.level}, 60;`),
    '[ \\WebUsers ]',
    '',
  ].join('\r\n');
  return webUsersTable;
}

/** `Authorization: Basic ...` for one of the test users. */
export function basicAuth(user: { username: string; password: string }): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` };
}

/** A small two-sided configuration: PBX on the LAN interface, a trunk on the WAN interface. */
export function testIni(o: TestIniOptions): string {
  const media = o.media ?? true;
  // Media realms stay below the kernel's ephemeral range (32768+, where
  // sipp, baresip and every client socket live) and each vitest worker
  // gets its own region, so test files running in parallel don't collide.
  const pool = Number(process.env['VITEST_POOL_ID'] ?? '1');
  const base = 10000 + ((pool - 1) % 4) * 5000 + Math.floor(Math.random() * 2) * 2000;
  const mp = o.mediaPorts ?? { lan: [base, base + 999], wan: [base + 1000, base + 1999] };
  const profileCols = ['ProfileName', 'SBCMediaSecurityBehaviour', 'SBCPrackMode', 'SBCRemoteReferBehavior', 'SBCRemote3xxBehavior', 'SBCMediaTimeout', 'DisconnectOnBrokenConnection', 'SBCAssertIdentity'];
  const profileRow = (name: string, over: Record<string, string | number> = {}): string => {
    const base: Record<string, string | number> = {
      ProfileName: `"${name}"`, SBCMediaSecurityBehaviour: 0, SBCPrackMode: 3, SBCRemoteReferBehavior: 0,
      SBCRemote3xxBehavior: 0, SBCMediaTimeout: 0, DisconnectOnBrokenConnection: 1, SBCAssertIdentity: 0,
    };
    for (const [k, v] of Object.entries(over)) base[k] = v;
    return profileCols.map((c) => String(base[c])).join(', ');
  };
  const lines: string[] = [
    '[SIP Params]',
    'SipT1Rtx = 100',
    'SipT2Rtx = 400',
    'SipT4Rtx = 500',
    // Overload control by event-loop delay is off in tests: on a busy 2-core machine a descheduled SBC
    // would shed calls the test expects; overload.test.ts and src/app/overload.test.ts exercise it.
    ...((o.scalars ?? []).some((l) => /^SBCOverloadLagMs\b/i.test(l)) ? [] : ['SBCOverloadLagMs = 0']),
    // A local scraper reads /metrics without credentials in tests (security-api sets 0 to check the 401).
    ...((o.scalars ?? []).some((l) => /^SbcApiMetricsOpen\b/i.test(l)) ? [] : ['SbcApiMetricsOpen = 1']),
    ...(o.scalars ?? []),
    ...(o.apiPort ? [`SbcApiPort = ${o.apiPort}`, 'SbcApiAddress = 127.0.0.1'] : []),
    ...(o.apiPort && o.apiAuth === false ? ['SbcApiAuthentication = 0'] : []),
    '',
    '[ InterfaceTable ]',
    'FORMAT Index = ApplicationTypes, InterfaceMode, IPAddress, PrefixLength, Gateway, InterfaceName;',
    'InterfaceTable 0 = 6, 10, 127.0.0.1, 8, 0.0.0.0, "LAN_IF";',
    'InterfaceTable 1 = 6, 10, 127.0.0.1, 8, 0.0.0.0, "WAN_IF";',
    '[ \\InterfaceTable ]',
    '',
  ];
  if (media) {
    lines.push(
      '[ CpMediaRealm ]',
      'FORMAT Index = MediaRealmName, IPv4IF, PortRangeStart, MediaSessionLeg, PortRangeEnd, IsDefault;',
      `CpMediaRealm 0 = "LAN", "LAN_IF", ${mp.lan[0]}, 100, ${mp.lan[1]}, 1;`,
      `CpMediaRealm 1 = "WAN", "WAN_IF", ${mp.wan[0]}, 100, ${mp.wan[1]}, 0;`,
      '[ \\CpMediaRealm ]',
      '',
    );
  }
  lines.push(
    '[ SIPInterface ]',
    'FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType;',
    `SIPInterface 0 = "LAN", "LAN_IF", 2, ${o.lanPort}, ${o.lanPort}, 0, "${media ? 'LAN' : ''}", 403;`,
    `SIPInterface 1 = "WAN", "WAN_IF", 2, ${o.wanPort}, ${o.wanPort}, 0, "${media ? 'WAN' : ''}", 403;`,
    '[ \\SIPInterface ]',
    '',
    '[ ProxySet ]',
    'FORMAT Index = ProxyName, EnableProxyKeepAlive, ProxyKeepAliveTime, ProxyLoadBalancingMethod, IsProxyHotSwap, ProxyRedundancyMode, SBCIPv4SIPInterfaceName, SuccessDetectionRetries, FailureDetectionRetransmissions;',
    'ProxySet 0 = "PBX", 0, 60, 0, 0, -1, "LAN", 1, -1;',
    `ProxySet 1 = "ITSP", ${o.keepAlive ? 1 : 0}, ${o.keepAliveSec ?? 5}, 0, 1, 1, "WAN", 1, 1;`,
    '[ \\ProxySet ]',
    '',
    '[ ProxyIp ]',
    'FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType, Priority, Weight;',
    `ProxyIp 0 = "0", 0, "${o.pbx.address}:${o.pbx.port}", 0, 0, 0;`,
    ...o.itsp.map((s, i) => `ProxyIp ${i + 1} = "1", ${i}, "${s.address}:${s.port}", ${o.itspTransportType ?? 0}, ${i}, 0;`),
    '[ \\ProxyIp ]',
    '',
    '[ IpProfile ]',
    `FORMAT Index = ${profileCols.join(', ')};`,
    `IpProfile 0 = ${profileRow('PBX-Profile', o.pbxProfile)};`,
    `IpProfile 1 = ${profileRow('ITSP-Profile', o.itspProfile)};`,
    '[ \\IpProfile ]',
    '',
    '[ IPGroup ]',
    'FORMAT Index = Type, Name, ProxySetName, SIPGroupName, MediaRealm, ClassifyByProxySet, ProfileName, InboundManSet, OutboundManSet;',
    `IPGroup 0 = 0, "PBX", "PBX", "pbx.test", "${media ? 'LAN' : ''}", 0, "PBX-Profile", ${o.pbxInboundManSet ?? -1}, ${o.pbxOutboundManSet ?? -1};`,
    `IPGroup 1 = 0, "ITSP", "ITSP", "itsp.test", "${media ? 'WAN' : ''}", 0, "ITSP-Profile", ${o.itspInboundManSet ?? -1}, ${o.itspOutboundManSet ?? -1};`,
    '[ \\IPGroup ]',
    '',
    '[ Classification ]',
    'FORMAT Index = ClassificationName, SrcSIPInterfaceName, SrcAddress, ActionType, SrcIPGroupName;',
    `Classification 0 = "from PBX", "LAN", "${o.pbx.address}", 1, "PBX";`,
    ...o.itsp.map((s, i) => `Classification ${i + 1} = "from ITSP ${i}", "WAN", "${s.address}", 1, "ITSP";`),
    '[ \\Classification ]',
    '',
    '[ IP2IPRouting ]',
    'FORMAT Index = RouteName, SrcIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, DestType, DestIPGroupName;',
    'IP2IPRouting 0 = "PBX to ITSP", "PBX", "*", "*", 0, "ITSP";',
    'IP2IPRouting 1 = "ITSP to PBX", "ITSP", "*", "*", 0, "PBX";',
    '[ \\IP2IPRouting ]',
    '',
  );
  if (o.manipulations && o.manipulations.length > 0) {
    lines.push(
      '[ MessageManipulations ]',
      'FORMAT Index = ManipulationName, ManSetID, MessageType, Condition, ActionSubject, ActionType, ActionValue, RowRole;',
      ...o.manipulations.map((r, i) => `MessageManipulations ${i} = ${r};`),
      '[ \\MessageManipulations ]',
      '',
    );
  }
  if (o.extra) lines.push(o.extra);
  if (o.apiPort && o.apiAuth !== false) lines.push(testWebUsers());
  return lines.join('\r\n');
}

/** `exposeGc`: node --expose-gc and SBC_API_GC=1, so `/api/v1/status?gc=1` runs a full GC first (leak checks). */
/**
 * startSbc for a file about a thread count of its own (SIPWorkerThreads in
 * its ini): `npm test` forces SBC_SIP_WORKERS for the whole run, which would
 * override the ini, so it is left out while this SBC starts.
 */
export async function startSbcOwnThreads(iniText: string, opts: Parameters<typeof startSbc>[1] = {}): Promise<SbcProcess> {
  const forced = process.env['SBC_SIP_WORKERS'];
  delete process.env['SBC_SIP_WORKERS'];
  try {
    return await startSbc(iniText, opts);
  } finally {
    if (forced !== undefined) process.env['SBC_SIP_WORKERS'] = forced;
  }
}

export async function startSbc(iniText: string, opts: { relay?: 'native' | 'js'; exposeGc?: boolean; startTimeoutMs?: number; env?: Record<string, string> } = {}): Promise<SbcProcess> {
  if (!existsSync(SBC_MAIN)) throw new Error(`${SBC_MAIN} not found: run 'npm run build' first (npm test does)`);
  // Every test SBC with a REST API gets the test users (one per role), so the helper can authenticate
  // (inis built by the tests themselves, e.g. from config/remote-users.ini, have none).
  if (/^\s*SbcApiPort\s*=\s*[1-9]/im.test(iniText) && !iniText.includes('[ WebUsers ]') && !/SbcApiAuthentication\s*=\s*0/i.test(iniText)) {
    iniText = `${iniText}\r\n${testWebUsers()}\r\n`;
  }
  const dir = await mkdtemp(join(tmpdir(), 'sbc-test-'));
  const configPath = join(dir, 'sbc.ini');
  await writeFile(configPath, iniText);
  const args = [...(opts.exposeGc ? ['--expose-gc'] : []), SBC_MAIN, 'start', '--config', configPath, '--log-level', 'info'];
  if (opts.relay) args.push('--relay', opts.relay);
  const env = { ...process.env, ...opts.env };
  if (opts.exposeGc) env['SBC_API_GC'] = '1';
  else delete env['SBC_API_GC'];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const logs: LogLine[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let stderr = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      logs.push(parsed);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(parsed)) {
          waiters[i]!.resolve(parsed);
          waiters.splice(i, 1);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => {
    stderr = (stderr + c).slice(-8000);
  });
  let exited: number | null | undefined;
  const exitPromise = new Promise<number | null>((res) => proc.on('exit', (code) => {
    exited = code;
    res(code);
  }));

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        const i = waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) waiters.splice(i, 1);
        rej(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr}\nlast logs: ${logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      const done = (l: LogLine): void => {
        clearTimeout(t);
        res(l);
      };
      waiters.push({ pred, resolve: done });
    });
  };

  const apiPort = /SbcApiPort\s*=\s*(\d+)/.exec(iniText)?.[1];
  // One scrypt check at start buys a token; every later call is a cheap bearer lookup.
  let bearer: string | null = null;
  const handle: SbcProcess = {
    proc,
    configPath,
    iniText,
    logs,
    waitForLog,
    async api<T>(path: string, init?: { method?: string }): Promise<T> {
      if (!apiPort) throw new Error('the test ini has no SbcApiPort');
      const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, { method: init?.method ?? 'GET', headers: handle.authHeaders() });
      return (await r.json()) as T;
    },
    async http(path: string, init?: { method?: string }) {
      if (!apiPort) throw new Error('the test ini has no SbcApiPort');
      const r = await fetch(`http://127.0.0.1:${apiPort}${path}`, { method: init?.method ?? 'GET', headers: handle.authHeaders() });
      return { status: r.status, contentType: r.headers.get('content-type') ?? '', body: await r.text() };
    },
    authHeaders: (): Record<string, string> => (bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
    async reload(text: string): Promise<void> {
      await writeFile(configPath, text);
      proc.kill('SIGHUP');
    },
    async stop(): Promise<number | null> {
      if (exited !== undefined) return exited;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const code = await exitPromise;
      clearTimeout(killer);
      await rm(dir, { recursive: true, force: true });
      return code;
    },
    stderr: () => stderr,
  };
  try {
    const started = await Promise.race([
      waitForLog((l) => l.msg === 'SBC started', opts.startTimeoutMs ?? 15_000),
      exitPromise.then((code): never => {
        throw new Error(`SBC exited with ${code} before starting: ${stderr}`);
      }),
    ]);
    // `npm test` runs the call-flow files again with SBC_SIP_WORKERS=2: make sure they really ran on two threads.
    const forced = process.env['SBC_SIP_WORKERS'];
    if (forced !== undefined && forced !== '' && started['sipThreads'] !== Number(forced)) {
      throw new Error(`SBC_SIP_WORKERS=${forced} but the SBC started with ${String(started['sipThreads'])} SIP thread(s)`);
    }
  } catch (err) {
    await handle.stop();
    throw err;
  }
  // An HTTPS API (SbcApiTlsCertFile) is the test's own business: its certificate is not one fetch trusts.
  if (apiPort && iniText.includes('[ WebUsers ]') && !/SbcApiTlsCertFile\s*=\s*\S/.test(iniText)) {
    const r = await fetch(`http://127.0.0.1:${apiPort}/api/v1/auth/token`, { method: 'POST', headers: basicAuth(TEST_API_USERS.admin) });
    if (r.status !== 200) {
      await handle.stop();
      throw new Error(`REST API token for the test admin: HTTP ${r.status} ${await r.text()}`);
    }
    bearer = ((await r.json()) as { token: string }).token;
  }
  return handle;
}
