import { describe, expect, it } from 'vitest';
import { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { MemoryCdrSink } from '../cdr/sinks.js';
import { fromLegacyCdr } from '../cdr/legacy.js';
import { CallManager } from './call-manager.js';
import type { ServerTransactionState } from '../transaction/types.js';
import type {
  CallJournalPort, JournalledCall, CallProfile, CallRouting, ClientTransactionHandler, ClientTransactionRef, Endpoint, InboundMessage, IpGroupRef, MediaPort, RouteFailure,
  RouteResult, RoutingPort, ServerTransactionRef, TransactionPort,
} from './ports.js';

const PROFILE: CallProfile = { prackMode: 'transparent', sessionExpiresSec: 0, minSeSec: 90, referMode: 'relay', redirect3xxMode: 'relay', maxCallDurationSec: 0 };
const A_ADDR: Endpoint = { address: '10.0.0.1', port: 5060, transport: 'udp' };
const B_ADDR: Endpoint = { address: '192.0.2.10', port: 5070, transport: 'udp' };

interface Sent { req: SipMessage; dest: Endpoint; handler: ClientTransactionHandler; cancelled: boolean; released: boolean; release(): void }

class FakeTx implements TransactionPort {
  sent: Sent[] = [];
  stateless: SipMessage[] = [];
  sendRequest(req: SipMessage, dest: Endpoint, _iface: string, handler: ClientTransactionHandler): ClientTransactionRef {
    const s: Sent = { req, dest, handler, cancelled: false, released: false, release() { s.released = true; } };
    this.sent.push(s);
    return s as unknown as ClientTransactionRef & Sent;
  }
  async sendStateless(msg: SipMessage): Promise<void> {
    this.stateless.push(msg);
  }
  cancel(ctx: ClientTransactionRef): void {
    (ctx as unknown as Sent).cancelled = true;
  }
  last(method: string): Sent {
    const s = [...this.sent].reverse().find((x) => x.req.method === method);
    if (s === undefined) throw new Error(`no ${method} sent`);
    return s;
  }
}

class FakeStx implements ServerTransactionRef {
  responses: SipMessage[] = [];
  onCancel?: (c: SipMessage) => void;
  onAckTimeout?: () => void;
  state: ServerTransactionState = 'proceeding';
  constructor(readonly request: SipMessage, readonly inbound: InboundMessage) {}
  respond(res: SipMessage): void {
    this.responses.push(res);
  }
  get final(): SipMessage | undefined {
    return this.responses.find((r) => r.status >= 200);
  }
}

function inbound(msg: SipMessage): InboundMessage {
  return { message: msg, remote: A_ADDR, local: { address: '10.0.0.254', port: 5060, transport: 'udp' }, interfaceName: 'lan', connectionId: null };
}

function invite(extra: Array<[string, string]> = []): SipMessage {
  const m = SipMessage.request('INVITE', 'sip:4321@sbc.example');
  m.setHeader('via', 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKaaa');
  m.setHeader('max-forwards', '70');
  m.setHeader('from', '"Alice" <sip:1000@pbx.local>;tag=atag');
  m.setHeader('to', '<sip:4321@sbc.example>');
  m.setHeader('call-id', 'a-call-id@10.0.0.1');
  m.setHeader('cseq', '10 INVITE');
  m.setHeader('contact', '<sip:1000@10.0.0.1:5060>');
  m.setHeader('record-route', '<sip:10.0.0.99;lr>');
  for (const [k, v] of extra) m.setHeader(k, v);
  m.setBody('v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', 'application/sdp');
  return m;
}

function responseFromB(req: SipMessage, status: number, toTag: string, sdp = false): SipMessage {
  const r = createResponse(req, status, undefined, toTag);
  r.setHeader('contact', '<sip:bob@192.0.2.10:5070>');
  if (sdp) r.setBody('v=0\r\no=- 2 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n', 'application/sdp');
  return r;
}

function setup(opts: {
  dstProfile?: Partial<CallProfile>; limit?: number | null; routes?: Endpoint[]; altOn?: Array<number | string>; media?: MediaPort; journal?: CallJournalPort;
  /** What the first routing step answers instead of a route (a rejecting row). */
  reject?: { reject: number; ruleName?: string };
} = {}) {
  const tx = new FakeTx();
  const cdr = new MemoryCdrSink();
  const src: IpGroupRef = { name: 'PBX', id: 1, type: 'server', keepOriginalCallId: false, sipGroupName: 'pbx.example', profile: PROFILE };
  const dst: IpGroupRef = { name: 'ITSP', id: 2, type: 'server', keepOriginalCallId: false, sipGroupName: 'itsp.example', profile: { ...PROFILE, ...opts.dstProfile } };
  const routes = opts.routes ?? [B_ADDR];
  const altOn = opts.altOn ?? [503, 'timeout'];
  const routeAt = (attempt: number, last: RouteFailure): RouteResult => {
    if (attempt > 0 && !altOn.includes(last as number)) return null;
    if (opts.reject !== undefined) return opts.reject;
    const d = routes[attempt];
    return d === undefined ? null : { dstIpGroup: dst, dest: d, interfaceName: 'wan', requestUri: `sip:4321@${d.address}:${d.port}` };
  };
  const callRouting: CallRouting = {
    applyInbound: () => {},
    // Each walk counts its own attempts: the first route, then one alternative per failure.
    routeWalk: () => {
      let attempt = -1;
      return { next: (last) => routeAt(++attempt, last) };
    },
    applyOutbound: () => {},
    credentialsFor: () => null,
    maxRerouteAttemptsOn3xx: 2,
  };
  const routing: RoutingPort = {
    classify: () => ({ srcIpGroup: src, routing: callRouting }),
    maxConcurrentCalls: () => opts.limit ?? null,
  };
  const mgr = new CallManager({
    transactions: tx, routing, media: opts.media ?? { create: () => null }, cdr, ...(opts.journal ? { journal: opts.journal } : {}),
    local: { contactAddress: (iface) => (iface === 'wan' ? { address: '192.0.2.1', port: 5060 } : { address: '10.0.0.254', port: 5060 }) },
  });
  const call = (extra?: Array<[string, string]>): FakeStx => {
    const inv = invite(extra);
    const stx = new FakeStx(inv, inbound(inv));
    mgr.handleRequest(inv, stx, inbound(inv));
    return stx;
  };
  return { tx, cdr, mgr, call };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('CallManager (fake transaction layer)', () => {
  it('builds leg B without any leg A topology and relays 180/200', async () => {
    const { tx, mgr, call, cdr } = setup();
    const stx = call([['x-foo', 'bar'], ['user-agent', 'pbx-secret-1.0']]);
    await tick();
    const b = tx.last('INVITE');
    expect(b.dest).toEqual(B_ADDR);
    const raw = b.req.headers.map((h) => `${h.name}: ${h.value}`).join('\n');
    expect(raw).not.toContain('10.0.0.');
    expect(raw).not.toContain('a-call-id');
    expect(raw).not.toContain('atag');
    expect(b.req.getHeader('user-agent')).toBeUndefined();
    expect(b.req.getHeader('x-foo')).toBe('bar');
    expect(b.req.getHeader('from')).toMatch(/^"?Alice"? <sip:1000@itsp.example>;tag=/);
    expect(b.req.getHeader('max-forwards')).toBe('69');
    b.handler.onProvisional!(responseFromB(b.req, 180, 'btag'));
    await tick();
    expect(stx.responses.map((r) => r.status)).toEqual([180]);
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await tick();
    const ok = stx.final!;
    expect(ok.status).toBe(200);
    expect(ok.getHeader('contact')).toBe('<sip:4321@10.0.0.254:5060>');
    expect(ok.body.toString()).toContain('192.0.2.10');
    expect(tx.stateless.map((m) => m.method)).toEqual(['ACK']);
    expect(mgr.stats().dialogs).toBe(2);

    // Caller hangs up: 200 to A, BYE toward the Record-Route-less callee contact.
    const bye = SipMessage.request('BYE', 'sip:4321@10.0.0.254:5060');
    bye.setHeader('via', 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbye');
    bye.setHeader('from', '"Alice" <sip:1000@pbx.local>;tag=atag');
    bye.setHeader('to', `${ok.getHeader('to')}`);
    bye.setHeader('call-id', 'a-call-id@10.0.0.1');
    bye.setHeader('cseq', '11 BYE');
    const byeStx = new FakeStx(bye, inbound(bye));
    mgr.handleRequest(bye, byeStx, inbound(bye));
    await tick();
    expect(byeStx.final!.status).toBe(200);
    const bBye = tx.last('BYE');
    expect(bBye.req.requestUri).toBe('sip:bob@192.0.2.10:5070');
    expect(mgr.stats()).toMatchObject({ calls: 0, dialogs: 0, pendingTimers: 0 });
    expect(mgr.registeredDialogs).toBe(0);
    expect(cdr.records[0]).toMatchObject({ sipStatus: 200, terminationSide: 'A', srcIpGroup: 'PBX', dstIpGroup: 'ITSP', caller: '1000', callee: '4321' });
    // The ended call lets go of leg B's INVITE transaction (Accepted for 64*T1 more): it would keep the call.
    expect(b.released).toBe(true);
  });

  it('forking: the first 2xx wins, a later 2xx from another fork is ACKed and BYEd', async () => {
    const { tx, call } = setup();
    const stx = call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onProvisional!(responseFromB(b.req, 180, 'fork1'));
    b.handler.onProvisional!(responseFromB(b.req, 183, 'fork2', true));
    await tick();
    expect(stx.responses.map((r) => r.status)).toEqual([180, 183]);
    b.handler.onFinal(responseFromB(b.req, 200, 'fork2', true));
    b.handler.onAdditional2xx!(responseFromB(b.req, 200, 'fork1', true));
    await tick();
    expect(stx.final!.status).toBe(200);
    const acks = tx.stateless.filter((m) => m.method === 'ACK');
    expect(acks.map((a) => a.toTag).sort()).toEqual(['fork1', 'fork2']);
    expect(tx.last('BYE').req.toTag).toBe('fork1');
  });

  it('CANCEL crossing the 200: 487 to A, ACK and BYE on leg B', async () => {
    const { tx, call, mgr, cdr } = setup();
    const stx = call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onProvisional!(responseFromB(b.req, 180, 'btag'));
    await tick();
    stx.onCancel!(SipMessage.request('CANCEL', 'sip:x'));
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await tick();
    expect(stx.final!.status).toBe(487);
    expect((b as Sent).cancelled).toBe(true);
    expect(tx.stateless.some((m) => m.method === 'ACK')).toBe(true);
    expect(tx.last('BYE').req.toTag).toBe('btag');
    expect(mgr.stats().calls).toBe(0);
    expect(cdr.records[0]!.sipStatus).toBe(487);
  });

  it('a call ended while leg B rings keeps its INVITE transaction attached: a 2xx crossing the CANCEL is still ACKed and BYEd', async () => {
    const { tx, call, mgr } = setup();
    call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onProvisional!(responseFromB(b.req, 180, 'btag'));
    await tick();
    mgr.shutdown();
    await tick();
    expect((b as Sent).cancelled).toBe(true);
    expect(b.released).toBe(false);
    b.handler.onAdditional2xx!(responseFromB(b.req, 200, 'btag', true));
    await tick();
    expect(tx.stateless.some((m) => m.method === 'ACK')).toBe(true);
    expect(tx.last('BYE').req.toTag).toBe('btag');
  });

  it('timer B on the only route: 408 to A; on the first of two: alternative route', async () => {
    const one = setup();
    const stx1 = one.call();
    await tick();
    one.tx.last('INVITE').handler.onTimeout();
    await tick();
    expect(stx1.final!.status).toBe(408);

    const two = setup({ routes: [B_ADDR, { address: '192.0.2.11', port: 5060, transport: 'udp' }], altOn: ['timeout'] });
    const stx2 = two.call();
    await tick();
    const first = two.tx.last('INVITE');
    first.handler.onTimeout();
    await tick();
    const second = two.tx.last('INVITE');
    expect(second).not.toBe(first);
    expect(second.dest.address).toBe('192.0.2.11');
    expect(second.req.callId).not.toBe(first.req.callId);
    expect(stx2.final).toBeUndefined();
  });

  it('per-IP-group call limit answers 503', async () => {
    const { call, mgr } = setup({ limit: 1 });
    call();
    await tick();
    const second = call();
    expect(second.final!.status).toBe(503);
    expect(mgr.stats().calls).toBe(1);
  });

  it('Max-Forwards 1 is answered 483; OPTIONS is answered by the SBC', () => {
    const { call, mgr } = setup();
    expect(call([['max-forwards', '1']]).final!.status).toBe(483);
    const opt = SipMessage.request('OPTIONS', 'sip:sbc.example');
    opt.setHeader('via', 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKopt');
    opt.setHeader('from', '<sip:ping@pbx.local>;tag=p');
    opt.setHeader('to', '<sip:sbc.example>');
    opt.setHeader('call-id', 'opt-1');
    opt.setHeader('cseq', '1 OPTIONS');
    const stx = new FakeStx(opt, inbound(opt));
    mgr.handleRequest(opt, stx, inbound(opt));
    expect(stx.final!.status).toBe(200);
    expect(stx.final!.getHeader('allow')).toContain('INVITE');
    expect(stx.final!.getHeader('accept')).toBe('application/sdp');
  });

  it('3xx handled locally follows the Contact', async () => {
    const { tx, call } = setup({ dstProfile: { redirect3xxMode: 'local' } });
    call();
    await tick();
    const b = tx.last('INVITE');
    const r = createResponse(b.req, 302, undefined, 'r');
    r.setHeader('contact', '<sip:5555@192.0.2.77:5080>');
    b.handler.onFinal(r);
    await tick();
    const next = tx.last('INVITE');
    expect(next.req.requestUri).toBe('sip:5555@192.0.2.77:5080');
    expect(next.dest).toEqual({ address: '192.0.2.77', port: 5080, transport: 'udp' });
  });

  it('reliable 1xx relayed with 100rel when both sides support it; PRACK from A maps to B', async () => {
    const { tx, call, mgr } = setup();
    const stx = call([['supported', '100rel']]);
    await tick();
    const b = tx.last('INVITE');
    expect(b.req.getHeader('supported')).toContain('100rel');
    const r183 = responseFromB(b.req, 183, 'btag', true);
    r183.setHeader('require', '100rel');
    r183.setHeader('rseq', '7');
    b.handler.onProvisional!(r183);
    await tick();
    const toA = stx.responses[0]!;
    expect(toA.getHeader('require')).toBe('100rel');
    const aRSeq = toA.getHeader('rseq')!;
    const prack = SipMessage.request('PRACK', 'sip:4321@10.0.0.254:5060');
    prack.setHeader('via', 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKpr');
    prack.setHeader('from', '"Alice" <sip:1000@pbx.local>;tag=atag');
    prack.setHeader('to', toA.getHeader('to')!);
    prack.setHeader('call-id', 'a-call-id@10.0.0.1');
    prack.setHeader('cseq', '11 PRACK');
    prack.setHeader('rack', `${aRSeq} 10 INVITE`);
    const pstx = new FakeStx(prack, inbound(prack));
    mgr.handleRequest(prack, pstx, inbound(prack));
    await tick();
    const bPrack = tx.last('PRACK');
    expect(bPrack.req.getHeader('rack')).toBe(`7 ${b.req.cseq!.seq} INVITE`);
    bPrack.handler.onFinal(createResponse(bPrack.req, 200));
    await tick();
    expect(pstx.final!.status).toBe(200);
    mgr.shutdown();
    expect(mgr.stats().pendingTimers).toBe(0);
  });

  it('local REFER from the callee: bad Refer-To 400, a failed target NOTIFYed, a blind transfer survives the referrer\'s BYE', async () => {
    const { tx, call, mgr, cdr } = setup({ dstProfile: { referMode: 'local' } });
    const stx = call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await tick();
    const toA = stx.final!;
    let bSeq = 20;
    const fromB = (method: string, extra: Array<[string, string]> = []): FakeStx => {
      const m = SipMessage.request(method, 'sip:1000@192.0.2.1:5060');
      m.setHeader('via', `SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKb${bSeq}`);
      m.setHeader('from', `<sip:4321@itsp.example>;tag=btag`);
      m.setHeader('to', `${b.req.getHeader('from')}`);
      m.setHeader('call-id', b.req.callId);
      m.setHeader('cseq', `${++bSeq} ${method}`);
      m.setHeader('contact', '<sip:bob@192.0.2.10:5070>');
      for (const [k, v] of extra) m.setHeader(k, v);
      const bIn: InboundMessage = { message: m, remote: B_ADDR, local: { address: '192.0.2.1', port: 5060, transport: 'udp' }, interfaceName: 'wan', connectionId: null };
      const st = new FakeStx(m, bIn);
      mgr.handleRequest(m, st, bIn);
      return st;
    };
    expect((await (async () => { const r = fromB('REFER', [['refer-to', '<tel:+123>']]); await tick(); return r; })()).final!.status).toBe(400);

    // The target is busy: NOTIFY 486, the call goes on.
    const refer1 = fromB('REFER', [['refer-to', '<sip:5555@example.net>']]);
    await tick();
    expect(refer1.final!.status).toBe(202);
    const trying = tx.last('NOTIFY');
    expect(trying.req.body.toString()).toBe('SIP/2.0 100 Trying\r\n');
    expect(trying.req.getHeader('subscription-state')).toMatch(/^active/);
    const t1 = tx.last('INVITE');
    expect(t1.req.requestUri).toBe('sip:4321@192.0.2.10:5070');
    expect(t1.req.body.length).toBe(0);
    t1.handler.onFinal(createResponse(t1.req, 486, undefined, 'busy'));
    await tick();
    const failed = tx.last('NOTIFY');
    expect(failed.req.body.toString()).toBe('SIP/2.0 486 Busy Here\r\n');
    expect(failed.req.getHeader('subscription-state')).toMatch(/^terminated/);
    expect(mgr.stats()).toMatchObject({ calls: 1, dialogs: 2 });

    // Blind transfer: the referrer hangs up at once; the transferee is connected to the target anyway.
    const refer2 = fromB('REFER', [['refer-to', '<sip:5555@example.net>']]);
    await tick();
    expect(refer2.final!.status).toBe(202);
    const t2 = tx.last('INVITE');
    const bye = fromB('BYE');
    await tick();
    expect(bye.final!.status).toBe(200);
    expect(mgr.stats().calls).toBe(1);
    const notifies = tx.sent.filter((x) => x.req.method === 'NOTIFY').length;
    t2.handler.onFinal(responseFromB(t2.req, 200, 'target', true));
    await tick();
    const reinvite = tx.last('INVITE');
    expect(reinvite.dest).toEqual(A_ADDR);
    expect(reinvite.req.callId).toBe('a-call-id@10.0.0.1');
    expect(reinvite.req.body.toString()).toContain('192.0.2.10');
    const ans = createResponse(reinvite.req, 200);
    ans.setBody('v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', 'application/sdp');
    reinvite.handler.onFinal(ans);
    await tick();
    const targetAck = tx.stateless.filter((m) => m.method === 'ACK' && m.toTag === 'target');
    expect(targetAck).toHaveLength(1);
    expect(targetAck[0]!.body.toString()).toContain('10.0.0.1');
    expect(tx.sent.filter((x) => x.req.method === 'NOTIFY').length).toBe(notifies);
    expect(mgr.stats()).toMatchObject({ calls: 1, dialogs: 2 });
    expect(mgr.registeredDialogs).toBe(2);

    // The caller hangs up toward the target.
    const aBye = SipMessage.request('BYE', 'sip:4321@10.0.0.254:5060');
    aBye.setHeader('via', 'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbye2');
    aBye.setHeader('from', '"Alice" <sip:1000@pbx.local>;tag=atag');
    aBye.setHeader('to', `${toA.getHeader('to')}`);
    aBye.setHeader('call-id', 'a-call-id@10.0.0.1');
    aBye.setHeader('cseq', '12 BYE');
    const aByeStx = new FakeStx(aBye, inbound(aBye));
    mgr.handleRequest(aBye, aByeStx, inbound(aBye));
    await tick();
    expect(aByeStx.final!.status).toBe(200);
    expect(tx.last('BYE').req.toTag).toBe('target');
    expect(mgr.stats()).toMatchObject({ calls: 0, dialogs: 0, pendingTimers: 0, callsByIpGroup: {} });
    expect(mgr.registeredDialogs).toBe(0);
    expect(cdr.records[0]!.timeline.some((e) => e.note === 'transfer complete')).toBe(true);
  });

  it('422 is retried once with the callee\'s Min-SE; a second 422 fails the call', async () => {
    const { tx, call } = setup({ dstProfile: { sessionExpiresSec: 90, minSeSec: 90 } });
    const stx = call();
    await tick();
    const first = tx.last('INVITE');
    const r422 = createResponse(first.req, 422, undefined, 'x');
    r422.setHeader('min-se', '1800');
    first.handler.onFinal(r422);
    await tick();
    const second = tx.last('INVITE');
    expect(second).not.toBe(first);
    expect(second.req.getHeader('session-expires')).toBe('1800');
    expect(second.req.getHeader('min-se')).toBe('1800');
    const again = createResponse(second.req, 422, undefined, 'x');
    again.setHeader('min-se', '3600');
    second.handler.onFinal(again);
    await tick();
    expect(stx.final!.status).toBe(422);
    expect(stx.final!.getHeader('min-se')).toBe('3600');
  });

  it('no-answer timer: CANCEL on leg B, 408 to A; a 200 crossing the CANCEL is ACKed and BYEd', async () => {
    const { tx, call, mgr } = setup({ dstProfile: { noAnswerTimeoutSec: 0.02 } });
    const stx = call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onProvisional!(responseFromB(b.req, 180, 'btag'));
    await new Promise((r) => setTimeout(r, 40));
    expect(stx.final!.status).toBe(408);
    expect((b as Sent).cancelled).toBe(true);
    expect(mgr.stats().calls).toBe(1);
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await tick();
    expect(tx.stateless.some((m) => m.method === 'ACK')).toBe(true);
    expect(tx.last('BYE').req.toTag).toBe('btag');
    expect(mgr.stats()).toMatchObject({ calls: 0, dialogs: 0, pendingTimers: 0 });
  });

  it('prackMode local does not offer 100rel on leg B when A sends no SDP and lacks 100rel', async () => {
    const { tx, mgr } = setup({ dstProfile: { prackMode: 'local' } });
    const inv = invite();
    inv.setBody('', undefined);
    inv.removeHeader('content-type');
    const stx = new FakeStx(inv, inbound(inv));
    mgr.handleRequest(inv, stx, inbound(inv));
    await tick();
    expect(tx.last('INVITE').req.getHeader('supported') ?? '').not.toContain('100rel');
    mgr.shutdown();
  });

  it('local REFER with anchored media: the target\'s offer and the transferee\'s answer go through the media handle as leg B and leg A', async () => {
    const calls: string[] = [];
    let closed = 0;
    const media: MediaPort = {
      create: () => ({
        processOffer: async (leg, sdp) => {
          calls.push(`offer ${leg} ${/c=IN IP4 (\S+)/.exec(sdp)?.[1]}`);
          return { sdp: sdp.replace(/c=IN IP4 \S+/, `c=IN IP4 203.0.113.${leg === 'A' ? 2 : 1}`) };
        },
        processAnswer: async (leg, sdp) => {
          calls.push(`answer ${leg} ${/c=IN IP4 (\S+)/.exec(sdp)?.[1]}`);
          return { sdp: sdp.replace(/c=IN IP4 \S+/, `c=IN IP4 203.0.113.${leg === 'A' ? 2 : 1}`) };
        },
        stats: () => ({}),
        close: () => { closed++; },
      }),
    };
    const { tx, call, mgr } = setup({ dstProfile: { referMode: 'local' }, media });
    call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await tick();
    const refer = SipMessage.request('REFER', 'sip:1000@192.0.2.1:5060');
    refer.setHeader('via', 'SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKref');
    refer.setHeader('from', '<sip:4321@itsp.example>;tag=btag');
    refer.setHeader('to', `${b.req.getHeader('from')}`);
    refer.setHeader('call-id', b.req.callId);
    refer.setHeader('cseq', '30 REFER');
    refer.setHeader('contact', '<sip:bob@192.0.2.10:5070>');
    refer.setHeader('refer-to', '<sip:5555@example.net?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>');
    const bIn: InboundMessage = { message: refer, remote: B_ADDR, local: { address: '192.0.2.1', port: 5060, transport: 'udp' }, interfaceName: 'wan', connectionId: null };
    const rstx = new FakeStx(refer, bIn);
    mgr.handleRequest(refer, rstx, bIn);
    await tick();
    expect(rstx.final!.status).toBe(202);
    const t = tx.last('INVITE');
    expect(t.req.getHeader('replaces')).toBe('abc@h;to-tag=1;from-tag=2');
    expect(t.req.requestUri).not.toContain('?');
    calls.length = 0;
    const t200 = createResponse(t.req, 200, undefined, 'target');
    t200.setHeader('contact', '<sip:carol@192.0.2.20:5060>');
    t200.setBody('v=0\r\no=- 5 5 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n', 'application/sdp');
    t.handler.onFinal(t200);
    await tick();
    const reinvite = tx.last('INVITE');
    expect(reinvite.req.body.toString()).toContain('203.0.113.1');
    const ans = createResponse(reinvite.req, 200);
    ans.setBody('v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', 'application/sdp');
    reinvite.handler.onFinal(ans);
    await tick();
    expect(calls).toEqual(['offer B 192.0.2.20', 'answer A 10.0.0.1']);
    const ack = tx.stateless.find((m) => m.method === 'ACK' && m.toTag === 'target')!;
    expect(ack.body.toString()).toContain('203.0.113.2');
    // In-dialog requests now go to the target's Contact.
    mgr.shutdown();
    expect(tx.sent.filter((x) => x.req.method === 'BYE').map((x) => x.dest.address).sort()).toEqual(['10.0.0.1', '192.0.2.10', '192.0.2.20']);
    expect(closed).toBe(1);
  });
});

describe('CallManager: calls whose parties vanished are ended', () => {
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 400 && !cond(); i++) await tick();
    if (!cond()) throw new Error(`timed out waiting for ${what}`);
  };

  async function connected(dstProfile: Partial<CallProfile>) {
    const s = setup({ dstProfile });
    const stx = s.call();
    await tick();
    const b = s.tx.last('INVITE');
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await until(() => stx.final?.status === 200, '200 to A');
    return { ...s, stx };
  }

  it('in-dialog OPTIONS on both legs; a 481 from one leg ends the call with BYE to the other', async () => {
    const { tx, mgr, cdr } = await connected({ dialogKeepAliveSec: 0.05 });
    await until(() => tx.sent.filter((x) => x.req.method === 'OPTIONS').length === 2, 'two OPTIONS');
    const [toA, toB] = tx.sent.filter((x) => x.req.method === 'OPTIONS');
    expect(toA!.dest).toEqual(A_ADDR);
    expect(toB!.dest).toEqual(B_ADDR);
    expect(toB!.req.getHeader('to')).toContain('tag=btag');
    // Leg A is alive, leg B lost the dialog.
    toA!.handler.onFinal(createResponse(toA!.req, 200));
    toB!.handler.onFinal(createResponse(toB!.req, 481));
    await until(() => mgr.stats().calls === 0, 'the call to end');
    expect(tx.last('BYE').dest).toEqual(A_ADDR);
    expect(tx.sent.filter((x) => x.req.method === 'BYE')).toHaveLength(1);
    expect(cdr.records[0]!.terminationReason).toBe('leg B gone: in-dialog OPTIONS answered 481');
    expect(mgr.registeredDialogs).toBe(0);
  });

  it('both legs answering keeps the call and probes again; no answer ends it', async () => {
    const { tx, mgr, cdr } = await connected({ dialogKeepAliveSec: 0.05 });
    await until(() => tx.sent.filter((x) => x.req.method === 'OPTIONS').length === 2, 'first round');
    for (const o of tx.sent.filter((x) => x.req.method === 'OPTIONS')) o.handler.onFinal(createResponse(o.req, 200));
    await until(() => tx.sent.filter((x) => x.req.method === 'OPTIONS').length === 4, 'second round');
    expect(mgr.stats().calls).toBe(1);
    const second = tx.sent.filter((x) => x.req.method === 'OPTIONS').slice(2);
    second[0]!.handler.onTimeout();
    await until(() => mgr.stats().calls === 0, 'the call to end');
    expect(cdr.records[0]!.terminationReason).toBe('leg A gone: no answer to in-dialog OPTIONS');
  });

  it('off by default in profiles without an interval', async () => {
    const { tx, mgr } = await connected({});
    for (let i = 0; i < 20; i++) await tick();
    expect(tx.sent.filter((x) => x.req.method === 'OPTIONS')).toHaveLength(0);
    expect(mgr.stats().calls).toBe(1);
    mgr.shutdown();
  });

  it('the reaper ends a call whose event never finishes (media that never answers)', async () => {
    const never: MediaPort = {
      create: () => ({ processOffer: () => new Promise(() => {}), processAnswer: () => new Promise(() => {}), stats: () => ({}), close: () => {} }),
    };
    const { mgr, call, cdr, tx } = setup({ media: never });
    const stx = call();
    await tick();
    expect(mgr.stats().calls).toBe(1);
    expect(tx.sent).toHaveLength(0); // stuck before leg B
    expect(mgr.reap(Date.now())).toBe(0); // not stalled yet
    expect(mgr.reap(Date.now() + 31_000)).toBe(1);
    expect(mgr.stats()).toMatchObject({ calls: 0, reaped: 1 });
    expect(stx.final!.status).toBe(503);
    expect(cdr.records[0]!.terminationReason).toBe('reaped: call event stalled');
  });
});

describe('CallManager: what the CDR says about a call', () => {
  it('addresses, interfaces, parties before and after manipulation, alert time, reason', async () => {
    const { tx, mgr, call, cdr } = setup();
    const stx = call();
    await tick();
    const b = tx.last('INVITE');
    b.handler.onProvisional!(responseFromB(b.req, 180, 'btag'));
    await tick();
    b.handler.onFinal(responseFromB(b.req, 486, 'btag'));
    for (let i = 0; i < 20 && mgr.stats().calls > 0; i++) await tick();
    expect(stx.final!.status).toBe(486);
    const d = cdr.records[0]!.detail!;
    expect(d.legA).toEqual({ remote: A_ADDR, local: { address: '10.0.0.254', port: 5060, transport: 'udp' }, sipInterface: 'lan' });
    expect(d.legB).toEqual({ remote: B_ADDR, sipInterface: 'wan' });
    expect(d.callerBeforeMap).toEqual({ user: '1000', uri: 'sip:1000@pbx.local', displayName: 'Alice' });
    expect(d.calleeBeforeMap).toMatchObject({ user: '4321', uri: 'sip:4321@sbc.example' });
    // Leg B is addressed by the destination group's host.
    expect(d.caller).toEqual({ user: '1000', uri: 'sip:1000@itsp.example', displayName: 'Alice' });
    expect(d.callee).toMatchObject({ user: '4321', uri: 'sip:4321@192.0.2.10:5070' });
    expect(d.alertTime).not.toBeNull();
    expect(d.sipReason).toBe('Busy Here');
  });

  it('a routing row that rejects: its status to the caller, the row in the CDR, category rejected-by-route', async () => {
    const { tx, mgr, call, cdr } = setup({ reject: { reject: 403, ruleName: 'blocked' } });
    const stx = call();
    for (let i = 0; i < 20 && mgr.stats().calls > 0; i++) await tick();
    expect(stx.final!.status).toBe(403);
    expect(tx.sent.filter((t) => t.req.method === 'INVITE')).toHaveLength(0);
    const rec = cdr.records[0]!;
    expect(rec.detail!.routeName).toBe('blocked');
    expect(rec.detail!.legB.remote).toBeNull();
    expect(fromLegacyCdr(rec)).toMatchObject({ routeName: 'blocked', sipStatus: 403, terminationCategory: 'rejected-by-route', releaseSide: 'sbc' });
  });
});

describe('CallManager: the active-call journal', () => {
  it('is told at connect (both legs\' dialogs, where their requests go) and at the end', async () => {
    const events: Array<{ up?: JournalledCall; down?: string }> = [];
    const journal: CallJournalPort = { connected: (c) => events.push({ up: c }), ended: (id) => events.push({ down: id }) };
    const { tx, mgr, call } = setup({ journal });
    const stx = call();
    await tick();
    const b = tx.last('INVITE');
    expect(events).toEqual([]);
    b.handler.onFinal(responseFromB(b.req, 200, 'btag', true));
    await tick();
    expect(stx.final!.status).toBe(200);
    expect(events).toHaveLength(1);
    const up = events[0]!.up!;
    expect(up.legA).toMatchObject({
      callId: 'a-call-id@10.0.0.1', remoteTag: 'atag', localTag: stx.final!.toTag, remoteTarget: 'sip:1000@10.0.0.1:5060',
      dest: A_ADDR, sipInterface: 'lan',
    });
    expect(up.legB).toMatchObject({ callId: b.req.callId, localTag: b.req.fromTag, remoteTag: 'btag', localCseq: 1, dest: B_ADDR, sipInterface: 'wan' });
    expect(up.record()).toMatchObject({ callId: up.sessionId, sipStatus: 200 });
    [...mgr.liveCalls()][0]!.terminate('sbc', 'test');
    expect(events[1]).toEqual({ down: up.sessionId });
  });
});
