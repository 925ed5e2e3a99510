/**
 * The CDR fields an operator can choose, their column titles, and how each
 * is read from a record. Titles are Mediant's default CDR titles where a
 * Mediant field exists (SessionId, SIPCallId, SourceIp, SrcURIBeforeMap,
 * Durat, TrmSd, SIPTrmReason, SIPTermDesc, Coder, InPackets, ...); the rest
 * are ours and listed as such in docs/cdr.md. A field is named in the
 * SBCCDRFormat table by our key, by its title, or (for the few we map) by
 * Mediant's numeric Field Type.
 */
import type { CdrMediaDirection, CdrMediaLeg, CdrMediaStream, CdrRecord } from './model.js';

export type CdrValue = string | number | boolean | null;

export interface CdrField {
  /** Our stable name (camelCase). */
  readonly key: string;
  /** Default column title. */
  readonly title: string;
  /** True when the title is Mediant's default title for the same data. */
  readonly mediant: boolean;
  /** Mediant SBCCDRFormat Field Type code, where we map one. */
  readonly code?: number;
  /** 'time' values are epoch ms rendered as ISO 8601 UTC. */
  readonly type: 'string' | 'number' | 'bool' | 'time';
  readonly doc: string;
  /** `stream` is the media stream a media record describes (the first audio stream for call records). */
  get(r: CdrRecord, stream: CdrMediaStream | null): CdrValue;
}

function f(
  key: string, title: string, mediant: boolean, type: CdrField['type'], doc: string,
  get: CdrField['get'], code?: number,
): CdrField {
  return { key, title, mediant, type, doc, get, ...(code !== undefined ? { code } : {}) };
}

const ep = (e: { address: string; port: number; transport: string } | null): { a: string | null; p: number | null; t: string | null } =>
  e === null ? { a: null, p: null, t: null } : { a: e.address, p: e.port, t: e.transport.toUpperCase() };

const worstMos = (r: CdrRecord): number | null => {
  let m: number | null = null;
  for (const s of r.media) {
    for (const leg of [s.A, s.B]) {
      for (const d of [leg.rx, leg.tx]) if (d.mos !== null && (m === null || d.mos < m)) m = d.mos;
    }
  }
  return m;
};

