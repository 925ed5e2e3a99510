/**
 * Media bench: N relayed sessions (2 G.711 streams each, 50 pps per stream)
 * through each engine, generated and checked by bench/native/rtpgen.c.
 * Capacity is the largest session count whose p99 added latency is <= 10 ms
 * with < 0.1% of packets over 20 ms and < 0.1% loss: on loopback an
 * overloaded relay queues (socket buffers hold seconds of audio) long before
 * it drops.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GroupMeter } from './procstat.js';
import { repoRoot, sleep, spawnManaged, stopManaged } from './procs.js';
import { startRtpengine } from './rtpengine.js';
import { mediaEngineSpec, type MediaEngineName } from './media-engines.js';
import { extendedSteps, refineMidpoint } from './media-ladder.js';
import { startSbcRelay, type RelayUnderTest, type SrtpLegTotals } from './sbc-relay.js';

const execFileP = promisify(execFile);

export type { MediaEngineName } from './media-engines.js';

export interface RtpgenResult {
  sessions: number;
  streams: number;
  durationMs: number;
  sent: number;
  received: number;
  lost: number;
  late20: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  misrouted: number;
  bad: number;
  sendErrors: number;
  silentStreams: number;
  generatorMaxLagUs: number;
}

export interface MediaStep {
  engine: MediaEngineName;
  sessions: number;
  streams: number;
  /** Packets per second offered to the relay (all streams). */
  offeredPps: number;
  /** Packets per second that came back out of the relay. */
  relayedPps: number;
  sent: number;
  received: number;
  lossRatio: number;
  late20Ratio: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Relay CPU, 100 = one core; null for 'direct'. */
  cpuPercent: number | null;
  cpuPer10kPps: number | null;
  generatorCpuPercent: number;
  generatorMaxLagMs: number;
  /** The SBC relay's SRTP legs (the inner legs of the -srtp chain) at the end of the step. */
  srtpLegs?: SrtpLegTotals;
  clean: boolean;
  /** Why the step is not clean, or a generator warning. */
  note: string;
}

export interface MediaEngineResult {
  engine: MediaEngineName;
  available: boolean;
  reason?: string;
  /** What the SBC factory actually returned ('native' may fall back to 'js'). */
  kind?: string;
  /** Relay threads (native engines in the relay child, rtpengine --num-threads); absent for direct. */
  threads?: number;
  /** Streams crossed the SRTP<->RTP chain (two relay sessions, SRTP between them). */
  srtp?: boolean;
  steps: MediaStep[];
  maxCleanSessions: number | null;
  maxCleanPps: number | null;
  cpuPer10kPpsAtMax: number | null;
  p99MsAtMax: number | null;
}

export const LATENCY_P99_LIMIT_MS = 10;
export const LATE_RATIO_LIMIT = 0.001;
export const LOSS_RATIO_LIMIT = 0.001;

/** Compiles rtpgen.c into buildDir (skipped when the binary is newer than the source). */
export async function buildRtpgen(buildDir: string): Promise<string> {
  const src = join(repoRoot(), 'bench', 'native', 'rtpgen.c');
  const bin = join(buildDir, 'rtpgen');
  mkdirSync(buildDir, { recursive: true });
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  await execFileP('cc', ['-O2', '-Wall', '-pthread', '-o', bin, src], { timeout: 60_000 });
  return bin;
}

function directRelay(): RelayUnderTest {
  return {
    pgid: null,
    allocate: async (g) => g.map((_, i) => g[i ^ 1]!),
    release: async () => null,
    stop: async () => {},
  };
}

