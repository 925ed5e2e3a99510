import { describe, expect, it } from 'vitest';
import { StreamFramer, type FramerEvent } from './index.js';
import { parseFramed } from './parser.js';
import { CORPUS, caseBytes } from '../../test/fixtures/sip-corpus/messages.js';

function byName(name: string): Buffer {
  const c = CORPUS.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no corpus case ${name}`);
  return caseBytes(c);
}

const INVITE = byName('canonical INVITE with SDP');
const OK = byName('canonical 200 OK with received and rport on the Via');
const BYE = byName('canonical BYE');

function callIds(events: FramerEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.kind !== 'message') continue;
    if (!e.result.ok) throw new Error(`message failed: ${e.result.error}`);
    out.push(e.result.message.callId);
  }
  return out;
}

function kinds(events: FramerEvent[]): string[] {
  return events.map((e) => e.kind);
}

describe('StreamFramer', () => {
  it('frames a message split at every byte boundary', () => {
    for (let cut = 1; cut < INVITE.length; cut++) {
      const f = new StreamFramer();
      const first = f.push(INVITE.subarray(0, cut));
      expect(first.length, `cut ${cut}`).toBe(0);
      const second = f.push(INVITE.subarray(cut));
      expect(kinds(second), `cut ${cut}`).toEqual(['message']);
      const r = second[0]!.kind === 'message' ? second[0]!.result : null;
      if (r === null || !r.ok) throw new Error(`cut ${cut}: no message`);
      expect(r.message.body.toString()).toBe(INVITE.subarray(INVITE.indexOf('v=0')).toString());
      expect(f.buffered).toBe(0);
    }
  });

  it('raw: hands out head and body unparsed, which parse to what the parsing framer gives', () => {
    const all = Buffer.concat([INVITE, OK, BYE]);
    const raw = new StreamFramer(undefined, { raw: true });
    const parsed = new StreamFramer();
    const frames = raw.push(all);
    const messages = parsed.push(all);
    expect(kinds(frames)).toEqual(['frame', 'frame', 'frame']);
    frames.forEach((f, i) => {
      if (f.kind !== 'frame') throw new Error('not a frame');
      const m = messages[i]!;
      if (m.kind !== 'message' || !m.result.ok) throw new Error('not a message');
      const again = parseFramed(f.head, f.body);
      if (!again.ok) throw new Error(again.error);
      expect(again.message.callId).toBe(m.result.message.callId);
      expect(again.message.body.equals(m.result.message.body)).toBe(true);
    });
    expect(raw.buffered).toBe(0);
  });

  it('frames three messages fed one byte at a time', () => {
    const all = Buffer.concat([INVITE, OK, BYE]);
    const f = new StreamFramer();
    const events: FramerEvent[] = [];
    for (let i = 0; i < all.length; i++) events.push(...f.push(all.subarray(i, i + 1)));
    expect(callIds(events)).toEqual([
      'a84b4c76e66710@pc33.atlanta.example.com',
      'a84b4c76e66710@pc33.atlanta.example.com',
      '3848276298220188511@atlanta.example.com',
    ]);
    expect(f.buffered).toBe(0);
  });

  it('frames several messages in one chunk and keeps the tail', () => {
    const f = new StreamFramer();
    const chunk = Buffer.concat([BYE, INVITE, OK.subarray(0, 30)]);
    const events = f.push(chunk);
    expect(kinds(events)).toEqual(['message', 'message']);
    expect(f.buffered).toBe(30);
    expect(kinds(f.push(OK.subarray(30)))).toEqual(['message']);
  });

  it('reports CRLFCRLF keep-alives between messages, even split across chunks', () => {
    const f = new StreamFramer();
    expect(kinds(f.push(Buffer.from('\r\n\r\n')))).toEqual(['ping']);
    expect(kinds(f.push(Buffer.from('\r\n')))).toEqual([]);
    expect(kinds(f.push(Buffer.from('\r\n')))).toEqual(['ping']);
    expect(kinds(f.push(Buffer.from('\r')))).toEqual([]);
    expect(kinds(f.push(Buffer.from('\n\r')))).toEqual([]);
    expect(kinds(f.push(Buffer.concat([Buffer.from('\n'), BYE, Buffer.from('\r\n\r\n\r\n\r\n'), OK])))).toEqual([
      'ping', 'message', 'ping', 'ping', 'message',
    ]);
    expect(f.buffered).toBe(0);
  });

  it('skips a lone CRLF (a pong) before a message', () => {
    const f = new StreamFramer();
    expect(kinds(f.push(Buffer.from('\r\n')))).toEqual([]);
    expect(kinds(f.push(BYE))).toEqual(['message']);
  });

  it('accepts bare LF heads', () => {
    const f = new StreamFramer();
    const events = f.push(byName('bare LF line ends'));
    expect(callIds(events)).toEqual(['3848276298220188511@atlanta.example.com']);
  });

  it('passes a message that frames but does not validate to the caller', () => {
    const f = new StreamFramer();
    const events = f.push(byName('missing Call-ID'));
    expect(events.length).toBe(1);
    const e = events[0]!;
    if (e.kind !== 'message' || e.result.ok) throw new Error('expected a failed message');
    expect(e.result.error).toBe('Missing Call-ID');
    expect(e.result.partial).not.toBeNull();
    expect(kinds(f.push(BYE))).toEqual(['message']);
  });

  it('is fatal on a missing Content-Length, and stays fatal', () => {
    const f = new StreamFramer();
    const events = f.push(byName('no Content-Length on a datagram: the body is the rest of the packet'));
    expect(events).toEqual([{ kind: 'fatal', error: 'Missing Content-Length' }]);
    expect(f.failed).toBe('Missing Content-Length');
    expect(f.push(BYE)).toEqual([{ kind: 'fatal', error: 'Missing Content-Length' }]);
    expect(f.buffered).toBe(0);
  });

  it('is fatal on a garbage or conflicting Content-Length', () => {
    for (const name of ['non-numeric Content-Length', 'negative Content-Length', 'huge Content-Length', 'two different Content-Length values']) {
      const f = new StreamFramer();
      expect(f.push(byName(name)), name).toEqual([{ kind: 'fatal', error: 'Bad Content-Length' }]);
    }
  });

  it('delivers the messages before a fatal error in the same chunk', () => {
    const f = new StreamFramer();
    const events = f.push(Buffer.concat([BYE, Buffer.from('garbage garbage\r\n\r\n')]));
    expect(kinds(events)).toEqual(['message', 'fatal']);
  });

  it('is fatal on an oversize message, with or without a complete head', () => {
    const big = new StreamFramer();
    expect(big.push(byName('datagram over 65535 bytes').subarray(0, 1000))).toEqual([{ kind: 'fatal', error: 'Message Too Large' }]);

    const endless = new StreamFramer({ maxMessageBytes: 4096, maxHeaders: 256, maxHeaderLineBytes: 8192 });
    const line = Buffer.from('X-Endless: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n');
    let fatal: FramerEvent[] = [];
    endless.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\n'));
    for (let i = 0; i < 200 && fatal.length === 0; i++) fatal = endless.push(line);
    expect(fatal).toEqual([{ kind: 'fatal', error: 'Message Too Large' }]);
    expect(endless.buffered).toBe(0);
  });

  it('waits for the whole body', () => {
    const f = new StreamFramer();
    const head = INVITE.subarray(0, INVITE.indexOf('v=0'));
    expect(f.push(head)).toEqual([]);
    expect(f.push(INVITE.subarray(head.length, head.length + 10))).toEqual([]);
    expect(kinds(f.push(INVITE.subarray(head.length + 10)))).toEqual(['message']);
  });
});
