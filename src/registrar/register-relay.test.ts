import { describe, expect, it } from 'vitest';
import type { CallRouting, InboundMessage, IpGroupRef, RouteTarget, ServerTransactionRef } from '../b2bua/ports.js';
import { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { ClientTransactionHandler } from '../transaction/types.js';
import { silentLogger } from '../util/logger.js';
import { RegistrationDb } from './bindings.js';
import { RegisterRelay, type RegistrarSettings } from './register-relay.js';

const PROFILE = { prackMode: 'transparent' as const, sessionExpiresSec: 0, minSeSec: 90, referMode: 'relay' as const, redirect3xxMode: 'relay' as const, maxCallDurationSec: 0 };
const USERS: IpGroupRef = { name: 'Users', id: 1, type: 'user', keepOriginalCallId: false, sipGroupName: 'pbx.local', profile: PROFILE };
const PBX: IpGroupRef = { ...USERS, name: 'PBX', id: 0, type: 'server' };
const TARGET: RouteTarget = { dstIpGroup: PBX, dest: { address: '10.0.0.20', port: 5060, transport: 'udp' }, interfaceName: 'LAN', requestUri: 'sip:pbx.local' };

const routing: CallRouting = {
  applyInbound: () => undefined,
  routeWalk: () => ({ next: (f) => (f === null ? TARGET : null) }),
  applyOutbound: () => undefined,
  credentialsFor: () => null,
  maxRerouteAttemptsOn3xx: 0,
};

function harness(settings: Partial<RegistrarSettings> = {}) {
  const db = new RegistrationDb();
  const upstream: Array<{ req: SipMessage; handler: ClientTransactionHandler }> = [];
  const answers: SipMessage[] = [];
  const counts: string[] = [];
  const relay = new RegisterRelay({
    db,
    sendRequest: (req, _d, _i, handler) => upstream.push({ req, handler }),
    contactAddress: () => ({ address: '10.0.0.1', port: 5060 }),
    settings: () => ({ userRegistrationTime: 60, proxyRegistrationTime: 3600, graceTime: 0, maxUsers: () => -1, natRegistrationTime: () => -1, ...settings }),
    logger: silentLogger(),
    userAgent: () => 'sbc',
    count: (r) => counts.push(r),
  });
  let cseq = 0;
  const register = (user: string, expires: number, port = 40000, headers: Array<[string, string]> = []): void => {
    const req = SipMessage.request('REGISTER', 'sip:pbx.local');
    req.setHeader('via', `SIP/2.0/UDP 203.0.113.5:${port};branch=z9hG4bK${++cseq}`);
    req.setHeader('from', `<sip:${user}@pbx.local>;tag=t${user}`);
    req.setHeader('to', `<sip:${user}@pbx.local>`);
    req.setHeader('call-id', `call-${user}`);
    req.setHeader('cseq', `${cseq} REGISTER`);
    req.setHeader('contact', `<sip:${user}@192.168.1.5:5062;x-odd=1?Route=%3Csip:a%3E>`);
    req.setHeader('expires', String(expires));
    for (const [k, v] of headers) req.addHeader(k, v);
    const stx = { request: req, respond: (res: SipMessage) => answers.push(res) } as unknown as ServerTransactionRef;
    const inbound = { remote: { address: '203.0.113.5', port, transport: 'udp' }, interfaceName: 'WAN', connectionId: null } as unknown as InboundMessage;
    expect(relay.handle(req, stx, inbound, { srcIpGroup: USERS, routing })).toBe(true);
  };
  const registrarAnswers = (status: number, expires?: number): void => {
    const { req, handler } = upstream[upstream.length - 1]!;
    const res = createResponse(req, status, undefined, 'r1');
    if (expires !== undefined) res.setHeader('contact', `${req.getHeader('contact')!.replace(/;expires=\d+/, '')};expires=${expires}`);
    handler.onFinal(res);
  };
  return { db, upstream, answers, counts, register, registrarAnswers };
}

describe('RegisterRelay', () => {
  it('relays with its own Contact, grants the user less than the registrar (throttling), answers refreshes from the cache', () => {
    const h = harness();
    h.register('200', 300);
    const out = h.upstream[0]!.req;
    expect(out.getHeader('contact')).toMatch(/^<sip:r[0-9a-f]{12}@10\.0\.0\.1:5060>;expires=3600$/);
    expect(out.callId).not.toBe('call-200');
    h.registrarAnswers(200, 3600);
    expect(h.answers[0]!.status).toBe(200);
    expect(h.answers[0]!.getHeader('contact')).toBe('<sip:200@192.168.1.5:5062;x-odd=1?Route=%3Csip:a%3E>;expires=60');
    const b = h.db.bindingsOf('200@pbx.local')[0]!;
    expect(b.flow).toMatchObject({ address: '203.0.113.5', port: 40000 });
    // The refresh, from a new NAT port: answered here, the flow follows.
    h.register('200', 300, 40001);
    expect(h.upstream).toHaveLength(1);
    expect(h.answers[1]!.status).toBe(200);
    expect(h.db.bindingsOf('200@pbx.local')[0]!.flow.port).toBe(40001);
    // Requests from the registered flow classify to the user's group; the old NAT port no longer does.
    expect(h.db.groupOfFlow({ transport: 'udp', address: '203.0.113.5', port: 40001 }, Date.now())).toBe('Users');
    expect(h.db.groupOfFlow({ transport: 'udp', address: '203.0.113.5', port: 40000 }, Date.now())).toBeUndefined();
    expect(h.counts).toEqual(['forwarded-2xx', 'cached']);
    // Un-REGISTER goes upstream for our contact and removes the binding.
    h.register('200', 0);
    expect(h.upstream[1]!.req.getHeader('contact')).toMatch(/;expires=0$/);
    h.registrarAnswers(200);
    expect(h.db.size).toBe(0);
    expect(h.db.groupOfFlow({ transport: 'udp', address: '203.0.113.5', port: 40001 }, Date.now())).toBeUndefined();
  });

  it('relays challenges back and enforces MaxNumOfRegUsers', () => {
    const h = harness({ maxUsers: () => 1 });
    h.register('200', 300);
    const { req, handler } = h.upstream[0]!;
    const ch = createResponse(req, 401, undefined, 'r1');
    ch.setHeader('www-authenticate', 'Digest realm="pbx.local", nonce="abc", qop="auth"');
    handler.onFinal(ch);
    expect(h.answers[0]!.status).toBe(401);
    expect(h.answers[0]!.getHeader('www-authenticate')).toBe('Digest realm="pbx.local", nonce="abc", qop="auth"');
    h.register('200', 300);
    h.registrarAnswers(200, 3600);
    expect(h.db.aorCount('Users')).toBe(1);
    h.register('201', 300);
    expect(h.answers[h.answers.length - 1]!.status).toBe(403);
    expect(h.upstream).toHaveLength(2);
  });

  it('keeps the user\'s Path and returns it (RFC 3327); the registrar\'s Path and Service-Route stay upstream (RFC 3608)', () => {
    const h = harness();
    h.register('200', 300, 40000, [['supported', 'path'], ['path', '<sip:edge.example;lr>']]);
    const out = h.upstream[0]!.req;
    // Upstream the SBC is the UA (its own Contact): nothing of the user's side.
    expect(out.getHeader('path')).toBeUndefined();
    const { req, handler } = h.upstream[0]!;
    const ok = createResponse(req, 200, undefined, 'r1');
    ok.setHeader('contact', `${req.getHeader('contact')!.replace(/;expires=\d+/, '')};expires=3600`);
    ok.setHeader('service-route', '<sip:orig@scscf.pbx.local;lr>');
    ok.setHeader('path', '<sip:pcscf.pbx.local;lr>');
    handler.onFinal(ok);
    const answer = h.answers[0]!;
    expect(answer.status).toBe(200);
    expect(answer.getHeaderValues('path')).toEqual(['<sip:edge.example;lr>']);
    expect(answer.getHeader('service-route')).toBeUndefined();
    expect(h.db.bindingsOf('200@pbx.local')[0]!.path).toEqual(['<sip:edge.example;lr>']);
    // A refresh answered from the cache returns it too.
    h.register('200', 300, 40000, [['supported', 'path'], ['path', '<sip:edge.example;lr>']]);
    expect(h.answers[1]!.getHeaderValues('path')).toEqual(['<sip:edge.example;lr>']);
  });

  it('grants a user behind NAT the profile\'s NAT registration time', () => {
    const h = harness({ natRegistrationTime: (_g, t) => (t === 'udp' ? 25 : -1) });
    h.register('200', 300);
    h.registrarAnswers(200, 3600);
    // Contact 192.168.1.5:5062, source 203.0.113.5:40000: behind a NAT.
    expect(h.answers[0]!.getHeader('contact')).toMatch(/;expires=25$/);
  });
});
