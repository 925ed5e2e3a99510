/**
 * The bench's outputs: the JSON document, the Markdown summary and the chart.
 */
import type { ConcurrentResult, ScenarioResult, StepResult, TargetScenarioResult } from './signalling.js';
import type { MediaEngineResult } from './media.js';
import { mediaComparisonLines } from './media-engines.js';
import type { HttpResult } from './http.js';
import { lineChart, type Rgb, type Series } from './png.js';

export interface BenchReport {
  tool: 'sbc-bench';
  version: 1;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  quick: boolean;
  host: { cpus: number; cpuModel: string; node: string; loadAverage: number[]; versions: Record<string, string> };
  criteria: {
    maxFailedRatio: number; maxRetransRatio: number; setupSloMs: number; maxWallFactor: number;
    mediaP99Ms: number; mediaLateRatio: number; mediaLossRatio: number;
    /** Unmeasured calls per target before the CPS ladder. */
    warmupCalls: number;
    /** The SBC's SIP threads (SIPWorkerThreads / SBC_SIP_WORKERS as the SBC reported it at start). */
    sbcThreads: string;
  };
  signalling: ScenarioResult[];
  concurrent: ConcurrentResult[];
  media: MediaEngineResult[];
  http: HttpResult;
  notes: string[];
}

const f1 = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

function stepAt(t: TargetScenarioResult, rate: number | null): StepResult | undefined {
  if (rate === null) return undefined;
  return t.steps.find((s) => s.rate === rate && s.clean);
}

/**
 * The step at half the target's ceiling (the highest rate at or below it):
 * issue 15's latency goal is a p99 setup at 50 % of the ceiling.
 */
function halfCeilingText(t: TargetScenarioResult): string {
  if (t.maxCleanRate === null || t.ceilingFound !== true) return '-';
  const half = t.maxCleanRate / 2;
  let best: StepResult | undefined;
  for (const s of t.steps) if (s.rate <= half && (best === undefined || s.rate > best.rate)) best = s;
  return best === undefined ? '-' : `${best.rate}: ${f1(best.setupMs.p50, 0)} / ${f1(best.setupMs.p99, 0)}`;
}

function unavailableText(t: { available: boolean; reason?: string }): string {
  const why = (t.reason ?? 'unknown').replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 160);
  return why.startsWith('not available') ? why : `not available: ${why}`;
}

