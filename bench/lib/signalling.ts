/**
 * Signalling bench: sipp UAC -> target -> sipp UAS, stepping the call rate
 * with a fixed number of calls per step, alternating targets at every step
 * so machine drift hits all of them alike. A step is clean only when ALL
 * hold (shared/TESTING.md): <= 0.1% failed calls, p99 INVITE -> 200 setup
 * within the SLO (50 ms by default), and the step finished within 1.2x its
 * nominal time (a saturated target that queues is not clean even with 0
 * failures). A target stops at its first step that is not clean; the
 * ladder is extended (doubling) until every target has failed, so a ratio
 * is measured, not capped by the ladder. The CPS ladder's UAS answers with
 * 200 directly (no 180 that a proxy could legitimately reorder).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, repoRoot, sleep, waitAtMost } from './procs.js';
import { GroupMeter, groupPids, memKb, memory } from './procstat.js';
import { lastSetupAtMs, percentile, readErrors, readRtts, readStats, startUac, startUas, stopSipp, summariseErrors, type SipTransport } from './sipp.js';
import { startTarget, type StartedTarget, type TargetName } from './targets.js';
import { fetchStatus, waitIdle } from './sbc-api.js';

export type ScenarioId = 'udp-basic' | 'udp-hold30' | 'tcp-basic' | 'udp-media-anchor';

export interface Scenario {
  id: ScenarioId;
  title: string;
  transport: SipTransport;
  holdMs: number;
  uacXml: string;
  uasXml: string;
  /** Targets the scenario makes sense for. */
  targets: TargetName[];
}

export function scenarios(): Record<ScenarioId, Scenario> {
  const dir = join(repoRoot(), 'bench', 'scenarios');
  const basic = { uacXml: join(dir, 'uac.xml'), uasXml: join(dir, 'uas-no180.xml') };
  return {
    'udp-basic': { id: 'udp-basic', title: 'UDP basic call, 0 s hold, UAS answers 200 directly', transport: 'udp', holdMs: 0, ...basic, targets: ['sbc', 'kamailio'] },
    'udp-hold30': { id: 'udp-hold30', title: 'UDP basic call, 30 s hold', transport: 'udp', holdMs: 30_000, ...basic, targets: ['sbc', 'kamailio'] },
    'tcp-basic': { id: 'tcp-basic', title: 'TCP basic call, 0 s hold, UAS answers 200 directly', transport: 'tcp', holdMs: 0, ...basic, targets: ['sbc', 'kamailio'] },
    'udp-media-anchor': {
      id: 'udp-media-anchor',
      title: 'UDP call with SDP, media anchored (no RTP)',
      transport: 'udp',
      holdMs: 0,
      uacXml: join(dir, 'uac-sdp.xml'),
      uasXml: join(dir, 'uas-sdp-no180.xml'),
      // Kamailio as configured here does not touch SDP, so it has no comparable row.
      targets: ['sbc'],
    },
  };
}

/** Messages per call crossing the target (INVITE, 180, 200, ACK, BYE, 200), the base for the retransmission ratio. */
export const MESSAGES_PER_CALL = 6;
export const MAX_FAILED_RATIO = 0.001;
/** Reported, not a criterion (TESTING.md names the three that are). */
export const MAX_RETRANS_RATIO = 0.01;
/** p99 INVITE -> 200 setup latency SLO (ms); `--slo-ms` overrides. */
export const DEFAULT_SETUP_SLO_MS = 50;
/** A step's wall time may be at most this times its nominal time (calls / rate + hold). */
export const MAX_WALL_FACTOR = 1.2;
/** Pause before the refine steps: longer than Timer B (32 s) and Kamailio's fr_timer (30 s), so neither target still carries its failing step. */
export const REFINE_COOLDOWN_MS = 40_000;

