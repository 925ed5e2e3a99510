import { describe, expect, it } from 'vitest';
import {
  createResponse,
  parseMessage,
  parseNameAddr,
  parseUri,
  PARSE_ERRORS,
  serializeMessage,
  type SipMessage,
} from './index.js';
import { CORPUS, caseBytes, type ExpectOk } from '../../test/fixtures/sip-corpus/messages.js';

function checkOk(m: SipMessage, e: ExpectOk): void {
  expect(m.method).toBe(e.method);
  if (e.uri !== undefined) {
    expect(m.isRequest).toBe(true);
    expect(m.requestUri).toBe(e.uri);
  }
  if (e.status !== undefined) {
    expect(m.isRequest).toBe(false);
    expect(m.status).toBe(e.status);
    if (e.reason !== undefined) expect(m.reason).toBe(e.reason);
  }
  expect(m.callId).toBe(e.callId);
  expect(m.cseq).toEqual(e.cseq);
  expect(m.fromTag).toBe(e.fromTag);
  expect(m.toTag).toBe(e.toTag);
  const via = m.topVia;
  expect(via).not.toBeNull();
  expect(via!.host).toBe(e.via.host);
  expect(via!.port).toBe(e.via.port);
  expect(via!.params.get('branch') ?? null).toBe(e.via.branch);
  if (e.via.transport !== undefined) expect(via!.transport).toBe(e.via.transport);
  if (e.via.rport === false) expect(via!.params.has('rport')).toBe(false);
  else if (e.via.rport !== undefined) expect(via!.params.get('rport')).toBe(e.via.rport);
  if (e.via.received === false) expect(via!.params.has('received')).toBe(false);
  else if (e.via.received !== undefined) expect(via!.params.get('received')).toBe(e.via.received);
  expect(m.headers.length).toBe(e.headerLines);
  expect(m.body.length).toBe(e.bodyLength);
  for (const [name, n] of Object.entries(e.valueCounts ?? {})) expect(m.getHeaderValues(name).length, name).toBe(n);
  for (const [name, v] of Object.entries(e.headerValues ?? {})) expect(m.getHeader(name), name).toBe(v);
}

describe('SIP corpus', () => {
  it('has at least 60 cases with unique names', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CORPUS.map((c) => c.name)).size).toBe(CORPUS.length);
    expect(CORPUS.filter((c) => c.expect.ok).length).toBeGreaterThanOrEqual(30);
    expect(CORPUS.filter((c) => !c.expect.ok).length).toBeGreaterThanOrEqual(30);
  });

  it('expects only documented error strings, and covers most of them', () => {
    const known = new Set<string>(Object.values(PARSE_ERRORS));
    const used = new Set<string>();
    for (const c of CORPUS) if (!c.expect.ok) used.add(c.expect.error);
    for (const e of used) expect(known.has(e), e).toBe(true);
    expect(used.size).toBeGreaterThanOrEqual(known.size - 2);
  });

  for (const c of CORPUS) {
    it(c.name, () => {
      const res = parseMessage(caseBytes(c));
      const e = c.expect;
      if (e.ok) {
        if (!res.ok) throw new Error(`expected ok, got error "${res.error}"`);
        checkOk(res.message, e);
        return;
      }
      if (res.ok) throw new Error(`expected error "${e.error}", got ok`);
      expect(res.error).toBe(e.error);
      if (!e.partial) {
        expect(res.partial).toBeNull();
        return;
      }
      const partial = res.partial;
      expect(partial).not.toBeNull();
      if (partial!.isRequest) {
        // What the transport does with a broken request: answer it.
        const resp = createResponse(partial!, 400, res.error);
        const wire = serializeMessage(resp).toString('utf8');
        expect(wire.startsWith(`SIP/2.0 400 ${res.error}\r\n`)).toBe(true);
        expect(resp.countHeaderLines('via')).toBe(partial!.countHeaderLines('via'));
        if (partial!.getHeader('call-id') !== undefined) expect(resp.getHeader('call-id')).toBe(partial!.getHeader('call-id'));
        expect(wire.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
      }
    });
  }
});

