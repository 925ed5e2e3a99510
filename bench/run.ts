/**
 * `npm run bench` (node dist/bench/run.js): the SBC side by side with
 * Kamailio (signalling) and rtpengine (media). See docs/bench.md.
 */
import { join } from 'node:path';
import { defaultOptions, publishLatest, runBench, type BenchOptions } from './lib/bench.js';
import { repoRoot } from './lib/procs.js';
import type { ScenarioId } from './lib/signalling.js';
import { MEDIA_ENGINE_NAMES, type MediaEngineName } from './lib/media-engines.js';
import type { TargetName } from './lib/targets.js';

const USAGE = `usage: node dist/bench/run.js [options]
  --quick                   smaller ladder, short media runs (about 5 minutes)
  --targets LIST            sbc,kamailio (default both)
  --scenarios LIST          udp-basic,tcp-basic,udp-media-anchor,udp-hold30
  --hold30                  add the 30 s hold scenario (slow)
  --rates LIST              call rates to step through, e.g. 100,200,400 (then doubled until every target fails)
  --slo-ms N                p99 INVITE -> 200 setup SLO of a clean step (default 50)
  --max-rate N              highest rate the doubling goes to (default 25600)
  --calls N                 calls per step (at least)
  --warmup N                unmeasured calls per target before the CPS ladder (default 1000 quick, 3000 full)
  --min-step S              minimum seconds per step: calls = max(N, rate x S)
  --no-refine               do not bisect between the last clean and first failing rate
  --concurrent LIST         concurrent-call levels, e.g. 500,1000 ("none" to skip)
  --concurrent-rate N       call rate used to ramp the concurrent calls
  --media LIST              direct,rtpengine,rtpengine-srtp,sbc-native,sbc-native-mt,
                            sbc-native-srtp,sbc-native-srtp-mt,sbc-js (default all; "none" to skip)
  --media-sessions LIST     relayed session counts (2 streams each)
  --media-duration MS       measured time per media step
  --media-max-sessions N    past the listed counts, double up to N sessions while a relay
                            is still clean (default 1600 quick, 3200 full; 0 = no)
  --media-refine N          bisecting steps between an engine's last clean and first
                            failing count (default 1 quick, 2 full)
  --no-signalling           skip the signalling scenarios
  --http LIST               SBC API paths loaded by autocannon while calls run
                            (default /metrics,/api/v1/status; "none" to skip)
  --http-duration S         seconds per path
  --http-connections N      autocannon connections
  --http-call-rate N        call rate of the sipp load during the HTTP bench
  --heap-url URL            read the SBC's JS heap here instead of its /api/v1/status?gc=1
                            (JSON heapUsed or Prometheus nodejs_heap_size_used_bytes)
  --budget S                total time budget in seconds
  --out DIR                 output directory (default bench/results/<timestamp>)
  --keep                    keep the temp work directory (sipp logs, configs)`;

function list(v: string): string[] {
  return v === 'none' ? [] : v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function nums(v: string, flag: string): number[] {
  const out = list(v).map(Number);
  if (out.some((n) => !Number.isFinite(n) || n <= 0)) throw new Error(`${flag}: expected positive numbers, got ${v}`);
  return out;
}

function wholeNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected a whole number >= 0, got ${v}`);
  return n;
}

function oneOf<T extends string>(values: string[], allowed: readonly T[], flag: string): T[] {
  for (const v of values) if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag}: unknown ${v} (known: ${allowed.join(', ')})`);
  return values as T[];
}

function parseArgs(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const o = defaultOptions(quick);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--quick': break;
      case '--targets': o.targets = oneOf<TargetName>(list(val()), ['sbc', 'kamailio'], a); break;
      case '--scenarios': o.scenarios = oneOf<ScenarioId>(list(val()), ['udp-basic', 'tcp-basic', 'udp-media-anchor', 'udp-hold30'], a); break;
      case '--hold30': if (!o.scenarios.includes('udp-hold30')) o.scenarios.push('udp-hold30'); break;
      case '--rates': o.rates = nums(val(), a); break;
      case '--slo-ms': o.setupSloMs = nums(val(), a)[0]!; break;
      case '--max-rate': o.maxRate = nums(val(), a)[0]!; break;
      case '--calls': o.callsPerStep = nums(val(), a)[0] ?? o.callsPerStep; break;
      case '--warmup': {
        const n = Number(val());
        if (!Number.isInteger(n) || n < 0) throw new Error(`--warmup: expected a whole number of calls, got ${n}`);
        o.warmupCalls = n;
        break;
      }
      case '--min-step': o.minStepSeconds = Number(val()); if (!(o.minStepSeconds >= 0)) throw new Error('--min-step: expected seconds >= 0'); break;
      case '--no-refine': o.refine = false; break;
      case '--concurrent': o.concurrentLevels = nums(val(), a); break;
      case '--concurrent-rate': o.concurrentRate = nums(val(), a)[0] ?? o.concurrentRate; break;
      case '--media': o.mediaEngines = oneOf<MediaEngineName>(list(val()), MEDIA_ENGINE_NAMES, a); break;
      case '--media-sessions': o.mediaSessions = nums(val(), a).map(Math.round); break;
      case '--media-max-sessions': o.mediaExtendToSessions = wholeNumber(val(), a); break;
      case '--media-refine': o.mediaRefineSteps = wholeNumber(val(), a); break;
      case '--media-duration': o.mediaDurationMs = nums(val(), a)[0] ?? o.mediaDurationMs; break;
      case '--no-signalling': o.scenarios = []; break;
      case '--http': o.httpPaths = list(val()); break;
      case '--http-duration': o.httpDurationS = nums(val(), a)[0] ?? o.httpDurationS; break;
      case '--http-connections': o.httpConnections = Math.round(nums(val(), a)[0] ?? o.httpConnections); break;
      case '--http-call-rate': o.httpCallRate = nums(val(), a)[0] ?? o.httpCallRate; break;
      case '--heap-url': o.heapUrl = val(); break;
      case '--budget': o.budgetS = nums(val(), a)[0] ?? o.budgetS; break;
      case '--out': o.outDir = val(); break;
      case '--keep': o.keepWorkDir = true; break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const out = await runBench(opts);
  const resultsDir = join(repoRoot(), 'bench', 'results');
  if (out.jsonPath.startsWith(resultsDir)) publishLatest(out, resultsDir);
  console.log('');
  console.log(out.markdown);
  console.log(`results: ${out.jsonPath}\n         ${out.markdownPath}\n         ${out.pngPath}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