export interface StepResult {
  target: TargetName;
  rate: number;
  calls: number;
  successful: number;
  /** Failed or never completed. */
  failed: number;
  failedRatio: number;
  uacRetransmissions: number;
  uasRetransmissions: number;
  retransRatio: number;
  setupMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null };
  cpuPercent: number;
  /** CPU% per 100 calls/s achieved. */
  cpuPer100Cps: number | null;
  memPeakKb: number;
  wallSeconds: number;
  /** calls / rate + hold: how long the step takes when the target keeps up. */
  nominalSeconds: number;
  /** Which of the criteria failed ('failed calls', 'p99 setup', 'did not keep up'); empty when clean. */
  notCleanBecause: string[];
  clean: boolean;
  note: string;
}

export interface TargetScenarioResult {
  target: TargetName;
  available: boolean;
  reason?: string;
  steps: StepResult[];
  maxCleanRate: number | null;
  /** A step failed: maxCleanRate is the target's own ceiling, not the end of the ladder. */
  ceilingFound?: boolean;
}

export interface ScenarioResult {
  scenario: ScenarioId;
  title: string;
  callsPerStep: number;
  minStepSeconds: number;
  targets: TargetScenarioResult[];
}

export interface SignallingOptions {
  scenario: Scenario;
  targets: TargetName[];
  rates: number[];
  callsPerStep: number;
  /**
   * A step lasts at least this long (calls = max(callsPerStep, rate x this)):
   * a burst shorter than the 500 ms retransmission timer is absorbed by
   * queues and would look clean at any rate.
   */
  minStepSeconds: number;
  /** After the first failing step, try the midpoint once. */
  refine: boolean;
  /**
   * Calls each target carries at the ladder's first rate before the ladder,
   * not measured: a JIT-compiled target (the SBC) is cold at start, a C one
   * (Kamailio) is not, and the ladder compares the two at their working
   * speed. The warm-up is logged; 0 = none.
   */
  warmupCalls?: number;
  /** p99 setup SLO in ms (default DEFAULT_SETUP_SLO_MS). */
  setupSloMs?: number;
  /** Highest rate the ladder is extended to while a target has not failed yet. */
  maxRate?: number;
  workDir: string;
  log: (msg: string) => void;
  heapUrl?: string;
  deadline?: number;
}

interface Running {
  res: TargetScenarioResult;
  target: StartedTarget;
  uasPort: number;
  stopped: boolean;
  lastClean: number | null;
  firstFail: number | null;
}