/** Runs rtpgen once against a relay. */
async function runGenerator(
  bin: string,
  relay: RelayUnderTest,
  sessions: number,
  durationMs: number,
  warmupMs: number,
  workDir: string,
): Promise<{ result: RtpgenResult; relayCpu: number | null; genCpu: number; srtp: SrtpLegTotals | null }> {
  let buf = '';
  let released = false;
  let onLine: ((l: string) => void) | null = null;
  const gen = spawnManaged('rtpgen', bin, ['-n', String(sessions), '-d', String(durationMs), '-w', String(warmupMs), '-r', '300'], {
    stdin: 'pipe',
    cwd: workDir,
    tailBytes: 256 * 1024,
    onStdout: (c) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        onLine?.(line);
      }
    },
  });
  const lines: string[] = [];
  const nextLine = (prefix: string, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found !== undefined) return resolve(found);
      const t = setTimeout(() => reject(new Error(`rtpgen: no ${prefix} line within ${timeoutMs} ms; ${gen.stderrTail().slice(-300)}`)), timeoutMs);
      void gen.exited.then(() => {
        setTimeout(() => {
          clearTimeout(t);
          const f = lines.find((l) => l.startsWith(prefix));
          if (f !== undefined) resolve(f);
          else reject(new Error(`rtpgen exited: ${gen.stderrTail().slice(-300)}`));
        }, 50);
      });
      onLine = (l) => {
        lines.push(l);
        if (l.startsWith(prefix)) {
          clearTimeout(t);
          resolve(l);
        }
      };
    });
  try {
    const portsLine = await nextLine('PORTS', 10_000);
    const genPorts = portsLine.split(' ').slice(1).map(Number);
    if (genPorts.length !== 2 * sessions || genPorts.some((p) => !Number.isInteger(p) || p <= 0)) {
      throw new Error(`rtpgen: bad PORTS line (${genPorts.length} ports)`);
    }
    const targets = await relay.allocate(genPorts);
    const relayMeter = relay.pgid === null ? null : new GroupMeter(relay.pgid);
    const genMeter = new GroupMeter(gen.pid);
    gen.child.stdin?.write(`TARGETS ${targets.join(' ')}\n`);
    // Measure CPU over the counted window only (after warm-up, before drain).
    await sleep(warmupMs + 5);
    relayMeter?.start(1000);
    genMeter.start(1000);
    await sleep(durationMs);
    const relayCpu = relayMeter?.stop().cpuPercent ?? null;
    const genCpu = genMeter.stop().cpuPercent;
    const resultLine = await nextLine('RESULT', 15_000 + durationMs);
    const result = JSON.parse(resultLine.slice('RESULT '.length)) as RtpgenResult;
    released = true;
    const srtp = await relay.release();
    return { result, relayCpu, genCpu, srtp };
  } finally {
    await stopManaged(gen, 1000);
    if (!released) await relay.release().catch(() => undefined);
  }
}

function toStep(engine: MediaEngineName, r: RtpgenResult, relayCpu: number | null, genCpu: number, srtp: SrtpLegTotals | null = null): MediaStep {
  const seconds = r.durationMs / 1000;
  const lossRatio = r.sent > 0 ? r.lost / r.sent : 1;
  const late20Ratio = r.received > 0 ? r.late20 / r.received : 0;
  const relayedPps = r.received / seconds;
  const reasons: string[] = [];
  if (r.p99Us / 1000 > LATENCY_P99_LIMIT_MS) reasons.push(`p99 ${(r.p99Us / 1000).toFixed(1)} ms > ${LATENCY_P99_LIMIT_MS} ms`);
  if (late20Ratio >= LATE_RATIO_LIMIT) reasons.push(`${(late20Ratio * 100).toFixed(2)}% > 20 ms`);
  if (lossRatio >= LOSS_RATIO_LIMIT) reasons.push(`loss ${(lossRatio * 100).toFixed(2)}%`);
  if (r.silentStreams > 0) reasons.push(`${r.silentStreams} streams never arrived`);
  if (r.misrouted > 0) reasons.push(`${r.misrouted} packets arrived on the wrong socket`);
  if (r.sendErrors > 0) reasons.push(`${r.sendErrors} send errors`);
  if (srtp !== null && srtp.authFailures > 0) reasons.push(`${srtp.authFailures} SRTP authentication failures`);
  const clean = reasons.length === 0;
  if (r.generatorMaxLagUs > 10_000) reasons.push(`generator tick late by up to ${(r.generatorMaxLagUs / 1000).toFixed(1)} ms (machine busy)`);
  return {
    engine,
    sessions: r.sessions,
    streams: r.streams,
    offeredPps: r.streams * 50,
    relayedPps: Math.round(relayedPps),
    sent: r.sent,
    received: r.received,
    lossRatio,
    late20Ratio,
    p50Ms: r.p50Us / 1000,
    p99Ms: r.p99Us / 1000,
    p999Ms: r.p999Us / 1000,
    maxMs: r.maxUs / 1000,
    cpuPercent: relayCpu,
    cpuPer10kPps: relayCpu === null || relayedPps <= 0 ? null : (relayCpu * 10_000) / relayedPps,
    generatorCpuPercent: genCpu,
    generatorMaxLagMs: r.generatorMaxLagUs / 1000,
    ...(srtp !== null ? { srtpLegs: srtp } : {}),
    clean,
    note: reasons.join('; '),
  };
}

