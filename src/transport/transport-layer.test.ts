import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage } from '../sip/parser.js';
import { SipMessage } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { TransportLayer } from './transport-layer.js';
import { wireResponse } from './wire-response.js';
import type { InboundMessage } from './types.js';

const open: TransportLayer[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** The UDP path the layers of the running describe use (both are tested). */
let batchedUdp = false;

function layer(opts?: ConstructorParameters<typeof TransportLayer>[0]): TransportLayer {
  const t = new TransportLayer({ udpBatchedIo: batchedUdp, ...opts });
  open.push(t);
  return t;
}

function nextMessage(t: TransportLayer): Promise<InboundMessage> {
  return new Promise((resolve) => t.once('message', resolve));
}

function request(method: string, via: string, extra = '', body = ''): string {
  return (
    `${method} sip:bob@127.0.0.1 SIP/2.0\r\n` +
    `Via: ${via}\r\n` +
    'Max-Forwards: 70\r\n' +
    'From: <sip:alice@example.com>;tag=f1\r\n' +
    'To: <sip:bob@example.com>\r\n' +
    'Call-ID: c1@example.com\r\n' +
    `CSeq: 1 ${method}\r\n` +
    extra +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body
  );
}

async function udpPeer(): Promise<{ sock: dgram.Socket; port: number; next: () => Promise<string> }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => sock.close());
  const queue: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  sock.on('message', (b) => {
    const w = waiters.shift();
    if (w) w(b.toString());
    else queue.push(b.toString());
  });
  return {
    sock,
    port: sock.address().port,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
  };
}

async function tcpPeer(port: number): Promise<{ sock: net.Socket; next: (pred: (s: string) => boolean) => Promise<string>; closed: Promise<void> }> {
  const sock = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  cleanups.push(() => sock.destroy());
  let buf = '';
  const waiters: Array<{ pred: (s: string) => boolean; resolve: (s: string) => void }> = [];
  sock.on('data', (d) => {
    buf += d.toString();
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.pred(buf)) waiters.splice(i, 1)[0]!.resolve(buf);
    }
  });
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return {
    sock,
    closed,
    next: (pred) => (pred(buf) ? Promise.resolve(buf) : new Promise((resolve) => waiters.push({ pred, resolve }))),
  };
}

