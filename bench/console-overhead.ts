/**
 * What an open console costs signalling (issue 16: "with a dashboard open
 * during a 200 cps run, the CPS ceiling moves by < 5%"). The SBC of the
 * bench (bench-sbc.ini with one Monitor user) carries the same sipp load
 * several times, alternately with nobody logged in and with Debian's
 * chromium showing the console's Dashboard (its SSE stream open), and the
 * SBC's CPU time per call of each run is compared: at a CPU-bound ceiling
 * the ceiling moves by the same share as the CPU per call.
 *
 *   node dist/bench/console-overhead.js [--rate 200] [--seconds 15] [--rounds 3] [--page dashboard|calls]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { hashPasswordSync } from '../src/api/password.js';
import { freePort, repoRoot, spawnManaged, stopManaged } from './lib/procs.js';
import { renderBenchIni, DEFAULT_BENCH_PORTS } from './lib/sbc-ini.js';
import { waitApiReady } from './lib/sbc-api.js';
import { groupPids, cpuSeconds } from './lib/procstat.js';
import { readRtts, readStats, startUac, startUas, stopSipp, percentile } from './lib/sipp.js';

const USER = { username: 'bench-monitor', password: 'bench-monitor-pw' };
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const rate = Number(arg('rate', '200'));
  const seconds = Number(arg('seconds', '15'));
  const rounds = Number(arg('rounds', '3'));
  const page = arg('page', 'dashboard');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium)`);
  const work = await mkdtemp(join(tmpdir(), 'sbc-console-overhead-'));
  const [uacSidePort, uasSidePort, uacPort, uasPort, apiPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const ini = join(work, 'bench-sbc.ini');
  writeFileSync(ini, renderBenchIni({
    ...DEFAULT_BENCH_PORTS, uacSidePort: uacSidePort!, uasSidePort: uasSidePort!, uacPort: uacPort!, uasPort: uasPort!, transport: 'udp', apiPort: apiPort!,
    mediaUacStart: 20000, mediaUasStart: 24000,
  }).replace('SbcApiAuthentication = 0', 'SbcApiAuthentication = 1')
    + `\n[ WebUsers ]\nFORMAT Index = Username, Password, UserLevel, SessionTimeout;\nWebUsers 0 = "${USER.username}", "${hashPasswordSync(USER.password)}", 50, 60;\n[ \\WebUsers ]\n`);
  const sbc = spawnManaged('sbc', process.execPath, [join(repoRoot(), 'dist/src/cli/main.js'), 'start', '--config', ini], { cwd: repoRoot() });
  const base = `http://127.0.0.1:${apiPort!}`;
  const uas = startUas({ scenarioFile: join(repoRoot(), 'bench/scenarios/uas-no180.xml'), port: uasPort!, transport: 'udp', timeoutS: 3600, workDir: join(work, 'uas') });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    if (!(await waitApiReady(base, 15_000))) throw new Error(`SBC API did not come up: ${sbc.stderrTail()}`);
    const calls = Math.round(rate * seconds);
    const run = async (label: string, n: number): Promise<{ cpuMsPerCall: number; ok: number; p99: number | null }> => {
      const dir = join(work, `${label}-${n}`);
      mkdirSync(dir, { recursive: true });
      const pids = groupPids(sbc.pid);
      const before = cpuSeconds(pids);
      const uac = startUac({
        target: `127.0.0.1:${uacSidePort!}`, scenarioFile: join(repoRoot(), 'bench/scenarios/uac.xml'), transport: 'udp',
        rate, calls, holdMs: 0, timeoutS: seconds * 4 + 30, workDir: dir,
      });
      await uac.proc.exited;
      const cpu = cpuSeconds(pids) - before;
      const stats = readStats(dir);
      const ok = stats?.successful ?? 0;
      const rtts = readRtts(dir).sort((a, b) => a - b);
      await stopSipp(uac);
      return { cpuMsPerCall: (cpu * 1000) / Math.max(1, ok), ok, p99: percentile(rtts, 99) };
    };
    // Warm-up: JIT and pools, not measured.
    await run('warmup', 0);
    await run('warmup', 1);
    const rows: string[] = [];
    const ctx = await browser.newContext();
    const tab = await ctx.newPage();
    for (let i = 1; i <= rounds; i++) {
      const closed = await run('closed', i);
      await tab.goto(`${base}/console/`);
      await tab.getByLabel('User name').fill(USER.username);
      await tab.getByLabel('Password').fill(USER.password);
      await tab.getByRole('button', { name: 'Log in' }).click();
      await tab.getByTestId('who').waitFor();
      if (page !== 'dashboard') await tab.goto(`${base}/console/#/${page}`);
      const open = await run('open', i);
      await tab.getByRole('button', { name: 'Log out' }).click().catch(() => undefined);
      await tab.goto('about:blank');
      rows.push(`| ${i} | ${closed.cpuMsPerCall.toFixed(3)} (${closed.ok} ok, p99 ${closed.p99 ?? '-'} ms) | ${open.cpuMsPerCall.toFixed(3)} (${open.ok} ok, p99 ${open.p99 ?? '-'} ms) | ${(((open.cpuMsPerCall / closed.cpuMsPerCall) - 1) * 100).toFixed(1)} % |`);
    }
    process.stdout.write([
      `# Console overhead: ${rate} cps x ${seconds} s per run, ${page} open in chromium vs nobody logged in`,
      `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      '',
      '| round | SBC CPU ms per call, console closed | console open | change |',
      '| ---: | ---: | ---: | ---: |',
      ...rows,
      '',
    ].join('\n'));
  } finally {
    await browser.close();
    await stopSipp(uas);
    await stopManaged(sbc, 3000);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
