/**
 * A fully filled record, for tests and for the examples in docs/cdr.md.
 */
import { emptyMediaDirection, type CdrRecord } from './model.js';

export function sampleCdr(over: Partial<CdrRecord> = {}): CdrRecord {
  const t0 = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
  const dir = { ...emptyMediaDirection(), packets: 1500, bytes: 240000, lost: 3, lossPct: 0.2, jitterMs: 1.5, rttMs: 12, mos: 4.38, rFactor: 92.1 };
  return {
    reportType: 'CALL_END',
    sessionId: 'c0ffee01',
    recordTime: t0 + 35_000,
    method: 'INVITE',
    legA: {
      callId: 'a-leg@pbx', remote: { address: '192.0.2.10', port: 5060, transport: 'udp' }, local: { address: '192.0.2.1', port: 5060, transport: 'udp' },
      sipInterface: 'LAN', ipGroup: 'PBX', proxySet: 'PBX', ipProfile: 'PBX-Profile', mediaRealm: 'LAN-Realm',
    },
    legB: {
      callId: 'b-leg@sbc', remote: { address: '198.51.100.20', port: 5061, transport: 'tls' }, local: { address: '198.51.100.1', port: 5061, transport: 'tls' },
      sipInterface: 'WAN', ipGroup: 'ITSP', proxySet: 'ITSP', ipProfile: 'ITSP-Profile', mediaRealm: 'WAN-Realm',
    },
    routeName: 'PBX to ITSP',
    caller: { user: '+15551000', uri: 'sip:+15551000@itsp.example', displayName: 'Alice, "Sales"' },
    callee: { user: '+15552000', uri: 'sip:+15552000@itsp.example', displayName: null },
    callerBeforeMap: { user: '1000', uri: 'sip:1000@pbx.example', displayName: 'Alice' },
    calleeBeforeMap: { user: '2000', uri: 'sip:2000@pbx.example', displayName: null },
    setupTime: t0,
    alertTime: t0 + 800,
    connectTime: t0 + 5_000,
    releaseTime: t0 + 35_000,
    durationMs: 30_000,
    releaseSide: 'A',
    sipStatus: 200,
    sipReason: 'Normal call clearing',
    terminationReason: 'BYE',
    terminationCategory: 'normal',
    altRouteAttempts: 1,
    redirects3xx: 0,
    redirectUri: null,
    coder: 'PCMA',
    srtp: true,
    media: [{
      index: 0, media: 'audio', coder: 'PCMA', ptimeMs: 20, srtp: true,
      A: { rx: dir, tx: { ...dir, bytes: null }, localRtp: { address: '192.0.2.1', port: 20000, transport: 'udp' }, remoteRtp: { address: '192.0.2.10', port: 4000, transport: 'udp' } },
      B: { rx: dir, tx: dir, localRtp: { address: '198.51.100.1', port: 30000, transport: 'udp' }, remoteRtp: { address: '198.51.100.20', port: 5000, transport: 'udp' } },
      verdict: 'green',
    }],
    qoeVerdict: 'green',
    ...over,
  };
}
