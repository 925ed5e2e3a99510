/**
 * HTTP bench: autocannon against the SBC's REST API and Prometheus metrics
 * while the SBC carries calls. The SBC is started on its own, a sipp
 * UAC/UAS pair keeps a moderate call load running through it, and each
 * endpoint is loaded in turn inside that window. The SBC's CPU is metered
 * per endpoint and the number of calls it holds is read before and after
 * each run, so a run that outlived the call load says so.
 *
 * autocannon runs in the harness process, on the same cores as the SBC and
 * the sipps: the figures are what this machine does with all three busy.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, sleep, waitAtMost } from './procs.js';
import { GroupMeter } from './procstat.js';
import { fetchStatus } from './sbc-api.js';
import { readStats, startUac, startUas, stopSipp } from './sipp.js';
import { scenarios } from './signalling.js';
import { startTarget, type StartedTarget } from './targets.js';

export const DEFAULT_HTTP_PATHS: readonly string[] = ['/metrics', '/api/v1/status'];

export interface HttpEndpointResult {
  path: string;
  url: string;
  tool: string;
  /** Completed requests. */
  requests: number;
  durationS: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
  /** The SBC's CPU during the run (100 = one core). */
  sbcCpuPercent: number;
  /** Calls the SBC reported in progress right before and right after the run. */
  callsHeldBefore: number | null;
  callsHeldAfter: number | null;
}

export interface HttpCallLoad {
  rate: number;
  holdMs: number;
  offered: number;
  successful: number;
  failed: number;
}

export interface HttpResult {
  ran: boolean;
  reason?: string;
  connections?: number;
  /** Seconds per endpoint, or requests per endpoint when `requests` is set. */
  durationS?: number;
  requestsPerEndpoint?: number;
  load?: HttpCallLoad;
  endpoints: HttpEndpointResult[];
}

export interface HttpBenchOptions {
  paths: readonly string[];
  /** Seconds per endpoint (ignored when `requests` is set). */
  durationS: number;
  /** Fixed number of requests per endpoint instead of a duration (smoke test). */
  requests?: number;
  connections: number;
  /** Background call load: sipp call rate and hold time. */
  callRate: number;
  holdMs: number;
  workDir: string;
  log: (msg: string) => void;
}

interface AutocannonHist {
  p50?: number;
  p99?: number;
  max?: number;
  total?: number;
}
interface AutocannonResult {
  requests?: AutocannonHist;
  latency?: AutocannonHist;
  duration?: number;
  errors?: number;
  timeouts?: number;
  non2xx?: number;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  duration?: number;
  amount?: number;
  /** Per-request timeout, seconds. */
  timeout: number;
}
type AutocannonFn = (opts: AutocannonOptions) => Promise<AutocannonResult>;

async function loadAutocannon(): Promise<AutocannonFn | null> {
  // A variable specifier keeps tsc from wanting type declarations autocannon does not ship.
  const name = 'autocannon';
  try {
    const mod = (await import(name)) as { default?: unknown };
    return typeof mod.default === 'function' ? (mod.default as AutocannonFn) : null;
  } catch {
    return null;
  }
}

interface LoadFigures {
  tool: string;
  requests: number;
  durationS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  non2xx: number;
}

/** Stand-in when autocannon is not installed (npm install --omit=dev): keep-alive fetch loops. */
async function fetchLoop(url: string, connections: number, durationS: number, amount: number | undefined): Promise<LoadFigures> {
  const lat: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let issued = 0;
  const end = performance.now() + durationS * 1000;
  const more = (): boolean => (amount !== undefined ? issued < amount : performance.now() < end);
  const worker = async (): Promise<void> => {
    // Bounded by time or by count; the guard is a backstop.
    for (let guard = 0; guard < 10_000_000 && more(); guard++) {
      issued++;
      const t0 = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status < 200 || res.status > 299) non2xx++;
        lat.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const wall = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))] ?? 0;
  return { tool: 'fetch loop (autocannon not installed)', requests: lat.length, durationS: wall, p50Ms: pct(50), p99Ms: pct(99), maxMs: lat[lat.length - 1] ?? 0, errors, non2xx };
}

async function loadOnce(ac: AutocannonFn | null, url: string, o: HttpBenchOptions): Promise<LoadFigures> {
  const connections = o.requests !== undefined ? Math.max(1, Math.min(o.connections, o.requests)) : o.connections;
  if (ac === null) return fetchLoop(url, connections, o.durationS, o.requests);
  const r = await ac({
    url,
    connections,
    timeout: 10,
    ...(o.requests !== undefined ? { amount: o.requests } : { duration: o.durationS }),
  });
  return {
    tool: 'autocannon',
    requests: r.requests?.total ?? 0,
    durationS: r.duration ?? 0,
    p50Ms: r.latency?.p50 ?? 0,
    p99Ms: r.latency?.p99 ?? 0,
    maxMs: r.latency?.max ?? 0,
    errors: (r.errors ?? 0) + (r.timeouts ?? 0),
    non2xx: r.non2xx ?? 0,
  };
}

