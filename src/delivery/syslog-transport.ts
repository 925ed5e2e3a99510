/**
 * Syslog delivery: RFC 5424 messages over UDP (RFC 5426, one message per
 * datagram), TCP (RFC 6587 §3.4.1 octet counting) or TLS (RFC 5425 §4.3,
 * the same octet-counting framing: "MSG-LEN SP SYSLOG-MSG").
 *
 * TCP and TLS give no application-level acknowledgement: a batch counts as
 * delivered once the kernel accepted it. If the connection breaks, the
 * batch being written is sent again on the next connection (at-least-once).
 * UDP is best effort: only a local send error (or an ICMP unreachable seen
 * on the connected socket) is noticed.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import type { DeliveryTransport } from './reliable.js';

export type SyslogProtocol = 'udp' | 'tcp' | 'tls';

export interface SyslogMessage {
  /** 0..23; CDRs use 17 (local1), as a Mediant does. */
  facility: number;
  /** 0..7; 6 = informational. */
  severity: number;
  timestamp: Date;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** STRUCTURED-DATA, already formatted; '-' when none. */
  structuredData?: string;
  msg: string;
}

/** RFC 5424 §6 header field: printable US-ASCII without spaces, bounded; '-' when empty. */
function headerField(v: string, max: number): string {
  let out = '';
  for (const ch of v) {
    const c = ch.codePointAt(0)!;
    if (c >= 33 && c <= 126) out += ch;
    if (out.length >= max) break;
  }
  return out === '' ? '-' : out;
}

export function formatSyslog5424(m: SyslogMessage): string {
  const pri = Math.max(0, Math.min(23, m.facility | 0)) * 8 + Math.max(0, Math.min(7, m.severity | 0));
  const ts = Number.isFinite(m.timestamp.getTime()) ? m.timestamp.toISOString() : '-';
  return `<${pri}>1 ${ts} ${headerField(m.hostname, 255)} ${headerField(m.appName, 48)} ${headerField(m.procId, 128)} `
    + `${headerField(m.msgId, 32)} ${m.structuredData ?? '-'} ${m.msg}`;
}

/** RFC 6587 §3.4.1 / RFC 5425 §4.3 framing. */
export function frameOctetCounted(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/** Splits an octet-counted stream into messages; returns the unparsed rest (for receivers and tests). */
export function parseOctetCounted(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let off = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0 || sp - off > 10) break;
    const len = Number(buf.subarray(off, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) throw new Error('bad syslog frame length');
    if (buf.length < sp + 1 + len) break;
    messages.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    off = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(off) };
}

export interface SyslogTransportOptions {
  host: string;
  port: number;
  protocol: SyslogProtocol;
  /** Connect timeout for TCP/TLS (default 5 s). */
  connectTimeoutMs?: number;
  /** TLS: PEM CA bundle and whether to verify (default true). */
  ca?: string;
  rejectUnauthorized?: boolean;
}

export class SyslogTransport implements DeliveryTransport {
  readonly description: string;
  private stream: net.Socket | null = null;
  private udp: dgram.Socket | null = null;

  constructor(private readonly opts: SyslogTransportOptions) {
    this.description = `syslog ${opts.protocol} ${opts.host}:${opts.port}`;
  }

  send(batch: readonly string[]): Promise<void> {
    return this.opts.protocol === 'udp' ? this.sendUdp(batch) : this.sendStream(batch);
  }

  private async sendUdp(batch: readonly string[]): Promise<void> {
    if (this.udp === null) {
      const sock = dgram.createSocket(net.isIPv6(this.opts.host) ? 'udp6' : 'udp4');
      sock.on('error', () => {
        sock.close();
        if (this.udp === sock) this.udp = null;
      });
      sock.unref();
      this.udp = sock;
    }
    const sock = this.udp;
    for (const m of batch) {
      await new Promise<void>((resolve, reject) => {
        sock.send(Buffer.from(m, 'utf8'), this.opts.port, this.opts.host, (err) => (err ? reject(err) : resolve()));
      });
    }
  }

  private async sendStream(batch: readonly string[]): Promise<void> {
    const sock = this.stream ?? (await this.connect());
    const data = Buffer.concat(batch.map(frameOctetCounted));
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new Error('syslog connection closed'));
      const onError = (err: Error): void => reject(err);
      sock.once('close', onClose);
      sock.once('error', onError);
      sock.write(data, (err) => {
        sock.off('close', onClose);
        sock.off('error', onError);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private connect(): Promise<net.Socket> {
    const { host, port } = this.opts;
    const timeout = this.opts.connectTimeoutMs ?? 5000;
    return new Promise<net.Socket>((resolve, reject) => {
      const sock: net.Socket = this.opts.protocol === 'tls'
        ? tls.connect({
          host, port,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
          ...(this.opts.ca !== undefined ? { ca: this.opts.ca } : {}),
          rejectUnauthorized: this.opts.rejectUnauthorized ?? true,
        })
        : net.connect({ host, port });
      const readyEvent = this.opts.protocol === 'tls' ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => sock.destroy(new Error(`connect timeout after ${timeout} ms`)), timeout);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      sock.once('error', fail);
      sock.once(readyEvent, () => {
        clearTimeout(timer);
        sock.off('error', fail);
        sock.setKeepAlive(true, 30_000);
        sock.setNoDelay(true);
        // A syslog receiver never talks back; anything it sends is ignored.
        sock.on('data', () => {});
        sock.on('error', () => {});
        sock.on('close', () => {
          if (this.stream === sock) this.stream = null;
        });
        this.stream = sock;
        resolve(sock);
      });
    });
  }

  async close(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    if (s !== null && !s.destroyed) {
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          s.destroy();
          r();
        }, 1000);
        t.unref();
        s.once('close', () => {
          clearTimeout(t);
          r();
        });
        s.end();
      });
    }
    if (this.udp !== null) {
      this.udp.close();
      this.udp = null;
    }
  }
}