const SIGNALLING: CdrField[] = [
  f('reportType', 'SBCReportType', true, 'string', 'CALL_START, CALL_CONNECT, CALL_END, MEDIA_START, MEDIA_UPDATE, MEDIA_END, DIALOG_START, DIALOG_END.', (r) => r.reportType, 303),
  f('sessionId', 'SessionId', true, 'string', 'Id of the call shared by both legs and all its records.', (r) => r.sessionId, 302),
  f('seq', 'CdrSeq', false, 'number', 'Record sequence number, increasing within one process run.', (r) => r.seq ?? null),
  f('recordTime', 'RecordTime', false, 'time', 'When the record was produced.', (r) => r.recordTime),
  f('method', 'SIPMethod', true, 'string', 'INVITE for calls; the request method of a non-call record.', (r) => r.method),
  f('legACallId', 'SIPCallId', true, 'string', 'SIP Call-ID of leg A (incoming).', (r) => r.legA.callId, 301),
  f('legBCallId', 'SIPCallIdLegB', false, 'string', 'SIP Call-ID of leg B (outgoing).', (r) => r.legB.callId),
  f('srcIp', 'SourceIp', true, 'string', 'Address leg A\'s INVITE came from.', (r) => ep(r.legA.remote).a, 402),
  f('srcPort', 'SourcePort', true, 'number', 'Port leg A\'s INVITE came from.', (r) => ep(r.legA.remote).p, 405),
  f('srcTransport', 'TransportType', true, 'string', 'Transport of leg A (UDP, TCP, TLS).', (r) => ep(r.legA.remote).t),
  f('dstIp', 'DestIp', true, 'string', 'Address leg B\'s INVITE was sent to.', (r) => ep(r.legB.remote).a, 403),
  f('dstPort', 'DestPort', true, 'number', 'Port leg B\'s INVITE was sent to.', (r) => ep(r.legB.remote).p, 406),
  f('dstTransport', 'DstTransportType', false, 'string', 'Transport of leg B.', (r) => ep(r.legB.remote).t),
  f('srcLocalIp', 'LocalSrcIp', false, 'string', 'Our address on leg A.', (r) => ep(r.legA.local).a),
  f('dstLocalIp', 'LocalDstIp', false, 'string', 'Our address on leg B.', (r) => ep(r.legB.local).a),
  f('srcSipInterface', 'SIPInterfaceId', true, 'string', 'SIP Interface of leg A (by name).', (r) => r.legA.sipInterface),
  f('dstSipInterface', 'DstSIPInterface', false, 'string', 'SIP Interface of leg B.', (r) => r.legB.sipInterface),
  f('srcIpGroup', 'IPGroup', true, 'string', 'Source IP Group (leg A).', (r) => r.legA.ipGroup),
  f('dstIpGroup', 'DstIPGroup', false, 'string', 'Destination IP Group (leg B).', (r) => r.legB.ipGroup),
  f('srcProxySet', 'SrcProxySet', false, 'string', 'Proxy set of the source IP Group.', (r) => r.legA.proxySet),
  f('dstProxySet', 'ProxySetId', true, 'string', 'Proxy set leg B was sent to (by name).', (r) => r.legB.proxySet),
  f('srcIpProfile', 'IpProfileId', true, 'string', 'IP Profile of leg A (by name).', (r) => r.legA.ipProfile),
  f('dstIpProfile', 'DstIpProfile', false, 'string', 'IP Profile of leg B.', (r) => r.legB.ipProfile),
  f('mediaRealm', 'MediaRealmId', true, 'string', 'Media Realm of leg A (by name).', (r) => r.legA.mediaRealm),
  f('routeName', 'RouteName', false, 'string', 'IP-to-IP routing row that matched.', (r) => r.routeName),
  f('callerUser', 'SrcUser', false, 'string', 'Caller user part sent on leg B (after manipulation).', (r) => r.caller.user),
  f('callerUserBeforeMap', 'SrcUserBeforeMap', false, 'string', 'Caller user part received on leg A.', (r) => r.callerBeforeMap.user),
  f('calleeUser', 'DstUser', false, 'string', 'Callee user part sent on leg B (after manipulation).', (r) => r.callee.user),
  f('calleeUserBeforeMap', 'DstUserBeforeMap', false, 'string', 'Callee user part received on leg A.', (r) => r.calleeBeforeMap.user),
  f('srcUri', 'SrcURI', true, 'string', 'Caller URI after manipulation.', (r) => r.caller.uri),
  f('srcUriBeforeMap', 'SrcURIBeforeMap', true, 'string', 'Caller URI before manipulation.', (r) => r.callerBeforeMap.uri),
  f('dstUri', 'DstURI', true, 'string', 'Callee URI after manipulation.', (r) => r.callee.uri),
  f('dstUriBeforeMap', 'DstURIBeforeMap', true, 'string', 'Callee URI before manipulation.', (r) => r.calleeBeforeMap.uri),
  f('callerDisplayName', 'Caller', true, 'string', 'Caller display name (after manipulation).', (r) => r.caller.displayName),
  f('calleeDisplayName', 'Callee', true, 'string', 'Callee display name (after manipulation).', (r) => r.callee.displayName),
  f('setupTime', 'SetupTime', true, 'time', 'INVITE received on leg A.', (r) => r.setupTime, 411),
  f('alertTime', 'AlertTime', false, 'time', 'First 180/183 from leg B.', (r) => r.alertTime),
  f('connectTime', 'ConnectTime', true, 'time', '2xx to the INVITE.', (r) => r.connectTime),
  f('releaseTime', 'ReleaseTime', true, 'time', 'Call released.', (r) => r.releaseTime),
  f('duration', 'Durat', true, 'number', 'Connect to release, whole seconds (rounded).', (r) => Math.round(r.durationMs / 1000), 408),
  f('durationMs', 'DurationMs', false, 'number', 'Connect to release in milliseconds.', (r) => r.durationMs),
  f('releaseSide', 'TrmSd', true, 'string', 'Who released: A (caller side), B (callee side), sbc.', (r) => r.releaseSide, 409),
  f('sipStatus', 'SIPStatus', false, 'number', 'Final status sent to leg A (200 when answered).', (r) => r.sipStatus),
  f('terminationReason', 'SIPTrmReason', true, 'string', 'BYE, CANCEL, or the SIP status that ended the call.', (r) => r.terminationReason, 410),
  f('sipReason', 'SIPTermDesc', true, 'string', 'Reason header text, else the reason phrase.', (r) => r.sipReason),
  f('terminationCategory', 'TrmReasonCategory', true, 'string', 'normal, busy, no-answer, cancelled, rejected-by-route, failed, media-timeout, shutdown, restart (our values).', (r) => r.terminationCategory),
  f('altRouteAttempts', 'AltRouteAttempts', false, 'number', 'Destinations tried after the first.', (r) => r.altRouteAttempts),
  f('redirects3xx', 'Redirects3xx', false, 'number', '3xx responses followed.', (r) => r.redirects3xx),
  f('redirectUri', 'RedirectURINum', true, 'string', 'Last 3xx Contact followed.', (r) => r.redirectUri),
  f('coder', 'Coder', true, 'string', 'Negotiated audio coder.', (r, s) => s?.coder ?? r.coder),
  f('srtp', 'SRTP', false, 'bool', 'SRTP used on either leg.', (r, s) => (s !== null ? s.srtp : r.srtp)),
  f('mos', 'MOS', false, 'number', 'Worst MOS over all streams, legs and directions.', (r) => worstMos(r)),
  f('qoeVerdict', 'QoEColor', false, 'string', 'Worst QoE color (green, yellow, red, gray).', (r, s) => s?.verdict ?? r.qoeVerdict),
];