async function runStep(r: Running, sc: Scenario, rate: number, calls: number, workDir: string, sloMs: number): Promise<StepResult> {
  const dir = join(workDir, `${r.res.target}-${rate}-${Date.now()}`);
  const expectS = calls / rate + sc.holdMs / 1000;
  const timeoutS = Math.ceil(expectS + 15);
  // The UAS bounds itself too, in case the harness dies without cleaning up.
  const uas = startUas({ scenarioFile: sc.uasXml, transport: sc.transport, port: r.uasPort, calls, timeoutS: timeoutS + 10, workDir: join(dir, 'uas') });
  await sleep(300);
  const meter = new GroupMeter(r.target.pgid);
  meter.start(500);
  const uac = startUac({
    scenarioFile: sc.uacXml,
    transport: sc.transport,
    target: r.target.sipAddress,
    rate,
    calls,
    holdMs: sc.holdMs,
    timeoutS,
    workDir: join(dir, 'uac'),
  });
  // sipp's own -timeout bounds it; this is the backstop if sipp itself wedges.
  const how = (await waitAtMost(uac.proc.exited, (timeoutS + 5) * 1000)) === 'timeout' ? 'timeout' : 'exited';
  if (how === 'timeout') await stopSipp(uac, 500);
  const m = meter.stop();
  // The UAS exits by itself after `calls` calls; give late BYEs a moment.
  await waitAtMost(uas.proc.exited, 1500);
  await stopSipp(uas, 1000);
  const us = readStats(uac.workDir);
  const ss = readStats(uas.workDir);
  const rtts = readRtts(uac.workDir).sort((a, b) => a - b);
  const successful = us?.successful ?? 0;
  const failed = Math.max(0, calls - successful);
  const uacRetrans = us?.retransmissions ?? 0;
  const uasRetrans = ss?.retransmissions ?? 0;
  const retransRatio = (uacRetrans + uasRetrans) / (calls * MESSAGES_PER_CALL);
  const failedRatio = failed / calls;
  const p99 = percentile(rtts, 99);
  const nominalSeconds = calls / rate + sc.holdMs / 1000;
  const notCleanBecause: string[] = [];
  if (failedRatio > MAX_FAILED_RATIO) notCleanBecause.push('failed calls');
  if (p99 === null || p99 > sloMs) notCleanBecause.push('p99 setup');
  // Kept up: the last call was set up within 1.2x the time the generator took to offer them all
  // (plus the SLO its own setup may take). Not the step's wall time: a call that got no answer
  // holds sipp for its receive timeout (5 s), and that call already counts as failed.
  const lastSetupAt = lastSetupAtMs(uac.workDir);
  const offerSeconds = calls / rate;
  if (lastSetupAt === null || lastSetupAt / 1000 > MAX_WALL_FACTOR * offerSeconds + sloMs / 1000) notCleanBecause.push('did not keep up');
  const clean = notCleanBecause.length === 0;
  const notes: string[] = [];
  if (us === null) notes.push(`sipp UAC wrote no statistics: ${uac.proc.stderrTail().slice(-300).trim()}`);
  if (how === 'timeout') notes.push('UAC did not finish in time');
  if (failed > 0) {
    const why = summariseErrors(uac.workDir);
    const err = why !== '' ? why : readErrors(uac.workDir, 300).replace(/\s+/g, ' ').trim();
    if (err) notes.push(`sipp UAC: ${err}`);
  }
  const achievedCps = successful / Math.max(0.001, m.wallSeconds - sc.holdMs / 1000);
  return {
    target: r.res.target,
    rate,
    calls,
    successful,
    failed,
    failedRatio,
    uacRetransmissions: uacRetrans,
    uasRetransmissions: uasRetrans,
    retransRatio,
    setupMs: { p50: percentile(rtts, 50), p90: percentile(rtts, 90), p99: percentile(rtts, 99), max: rtts.length ? rtts[rtts.length - 1]! : null },
    cpuPercent: m.cpuPercent,
    cpuPer100Cps: achievedCps > 0 ? (m.cpuPercent * 100) / achievedCps : null,
    memPeakKb: memKb(m.peak),
    wallSeconds: m.wallSeconds,
    nominalSeconds,
    notCleanBecause,
    clean,
    note: notes.join('; '),
  };
}

function logStep(log: (m: string) => void, sc: Scenario, s: StepResult): void {
  log(
    `${sc.id} ${s.target.padEnd(8)} ${String(s.rate).padStart(5)} cps: ${s.successful}/${s.calls} ok, ` +
      `retrans ${(s.retransRatio * 100).toFixed(2)}%, setup p50 ${s.setupMs.p50 ?? '-'} ms p99 ${s.setupMs.p99 ?? '-'} ms, ` +
      `wall ${s.wallSeconds.toFixed(1)}/${s.nominalSeconds.toFixed(1)} s, cpu ${s.cpuPercent.toFixed(0)}%, mem ${(s.memPeakKb / 1024).toFixed(1)} MiB ` +
      `${s.clean ? 'clean' : `NOT clean (${s.notCleanBecause.join(', ')})`}` +
      (s.note ? ` (${s.note.slice(0, 200)})` : ''),
  );
}

