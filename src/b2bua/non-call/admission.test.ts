import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../sip/parser.js';
import type { SipMessage } from '../../sip/message.js';
import { createResponse } from '../../sip/response.js';
import type { AdmissionClaim, AdmissionPort, InboundMessage, ServerTransactionRef } from '../ports.js';
import { admitNonCall } from './admission.js';

function request(method: string): SipMessage {
  const text = `${method} sip:200@sbc SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nFrom: <sip:201@pbx>;tag=1\r\nTo: <sip:200@pbx>\r\n` +
    `Call-ID: c1\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const r = parseMessage(Buffer.from(text));
  if (!r.ok) throw new Error(r.error);
  return r.message;
}

/** One place: the second claim is refused until the first is given back. */
function onePlace(): AdmissionPort & { claims: AdmissionClaim[]; active: number } {
  const port = {
    claims: [] as AdmissionClaim[],
    active: 0,
    claim(c: AdmissionClaim) {
      port.claims.push(c);
      if (port.active >= 1) return { reject: 503, reason: 'Call Admission Control (one: limit)' };
      port.active++;
      let done = false;
      return () => { if (!done) { done = true; port.active--; } };
    },
  };
  return port;
}

function fakeStx(req: SipMessage): ServerTransactionRef & { sent: number[] } {
  const sent: number[] = [];
  return { request: req, inbound: {} as InboundMessage, state: 'trying', sent, respond: (res: SipMessage) => { sent.push(res.status!); } } as unknown as ServerTransactionRef & { sent: number[] };
}

const inbound = { interfaceName: 'LAN', remote: { address: '10.0.0.1', port: 5060 } } as unknown as InboundMessage;

describe('CAC for out-of-dialog requests that start no call', () => {
  it('claims SUBSCRIBE/REGISTER with their method and user, and gives the place back with the final response', () => {
    const port = onePlace();
    const reg = request('REGISTER');
    const stx = fakeStx(reg);
    const a = admitNonCall(port, reg, stx, inbound, 'Phones');
    expect('stx' in a).toBe(true);
    expect(port.claims[0]).toEqual({ group: 'Phones', interfaceName: 'LAN', direction: 'inbound', method: 'REGISTER', user: '200' });
    expect(admitNonCall(port, request('SUBSCRIBE'), fakeStx(request('SUBSCRIBE')), inbound, 'Phones')).toMatchObject({ reject: 503 });
    if (!('stx' in a)) return;
    a.stx.respond(createResponse(reg, 100));
    expect(port.active).toBe(1);
    a.stx.respond(createResponse(reg, 200));
    expect(stx.sent).toEqual([100, 200]);
    expect(port.active).toBe(0);
    const sub = admitNonCall(port, request('SUBSCRIBE'), fakeStx(request('SUBSCRIBE')), inbound, 'Phones');
    expect('stx' in sub).toBe(true);
    expect(port.claims.at(-1)).toMatchObject({ method: 'SUBSCRIBE', user: '201' });
  });

  it('OPTIONS (a keep-alive, no dialog) and a missing admission port are not counted', () => {
    const port = onePlace();
    const opt = request('OPTIONS');
    const stx = fakeStx(opt);
    expect(admitNonCall(port, opt, stx, inbound, 'PBX')).toEqual({ stx });
    expect(port.claims).toHaveLength(0);
    const reg = request('REGISTER');
    const stx2 = fakeStx(reg);
    expect(admitNonCall(undefined, reg, stx2, inbound, 'PBX')).toEqual({ stx: stx2 });
  });

  it('a discarded request gives its place back too', () => {
    const port = onePlace();
    const reg = request('REGISTER');
    let discarded = false;
    const stx = { ...fakeStx(reg), discard: () => { discarded = true; } };
    const a = admitNonCall(port, reg, stx, inbound, 'PBX');
    if (!('stx' in a)) throw new Error('refused');
    a.stx.discard?.();
    expect(discarded).toBe(true);
    expect(port.active).toBe(0);
  });
});
