/**
 * CDRs, QoE and call metrics assembled from the configuration: the one
 * object the SBC hands the call engine's records to. The engine calls
 * `emit(record)` for every CDR event (or `emitLegacy` with today's
 * CallDetailRecord); this judges each stream against the IP Groups' QoE
 * profiles, feeds the metrics and QoS rules, writes the record to every
 * CDR sink, and sends the call's QoE report to the QoE collectors.
 * `close()` on shutdown flushes every sink, feed and spool.
 *
 * Sink settings are read at start; a reload does not change them.
 */
import type { SbcConfig } from '../config/index.js';
import { qoeSettings, cdrSettings } from '../config/observability.js';
import { createCdrPipeline } from '../cdr/from-config.js';
import { fromLegacyCdr } from '../cdr/legacy.js';
import type { CdrRecord } from '../cdr/model.js';
import type { CdrPipeline } from '../cdr/pipeline.js';
import type { CdrArchive } from '../cdr/query.js';
import type { CallDetailRecord } from '../cdr/record.js';
import type { CdrSinkStats } from '../cdr/sink.js';
import { CallMetrics } from '../metrics/call-metrics.js';
import { createQoeFeeds, type QoeCallReport, type QoeFeed, type QoePublishPort } from '../qoe/feed.js';
import { compileQoeProfiles, defaultQoeProfile, judgeStream, worst, type QoeProfile } from '../qoe/profile.js';
import { QosRules } from '../qoe/qos-alarm.js';
import type { CdrApiSource } from '../api/cdr-routes.js';
import type { SbcMetrics } from '../api/server.js';
import type { Logger } from '../util/logger.js';

export interface ObservabilityOptions {
  /** Sends RFC 6035 PUBLISH to the QoE collector (the engine's transaction layer); null = no PUBLISH feed. */
  publish?: QoePublishPort | null;
  /** LocalID of our vq-rtcpxr reports. */
  sbcId?: string;
  /** Live calls per source IP Group, for sbc_ip_group_calls_active. */
  activeCallsByIpGroup?: () => ReadonlyMap<string, number>;
}

export class Observability {
  private constructor(
    readonly cdr: CdrPipeline,
    private readonly archive: CdrArchive | null,
    readonly callMetrics: CallMetrics,
    readonly qos: QosRules,
    readonly feeds: readonly QoeFeed[],
    private readonly profiles: ReadonlyMap<string, QoeProfile>,
    private readonly groupProfile: ReadonlyMap<string, string>,
    private readonly log: Logger,
  ) {}

  /** Runs first on every record (phones' QoE reports folded into the call's end record). */
  beforeEmit: ((record: CdrRecord) => void) | null = null;

  static async create(config: SbcConfig, metrics: SbcMetrics, log: Logger, opts: ObservabilityOptions = {}): Promise<Observability> {
    const built = await createCdrPipeline(config, log.child({ module: 'cdr' }));
    const cdr = cdrSettings(config);
    const q = qoeSettings(config);
    const feeds = await createQoeFeeds({
      sipCollector: q.sipCollector, httpUrl: q.httpUrl, spoolDir: cdr.spoolDir, spoolMaxBytes: cdr.spoolMaxBytes,
      sbcId: opts.sbcId ?? '<sip:sbc@localhost>',
    }, log.child({ module: 'qoe' }), opts.publish ?? null);
    const qos = new QosRules(config.qualityOfServiceRules, log.child({ module: 'qos' }));
    let self: Observability | null = null;
    const callMetrics = new CallMetrics(metrics.registry, {
      ...(opts.activeCallsByIpGroup !== undefined ? { activeCallsByIpGroup: opts.activeCallsByIpGroup } : {}),
      sinkStats: () => self?.sinkStats() ?? {},
      alarms: () => qos.active(),
    });
    const groupProfile = new Map<string, string>();
    for (const g of config.ipGroups) if (g.qoeProfile.trim() !== '') groupProfile.set(g.name.toLowerCase(), g.qoeProfile.toLowerCase());
    self = new Observability(
      built.pipeline, built.archive, callMetrics, qos, feeds, compileQoeProfiles(config.qoeProfiles, config.qoeColorRules), groupProfile, log,
    );
    built.pipeline.onRecord((r) => callMetrics.onCdr(r));
    built.pipeline.onRecord((r) => qos.onCdr(r));
    return self;
  }

  /** The QoE profiles judging a call between these IP Groups (the default profile when neither names one). */
  profilesFor(srcIpGroup: string | null, dstIpGroup: string | null): QoeProfile[] {
    const out: QoeProfile[] = [];
    for (const g of [srcIpGroup, dstIpGroup]) {
      const name = g === null ? undefined : this.groupProfile.get(g.toLowerCase());
      const p = name === undefined ? undefined : this.profiles.get(name);
      if (p !== undefined && !out.includes(p)) out.push(p);
    }
    return out.length > 0 ? out : [defaultQoeProfile()];
  }

  /** The engine's one call per CDR event. Synchronous; never throws. */
  emit(record: CdrRecord): void {
    try {
      this.beforeEmit?.(record);
      if (record.media.length > 0) {
        const profiles = this.profilesFor(record.legA.ipGroup, record.legB.ipGroup);
        for (const s of record.media) if (s.verdict === null) s.verdict = worst(profiles.map((p) => judgeStream(p, s)));
        if (record.qoeVerdict === null) record.qoeVerdict = worst(record.media.map((s) => s.verdict ?? 'gray'));
      }
      this.cdr.emit(record);
      if (record.reportType === 'CALL_END' && record.media.length > 0 && this.feeds.length > 0) {
        this.qoeReport({
          kind: 'session', sessionId: record.sessionId, legACallId: record.legA.callId ?? '', legBCallId: record.legB.callId,
          srcIpGroup: record.legA.ipGroup, dstIpGroup: record.legB.ipGroup,
          callerUri: record.callerBeforeMap.uri || record.callerBeforeMap.user, calleeUri: record.callee.uri || record.callee.user,
          start: record.connectTime ?? record.setupTime, stop: record.releaseTime ?? record.recordTime, streams: record.media, verdict: record.qoeVerdict,
        });
      }
    } catch (err) {
      this.log.error({ err, sessionId: record.sessionId }, 'CDR could not be processed');
    }
  }

  /** Today's engine record (src/cdr/record.ts) through the same path. */
  emitLegacy(record: CallDetailRecord): void {
    let r: CdrRecord;
    try {
      r = fromLegacyCdr(record);
    } catch (err) {
      this.log.error({ err, callId: record.callId }, 'CDR could not be converted');
      return;
    }
    this.emit(r);
  }

  /** A QoE report (also the periodic ones for long calls) to every QoE feed. */
  qoeReport(r: QoeCallReport): void {
    for (const f of this.feeds) {
      try {
        f.report(r);
      } catch (err) {
        this.log.error({ err, feed: f.name }, 'QoE feed failed');
      }
    }
  }

  apiSource(): CdrApiSource {
    return { recent: () => this.cdr.recent(), archive: this.archive };
  }

  sinkStats(): Record<string, CdrSinkStats> {
    const out = this.cdr.stats().sinks;
    for (const f of this.feeds) out[f.name] = f.stats();
    return out;
  }

  /** Flushes and closes every CDR sink and QoE feed (spooling what receivers did not take). */
  async close(): Promise<void> {
    await Promise.all([this.cdr.close(), ...this.feeds.map((f) => f.close().catch((err: unknown) => this.log.error({ err }, 'QoE feed close failed')))]);
  }
}
