import { describe, expect, it } from 'vitest';
import { hasEmptyElement } from './strict.js';
import { parseMessage } from './parser.js';

describe('hasEmptyElement (Via/Contact grammar, RFC 3261 §25.1)', () => {
  it('accepts well-formed values', () => {
    for (const v of [
      'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport',
      'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2',
      '"A, B; c" <sip:a@b;;x>;expires=60',
      '*',
      '<sip:a@b>;q=0.5, <sip:c@d>',
      'SIP/2.0/UDP h;branch="z9hG4bK\\"q"',
    ]) expect(hasEmptyElement(v), v).toBe(false);
  });
  it('finds empty parameters and list elements', () => {
    for (const v of [
      'SIP/2.0/UDP h;;branch=z9hG4bK1',
      'SIP/2.0/UDP h;branch=z9hG4bK1;',
      'SIP/2.0/UDP h;branch=z9hG4bK1,,SIP/2.0/UDP g',
      'SIP/2.0/UDP h:5060 , , ,',
      ', SIP/2.0/UDP h',
      'SIP/2.0/UDP h;branch=',
      'SIP/2.0/UDP h;branch=;rport',
      '<sip:a@b>;;expires=1',
      '<sip:a@b>,,<sip:c@d>',
      '<sip:a@b>;expires=',
    ]) expect(hasEmptyElement(v), v).toBe(true);
  });
});

function req(startLine: string, extra: string[] = []): Buffer {
  return Buffer.from([
    startLine, 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1', 'Max-Forwards: 70', 'From: <sip:a@x>;tag=1', 'To: <sip:b@y>',
    'Call-ID: c1', 'CSeq: 1 OPTIONS', ...extra, 'Content-Length: 0', '', '',
  ].join('\r\n'));
}

describe('parser refusals that are answered (partial message kept)', () => {
  it('trailing whitespace after SIP-Version: 400-able error with the message', () => {
    for (const line of ['OPTIONS sip:b@y SIP/2.0 ', 'OPTIONS sip:b@y SIP/2.0\t', 'OPTIONS sip:b@y SIP/2.0  ']) {
      const r = parseMessage(req(line));
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.error).toBe('Whitespace After SIP-Version');
      expect(r.partial?.method).toBe('OPTIONS');
      expect(r.partial?.requestUri).toBe('sip:b@y');
      expect(r.partial?.topVia).not.toBeNull();
    }
  });
  it('extra separators in Via and Contact', () => {
    const v = parseMessage(req('OPTIONS sip:b@y SIP/2.0', ['Via: SIP/2.0/UDP 127.0.0.1:5071;;branch=z9hG4bKy']));
    expect(v.ok ? null : v.error).toBe('Bad Via');
    const c = parseMessage(req('OPTIONS sip:b@y SIP/2.0', ['Contact: <sip:a@127.0.0.1>;;expires=5']));
    expect(c.ok ? null : c.error).toBe('Bad Contact');
    if (!c.ok) expect(c.partial?.topVia?.params.get('branch')).toBe('z9hG4bKx1');
  });
  it('a clean request still parses', () => {
    expect(parseMessage(req('OPTIONS sip:b@y SIP/2.0', ['Contact: <sip:a@127.0.0.1>;expires=5'])).ok).toBe(true);
  });
});