async function startAll(o: { targets: TargetName[]; sc: Scenario; workDir: string; log: (m: string) => void; heapUrl?: string; overloadLagMs?: number; dialogKeepAliveSec?: number }): Promise<{ results: TargetScenarioResult[]; running: Running[] }> {
  const results: TargetScenarioResult[] = [];
  const running: Running[] = [];
  for (const name of o.targets) {
    const res: TargetScenarioResult = { target: name, available: false, steps: [], maxCleanRate: null };
    results.push(res);
    if (!o.sc.targets.includes(name)) {
      res.reason = 'not applicable to this scenario';
      continue;
    }
    const uasPort = await freePort();
    const started = await startTarget(name, {
      transport: o.sc.transport,
      uasPort,
      workDir: join(o.workDir, `${name}-target`),
      ...(o.heapUrl !== undefined ? { heapUrl: o.heapUrl } : {}),
      ...(o.overloadLagMs !== undefined ? { overloadLagMs: o.overloadLagMs } : {}),
      ...(o.dialogKeepAliveSec !== undefined ? { dialogKeepAliveSec: o.dialogKeepAliveSec } : {}),
    });
    if (!started.ok) {
      res.reason = started.reason;
      o.log(`${o.sc.id} ${name}: unavailable: ${started.reason}`);
      continue;
    }
    res.available = true;
    running.push({ res, target: started.target, uasPort, stopped: false, lastClean: null, firstFail: null });
  }
  return { results, running };
}

export async function runSignallingScenario(o: SignallingOptions): Promise<ScenarioResult> {
  const sc = o.scenario;
  mkdirSync(o.workDir, { recursive: true });
  const { results, running } = await startAll({ targets: o.targets, sc, workDir: o.workDir, log: o.log, ...(o.heapUrl !== undefined ? { heapUrl: o.heapUrl } : {}) });
  const callsFor = (rate: number): number => Math.max(o.callsPerStep, Math.ceil(rate * o.minStepSeconds));
  const sloMs = o.setupSloMs ?? DEFAULT_SETUP_SLO_MS;
  try {
    const record = (r: Running, s: StepResult): void => {
      r.res.steps.push(s);
      logStep(o.log, sc, s);
      if (s.clean) {
        r.lastClean = Math.max(r.lastClean ?? 0, s.rate);
        r.res.maxCleanRate = r.lastClean;
      } else {
        r.res.ceilingFound = true;
        if (r.firstFail === null) r.firstFail = s.rate;
      }
    };
    const warmupCalls = o.warmupCalls ?? 0;
    if (warmupCalls > 0) {
      for (const r of running) {
        const w = await runStep(r, sc, o.rates[0] ?? 100, warmupCalls, o.workDir, sloMs);
        o.log(`${sc.id} ${r.res.target}: warm-up (not measured) ${w.successful}/${w.calls} ok at ${w.rate} cps, setup p99 ${w.setupMs.p99 ?? '-'} ms`);
      }
    }
    for (const rate of o.rates) {
      for (const r of running) {
        if (r.stopped) continue;
        if (o.deadline !== undefined && Date.now() > o.deadline) {
          o.log(`${sc.id} ${r.res.target}: time budget used up, stopping before ${rate} cps`);
          r.stopped = true;
          continue;
        }
        if (r.target.proc.exitInfo() !== null) {
          r.res.reason = `${r.res.target} exited during the run: ${r.target.proc.stderrTail().slice(-400)}`;
          r.stopped = true;
          continue;
        }
        const s = await runStep(r, sc, rate, callsFor(rate), o.workDir, sloMs);
        record(r, s);
        if (!s.clean) r.stopped = true;
      }
    }
    // Until every target has failed: otherwise its ceiling (and any ratio) would be the ladder's, not its own.
    let rate = o.rates[o.rates.length - 1] ?? 100;
    const maxRate = o.maxRate ?? 25_600;
    while (running.some((r) => !r.stopped && r.target.proc.exitInfo() === null) && rate < maxRate) {
      if (o.deadline !== undefined && Date.now() > o.deadline) break;
      rate *= 2;
      for (const r of running) {
        if (r.stopped || r.target.proc.exitInfo() !== null) continue;
        if (o.deadline !== undefined && Date.now() > o.deadline) {
          o.log(`${sc.id} ${r.res.target}: time budget used up, stopping before ${rate} cps (ceiling not found)`);
          r.stopped = true;
          continue;
        }
        const s = await runStep(r, sc, rate, callsFor(rate), o.workDir, sloMs);
        record(r, s);
        if (!s.clean) r.stopped = true;
      }
    }
    if (o.refine) {
      // The refine step follows each target's own failing (overloaded) step: without a pause it would
      // measure the backlog of that step (Kamailio's tm retransmitting what it could not deliver for up
      // to fr_timer, the SBC's transactions of the step's calls for 64*T1), not the rate. Both targets
      // get the same cool-down, longer than Timer B (32 s) and Kamailio's fr_timer (30 s).
      const refining = running.filter((r) => r.firstFail !== null && r.lastClean !== null && r.target.proc.exitInfo() === null);
      if (refining.length > 0 && (o.deadline === undefined || Date.now() + REFINE_COOLDOWN_MS < o.deadline)) {
        o.log(`${sc.id}: ${REFINE_COOLDOWN_MS / 1000} s cool-down before the refine steps (after each target's failing step)`);
        await sleep(REFINE_COOLDOWN_MS);
      }
      for (const r of refining) {
        if (o.deadline !== undefined && Date.now() > o.deadline) continue;
        const mid = Math.round((r.firstFail! + r.lastClean!) / 2);
        if (mid <= r.lastClean! || mid >= r.firstFail!) continue;
        // In the first pass every step follows a clean step at the rate below it; after the cool-down the
        // target is idle instead (a heap shrunk by the idle GC, cold caches). The same step at its highest
        // clean rate, not measured, puts it back where a first-pass step starts; both targets get it.
        const warm = await runStep(r, sc, r.lastClean!, callsFor(r.lastClean!), o.workDir, sloMs);
        o.log(`${sc.id} ${r.res.target}: refine warm-up (not measured) ${warm.successful}/${warm.calls} ok at ${warm.rate} cps, setup p99 ${warm.setupMs.p99 ?? '-'} ms`);
        record(r, await runStep(r, sc, mid, callsFor(mid), o.workDir, sloMs));
      }
    }
  } finally {
    for (const r of running) await r.target.stop();
  }
  return { scenario: sc.id, title: sc.title, callsPerStep: o.callsPerStep, minStepSeconds: o.minStepSeconds, targets: results };
}

