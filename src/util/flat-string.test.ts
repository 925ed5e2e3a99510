import { describe, expect, it } from 'vitest';
import { flatString } from './flat-string.js';

describe('flatString', () => {
  it('returns an equal string for short, long, sliced, concatenated and non-ASCII input', () => {
    const parent = `INVITE sip:alice@example.com SIP/2.0\r\nCall-ID: ${'x'.repeat(40)}@host\r\n`;
    const sliced = parent.slice(48, 100);
    const cons = `${sliced};tag=${'y'.repeat(20)}`;
    for (const s of ['', 'abc', 'a'.repeat(12), 'a'.repeat(13), sliced, cons, 'Zoë <sip:zoë@bücher.example>;tag=ünïcode-ß', '日本語のディスプレイ名 <sip:u@h>']) {
      expect(flatString(s)).toBe(s);
    }
  });
});