describe.each([['node dgram', false], ['batched native socket', true]])('TransportLayer over UDP (%s)', (_name, batched) => {
  beforeAll(() => {
    batchedUdp = batched;
  });
  afterAll(() => {
    batchedUdp = false;
  });

  it('binds ephemeral ports and reports them', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0, tcpPort: 0 });
    expect(info.udpPort).toBeGreaterThan(0);
    expect(info.tcpPort).toBeGreaterThan(0);
    expect(t.getInterface('lan')).toEqual(info);
    expect(t.contactAddress('lan', 'tcp')).toEqual({ address: '127.0.0.1', port: info.tcpPort });
    expect(t.contactAddress('lan', 'tls')).toBeNull();
    expect(t.contactAddress('nope', 'udp')).toBeNull();
    await expect(t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 })).rejects.toThrow(/already/);
    await expect(layer().listen({ name: 'x', address: '127.0.0.1', udpPort: info.udpPort })).rejects.toThrow();
    await expect(layer().listen({ name: 'y', address: 'not-an-ip', udpPort: 0 })).rejects.toThrow(/not an IP/);
  });

  it('stamps received and rport, and answers to received:rport', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 });
    const peer = await udpPeer();
    const got = nextMessage(t);
    peer.sock.send(request('OPTIONS', 'SIP/2.0/UDP 10.9.9.9:5999;branch=z9hG4bKa;rport'), info.udpPort!, '127.0.0.1');
    const inbound = await got;
    const via = inbound.message.topVia!;
    expect(via.params.get('received')).toBe('127.0.0.1');
    expect(via.params.get('rport')).toBe(String(peer.port));
    expect(inbound.remote).toEqual({ address: '127.0.0.1', port: peer.port, transport: 'udp' });
    expect(inbound.local.transport).toBe('udp');
    expect(inbound.connectionId).toBeNull();
    // The Via says 10.9.9.9:5999 but the response must reach the real source.
    await t.sendResponse(createResponse(inbound.message, 200), inbound);
    const res = await peer.next();
    expect(res.startsWith('SIP/2.0 200 OK')).toBe(true);
    expect(res).toContain(`rport=${peer.port}`);
  });

  it('a wire response goes where sendResponse sends, byte for byte, as often as asked; none over TCP', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 });
    const peer = await udpPeer();
    const got = nextMessage(t);
    peer.sock.send(request('BYE', 'SIP/2.0/UDP 10.9.9.9:5999;branch=z9hG4bKw;rport'), info.udpPort!, '127.0.0.1');
    const inbound = await got;
    const res = createResponse(inbound.message, 200);
    const wire = wireResponse(res, inbound)!;
    expect(wire).toMatchObject({ isRequest: false, status: 200, method: 'BYE', interfaceName: 'lan', address: '127.0.0.1', port: peer.port });
    await t.sendResponse(res, inbound);
    const first = await peer.next();
    await t.sendWireResponse(wire);
    await t.sendWireResponse(wire);
    expect([await peer.next(), await peer.next()]).toEqual([first, first]);
    expect(wire.data.toString('latin1')).toBe(first);
    const overTcp = createResponse(inbound.message, 200);
    overTcp.setHeaderValueAt('via', 0, 'SIP/2.0/TCP 10.9.9.9:5999;branch=z9hG4bKw');
    expect(wireResponse(overTcp, inbound)).toBeNull();
    await expect(t.sendWireResponse({ ...wire, interfaceName: 'nope' })).rejects.toThrow(/unknown SIP interface/);
  });

  it('never trusts received/rport/maddr written by the sender: responses go to the real source', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 });
    const peer = await udpPeer();
    const got = nextMessage(t);
    // A forger points our response at 127.0.0.99:9 (received/rport) and at maddr.
    const via = `SIP/2.0/UDP 127.0.0.1:${peer.port};received=127.0.0.99;rport=9;maddr=127.0.0.98;branch=z9hG4bKf`;
    peer.sock.send(request('OPTIONS', via), info.udpPort!, '127.0.0.1');
    const inbound = await got;
    const top = inbound.message.topVia!;
    expect(top.params.get('received')).toBe('127.0.0.1');
    expect(top.params.get('rport')).toBe(String(peer.port));
    await t.sendResponse(createResponse(inbound.message, 200), inbound);
    expect((await peer.next()).startsWith('SIP/2.0 200 OK')).toBe(true);
  });

  it('answers a broken but addressable request with 400 naming the problem, drops garbage', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 });
    const peer = await udpPeer();
    const broken = request('INVITE', `SIP/2.0/UDP 127.0.0.1:${0};branch=z9hG4bKb;rport`).replace('Call-ID: c1@example.com\r\n', '');
    peer.sock.send(broken, info.udpPort!, '127.0.0.1');
    const res = await peer.next();
    expect(res.startsWith('SIP/2.0 400 Missing Call-ID')).toBe(true);
    peer.sock.send('\x00\x01garbage', info.udpPort!, '127.0.0.1');
    peer.sock.send('\r\n\r\n', info.udpPort!, '127.0.0.1');
    // A well-formed request afterwards proves the socket still works, and orders the counters.
    const got = nextMessage(t);
    peer.sock.send(request('OPTIONS', 'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKc;rport'), info.udpPort!, '127.0.0.1');
    await got;
    expect(t.stats().badRequestsAnswered).toBe(1);
    expect(t.stats().garbageDropped).toBe(1);
  });

  it('survives a message listener that throws', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 });
    const got = nextMessage(t);
    t.on('message', () => {
      throw new Error('listener bug');
    });
    const peer = await udpPeer();
    peer.sock.send(request('OPTIONS', 'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKd'), info.udpPort!, '127.0.0.1');
    await got;
    await new Promise((r) => setImmediate(r));
    expect(t.stats().listenerErrors).toBe(1);
  });

  it('rejects sends on an unknown interface or a missing listener', async () => {
    const t = layer();
    await t.listen({ name: 'tcponly', address: '127.0.0.1', tcpPort: 0 });
    const msg = parseMessage(Buffer.from(request('OPTIONS', 'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKe')));
    if (!msg.ok) throw new Error(msg.error);
    await expect(t.send(msg.message, { address: '127.0.0.1', port: 9, transport: 'udp' }, 'nope')).rejects.toThrow(/unknown SIP interface/);
    await expect(t.send(msg.message, { address: '127.0.0.1', port: 9, transport: 'udp' }, 'tcponly')).rejects.toThrow(/no UDP listener/);
  });
});

