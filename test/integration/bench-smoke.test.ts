/**
 * A tiny version of the bench (one low-rate signalling step per target, one
 * short media run through rtpengine) so the harness cannot rot. It asserts
 * that the harness works and reports honestly, not how fast anything is.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultOptions, runBench, type BenchOutput } from '../../bench/lib/bench.js';
import { bdecode, bencode } from '../../bench/lib/bencode.js';
import { crc32, lineChart } from '../../bench/lib/png.js';
import { liveProcessCount, repoRoot } from '../../bench/lib/procs.js';
import { percentile, summariseErrors } from '../../bench/lib/sipp.js';
import { renderBenchIni } from '../../bench/lib/sbc-ini.js';
import { sbcMainPath } from '../../bench/lib/targets.js';
import { sdpAudioPort } from '../../bench/lib/rtpengine.js';
import { parseStatus } from '../../bench/lib/sbc-api.js';
import { checkHttpPath } from '../../bench/lib/http.js';
import { markdownSummary, type BenchReport } from '../../bench/lib/report.js';
import { runMediaBench } from '../../bench/lib/media.js';
import { relayThreadCount } from '../../bench/lib/media-engines.js';

describe('bench helpers', () => {
  it('bench/configs/bench-sbc.ini is the rendered default configuration', () => {
    const file = readFileSync(join(repoRoot(), 'bench', 'configs', 'bench-sbc.ini'), 'utf8');
    expect(file).toBe(renderBenchIni());
  });

  it('bench ini uses Mediant tables and classifies the caller by SIP Interface', () => {
    const ini = renderBenchIni();
    for (const t of ['InterfaceTable', 'SIPInterface', 'ProxySet', 'ProxyIp', 'IPGroup', 'Classification', 'IP2IPRouting', 'CpMediaRealm']) {
      expect(ini).toContain(`[ ${t} ]`);
      expect(ini).toContain(`[ \\${t} ]`);
    }
    expect(ini).toMatch(/Classification 0 = "From-UAC", "UAC-If"/);
    expect(ini).toMatch(/IP2IPRouting 0 = "UAC-to-UAS", "UAC",/);
  });

  it('bencode round-trips what the ng protocol uses', () => {
    const msg = { command: 'offer', 'call-id': 'x', replace: ['origin'], n: 5 };
    expect(bencode(msg).toString()).toBe('d7:call-id1:x7:command5:offer1:ni5e7:replacel6:originee');
    expect(bdecode(bencode(msg))).toEqual(msg);
    expect(() => bdecode(Buffer.from('d3:abc'))).toThrow();
  });

  it('reads the audio port from an SDP and computes percentiles', () => {
    expect(sdpAudioPort('v=0\r\nm=audio 30004 RTP/AVP 0\r\n')).toBe(30004);
    expect(sdpAudioPort('v=0\r\n')).toBeNull();
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([], 50)).toBeNull();
  });

  it('summarises why sipp failed calls', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-err-'));
    try {
      writeFileSync(
        join(dir, 'uac_1_errors.log'),
        "t: Aborting call on unexpected message for Call-Id '1-1@h': while pausing (index 6), received 'SIP/2.0 180 Ringing\nVia: x\n'\n" +
          "t: Aborting call on unexpected message for Call-Id '2-1@h': while pausing (index 6), received 'SIP/2.0 180 Ringing\nVia: x\n'\n" +
          't: Call-Id: 3-1@h, receive timeout on message Response 200 without default behaviour\n',
      );
      expect(summariseErrors(dir)).toBe("2x unexpected 'SIP/2.0 180 Ringing' while pausing; 1x receive timeout");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the SBC status document and rejects a wrong shape', () => {
    const body = { activeCalls: 3, calls: { calls: 3, dialogs: 6 }, memory: { rss: 1000, heapUsed: 500 }, transactions: {} };
    expect(parseStatus(body)).toEqual({ activeCalls: 3, dialogs: 6, heapUsedBytes: 500, rssBytes: 1000 });
    expect(parseStatus({ activeCalls: 1, memory: { heapUsed: 7 } })).toEqual({ activeCalls: 1, dialogs: null, heapUsedBytes: 7, rssBytes: null });
    expect(parseStatus({ activeCalls: '3', memory: { heapUsed: 1 } })).toBeNull();
    expect(parseStatus({ activeCalls: 3 })).toBeNull();
    expect(parseStatus(null)).toBeNull();
    expect(parseStatus('x')).toBeNull();
  });

  it('only loads absolute paths on the SBC API', () => {
    expect(checkHttpPath('/metrics')).toBeNull();
    expect(checkHttpPath('/api/v1/status')).toBeNull();
    expect(checkHttpPath('metrics')).toMatch(/bad HTTP path/);
    expect(checkHttpPath('//evil.example/x')).toMatch(/bad HTTP path/);
    expect(checkHttpPath('/a b')).toMatch(/bad HTTP path/);
  });

  it('puts the HTTP figures and the JS heap in the summary', () => {
    const report: BenchReport = {
      tool: 'sbc-bench', version: 1, startedAt: 't', finishedAt: 't', wallSeconds: 1, quick: true,
      host: { cpus: 2, cpuModel: 'x', node: 'v20', loadAverage: [0, 0, 0], versions: {} },
      criteria: { maxFailedRatio: 0.001, maxRetransRatio: 0.01, setupSloMs: 50, maxWallFactor: 1.2, mediaP99Ms: 10, mediaLateRatio: 0.001, mediaLossRatio: 0.001, warmupCalls: 0, sbcThreads: '1' },
      signalling: [],
      concurrent: [{
        target: 'sbc', available: true, maxCleanConcurrent: 100, memPerCallKb: 8, heapPerCallBytes: 4096, heapNote: 'after GC',
        levels: [{ calls: 100, rate: 50, successful: 100, failed: 0, memBeforeKb: 1, memAtPeakKb: 2, memPerCallKb: 8, heapIdleBytes: 10 * 1048576, heapAtPeakBytes: 11 * 1048576, heapPerCallBytes: 4096, callsHeldAtPeak: 100, rssIdleBytes: 80 * 1048576, rssAtPeakBytes: 90 * 1048576, clean: true, note: '' }],
      }],
      media: [],
      http: {
        ran: true, connections: 10, durationS: 5, load: { rate: 50, holdMs: 3000, offered: 400, successful: 400, failed: 0 },
        endpoints: [{ path: '/metrics', url: 'http://127.0.0.1:1/metrics', tool: 'autocannon', requests: 5000, durationS: 5, requestsPerSecond: 1000, p50Ms: 3, p99Ms: 12, maxMs: 20, errors: 0, non2xx: 0, sbcCpuPercent: 90, callsHeldBefore: 150, callsHeldAfter: 148 }],
      },
      notes: [],
    };
    const md = markdownSummary(report);
    expect(md).toContain('| sbc | 100 | 8.00 | 4.00 | heap 10.0 -> 11.0 MiB after GC, 100 calls held |');
    // The held-calls ladder, level by level, with the SBC's own RSS (90 MiB / 100 calls = 921.60 KiB each).
    expect(md).toContain('| sbc | 100 | 100 | 100 | 0.0 -> 0.0 | 8.00 | 90.0 | 921.60 | 4.00 | yes |');
    expect(md).toContain('| GET /metrics | 1000 | 3.0 / 12.0 / 20.0 | 5000 | 0 | 90 | 150 / 148 |');
    expect(md).toContain('a sipp load of 50 calls/s with 3 s hold (400/400 calls ok)');
  });

  it('writes a valid PNG', () => {
    const png = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ label: 'a', color: [255, 0, 0], points: [{ x: 10, y: 0 }, { x: 20, y: 3 }] }] });
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
    expect(png.subarray(png.length - 12).toString('latin1', 4, 8)).toBe('IEND');
  });
});

describe('bench smoke run', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  let result: BenchOutput | null = null;
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs one low-rate step per target, a few held calls, a short rtpengine media run and a few hundred HTTP requests, then cleans up', async () => {
    const o = defaultOptions(true);
    const logs: string[] = [];
    Object.assign(o, {
      targets: ['sbc', 'kamailio'],
      scenarios: ['udp-basic'],
      rates: [10],
      maxRate: 10, // one step: no doubling until the targets fail
      callsPerStep: 20,
      minStepSeconds: 0,
      refine: false,
      warmupCalls: 10, // the warm-up path runs too, briefly
      concurrentLevels: [20],
      concurrentRate: 20,
      mediaEngines: ['rtpengine'],
      mediaSessions: [1],
      mediaDurationMs: 2000,
      mediaWarmupMs: 300,
      mediaExtendToSessions: 0, // one step: no doubling until the relay fails
      mediaRefineSteps: 0,
      httpRequests: 200,
      httpConnections: 4,
      httpCallRate: 10,
      httpHoldMs: 1000,
      outDir: out,
      budgetS: 150,
      log: (m: string) => logs.push(m),
    });
    result = await runBench(o);
    const r = result.report;

    // Kamailio: the reference must always run.
    const sc = r.signalling.find((s) => s.scenario === 'udp-basic');
    expect(sc).toBeDefined();
    const kam = sc!.targets.find((t) => t.target === 'kamailio')!;
    expect(kam.available, kam.reason).toBe(true);
    expect(kam.steps).toHaveLength(1);
    const ks = kam.steps[0]!;
    expect(ks.calls).toBe(20);
    expect(ks.successful + ks.failed).toBe(20);
    expect(ks.successful, logs.join('\n')).toBeGreaterThanOrEqual(18);
    expect(ks.setupMs.p50).not.toBeNull();
    expect(ks.memPeakKb).toBeGreaterThan(0);

    // The SBC: npm test builds dist/ first, so a missing build fails here instead of passing as 'not available'.
    expect(existsSync(sbcMainPath()), `${sbcMainPath()} not found: run 'npm run build' first (npm test does)`).toBe(true);
    const sbc = sc!.targets.find((t) => t.target === 'sbc')!;
    expect(sbc.available, sbc.reason).toBe(true);
    expect(sbc.steps).toHaveLength(1);
    expect(sbc.steps[0]!.successful, logs.join('\n')).toBeGreaterThanOrEqual(18);

    // Media through rtpengine: everything sent comes back (latency depends on the machine).
    const rtpe = r.media.find((m) => m.engine === 'rtpengine')!;
    expect(rtpe.available, rtpe.reason).toBe(true);
    expect(rtpe.steps).toHaveLength(1);
    const ms = rtpe.steps[0]!;
    expect(ms.streams).toBe(2);
    expect(ms.sent).toBeGreaterThan(100);
    expect(ms.lossRatio).toBeLessThan(0.01);
    expect(ms.p50Ms).toBeGreaterThanOrEqual(0);

    // Concurrent calls: both targets hold 20 calls; the SBC also reports its JS heap (after GC) idle and held.
    const kc = r.concurrent.find((c) => c.target === 'kamailio')!;
    expect(kc.available, kc.reason).toBe(true);
    expect(kc.levels).toHaveLength(1);
    expect(kc.heapPerCallBytes).toBeNull();
    const scc = r.concurrent.find((c) => c.target === 'sbc')!;
    expect(scc.available, scc.reason).toBe(true);
    const lv = scc.levels[0]!;
    expect(lv.successful, logs.join('\n')).toBeGreaterThanOrEqual(19);
    expect(lv.heapIdleBytes, scc.heapNote).toBeGreaterThan(0);
    expect(lv.heapAtPeakBytes).toBeGreaterThan(0);
    expect(lv.heapPerCallBytes).not.toBeNull();
    expect(lv.callsHeldAtPeak).not.toBeNull();

    // HTTP: a few hundred requests to each SBC endpoint while sipp calls run through it.
    expect(r.http.ran, r.http.reason).toBe(true);
    expect(r.http.endpoints.map((e) => e.path)).toEqual(['/metrics', '/api/v1/status']);
    for (const e of r.http.endpoints) {
      expect(e.tool).toBe('autocannon');
      expect(e.requests).toBe(200);
      expect(e.errors + e.non2xx).toBe(0);
      expect(e.requestsPerSecond).toBeGreaterThan(0);
      expect(e.p99Ms).toBeGreaterThanOrEqual(e.p50Ms);
    }
    expect(r.http.load!.successful, logs.join('\n')).toBeGreaterThan(0);
    expect(result.markdown).toContain('| GET /metrics |');

    // Outputs.
    expect(JSON.parse(readFileSync(result.jsonPath, 'utf8'))).toMatchObject({ tool: 'sbc-bench' });
    expect(readFileSync(result.markdownPath, 'utf8')).toContain('| udp-basic | kamailio |');
    expect(readFileSync(result.pngPath).subarray(1, 4).toString('latin1')).toBe('PNG');

    // Nothing left running.
    expect(liveProcessCount()).toBe(0);
  }, 170_000);
});

describe('bench media engines smoke', () => {
  it('relays 20 sessions for 1 s on the native relay with several relay threads, and through the SRTP<->RTP chains', async () => {
    const work = mkdtempSync(join(tmpdir(), 'bench-media-'));
    const logs: string[] = [];
    try {
      const media = await runMediaBench({
        engines: ['sbc-native-mt', 'sbc-native-srtp', 'rtpengine-srtp'],
        sessionSteps: [20],
        durationMs: 1000,
        warmupMs: 300,
        workDir: work,
        log: (m) => logs.push(m),
      });
      for (const m of media) {
        expect(m.available, `${m.engine}: ${m.reason ?? ''}\n${logs.join('\n')}`).toBe(true);
        expect(m.steps.length, `${m.engine}: ${m.reason ?? ''}`).toBeGreaterThanOrEqual(1);
        const st = m.steps[0]!;
        expect(st.sent).toBeGreaterThan(0);
        expect(st.received, m.engine).toBeGreaterThan(0);
        expect(st.note, m.engine).not.toMatch(/wrong socket|SRTP authentication/);
      }
      const mt = media.find((m) => m.engine === 'sbc-native-mt')!;
      expect(mt.kind).toBe('native');
      expect(mt.threads).toBe(relayThreadCount());
      expect(mt.threads).toBeGreaterThanOrEqual(2);
      // The chain's inner legs carried SRTP: two per session, packets in, none failing authentication.
      const srtp = media.find((m) => m.engine === 'sbc-native-srtp')!.steps[0]!.srtpLegs;
      expect(srtp).toBeDefined();
      expect(srtp!.legs).toBe(40);
      expect(srtp!.packetsIn).toBeGreaterThan(0);
      expect(srtp!.authFailures).toBe(0);
      expect(media.find((m) => m.engine === 'rtpengine-srtp')!.srtp).toBe(true);

      const report: BenchReport = {
        tool: 'sbc-bench', version: 1, startedAt: 't', finishedAt: 't', wallSeconds: 1, quick: true,
        host: { cpus: 2, cpuModel: 'x', node: 'v20', loadAverage: [0, 0, 0], versions: {} },
        criteria: { maxFailedRatio: 0.001, maxRetransRatio: 0.01, setupSloMs: 50, maxWallFactor: 1.2, mediaP99Ms: 10, mediaLateRatio: 0.001, mediaLossRatio: 0.001, warmupCalls: 0, sbcThreads: '1' },
        signalling: [], concurrent: [], media, http: { ran: false, endpoints: [], reason: 'skipped' }, notes: [],
      };
      const md = markdownSummary(report);
      expect(md).toContain(`| sbc-native-mt (native, ${mt.threads} threads) |`);
      expect(md).toContain('| sbc-native-srtp (native, 1 thread) |');
      expect(md).toContain('| rtpengine-srtp (');
      expect(liveProcessCount()).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});
