import { describe, expect, it } from 'vitest';
import { Pseudonymiser } from './pseudonym.js';

describe('Pseudonymiser', () => {
  const p = new Pseudonymiser('k1');
  it('is stable per value and keyed', () => {
    expect(p.id('+4930123456')).toBe(p.id('+4930123456'));
    expect(p.id('+4930123456')).not.toBe(p.id('+4930123457'));
    expect(new Pseudonymiser('k2').id('+4930123456')).not.toBe(p.id('+4930123456'));
    expect(p.id('+4930123456')).toMatch(/^p-[A-Za-z0-9_-]{16}$/);
    expect(p.id('')).toBe('');
  });
  it('replaces URI users and display names in header values, keeps hosts and tags', () => {
    const h = p.header('"Alice Smith" <sip:+4930123456@pbx.example;user=phone>;tag=abc');
    expect(h).not.toContain('4930123456');
    expect(h).not.toContain('Alice');
    expect(h).toContain('@pbx.example;user=phone>;tag=abc');
    expect(p.header('<tel:+4930123456>')).toBe(`<tel:${p.id('+4930123456')}>`);
    expect(p.header('<sip:bob:secret@h>')).toBe(`<sip:${p.id('bob')}@h>`);
  });
});