const MEDIA_INFO: CdrField[] = [
  f('mediaType', 'MediaType', true, 'string', 'audio, video, ...', (_r, s) => s?.media ?? null, 304),
  f('ptime', 'PacketInterval', true, 'number', 'Packetization time (ms).', (_r, s) => s?.ptimeMs ?? null),
  f('A.localRtpIp', 'LocalRtpIp', true, 'string', 'Our RTP address on leg A.', (_r, s) => ep(s?.A.localRtp ?? null).a),
  f('A.localRtpPort', 'LocalRtpPort', true, 'number', 'Our RTP port on leg A.', (_r, s) => ep(s?.A.localRtp ?? null).p),
  f('A.remoteRtpIp', 'RemoteRtpIp', true, 'string', 'Leg A peer RTP address.', (_r, s) => ep(s?.A.remoteRtp ?? null).a),
  f('A.remoteRtpPort', 'RemoteRtpPort', true, 'number', 'Leg A peer RTP port.', (_r, s) => ep(s?.A.remoteRtp ?? null).p),
  f('B.localRtpIp', 'BLocalRtpIp', false, 'string', 'Our RTP address on leg B.', (_r, s) => ep(s?.B.localRtp ?? null).a),
  f('B.localRtpPort', 'BLocalRtpPort', false, 'number', 'Our RTP port on leg B.', (_r, s) => ep(s?.B.localRtp ?? null).p),
  f('B.remoteRtpIp', 'BRemoteRtpIp', false, 'string', 'Leg B peer RTP address.', (_r, s) => ep(s?.B.remoteRtp ?? null).a),
  f('B.remoteRtpPort', 'BRemoteRtpPort', false, 'number', 'Leg B peer RTP port.', (_r, s) => ep(s?.B.remoteRtp ?? null).p),
  // Mediant's per-leg media titles, for leg A.
  f('InPackets', 'InPackets', true, 'number', 'RTP packets received from leg A\'s peer.', (_r, s) => s?.A.rx.packets ?? null),
  f('OutPackets', 'OutPackets', true, 'number', 'RTP packets sent to leg A\'s peer.', (_r, s) => s?.A.tx.packets ?? null),
  f('LocalPackLoss', 'LocalPackLoss', true, 'number', 'Packets lost from leg A\'s peer to us.', (_r, s) => s?.A.rx.lost ?? null),
  f('RemotePackLoss', 'RemotePackLoss', true, 'number', 'Packets lost from us to leg A\'s peer (its RTCP).', (_r, s) => s?.A.tx.lost ?? null),
  f('RTPdelay', 'RTPdelay', true, 'number', 'Leg A round-trip time from RTCP (ms).', (_r, s) => s?.A.rx.rttMs ?? null),
  f('RTPjitter', 'RTPjitter', true, 'number', 'Leg A interarrival jitter we measured (ms).', (_r, s) => s?.A.rx.jitterMs ?? null),
];

