/**
 * Robustness: seeded random mutations of the corpus never make the parser,
 * the framer or the message accessors throw. Bounded and deterministic.
 */
import { describe, expect, it } from 'vitest';
import {
  createResponse,
  parseDigestChallenge,
  parseDigestCredentials,
  parseMessage,
  parseNameAddr,
  parseUri,
  parseVia,
  serializeMessage,
  splitList,
  StreamFramer,
  type SipMessage,
} from './index.js';
import { CORPUS, caseBytes } from '../../test/fixtures/sip-corpus/messages.js';

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = Buffer.from(':;,"<>\\[]@= \t\r\n/0123456789%?&\x00\xff');

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const ops = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rnd() * Math.max(1, b.length));
    switch (Math.floor(rnd() * 7)) {
      case 0: // flip a byte to something random
        if (b.length > 0) b[at] = Math.floor(rnd() * 256);
        break;
      case 1: // put a delimiter somewhere
        if (b.length > 0) b[at] = SPECIAL[Math.floor(rnd() * SPECIAL.length)]!;
        break;
      case 2: { // insert a delimiter
        const ins = Buffer.from([SPECIAL[Math.floor(rnd() * SPECIAL.length)]!]);
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 3: { // delete a range
        const len = Math.floor(rnd() * 20);
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + len))]);
        break;
      }
      case 4: { // duplicate a range
        const len = Math.floor(rnd() * 40);
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, Math.min(b.length, at + len)), b.subarray(at + len)]);
        break;
      }
      case 5: // truncate
        b = b.subarray(0, at);
        break;
      default: { // swap two lines
        const s = b.toString('latin1').split('\r\n');
        if (s.length > 2) {
          const i = 1 + Math.floor(rnd() * (s.length - 1));
          const j = 1 + Math.floor(rnd() * (s.length - 1));
          const t = s[i]!;
          s[i] = s[j]!;
          s[j] = t;
          b = Buffer.from(s.join('\r\n'), 'latin1');
        }
      }
    }
  }
  return b;
}

/** Everything a layer above might read or do with a message. */
function exercise(m: SipMessage): void {
  void m.callId;
  void m.cseq;
  void m.topVia;
  void m.fromTag;
  void m.toTag;
  void m.contentType;
  void m.parsedRequestUri;
  for (const n of ['from', 'to', 'contact', 'route', 'record-route']) void m.getNameAddr(n);
  for (const n of ['via', 'contact', 'route', 'allow', 'supported', 'www-authenticate']) {
    for (const v of m.getHeaderValues(n)) {
      void parseNameAddr(v);
      void parseVia(v);
      void parseDigestChallenge(v);
      void parseDigestCredentials(v);
      void splitList(v);
    }
  }
  void parseUri(m.requestUri);
  const c = m.clone();
  c.setNameAddrParam('to', 'tag', 'fuzz');
  c.setNameAddrParam('from', 'x', null);
  c.removeHeaderValueAt('via', 0);
  c.setHeaderValueAt('contact', 1, '<sip:x@y>');
  c.setBody('abc', 'text/plain');
  void serializeMessage(c);
  void serializeMessage(m);
  if (m.isRequest) void serializeMessage(createResponse(m, 400, 'Fuzz', 'tag1'));
}

describe('fuzz', () => {
  it('parseMessage and the accessors never throw on mutated corpus messages', () => {
    const rnd = prng(0x5eed);
    let ok = 0;
    let failed = 0;
    for (const c of CORPUS) {
      const src = caseBytes(c);
      for (let i = 0; i < 25; i++) {
        const bytes = mutate(src, rnd);
        const res = parseMessage(bytes);
        if (res.ok) {
          ok++;
          exercise(res.message);
        } else {
          failed++;
          expect(typeof res.error).toBe('string');
          if (res.partial !== null) exercise(res.partial);
        }
      }
    }
    // Both outcomes must actually occur, or the mutations are not biting.
    expect(ok).toBeGreaterThan(100);
    expect(failed).toBeGreaterThan(100);
  });

  it('the stream framer never throws and always makes progress on mutated streams', () => {
    const rnd = prng(0xf4a3);
    const valid = CORPUS.filter((c) => c.expect.ok).map(caseBytes);
    for (let round = 0; round < 150; round++) {
      const parts: Buffer[] = [];
      const n = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < n; k++) {
        const src = valid[Math.floor(rnd() * valid.length)]!;
        parts.push(rnd() < 0.5 ? src : mutate(src, rnd));
        if (rnd() < 0.2) parts.push(Buffer.from('\r\n\r\n'));
      }
      const stream = Buffer.concat(parts);
      const f = new StreamFramer();
      let pos = 0;
      let fatal = false;
      while (pos < stream.length && !fatal) {
        const len = 1 + Math.floor(rnd() * 700);
        for (const e of f.push(stream.subarray(pos, pos + len))) {
          if (e.kind === 'fatal') fatal = true;
          else if (e.kind === 'message') {
            if (e.result.ok) exercise(e.result.message);
            else if (e.result.partial !== null) exercise(e.result.partial);
          }
        }
        pos += len;
      }
      expect(f.buffered).toBeLessThanOrEqual(65535);
    }
  });

  it('grammar helpers never throw on random strings', () => {
    const rnd = prng(42);
    const alphabet = 'sip:tel<>";,\\@[]=/ \tabcXYZ019%?&.-_SIP/2.0/UDPDigest realm=nonce';
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const len = Math.floor(rnd() * 60);
      for (let k = 0; k < len; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      void parseUri(s);
      void parseNameAddr(s);
      void parseVia(s);
      void splitList(s);
      void parseDigestChallenge(`Digest ${s}`);
      void parseDigestCredentials(`Digest ${s}`);
    }
  });
});
