import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSpooledDelivery } from '../delivery/reliable.js';
import { HttpPostTransport } from '../delivery/http-transport.js';
import { parseOctetCounted, SyslogTransport } from '../delivery/syslog-transport.js';
import { silentLogger } from '../util/logger.js';
import { defaultColumns } from './format.js';
import { HttpCdrSink, SyslogCdrSink } from './remote-sinks.js';
import { sampleCdr } from './sample-record.js';

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A syslog receiver over TCP with octet-counting framing (RFC 6587 §3.4.1). */
class TcpSyslogReceiver {
  readonly messages: string[] = [];
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  async start(port = 0): Promise<void> {
    this.server = net.createServer((sock) => {
      this.sockets.add(sock);
      let buf: Buffer = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const { messages, rest } = parseOctetCounted(buf);
        this.messages.push(...messages);
        buf = rest;
      });
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

const body = (m: string): Record<string, unknown> => JSON.parse(m.slice(m.indexOf(' {') + 1)) as Record<string, unknown>;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdr-remote-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SyslogCdrSink', () => {
  it('sends RFC 5424 messages over TCP with octet counting', async () => {
    const rx = new TcpSyslogReceiver();
    await rx.start();
    const d = await createSpooledDelivery({
      name: 'syslog', transport: new SyslogTransport({ host: '127.0.0.1', port: rx.port, protocol: 'tcp' }), spoolDir: null, log: silentLogger(),
    });
    const sink = new SyslogCdrSink(d, { callColumns: defaultColumns('call'), mediaColumns: defaultColumns('media'), hostname: 'sbc1' });
    for (let i = 0; i < 50; i++) sink.write(sampleCdr({ sessionId: `s${i}`, seq: i }));
    await sink.flush();
    await until(() => rx.messages.length === 50, '50 messages');
    const m = rx.messages[0]!;
    // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG; local1.info = 17*8+6.
    expect(m).toMatch(/^<142>1 2025-01-02T03:04:40\.678Z sbc1 sbc \d+ CALL_END - \{/);
    expect(rx.messages.map((x) => body(x)['SessionId'])).toEqual(Array.from({ length: 50 }, (_, i) => `s${i}`));
    await sink.close();
    await rx.stop();
  });

  it('sends octet-counted messages over TLS (RFC 5425) to a receiver with a self-signed certificate', async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const got: string[] = [];
    const server = tls.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (sock) => {
      let buf: Buffer = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const { messages, rest } = parseOctetCounted(buf);
        got.push(...messages);
        buf = rest;
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const d = await createSpooledDelivery({
      name: 'syslog', transport: new SyslogTransport({ host: 'localhost', port, protocol: 'tls', ca: cert }), spoolDir: null, log: silentLogger(),
    });
    const sink = new SyslogCdrSink(d, { callColumns: defaultColumns('call'), mediaColumns: defaultColumns('media') });
    for (let i = 0; i < 30; i++) sink.write(sampleCdr({ sessionId: `tls${i}` }));
    await sink.flush();
    await until(() => got.length === 30, '30 messages over TLS');
    expect(got.map((x) => body(x)['SessionId'])).toEqual(Array.from({ length: 30 }, (_, i) => `tls${i}`));
    await sink.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends one datagram per record over UDP', async () => {
    const sock = dgram.createSocket('udp4');
    const got: string[] = [];
    sock.on('message', (b) => got.push(b.toString('utf8')));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const d = await createSpooledDelivery({
      name: 'syslog', transport: new SyslogTransport({ host: '127.0.0.1', port, protocol: 'udp' }), spoolDir: null, log: silentLogger(),
    });
    const sink = new SyslogCdrSink(d, { callColumns: defaultColumns('call'), mediaColumns: defaultColumns('media') });
    for (let i = 0; i < 20; i++) sink.write(sampleCdr({ sessionId: `u${i}` }));
    await sink.flush();
    await until(() => got.length === 20, '20 datagrams');
    expect(got.every((g) => g.startsWith('<142>1 '))).toBe(true);
    expect(got.map((g) => body(g)['SessionId'])).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}`));
    await sink.close();
    sock.close();
  });

  it('TCP receiver down: records spool, then arrive complete and in order when it comes back', async () => {
    const rx = new TcpSyslogReceiver();
    await rx.start();
    const port = rx.port;
    await rx.stop();
    const d = await createSpooledDelivery({
      name: 'syslog', transport: new SyslogTransport({ host: '127.0.0.1', port, protocol: 'tcp' }),
      spoolDir: dir, retryMinMs: 20, retryMaxMs: 100, log: silentLogger(),
    });
    const sink = new SyslogCdrSink(d, { callColumns: defaultColumns('call'), mediaColumns: defaultColumns('media') });
    for (let i = 0; i < 100; i++) sink.write(sampleCdr({ sessionId: `t${i}` }));
    await until(() => sink.stats().spooled === 100, 'spooled');
    expect(sink.stats().up).toBe(false);
    const back = new TcpSyslogReceiver();
    await back.start(port);
    for (let i = 100; i < 150; i++) sink.write(sampleCdr({ sessionId: `t${i}` }));
    await until(() => back.messages.length === 150, 'replayed');
    expect(back.messages.map((x) => body(x)['SessionId'])).toEqual(Array.from({ length: 150 }, (_, i) => `t${i}`));
    expect(sink.stats()).toMatchObject({ lost: 0, spooled: 0, up: true });
    await sink.close();
    await back.stop();
  });
});

/** An HTTP collector that can be taken down and brought back on the same port. */
class Collector {
  readonly records: Array<Record<string, unknown>> = [];
  private server: http.Server | null = null;
  port = 0;
  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<Record<string, unknown>>;
        this.records.push(...batch);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async stop(): Promise<void> {
    this.server!.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

describe('HttpCdrSink', () => {
  it('collector stopped for a while: nothing lost, order kept', async () => {
    const c = new Collector();
    await c.start();
    const d = await createSpooledDelivery({
      name: 'http', transport: new HttpPostTransport({ url: `http://127.0.0.1:${c.port}/cdr`, timeoutMs: 2000 }),
      spoolDir: dir, lingerMs: 5, retryMinMs: 20, retryMaxMs: 200, log: silentLogger(),
    });
    const sink = new HttpCdrSink(d, { callColumns: defaultColumns('call'), mediaColumns: defaultColumns('media') });
    let n = 0;
    const emit = (k: number): void => {
      for (let i = 0; i < k; i++, n++) sink.write(sampleCdr({ sessionId: `h${n}`, seq: n }));
    };
    emit(200);
    await until(() => c.records.length === 200, 'first 200');
    await c.stop();
    emit(300);
    await until(() => !sink.stats().up && sink.stats().spooled > 0, 'spooling while down');
    emit(200);
    await c.start(c.port);
    emit(100);
    await until(() => c.records.length === 800 && sink.stats().queued === 0 && sink.stats().spooled === 0, 'all 800');
    expect(c.records.map((r) => r['CdrSeq'])).toEqual(Array.from({ length: 800 }, (_, i) => i));
    expect(sink.stats()).toMatchObject({ lost: 0, spooled: 0, queued: 0 });
    await sink.close();
    await c.stop();
  });

  it('a collector answering 500 is retried, not counted as delivered', async () => {
    let fail = 3;
    const got: unknown[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (x: Buffer) => chunks.push(x));
      req.on('end', () => {
        if (fail-- > 0) return void res.writeHead(500).end();
        got.push(...(JSON.parse(Buffer.concat(chunks).toString()) as unknown[]));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const d = await createSpooledDelivery({
      name: 'http', transport: new HttpPostTransport({ url: `http://127.0.0.1:${port}/` }), spoolDir: null, retryMinMs: 10, retryMaxMs: 20, log: silentLogger(),
    });
    const sink = new HttpCdrSink(d, { callColumns: defaultColumns('call'), mediaColumns: defaultColumns('media') });
    sink.write(sampleCdr());
    await until(() => got.length === 1, 'delivery after 500s');
    expect(sink.stats().errors).toBe(3);
    await sink.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
