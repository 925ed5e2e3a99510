import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SipMessage } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import { createResponse } from '../sip/response.js';
import { TransportLayer, type ResponseTarget, type WireResponse } from '../transport/transport-layer.js';
import type { Endpoint, InboundMessage, ListenerInfo, Transport } from '../transport/types.js';
import { KeepAliveProber } from './keepalive.js';
import { TransactionLayer } from './transaction-layer.js';
import type { ClientTransactionHandler, ServerTransaction } from './types.js';

interface Sent {
  msg: SipMessage;
  dest: Endpoint | ResponseTarget;
  kind: 'request' | 'response';
}

/** Records what the transaction layer sends; never touches a socket. */
class FakeTransport extends TransportLayer {
  readonly sent: Sent[] = [];
  failSends = false;

  override getInterface(name: string): ListenerInfo | undefined {
    return name === 'lan' ? { name, address: '192.0.2.10', udpPort: 5060, tcpPort: 5060 } : undefined;
  }

  override send(msg: SipMessage, dest: Endpoint): Promise<Transport> {
    // Snapshot: the layer may not mutate what was sent, but keep a copy to be safe.
    this.sent.push({ msg: msg.clone(), dest, kind: msg.isRequest ? 'request' : 'response' });
    return this.failSends ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(dest.transport);
  }

  override sendResponse(res: SipMessage, target: ResponseTarget): Promise<void> {
    this.sent.push({ msg: res.clone(), dest: target, kind: 'response' });
    return Promise.resolve();
  }

  override sendWireResponse(w: WireResponse): Promise<void> {
    const r = parseMessage(w.data);
    if (!r.ok) throw new Error(`wire response does not parse: ${r.error}`);
    this.sent.push({ msg: r.message, dest: { address: w.address, port: w.port, transport: 'udp' }, kind: 'response' });
    return Promise.resolve();
  }

  inject(text: string, transport: Transport = 'udp'): InboundMessage {
    const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
    if (!r.ok) throw new Error(`test message does not parse: ${r.error}`);
    const inbound: InboundMessage = {
      message: r.message,
      remote: { address: '198.51.100.7', port: 5062, transport },
      local: { address: '192.0.2.10', port: 5060, transport },
      interfaceName: 'lan',
      connectionId: transport === 'udp' ? null : 7,
    };
    this.emit('message', inbound);
    return inbound;
  }

  take(): Sent[] {
    return this.sent.splice(0, this.sent.length);
  }
}

const UAC: Endpoint = { address: '198.51.100.7', port: 5062, transport: 'udp' };

function invite(branch = 'z9hG4bKinv1', opts: { toTag?: string; callId?: string; fromTag?: string; cseq?: number; method?: string; via?: string } = {}): string {
  const method = opts.method ?? 'INVITE';
  const via = opts.via ?? `SIP/2.0/UDP 198.51.100.7:5062;branch=${branch}`;
  return `${method} sip:bob@192.0.2.10 SIP/2.0
Via: ${via}
Max-Forwards: 70
From: <sip:alice@198.51.100.7>;tag=${opts.fromTag ?? 'a1'}
To: <sip:bob@192.0.2.10>${opts.toTag ? `;tag=${opts.toTag}` : ''}
Call-ID: ${opts.callId ?? 'call-1'}
CSeq: ${opts.cseq ?? 1} ${method}
Content-Length: 0

`;
}

function response(req: SipMessage, status: number, toTag = 'b1'): string {
  const res = createResponse(req, status, undefined, status === 100 ? null : toTag);
  const via = req.getHeaderValues('via')[0]!;
  return `SIP/2.0 ${status} ${res.reason}
Via: ${via}
From: ${req.getHeader('from')}
To: ${res.getHeader('to')}
Call-ID: ${req.callId}
CSeq: ${req.cseq!.seq} ${req.cseq!.method}
Content-Length: 0

`;
}

function outgoingInvite(method = 'INVITE'): SipMessage {
  const m = SipMessage.request(method, 'sip:carol@198.51.100.7');
  m.addHeader('from', '<sip:sbc@192.0.2.10>;tag=x1');
  m.addHeader('to', '<sip:carol@198.51.100.7>');
  m.addHeader('call-id', 'out-1');
  m.addHeader('cseq', `1 ${method}`);
  m.addHeader('route', '<sip:proxy.example;lr>');
  return m;
}