export interface MediaBenchOptions {
  engines: MediaEngineName[];
  /** Session counts to step through (2 streams, 100 pps per session). */
  sessionSteps: number[];
  durationMs: number;
  warmupMs: number;
  workDir: string;
  log: (msg: string) => void;
  /** Stop starting new steps after this wall-clock time (ms since epoch). */
  deadline?: number;
  /** After the listed steps, double the count up to this many sessions while a relay is still clean. */
  extendToSessions?: number;
  /** Bisecting steps between each engine's last clean and first failing count (0 = none). */
  refineSteps?: number;
}

async function startEngine(name: MediaEngineName, workDir: string, maxSessions: number): Promise<{ ok: true; relay: RelayUnderTest } | { ok: false; reason: string }> {
  const spec = mediaEngineSpec(name);
  if (spec.relay === 'direct') return { ok: true, relay: directRelay() };
  if (spec.relay === 'rtpengine') {
    const r = await startRtpengine(join(workDir, name), maxSessions, { threads: spec.threads, srtp: spec.srtp });
    if (!r.ok) return r;
    const h = r.handle;
    return { ok: true, relay: { pgid: h.proc.pid, threads: spec.threads, allocate: (g) => h.allocate(g), release: async () => { await h.release(); return null; }, stop: () => h.stop() } };
  }
  return startSbcRelay({ prefer: spec.relay, engines: spec.threads, srtp: spec.srtp });
}

/**
 * Steps every engine through the session counts, alternating engines at each
 * step so machine drift affects all of them; an engine stops at its first
 * step that misses the criterion. With `extendToSessions`, the ladder then
 * doubles until every relay has failed (or the cap), and with `refineSteps`
 * bisects between each engine's last clean and first failing count.
 */
