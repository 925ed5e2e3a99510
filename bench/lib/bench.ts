/**
 * The whole bench run: signalling scenarios, concurrent calls, media, HTTP,
 * then the JSON, Markdown and PNG outputs. Every phase has a share of one
 * time budget, and every process started is stopped before this returns
 * (and by the exit handlers if it never does).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installCleanupHandlers, killAllSync, repoRoot } from './procs.js';
import { runConcurrent, runSignallingScenario, scenarios, DEFAULT_SETUP_SLO_MS, MAX_FAILED_RATIO, MAX_RETRANS_RATIO, MAX_WALL_FACTOR, type ConcurrentResult, type ScenarioId, type ScenarioResult } from './signalling.js';
import { DEFAULT_MEDIA_ENGINES } from './media-engines.js';
import { runMediaBench, LATENCY_P99_LIMIT_MS, LATE_RATIO_LIMIT, LOSS_RATIO_LIMIT, type MediaEngineName, type MediaEngineResult } from './media.js';
import { runHttpBench, DEFAULT_HTTP_PATHS, type HttpResult } from './http.js';
import { failureChart, markdownSummary, type BenchReport } from './report.js';
import type { TargetName } from './targets.js';

const execFileP = promisify(execFile);

export interface BenchOptions {
  quick: boolean;
  targets: TargetName[];
  scenarios: ScenarioId[];
  rates: number[];
  callsPerStep: number;
  /** Unmeasured calls per target before the CPS ladder (signalling.ts). */
  warmupCalls: number;
  /** Minimum duration of a rate step (more calls at high rates). */
  minStepSeconds: number;
  refine: boolean;
  /** p99 INVITE -> 200 setup SLO for a clean step, ms. */
  setupSloMs?: number;
  /** The ladder doubles up to this rate while a target has not failed. */
  maxRate?: number;
  concurrentLevels: number[];
  concurrentRate: number;
  mediaEngines: MediaEngineName[];
  mediaSessions: number[];
  mediaDurationMs: number;
  mediaWarmupMs: number;
  /** Past the listed session counts, double up to this many while a relay is still clean (0 = no). */
  mediaExtendToSessions: number;
  /** Bisecting steps between each engine's last clean and first failing session count. */
  mediaRefineSteps: number;
  /** REST/metrics paths loaded by the HTTP bench; empty skips it. */
  httpPaths: string[];
  /** Overrides where the SBC's heap is read (default: its own /api/v1/status?gc=1). */
  heapUrl?: string;
  httpDurationS: number;
  /** Fixed number of requests per path instead of httpDurationS (smoke test). */
  httpRequests?: number;
  httpConnections: number;
  /** Background call load during the HTTP bench. */
  httpCallRate: number;
  httpHoldMs: number;
  /** Where bench.json, summary.md and failures.png go. */
  outDir: string;
  /** Total wall-clock budget in seconds. */
  budgetS: number;
  keepWorkDir: boolean;
  log: (msg: string) => void;
}

