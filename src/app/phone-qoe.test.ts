import { describe, expect, it } from 'vitest';
import type { ClientTransactionHandler, Endpoint, ServerTransactionRef, TransactionPort } from '../b2bua/ports.js';
import type { CdrRecord } from '../cdr/model.js';
import { sampleCdr } from '../cdr/sample-record.js';
import { computeListeningQuality, computeMos } from '../qoe/emodel.js';
import { buildVqRtcpXr, emptyVqMetrics, parseVqRtcpXr, type VqReport } from '../qoe/vq-rtcpxr.js';
import { SipMessage } from '../sip/message.js';
import { silentLogger } from '../util/logger.js';
import { liveQoe } from './live-qoe.js';
import { PhoneQoeReports } from './phone-qoe.js';
import { SipQoePublisher } from './qoe-publisher.js';

const phoneReport = (callId: string): VqReport => ({
  type: 'VQSessionReport', qualifier: 'CallTerm', callId, localId: '<sip:alice@10.0.0.5>', remoteId: '<sip:bob@10.0.0.6>', origId: '<sip:alice@10.0.0.5>',
  localGroup: null, remoteGroup: null, localAddr: null, remoteAddr: null, dialogId: null,
  local: { ...emptyVqMetrics(), payloadDesc: 'PCMA', networkLossPct: 2.5, interarrivalJitterMs: 7, roundTripDelayMs: 40, mosLq: 3.9, rLq: 80 },
  remote: null,
});