describe('TransportLayer over TCP', () => {
  it('answers CRLFCRLF with CRLF, replies on the same connection and reuses it for requests', async () => {
    const t = layer();
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', tcpPort: 0, udpPort: 0 });
    const peer = await tcpPeer(info.tcpPort!);
    peer.sock.write('\r\n\r\n');
    await peer.next((s) => s === '\r\n');
    const got = nextMessage(t);
    peer.sock.write(request('OPTIONS', 'SIP/2.0/TCP 10.1.1.1:5060;branch=z9hG4bKf'));
    const inbound = await got;
    expect(inbound.connectionId).not.toBeNull();
    expect(inbound.remote.transport).toBe('tcp');
    expect(inbound.message.topVia!.params.get('received')).toBe('127.0.0.1');
    await t.sendResponse(createResponse(inbound.message, 200), inbound);
    await peer.next((s) => s.includes('SIP/2.0 200 OK'));
    // A new request to the peer's address:port goes over the connection it opened.
    const req = SipMessage.request('OPTIONS', 'sip:peer@127.0.0.1');
    for (const [n, v] of [['via', 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKg'], ['from', '<sip:a@b>;tag=1'], ['to', '<sip:c@d>'], ['call-id', 'x'], ['cseq', '2 OPTIONS']] as const) req.addHeader(n, v);
    await t.send(req, inbound.remote, 'lan');
    await peer.next((s) => s.includes('OPTIONS sip:peer@127.0.0.1'));
    expect(t.stats().connectionsOpened).toBe(1);
    expect(t.stats().keepAlivesAnswered).toBe(1);
  });

  it('closes idle connections', async () => {
    const t = layer({ idleTimeoutMs: 100 });
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', tcpPort: 0 });
    const peer = await tcpPeer(info.tcpPort!);
    await peer.closed;
    await new Promise((r) => setImmediate(r));
    expect(t.stats().idleConnectionsClosed).toBe(1);
    expect(t.stats().openConnections).toBe(0);
  });

  it('closes a connection whose buffered message exceeds the limit', async () => {
    const t = layer({ limits: { maxMessageBytes: 2000, maxHeaders: 50, maxHeaderLineBytes: 1000 } });
    const info = await t.listen({ name: 'lan', address: '127.0.0.1', tcpPort: 0 });
    const peer = await tcpPeer(info.tcpPort!);
    peer.sock.write('INVITE sip:x@y SIP/2.0\r\nSubject: ' + 'a'.repeat(3000));
    await peer.closed;
    expect(t.stats().streamFramingErrors).toBe(1);
  });

  it('sends a UDP request over the size budget through TCP, and falls back to UDP when TCP fails', async () => {
    const a = layer();
    await a.listen({ name: 'a', address: '127.0.0.1', udpPort: 0, tcpPort: 0 });
    const b = layer();
    const bInfo = await b.listen({ name: 'b', address: '127.0.0.1', udpPort: 0, tcpPort: 0 });
    const big = (): SipMessage => {
      const r = parseMessage(Buffer.from(request('MESSAGE', 'SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKh;rport', 'Content-Type: text/plain\r\n', 'x'.repeat(1500))));
      if (!r.ok) throw new Error(r.error);
      return r.message;
    };
    let got = nextMessage(b);
    const used = await a.send(big(), { address: '127.0.0.1', port: bInfo.tcpPort!, transport: 'udp' }, 'a');
    let inbound = await got;
    expect(used).toBe('tcp');
    expect(inbound.remote.transport).toBe('tcp');
    expect(inbound.message.topVia!.transport).toBe('TCP');
    expect(inbound.message.topVia!.port).toBe(a.getInterface('a')!.tcpPort);

    // b2 listens on UDP only: the TCP attempt is refused and the request goes over UDP.
    const b2 = layer();
    const b2Info = await b2.listen({ name: 'b2', address: '127.0.0.1', udpPort: 0 });
    got = nextMessage(b2);
    const used2 = await a.send(big(), { address: '127.0.0.1', port: b2Info.udpPort!, transport: 'udp' }, 'a');
    inbound = await got;
    expect(used2).toBe('udp');
    expect(inbound.message.topVia!.transport).toBe('UDP');
    expect(a.stats().udpToTcpFallbacks).toBe(1);
  });

  it('rejects a send when the connection is refused', async () => {
    const a = layer({ connectTimeoutMs: 2000 });
    await a.listen({ name: 'a', address: '127.0.0.1', tcpPort: 0 });
    const probe = net.createServer();
    const port = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as net.AddressInfo).port)));
    await new Promise<void>((r) => probe.close(() => r()));
    const m = parseMessage(Buffer.from(request('OPTIONS', 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKi')));
    if (!m.ok) throw new Error(m.error);
    await expect(a.send(m.message, { address: '127.0.0.1', port, transport: 'tcp' }, 'a')).rejects.toThrow();
  });
});

describe('TransportLayer over TLS', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return () => rmSync(dir, { recursive: true, force: true });
  });

  it('verifies the server by default: a self-signed peer is refused', async () => {
    const tlsFiles = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
    const server = layer();
    const sInfo = await server.listen({ name: 's', address: '127.0.0.1', tlsPort: 0, tls: tlsFiles });
    const client = layer();
    await client.listen({ name: 'c', address: '127.0.0.1', tlsPort: 0, tls: tlsFiles });
    const m = parseMessage(Buffer.from(request('OPTIONS', 'SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKv')));
    if (!m.ok) throw new Error(m.error);
    await expect(client.send(m.message, { address: '127.0.0.1', port: sInfo.tlsPort!, transport: 'tls' }, 'c')).rejects.toThrow(/self.signed|certificate/i);
  });

  it('carries a request and its response between two TLS interfaces', async () => {
    // Self-signed on both sides: verification explicitly off for this test.
    const tlsFiles = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), verifyServer: false };
    const server = layer();
    const sInfo = await server.listen({ name: 's', address: '127.0.0.1', tlsPort: 0, tls: tlsFiles });
    const client = layer();
    await client.listen({ name: 'c', address: '127.0.0.1', tlsPort: 0, tls: tlsFiles });
    server.on('message', (m) => {
      server.sendResponse(createResponse(m.message, 200), m).catch(() => undefined);
    });
    const m = parseMessage(Buffer.from(request('OPTIONS', 'SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKj')));
    if (!m.ok) throw new Error(m.error);
    const got = nextMessage(client);
    await client.send(m.message, { address: '127.0.0.1', port: sInfo.tlsPort!, transport: 'tls' }, 'c');
    const res = await got;
    expect(res.message.status).toBe(200);
    expect(res.remote.transport).toBe('tls');
    expect(client.stats().connectionsOpened).toBe(1);
  });

  it('refuses a TLS port without certificate files', async () => {
    await expect(layer().listen({ name: 'x', address: '127.0.0.1', tlsPort: 0 })).rejects.toThrow(/no certificate/);
  });
});
