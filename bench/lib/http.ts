/**
 * HTTP bench of the SBC's REST/metrics endpoint. The SBC has no HTTP API yet,
 * so this runs only when a URL is given. autocannon is used when installed;
 * otherwise a small keep-alive loop on fetch() stands in (clearly labelled).
 */
import { performance } from 'node:perf_hooks';

export interface HttpResult {
  ran: boolean;
  reason?: string;
  url?: string;
  tool?: string;
  requestsPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  errors?: number;
}

interface AutocannonLatency {
  p50?: number;
  p99?: number;
}
interface AutocannonResult {
  requests?: { average?: number };
  latency?: AutocannonLatency;
  errors?: number;
  non2xx?: number;
}
type AutocannonFn = (opts: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;

async function loadAutocannon(): Promise<AutocannonFn | null> {
  const name = 'autocannon';
  try {
    const mod = (await import(name)) as { default?: unknown };
    return typeof mod.default === 'function' ? (mod.default as AutocannonFn) : null;
  } catch {
    return null;
  }
}

async function builtinLoad(url: string, connections: number, durationS: number): Promise<HttpResult> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + durationS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (!res.ok) errors++;
      } catch {
        errors++;
      }
      lat.push(performance.now() - t0);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const wall = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))] ?? 0;
  return { ran: true, url, tool: 'built-in fetch loop (autocannon not installed)', requestsPerSecond: lat.length / wall, p50Ms: pct(50), p99Ms: pct(99), errors };
}

export async function runHttpBench(url: string | undefined, durationS: number, connections = 10): Promise<HttpResult> {
  if (url === undefined || url === '') {
    return { ran: false, reason: 'the SBC exposes no REST/metrics endpoint yet; pass --http-url URL to load one (e.g. http://127.0.0.1:8080/metrics while calls run)' };
  }
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(url)) {
    return { ran: false, reason: `refusing ${url}: the bench only talks to loopback` };
  }
  const ac = await loadAutocannon();
  if (ac === null) return builtinLoad(url, connections, durationS);
  const r = await ac({ url, connections, duration: durationS });
  return {
    ran: true,
    url,
    tool: 'autocannon',
    requestsPerSecond: r.requests?.average ?? 0,
    p50Ms: r.latency?.p50 ?? 0,
    p99Ms: r.latency?.p99 ?? 0,
    errors: (r.errors ?? 0) + (r.non2xx ?? 0),
  };
}
