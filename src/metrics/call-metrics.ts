/**
 * Per IP Group call metrics and CDR/QoE delivery health for /metrics. Every
 * gauge reads its value in a collect() callback, so it is current at the
 * moment Prometheus scrapes, whatever else was (or was not) requested.
 *
 *   sbc_ip_group_calls_active{ip_group}             live calls (when the engine gives a per-group count)
 *   sbc_ip_group_calls_total{ip_group,direction,category}   ended calls by termination category
 *   sbc_ip_group_asr / _ner{ip_group,direction}      0..1 over the last N calls
 *   sbc_ip_group_acd_seconds{ip_group,direction}     mean answered duration over the last N calls
 *   sbc_ip_group_mos_avg{ip_group,direction}         mean MOS over the last N calls
 *   sbc_ip_group_poor_calls_ratio{ip_group,direction} share of calls with MOS < 3.1
 *   sbc_call_mos{ip_group} (histogram)               MOS distribution of ended calls (by source group)
 *   sbc_cdr_sink_{written,queued,spooled,lost,errors,up}{sink}
 *   sbc_qos_alarm{ip_group,metric,severity}          1 while a QualityOfServiceRules alarm is raised
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CdrRecord } from '../cdr/model.js';
import type { CdrSinkStats } from '../cdr/sink.js';
import { IpGroupCallStats, outcomeOf, type CallWindowSummary } from '../qoe/call-window.js';

export interface CallMetricsSources {
  /** Live calls per source IP Group; optional (the engine's call table). */
  activeCallsByIpGroup?: () => ReadonlyMap<string, number>;
  /** CDR and QoE sinks' health, by sink name. */
  sinkStats?: () => Record<string, CdrSinkStats>;
  /** Raised QoS alarms. */
  alarms?: () => ReadonlyArray<{ ipGroup: string; metric: string; severity: string }>;
}

export class CallMetrics {
  readonly stats: IpGroupCallStats;
  private readonly callsTotal: Counter<'ip_group' | 'direction' | 'category'>;
  private readonly mos: Histogram<'ip_group'>;

  constructor(registry: Registry, private readonly sources: CallMetricsSources = {}, windowCalls = 100) {
    this.stats = new IpGroupCallStats(windowCalls);
    const registers = [registry];
    this.callsTotal = new Counter({
      name: 'sbc_ip_group_calls_total', help: 'Ended calls per IP Group, direction (in = from it, out = to it) and termination category',
      labelNames: ['ip_group', 'direction', 'category'], registers,
    });
    this.mos = new Histogram({
      name: 'sbc_call_mos', help: 'E-model MOS of ended calls (worst direction), by source IP Group',
      labelNames: ['ip_group'], buckets: [1.5, 2, 2.5, 3, 3.1, 3.5, 3.8, 4, 4.2, 4.3, 4.4, 4.5], registers,
    });
    const self = this;
    const windowGauge = (name: string, help: string, pick: (s: CallWindowSummary) => number | null): void => {
      new Gauge({
        name, help, labelNames: ['ip_group', 'direction'], registers,
        collect(this: Gauge<'ip_group' | 'direction'>) {
          this.reset();
          for (const e of self.stats.entries()) {
            const v = pick(e.summary);
            if (v !== null) this.set({ ip_group: e.ipGroup, direction: e.direction }, v);
          }
        },
      });
    };
    windowGauge('sbc_ip_group_asr', 'Answer-seizure ratio over the last N calls (0..1)', (s) => s.asr);
    windowGauge('sbc_ip_group_ner', 'Network effectiveness ratio (ITU-T E.425) over the last N calls (0..1)', (s) => s.ner);
    windowGauge('sbc_ip_group_acd_seconds', 'Average duration of answered calls over the last N calls', (s) => s.acdSec);
    windowGauge('sbc_ip_group_mos_avg', 'Average MOS over the last N calls with media', (s) => s.avgMos);
    windowGauge('sbc_ip_group_poor_calls_ratio', 'Share of the last N calls with MOS below 3.1', (s) => s.poorRatio);
    windowGauge('sbc_ip_group_window_calls', 'Calls in the window the ratios are computed over', (s) => s.calls);
    new Gauge({
      name: 'sbc_ip_group_calls_active', help: 'Live calls per source IP Group', labelNames: ['ip_group'], registers,
      collect(this: Gauge<'ip_group'>) {
        this.reset();
        const m = sources.activeCallsByIpGroup?.();
        if (m !== undefined) for (const [g, n] of m) this.set({ ip_group: g }, n);
      },
    });
    const sinkGauge = (field: keyof CdrSinkStats, help: string): void => {
      new Gauge({
        name: `sbc_cdr_sink_${field}`, help, labelNames: ['sink'], registers,
        collect(this: Gauge<'sink'>) {
          this.reset();
          const all = sources.sinkStats?.() ?? {};
          for (const [sink, st] of Object.entries(all)) this.set({ sink }, typeof st[field] === 'boolean' ? (st[field] ? 1 : 0) : (st[field] as number));
        },
      });
    };
    sinkGauge('written', 'Records written or delivered by the sink (since start)');
    sinkGauge('queued', 'Records waiting in memory');
    sinkGauge('spooled', 'Records waiting in the disk spool');
    sinkGauge('lost', 'Records lost because a bound was hit (since start)');
    sinkGauge('errors', 'Failed writes or sends (since start)');
    sinkGauge('up', '1 while the sink\'s disk or receiver works');
    new Gauge({
      name: 'sbc_qos_alarm', help: '1 while a QualityOfServiceRules alarm is raised', labelNames: ['ip_group', 'metric', 'severity'], registers,
      collect(this: Gauge<'ip_group' | 'metric' | 'severity'>) {
        this.reset();
        for (const a of sources.alarms?.() ?? []) this.set({ ip_group: a.ipGroup, metric: a.metric, severity: a.severity }, 1);
      },
    });
  }

  /** Feed with every CDR (CdrPipeline.onRecord). */
  onCdr(r: CdrRecord): void {
    if (r.reportType !== 'CALL_END') return;
    this.stats.record(r);
    const category = r.terminationCategory ?? (r.connectTime !== null ? 'normal' : 'failed');
    if (r.legA.ipGroup) this.callsTotal.inc({ ip_group: r.legA.ipGroup, direction: 'in', category });
    if (r.legB.ipGroup) this.callsTotal.inc({ ip_group: r.legB.ipGroup, direction: 'out', category });
    const mos = outcomeOf(r).mos;
    if (mos !== null) this.mos.observe({ ip_group: r.legA.ipGroup ?? '' }, mos);
  }
}
