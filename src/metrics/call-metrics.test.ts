import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, startApiServer } from '../api/server.js';
import { sampleCdr } from '../cdr/sample-record.js';
import { silentLogger } from '../util/logger.js';
import { CallMetrics } from './call-metrics.js';
import { SipMessageTally, sipMessageLabel } from './sip-messages.js';

function value(text: string, name: string, labels: string): number | null {
  const re = new RegExp(`^${name}\\{${labels.replace(/[{}]/g, '\\$&')}\\} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m === null ? null : Number(m[1]);
}

describe('CallMetrics', () => {
  it('per IP Group ASR, NER, ACD, average MOS and poor ratio are computed at scrape from the last N calls', async () => {
    const reg = new Registry();
    const live = new Map([['PBX', 3]]);
    const m = new CallMetrics(reg, {
      activeCallsByIpGroup: () => live,
      sinkStats: () => ({ 'local:cdr.csv': { written: 7, queued: 1, spooled: 0, lost: 0, errors: 0, up: true } }),
      alarms: () => [{ ipGroup: 'ITSP', metric: 'asr', severity: 'major' }],
    }, 4);
    const mk = (connected: boolean, category: 'normal' | 'busy' | 'failed', mos: number | null) => {
      const r = sampleCdr({ connectTime: connected ? 1 : null, durationMs: connected ? 60_000 : 0, terminationCategory: category });
      r.media[0]!.A.rx.mos = mos;
      for (const leg of [r.media[0]!.A, r.media[0]!.B]) {
        leg.tx = { ...leg.tx, mos };
        if (leg !== r.media[0]!.A) leg.rx = { ...leg.rx, mos };
      }
      if (mos === null) r.media = [];
      return r;
    };
    m.onCdr(mk(true, 'normal', 4.4));
    m.onCdr(mk(true, 'normal', 2.5));
    m.onCdr(mk(false, 'busy', null));
    m.onCdr(mk(false, 'failed', null));
    m.onCdr(sampleCdr({ reportType: 'CALL_START' })); // not an end record: ignored
    const text = await reg.metrics();
    const L = 'ip_group="PBX",direction="in"';
    expect(value(text, 'sbc_ip_group_asr', L)).toBe(0.5);
    expect(value(text, 'sbc_ip_group_ner', L)).toBe(0.75);
    expect(value(text, 'sbc_ip_group_acd_seconds', L)).toBe(60);
    expect(value(text, 'sbc_ip_group_mos_avg', L)).toBeCloseTo(3.45, 5);
    expect(value(text, 'sbc_ip_group_poor_calls_ratio', L)).toBe(0.5);
    expect(value(text, 'sbc_ip_group_asr', 'ip_group="ITSP",direction="out"')).toBe(0.5);
    expect(value(text, 'sbc_ip_group_calls_active', 'ip_group="PBX"')).toBe(3);
    expect(value(text, 'sbc_ip_group_calls_total', 'ip_group="PBX",direction="in",category="busy"')).toBe(1);
    expect(value(text, 'sbc_cdr_sink_queued', 'sink="local:cdr.csv"')).toBe(1);
    expect(value(text, 'sbc_cdr_sink_up', 'sink="local:cdr.csv"')).toBe(1);
    expect(value(text, 'sbc_qos_alarm', 'ip_group="ITSP",metric="asr",severity="major"')).toBe(1);
    expect(value(text, 'sbc_call_mos_count', 'ip_group="PBX"')).toBe(2);
    // Live values change without anything but a scrape.
    live.set('PBX', 0);
    expect(value(await reg.metrics(), 'sbc_ip_group_calls_active', 'ip_group="PBX"')).toBe(0);
    // The window slides: four more answered calls push the failures out.
    for (let i = 0; i < 4; i++) m.onCdr(mk(true, 'normal', 4.4));
    expect(value(await reg.metrics(), 'sbc_ip_group_asr', L)).toBe(1);
  });
});

describe('sbc_sip_messages_total', () => {
  it('counts requests by method and responses by class', async () => {
    const reg = new Registry();
    const c = new Counter({ name: 'sbc_sip_messages_total', help: 'x', labelNames: ['method', 'direction'] as const, registers: [reg] });
    const tally = new SipMessageTally();
    tally.count({ isRequest: true, method: 'INVITE', status: 0 }, 'in');
    tally.count({ isRequest: true, method: 'invite', status: 0 }, 'in');
    tally.count({ isRequest: false, method: 'INVITE', status: 180 }, 'out');
    tally.count({ isRequest: true, method: 'FOO', status: 0 }, 'in');
    tally.foldInto(c);
    tally.foldInto(c); // only the growth since the last fold
    const text = await reg.metrics();
    expect(value(text, 'sbc_sip_messages_total', 'method="INVITE",direction="in"')).toBe(2);
    expect(value(text, 'sbc_sip_messages_total', 'method="1xx",direction="out"')).toBe(1);
    expect(value(text, 'sbc_sip_messages_total', 'method="OTHER",direction="in"')).toBe(1);
    expect(sipMessageLabel({ isRequest: false, method: '', status: 999 })).toBe('OTHER');
  });

  it('a worker thread tallies the same labels per direction', () => {
    const t = new SipMessageTally();
    t.count({ isRequest: true, method: 'BYE', status: 0 }, 'in');
    t.count({ isRequest: false, method: 'BYE', status: 200 }, 'out');
    t.count({ isRequest: false, method: 'BYE', status: 200 }, 'out');
    expect(t.totals()).toEqual({ 'BYE|in': 1, '2xx|out': 2 });
  });
});

describe('/metrics and /api/v1/cdrs', () => {
  it('live gauges are current at scrape with no /status call; the CDR route filters and validates', async () => {
    const metrics = createMetrics();
    let calls = 2;
    metrics.bindLive({ activeCalls: () => calls, relaySessions: () => calls });
    const ring = [sampleCdr({ sessionId: 'x1' }), sampleCdr({ sessionId: 'x2', callerBeforeMap: { user: '4242', uri: 'sip:4242@pbx', displayName: null } })];
    const { server, port } = await startApiServer({
      host: '127.0.0.1', port: 0, metrics, logger: silentLogger(),
      // Authentication is api/auth.test.ts's subject; here the routes themselves are.
      auth: { enabled: false, users: () => [] },
      backend: { status: () => ({ version: 't', uptimeSec: 0, activeCalls: -1 }), calls: () => [], proxySets: () => ({}), reload: async () => ({ ok: true, diagnostics: [], changes: [] }) },
      cdrs: () => ({ recent: () => ring, archive: null }),
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      let text = await (await fetch(`${base}/metrics`)).text();
      expect(/^sbc_active_calls 2$/m.test(text)).toBe(true);
      expect(/^sbc_media_relay_sessions 2$/m.test(text)).toBe(true);
      calls = 0;
      text = await (await fetch(`${base}/metrics`)).text();
      expect(/^sbc_active_calls 0$/m.test(text)).toBe(true);

      const all = (await (await fetch(`${base}/api/v1/cdrs`)).json()) as { count: number; records: Array<{ sessionId: string }> };
      expect(all.records.map((r) => r.sessionId)).toEqual(['x2', 'x1']);
      const one = (await (await fetch(`${base}/api/v1/cdrs?caller=4242&limit=5`)).json()) as { count: number };
      expect(one.count).toBe(1);
      expect((await fetch(`${base}/api/v1/cdrs?limit=0`)).status).toBe(400);
      expect((await fetch(`${base}/api/v1/cdrs?from=yesterday`)).status).toBe(400);
      const win = (await (await fetch(`${base}/api/v1/cdrs?from=2030-01-01T00:00:00Z`)).json()) as { count: number };
      expect(win.count).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('contrib/grafana dashboard', () => {
  it('uses only metrics the SBC exports', async () => {
    const { readFile } = await import('node:fs/promises');
    const dash = await readFile(new URL('../../contrib/grafana/sbc-cdr-qoe.json', import.meta.url), 'utf8');
    JSON.parse(dash);
    const used = new Set([...dash.matchAll(/\b(sbc_[a-z_]+)/g)].map((m) => m[1]!));
    const metrics = createMetrics();
    const cm = new CallMetrics(metrics.registry, {});
    cm.onCdr(sampleCdr());
    const names = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const exported = (n: string): boolean => names.has(n) || names.has(n.replace(/_(bucket|sum|count)$/, ''));
    expect([...used].filter((n) => !exported(n))).toEqual([]);
    expect(used.size).toBeGreaterThan(10);
  });
});