function handler(): ClientTransactionHandler & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    onProvisional: (r) => calls.push(`prov:${r.status}`),
    onFinal: (r) => calls.push(`final:${r.status}`),
    onAdditional2xx: (r) => calls.push(`extra:${r.status}`),
    onTimeout: () => calls.push('timeout'),
    onTransportError: (e) => calls.push(`error:${e.message}`),
  };
}

/** Times (ms since start) at which requests were sent, sampled every ms. */
function sendTimes(fake: FakeTransport, untilMs: number, stepMs = 100): number[] {
  const times: number[] = [];
  for (let t = 0; t <= untilMs; t += stepMs) {
    if (fake.take().some((s) => s.kind === 'request')) times.push(t);
    vi.advanceTimersByTime(stepMs);
  }
  return times;
}

describe('TransactionLayer', () => {
  let fake: FakeTransport;
  let layer: TransactionLayer;
  let tuRequests: Array<{ req: SipMessage; stx: ServerTransaction | null }>;

  beforeEach(() => {
    vi.useFakeTimers();
    fake = new FakeTransport();
    layer = new TransactionLayer(fake);
    tuRequests = [];
    layer.onRequest = (req, stx) => {
      tuRequests.push({ req, stx });
    };
  });

  afterEach(() => {
    layer.close();
    vi.useRealTimers();
  });

  it('sends the same ACK again as it was: one Via, the same branch (RFC 3261 §13.2.2.4)', async () => {
    const ack = SipMessage.request('ACK', 'sip:bob@203.0.113.5');
    for (const [n, v] of [['call-id', 'c1'], ['from', '<sip:a@x>;tag=1'], ['to', '<sip:b@y>;tag=2'], ['cseq', '1 ACK']] as const) ack.addHeader(n, v);
    await layer.sendStateless(ack, UAC, 'lan');
    await layer.sendStateless(ack, UAC, 'lan');
    const sent = fake.take();
    expect(sent).toHaveLength(2);
    expect(sent.map((s) => s.msg.getHeaderValues('via').length)).toEqual([1, 1]);
    expect(sent[1]!.msg.getHeader('via')).toBe(sent[0]!.msg.getHeader('via'));
  });

  describe('INVITE client transaction', () => {
    it('adds a Via with a fresh branch and rport, and Max-Forwards', () => {
      const req = outgoingInvite();
      const ctx = layer.sendRequest(req, UAC, 'lan', handler());
      const via = req.topVia!;
      expect(via.transport).toBe('UDP');
      expect(via.host).toBe('192.0.2.10');
      expect(via.params.get('branch')).toBe(ctx.branch);
      expect(ctx.branch.startsWith('z9hG4bK')).toBe(true);
      expect(via.params.get('rport')).toBeNull();
      expect(req.getHeader('max-forwards')).toBe('70');
    });

    it('retransmits on timer A (T1, doubling) and times out on timer B (64*T1)', () => {
      const h = handler();
      layer.sendRequest(outgoingInvite(), UAC, 'lan', h);
      const times = sendTimes(fake, 32_000);
      expect(times).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
      expect(h.calls).toEqual(['timeout']);
      expect(layer.stats().clientTransactions).toBe(0);
    });

    it('does not retransmit over TCP but still times out', () => {
      const h = handler();
      layer.sendRequest(outgoingInvite(), { ...UAC, transport: 'tcp' }, 'lan', h);
      const times = sendTimes(fake, 32_000);
      expect(times).toEqual([0]);
      expect(h.calls).toEqual(['timeout']);
    });

    it('stops retransmitting on 1xx and does not time out in Proceeding', () => {
      const h = handler();
      const req = outgoingInvite();
      layer.sendRequest(req, UAC, 'lan', h);
      fake.take();
      fake.inject(response(req, 180));
      expect(sendTimes(fake, 40_000)).toEqual([]);
      expect(h.calls).toEqual(['prov:180']);
    });

    it('ACKs a non-2xx inside the transaction and absorbs retransmissions of it', () => {
      const h = handler();
      const req = outgoingInvite();
      layer.sendRequest(req, UAC, 'lan', h);
      fake.take();
      fake.inject(response(req, 486, 'busy1'));
      const ack = fake.take();
      expect(ack).toHaveLength(1);
      const a = ack[0]!.msg;
      expect(a.method).toBe('ACK');
      expect(a.requestUri).toBe(req.requestUri);
      expect(a.topVia!.params.get('branch')).toBe(req.topVia!.params.get('branch'));
      expect(a.getHeaderValues('via')).toHaveLength(1);
      expect(a.toTag).toBe('busy1');
      expect(a.cseq).toEqual({ seq: 1, method: 'ACK' });
      expect(a.getHeader('route')).toBe('<sip:proxy.example;lr>');
      // the final response again: ACK again, TU not told twice
      fake.inject(response(req, 486, 'busy1'));
      expect(fake.take().map((s) => s.msg.method)).toEqual(['ACK']);
      expect(h.calls).toEqual(['final:486']);
      vi.advanceTimersByTime(32_000); // timer D
      expect(layer.stats().clientTransactions).toBe(0);
    });

    it('enters Accepted on 2xx: no ACK by the layer, further 2xx go to onAdditional2xx, then stray after timer M', () => {
      const h = handler();
      const req = outgoingInvite();
      layer.sendRequest(req, UAC, 'lan', h);
      fake.take();
      fake.inject(response(req, 200, 'fork1'));
      fake.inject(response(req, 200, 'fork2'));
      expect(fake.take()).toEqual([]);
      expect(h.calls).toEqual(['final:200', 'extra:200']);
      const strays: number[] = [];
      layer.onStrayResponse = (r) => strays.push(r.status);
      vi.advanceTimersByTime(32_000);
      fake.inject(response(req, 200, 'fork1'));
      expect(strays).toEqual([200]);
    });

    it('reports a transport error to the TU', async () => {
      fake.failSends = true;
      const h = handler();
      layer.sendRequest(outgoingInvite(), UAC, 'lan', h);
      await vi.advanceTimersByTimeAsync(0);
      expect(h.calls).toEqual(['error:ECONNREFUSED']);
      expect(layer.stats().clientTransactions).toBe(0);
    });

    it('defers CANCEL until a provisional response, with the INVITE branch and CSeq number', () => {
      const h = handler();
      const req = outgoingInvite();
      const ctx = layer.sendRequest(req, UAC, 'lan', h);
      fake.take();
      expect(layer.cancel(ctx, [['Reason', 'SIP;cause=487']])).toBe(true);
      expect(fake.take()).toEqual([]);
      fake.inject(response(req, 180));
      const sent = fake.take();
      expect(sent).toHaveLength(1);
      const c = sent[0]!.msg;
      expect(c.method).toBe('CANCEL');
      expect(c.requestUri).toBe(req.requestUri);
      expect(c.topVia!.params.get('branch')).toBe(ctx.branch);
      expect(c.cseq).toEqual({ seq: 1, method: 'CANCEL' });
      expect(c.callId).toBe('out-1');
      expect(c.toTag).toBeNull();
      expect(c.getHeader('reason')).toBe('SIP;cause=487');
      // 487 ends the INVITE with an ACK
      fake.inject(response(req, 487, 't9'));
      expect(fake.take().map((s) => s.msg.method)).toContain('ACK');
      expect(h.calls).toEqual(['prov:180', 'final:487']);
    });

    it('does not CANCEL after a final response', () => {
      const req = outgoingInvite();
      const ctx = layer.sendRequest(req, UAC, 'lan', handler());
      fake.inject(response(req, 200));
      fake.take();
      expect(layer.cancel(ctx)).toBe(false);
      expect(fake.take()).toEqual([]);
    });
  });

  describe('releasing a client transaction', () => {
    it('after release a 2xx retransmitted to an Accepted INVITE no longer reaches the TU', () => {
      const h = handler();
      const req = outgoingInvite();
      const ctx = layer.sendRequest(req, UAC, 'lan', h);
      fake.inject(response(req, 200));
      fake.inject(response(req, 200));
      expect(h.calls).toEqual(['final:200', 'extra:200']);
      ctx.release();
      fake.inject(response(req, 200));
      expect(h.calls).toEqual(['final:200', 'extra:200']);
      expect(ctx.state).toBe('accepted');
    });

    it('a non-INVITE transaction lets go of its TU after the final response (Completed only absorbs)', () => {
      const h = handler();
      const req = outgoingInvite('BYE');
      layer.sendRequest(req, UAC, 'lan', h);
      fake.inject(response(req, 200));
      fake.inject(response(req, 200));
      expect(h.calls).toEqual(['final:200']);
      const kept = (layer as unknown as { clients: Map<string, { handler: unknown }> }).clients;
      expect([...kept.values()].map((t) => t.handler === h)).toEqual([false]);
    });
  });

  describe('non-INVITE client transaction', () => {
    it('retransmits on timer E (doubling up to T2) and times out on timer F', () => {
      const h = handler();
      layer.sendRequest(outgoingInvite('OPTIONS'), UAC, 'lan', h);
      const times = sendTimes(fake, 32_000);
      expect(times).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
      expect(h.calls).toEqual(['timeout']);
    });

    it('retransmits every T2 once Proceeding, completes on the final and absorbs its retransmission', () => {
      const h = handler();
      const req = outgoingInvite('BYE');
      layer.sendRequest(req, UAC, 'lan', h);
      fake.take();
      vi.advanceTimersByTime(400);
      fake.inject(response(req, 100));
      vi.advanceTimersByTime(100);
      expect(fake.take()).toHaveLength(1); // timer E at 500 still fires
      vi.advanceTimersByTime(3_900);
      expect(fake.take()).toHaveLength(0);
      vi.advanceTimersByTime(100); // next E is T2 after the last one
      expect(fake.take()).toHaveLength(1);
      fake.inject(response(req, 200));
      fake.inject(response(req, 200));
      expect(h.calls).toEqual(['prov:100', 'final:200']);
      vi.advanceTimersByTime(5_000); // timer K
      expect(layer.stats().clientTransactions).toBe(0);
    });
  });

  describe('INVITE server transaction', () => {
    it('sends 100 Trying at once and hands the INVITE to the TU once', () => {
      fake.inject(invite());
      const sent = fake.take();
      expect(sent.map((s) => s.msg.status)).toEqual([100]);
      expect(sent[0]!.msg.toTag).toBeNull();
      fake.inject(invite()); // retransmission
      expect(fake.take().map((s) => s.msg.status)).toEqual([100]);
      expect(tuRequests).toHaveLength(1);
      expect(tuRequests[0]!.stx!.state).toBe('proceeding');
    });

    it('repeats the last provisional for a retransmitted INVITE', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      stx.respond(createResponse(stx.request, 180, undefined, 'u1'));
      fake.take();
      fake.inject(invite());
      expect(fake.take().map((s) => s.msg.status)).toEqual([180]);
    });

    it('retransmits a non-2xx on timer G, absorbs the ACK, and stops', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      fake.take();
      stx.respond(createResponse(stx.request, 486, undefined, 'u1'));
      const times: number[] = [];
      for (let t = 0; t <= 8_000; t += 100) {
        if (fake.take().length > 0) times.push(t);
        vi.advanceTimersByTime(100);
      }
      expect(times).toEqual([0, 500, 1500, 3500, 7500]);
      fake.inject(invite('z9hG4bKinv1', { method: 'ACK', toTag: 'u1' }));
      expect(stx.state).toBe('confirmed');
      expect(tuRequests).toHaveLength(1); // ACK absorbed
      vi.advanceTimersByTime(20_000);
      expect(fake.take()).toEqual([]);
      expect(layer.stats().serverTransactions).toBe(0);
    });

    it('reports timer H when no ACK arrives for a non-2xx', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      let timedOut = 0;
      stx.onAckTimeout = () => timedOut++;
      stx.respond(createResponse(stx.request, 603, undefined, 'u1'));
      vi.advanceTimersByTime(31_900);
      expect(timedOut).toBe(0);
      vi.advanceTimersByTime(200);
      expect(timedOut).toBe(1);
      expect(stx.state).toBe('terminated');
    });

    it('retransmits a 2xx until the ACK (new branch), which reaches the TU once', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      fake.take();
      stx.respond(createResponse(stx.request, 200, undefined, 'u1'));
      expect(stx.state).toBe('accepted');
      vi.advanceTimersByTime(1_600);
      expect(fake.take().map((s) => s.msg.status)).toEqual([200, 200, 200]);
      fake.inject(invite('z9hG4bKack1', { method: 'ACK', toTag: 'u1' }));
      fake.inject(invite('z9hG4bKack1', { method: 'ACK', toTag: 'u1' }));
      expect(tuRequests.map((r) => [r.req.method, r.stx === null])).toEqual([
        ['INVITE', false],
        ['ACK', true],
      ]);
      vi.advanceTimersByTime(10_000);
      expect(fake.take()).toEqual([]);
      // INVITE retransmissions are still absorbed in Accepted
      fake.inject(invite());
      expect(tuRequests).toHaveLength(2);
    });

    it('drops the TU callbacks and the 2xx once the ACK came; a late CANCEL still gets the same To tag', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      stx.onCancel = () => undefined;
      stx.onAckTimeout = () => undefined;
      stx.onTransportError = () => undefined;
      stx.respond(createResponse(stx.request, 200, undefined, 'u1'));
      fake.inject(invite('z9hG4bKack1', { method: 'ACK', toTag: 'u1' }));
      // Accepted until timer L, but nothing of the TU is kept (its call may end long before).
      expect(stx.state).toBe('accepted');
      expect([stx.onCancel, stx.onAckTimeout, stx.onTransportError]).toEqual([undefined, undefined, undefined]);
      expect((stx as unknown as { lastResponse: unknown }).lastResponse).toBeNull();
      // The request is retired to a shared placeholder: only the method stays.
      expect([stx.request.method, stx.request.headers.length, stx.inbound.remote.port]).toEqual(['INVITE', 0, 5062]);
      fake.take();
      fake.inject(invite('z9hG4bKinv1', { method: 'CANCEL' }));
      const sent = fake.take();
      expect(sent.map((x) => [x.msg.status, x.msg.toTag])).toEqual([[200, 'u1']]);
    });

    it('reports a missing ACK for a 2xx after 64*T1', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      let timedOut = 0;
      stx.onAckTimeout = () => timedOut++;
      stx.respond(createResponse(stx.request, 200, undefined, 'u1'));
      vi.advanceTimersByTime(32_100);
      expect(timedOut).toBe(1);
    });

    it('ignores a second final response', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      fake.take();
      stx.respond(createResponse(stx.request, 486, undefined, 'u1'));
      stx.respond(createResponse(stx.request, 200, undefined, 'u1'));
      expect(fake.take().map((s) => s.msg.status)).toEqual([486]);
    });

    it('answers a TU that throws with 500', () => {
      layer.onRequest = () => {
        throw new Error('bug');
      };
      fake.inject(invite());
      // The 100 goes out only after the TU has seen the INVITE; a TU that fails gets its 500 alone.
      expect(fake.take().map((s) => s.msg.status)).toEqual([500]);
      expect(layer.stats().tuErrors).toBe(1);
    });

    it('sends 100 Trying once the TU has seen the INVITE without answering it', () => {
      fake.inject(invite());
      expect(fake.take().map((s) => s.msg.status)).toEqual([100]);
    });

    it('discard: nothing is ever sent, retransmissions are absorbed, the transaction ends after 64*T1', () => {
      layer.onRequest = (_req, stx) => stx?.discard();
      fake.inject(invite());
      fake.inject(invite());
      expect(fake.take()).toEqual([]);
      expect(layer.stats().serverTransactions).toBe(1);
      expect(layer.stats().requestsDiscarded).toBe(1);
      fake.inject(invite('z9hG4bKinv1', { method: 'CANCEL' }));
      expect(fake.take()).toEqual([]);
      vi.advanceTimersByTime(64 * 500 + 1);
      expect(fake.take()).toEqual([]);
      expect(layer.stats().serverTransactions).toBe(0);
    });
  });

  describe('CANCEL', () => {
    it('answers 200, tells the TU, which sends 487 on the INVITE', () => {
      fake.inject(invite());
      const stx = tuRequests[0]!.stx!;
      stx.respond(createResponse(stx.request, 180, undefined, 'u1'));
      const cancels: SipMessage[] = [];
      stx.onCancel = (c) => {
        cancels.push(c);
        stx.respond(createResponse(stx.request, 487, undefined, 'u1'));
      };
      fake.take();
      fake.inject(invite('z9hG4bKinv1', { method: 'CANCEL' }));
      const sent = fake.take();
      expect(sent.map((s) => [s.msg.status, s.msg.cseq!.method])).toEqual([
        [200, 'CANCEL'],
        [487, 'INVITE'],
      ]);
      expect(sent[0]!.msg.toTag).toBe('u1');
      expect(cancels).toHaveLength(1);
      // a retransmitted CANCEL gets the 200 again, the TU hears nothing more
      fake.inject(invite('z9hG4bKinv1', { method: 'CANCEL' }));
      expect(fake.take().map((s) => s.msg.status)).toEqual([200]);
      expect(cancels).toHaveLength(1);
      expect(tuRequests).toHaveLength(1);
    });

    it('answers 481 when nothing matches', () => {
      fake.inject(invite('z9hG4bKother', { method: 'CANCEL' }));
      expect(fake.take().map((s) => s.msg.status)).toEqual([481]);
      expect(tuRequests).toHaveLength(0);
    });

    it('does not match an INVITE from another sent-by', () => {
      fake.inject(invite());
      fake.take();
      fake.inject(invite('z9hG4bKinv1', { method: 'CANCEL', via: 'SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKinv1' }));
      expect(fake.take().map((s) => s.msg.status)).toEqual([481]);
    });
  });

  describe('non-INVITE server transaction', () => {
    it('absorbs retransmissions while Trying and repeats the final when Completed, until timer J', () => {
      fake.inject(invite('z9hG4bKbye', { method: 'BYE', toTag: 'u1' }));
      fake.inject(invite('z9hG4bKbye', { method: 'BYE', toTag: 'u1' }));
      expect(fake.take()).toEqual([]);
      expect(tuRequests).toHaveLength(1);
      const stx = tuRequests[0]!.stx!;
      stx.respond(createResponse(stx.request, 200));
      expect(stx.request.headers).toHaveLength(0); // retired: the response alone answers retransmissions
      // Over UDP only the response's bytes and address stay, not the message.
      expect((stx as unknown as { lastResponse: unknown }).lastResponse).toBeNull();
      fake.inject(invite('z9hG4bKbye', { method: 'BYE', toTag: 'u1' }));
      const again = fake.take();
      expect(again.map((s) => s.msg.status)).toEqual([200, 200]);
      expect(again.map((s) => s.msg.callId)).toEqual(['call-1', 'call-1']);
      expect(again[1]!.dest).toEqual({ address: '198.51.100.7', port: 5062, transport: 'udp' });
      expect(layer.stats().retransmissionsSent).toBe(1);
      vi.advanceTimersByTime(32_000);
      expect(layer.stats().serverTransactions).toBe(0);
    });

    it('ends at once on a reliable transport', () => {
      fake.inject(invite('z9hG4bKbye', { method: 'BYE', toTag: 'u1' }), 'tcp');
      const stx = tuRequests[0]!.stx!;
      stx.respond(createResponse(stx.request, 200));
      expect(stx.state).toBe('terminated');
    });
  });

  describe('loops and merged requests (§8.2.2.2)', () => {
    it('answers 482 to the same request arriving on another branch', () => {
      fake.inject(invite('z9hG4bKpath1'));
      fake.take();
      fake.inject(invite('z9hG4bKpath2', { via: 'SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKpath2' }));
      const sent = fake.take();
      expect(sent.map((s) => s.msg.status)).toEqual([482]);
      expect(tuRequests).toHaveLength(1);
      expect(layer.stats().loopsOrMerges482).toBe(1);
    });

    it('a fork to another Request-URI (another contact of ours) is no merge', () => {
      fake.inject(invite('z9hG4bKfork1'));
      fake.take();
      fake.inject(invite('z9hG4bKfork2').replace('INVITE sip:bob@192.0.2.10 SIP/2.0', 'INVITE sip:bob2@192.0.2.10 SIP/2.0'));
      expect(fake.take().map((s) => s.msg.status)).not.toContain(482);
      expect(tuRequests).toHaveLength(2);
      expect(layer.stats().loopsOrMerges482).toBe(0);
    });

    it('does not apply to requests with a To tag', () => {
      fake.inject(invite('z9hG4bKpath1', { toTag: 'd1' }));
      fake.inject(invite('z9hG4bKpath2', { toTag: 'd1' }));
      expect(tuRequests).toHaveLength(2);
    });
  });

  describe('RFC 2543 fallback matching (no magic cookie)', () => {
    const oldVia = 'SIP/2.0/UDP 198.51.100.7:5062;branch=1234';

    it('matches a retransmitted INVITE, its ACK by To tag, and its CANCEL', () => {
      fake.inject(invite('', { via: oldVia }));
      fake.inject(invite('', { via: oldVia }));
      expect(tuRequests).toHaveLength(1);
      const stx = tuRequests[0]!.stx!;
      stx.onCancel = () => stx.respond(createResponse(stx.request, 487, undefined, 'old1'));
      fake.take();
      fake.inject(invite('', { via: oldVia, method: 'CANCEL' }));
      expect(fake.take().map((s) => s.msg.status)).toEqual([200, 487]);
      fake.inject(invite('', { via: oldVia, method: 'ACK', toTag: 'old1' }));
      expect(stx.state).toBe('confirmed');
      expect(tuRequests).toHaveLength(1);
    });

    it('also works without any branch parameter', () => {
      const noBranch = 'SIP/2.0/UDP 198.51.100.7:5062';
      fake.inject(invite('', { via: noBranch }));
      fake.inject(invite('', { via: noBranch }));
      expect(tuRequests).toHaveLength(1);
      fake.inject(invite('', { via: noBranch, callId: 'call-2' }));
      expect(tuRequests).toHaveLength(2);
    });
  });

  describe('KeepAliveProber', () => {
    it('resolves with the status of the OPTIONS, or timeout', async () => {
      const prober = new KeepAliveProber(layer, { interfaceName: () => 'lan', userAgent: 'sbc-test' });
      const p1 = prober.probe({ address: '198.51.100.7', port: 5062, transport: 'udp' }, 'ITSP');
      const opt = fake.take()[0]!.msg;
      expect(opt.method).toBe('OPTIONS');
      expect(opt.requestUri).toBe('sip:198.51.100.7:5062');
      expect(opt.getHeader('user-agent')).toBe('sbc-test');
      fake.inject(response(opt, 200));
      await expect(p1).resolves.toBe(200);

      const p2 = prober.probe({ address: '198.51.100.7', port: 5062, transport: 'tcp' }, 'ITSP');
      expect(fake.take()[0]!.msg.requestUri).toBe('sip:198.51.100.7:5062;transport=tcp');
      vi.advanceTimersByTime(32_000);
      await expect(p2).resolves.toBe('timeout');
    });

    it('rejects for an unknown interface', async () => {
      const prober = new KeepAliveProber(layer, { interfaceName: 'nope' });
      await expect(prober.probe({ address: '198.51.100.7', port: 5062, transport: 'udp' }, 'x')).rejects.toThrow(/unknown SIP interface/);
    });
  });

  it('uses configured T1/T2', () => {
    layer.close();
    layer = new TransactionLayer(fake, { t1Ms: 100, t2Ms: 400 });
    const h = handler();
    layer.sendRequest(outgoingInvite('OPTIONS'), UAC, 'lan', h);
    const times = sendTimes(fake, 6_400, 50);
    expect(times).toEqual([0, 100, 300, 700, 1100, 1500, 1900, 2300, 2700, 3100, 3500, 3900, 4300, 4700, 5100, 5500, 5900, 6300]);
    expect(h.calls).toEqual(['timeout']);
  });
});
