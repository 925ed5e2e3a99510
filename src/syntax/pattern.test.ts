import { describe, expect, it } from 'vitest';
import { compileAddress, compileHost, compilePrefix, PrefixSyntaxError } from './pattern.js';

describe('prefix patterns', () => {
  const m = (p: string, u: string) => compilePrefix(p).matches(u);
  it('matches any with empty or *', () => {
    expect(m('', 'abc')).toBe(true);
    expect(m('*', '')).toBe(true);
    expect(compilePrefix('*').any).toBe(true);
  });
  it('matches literal prefixes, case-insensitive letters', () => {
    expect(m('9', '912')).toBe(true);
    expect(m('9', '812')).toBe(false);
    expect(m('+1555', '+15551234')).toBe(true);
    expect(m('Alice', 'alice.smith')).toBe(true);
    expect(m('123', '12')).toBe(false);
  });
  it('x is any digit', () => {
    expect(m('1xx', '123')).toBe(true);
    expect(m('1xx', '12a')).toBe(false);
    expect(m('1xx#', '1234')).toBe(false);
    expect(m('1xx#', '123')).toBe(true);
  });
  it('ranges, multi-digit ranges and lists', () => {
    expect(m('[2-9]xx', '255')).toBe(true);
    expect(m('[2-9]xx', '155')).toBe(false);
    expect(m('[100-199]#', '150')).toBe(true);
    expect(m('[100-199]#', '200')).toBe(false);
    expect(m('[100-199]#', '1500')).toBe(false);
    expect(m('[1,3,5-7]0', '60')).toBe(true);
    expect(m('[1,3,5-7]0', '20')).toBe(false);
    expect(m('[8-12]#', '9')).toBe(true);
    expect(m('[8-12]#', '11')).toBe(true);
    expect(m('[8-12]#', '13')).toBe(false);
  });
  it('# anchors the end, $ means empty, trailing * is a prefix', () => {
    expect(m('100#', '100')).toBe(true);
    expect(m('100#', '1000')).toBe(false);
    expect(m('$', '')).toBe(true);
    expect(m('$', '1')).toBe(false);
    expect(m('55*', '5599')).toBe(true);
  });
  it('rejects malformed patterns', () => {
    for (const p of ['[1-', '[]1', '[9-1]', '1]', '[a-b]', '[1,,2]']) expect(() => compilePrefix(p), p).toThrow(PrefixSyntaxError);
  });
  it('hosts', () => {
    expect(compileHost('*').matches('x')).toBe(true);
    expect(compileHost('PBX.local').matches('pbx.LOCAL')).toBe(true);
    expect(compileHost('pbx.local').matches('pbx.localx')).toBe(false);
    expect(compileHost('*.example.com').matches('sip.example.com')).toBe(true);
  });
  it('addresses', () => {
    expect(compileAddress('10.0.0.5').matches('10.0.0.5')).toBe(true);
    expect(compileAddress('10.0.0.5').matches('10.0.0.50')).toBe(false);
    expect(compileAddress('10.0.0.0/8').matches('10.200.1.1')).toBe(true);
    expect(compileAddress('10.0.0.0/8').matches('11.0.0.1')).toBe(false);
    expect(compileAddress('0.0.0.0/0').matches('1.2.3.4')).toBe(true);
    expect(compileAddress('10.1.*.[10-20]').matches('10.1.99.15')).toBe(true);
    expect(compileAddress('10.1.*.[10-20]').matches('10.1.99.21')).toBe(false);
    expect(compileAddress('::1').matches('0:0:0:0:0:0:0:1')).toBe(true);
    expect(compileAddress('2001:db8::/32').matches('2001:db8:1::5')).toBe(true);
    expect(compileAddress('*').matches('anything')).toBe(true);
    expect(() => compileAddress('10.0.0')).toThrow();
    expect(() => compileAddress('10.0.0.1/33')).toThrow();
  });
});
