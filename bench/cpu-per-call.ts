/**
 * A/B of the SBC's CPU per call at a fixed rate: two variants of the bench
 * SBC (node flags and/or another build's main.js) carry the same sipp load
 * in alternating rounds, each after its own warm-up, and the SBC's CPU time
 * per completed call and the sipp UAC's setup p50/p99 are printed per round.
 * On a shared machine one pair proves nothing: use several rounds.
 *
 *   node dist/bench/cpu-per-call.js [--rate 600] [--seconds 10] [--rounds 4]
 *     [--a-flags "--max-semi-space-size=16"] [--b-flags "..."] [--a-main PATH] [--b-main PATH]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot, spawnManaged, stopManaged, type ManagedProcess } from './lib/procs.js';
import { renderBenchIni, DEFAULT_BENCH_PORTS } from './lib/sbc-ini.js';
import { waitApiReady } from './lib/sbc-api.js';
import { cpuSeconds, groupPids } from './lib/procstat.js';
import { percentile, readRtts, readStats, startUac, startUas, stopSipp } from './lib/sipp.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

interface Variant {
  label: string;
  flags: string[];
  main: string;
}

interface RoundResult {
  cpuMsPerCall: number;
  ok: number;
  p50: number | null;
  p99: number | null;
}

async function main(): Promise<void> {
  const rate = Number(arg('rate', '600'));
  const seconds = Number(arg('seconds', '10'));
  const rounds = Number(arg('rounds', '4'));
  const defaultMain = join(repoRoot(), 'dist/src/cli/main.js');
  const split = (s: string): string[] => s.split(' ').filter((x) => x !== '');
  const variants: Variant[] = ['a', 'b'].map((v) => ({
    label: v.toUpperCase(),
    flags: split(arg(`${v}-flags`, '')),
    main: arg(`${v}-main`, defaultMain),
  }));
  const work = await mkdtemp(join(tmpdir(), 'sbc-cpu-per-call-'));
  const run = async (v: Variant, round: number, calls: number): Promise<RoundResult> => {
    const [uacSidePort, uasSidePort, uacPort, uasPort, apiPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const dir = join(work, `${v.label}-${round}`);
    mkdirSync(dir, { recursive: true });
    const ini = join(dir, 'bench-sbc.ini');
    writeFileSync(ini, renderBenchIni({
      ...DEFAULT_BENCH_PORTS, uacSidePort: uacSidePort!, uasSidePort: uasSidePort!, uacPort: uacPort!, uasPort: uasPort!, transport: 'udp', apiPort: apiPort!,
      mediaUacStart: 20000, mediaUasStart: 24000,
    }));
    const sbc: ManagedProcess = spawnManaged('sbc', process.execPath, [...v.flags, v.main, 'start', '--config', ini], {
      cwd: repoRoot(), env: { ...process.env, SBC_LOG_LEVEL: 'warn' },
    });
    const uas = startUas({ scenarioFile: join(repoRoot(), 'bench/scenarios/uas-no180.xml'), port: uasPort!, transport: 'udp', timeoutS: 600, workDir: join(dir, 'uas') });
    try {
      if (!(await waitApiReady(`http://127.0.0.1:${apiPort!}`, 20_000))) throw new Error(`SBC ${v.label} did not come up: ${sbc.stderrTail()}`);
      const leg = async (name: string, n: number): Promise<RoundResult> => {
        const ldir = join(dir, name);
        mkdirSync(ldir, { recursive: true });
        const pids = groupPids(sbc.pid);
        const before = cpuSeconds(pids);
        const uac = startUac({
          target: `127.0.0.1:${uacSidePort!}`, scenarioFile: join(repoRoot(), 'bench/scenarios/uac.xml'), transport: 'udp',
          rate, calls: n, holdMs: 0, timeoutS: Math.ceil(n / rate) * 4 + 30, workDir: ldir,
        });
        await uac.proc.exited;
        const cpu = cpuSeconds(groupPids(sbc.pid)) - before;
        const ok = readStats(ldir)?.successful ?? 0;
        const rtts = readRtts(ldir).sort((x, y) => x - y);
        await stopSipp(uac);
        return { cpuMsPerCall: (cpu * 1000) / Math.max(1, ok), ok, p50: percentile(rtts, 50), p99: percentile(rtts, 99) };
      };
      await leg('warmup', Math.max(1000, Math.round(rate * 3)));
      return await leg('measured', calls);
    } finally {
      await stopSipp(uas);
      await stopManaged(sbc, 3000);
    }
  };
  const calls = Math.round(rate * seconds);
  const rows: string[] = [];
  const sums = [0, 0];
  for (let i = 1; i <= rounds; i++) {
    // Alternate which variant goes first, so drift in the machine's load does not favour one.
    const order = i % 2 === 1 ? [0, 1] : [1, 0];
    const res: RoundResult[] = [];
    for (const k of order) res[k] = await run(variants[k]!, i, calls);
    sums[0]! += res[0]!.cpuMsPerCall;
    sums[1]! += res[1]!.cpuMsPerCall;
    const cell = (r: RoundResult): string => `${r.cpuMsPerCall.toFixed(3)} (${r.ok} ok, p50 ${r.p50 ?? '-'} / p99 ${r.p99 ?? '-'} ms)`;
    rows.push(`| ${i} | ${cell(res[0]!)} | ${cell(res[1]!)} | ${(((res[1]!.cpuMsPerCall / res[0]!.cpuMsPerCall) - 1) * 100).toFixed(1)} % |`);
    process.stderr.write(`${rows[rows.length - 1]!}\n`);
  }
  process.stdout.write([
    `# SBC CPU per call at ${rate} cps x ${seconds} s, ${rounds} alternating rounds (after ${Math.max(1000, rate * 3)} warm-up calls each)`,
    `A: ${variants[0]!.flags.join(' ') || '(no flags)'} ${variants[0]!.main}`,
    `B: ${variants[1]!.flags.join(' ') || '(no flags)'} ${variants[1]!.main}`,
    `load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '',
    '| round | A: CPU ms per call | B: CPU ms per call | B vs A |',
    '| ---: | ---: | ---: | ---: |',
    ...rows,
    `| mean | ${(sums[0]! / rounds).toFixed(3)} | ${(sums[1]! / rounds).toFixed(3)} | ${((sums[1]! / sums[0]! - 1) * 100).toFixed(1)} % |`,
    '',
  ].join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