export interface ConcurrentLevel {
  calls: number;
  rate: number;
  successful: number;
  failed: number;
  memBeforeKb: number;
  memAtPeakKb: number;
  memPerCallKb: number;
  /** JS heap after a full GC, idle and with the calls held (SBC only). */
  heapIdleBytes: number | null;
  heapAtPeakBytes: number | null;
  heapPerCallBytes: number | null;
  /** Calls the target itself reported in progress at the peak reading (null: it cannot say). */
  callsHeldAtPeak: number | null;
  /** The SBC's own RSS (process.memoryUsage) idle before the level and with the calls held (null: not known). */
  rssIdleBytes: number | null;
  rssAtPeakBytes: number | null;
  clean: boolean;
  note: string;
}

export interface ConcurrentResult {
  target: TargetName;
  available: boolean;
  reason?: string;
  levels: ConcurrentLevel[];
  maxCleanConcurrent: number | null;
  /** Memory per call at the highest clean level. */
  memPerCallKb: number | null;
  heapPerCallBytes: number | null;
  heapNote: string;
}

export interface ConcurrentOptions {
  targets: TargetName[];
  levels: number[];
  rate: number;
  workDir: string;
  log: (m: string) => void;
  heapUrl?: string;
  deadline?: number;
}

/**
 * Holds `level` calls open at once (UAC hold long enough for the ramp to
 * finish), measures the target's memory with all of them up, and divides
 * the growth by the number of calls.
 */
