import { describe, expect, it } from 'vitest';
import {
  buildVia,
  createResponse,
  newBranch,
  newCallId,
  newTag,
  parseMessage,
  reasonPhrase,
  serializeHead,
  serializeMessage,
  SipMessage,
} from './index.js';
import { CORPUS, caseBytes } from '../../test/fixtures/sip-corpus/messages.js';

function parse(bytes: Buffer | string): SipMessage {
  const res = parseMessage(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  if (!res.ok) throw new Error(`parse failed: ${res.error}`);
  return res.message;
}

function byName(name: string): Buffer {
  const c = CORPUS.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no corpus case ${name}`);
  return caseBytes(c);
}

describe('round trip', () => {
  const canonical = CORPUS.filter((c) => c.canonical === true);

  it('has canonical cases', () => {
    expect(canonical.length).toBeGreaterThanOrEqual(4);
  });

  for (const c of canonical) {
    it(`unmodified "${c.name}" serializes byte for byte`, () => {
      const bytes = caseBytes(c);
      const out = serializeMessage(parse(bytes));
      expect(out.equals(bytes)).toBe(true);
    });
  }

  it('every valid corpus message reparses to the same fields after serializing', () => {
    for (const c of CORPUS) {
      if (!c.expect.ok) continue;
      const m = parse(caseBytes(c));
      const again = parse(serializeMessage(m));
      expect(again.callId, c.name).toBe(m.callId);
      expect(again.cseq, c.name).toEqual(m.cseq);
      expect(again.fromTag, c.name).toBe(m.fromTag);
      expect(again.toTag, c.name).toBe(m.toTag);
      expect(again.topVia, c.name).toEqual(m.topVia);
      expect(again.body.equals(m.body), c.name).toBe(true);
      expect(again.getHeaderValues('via'), c.name).toEqual(m.getHeaderValues('via'));
    }
  });

  it('fixes Content-Length after a new body', () => {
    const m = parse(byName('canonical INVITE with SDP'));
    m.setBody('v=0\r\n', 'application/sdp');
    const wire = serializeMessage(m).toString();
    expect(wire).toContain('\r\nContent-Length: 5\r\n\r\nv=0\r\n');
    expect(wire.match(/Content-Length/g)!.length).toBe(1);
    expect(parse(wire).body.toString()).toBe('v=0\r\n');
  });

  it('fixes Content-Length when the body is replaced directly', () => {
    const m = parse(byName('canonical BYE'));
    m.body = Buffer.from('12345678');
    expect(serializeHead(m)).toContain('Content-Length: 8\r\n');
  });

  it('writes the declared length, not the datagram length, for a datagram with extra bytes', () => {
    const wire = serializeMessage(parse(byName('Content-Length smaller than the datagram: extra bytes are dropped'))).toString();
    expect(wire.endsWith('Content-Length: 4\r\n\r\nabcd')).toBe(true);
  });

  it('adds Content-Length when the datagram had none', () => {
    const wire = serializeMessage(parse(byName('no Content-Length on a datagram: the body is the rest of the packet'))).toString();
    expect(wire.endsWith('Content-Length: 12\r\n\r\ntwelve bytes')).toBe(true);
  });

  it('keeps compact names and writes a single Content-Length', () => {
    const m = parse(byName('Content-Length given twice with the same value'));
    const wire = serializeMessage(m).toString();
    expect(wire.match(/^(Content-Length|l):/gm)!.length).toBe(1);
    const compact = serializeMessage(parse(byName('compact header forms v f t i m l c k s'))).toString();
    expect(compact).toContain('\r\nv: SIP/2.0/UDP 192.0.2.33;branch=z9hG4bKcompact1\r\n');
    expect(compact).toMatch(/\r\nl: \d+\r\n\r\n/);
  });

  it('normalises folded lines and bare LF into canonical CRLF', () => {
    const folded = serializeMessage(parse(byName('folded header lines'))).toString();
    expect(folded).toContain('\r\nSubject: a subject that goes on and on\r\n');
    const lf = serializeMessage(parse(byName('bare LF line ends'))).toString();
    expect(lf.split('\r\n').length).toBeGreaterThan(8);
    expect(lf.replace(/\r\n/g, '')).not.toContain('\n');
  });

  it('serializes a binary body unchanged', () => {
    const c = CORPUS.find((x) => x.name === 'binary body bytes')!;
    const bytes = caseBytes(c);
    expect(serializeMessage(parse(bytes)).equals(bytes)).toBe(true);
  });
});

describe('message edits', () => {
  it('adds a top Via and pops it again', () => {
    const original = byName('canonical INVITE with SDP');
    const m = parse(original);
    const branch = newBranch();
    m.addHeader('via', buildVia('udp', '2001:db8::1', 5060, branch), true);
    expect(m.topVia!.params.get('branch')).toBe(branch);
    expect(m.topVia!.host).toBe('[2001:db8::1]');
    expect(m.headers[0]!.rawName).toBe('Via');
    expect(m.removeHeaderValueAt('via', 0)).toBe(true);
    expect(m.topVia!.params.get('branch')).toBe('z9hG4bK776asdhds');
    expect(serializeMessage(m).equals(original)).toBe(true);
  });

  it('pops the first element of a multi-value Via line', () => {
    const m = parse(byName('several Via values in one line and across lines'));
    expect(m.removeHeaderValueAt('via', 0)).toBe(true);
    expect(m.topVia!.host).toBe('proxy2.example.com');
    expect(m.getHeaderValues('via').length).toBe(3);
    expect(m.setHeaderValueAt('via', 2, 'SIP/2.0/UDP changed.example.com;branch=z9hG4bKx')).toBe(true);
    expect(m.getHeaderValues('v')[2]).toBe('SIP/2.0/UDP changed.example.com;branch=z9hG4bKx');
    expect(m.removeHeaderValueAt('via', 9)).toBe(false);
    expect(m.removeHeaderValueAt('via', -1)).toBe(false);
    expect(m.setHeaderValueAt('via', -1, 'x')).toBe(false);
    expect(m.getHeaderValues('via').length).toBe(3);
  });

  it('sets a To tag without touching the rest of the value', () => {
    const m = parse(byName('canonical INVITE with SDP'));
    expect(m.toTag).toBeNull();
    expect(m.setNameAddrParam('to', 'tag', 'xyz')).toBe(true);
    expect(m.getHeader('to')).toBe('Bob <sip:bob@biloxi.example.com>;tag=xyz');
    expect(m.toTag).toBe('xyz');
    expect(m.setNameAddrParam('to', 'tag', 'abc')).toBe(true);
    expect(m.getHeader('to')).toBe('Bob <sip:bob@biloxi.example.com>;tag=abc');
    expect(m.toTag).toBe('abc');
  });

  it('sets a tag on an addr-spec From', () => {
    const m = parse(byName('addr-spec From/To without angle brackets'));
    expect(m.setNameAddrParam('from', 'tag', 'new')).toBe(true);
    expect(m.getHeader('from')).toBe('sip:server@biloxi.example.com;tag=new');
    expect(m.fromTag).toBe('new');
  });

  it('keeps caches right across setHeader, addHeader and removeHeader', () => {
    const m = parse(byName('canonical BYE'));
    expect(m.callId).toBe('3848276298220188511@atlanta.example.com');
    m.setHeader('Call-ID', 'changed');
    expect(m.callId).toBe('changed');
    m.setHeader('cseq', '99 BYE');
    expect(m.cseq).toEqual({ seq: 99, method: 'BYE' });
    m.setHeader('from', '<sip:x@y>;tag=f2');
    expect(m.fromTag).toBe('f2');
    m.removeHeader('to');
    expect(m.toTag).toBeNull();
    m.addHeader('to', '<sip:z@y>;tag=t9');
    expect(m.toTag).toBe('t9');
    m.removeHeader('via');
    expect(m.topVia).toBeNull();
    m.addHeader('Via', 'SIP/2.0/TCP h:1;branch=z9hG4bKq');
    expect(m.topVia!.transport).toBe('TCP');
    m.requestUri = 'sip:other@example.com';
    expect(m.parsedRequestUri!.user).toBe('other');
  });

  it('never lets a value written by an upper layer break the header line', () => {
    const m = parse(byName('canonical BYE'));
    m.setHeader('Subject', 'hi\r\nVia: SIP/2.0/UDP evil.example.com');
    m.addHeader('X-Note', 'a\nb');
    m.setHeaderValueAt('via', 0, 'SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.x\r\n\r\nINVITE');
    const back = parse(serializeMessage(m));
    expect(back.getHeaderValues('via').length).toBe(1);
    expect(back.getHeader('subject')).toBe('hi  Via: SIP/2.0/UDP evil.example.com');
    expect(back.getHeader('x-note')).toBe('a b');
    const r = createResponse(back, 400, 'Bad\r\nX: y');
    expect(serializeMessage(r).toString().startsWith('SIP/2.0 400 Bad  X: y\r\n')).toBe(true);
  });

  it('clones deeply', () => {
    const m = parse(byName('canonical INVITE with SDP'));
    const c = m.clone();
    c.setHeader('call-id', 'clone');
    c.body[0] = 0x41;
    c.removeHeader('contact');
    expect(m.callId).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.body[0]).toBe('v'.charCodeAt(0));
    expect(m.hasHeader('contact')).toBe(true);
    expect(c.callId).toBe('clone');
  });

  it('builds a response per RFC 3261 §8.2.6', () => {
    const req = parse(byName('several Via values in one line and across lines').toString().replace('SIP/2.0 180 Ringing', 'INVITE sip:b@biloxi.example.com SIP/2.0').replace(';tag=multi2', ''));
    const res = createResponse(req, 486, undefined, 'srvtag');
    const wire = serializeMessage(res).toString();
    expect(wire.startsWith('SIP/2.0 486 Busy Here\r\n')).toBe(true);
    expect(res.getHeaderValues('via')).toEqual(req.getHeaderValues('via'));
    expect(res.toTag).toBe('srvtag');
    expect(res.fromTag).toBe('multi1');
    expect(res.method).toBe('INVITE');
    const back = parse(wire);
    expect(back.status).toBe(486);
    expect(back.cseq).toEqual({ seq: 1, method: 'INVITE' });
    const trying = createResponse(req, 100, undefined, 'ignored');
    expect(trying.toTag).toBeNull();
  });

  it('builds messages from scratch', () => {
    const m = SipMessage.request('OPTIONS', 'sip:gw.example.net');
    m.addHeader('via', buildVia('UDP', '192.0.2.1', 5060, newBranch()));
    m.addHeader('from', `<sip:sbc@192.0.2.1>;tag=${newTag()}`);
    m.addHeader('to', '<sip:gw.example.net>');
    m.addHeader('call-id', newCallId());
    m.addHeader('cseq', '1 OPTIONS');
    m.addHeader('max-forwards', '70');
    const back = parse(serializeMessage(m));
    expect(back.method).toBe('OPTIONS');
    expect(back.getHeader('Content-Length')).toBe('0');
    expect(serializeHead(m)).toContain('\r\nCall-ID: ');
    expect(serializeHead(m)).toContain('\r\nCSeq: 1 OPTIONS\r\n');
    expect(reasonPhrase(404)).toBe('Not Found');
    expect(reasonPhrase(499)).toBe('Error');
  });
});

describe('addHeader at the top', () => {
  it('puts the first Via of a message we build at the head of the headers', async () => {
    const { SipMessage } = await import('./message.js');
    const m = SipMessage.request('OPTIONS', 'sip:a@b');
    m.addHeader('call-id', 'x');
    m.addHeader('content-length', '0');
    m.addHeader('via', 'SIP/2.0/UDP h;branch=z9hG4bK1', true);
    m.addHeader('via', 'SIP/2.0/UDP g;branch=z9hG4bK2', true);
    expect(m.headers.map((h) => h.name)).toEqual(['via', 'via', 'call-id', 'content-length']);
    expect(m.topVia?.host).toBe('g');
  });
});

describe('spelling of added header names', () => {
  it('keeps the caller\'s spelling and pretty-prints lower-case or compact names', async () => {
    const { SipMessage } = await import('./message.js');
    const m = SipMessage.request('OPTIONS', 'sip:a@b');
    m.addHeader('X-PBX-Trace', '1');
    m.addHeader('x-custom-id', '2');
    m.addHeader('f', '<sip:a@b>;tag=1');
    m.setHeader('P-Asserted-Identity', '<sip:1@b>');
    expect(m.headers.map((h) => h.rawName)).toEqual(['X-PBX-Trace', 'X-Custom-Id', 'From', 'P-Asserted-Identity']);
  });
});
