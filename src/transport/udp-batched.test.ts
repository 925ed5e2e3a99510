import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import os from 'node:os';
import { randomBytes, randomInt } from 'node:crypto';
import { TransportLayer } from './transport-layer.js';
import { BatchedUdpSocket, batchedUdpAvailable, type NativeSipUdpCtor, type NativeSipUdpSocket } from './udp-batched.js';
import { openUdpSocket, udpBatchedIo, type SipUdpSocket } from './udp-socket.js';
import type { InboundMessage } from './types.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function peer(): Promise<{ sock: dgram.Socket; port: number; got: Array<{ data: Buffer; port: number }>; waitFor: (n: number) => Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.setRecvBufferSize(8 * 1024 * 1024);
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  const got: Array<{ data: Buffer; port: number }> = [];
  let waiter: { n: number; resolve: () => void } | null = null;
  sock.on('message', (data, rinfo) => {
    got.push({ data, port: rinfo.port });
    if (waiter !== null && got.length >= waiter.n) waiter.resolve();
  });
  return {
    sock,
    port: sock.address().port,
    got,
    waitFor: (n) => (got.length >= n ? Promise.resolve() : new Promise((resolve) => { waiter = { n, resolve }; })),
  };
}

async function batchedSocket(onDatagram: (buf: Buffer, address: string, port: number, shared: boolean) => void): Promise<SipUdpSocket> {
  const s = await openUdpSocket({ address: '127.0.0.1', port: 0, batched: true, onDatagram });
  cleanups.push(() => s.close());
  return s;
}

function sendP(s: SipUdpSocket, data: Buffer, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => s.send(data, port, address, (err) => (err ? reject(err) : resolve())));
}