function publish(body: string, headers: Record<string, string> = {}): SipMessage {
  const m = SipMessage.request('PUBLISH', 'sip:collector@127.0.0.1');
  m.setHeader('via', 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1');
  m.setHeader('from', '<sip:alice@10.0.0.5>;tag=1');
  m.setHeader('to', '<sip:collector@127.0.0.1>');
  m.setHeader('call-id', 'pub-1');
  m.setHeader('cseq', '1 PUBLISH');
  m.setHeader('event', headers['event'] ?? 'vq-rtcpxr');
  m.setBody(body, headers['content-type'] ?? 'application/vq-rtcpxr');
  return m;
}

function stx(req: SipMessage): ServerTransactionRef & { answers: SipMessage[] } {
  const answers: SipMessage[] = [];
  return { request: req, answers, respond: (r: SipMessage) => answers.push(r) } as unknown as ServerTransactionRef & { answers: SipMessage[] };
}

function receiver(live: string[], recent: CdrRecord[] = [], enabled = true): PhoneQoeReports {
  return new PhoneQoeReports({ enabled: () => enabled, isLiveLeg: (id) => live.includes(id), recent: () => recent, log: silentLogger() });
}

describe('phones PUBLISH vq-rtcpxr (RFC 6035)', () => {
  it('answers 200 with SIP-ETag and folds the report into the live call at its end', () => {
    const r = receiver(['a-leg@pbx']);
    const req = publish(buildVqRtcpXr(phoneReport('a-leg@pbx')));
    const t = stx(req);
    expect(r.handle(req, t)).toBe(true);
    expect(t.answers[0]!.status).toBe(200);
    expect(t.answers[0]!.getHeader('sip-etag')).toMatch(/^[0-9a-f]{16}$/);
    expect(t.answers[0]!.getHeader('expires')).toBe('3600');
    expect(r.latest('a-leg@pbx')?.local?.mosLq).toBe(3.9);
    const cdr = sampleCdr({ sessionId: 's1' });
    cdr.legA.callId = 'a-leg@pbx';
    r.fold(cdr);
    expect(cdr.media[0]!.A.tx).toMatchObject({ lossPct: 2.5, jitterMs: 7, rttMs: 40, mos: 3.9, rFactor: 80 });
    expect(r.latest('a-leg@pbx')).toBeNull();
  });

  it('folds a report that arrives after the call ended into the record in memory', () => {
    const cdr = sampleCdr({ sessionId: 's2' });
    cdr.legB.callId = 'b-leg@sbc';
    cdr.media = [];
    const r = receiver([], [cdr]);
    const req = publish(buildVqRtcpXr(phoneReport('b-leg@sbc')));
    r.handle(req, stx(req));
    expect(cdr.media[0]!.B.tx.mos).toBe(3.9);
    expect(r.counts).toMatchObject({ received: 1, ended: 1 });
  });

  it('refuses a wrong body type (415) and a body that is no report (400); other PUBLISH and a disabled receiver pass on', () => {
    const r = receiver([]);
    const wrongType = publish('x', { 'content-type': 'text/plain' });
    const t1 = stx(wrongType);
    expect(r.handle(wrongType, t1)).toBe(true);
    expect(t1.answers[0]!.status).toBe(415);
    expect(t1.answers[0]!.getHeader('accept')).toBe('application/vq-rtcpxr');
    const junk = publish('hello');
    const t2 = stx(junk);
    r.handle(junk, t2);
    expect(t2.answers[0]!.status).toBe(400);
    expect(r.handle(publish('x', { event: 'presence' }), stx(junk))).toBe(false);
    expect(receiver([], [], false).handle(publish(buildVqRtcpXr(phoneReport('x'))), stx(junk))).toBe(false);
  });

  it('a live call shows the relay figures and the phone report per stream', () => {
    const q = liveQoe({ stats: undefined, phone: { A: phoneReport('a'), B: null }, judge: () => 'yellow' });
    expect(q).toMatchObject({ mos: null, streams: [{ verdict: 'yellow', A: { tx: { mos: 3.9 } } }] });
    expect(liveQoe({ stats: undefined, phone: { A: null, B: null }, judge: () => 'green' })).toBeNull();
  });
});

describe('QoE PUBLISH toward the collector', () => {
  it('builds an RFC 6035 PUBLISH and resolves with the final status', async () => {
    let sent: { req: SipMessage; dest: Endpoint; iface: string } | null = null;
    const tx: TransactionPort = {
      sendRequest(req: SipMessage, dest: Endpoint, iface: string, h: ClientTransactionHandler) {
        sent = { req, dest, iface };
        queueMicrotask(() => h.onFinal({ status: 202 } as SipMessage));
        return { request: req };
      },
      sendStateless: async () => {},
      cancel: () => {},
    };
    const p = new SipQoePublisher({ tx, local: () => ({ interfaceName: 'LAN', address: '10.0.0.1', port: 5060 }), userAgent: () => '' });
    const body = buildVqRtcpXr(phoneReport('c1'));
    expect(await p.publish({ host: '192.0.2.7', port: 5070, body, callId: 'c1' })).toBe(202);
    const s = sent!;
    expect(s.req.method).toBe('PUBLISH');
    expect(s.req.requestUri).toBe('sip:collector@192.0.2.7:5070');
    expect(s.req.getHeader('event')).toBe('vq-rtcpxr');
    expect(s.req.getHeader('content-type')).toBe('application/vq-rtcpxr');
    expect(parseVqRtcpXr(s.req.body.toString('utf8'))?.callId).toBe('c1');
    expect(s.dest).toEqual({ address: '192.0.2.7', port: 5070, transport: 'udp' });
    expect(s.iface).toBe('LAN');
    await expect(p.publish({ host: 'collector.example', port: 5060, body, callId: 'c1' })).rejects.toThrow(/not an IP/);
  });

  it('listening quality leaves delay out: G.711 clean ≈ 4.4, at least the conversational MOS; loss and G.729 lower it', () => {
    const clean = computeListeningQuality({ codec: 'PCMA', packetLossPct: 0 });
    expect(clean.mos).toBeGreaterThan(4.3);
    expect(clean.mos).toBeGreaterThanOrEqual(computeMos({ codec: 'PCMA', packetLossPct: 0, jitterMs: 30, rttMs: 300 }));
    expect(computeListeningQuality({ codec: 'PCMA', packetLossPct: 5 }).mos).toBeLessThan(clean.mos);
    expect(computeListeningQuality({ codec: 'G729', packetLossPct: 0 }).mos).toBeLessThan(clean.mos);
  });
});