const METRICS: ReadonlyArray<[keyof CdrMediaDirection, string, string]> = [
  ['packets', 'Packets', 'RTP packets'],
  ['bytes', 'Bytes', 'RTP payload bytes'],
  ['lost', 'Lost', 'packets lost'],
  ['lossPct', 'LossPct', 'loss in %'],
  ['jitterMs', 'JitterMs', 'interarrival jitter (ms)'],
  ['rttMs', 'RttMs', 'round-trip time (ms)'],
  ['mos', 'Mos', 'E-model MOS'],
  ['rFactor', 'RFactor', 'E-model R'],
];

/** Every leg x direction x metric, e.g. A.rx.lossPct titled ARxLossPct. */
const PER_DIRECTION: CdrField[] = [];
for (const leg of ['A', 'B'] as const) {
  for (const dir of ['rx', 'tx'] as const) {
    for (const [m, t, d] of METRICS) {
      const Dir = dir === 'rx' ? 'Rx' : 'Tx';
      const what = dir === 'rx' ? `from leg ${leg}'s peer, measured by us` : `to leg ${leg}'s peer, as it reported`;
      PER_DIRECTION.push(f(`${leg}.${dir}.${m}`, `${leg}${Dir}${t}`, false, 'number', `${d} ${what}.`,
        (_r, s) => (s === null ? null : ((s[leg] as CdrMediaLeg)[dir][m] ?? null))));
    }
  }
}

export const CDR_FIELDS: readonly CdrField[] = [...SIGNALLING, ...MEDIA_INFO, ...PER_DIRECTION];

const byName = new Map<string, CdrField>();
for (const fd of CDR_FIELDS) {
  byName.set(fd.key.toLowerCase(), fd);
  if (!byName.has(fd.title.toLowerCase())) byName.set(fd.title.toLowerCase(), fd);
  if (fd.code !== undefined) byName.set(String(fd.code), fd);
}

/** Looks a field up by key, title or Mediant Field Type code (case-insensitive). */
export function findCdrField(name: string): CdrField | undefined {
  return byName.get(name.trim().toLowerCase());
}

const keys = (...k: string[]): CdrField[] => k.map((x) => {
  const fd = findCdrField(x);
  if (fd === undefined) throw new Error(`unknown CDR field ${x}`);
  return fd;
});

/** Default signalling record columns when the SBCCDRFormat table has no rows for a sink. */
export const DEFAULT_CALL_FIELDS: readonly CdrField[] = keys(
  'reportType', 'sessionId', 'seq', 'method', 'legACallId', 'legBCallId', 'srcIp', 'srcPort', 'srcTransport', 'dstIp', 'dstPort',
  'dstTransport', 'srcSipInterface', 'dstSipInterface', 'srcIpGroup', 'dstIpGroup', 'dstProxySet', 'srcIpProfile', 'dstIpProfile',
  'routeName', 'callerDisplayName', 'srcUriBeforeMap', 'srcUri', 'calleeDisplayName', 'dstUriBeforeMap', 'dstUri', 'setupTime',
  'alertTime', 'connectTime', 'releaseTime', 'durationMs', 'releaseSide', 'sipStatus', 'sipReason', 'terminationReason',
  'terminationCategory', 'altRouteAttempts', 'redirects3xx', 'redirectUri', 'coder', 'srtp', 'A.rx.packets', 'A.rx.lossPct',
  'A.rx.jitterMs', 'A.rx.rttMs', 'B.rx.packets', 'B.rx.lossPct', 'B.rx.jitterMs', 'B.rx.rttMs', 'mos', 'qoeVerdict',
);

/** Default media record columns (one record per stream). */
export const DEFAULT_MEDIA_FIELDS: readonly CdrField[] = keys(
  'reportType', 'sessionId', 'seq', 'legACallId', 'mediaType', 'coder', 'ptime', 'srtp', 'A.localRtpIp', 'A.localRtpPort',
  'A.remoteRtpIp', 'A.remoteRtpPort', 'B.localRtpIp', 'B.localRtpPort', 'B.remoteRtpIp', 'B.remoteRtpPort',
  ...PER_DIRECTION.map((x) => x.key), 'qoeVerdict',
);