function sipRequest(n: number, fromPort: number, body = ''): string {
  return (
    `OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${fromPort};branch=z9hG4bK${n};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=${n}\r\nTo: <sip:b@x>\r\nCall-ID: ${n}@fuzz\r\nCSeq: 1 OPTIONS\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

describe('batched SIP UDP socket (native addon)', () => {
  it('is available: the addon is built with SipUdpSocket', () => {
    expect(batchedUdpAvailable()).toBe(true);
  });

  it('reports each datagram of a burst with its own source address and port', async () => {
    const seen: Array<{ text: string; address: string; port: number }> = [];
    let shared = 0;
    const s = await batchedSocket((buf, address, port, sh) => {
      if (sh) shared++;
      seen.push({ text: buf.toString(), address, port });
    });
    expect(s.kind).toBe('batched');
    const a = await peer();
    const b = await peer();
    // Interleaved bursts from two sources: recvmmsg returns several per call.
    for (let i = 0; i < 300; i++) {
      a.sock.send(`a${i}`, s.port, '127.0.0.1');
      b.sock.send(`b${i}`, s.port, '127.0.0.1');
    }
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(600);
    for (const m of seen) expect(m.port).toBe(m.text.startsWith('a') ? a.port : b.port);
    expect(seen.every((m) => m.address === '127.0.0.1')).toBe(true);
    expect(new Set(seen.map((m) => m.text)).size).toBe(600);
    // Batches happened (fewer receive syscalls than datagrams) and views were flagged shared.
    expect(s.stats().receiveSyscalls).toBeLessThan(600);
    expect(shared).toBeGreaterThan(0);
  });

  it('sends a tick of messages in one sendmmsg, in order, and resolves each send', async () => {
    const s = await batchedSocket(() => undefined);
    const p = await peer();
    const before = s.stats().sendSyscalls;
    await Promise.all(Array.from({ length: 200 }, (_, i) => sendP(s, Buffer.from(`m${i}`), p.port, '127.0.0.1')));
    await p.waitFor(200);
    expect(p.got.map((g) => g.data.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(p.got.every((g) => g.port === s.port)).toBe(true);
    // 200 messages of one tick: sendmmsg takes up to 64 per call.
    expect(s.stats().sendSyscalls - before).toBeLessThanOrEqual(4);
  });

  it('carries the largest UDP payload (65,507 bytes) both ways', async () => {
    const lens: number[] = [];
    const s = await batchedSocket((buf) => lens.push(buf.length));
    const p = await peer();
    const big = randomBytes(65_507);
    p.sock.send(big, s.port, '127.0.0.1');
    p.sock.send('small', s.port, '127.0.0.1');
    await expect.poll(() => lens.length, { timeout: 5000 }).toBe(2);
    expect(lens.sort((x, y) => x - y)).toEqual([5, 65_507]);
    await sendP(s, big, p.port, '127.0.0.1');
    await p.waitFor(1);
    expect(p.got[0]!.data.equals(big)).toBe(true);
    // One byte more cannot be a datagram: refused per message, the rest still go.
    const tooBig = sendP(s, Buffer.alloc(65_508), p.port, '127.0.0.1');
    const after = sendP(s, Buffer.from('after'), p.port, '127.0.0.1');
    await expect(tooBig).rejects.toMatchObject({ code: 'EMSGSIZE' });
    await after;
    await p.waitFor(2);
    expect(p.got[1]!.data.toString()).toBe('after');
  });

  it('reports refused sends per message, counts ICMP errors, and never throws', async () => {
    const s = await batchedSocket(() => undefined);
    const p = await peer();
    // An IPv6 destination from an IPv4 socket, a port of 0: refused, not thrown.
    await expect(sendP(s, Buffer.from('x'), 5060, '::1')).rejects.toMatchObject({ code: expect.any(String) });
    await expect(sendP(s, Buffer.from('x'), 0, '127.0.0.1')).rejects.toMatchObject({ code: expect.any(String) });
    // A closed port on loopback answers ICMP port unreachable; whatever the kernel reports is absorbed.
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.1', () => r()));
    const deadPort = closed.address().port;
    await new Promise<void>((r) => closed.close(() => r()));
    await Promise.allSettled(Array.from({ length: 20 }, () => sendP(s, Buffer.from('dead'), deadPort, '127.0.0.1')));
    await sendP(s, Buffer.from('alive'), p.port, '127.0.0.1');
    await p.waitFor(1);
    expect(p.got[0]!.data.toString()).toBe('alive');
  });

  it('keeps what EAGAIN left queued until the socket is writable, and bounds the queue', async () => {
    // A fake native socket: takes 2 messages, then reports a full buffer until writable.
    let onWritable: () => void = () => undefined;
    const taken: string[] = [];
    let room = 2;
    let armed = 0;
    const Fake = function (this: NativeSipUdpSocket, _o: unknown, _b: unknown, w: () => void) {
      onWritable = w;
      return {
        port: 1234,
        send(items: unknown[], n: number, status: Int32Array): number {
          let i = 0;
          for (; i < n && room > 0; i++, room--) {
            taken.push((items[i * 3] as Buffer).toString());
            status[i] = 0;
          }
          return i;
        },
        armWritable: () => { armed++; },
        close: () => undefined,
        stats: () => ({ received: 0, recvCalls: 0, recvErrors: 0, truncated: 0, sent: 0, sendCalls: 0, sendErrors: 0, wouldBlock: 0, pollErrors: 0, listenerErrors: 0 }),
      };
    } as unknown as NativeSipUdpCtor;
    const s: SipUdpSocket = new BatchedUdpSocket({ socket: Fake, shard: null }, { address: '127.0.0.1', port: 0, batched: true, onDatagram: () => undefined }, 0);
    const sends = Array.from({ length: 5 }, (_, i) => sendP(s, Buffer.from(`q${i}`), 9, '127.0.0.1'));
    await sends[1];
    expect(taken).toEqual(['q0', 'q1']);
    expect(armed).toBe(1);
    // Blocked: a send beyond the queue bound is refused at once (8 MiB queued).
    const huge = sendP(s, Buffer.alloc(9 * 1024 * 1024), 9, '127.0.0.1');
    await expect(huge).rejects.toMatchObject({ code: 'ENOBUFS' });
    expect(s.stats().dropped).toBe(1);
    room = 10;
    onWritable();
    await Promise.all(sends);
    expect(taken).toEqual(['q0', 'q1', 'q2', 'q3', 'q4']);
    await s.close();
    await expect(sendP(s, Buffer.from('late'), 9, '127.0.0.1')).rejects.toThrow(/closed/);
  });

  it('survives random datagrams from many sources: every one is received, counted, and SIP still works', async () => {
    const t = new TransportLayer({ udpBatchedIo: true });
    cleanups.push(() => t.close());
    const info = await t.listen({ name: 'edge', address: '127.0.0.1', udpPort: 0 });
    const messages: InboundMessage[] = [];
    t.on('message', (m) => messages.push(m));
    const senders = await Promise.all([peer(), peer(), peer()]);
    const valid = sipRequest(0, senders[0]!.port);
    let sent = 0;
    // Rounds small enough for a default-sized socket buffer (rmem_max may cap ours): each is awaited.
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) {
        const kind = randomInt(5);
        let d: Buffer;
        if (kind === 0) d = randomBytes(randomInt(0, 2000));
        else if (kind === 1) d = randomBytes(randomInt(2000, 65_507));
        else if (kind === 2) {
          // A SIP message with bytes flipped, cut or duplicated.
          const b = Buffer.from(sipRequest(i, 5060, 'v=0\r\n'));
          for (let k = 0; k < 5; k++) b[randomInt(b.length)] = randomInt(256);
          d = b.subarray(0, randomInt(1, b.length + 1));
        } else if (kind === 3) d = Buffer.from(['\r\n', '\r\n\r\n', '', 'SIP/2.0', 'INVITE', '\0'][randomInt(6)]!);
        else d = Buffer.from(sipRequest(round * 1000 + i, 5060).replace('Content-Length: 0', `Content-Length: ${randomInt(-5, 70_000)}`));
        senders[randomInt(3)]!.sock.send(d, info.udpPort!, '127.0.0.1');
        sent++;
      }
      await expect.poll(() => t.stats().udpReceived, { timeout: 15_000 }).toBe(sent);
    }
    // A valid request after the noise is still delivered, with its real source.
    senders[0]!.sock.send(valid, info.udpPort!, '127.0.0.1');
    sent++;
    await expect.poll(() => t.stats().udpReceived, { timeout: 15_000 }).toBe(sent);
    await expect.poll(() => messages.some((m) => m.message.callId === '0@fuzz'), { timeout: 5000 }).toBe(true);
    const m = messages.find((x) => x.message.callId === '0@fuzz')!;
    expect(m.remote).toEqual({ address: '127.0.0.1', port: senders[0]!.port, transport: 'udp' });
    const st = t.stats();
    expect(st.listenerErrors).toBe(0);
    expect(st.garbageDropped + st.badRequestsAnswered).toBeGreaterThan(0);
  }, 60_000);

  it('falls back to node dgram when the flag is off; the ini value and the environment decide', async () => {
    const s = await openUdpSocket({ address: '127.0.0.1', port: 0, batched: false, onDatagram: () => undefined });
    cleanups.push(() => s.close());
    expect(s.kind).toBe('dgram');
    expect(udpBatchedIo(undefined, undefined)).toBe(true);
    expect(udpBatchedIo('0', undefined)).toBe(false);
    expect(udpBatchedIo('0', '1')).toBe(true);
    expect(udpBatchedIo('1', '0')).toBe(false);
    expect(os.constants.errno.ENOBUFS).toBeGreaterThan(0);
  });
});