/** Rejects anything but an absolute path on the SBC's own API (the bench only talks to loopback). */
export function checkHttpPath(path: string): string | null {
  if (!path.startsWith('/') || path.startsWith('//') || /\s/.test(path)) return `bad HTTP path ${JSON.stringify(path)}: expected an absolute path such as /metrics`;
  return null;
}

/**
 * Starts the SBC, runs the call load and loads every path in turn.
 * Stops everything it started before returning, also on failure.
 */
export async function runHttpBench(o: HttpBenchOptions): Promise<HttpResult> {
  for (const p of o.paths) {
    const bad = checkHttpPath(p);
    if (bad !== null) return { ran: false, reason: bad, endpoints: [] };
  }
  if (o.paths.length === 0) return { ran: false, reason: 'no HTTP paths given', endpoints: [] };
  const ac = await loadAutocannon();
  const sc = scenarios()['udp-basic'];
  const uasPort = await freePort();
  const started = await startTarget('sbc', { transport: 'udp', uasPort, workDir: join(o.workDir, 'sbc-target') });
  if (!started.ok) return { ran: false, reason: `SBC not available: ${started.reason}`, endpoints: [] };
  const sbc: StartedTarget = started.target;
  const endpoints: HttpEndpointResult[] = [];
  const base = {
    connections: o.connections,
    ...(o.requests !== undefined ? { requestsPerEndpoint: o.requests } : { durationS: o.durationS }),
  };
  try {
    const apiUrl = sbc.apiUrl;
    if (apiUrl === null) return { ran: false, reason: sbc.apiNote, endpoints: [] };
    // The call load spans the warm-up and every endpoint's run; a fixed request count has no
    // known duration, so it gets a short window and the calls-held readings tell if it sufficed.
    const perEndpointS = o.requests !== undefined ? 3 : o.durationS + 1;
    const warmupS = Math.max(1, Math.min(3, o.holdMs / 1000));
    const windowS = warmupS + perEndpointS * o.paths.length;
    const calls = Math.max(1, Math.ceil(o.callRate * windowS));
    const timeoutS = Math.ceil(windowS + o.holdMs / 1000 + 20);
    const dir = join(o.workDir, 'load');
    const uas = startUas({ scenarioFile: sc.uasXml, transport: 'udp', port: uasPort, calls, timeoutS: timeoutS + 10, workDir: join(dir, 'uas') });
    await sleep(300);
    const uac = startUac({
      scenarioFile: sc.uacXml, transport: 'udp', target: sbc.sipAddress, rate: o.callRate, calls, holdMs: o.holdMs, timeoutS, workDir: join(dir, 'uac'),
    });
    try {
      // Let the held calls build up before measuring.
      await sleep(warmupS * 1000);
      for (const path of o.paths) {
        const url = `${apiUrl}${path}`;
        const before = (await fetchStatus(apiUrl, false))?.activeCalls ?? null;
        const meter = new GroupMeter(sbc.pgid);
        meter.start(500);
        let fig: LoadFigures;
        let cpu = 0;
        try {
          fig = await loadOnce(ac, url, o);
        } finally {
          // Stopped on failure too, or its interval would keep sampling.
          cpu = meter.stop().cpuPercent;
        }
        const after = (await fetchStatus(apiUrl, false))?.activeCalls ?? null;
        const ep: HttpEndpointResult = {
          path,
          url,
          ...fig,
          requestsPerSecond: fig.durationS > 0 ? fig.requests / fig.durationS : 0,
          sbcCpuPercent: cpu,
          callsHeldBefore: before,
          callsHeldAfter: after,
        };
        endpoints.push(ep);
        o.log(
          `http ${path}: ${ep.requestsPerSecond.toFixed(0)} req/s, p50 ${ep.p50Ms} ms p99 ${ep.p99Ms} ms, ${ep.requests} requests, ` +
            `${ep.errors} errors, ${ep.non2xx} non-2xx, SBC cpu ${cpu.toFixed(0)}%, calls held ${before ?? '?'} -> ${after ?? '?'} (${fig.tool})`,
        );
      }
    } finally {
      await waitAtMost(uac.proc.exited, (windowS + o.holdMs / 1000 + 15) * 1000);
      await stopSipp(uac, 500);
      await waitAtMost(uas.proc.exited, 1500);
      await stopSipp(uas, 1000);
    }
    const st = readStats(uac.workDir);
    const successful = st?.successful ?? 0;
    const load: HttpCallLoad = { rate: o.callRate, holdMs: o.holdMs, offered: calls, successful, failed: Math.max(0, calls - successful) };
    o.log(`http call load: ${successful}/${calls} calls ok at ${o.callRate} cps, ${o.holdMs} ms hold`);
    return { ran: true, ...base, load, endpoints };
  } catch (e) {
    return { ran: false, reason: `HTTP bench failed: ${(e as Error).message}`, ...base, endpoints };
  } finally {
    await sbc.stop();
  }
}