export function markdownSummary(r: BenchReport): string {
  const out: string[] = [];
  out.push(`# SBC bench ${r.quick ? '(quick) ' : ''}${r.startedAt}`);
  out.push('');
  out.push(`Host: ${r.host.cpus} x ${r.host.cpuModel}, Node ${r.host.node}, load average at start ${r.host.loadAverage.map((l) => l.toFixed(2)).join(' ')}. Wall time ${r.wallSeconds.toFixed(0)} s.`);
  out.push(`Versions: ${Object.entries(r.host.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  out.push('');
  out.push('## Signalling (sipp UAC -> target -> sipp UAS, loopback)');
  out.push('');
  out.push(
    `Clean = ALL of: <= ${r.criteria.maxFailedRatio * 100}% failed calls, p99 INVITE -> 200 setup <= ${r.criteria.setupSloMs} ms, and the last call was set up within ${r.criteria.maxWallFactor}x the time the calls took to offer (plus the SLO): the target kept up. ` +
      'The UAS answers 200 directly (no 180 to reorder). Rates step up (alternating targets), then double, until every target has failed a step; ' +
      'the SBC / Kamailio ratio is printed only when both ceilings were found. ' +
      `Each target first carries ${r.criteria.warmupCalls} unmeasured calls at the first rate (warm-up). SBC SIP threads: ${r.criteria.sbcThreads}; Kamailio: children=2.`,
  );
  out.push('');
  out.push('| scenario | target | highest clean CPS | SBC / Kamailio | setup p50 / p99 ms | at half the ceiling: CPS: p50 / p99 ms | CPU % per 100 CPS | peak memory MiB | first failing step |');
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const sc of r.signalling) {
    const kam = sc.targets.find((t) => t.target === 'kamailio');
    for (const t of sc.targets) {
      if (!t.available) {
        out.push(`| ${sc.scenario} | ${t.target} | ${unavailableText(t)} | | | | | | |`);
        continue;
      }
      const s = stepAt(t, t.maxCleanRate);
      const bothFound = t.ceilingFound === true && kam?.ceilingFound === true;
      const ratio =
        t.target === 'sbc' && bothFound && kam?.maxCleanRate && t.maxCleanRate !== null
          ? (t.maxCleanRate / kam.maxCleanRate).toFixed(2)
          : t.target === 'sbc' ? '- (a ceiling was not found)' : '';
      const fail = t.steps.find((x) => !x.clean);
      const failText = fail
        ? `${fail.rate} cps: ${(fail.notCleanBecause ?? []).join(', ') || 'not clean'}; ${fail.failed}/${fail.calls} failed, p99 ${f1(fail.setupMs.p99, 0)} ms, wall ${f1(fail.wallSeconds)}/${f1(fail.nominalSeconds)} s, retrans ${(fail.retransRatio * 100).toFixed(1)}%${fail.note ? ` (${fail.note.replace(/\|/g, '/').slice(0, 140)})` : ''}`
        : t.steps.length
          ? 'none (ran out of steps)'
          : '-';
      out.push(
        `| ${sc.scenario} | ${t.target} | ${t.maxCleanRate ?? 'none'} | ${ratio} | ${s ? `${f1(s.setupMs.p50, 0)} / ${f1(s.setupMs.p99, 0)}` : '-'} | ${halfCeilingText(t)} | ${f1(s?.cpuPer100Cps)} | ${s ? f1(s.memPeakKb / 1024) : '-'} | ${failText} |`,
      );
    }
  }
  out.push('');
  out.push('On a small shared machine sipp itself may be the first to saturate (check the CPU column: a target far from 100% per core when its step failed was not the bottleneck).');
  out.push('');
  out.push('## Concurrent calls (UDP, calls held open)');
  out.push('');
  out.push('| target | highest clean concurrent calls | memory per call KiB | JS heap per call KiB | note |');
  out.push('| --- | ---: | ---: | ---: | --- |');
  for (const c of r.concurrent) {
    if (!c.available) {
      out.push(`| ${c.target} | ${unavailableText(c)} | | | |`);
      continue;
    }
    const lv = c.levels.find((l) => l.clean && l.calls === c.maxCleanConcurrent);
    const heapText =
      lv && lv.heapIdleBytes !== null && lv.heapAtPeakBytes !== null
        ? `heap ${f1(lv.heapIdleBytes / 1048576)} -> ${f1(lv.heapAtPeakBytes / 1048576)} MiB${c.heapNote ? ` ${c.heapNote}` : ''}${lv.callsHeldAtPeak !== null ? `, ${lv.callsHeldAtPeak} calls held` : ''}`
        : c.heapNote;
    const failed = c.levels.find((l) => !l.clean);
    const failText = failed ? `; ${failed.calls} calls: ${failed.failed} failed${failed.note ? ` (${failed.note.replace(/\|/g, '/').slice(0, 100)})` : ''}` : '';
    out.push(`| ${c.target} | ${c.maxCleanConcurrent ?? 'none'} | ${f1(c.memPerCallKb, 2)} | ${c.heapPerCallBytes === null ? '-' : f1(c.heapPerCallBytes / 1024, 2)} | ${heapText}${failText} |`);
  }
  out.push('');
  const ladder = r.concurrent.filter((c) => c.available && c.levels.length > 0);
  if (ladder.length > 0) {
    out.push('');
    out.push('Each level (memory per call: growth over the previous level; "all in": the SBC\'s whole RSS / calls held):');
    out.push('');
    out.push('| target | calls | up | held at reading | memory MiB idle -> peak | memory per call KiB | SBC RSS MiB | RSS per call all in KiB | JS heap per call KiB | clean |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const c of ladder) {
      for (const l of c.levels) {
        const held = l.callsHeldAtPeak ?? l.calls;
        const rss = l.rssAtPeakBytes ?? null;
        out.push(
          `| ${c.target} | ${l.calls} | ${l.successful} | ${l.callsHeldAtPeak ?? '-'} | ${f1(l.memBeforeKb / 1024)} -> ${f1(l.memAtPeakKb / 1024)} | ${f1(l.memPerCallKb, 2)} | ` +
            `${rss === null ? '-' : f1(rss / 1048576)} | ${rss === null || held <= 0 ? '-' : f1(rss / held / 1024, 2)} | ${l.heapPerCallBytes === null ? '-' : f1(l.heapPerCallBytes / 1024, 2)} | ${l.clean ? 'yes' : `no${l.note ? `: ${l.note.replace(/\|/g, '/').slice(0, 80)}` : ''}`} |`,
        );
      }
    }
  }
  out.push('');
  out.push('Memory is PSS summed over the target\'s process group (RSS where PSS is unreadable): growth per call up (as the SBC reports them; the level for Kamailio), from idle at the first level and from the previous level\'s peak after that, since process memory is not given back between levels. JS heap: the SBC\'s `/api/v1/status?gc=1` (a full GC first, node `--expose-gc`) with the calls held minus the same reading idle, per call. Kamailio as configured (tm + rr, no dialog module) keeps no state for an established call, so its figure is the floor of a stateless-after-setup proxy, not a B2BUA\'s.');
  out.push('');
  out.push('## Media (G.711 20 ms, 2 streams per session, loopback)');
  out.push('');
  out.push(`Clean = p99 added latency <= ${r.criteria.mediaP99Ms} ms, < ${r.criteria.mediaLateRatio * 100}% of packets over 20 ms, < ${r.criteria.mediaLossRatio * 100}% loss. "direct" is the generator talking to itself: the floor of the measurement on this machine.`);
  out.push('');
  out.push(
    'Threads: sbc-native runs one native relay thread, sbc-native-mt one per core (at least 2) with sessions spread round-robin, as the SBC gives each SIP worker its own relay; ' +
      'rtpengine gets the same number of --num-threads. "-srtp" engines chain two relay sessions (two rtpengine calls) per generator session over loopback: ' +
      'RTP in, SRTP (AES_CM_128_HMAC_SHA1_80, SDES keys) between them, RTP out, so every packet is encrypted once and decrypted once; pps counts packets at the generator.',
  );
  out.push('');
  let anyStar = false;
  out.push('| engine | highest clean sessions | relayed pps | CPU % per 10k pps | latency p50 / p99 / max ms | first failing step |');
  out.push('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const m of r.media) {
    if (!m.available) {
      out.push(`| ${m.engine} | ${unavailableText(m)} | | | | |`);
      continue;
    }
    const best = m.steps.find((s) => s.clean && s.sessions === m.maxCleanSessions);
    // The lowest failing count (refining steps run after the first failure, below it).
    const fail = m.steps.filter((s) => !s.clean).sort((a, b) => a.sessions - b.sessions)[0];
    // With no clean step, still show what the first step measured, marked with '*'.
    const shown = best ?? m.steps[0];
    const star = best === undefined && shown !== undefined ? '*' : '';
    if (star) anyStar = true;
    out.push(
      `| ${m.engine}${engineDetail(m)} | ${m.maxCleanSessions ?? 'none'} | ${shown ? `${shown.relayedPps}${star}` : '-'} | ${shown ? `${f1(shown.cpuPer10kPps)}${star}` : '-'} | ${shown ? `${f1(shown.p50Ms, 2)} / ${f1(shown.p99Ms, 2)} / ${f1(shown.maxMs, 1)}${star}` : '-'} | ${fail ? `${fail.sessions} sessions: ${fail.note}` : m.reason ? `error: ${m.reason.slice(0, 120)}` : 'none (ran out of steps)'} |`,
    );
  }
  if (anyStar) {
    out.push('');
    out.push('\\* no clean step: figures of the smallest step, which missed the criterion.');
  }
  const comparison = mediaComparisonLines(r.media.map((m) => ({ ...m, failed: m.steps.some((s) => !s.clean) })));
  if (comparison.length > 0) {
    out.push('');
    for (const line of comparison) out.push(`- ${line}`);
  }
  out.push('');
  out.push('## HTTP');
  out.push('');
  out.push(...httpSection(r.http));
  if (r.notes.length) {
    out.push('');
    out.push('## Notes');
    out.push('');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  out.push('');
  return out.join('\n');
}

/** " (native, 2 threads)" after the engine name: what ran, on how many relay threads. */
function engineDetail(m: MediaEngineResult): string {
  const parts: string[] = [];
  if (m.kind && m.engine.startsWith('sbc')) parts.push(m.kind);
  if (m.threads !== undefined && m.threads > 0) parts.push(`${m.threads} thread${m.threads === 1 ? '' : 's'}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function httpSection(h: HttpResult): string[] {
  const out: string[] = [];
  if (!h.ran && h.endpoints.length === 0) {
    out.push(`Not run: ${h.reason ?? 'unknown'}`);
    return out;
  }
  const l = h.load;
  const how = h.requestsPerEndpoint !== undefined ? `${h.requestsPerEndpoint} requests per endpoint` : `${h.durationS ?? '?'} s per endpoint`;
  out.push(
    `autocannon (${h.connections ?? '?'} connections, ${how}) on the SBC's REST API while it carries ` +
      (l ? `a sipp load of ${l.rate} calls/s with ${l.holdMs / 1000} s hold (${l.successful}/${l.offered} calls ok)` : 'calls') +
      '. The load generator, the SBC and sipp share the same cores.',
  );
  out.push('');
  out.push('| endpoint | requests/s | latency p50 / p99 / max ms | requests | errors + non-2xx | SBC CPU % | calls held before / after |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const e of h.endpoints) {
    out.push(
      `| GET ${e.path} | ${f1(e.requestsPerSecond, 0)} | ${f1(e.p50Ms, 1)} / ${f1(e.p99Ms, 1)} / ${f1(e.maxMs, 1)} | ${e.requests} | ${e.errors + e.non2xx} | ${f1(e.sbcCpuPercent, 0)} | ${e.callsHeldBefore ?? '-'} / ${e.callsHeldAfter ?? '-'} |`,
    );
  }
  if (h.endpoints.some((e) => e.tool !== 'autocannon')) {
    out.push('');
    out.push(`Tool: ${h.endpoints.find((e) => e.tool !== 'autocannon')!.tool}.`);
  }
  if (!h.ran && h.reason) {
    out.push('');
    out.push(`Stopped: ${h.reason}`);
  }
  return out;
}

const COLORS: Record<string, Rgb> = { sbc: [220, 60, 40], kamailio: [40, 90, 200] };
const SCENARIO_SHADE: Record<string, number> = { 'udp-basic': 0, 'tcp-basic': 1, 'udp-media-anchor': 2, 'udp-hold30': 3 };

/** Rate vs failed calls (%) for every target and scenario. */
export function failureChart(r: BenchReport): Buffer {
  const series: Series[] = [];
  for (const sc of r.signalling) {
    for (const t of sc.targets) {
      if (!t.available || t.steps.length === 0) continue;
      const base = COLORS[t.target] ?? [0, 0, 0];
      const shade = SCENARIO_SHADE[sc.scenario] ?? 0;
      const color: Rgb = [Math.min(255, base[0] + shade * 45), Math.min(255, base[1] + shade * 45), Math.min(255, base[2] + shade * 20)];
      series.push({
        label: `${t.target} ${sc.scenario}`,
        color,
        dashed: shade % 2 === 1,
        points: t.steps.map((s) => ({ x: s.rate, y: 100 * (s.failedRatio + s.retransRatio) })),
      });
    }
  }
  return lineChart({ title: 'Call rate vs failures', xLabel: 'offered calls/s', yLabel: 'failed + retrans %', series, yMin: 1 });
}