export function defaultOptions(quick: boolean): BenchOptions {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    quick,
    targets: ['sbc', 'kamailio'],
    scenarios: ['udp-basic', 'tcp-basic', 'udp-media-anchor'],
    rates: quick ? [100, 200, 400, 800, 1600] : [100, 200, 400, 800, 1600, 3200],
    callsPerStep: quick ? 300 : 1000,
    warmupCalls: quick ? 1000 : 3000,
    minStepSeconds: quick ? 3 : 5,
    refine: !quick,
    // Up to 100,000 held calls (issue 15: 100k calls in < 2 GiB); signalling only, as in udp-basic.
    concurrentLevels: quick ? [200, 500] : [10_000, 50_000, 100_000],
    // Well inside the SBC's clean rate on a small shared machine: this phase measures memory, not
    // rate. At 1,000/s on a 2-core VM at load 5-7 the SBC fell behind from ~55,000 held calls (GC of
    // a growing heap on top of the setups); 100,000 calls ramp in 200 s at 500/s.
    concurrentRate: quick ? 100 : 500,
    mediaEngines: [...DEFAULT_MEDIA_ENGINES],
    mediaSessions: quick ? [50, 100, 200, 400] : [50, 100, 200, 400, 800, 1600],
    mediaDurationMs: quick ? 2000 : 5000,
    mediaWarmupMs: quick ? 500 : 1000,
    // Issue 15: the ladder goes on until the relays fail. 3200 sessions = 320k pps; the SRTP chains
    // need 8 relay ports and descriptors per session, so they may hit the port range first (an error, not a ceiling).
    mediaExtendToSessions: quick ? 1600 : 3200,
    mediaRefineSteps: quick ? 1 : 2,
    httpPaths: [...DEFAULT_HTTP_PATHS],
    httpDurationS: quick ? 5 : 10,
    httpConnections: 10,
    // Moderate: well inside either target's clean rate, so the calls are steady background work.
    httpCallRate: quick ? 50 : 100,
    httpHoldMs: 3000,
    outDir: join(repoRoot(), 'bench', 'results', stamp),
    // The full run's held-calls ladder (10k, 50k, 100k at 500/s, both targets) alone takes about
    // 28 minutes, and the media ladder (eight engines until each fails) about 12: an hour in all.
    budgetS: quick ? 360 : 3600,
    keepWorkDir: false,
    log: (m) => console.log(m),
  };
}

async function version(cmd: string, args: string[]): Promise<string> {
  let text: string;
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { timeout: 5000 });
    text = `${stdout}\n${stderr}`;
  } catch (e) {
    // sipp -v exits non-zero but still prints its version.
    const err = e as { stdout?: string; stderr?: string };
    text = `${err.stdout ?? ''}\n${err.stderr ?? ''}`;
  }
  const line = text.split('\n').map((l) => l.trim()).find((l) => /\d+\.\d+/.test(l));
  if (line === undefined) return 'not found';
  return /v?(\d+\.\d+[\w.+~-]*)/.exec(line)?.[1] ?? line.slice(0, 40);
}

export interface BenchOutput {
  report: BenchReport;
  jsonPath: string;
  markdownPath: string;
  pngPath: string;
  markdown: string;
}

