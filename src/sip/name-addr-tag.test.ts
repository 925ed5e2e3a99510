import { describe, expect, it } from 'vitest';
import { nameAddrTag, parseNameAddr } from './grammar.js';

/** What validate() used to compute: parseNameAddr, then its tag. */
function reference(v: string): string | null | false {
  const na = parseNameAddr(v);
  if (na === null) return false;
  const t = na.params.get('tag');
  return t === undefined || t === null ? null : t;
}

describe('nameAddrTag', () => {
  it('reads the tag of ordinary From/To values', () => {
    expect(nameAddrTag('"Alice" <sip:alice@example.com>;tag=1928301774')).toBe('1928301774');
    expect(nameAddrTag('<sip:bob@example.com>')).toBeNull();
    expect(nameAddrTag('sip:bob@example.com;TAG=abc ;x=1')).toBe('abc');
    expect(nameAddrTag('<sip:a@b;tag=uri-param>;tag=hdr')).toBe('hdr');
    expect(nameAddrTag('<sip:a@b>;tag')).toBeNull();
    expect(nameAddrTag('<sip:a@b>;tag=1;tag=2')).toBe('2');
    
    expect(nameAddrTag('<sip:a@b>;tag="q;t"')).toBe('"q;t"');
    expect(nameAddrTag('')).toBe(false);
    expect(nameAddrTag('<sip:a@b')).toBe(false);
    expect(nameAddrTag('"unterminated <sip:a@b>')).toBe(false);
    expect(nameAddrTag('<sip:a@b>;tag="open')).toBe(false);
    expect(nameAddrTag('sip:a b@c')).toBe(false);
    expect(nameAddrTag('< \u00a0>')).toBe(false);
  });

  it('agrees with parseNameAddr on 200,000 random values', () => {
    const alphabet = ['<', '>', '"', ';', '=', ' ', '\t', '\\', ',', ':', '@', 'a', 'A', 'g', 'G', 't', 'T', 'tag', 'TaG', 'sip:', 'x', '\u00a0', '\u3000', '\r\n'];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let k = 0; k < 200_000; k++) {
      let v = '';
      const len = rnd(24);
      for (let j = 0; j < len; j++) v += alphabet[rnd(alphabet.length)]!;
      const got = nameAddrTag(v);
      if (got !== reference(v)) expect({ v, got }).toEqual({ v, got: reference(v) });
    }
  });
});
