import { describe, expect, it } from 'vitest';
import { parseMessage } from '../sip/parser.js';
import { serializeMessage } from '../sip/serializer.js';
import { compactMessage, HELD_INVITE_HEADERS, sameMessage, StringPool } from './compact.js';

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
  'Session-Expires: 1800;refresher=uac',
  'User-Agent: softphone 1.0',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n');

describe('compactMessage', () => {
  it('keeps the named headers, the request line and the cached fields, and drops the rest and the body', () => {
    const r = parseMessage(Buffer.from(INVITE));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const m = compactMessage(r.message, HELD_INVITE_HEADERS, false);
    expect(m.method).toBe('INVITE');
    expect(m.requestUri).toBe('sip:bob@biloxi.example.com');
    expect(m.callId).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.fromTag).toBe('1928301774');
    expect(m.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(m.getHeader('to')).toBe('Bob <sip:bob@biloxi.example.com>');
    for (const gone of ['via', 'record-route', 'session-expires', 'contact', 'user-agent', 'content-type']) expect(m.getHeader(gone)).toBeUndefined();
    expect(m.headers.length).toBe(4);
    expect(m.body.length).toBe(0);
  });

  it('shares equal values through a pool and with every header and the body serializes to what the original did', () => {
    const r = parseMessage(Buffer.from(INVITE));
    if (!r.ok) throw new Error('parse');
    expect(serializeMessage(compactMessage(r.message, null, true)).toString()).toBe(serializeMessage(r.message).toString());
    const pool = new StringPool();
    const a = compactMessage(r.message, HELD_INVITE_HEADERS, false, pool);
    const b = compactMessage(r.message.clone(), HELD_INVITE_HEADERS, false, pool);
    expect(b.getHeader('from')).toBe(a.getHeader('from'));
    expect(b.callId).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(sameMessage(a, b)).toBe(true);
    b.setHeader('to', 'Carol <sip:carol@example.com>');
    expect(sameMessage(a, b)).toBe(false);
  });
});
