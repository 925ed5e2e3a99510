/**
 * QoE feeds: a report per call (and every QOEReportInterval seconds for long
 * calls) to the configured collectors, with the same spool-and-retry rule
 * as CDRs (src/delivery/reliable.ts):
 *  - JSON over HTTP(S) (QOEHttpCollectorUrl): one JSON object per report,
 *    batches POSTed as a JSON array;
 *  - SIP PUBLISH with an RFC 6035 vq-rtcpxr body toward QOEServerIP:QOEPort,
 *    one per leg of each stream. The SIP send itself goes through
 *    QoePublishPort, which the call engine provides (it owns the transaction
 *    layer); a non-2xx final response counts as a failed delivery.
 */
import { join } from 'node:path';
import { createSpooledDelivery, type DeliveryTransport, type ReliableDelivery } from '../delivery/reliable.js';
import { HttpPostTransport } from '../delivery/http-transport.js';
import type { CdrMediaDirection, CdrMediaLeg, CdrMediaStream, QoeColor } from '../cdr/model.js';
import { DeliveryBacked, type CdrSinkStats } from '../cdr/sink.js';
import type { Logger } from '../util/logger.js';
import { computeListeningQuality } from './emodel.js';
import { buildVqRtcpXr, emptyVqMetrics, type VqMetrics, type VqReport } from './vq-rtcpxr.js';

export interface QoeCallReport {
  /** session: at the end of the call; interval: periodic while it lasts. */
  kind: 'session' | 'interval';
  sessionId: string;
  legACallId: string;
  legBCallId: string | null;
  srcIpGroup: string | null;
  dstIpGroup: string | null;
  callerUri: string;
  calleeUri: string;
  /** Interval covered (ms since the epoch). */
  start: number;
  stop: number;
  streams: CdrMediaStream[];
  verdict: QoeColor | null;
}

export interface QoeFeed {
  readonly name: string;
  /** Queues a report; synchronous, never throws. */
  report(r: QoeCallReport): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): CdrSinkStats;
}

/** What the engine provides for the PUBLISH feed. */
export interface QoePublishPort {
  /**
   * Sends one out-of-dialog PUBLISH (Event: vq-rtcpxr, Content-Type:
   * application/vq-rtcpxr, RFC 6035 §5) with this body to host:port and
   * resolves with the final response status; rejects on timeout or
   * transport error.
   */
  publish(req: { host: string; port: number; body: string; callId: string }): Promise<number>;
}

export class JsonQoeFeed extends DeliveryBacked implements QoeFeed {
  report(r: QoeCallReport): void {
    this.delivery.enqueue(JSON.stringify({ ...r, start: new Date(r.start).toISOString(), stop: new Date(r.stop).toISOString() }));
  }
}

const round = (n: number | null): number | null => (n === null ? null : Math.round(n * 100) / 100);

function vqMetrics(d: CdrMediaDirection, s: CdrMediaStream, start: number, stop: number): VqMetrics {
  const lq = d.lossPct !== null && s.coder !== null && d.packets > 0 ? computeListeningQuality({ codec: s.coder, packetLossPct: d.lossPct }) : null;
  return {
    ...emptyVqMetrics(),
    start, stop,
    payloadDesc: s.coder,
    frameDurationMs: s.ptimeMs,
    packetsPerSecond: s.ptimeMs !== null && s.ptimeMs > 0 ? Math.round(1000 / s.ptimeMs) : null,
    networkLossPct: round(d.lossPct),
    interarrivalJitterMs: round(d.jitterMs),
    roundTripDelayMs: d.rttMs === null ? null : Math.round(d.rttMs),
    rLq: lq === null ? null : Math.round(lq.R),
    rCq: d.rFactor === null ? null : Math.round(d.rFactor),
    mosLq: lq === null ? null : lq.mos,
    mosCq: round(d.mos),
    estimationAlgorithm: d.mos !== null || lq !== null ? 'G.107' : null,
  };
}

