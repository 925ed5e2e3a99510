/**
 * Receivers for the SBC's CDR sinks in integration tests: a syslog server
 * over TCP (RFC 6587 octet counting), an HTTP collector that can be stopped
 * and started again on the same port, and a reader of the local CSV files
 * (the current file and every rotated .csv.gz).
 */
import http from 'node:http';
import net from 'node:net';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseCsvLine } from '../../../src/cdr/format.js';
import { parseOctetCounted } from '../../../src/delivery/syslog-transport.js';

export type CdrRow = Record<string, string>;

export interface SyslogReceiver {
  readonly port: number;
  /** Every message in arrival order (RFC 5424 text). */
  readonly messages: string[];
  /** The JSON body of each message. */
  records(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startSyslogTcp(): Promise<SyslogReceiver> {
  const messages: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const { messages: got, rest } = parseOctetCounted(buf);
      messages.push(...got);
      buf = rest;
    });
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    messages,
    records: () => messages.map((m) => JSON.parse(m.slice(m.indexOf('{'))) as Record<string, unknown>),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface HttpCollector {
  readonly port: number;
  /** Every record in arrival order (the JSON arrays of every accepted POST, concatenated). */
  readonly records: Array<Record<string, unknown>>;
  /** POSTs answered 204. */
  readonly batches: number;
  readonly up: boolean;
  /**
   * Stops the collector: the listener closes (new connections are refused), a request
   * already being answered completes, and any later request on a kept-alive
   * connection is cut without an answer and without being counted.
   */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Teardown: every connection cut, the listener closed. */
  close(): Promise<void>;
}

export async function startHttpCollector(port: number): Promise<HttpCollector> {
  const records: Array<Record<string, unknown>> = [];
  let batches = 0;
  let server: http.Server | null = null;
  let accepting = false;
  const servers: http.Server[] = [];
  const listen = async (): Promise<void> => {
    const s = http.createServer((req, res) => {
      if (!accepting) {
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (!accepting) {
          req.socket.destroy();
          return;
        }
        records.push(...(JSON.parse(Buffer.concat(chunks).toString()) as Array<Record<string, unknown>>));
        batches++;
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r, j) => {
      s.once('error', j);
      s.listen(port, '127.0.0.1', () => r());
    });
    server = s;
    servers.push(s);
    accepting = true;
  };
  await listen();
  return {
    port,
    records,
    get batches() {
      return batches;
    },
    get up() {
      return accepting;
    },
    async stop() {
      accepting = false;
      const s = server;
      server = null;
      if (s === null) return;
      // The listener closes at once; a connection busy with a request finishes its answer
      // (closing it now could lose a 204 for records already counted, and the sender would
      // send them again), and the handler cuts any later request on it.
      s.close();
      s.closeIdleConnections();
    },
    start: listen,
    async close() {
      accepting = false;
      server = null;
      await Promise.all(servers.map((s) => new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      })));
    },
  };
}

/** Lines of one CSV text as rows keyed by its header (the first line). */
export function csvRows(text: string): { header: string[]; rows: CdrRow[] } {
  const lines = text.split('\n').filter((l) => l !== '');
  const header = parseCsvLine(lines[0] ?? '');
  const rows = lines.slice(1).map((l) => Object.fromEntries(parseCsvLine(l).map((v, i) => [header[i] ?? `#${i}`, v])) as CdrRow);
  return { header, rows };
}

export interface CsvFile {
  name: string;
  /** Rotation sequence number; Infinity for the current file. */
  seq: number;
  header: string[];
  rows: CdrRow[];
}

/**
 * Every CSV file of a local sink (`<stem>_<stamp>_<seq>.csv.gz` in rotation order, then
 * `<stem>.csv`), decompressed and parsed. Throws if a .gz does not decompress.
 */
export async function readCsvFiles(dir: string, stem = 'cdr'): Promise<CsvFile[]> {
  const re = new RegExp(`^${stem}_\\d\\d\\.\\d\\d\\.\\d\\d-\\d\\d\\.\\d\\d\\.\\d\\d_(\\d{5,})\\.csv(\\.gz)?$`);
  const out: CsvFile[] = [];
  for (const name of await readdir(dir)) {
    const m = re.exec(name);
    if (m !== null) {
      const raw = await readFile(join(dir, name));
      const text = m[2] === '.gz' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      out.push({ name, seq: Number(m[1]), ...csvRows(text) });
    } else if (name === `${stem}.csv`) {
      out.push({ name, seq: Number.POSITIVE_INFINITY, ...csvRows(await readFile(join(dir, name), 'utf8')) });
    }
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Polls until `cond` holds; fails with `what` after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs `start` (which picks its free ports itself) again, up to `tries` times, when the SBC
 * exits before starting: a port found free can be taken by another test's process before
 * the SBC binds it (EADDRINUSE), and a fresh pick avoids that race.
 */
export async function startRetryingPortRace<T>(start: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      if (i >= tries || !/exited with .* before starting/.test(String(err))) throw err;
    }
  }
}