describe('parse details', () => {
  it('keeps the wire name and the canonical name of compact headers', () => {
    const c = CORPUS.find((x) => x.name.startsWith('compact header forms'))!;
    const res = parseMessage(caseBytes(c));
    if (!res.ok) throw new Error(res.error);
    const via = res.message.headers[0]!;
    expect(via.name).toBe('via');
    expect(via.rawName).toBe('v');
    expect(res.message.getHeader('V')).toBe(res.message.getHeader('Via'));
    expect(res.message.contentType).toBe('application/sdp');
  });

  it('parses escaped display names and URIs of the escapes case', () => {
    const c = CORPUS.find((x) => x.name.startsWith('escaped characters'))!;
    const res = parseMessage(caseBytes(c));
    if (!res.ok) throw new Error(res.error);
    const from = res.message.getNameAddr('from')!;
    expect(from.displayName).toBe('Bob "the builder" \\ Jr.');
    expect(from.uri).toBe('sip:bob%40home@biloxi.example.com');
    const to = res.message.getNameAddr('to')!;
    expect(to.displayName).toBe('<alice>, "the" one;');
    const ruri = res.message.parsedRequestUri!;
    expect(ruri.user).toBe('%61lice%20smith');
    expect(ruri.host).toBe('atlanta.example.com');
    expect(ruri.params.get('x-param')).toBe('a%3Bb');
  });

  it('parses the IPv6 Request-URI', () => {
    const c = CORPUS.find((x) => x.name.startsWith('IPv6 references'))!;
    const res = parseMessage(caseBytes(c));
    if (!res.ok) throw new Error(res.error);
    const u = res.message.parsedRequestUri!;
    expect(u.host).toBe('[2001:db8::10]');
    expect(u.port).toBe(5070);
    expect(u.params.get('transport')).toBe('udp');
    expect(parseNameAddr(res.message.getHeader('contact')!)!.uri).toBe('sip:alice@[2001:db8::9]:5060;transport=udp');
  });

  it('parses tel: and unknown schemes', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toMatchObject({ scheme: 'tel', user: '+1-201-555-0123' });
    expect(parseUri('urn:service:sos')).toMatchObject({ scheme: 'urn', opaque: 'service:sos' });
    expect(parseUri('sip:@host')).toBeNull();
    expect(parseUri('sip:host:99999')).toBeNull();
  });

  it('keeps a binary body byte for byte', () => {
    const c = CORPUS.find((x) => x.name === 'binary body bytes')!;
    const res = parseMessage(caseBytes(c));
    if (!res.ok) throw new Error(res.error);
    expect(Buffer.compare(res.message.body, c.body as Buffer)).toBe(0);
  });

  it('gives a partial message with every readable header after a malformed line', () => {
    const c = CORPUS.find((x) => x.name === 'header line without a colon')!;
    const res = parseMessage(caseBytes(c));
    if (res.ok) throw new Error('expected an error');
    const p = res.partial!;
    expect(p.callId).toBe('3848276298220188511@atlanta.example.com');
    expect(p.fromTag).toBe('8321234356');
    expect(p.hasHeader('content-length')).toBe(true);
  });

  it('gives the head of an oversize request so that 513 can be sent', () => {
    const c = CORPUS.find((x) => x.name === 'datagram over 65535 bytes')!;
    const res = parseMessage(caseBytes(c));
    if (res.ok) throw new Error('expected an error');
    const r = createResponse(res.partial!, 513);
    expect(serializeMessage(r).toString().startsWith('SIP/2.0 513 Message Too Large\r\n')).toBe(true);
  });

  it('honours custom limits', () => {
    const c = CORPUS.find((x) => x.name === 'canonical BYE')!;
    const bytes = caseBytes(c);
    const tight = { maxMessageBytes: 100, maxHeaders: 256, maxHeaderLineBytes: 8192 };
    const res = parseMessage(bytes, tight);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error).toBe('Message Too Large');
    const few = parseMessage(bytes, { maxMessageBytes: 65535, maxHeaders: 3, maxHeaderLineBytes: 8192 });
    expect(few.ok ? '' : few.error).toBe('Too Many Headers');
  });
});
