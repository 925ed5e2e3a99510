/**
 * RFC 6035 "application/vq-rtcpxr" bodies: the SIP PUBLISH (Event:
 * vq-rtcpxr) a phone or an SBC sends a collector with a call's voice
 * quality. Built from our measurements, and parsed when phones send theirs.
 *
 * The body is lines of "Name: value"; metric lines hold space-separated
 * "KEY=VALUE" pairs (§4.2 ABNF), grouped under "LocalMetrics:" (what the
 * reporter measured on what it received) and "RemoteMetrics:" (what the far
 * end reported in RTCP/XR). Lines end with CRLF.
 */

export type VqReportType = 'VQSessionReport' | 'VQIntervalReport' | 'VQAlertReport';

export interface VqMetrics {
  /** Timestamps START / STOP (ms since the epoch). */
  start: number | null;
  stop: number | null;
  /** SessionDesc: PT, PD (payload description), SR (sample rate), FD (frame duration ms), PPS. */
  payloadType: number | null;
  payloadDesc: string | null;
  sampleRate: number | null;
  frameDurationMs: number | null;
  packetsPerSecond: number | null;
  /** JitterBuffer: JBA (0 unknown, 1 reserved, 2 non-adaptive, 3 adaptive), JBN nominal, JBM max, JBX abs max (ms). */
  jitterBufferAdaptive: number | null;
  jitterBufferNominalMs: number | null;
  jitterBufferMaxMs: number | null;
  jitterBufferAbsMaxMs: number | null;
  /** PacketLoss: NLR network loss rate %, JDR jitter buffer discard rate %. */
  networkLossPct: number | null;
  discardPct: number | null;
  /** BurstGapLoss: BLD/GLD densities %, BD/GD durations ms, GMIN. */
  burstDensityPct: number | null;
  burstDurationMs: number | null;
  gapDensityPct: number | null;
  gapDurationMs: number | null;
  gmin: number | null;
  /** Delay: RTD round trip, ESD end system, IAJ interarrival jitter (ms). */
  roundTripDelayMs: number | null;
  endSystemDelayMs: number | null;
  interarrivalJitterMs: number | null;
  /** QualityEst: RLQ/RCQ R factors, MOSLQ/MOSCQ, QoEEstAlg. */
  rLq: number | null;
  rCq: number | null;
  mosLq: number | null;
  mosCq: number | null;
  estimationAlgorithm: string | null;
}

export interface VqAddr {
  ip: string;
  port: number;
  /** SSRC in hex (0x...). */
  ssrc: number | null;
}

export interface VqReport {
  type: VqReportType;
  /** For VQSessionReport: "CallTerm" when sent at the end of the call. */
  qualifier: string | null;
  callId: string;
  localId: string;
  remoteId: string;
  origId: string;
  localGroup: string | null;
  remoteGroup: string | null;
  localAddr: VqAddr | null;
  remoteAddr: VqAddr | null;
  dialogId: string | null;
  local: VqMetrics | null;
  remote: VqMetrics | null;
}

export function emptyVqMetrics(): VqMetrics {
  return {
    start: null, stop: null, payloadType: null, payloadDesc: null, sampleRate: null, frameDurationMs: null, packetsPerSecond: null,
    jitterBufferAdaptive: null, jitterBufferNominalMs: null, jitterBufferMaxMs: null, jitterBufferAbsMaxMs: null,
    networkLossPct: null, discardPct: null, burstDensityPct: null, burstDurationMs: null, gapDensityPct: null, gapDurationMs: null, gmin: null,
    roundTripDelayMs: null, endSystemDelayMs: null, interarrivalJitterMs: null, rLq: null, rCq: null, mosLq: null, mosCq: null,
    estimationAlgorithm: null,
  };
}

// ---------------------------------------------------------------- building