/** The RFC 6035 report of one leg of one stream: LocalMetrics = what we received from that leg's peer, RemoteMetrics = what it reported. */
export function vqReportFor(r: QoeCallReport, s: CdrMediaStream, leg: 'A' | 'B', sbcId: string): VqReport {
  const l: CdrMediaLeg = s[leg];
  const callId = (leg === 'A' ? r.legACallId : r.legBCallId) ?? r.legACallId;
  const peer = leg === 'A' ? r.callerUri : r.calleeUri;
  return {
    type: r.kind === 'session' ? 'VQSessionReport' : 'VQIntervalReport',
    qualifier: r.kind === 'session' ? 'CallTerm' : null,
    callId,
    localId: sbcId,
    remoteId: peer,
    origId: r.callerUri,
    localGroup: r.sessionId,
    remoteGroup: null,
    localAddr: l.localRtp === null ? null : { ip: l.localRtp.address, port: l.localRtp.port, ssrc: null },
    remoteAddr: l.remoteRtp === null ? null : { ip: l.remoteRtp.address, port: l.remoteRtp.port, ssrc: null },
    dialogId: null,
    local: vqMetrics(l.rx, s, r.start, r.stop),
    remote: vqMetrics(l.tx, s, r.start, r.stop),
  };
}

/** Folds a phone's RemoteMetrics/LocalMetrics (parsed vq-rtcpxr) into a media direction (for the call report). */
export function mediaDirectionFromVq(m: VqMetrics, packets = 0): CdrMediaDirection {
  return {
    packets, bytes: null, lost: null, lossPct: m.networkLossPct, jitterMs: m.interarrivalJitterMs, rttMs: m.roundTripDelayMs,
    mos: m.mosCq ?? m.mosLq, rFactor: m.rCq ?? m.rLq,
  };
}

class SipPublishTransport implements DeliveryTransport {
  readonly description: string;
  constructor(private readonly port: QoePublishPort, private readonly host: string, private readonly portNo: number) {
    this.description = `sip-publish ${host}:${portNo}`;
  }
  async send(batch: readonly string[]): Promise<void> {
    for (const item of batch) {
      const { body, callId } = JSON.parse(item) as { body: string; callId: string };
      const status = await this.port.publish({ host: this.host, port: this.portNo, body, callId });
      if (status < 200 || status >= 300) throw new Error(`collector answered ${status}`);
    }
  }
  async close(): Promise<void> {}
}

export class VqPublishFeed extends DeliveryBacked implements QoeFeed {
  constructor(delivery: ReliableDelivery, private readonly sbcId: string) {
    super(delivery.name, delivery);
  }
  report(r: QoeCallReport): void {
    for (const s of r.streams) {
      for (const leg of ['A', 'B'] as const) {
        const vq = vqReportFor(r, s, leg, this.sbcId);
        this.delivery.enqueue(JSON.stringify({ callId: vq.callId, body: buildVqRtcpXr(vq) }));
      }
    }
  }
}

export interface QoeFeedSettings {
  sipCollector: { host: string; port: number } | null;
  httpUrl: string | null;
  spoolDir: string | null;
  spoolMaxBytes: number;
  /** LocalID of our vq-rtcpxr reports, e.g. "<sip:sbc@192.0.2.1>". */
  sbcId: string;
  /** Retry backoff bounds (default 500 ms .. 30 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** The feeds the settings ask for; the PUBLISH feed only when a port is given. */
export async function createQoeFeeds(s: QoeFeedSettings, log: Logger, publish: QoePublishPort | null): Promise<QoeFeed[]> {
  const feeds: QoeFeed[] = [];
  const retry = {
    ...(s.retryMinMs !== undefined ? { retryMinMs: s.retryMinMs } : {}),
    ...(s.retryMaxMs !== undefined ? { retryMaxMs: s.retryMaxMs } : {}),
  };
  if (s.httpUrl !== null) {
    const d = await createSpooledDelivery({
      ...retry, name: 'qoe-http', transport: new HttpPostTransport({ url: s.httpUrl }), lingerMs: 200,
      spoolDir: s.spoolDir === null ? null : join(s.spoolDir, 'qoe-http'), maxSpoolBytes: s.spoolMaxBytes, log: log.child({ sink: 'qoe-http' }),
    });
    feeds.push(new JsonQoeFeed(d.name, d));
  }
  if (s.sipCollector !== null && publish !== null) {
    const d = await createSpooledDelivery({
      ...retry, name: 'qoe-publish', transport: new SipPublishTransport(publish, s.sipCollector.host, s.sipCollector.port), maxBatch: 20,
      spoolDir: s.spoolDir === null ? null : join(s.spoolDir, 'qoe-publish'), maxSpoolBytes: s.spoolMaxBytes, log: log.child({ sink: 'qoe-publish' }),
    });
    feeds.push(new VqPublishFeed(d, s.sbcId));
  }
  return feeds;
}
