import { describe, expect, it } from 'vitest';
import { StringTable } from './string-table.js';

describe('StringTable', () => {
  it('sets, reads, replaces and deletes, keeping the count', () => {
    const t = new StringTable<number>();
    expect(t.set('a', 1).set('b', 2).size).toBe(2);
    t.set('a', 3);
    expect(t.size).toBe(2);
    expect(t.get('a')).toBe(3);
    expect(t.has('b')).toBe(true);
    expect(t.delete('b')).toBe(true);
    expect(t.delete('b')).toBe(false);
    expect(t.has('b')).toBe(false);
    expect(t.get('missing')).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it('takes any string as a key, including Object.prototype names and numbers', () => {
    const t = new StringTable<string>();
    for (const k of ['__proto__', 'constructor', 'toString', '0', '4294967295', '']) t.set(k, `v${k}`);
    expect(t.size).toBe(6);
    expect(t.get('__proto__')).toBe('v__proto__');
    expect(t.get('constructor')).toBe('vconstructor');
    expect(t.get('hasOwnProperty')).toBeUndefined();
    expect([...t.values()].sort()).toEqual(['v', 'v0', 'v4294967295', 'v__proto__', 'vconstructor', 'vtoString']);
  });

  it('clears', () => {
    const t = new StringTable<number>();
    for (let i = 0; i < 5000; i++) t.set(`k${i}`, i);
    for (let i = 0; i < 4990; i++) t.delete(`k${i}`);
    expect(t.size).toBe(10);
    expect([...t.values()].length).toBe(10);
    t.clear();
    expect(t.size).toBe(0);
    expect([...t.values()]).toEqual([]);
  });
});
