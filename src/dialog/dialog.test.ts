import { describe, expect, it } from 'vitest';
import { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { Dialog } from './dialog.js';

function req(): SipMessage {
  const m = SipMessage.request('INVITE', 'sip:bob@b.example');
  m.setHeader('via', 'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1');
  m.setHeader('from', '"A" <sip:a@a.example>;tag=ft');
  m.setHeader('to', '<sip:bob@b.example>');
  m.setHeader('call-id', 'cid');
  m.setHeader('cseq', '5 INVITE');
  m.setHeader('contact', '<sip:a@10.0.0.1:5060>');
  m.addHeader('record-route', '<sip:p1.example;lr>');
  m.addHeader('record-route', '<sip:p2.example;lr>');
  return m;
}

describe('Dialog', () => {
  it('UAS side keeps Record-Route order; UAC side reverses it', () => {
    const r = req();
    const uas = Dialog.fromRequest(r, 'lt')!;
    expect(uas.routeSet).toEqual(['<sip:p1.example;lr>', '<sip:p2.example;lr>']);
    expect(uas.remoteTarget).toBe('sip:a@10.0.0.1:5060');
    expect(uas.remoteSeq).toBe(5);
    const res = createResponse(r, 180, undefined, 'tt');
    for (const v of r.getHeaderValues('record-route')) res.addHeader('record-route', v);
    res.setHeader('contact', '<sip:bob@10.0.0.2>');
    const uac = Dialog.fromResponse(r, res)!;
    expect(uac.state).toBe('early');
    expect(uac.routeSet).toEqual(['<sip:p2.example;lr>', '<sip:p1.example;lr>']);
    const ok = createResponse(r, 200, undefined, 'tt');
    ok.setHeader('contact', '<sip:bob@10.0.0.3>');
    uac.updateFromResponse(ok);
    expect(uac.state).toBe('confirmed');
    expect(uac.routeSet).toEqual([]);
    expect(uac.remoteTarget).toBe('sip:bob@10.0.0.3');
  });

  it('builds in-dialog requests with the next CSeq; ACK reuses the INVITE number', () => {
    const r = req();
    const res = createResponse(r, 200, undefined, 'tt');
    res.setHeader('contact', '<sip:bob@10.0.0.2>');
    res.addHeader('record-route', '<sip:p1.example;lr>');
    const d = Dialog.fromResponse(r, res)!;
    const bye = d.createRequest('BYE');
    expect(bye.requestUri).toBe('sip:bob@10.0.0.2');
    expect(bye.getHeader('cseq')).toBe('6 BYE');
    expect(bye.getHeader('route')).toBe('<sip:p1.example;lr>');
    expect(bye.fromTag).toBe('ft');
    expect(bye.toTag).toBe('tt');
    expect(d.createRequest('ACK', 5).getHeader('cseq')).toBe('5 ACK');
  });

  it('strict routing puts the first route in the Request-URI', () => {
    const r = req();
    const res = createResponse(r, 200, undefined, 'tt');
    res.setHeader('contact', '<sip:bob@10.0.0.2>');
    res.addHeader('record-route', '<sip:strict.example>');
    const d = Dialog.fromResponse(r, res)!;
    const m = d.createRequest('INFO');
    expect(m.requestUri).toBe('sip:strict.example');
    expect(m.getHeaderValues('route')).toEqual(['<sip:bob@10.0.0.2>']);
  });

  it('rejects out-of-order CSeq from the peer', () => {
    const d = Dialog.fromRequest(req(), 'lt')!;
    const info = SipMessage.request('INFO', 'sip:x');
    info.setHeader('cseq', '5 INFO');
    expect(d.acceptRemoteSeq(info)).toBe(false);
    info.setHeader('cseq', '6 INFO');
    expect(d.acceptRemoteSeq(info)).toBe(true);
  });
});