export async function runMediaBench(o: MediaBenchOptions): Promise<MediaEngineResult[]> {
  mkdirSync(o.workDir, { recursive: true });
  const bin = await buildRtpgen(join(o.workDir, 'build'));
  const extra = o.extendToSessions === undefined ? [] : extendedSteps(o.sessionSteps, o.extendToSessions);
  const maxSessions = Math.max(...o.sessionSteps, ...extra);
  const results: MediaEngineResult[] = [];
  const relays = new Map<MediaEngineName, RelayUnderTest>();
  const stopped = new Set<MediaEngineName>();
  const failedAt = new Map<MediaEngineName, number>();

  const runStep = async (res: MediaEngineResult, sessions: number): Promise<void> => {
    const relay = relays.get(res.engine);
    if (relay === undefined) return;
    if (o.deadline !== undefined && Date.now() > o.deadline) {
      o.log(`media ${res.engine}: time budget used up, stopping at ${sessions} sessions`);
      stopped.add(res.engine);
      failedAt.delete(res.engine);
      return;
    }
    let step: MediaStep;
    try {
      const r = await runGenerator(bin, relay, sessions, o.durationMs, o.warmupMs, o.workDir);
      step = toStep(res.engine, r.result, r.relayCpu, r.genCpu, r.srtp);
      if (!step.clean) {
        // One retry: on a shared machine a single scheduling hiccup should not end the ladder.
        o.log(`media ${res.engine} @ ${sessions} sessions not clean (${step.note}); repeating once`);
        const again = await runGenerator(bin, relay, sessions, o.durationMs, o.warmupMs, o.workDir);
        const s2 = toStep(res.engine, again.result, again.relayCpu, again.genCpu, again.srtp);
        if (s2.clean || s2.p99Ms < step.p99Ms) step = { ...s2, note: s2.note + (s2.note ? '; ' : '') + 'second attempt' };
      }
    } catch (err) {
      o.log(`media ${res.engine} @ ${sessions} sessions: ${(err as Error).message}`);
      res.reason = (err as Error).message;
      stopped.add(res.engine);
      failedAt.delete(res.engine);
      return;
    }
    res.steps.push(step);
    o.log(
      `media ${res.engine.padEnd(18)} ${String(sessions).padStart(5)} sessions ${String(step.offeredPps).padStart(7)} pps: ` +
        `p50 ${step.p50Ms.toFixed(2)} ms p99 ${step.p99Ms.toFixed(2)} ms loss ${(step.lossRatio * 100).toFixed(3)}% ` +
        `cpu ${step.cpuPercent === null ? '-' : step.cpuPercent.toFixed(0) + '%'} ${step.clean ? 'clean' : 'NOT clean'}${step.note ? ` (${step.note})` : ''}`,
    );
    if (step.clean && step.sessions > (res.maxCleanSessions ?? 0)) {
      res.maxCleanSessions = step.sessions;
      res.maxCleanPps = step.relayedPps;
      res.cpuPer10kPpsAtMax = step.cpuPer10kPps;
      res.p99MsAtMax = step.p99Ms;
    } else if (!step.clean) {
      stopped.add(res.engine);
      failedAt.set(res.engine, Math.min(sessions, failedAt.get(res.engine) ?? Infinity));
    }
  };

  try {
    for (const e of o.engines) {
      const res: MediaEngineResult = { engine: e, available: false, steps: [], maxCleanSessions: null, maxCleanPps: null, cpuPer10kPpsAtMax: null, p99MsAtMax: null };
      results.push(res);
      const s = await startEngine(e, o.workDir, maxSessions).catch((err: Error) => ({ ok: false as const, reason: err.message }));
      if (!s.ok) {
        res.reason = s.reason;
        o.log(`media ${e}: ${s.reason}`);
        continue;
      }
      res.available = true;
      if (s.relay.kind !== undefined) res.kind = s.relay.kind;
      if (s.relay.threads !== undefined) res.threads = s.relay.threads;
      if (mediaEngineSpec(e).srtp) res.srtp = true;
      relays.set(e, s.relay);
    }
    const running = (): MediaEngineResult[] => results.filter((r) => relays.has(r.engine) && !stopped.has(r.engine));
    for (const sessions of o.sessionSteps) {
      for (const res of running()) await runStep(res, sessions);
    }
    for (const sessions of extra) {
      // Beyond the list only while a relay is still clean ('direct' alone is the generator's floor).
      if (!running().some((r) => r.engine !== 'direct')) break;
      for (const res of running()) await runStep(res, sessions);
    }
    for (let round = 0; round < (o.refineSteps ?? 0); round++) {
      for (const res of results) {
        const failed = failedAt.get(res.engine);
        const mid = failed === undefined || res.maxCleanSessions === null ? null : refineMidpoint(res.maxCleanSessions, failed);
        if (mid !== null) await runStep(res, mid);
      }
    }
  } finally {
    for (const r of relays.values()) await r.stop().catch(() => undefined);
  }
  return results;
}
