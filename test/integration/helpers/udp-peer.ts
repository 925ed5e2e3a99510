/**
 * A raw UDP SIP endpoint for tests that must send exactly the bytes they
 * mean (malformed requests, floods) and see exactly what comes back. It
 * parses what it receives with the project's parser and keeps it, so a
 * test can wait for a message (never sleep) and assert on its headers.
 */
import dgram from 'node:dgram';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipMessage } from '../../../src/sip/message.js';

export interface UdpPeer {
  readonly address: string;
  readonly port: number;
  readonly received: SipMessage[];
  /** Datagrams that did not parse. */
  readonly garbage: number;
  send(text: string | Buffer, port: number, host?: string): Promise<void>;
  /** The first received message (seen or future) matching `pred`. */
  waitFor(pred: (m: SipMessage) => boolean, timeoutMs?: number, what?: string): Promise<SipMessage>;
  close(): Promise<void>;
}

export async function udpPeer(address: string, port = 0): Promise<UdpPeer> {
  const sock = dgram.createSocket('udp4');
  const received: SipMessage[] = [];
  const waiters: Array<{ pred: (m: SipMessage) => boolean; done: (m: SipMessage) => void }> = [];
  let garbage = 0;
  sock.on('message', (buf) => {
    const r = parseMessage(buf);
    if (!r.ok) {
      garbage++;
      return;
    }
    received.push(r.message);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.pred(r.message)) {
        waiters[i]!.done(r.message);
        waiters.splice(i, 1);
      }
    }
  });
  await new Promise<void>((res, rej) => {
    sock.once('error', rej);
    sock.bind(port, address, () => res());
  });
  const bound = sock.address().port;
  return {
    address,
    port: bound,
    received,
    get garbage() {
      return garbage;
    },
    send(text, p, host = '127.0.0.1') {
      const data = typeof text === 'string' ? Buffer.from(text) : text;
      return new Promise((res, rej) => sock.send(data, p, host, (err) => (err ? rej(err) : res())));
    },
    waitFor(pred, timeoutMs = 5000, what = 'message') {
      const seen = received.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const t = setTimeout(() => {
          const i = waiters.findIndex((w) => w.done === done);
          if (i >= 0) waiters.splice(i, 1);
          rej(new Error(`${what} not received within ${timeoutMs} ms (got ${received.length}: ${received.map((m) => m.isRequest ? m.method : m.status).join(',')})`));
        }, timeoutMs);
        const done = (m: SipMessage): void => {
          clearTimeout(t);
          res(m);
        };
        waiters.push({ pred, done });
      });
    },
    close() {
      return new Promise((res) => sock.close(() => res()));
    },
  };
}

/** A request as a list of lines; `Content-Length` is added. */
export function sipRequest(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