export async function runConcurrent(o: ConcurrentOptions): Promise<ConcurrentResult[]> {
  const sc = scenarios()['udp-basic'];
  // Lag shedding off: this ladder measures memory at a rate well inside the ceiling, and the full GC
  // the heap readings force (and a major GC of a heap holding 100,000 calls) is not overload. The
  // in-dialog keep-alive (default 300 s) stays armed on every call but is due after the calls end:
  // the bench's sipp UAC would abort a call on an OPTIONS during its pause.
  const { results, running } = await startAll({ targets: o.targets, sc, workDir: o.workDir, log: o.log, overloadLagMs: 0, dialogKeepAliveSec: 3600, ...(o.heapUrl !== undefined ? { heapUrl: o.heapUrl } : {}) });
  const out: ConcurrentResult[] = results.map((r) => ({
    target: r.target,
    available: r.available,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    levels: [],
    maxCleanConcurrent: null,
    memPerCallKb: null,
    heapPerCallBytes: null,
    heapNote: r.target === 'kamailio' ? 'not a JS process' : '',
  }));
  for (const r of running) {
    const res = out.find((x) => x.target === r.res.target)!;
    if (r.res.target === 'sbc' && r.target.apiUrl === null && o.heapUrl === undefined) res.heapNote = `JS heap not available: ${r.target.apiNote}; RSS/PSS only`;
  }
  try {
    for (const level of o.levels) {
      for (const r of running) {
        if (r.stopped) continue;
        const res = out.find((x) => x.target === r.res.target)!;
        if (o.deadline !== undefined && Date.now() > o.deadline) {
          o.log(`concurrent ${r.res.target}: time budget used up before ${level} calls`);
          r.stopped = true;
          continue;
        }
        const rampS = level / o.rate;
        // The margin covers a generator that falls behind the nominal rate (sipp on a busy 2-core
        // machine placed 100,000 calls at ~920/s of 1,000) and the peak readings (memory samples, a
        // forced full GC of a heap holding up to 100,000 calls, the status request) before the first BYE.
        const holdMs = Math.round((rampS * 1.3 + 15) * 1000);
        const dir = join(o.workDir, `conc-${r.res.target}-${level}`);
        const pids = (): number[] => groupPids(r.target.pgid);
        const apiUrl = r.target.apiUrl;
        // The previous level's calls must be gone, or "idle" would include them.
        if (apiUrl !== null) await waitIdle(apiUrl, 15_000);
        await sleep(500);
        const before = memKb(memory(pids()));
        const heapBefore = await r.target.heapUsedBytes();
        const rssBefore = apiUrl !== null ? ((await fetchStatus(apiUrl, false))?.rssBytes ?? null) : null;
        // No -m for this UAS: sipp counts its failed calls (a 200 retransmitted past its limit while the
        // target was busy) towards -m and then ignores new INVITEs, which failed the last ~1,400 calls of
        // the 100,000 ramp at the UAC although the target had relayed them. It is stopped after the UAC.
        const uas = startUas({
          scenarioFile: sc.uasXml, transport: 'udp', port: r.uasPort,
          timeoutS: Math.ceil(rampS + holdMs / 1000 + 30), workDir: join(dir, 'uas'),
        });
        await sleep(300);
        const uac = startUac({
          scenarioFile: sc.uacXml, transport: 'udp', target: r.target.sipAddress, rate: o.rate, calls: level, holdMs,
          // Timer B (64 x T1): a held-calls level counts calls that never set up, not a GC pause of a few seconds.
          recvTimeoutMs: 32_000,
          timeoutS: Math.ceil(rampS + holdMs / 1000 + 15), workDir: join(dir, 'uac'),
        });
        // All calls are up between the end of the ramp and the first BYE: the SBC says when
        // (a target without the API: the nominal ramp time).
        const rampEnd = Date.now() + Math.round(rampS * 1.3 * 1000) + 1500;
        if (apiUrl === null) await waitAtMost(uac.proc.exited, Math.round(rampS * 1000) + 1500);
        else {
          while (Date.now() < rampEnd && uac.proc.exitInfo() === null) {
            const st = await fetchStatus(apiUrl, false, 3000);
            if (st !== null && st.activeCalls >= level) break;
            await sleep(500);
          }
        }
        let peak = 0;
        for (let i = 0; i < 3; i++) {
          peak = Math.max(peak, memKb(memory(pids())));
          await sleep(200);
        }
        const heapPeak = await r.target.heapUsedBytes();
        const peakStatus = apiUrl !== null ? await fetchStatus(apiUrl, false) : null;
        const held = peakStatus?.activeCalls ?? null;
        await waitAtMost(uac.proc.exited, (rampS + holdMs / 1000 + 20) * 1000);
        await stopSipp(uac, 500);
        await waitAtMost(uas.proc.exited, 1500);
        await stopSipp(uas, 1000);
        const st = readStats(uac.workDir);
        const successful = st?.successful ?? 0;
        const failed = level - successful;
        const clean = failed / level <= MAX_FAILED_RATIO;
        // Divide by the calls really up at the reading when the target can tell (a call that failed early holds nothing).
        const perCallDivisor = held !== null && held > 0 ? held : level;
        // Process memory does not shrink back after a level (malloc arenas, V8 old space,
        // Kamailio's shm pages stay touched), so from the second level on the growth is
        // taken from the previous level's peak: the marginal memory of the extra calls.
        const prev = res.levels[res.levels.length - 1];
        const prevHeld = prev === undefined ? 0 : (prev.callsHeldAtPeak ?? prev.calls);
        const memPerCallKb =
          prev === undefined || perCallDivisor <= prevHeld
            ? Math.max(0, peak - before) / perCallDivisor
            : Math.max(0, peak - prev.memAtPeakKb) / (perCallDivisor - prevHeld);
        const notes: string[] = [];
        if (!clean) notes.push(summariseErrors(uac.workDir) || readErrors(uac.workDir, 300).replace(/\s+/g, ' ').trim());
        if (held !== null && held !== level) notes.push(`${held} of ${level} calls up at the peak reading`);
        const lv: ConcurrentLevel = {
          calls: level,
          rate: o.rate,
          successful,
          failed,
          memBeforeKb: before,
          memAtPeakKb: peak,
          memPerCallKb,
          heapIdleBytes: heapBefore,
          heapAtPeakBytes: heapPeak,
          heapPerCallBytes: heapBefore !== null && heapPeak !== null ? Math.max(0, heapPeak - heapBefore) / perCallDivisor : null,
          callsHeldAtPeak: held,
          rssIdleBytes: rssBefore,
          rssAtPeakBytes: peakStatus?.rssBytes ?? null,
          clean,
          note: notes.filter((n) => n !== '').join('; '),
        };
        res.levels.push(lv);
        o.log(
          `concurrent ${r.res.target.padEnd(8)} ${String(level).padStart(6)} calls: ${successful} ok, mem ${(before / 1024).toFixed(1)} -> ${(peak / 1024).toFixed(1)} MiB ` +
            `(${lv.memPerCallKb.toFixed(2)} KiB/call)${lv.heapPerCallBytes !== null ? `, heap ${(lv.heapPerCallBytes / 1024).toFixed(2)} KiB/call` : ''}` +
            `${lv.rssAtPeakBytes !== null ? `, RSS ${(lv.rssAtPeakBytes / 1048576).toFixed(1)} MiB (${(lv.rssAtPeakBytes / Math.max(1, perCallDivisor) / 1024).toFixed(2)} KiB/call all in)` : ''} ${clean ? 'clean' : 'NOT clean'}`,
        );
        if (clean) {
          res.maxCleanConcurrent = level;
          res.memPerCallKb = lv.memPerCallKb;
          res.heapPerCallBytes = lv.heapPerCallBytes;
          if (lv.heapPerCallBytes !== null) res.heapNote = o.heapUrl !== undefined ? `heap read from ${o.heapUrl}` : 'after GC';
          else if (r.res.target === 'sbc' && res.heapNote === '') res.heapNote = 'JS heap not available: the status request failed; RSS/PSS only';
        } else {
          r.stopped = true;
        }
      }
    }
  } finally {
    for (const r of running) await r.target.stop();
  }
  return out;
}
