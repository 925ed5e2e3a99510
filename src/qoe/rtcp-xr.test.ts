import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildRtcpXrVoipMetrics, parseRtcpXr, type VoipMetrics } from './rtcp-xr.js';
import { buildVqRtcpXr, emptyVqMetrics, parseVqRtcpXr, type VqReport } from './vq-rtcpxr.js';

/** An SR (no report blocks) followed by an XR with one VoIP Metrics block, laid out by hand per RFC 3611 §4.7. */
function handMadeCompound(): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  sr.writeUInt32BE(0x11111111, 4);
  const xr = Buffer.from([
    0x80, 207, 0x00, 0x0a, // V=2, PT=XR, length 10 words + 1
    0x22, 0x22, 0x22, 0x22, // sender SSRC
    7, 0, 0x00, 0x08, // BT=7, reserved, block length 8
    0x33, 0x33, 0x33, 0x33, // source SSRC
    13, 2, 64, 3, // loss 13/256, discard 2/256, burst density 64/256, gap density 3/256
    0x00, 0x78, 0x07, 0xd0, // burst 120 ms, gap 2000 ms
    0x00, 0x96, 0x00, 0x32, // RTD 150 ms, ESD 50 ms
    0xeb, 0xce, 127, 16, // signal -21 dBm, noise -50 dBm, RERL unavailable, Gmin 16
    80, 127, 38, 36, // R 80, ext R unavailable, MOS-LQ 3.8, MOS-CQ 3.6
    0xf2, 0, 0x00, 0x28, // PLC standard (3), JBA adaptive (3), rate 2; JB nominal 40
    0x00, 0x50, 0x00, 0x78, // JB max 80, abs max 120
  ]);
  return Buffer.concat([sr, xr]);
}

describe('RTCP XR VoIP Metrics (RFC 3611 §4.7)', () => {
  it('decodes a hand-built block inside a compound packet', () => {
    const [r] = parseRtcpXr(handMadeCompound());
    expect(r!.senderSsrc).toBe(0x22222222);
    expect(r!.voipMetrics).toHaveLength(1);
    const m = r!.voipMetrics[0]!;
    expect(m).toMatchObject({
      ssrc: 0x33333333, burstDurationMs: 120, gapDurationMs: 2000, roundTripDelayMs: 150, endSystemDelayMs: 50,
      signalLevelDbm: -21, noiseLevelDbm: -50, rerlDb: null, gmin: 16, rFactor: 80, extRFactor: null, mosLq: 3.8, mosCq: 3.6,
      plc: 'standard', jitterBufferAdaptive: 'adaptive', jitterBufferRate: 2, jitterBufferNominalMs: 40, jitterBufferMaxMs: 80, jitterBufferAbsMaxMs: 120,
    });
    expect(m.lossRate).toBeCloseTo(13 / 256, 6);
    expect(m.burstDensity).toBe(0.25);
  });

  it('round-trips through the builder', () => {
    const m = parseRtcpXr(handMadeCompound())[0]!.voipMetrics[0]!;
    const again = parseRtcpXr(buildRtcpXrVoipMetrics(0x22222222, m))[0]!.voipMetrics[0]! as VoipMetrics;
    expect(again).toEqual(m);
  });

  it('never throws on truncated or random input', () => {
    const good = handMadeCompound();
    for (let n = 0; n < good.length; n++) expect(() => parseRtcpXr(good.subarray(0, n))).not.toThrow();
    expect(parseRtcpXr(good.subarray(0, good.length - 4))).toEqual([]);
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(1 + (i % 120));
      b[0] = 0x80;
      if (i % 2 === 0) b[1] = 207;
      expect(() => parseRtcpXr(b)).not.toThrow();
    }
  });
});