/** Header values must stay on one line. */
const line1 = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/** §4.2 timestamps: ISO 8601 UTC; we keep milliseconds off, as in the RFC's examples. */
const iso = (t: number): string => new Date(Math.floor(t / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function pairs(list: Array<[string, string | number | null]>): string {
  return list.filter(([, v]) => v !== null).map(([k, v]) => `${k}=${typeof v === 'number' ? fmtNum(v) : v!}`).join(' ');
}

function fmtNum(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}

function metricsLines(m: VqMetrics): string[] {
  const out: string[] = [];
  const add = (name: string, body: string): void => {
    if (body !== '') out.push(`${name}: ${body}`);
  };
  if (m.start !== null && m.stop !== null) out.push(`Timestamps: START=${iso(m.start)} STOP=${iso(m.stop)}`);
  add('SessionDesc', pairs([
    ['PT', m.payloadType], ['PD', m.payloadDesc], ['SR', m.sampleRate], ['FD', m.frameDurationMs], ['PPS', m.packetsPerSecond],
  ]));
  add('JitterBuffer', pairs([
    ['JBA', m.jitterBufferAdaptive], ['JBN', m.jitterBufferNominalMs], ['JBM', m.jitterBufferMaxMs], ['JBX', m.jitterBufferAbsMaxMs],
  ]));
  add('PacketLoss', pairs([['NLR', m.networkLossPct], ['JDR', m.discardPct]]));
  add('BurstGapLoss', pairs([
    ['BLD', m.burstDensityPct], ['BD', m.burstDurationMs], ['GLD', m.gapDensityPct], ['GD', m.gapDurationMs], ['GMIN', m.gmin],
  ]));
  add('Delay', pairs([['RTD', m.roundTripDelayMs], ['ESD', m.endSystemDelayMs], ['IAJ', m.interarrivalJitterMs]]));
  add('QualityEst', pairs([
    ['RLQ', m.rLq], ['RCQ', m.rCq], ['MOSLQ', m.mosLq], ['MOSCQ', m.mosCq], ['QoEEstAlg', m.estimationAlgorithm],
  ]));
  return out;
}

const addr = (a: VqAddr): string =>
  `IP=${a.ip} PORT=${a.port}${a.ssrc !== null ? ` SSRC=0x${(a.ssrc >>> 0).toString(16).padStart(8, '0')}` : ''}`;

export function buildVqRtcpXr(r: VqReport): string {
  const lines: string[] = [];
  lines.push(r.qualifier !== null ? `${r.type}: ${line1(r.qualifier)}` : `${r.type}:`);
  lines.push(`CallID: ${line1(r.callId)}`);
  lines.push(`LocalID: ${line1(r.localId)}`);
  lines.push(`RemoteID: ${line1(r.remoteId)}`);
  lines.push(`OrigID: ${line1(r.origId)}`);
  if (r.localGroup !== null) lines.push(`LocalGroup: ${line1(r.localGroup)}`);
  if (r.remoteGroup !== null) lines.push(`RemoteGroup: ${line1(r.remoteGroup)}`);
  if (r.localAddr !== null) lines.push(`LocalAddr: ${addr(r.localAddr)}`);
  if (r.remoteAddr !== null) lines.push(`RemoteAddr: ${addr(r.remoteAddr)}`);
  if (r.local !== null) lines.push('LocalMetrics:', ...metricsLines(r.local));
  if (r.remote !== null) lines.push('RemoteMetrics:', ...metricsLines(r.remote));
  if (r.dialogId !== null) lines.push(`DialogID: ${line1(r.dialogId)}`);
  return lines.join('\r\n') + '\r\n';
}

// ---------------------------------------------------------------- parsing

/** KEY=VALUE pairs; values may be double-quoted. */
function parsePairs(text: string): Map<string, string> {
  const m = new Map<string, string>();
  const re = /([A-Za-z][A-Za-z0-9-]*)=("([^"]*)"|\S*)/g;
  let x: RegExpExecArray | null;
  while ((x = re.exec(text)) !== null) m.set(x[1]!.toUpperCase(), x[3] ?? x[2]!);
  return m;
}

function num(v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function parseAddr(text: string): VqAddr | null {
  const p = parsePairs(text);
  const ip = p.get('IP');
  const port = num(p.get('PORT'));
  if (ip === undefined || port === null) return null;
  const s = p.get('SSRC');
  const ssrc = s === undefined ? null : Number.parseInt(s.replace(/^0x/i, ''), 16);
  return { ip, port, ssrc: ssrc !== null && Number.isFinite(ssrc) ? ssrc : null };
}

function applyMetricLine(m: VqMetrics, name: string, value: string): void {
  const p = parsePairs(value);
  switch (name) {
    case 'timestamps': {
      const s = Date.parse(p.get('START') ?? '');
      const e = Date.parse(p.get('STOP') ?? '');
      m.start = Number.isFinite(s) ? s : null;
      m.stop = Number.isFinite(e) ? e : null;
      break;
    }
    case 'sessiondesc':
      m.payloadType = num(p.get('PT'));
      m.payloadDesc = p.get('PD') ?? null;
      m.sampleRate = num(p.get('SR'));
      m.frameDurationMs = num(p.get('FD'));
      m.packetsPerSecond = num(p.get('PPS'));
      break;
    case 'jitterbuffer':
      m.jitterBufferAdaptive = num(p.get('JBA'));
      m.jitterBufferNominalMs = num(p.get('JBN'));
      m.jitterBufferMaxMs = num(p.get('JBM'));
      m.jitterBufferAbsMaxMs = num(p.get('JBX'));
      break;
    case 'packetloss':
      m.networkLossPct = num(p.get('NLR'));
      m.discardPct = num(p.get('JDR'));
      break;
    case 'burstgaploss':
      m.burstDensityPct = num(p.get('BLD'));
      m.burstDurationMs = num(p.get('BD'));
      m.gapDensityPct = num(p.get('GLD'));
      m.gapDurationMs = num(p.get('GD'));
      m.gmin = num(p.get('GMIN'));
      break;
    case 'delay':
      m.roundTripDelayMs = num(p.get('RTD'));
      m.endSystemDelayMs = num(p.get('ESD'));
      m.interarrivalJitterMs = num(p.get('IAJ'));
      break;
    case 'qualityest':
      m.rLq = num(p.get('RLQ'));
      m.rCq = num(p.get('RCQ'));
      m.mosLq = num(p.get('MOSLQ'));
      m.mosCq = num(p.get('MOSCQ'));
      m.estimationAlgorithm = p.get('QOEESTALG') ?? null;
      break;
    default:
      break; // Signal, x- extensions...: not used
  }
}

/**
 * Parses a vq-rtcpxr body; null when it is not one (no report type line,
 * or no CallID). Bodies larger than 64 KiB are refused (a real one is < 2 KiB).
 */
export function parseVqRtcpXr(body: string): VqReport | null {
  if (body.length > 65536) return null;
  const lines = body.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  const head = /^(VQSessionReport|VQIntervalReport|VQAlertReport)\s*:?\s*(.*)$/.exec(lines[i] ?? '');
  if (head === null) return null;
  const r: VqReport = {
    type: head[1] as VqReportType, qualifier: head[2]!.trim() === '' ? null : head[2]!.trim(), callId: '', localId: '', remoteId: '', origId: '',
    localGroup: null, remoteGroup: null, localAddr: null, remoteAddr: null, dialogId: null, local: null, remote: null,
  };
  let section: VqMetrics | null = null;
  for (i++; i < lines.length; i++) {
    const l = lines[i]!;
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const name = l.slice(0, c).trim().toLowerCase();
    const value = l.slice(c + 1).trim();
    switch (name) {
      case 'callid': r.callId = value; break;
      case 'localid': r.localId = value; break;
      case 'remoteid': r.remoteId = value; break;
      case 'origid': r.origId = value; break;
      case 'localgroup': r.localGroup = value; break;
      case 'remotegroup': r.remoteGroup = value; break;
      case 'localaddr': r.localAddr = parseAddr(value); break;
      case 'remoteaddr': r.remoteAddr = parseAddr(value); break;
      case 'dialogid': r.dialogId = value; break;
      case 'localmetrics': section = r.local = emptyVqMetrics(); break;
      case 'remotemetrics': section = r.remote = emptyVqMetrics(); break;
      default:
        if (section !== null) applyMetricLine(section, name, value);
    }
  }
  return r.callId === '' ? null : r;
}