export async function runBench(o: BenchOptions): Promise<BenchOutput> {
  installCleanupHandlers();
  const started = Date.now();
  const budgetEnd = started + o.budgetS * 1000;
  // Phase deadlines: a phase that overruns its share cannot starve the next one.
  const share = (frac: number): number => started + o.budgetS * 1000 * frac;
  const work = mkdtempSync(join(tmpdir(), 'sbc-bench-'));
  const notes: string[] = [];
  const signalling: ScenarioResult[] = [];
  let concurrent: ConcurrentResult[] = [];
  let media: MediaEngineResult[] = [];
  let http: HttpResult = { ran: false, reason: 'not run', endpoints: [] };
  const all = scenarios();
  try {
    const wantSignalling = o.scenarios.length > 0 && o.targets.length > 0;
    for (const [i, id] of o.scenarios.entries()) {
      const sc = all[id];
      o.log(`== signalling: ${sc.title}`);
      signalling.push(
        await runSignallingScenario({
          scenario: sc,
          targets: o.targets,
          rates: o.rates,
          callsPerStep: o.callsPerStep,
          minStepSeconds: o.minStepSeconds,
          refine: o.refine,
          warmupCalls: o.warmupCalls,
          ...(o.setupSloMs !== undefined ? { setupSloMs: o.setupSloMs } : {}),
          ...(o.maxRate !== undefined ? { maxRate: o.maxRate } : {}),
          workDir: join(work, id),
          log: o.log,
          deadline: share(wantSignalling ? 0.5 * ((i + 1) / o.scenarios.length) : 0),
          ...(o.heapUrl !== undefined ? { heapUrl: o.heapUrl } : {}),
        }),
      );
    }
    if (o.concurrentLevels.length > 0 && o.targets.length > 0) {
      o.log('== concurrent calls');
      concurrent = await runConcurrent({
        targets: o.targets,
        levels: o.concurrentLevels,
        rate: o.concurrentRate,
        workDir: join(work, 'concurrent'),
        log: o.log,
        deadline: share(0.75),
        ...(o.heapUrl !== undefined ? { heapUrl: o.heapUrl } : {}),
      });
    }
    if (o.httpPaths.length === 0) {
      http = { ran: false, reason: 'skipped (--http none)', endpoints: [] };
    } else if (!o.targets.includes('sbc')) {
      http = { ran: false, reason: 'skipped: the SBC is not among the targets', endpoints: [] };
    } else if (Date.now() > share(0.85)) {
      http = { ran: false, reason: 'time budget used up', endpoints: [] };
    } else {
      o.log('== http');
      http = await runHttpBench({
        paths: o.httpPaths,
        durationS: o.httpDurationS,
        ...(o.httpRequests !== undefined ? { requests: o.httpRequests } : {}),
        connections: o.httpConnections,
        callRate: o.httpCallRate,
        holdMs: o.httpHoldMs,
        workDir: join(work, 'http'),
        log: o.log,
      });
    }
    if (!http.ran) o.log(`http: ${http.reason}`);
    if (o.mediaEngines.length > 0 && o.mediaSessions.length > 0) {
      o.log('== media');
      media = await runMediaBench({
        engines: o.mediaEngines,
        sessionSteps: o.mediaSessions,
        durationMs: o.mediaDurationMs,
        warmupMs: o.mediaWarmupMs,
        workDir: join(work, 'media'),
        log: o.log,
        deadline: share(0.95),
        extendToSessions: o.mediaExtendToSessions,
        refineSteps: o.mediaRefineSteps,
      });
    }
  } catch (e) {
    notes.push(`bench aborted: ${(e as Error).stack ?? String(e)}`);
    o.log(`bench aborted: ${(e as Error).message}`);
  } finally {
    killAllSync();
    if (!o.keepWorkDir) rmSync(work, { recursive: true, force: true });
    else notes.push(`work directory kept: ${work}`);
  }
  if (Date.now() > budgetEnd) notes.push(`time budget of ${o.budgetS} s exceeded; later steps were skipped`);
  const report: BenchReport = {
    tool: 'sbc-bench',
    version: 1,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    wallSeconds: (Date.now() - started) / 1000,
    quick: o.quick,
    host: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '?',
      node: process.version,
      loadAverage: loadavg(),
      versions: {
        sipp: await version('sipp', ['-v']),
        kamailio: await version('/usr/sbin/kamailio', ['-v']),
        rtpengine: await version('/usr/bin/rtpengine', ['--version']),
      },
    },
    criteria: {
      maxFailedRatio: MAX_FAILED_RATIO,
      maxRetransRatio: MAX_RETRANS_RATIO,
      setupSloMs: o.setupSloMs ?? DEFAULT_SETUP_SLO_MS,
      maxWallFactor: MAX_WALL_FACTOR,
      mediaP99Ms: LATENCY_P99_LIMIT_MS,
      mediaLateRatio: LATE_RATIO_LIMIT,
      mediaLossRatio: LOSS_RATIO_LIMIT,
      warmupCalls: o.warmupCalls,
      sbcThreads: process.env['SBC_SIP_WORKERS'] ?? 'one per core (SIPWorkerThreads = 0 in bench-sbc.ini)',
    },
    signalling,
    concurrent,
    media,
    http,
    notes,
  };
  mkdirSync(o.outDir, { recursive: true });
  const jsonPath = join(o.outDir, 'bench.json');
  const markdownPath = join(o.outDir, 'summary.md');
  const pngPath = join(o.outDir, 'failures.png');
  const markdown = markdownSummary(report);
  writeFileSync(jsonPath, JSON.stringify(report, null, 2));
  writeFileSync(markdownPath, markdown);
  writeFileSync(pngPath, failureChart(report));
  return { report, jsonPath, markdownPath, pngPath, markdown };
}

/** Copies a run's outputs to bench/results/latest.* for convenience. */
export function publishLatest(out: BenchOutput, resultsDir: string): void {
  mkdirSync(resultsDir, { recursive: true });
  copyFileSync(out.jsonPath, join(resultsDir, 'latest.json'));
  copyFileSync(out.markdownPath, join(resultsDir, 'latest.md'));
  copyFileSync(out.pngPath, join(resultsDir, 'latest.png'));
}
