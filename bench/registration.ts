/**
 * `npm run bench:registration` (node dist/bench/registration.js): the
 * registration side of the SBC on one machine.
 *
 * Ladder: sipp sends REGISTERs (a new user each, so none is answered from
 * the throttling cache) at rising rates, through the SBC to a Kamailio
 * registrar, and straight to the same Kamailio, in the same run. A step is
 * clean when <= 0.1 % failed, the p99 REGISTER -> 200 time is within the
 * SLO (--slo-ms, 50 by default, as for calls) and it finished within 1.2x
 * its nominal time.
 *
 * Soak (--soak): N users register through the SBC and refresh every R
 * seconds, 6 REGISTERs each; reports REGISTERs/s, how many the SBC
 * answered from its cache, and JS heap per binding.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registrarConfig } from './lib/kamailio-registrar.js';
import { freePort, repoRoot, sleep, spawnManaged, stopManaged, type ManagedProcess } from './lib/procs.js';
import { percentile, readRtts, readStats } from './lib/sipp.js';

interface Options { rates: number[]; stepSec: number; soak: boolean; users: number; refreshSec: number; out: string; ladder: boolean; sloMs: number }

function parse(argv: string[]): Options {
  const o: Options = { rates: [250, 500, 1000, 2000, 4000], stepSec: 10, soak: false, users: 5000, refreshSec: 30, out: '', ladder: true, sloMs: 50 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => argv[++i] ?? '';
    if (a === '--rates') o.rates = v().split(',').map(Number).filter((n) => n > 0);
    else if (a === '--step') o.stepSec = Number(v());
    else if (a === '--soak') o.soak = true;
    else if (a === '--no-ladder') o.ladder = false;
    else if (a === '--users') o.users = Number(v());
    else if (a === '--refresh') o.refreshSec = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--slo-ms') o.sloMs = Number(v());
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function sbcIni(o: { lan: number; wan: number; api: number; kam: number; userTime: number; proxyTime: number }): string {
  return [
    '[SIP Params]', `SbcApiPort = ${o.api}`, 'SbcApiAuthentication = 0', // loopback only; the bench reads the API without users
    `SBCUserRegistrationTime = ${o.userTime}`, `SBCProxyRegistrationTime = ${o.proxyTime}`,
    // One sipp address stands for thousands of phones: the per-source request rate limit
    // (SourceRequestRate, 50/s by default, docs/security.md) would measure itself, not the SBC.
    'SourceRequestRate = 0', '',
    '[ InterfaceTable ]', 'FORMAT Index = ApplicationTypes, InterfaceMode, IPAddress, PrefixLength, Gateway, InterfaceName;',
    'InterfaceTable 0 = 6, 10, 127.0.0.1, 8, 0.0.0.0, "LAN_IF";', '[ \\InterfaceTable ]', '',
    '[ SIPInterface ]', 'FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, ClassificationFailureResponseType;',
    `SIPInterface 0 = "LAN", "LAN_IF", 2, ${o.lan}, 0, 0, 500;`, `SIPInterface 1 = "Phones", "LAN_IF", 2, ${o.wan}, 0, 0, 500;`, '[ \\SIPInterface ]', '',
    '[ ProxySet ]', 'FORMAT Index = ProxyName, EnableProxyKeepAlive, SBCIPv4SIPInterfaceName;', 'ProxySet 0 = "PBX", 0, "LAN";', '[ \\ProxySet ]', '',
    '[ ProxyIp ]', 'FORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType;', `ProxyIp 0 = "0", 0, "127.0.0.20:${o.kam}", 0;`, '[ \\ProxyIp ]', '',
    '[ IPGroup ]', 'FORMAT Index = Type, Name, ProxySetName, SIPGroupName, ClassifyByProxySet;',
    'IPGroup 0 = 0, "PBX", "PBX", "pbx.local", 1;', 'IPGroup 1 = 1, "Users", "", "pbx.local", 0;', '[ \\IPGroup ]', '',
    '[ Classification ]', 'FORMAT Index = ClassificationName, SrcSIPInterfaceName, SrcAddress, ActionType, SrcIPGroupName;',
    'Classification 0 = "phones", "Phones", "*", 1, "Users";', '[ \\Classification ]', '',
    '[ IP2IPRouting ]', 'FORMAT Index = RouteName, SrcIPGroupName, RequestType, DestType, DestIPGroupName;',
    'IP2IPRouting 0 = "registrations", "Users", 2, 0, "PBX";', '[ \\IP2IPRouting ]', '',
  ].join('\n');
}

async function waitFor(what: string, probe: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} not ready within ${ms} ms`);
}

async function api<T>(port: number, path: string): Promise<T> {
  return (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as T;
}

function usersFile(dir: string, first: number, n: number): string {
  const path = join(dir, `users-${first}.csv`);
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < n; i++) lines.push(`u${first + i};`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function runSipp(dir: string, args: string[], timeoutS: number): ManagedProcess {
  mkdirSync(dir, { recursive: true });
  return spawnManaged('sipp', 'sipp', [
    ...args, '-i', '127.0.0.1', '-nostdin', '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '1', '-trace_rtt', '-rtt_freq', '1',
    '-trace_err', '-timeout', `${timeoutS}s`, '-recv_timeout', '5000', '-max_socket', '4096',
  ], { cwd: dir, tailBytes: 4096 });
}

interface StepResult { target: string; rate: number; sent: number; ok: number; failed: number; seconds: number; clean: boolean; p50: number | null; p99: number | null }

async function ladderStep(work: string, target: string, address: string, rate: number, stepSec: number, firstUser: number, sloMs: number): Promise<StepResult> {
  const calls = rate * stepSec;
  const dir = join(work, `${target}-${rate}`);
  mkdirSync(dir, { recursive: true });
  const users = usersFile(dir, firstUser, calls);
  const t0 = Date.now();
  const p = runSipp(dir, [address, '-sf', join(repoRoot(), 'bench/scenarios/reg-bench-uac.xml'), '-inf', users, '-key', 'expires', '600',
    '-r', String(rate), '-m', String(calls), '-t', 'u1'], stepSec * 3 + 10);
  await p.exited;
  const seconds = (Date.now() - t0) / 1000;
  const s = readStats(dir);
  const rtts = readRtts(dir).sort((a, b) => a - b);
  const ok = s?.successful ?? 0;
  const failed = s?.failed ?? calls;
  return {
    target, rate, sent: calls, ok, failed, seconds, p50: percentile(rtts, 50), p99: percentile(rtts, 99),
    clean: failed <= calls * 0.001 && ok + failed >= calls && seconds <= stepSec * 1.2 + 1 && (percentile(rtts, 99) ?? Infinity) <= sloMs,
  };
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'bench-reg-'));
  const out = o.out || join(repoRoot(), 'bench/results', `registration-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(out, { recursive: true });
  const [kamPort, lan, wan, apiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  writeFileSync(join(work, 'kamailio.cfg'), registrarConfig('127.0.0.20', kamPort, { address: '127.0.0.21', port: 9 }));
  const kam = spawnManaged('kamailio', '/usr/sbin/kamailio', ['-f', join(work, 'kamailio.cfg'), '-DD', '-E', '-Y', work, '-P', join(work, 'kam.pid'),
    '-w', work, '-m', '256', '-M', '16'], { cwd: work });
  // Throttling as in docs/registration.md: users refresh every refresh s, the registrar is asked for 10x that.
  writeFileSync(join(work, 'sbc.ini'), sbcIni({ lan, wan, api: apiPort, kam: kamPort, userTime: o.refreshSec * 2, proxyTime: o.refreshSec * 20 }));
  const sbc = spawnManaged('sbc', process.execPath, ['--expose-gc', join(repoRoot(), 'dist/src/cli/main.js'), 'start', '--config', join(work, 'sbc.ini'),
    '--log-level', 'warn'], { cwd: work });
  const report: Record<string, unknown> = { startedAt: new Date().toISOString(), options: o };
  try {
    await waitFor('SBC API', async () => (await fetch(`http://127.0.0.1:${apiPort}/api/v1/health`)).ok, 15_000);
    await sleep(500);
    if (o.ladder) {
      const steps: StepResult[] = [];
      let user = 0;
      for (const target of ['sbc', 'kamailio']) {
        const address = target === 'sbc' ? `127.0.0.1:${wan}` : `127.0.0.20:${kamPort}`;
        for (const rate of o.rates) {
          const r = await ladderStep(work, target, address, rate, o.stepSec, user, o.sloMs);
          user += rate * o.stepSec;
          steps.push(r);
          process.stdout.write(`${target} ${rate}/s: ${r.ok} ok, ${r.failed} failed, ${r.seconds.toFixed(1)} s, p50 ${r.p50} ms, p99 ${r.p99} ms${r.clean ? '' : ' (not clean)'}\n`);
          if (!r.clean) break;
          await sleep(2000);
        }
      }
      const ceiling = (t: string): number => Math.max(0, ...steps.filter((s) => s.target === t && s.clean).map((s) => s.rate));
      report['ladder'] = { steps, ceilings: { sbc: ceiling('sbc'), kamailio: ceiling('kamailio') } };
    }
    if (o.soak) {
      const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
      const counter = (text: string, result: string): number =>
        Number(new RegExp(`sbc_register_requests_total\\{direction="in",result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      // The ladder's REGISTERs are in the counters too: the soak reports its own.
      const startCounts = await metricsText();
      const before = await api<{ memory: { heapUsed: number; rss: number } }>(apiPort, '/api/v1/status?gc=1');
      const dir = join(work, 'soak');
      mkdirSync(dir, { recursive: true });
      const users = usersFile(dir, 1_000_000, o.users);
      const rate = Math.max(50, Math.ceil(o.users / o.refreshSec));
      const t0 = Date.now();
      const p = runSipp(dir, [`127.0.0.1:${wan}`, '-sf', join(repoRoot(), 'bench/scenarios/reg-soak-uac.xml'), '-inf', users,
        '-key', 'expires', String(o.refreshSec * 2), '-d', String(o.refreshSec * 1000), '-r', String(rate), '-m', String(o.users),
        '-l', String(o.users), '-t', 'u1'], o.refreshSec * 8 + 60);
      // Mid-soak: every user registered once (ramp done), refreshes going on.
      await sleep((o.users / rate) * 1000 + 5000);
      const mid = await api<{ memory: { heapUsed: number; rss: number } }>(apiPort, '/api/v1/status?gc=1');
      const regs = await api<{ users: Record<string, number> }>(apiPort, '/api/v1/registrations');
      await p.exited;
      const seconds = (Date.now() - t0) / 1000;
      const s = readStats(dir);
      const metrics = await metricsText();
      const counted = (result: string): number => counter(metrics, result) - counter(startCounts, result);
      const bindings = regs.users['Users'] ?? 0;
      const soak = {
        users: o.users, refreshSec: o.refreshSec, seconds, registersSent: (s?.successful ?? 0) * 6, usersOk: s?.successful ?? 0, usersFailed: s?.failed ?? 0,
        registersPerSec: ((s?.successful ?? 0) * 6) / seconds, bindingsMidSoak: bindings,
        answeredFromCache: counted('cached'), forwarded: counted('forwarded-2xx'),
        heapBefore: before.memory.heapUsed, heapMid: mid.memory.heapUsed, rssBefore: before.memory.rss, rssMid: mid.memory.rss,
        heapBytesPerBinding: bindings > 0 ? Math.round((mid.memory.heapUsed - before.memory.heapUsed) / bindings) : null,
      };
      report['soak'] = soak;
      process.stdout.write(`soak: ${JSON.stringify(soak)}\n`);
    }
  } finally {
    await stopManaged(sbc, 3000);
    await stopManaged(kam, 2000);
  }
  writeFileSync(join(out, 'registration.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`results: ${join(out, 'registration.json')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exitCode = 1;
});