describe('RFC 6035 vq-rtcpxr', () => {
  const report = (): VqReport => ({
    type: 'VQSessionReport', qualifier: 'CallTerm', callId: 'abc123@pbx.example', localId: '<sip:sbc@192.0.2.1>', remoteId: '<sip:1000@pbx.example>',
    origId: '<sip:1000@pbx.example>', localGroup: 'PBX', remoteGroup: null,
    localAddr: { ip: '192.0.2.1', port: 20000, ssrc: 0x1234abcd }, remoteAddr: { ip: '192.0.2.10', port: 4000, ssrc: 0xdeadbeef },
    dialogId: 'abc123@pbx.example;to-tag=1;from-tag=2',
    local: {
      ...emptyVqMetrics(), start: Date.UTC(2025, 0, 1, 10, 0, 0), stop: Date.UTC(2025, 0, 1, 10, 5, 0), payloadType: 8, payloadDesc: 'PCMA',
      sampleRate: 8000, frameDurationMs: 20, packetsPerSecond: 50, networkLossPct: 2.5, discardPct: 0, interarrivalJitterMs: 3.2,
      roundTripDelayMs: 40, rCq: 84, mosCq: 4.1, mosLq: 4.2, estimationAlgorithm: 'G.107',
    },
    remote: { ...emptyVqMetrics(), networkLossPct: 1, interarrivalJitterMs: 5, roundTripDelayMs: 40 },
  });

  it('builds the RFC 6035 layout with CRLF lines', () => {
    const body = buildVqRtcpXr(report());
    const lines = body.split('\r\n');
    expect(lines[0]).toBe('VQSessionReport: CallTerm');
    expect(lines).toContain('CallID: abc123@pbx.example');
    expect(lines).toContain('LocalAddr: IP=192.0.2.1 PORT=20000 SSRC=0x1234abcd');
    expect(lines).toContain('Timestamps: START=2025-01-01T10:00:00Z STOP=2025-01-01T10:05:00Z');
    expect(lines).toContain('SessionDesc: PT=8 PD=PCMA SR=8000 FD=20 PPS=50');
    expect(lines).toContain('PacketLoss: NLR=2.5 JDR=0');
    expect(lines).toContain('QualityEst: RCQ=84 MOSLQ=4.2 MOSCQ=4.1 QoEEstAlg=G.107');
    expect(lines.indexOf('LocalMetrics:')).toBeLessThan(lines.indexOf('RemoteMetrics:'));
    expect(body.endsWith('\r\n')).toBe(true);
    expect(body).not.toMatch(/[^\r]\n/);
  });

  it('parses what it builds, and a phone-style body with LF line ends and extra lines', () => {
    expect(parseVqRtcpXr(buildVqRtcpXr(report()))).toEqual(report());
    const phone = [
      'VQSessionReport : CallTerm', 'CallID: 6dwcm@192.0.2.55', 'LocalID: <sip:2001@example.net>', 'RemoteID: <sip:2002@example.net>',
      'OrigID: <sip:2001@example.net>', 'LocalAddr: IP=192.0.2.55 PORT=5004 SSRC=0x0a0b0c0d', 'x-UserAgent: Phone 1.0', 'LocalMetrics:',
      'Timestamps: START=2025-03-03T12:00:00Z STOP=2025-03-03T12:01:30Z', 'SessionDesc: PT=0 PD=PCMU SR=8000 FD=20 FMTP="x=1 y=2" PLC=3',
      'JitterBuffer: JBA=3 JBR=2 JBN=40 JBM=80 JBX=120', 'PacketLoss: NLR=0.4 JDR=0.1', 'BurstGapLoss: BLD=0 BD=0 GLD=0.5 GD=3000 GMIN=16',
      'Delay: RTD=35 ESD=60 SOWD=18 IAJ=2', 'Signal: SL=-20 NL=-60 RERL=50', 'QualityEst: RLQ=90 RCQ=89 MOSLQ=4.3 MOSCQ=4.2 QoEEstAlg=P.564',
      'DialogID: 6dwcm@192.0.2.55;to-tag=x;from-tag=y', '',
    ].join('\n');
    const r = parseVqRtcpXr(phone)!;
    expect(r).toMatchObject({ type: 'VQSessionReport', qualifier: 'CallTerm', callId: '6dwcm@192.0.2.55', localAddr: { ip: '192.0.2.55', port: 5004, ssrc: 0x0a0b0c0d } });
    expect(r.local).toMatchObject({
      payloadType: 0, payloadDesc: 'PCMU', jitterBufferNominalMs: 40, networkLossPct: 0.4, discardPct: 0.1, gapDurationMs: 3000,
      roundTripDelayMs: 35, interarrivalJitterMs: 2, mosLq: 4.3, mosCq: 4.2, estimationAlgorithm: 'P.564', start: Date.UTC(2025, 2, 3, 12, 0, 0),
    });
    expect(r.remote).toBeNull();
  });

  it('refuses what is not a report, never throws on garbage', () => {
    expect(parseVqRtcpXr('hello')).toBeNull();
    expect(parseVqRtcpXr('VQSessionReport: CallTerm\r\nLocalMetrics:\r\n')).toBeNull();
    expect(parseVqRtcpXr('x'.repeat(70_000))).toBeNull();
    for (let i = 0; i < 500; i++) {
      const junk = 'VQIntervalReport\n' + randomBytes(200).toString('latin1');
      expect(() => parseVqRtcpXr(junk)).not.toThrow();
    }
  });
});
