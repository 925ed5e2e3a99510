/**
 * "Nothing a remote party sends may crash the SBC" (issues 2 and 4),
 * against the real SBC process:
 *
 * 1. A bounded flood of mutated SIP over UDP (random bytes, truncations,
 *    huge and folded headers, Content-Length lies, bad Via/CSeq/start
 *    lines, NUL bytes, 64 KB datagrams, mangled SDP) from the PBX's
 *    address and from an unknown one, then TCP streams with garbage,
 *    oversized messages, pipelining, pings, resets and half-open
 *    connections held open. Afterwards the process is up, the counters
 *    account for the garbage, nothing leaked, RSS did not explode, and
 *    a normal sipp call still goes through.
 * 2. 2,000 INVITEs from an unclassified source (403 per the SIP
 *    Interface's ClassificationFailureResponseType) create no call and
 *    leave no transaction behind once timer H / I have run.
 *
 * The mutations come from a seeded PRNG; the seed is printed so that a
 * failure can be replayed (SECURITY_FUZZ_SEED=n).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';

interface Status {
  calls: { calls: number; dialogs: number; pendingTimers: number; totalCalls: number; rejected: number };
  transactions: { clientTransactions: number; serverTransactions: number; tuErrors: number; ackTimeouts: number; requestsReceived: number };
  transport: {
    udpReceived: number; streamReceived: number; garbageDropped: number; badRequestsAnswered: number;
    streamFramingErrors: number; listenerErrors: number; openConnections: number; keepAlivesAnswered: number;
  };
  relay: { sessions: number };
  memory: { rss: number; heapUsed: number };
}

// Own addresses: responses to forged Vias must not land on other test files' sipps (127.0.0.2/.3).
const PBX = '127.0.0.12';
const ITSP = '127.0.0.13';
const STRANGER = '127.0.0.77';
const FLOODER = '127.0.0.66';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

async function settle(sbc: SbcProcess, timeoutMs: number): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let s = await sbc.api<Status>('/api/v1/status');
  while (Date.now() < deadline) {
    if (s.calls.calls === 0 && s.transactions.clientTransactions === 0 && s.transactions.serverTransactions === 0 && s.relay.sessions === 0) break;
    await sleep(300);
    s = await sbc.api<Status>('/api/v1/status');
  }
  return s;
}

function errorLogs(sbc: SbcProcess): LogLine[] {
  return sbc.logs.filter((l) => l.level >= 50);
}

interface Ctx {
  src: string;
  srcPort: number;
  /** host:port of the SBC interface. */
  dst: string;
  n: number;
  transport: 'UDP' | 'TCP';
}

const SDP = [
  'v=0', 'o=- 1 1 IN IP4 127.0.0.12', 's=-', 'c=IN IP4 127.0.0.12', 't=0 0',
  'm=audio 40000 RTP/AVP 8 0 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', '',
].join('\r\n');

function headers(method: string, c: Ctx, extra: string[] = []): string[] {
  return [
    `${method} sip:${100 + (c.n % 100)}@${c.dst} SIP/2.0`,
    `Via: SIP/2.0/${c.transport} ${c.src}:${c.srcPort};branch=z9hG4bKfz${c.n}x;rport`,
    'Max-Forwards: 70',
    `From: "Fuzz ${c.n}" <sip:fuzz@${c.src}>;tag=ft${c.n}`,
    `To: <sip:${100 + (c.n % 100)}@${c.dst}>`,
    `Call-ID: fuzz-${c.n}@${c.src}`,
    `CSeq: ${c.n + 1} ${method}`,
    `Contact: <sip:fuzz@${c.src}:${c.srcPort}>`,
    ...extra,
  ];
}

function build(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function baseMessage(rnd: () => number, c: Ctx): string {
  const k = Math.floor(rnd() * 6);
  if (k === 0) return build(headers('INVITE', c, ['Content-Type: application/sdp']), SDP);
  if (k === 1) return build(headers('OPTIONS', c));
  if (k === 2) return build(headers('REGISTER', c, ['Expires: 3600']));
  if (k === 3) return build(headers('BYE', c).map((l) => (l.startsWith('To:') ? `${l};tag=tt${c.n}` : l)));
  if (k === 4) return build(headers('INFO', c, ['Content-Type: application/dtmf-relay']), 'Signal=1\r\nDuration=160\r\n');
  return build([
    'SIP/2.0 200 OK',
    `Via: SIP/2.0/UDP ${c.dst};branch=z9hG4bKnotours${c.n}`,
    `From: <sip:a@${c.dst}>;tag=a${c.n}`, `To: <sip:b@${c.src}>;tag=b${c.n}`,
    `Call-ID: stray-${c.n}`, 'CSeq: 1 INVITE',
  ]);
}

function randomBytes(rnd: () => number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Byte ranges of the lines a flip must not touch (Via, Contact): they decide where the SBC sends. */
function protectedRanges(msg: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const name of ['\r\nVia:', '\r\nContact:']) {
    const a = msg.indexOf(name);
    if (a >= 0) out.push([a, msg.indexOf('\r\n', a + 2)]);
  }
  return out;
}

/** The malformed variants. Each returns the bytes to send; none names a host outside 127.0.0.0/8. */
const MUTATIONS: Array<(rnd: () => number, c: Ctx) => Buffer> = [
  // random bytes
  (rnd) => randomBytes(rnd, 1 + Math.floor(rnd() * 1400)),
  // random bytes behind a plausible start line
  (rnd, c) => Buffer.concat([Buffer.from(`INVITE sip:1@${c.dst} SIP/2.0\r\n`), randomBytes(rnd, Math.floor(rnd() * 800))]),
  // truncated anywhere
  (rnd, c) => {
    const m = Buffer.from(baseMessage(rnd, c));
    return m.subarray(0, 1 + Math.floor(rnd() * (m.length - 1)));
  },
  // byte flips outside Via/Contact
  (rnd, c) => {
    const s = baseMessage(rnd, c);
    const b = Buffer.from(s, 'latin1');
    const keep = protectedRanges(s);
    const flips = 1 + Math.floor(rnd() * 8);
    for (let i = 0; i < flips; i++) {
      const p = Math.floor(rnd() * b.length);
      if (keep.some(([a, z]) => p >= a && p < z)) continue;
      b[p] = Math.floor(rnd() * 256);
    }
    return b;
  },
  // NUL bytes
  (rnd, c) => {
    const s = baseMessage(rnd, c);
    const p = Math.floor(rnd() * s.length);
    return Buffer.concat([Buffer.from(s.slice(0, p), 'latin1'), Buffer.alloc(1 + Math.floor(rnd() * 4)), Buffer.from(s.slice(p), 'latin1')]);
  },
  // a header line over the 8 KB limit
  (rnd, c) => Buffer.from(build(headers('OPTIONS', c, [`X-Huge: ${'A'.repeat(8200 + Math.floor(rnd() * 4000))}`]))),
  // too many headers
  (rnd, c) => Buffer.from(build(headers('OPTIONS', c, Array.from({ length: 300 }, (_, i) => `X-H${i}: ${i}`)))),
  // deep line folding
  (rnd, c) => Buffer.from(build(headers('OPTIONS', c, [`Subject: x${'\r\n y'.repeat(200 + Math.floor(rnd() * 2000))}`]))),
  // folding that starts the header section
  (_rnd, c) => Buffer.from(`OPTIONS sip:1@${c.dst} SIP/2.0\r\n  folded\r\n${build(headers('OPTIONS', c).slice(1))}`),
  // Content-Length lies
  (rnd, c) => {
    const lies = ['99999', '-1', '18446744073709551616', 'abc', '', '1e3', '0x10', ' 5 5', '4294967296'];
    const lie = lies[Math.floor(rnd() * lies.length)]!;
    return Buffer.from(`${headers('INVITE', c, ['Content-Type: application/sdp']).join('\r\n')}\r\nContent-Length: ${lie}\r\n\r\n${SDP}`);
  },
  (_rnd, c) => Buffer.from(`${headers('OPTIONS', c).join('\r\n')}\r\nContent-Length: 0\r\nl: 12\r\n\r\n`),
  (_rnd, c) => Buffer.from(`${headers('INVITE', c).join('\r\n')}\r\nContent-Length: 3\r\n\r\n${SDP}`),
  // bad Via (all addresses stay on loopback)
  (rnd, c) => {
    const vias = [
      '', 'SIP/2.0/UDP', 'SIP/2.0/UDP ;branch=z9hG4bKx', 'SIP/2.0/XYZ 127.0.0.77:5060', 'SIP/3.0/UDP 127.0.0.77',
      `SIP/2.0/UDP ${c.src}:99999;branch=z9hG4bKx`, `SIP/2.0/UDP ${c.src}:-1`, 'SIP/2.0/UDP [::1', 'SIP/2.0/UDP [zz::1]:5060;branch=z9hG4bKx',
      `SIP/2.0/UDP ${c.src};branch=`, `SIP/2.0/UDP ${c.src};branch`, `SIP/2.0/UDP ${c.src};rport=abc;branch=z9hG4bKq`,
      `SIP/2.0/UDP ${c.src};rport=0;branch=z9hG4bKq`, `SIP/2.0/UDP ${c.src};ttl=999999999999`, `SIP/2.0/UDP ${c.src};;;;;`,
      `SIP/2.0/UDP ${c.src}:5060 , , ,`, `SIP/2.0/UDP ${c.src}:5060;branch="z9hG4bK\\"q"`, `SIP/2.0/UDP ${'9'.repeat(300)}`,
    ];
    const v = vias[Math.floor(rnd() * vias.length)]!;
    return Buffer.from(build(headers('OPTIONS', c).map((l) => (l.startsWith('Via:') ? `Via: ${v}` : l))));
  },
  // missing mandatory headers
  (rnd, c) => {
    const drop = ['Via:', 'From:', 'To:', 'Call-ID:', 'CSeq:', 'Max-Forwards:'][Math.floor(rnd() * 6)]!;
    return Buffer.from(build(headers('INVITE', c, ['Content-Type: application/sdp']).filter((l) => !l.startsWith(drop)), SDP));
  },
  // bad start lines, CSeq, Max-Forwards, URIs, quoting
  (rnd, c) => {
    const variants = [
      (l: string[]) => [`INVITE  SIP/2.0`, ...l.slice(1)],
      (l: string[]) => [`INVITE sip:1@${c.dst} SIP/9.9`, ...l.slice(1)],
      (l: string[]) => [`IN<>VITE sip:1@${c.dst} SIP/2.0`, ...l.slice(1)],
      (l: string[]) => [`INVITE sip:@ SIP/2.0`, ...l.slice(1)],
      (l: string[]) => [`INVITE sip:[::1 SIP/2.0`, ...l.slice(1)],
      (l: string[]) => [`INVITE ${'x'.repeat(5000)} SIP/2.0`, ...l.slice(1)],
      (l: string[]) => [`SIP/2.0 999999 Weird`, ...l.slice(1)],
      (l: string[]) => [`SIP/2.0 -1 Negative`, ...l.slice(1)],
      (l: string[]) => ['SIP/2.0 200', ...l.slice(1)],
      (l: string[]) => l.map((x) => (x.startsWith('CSeq:') ? 'CSeq: 99999999999999999999 INVITE' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('CSeq:') ? 'CSeq: 1 BYE' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('CSeq:') ? 'CSeq: INVITE' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('Max-Forwards:') ? 'Max-Forwards: 0' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('Max-Forwards:') ? 'Max-Forwards: -5' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('Max-Forwards:') ? 'Max-Forwards: 99999999999999' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('From:') ? 'From: "unterminated <sip:a@127.0.0.77>;tag=1' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('From:') ? 'From: <sip:a@127.0.0.77;tag=1' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('To:') ? 'To: "\\' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('To:') ? 'To: <tel:+1;;;phone-context=>' : x)),
      (l: string[]) => l.map((x) => (x.startsWith('To:') ? 'To: <xyz:%%%%>' : x)),
      (l: string[]) => [...l, 'Require: 100rel, timer, nonsense, , ,'],
      (l: string[]) => [...l, 'Session-Expires: -1;refresher=nobody'],
      (l: string[]) => [...l, 'Route: <sip:127.0.0.77;lr>, <sip:[::1;lr>'],
      (l: string[]) => [...l, 'Call-ID: second-call-id'],
      (l: string[]) => [...l, `X-Bin: ${String.fromCharCode(0xc3, 0x28, 0xff, 0xfe)}`],
      (l: string[]) => [...l, ': no name'],
      (l: string[]) => [...l, 'no colon at all'],
    ];
    const v = variants[Math.floor(rnd() * variants.length)]!;
    return Buffer.from(build(v(headers('INVITE', c, ['Content-Type: application/sdp'])), SDP), 'latin1');
  },
  // mangled SDP in an otherwise valid INVITE
  (rnd, c) => {
    const sdps = [
      'v=0\r\n', 'garbage', 'v=0\r\nm=audio 99999999 RTP/AVP 8\r\n', 'v=0\r\nc=IN IP4 999.1.1.1\r\nm=audio 4000 RTP/AVP 8\r\n',
      'v=0\r\nc=IN IP6 zz::\r\nm=audio 4000 RTP/AVP\r\n', `v=0\r\n${'m=audio 4000 RTP/AVP 8\r\n'.repeat(200)}`,
      'v=0\r\nc=IN IP4 127.0.0.12\r\nm=audio 0 RTP/SAVP 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!!\r\n',
      'v=0\r\nc=IN IP4 127.0.0.12\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8\r\na=fmtp:\r\na=ptime:-1\r\na=rtcp:abc\r\n',
      SDP.replace('m=audio 40000 RTP/AVP 8 0 101', 'm=audio -4 RTP/AVP x y z'), SDP.replace('v=0', 'v=9'),
    ];
    const body = sdps[Math.floor(rnd() * sdps.length)]!;
    return Buffer.from(build(headers('INVITE', c, ['Content-Type: application/sdp']), body));
  },
  // CANCEL / ACK / PRACK / in-dialog requests for nothing
  (rnd, c) => {
    const m = ['CANCEL', 'ACK', 'PRACK', 'UPDATE', 'NOTIFY', 'REFER'][Math.floor(rnd() * 6)]!;
    const tagged = rnd() < 0.5;
    return Buffer.from(build(headers(m, c).map((l) => (tagged && l.startsWith('To:') ? `${l};tag=none` : l))));
  },
];

/** 64 KB-class datagrams: garbage, a request with a huge body, one with a huge header section. */
function bigDatagrams(c: Ctx, rnd: () => number): Buffer[] {
  return [
    randomBytes(rnd, 65_000),
    Buffer.from(build(headers('MESSAGE', c, ['Content-Type: text/plain']), 'x'.repeat(64_000))),
    Buffer.from(build(headers('OPTIONS', c, Array.from({ length: 7 }, (_, i) => `X-Big${i}: ${'b'.repeat(8000)}`)))),
  ];
}

interface Collector {
  sock: dgram.Socket;
  port: number;
  statuses: Map<number, number>;
  /** Call-ID -> statuses seen for it (INVITE flood). */
  byCallId: Map<string, number[]>;
  /** Call-ID -> the To header of the final response (for our ACK). */
  toOfFinal: Map<string, string>;
  nonSip: number;
}

async function udpPeer(address: string): Promise<Collector> {
  const sock = dgram.createSocket('udp4');
  const col: Collector = { sock, port: 0, statuses: new Map(), byCallId: new Map(), toOfFinal: new Map(), nonSip: 0 };
  sock.on('message', (buf) => {
    const text = buf.toString('latin1');
    if (!text.startsWith('SIP/2.0 ')) {
      col.nonSip++;
      return;
    }
    const status = Number(text.slice(8, 11));
    col.statuses.set(status, (col.statuses.get(status) ?? 0) + 1);
    const ci = /\r\n(?:Call-ID|i):\s*([^\r\n]+)/i.exec(text)?.[1];
    if (ci === undefined) return;
    const list = col.byCallId.get(ci) ?? [];
    list.push(status);
    col.byCallId.set(ci, list);
    if (status >= 200) {
      const to = /\r\n((?:To|t):[^\r\n]+)/i.exec(text)?.[1];
      if (to !== undefined) col.toOfFinal.set(ci, to);
    }
  });
  sock.on('error', () => undefined);
  await new Promise<void>((res) => sock.bind(0, address, () => res()));
  col.port = sock.address().port;
  return col;
}

function sendUdp(sock: dgram.Socket, buf: Buffer, port: number): Promise<void> {
  return new Promise((res) => sock.send(buf, port, '127.0.0.1', () => res()));
}

/** One TCP client; resolves when the SBC closes it or `holdMs` passes (then it stays open if `keepOpen`). */
interface TcpResult {
  closedByPeer: boolean;
  received: string;
  socket: net.Socket;
}

function tcpSession(port: number, localAddress: string, chunks: Buffer[], holdMs: number): Promise<TcpResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let received = '';
    let done = false;
    const finish = (closedByPeer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ closedByPeer, received, socket });
    };
    const timer = setTimeout(() => finish(false), holdMs);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
    });
  });
}

describe('SBC process under malformed input and floods', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;
  let wanPort: number;
  const seed = Number(process.env['SECURITY_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    wanPort = await findFreePort();
    const uasPort = await findFreePort(ITSP);
    const apiPort = await findFreePort();
    uas = startSipp({ scenario: 'uas', calls: 5000, localAddress: ITSP, localPort: uasPort, timeoutMs: 90_000 });
    await uas.bound();
    // Without IDS and per-source rate limits: this file checks what the layers below them survive (security-ids covers the blocking).
    sbc = await startSbc(testIni({ lanPort, wanPort, apiPort, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }], scalars: ['EnableIDS = 0', 'SourceRequestRate = 0', 'SIPMaxConnectionsPerSource = 1000', 'SIPMessageCompletionTimeout = 120', 'SIPFirstMessageTimeout = 120'] }), { exposeGc: true });
  });

  afterAll(async () => {
    await uas?.stop();
    const code = await sbc?.stop();
    // A clean SIGTERM exit: the process was alive until the end.
    expect(code).toBe(0);
  });

  it('survives a malformed UDP/TCP flood from the PBX and from strangers, and still carries a call', async () => {
    process.stdout.write(`security-flood seed ${seed}\n`);
    const rnd = prng(seed);
    const warm = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 5, rate: 10, timeoutMs: 20_000 });
    expect(warm.successful, warm.output).toBe(5);
    // --- UDP ----------------------------------------------------------------
    const fromPbx = await udpPeer(PBX);
    const fromStranger = await udpPeer(STRANGER);
    let sent = 0;
    // A short round first, so that the baseline is the process at working size (JIT, pools, buffers).
    const WARM = 300;
    const TOTAL = 3300;
    let before: Status | null = null;
    let base: Status | null = null;
    for (let i = 0; i < TOTAL; i++) {
      if (i === WARM) {
        before = await settle(sbc, 20_000);
        base = await sbc.api<Status>('/api/v1/status?gc=1');
        sent = 0;
      }
      const peer = i % 2 === 0 ? fromPbx : fromStranger;
      const port = i % 3 === 0 ? wanPort : lanPort;
      const c: Ctx = { src: peer === fromPbx ? PBX : STRANGER, srcPort: peer.port, dst: `127.0.0.1:${port}`, n: i, transport: 'UDP' };
      const mutate = MUTATIONS[Math.floor(rnd() * MUTATIONS.length)]!;
      await sendUdp(peer.sock, mutate(rnd, c), port);
      sent++;
      if (i % 300 === 0) {
        for (const b of bigDatagrams(c, rnd)) {
          await sendUdp(peer.sock, b, port);
          sent++;
        }
      }
      // Paced so that the kernel's receive buffer, not the SBC, is never the one dropping.
      if (i % 25 === 24) await sleep(3);
    }

    if (before === null || base === null) throw new Error('unreachable: no baseline');
    // --- TCP ----------------------------------------------------------------
    const tcpCtx = (src: string, port: number, n: number): Ctx => ({ src, srcPort: 5060, dst: `127.0.0.1:${port}`, n, transport: 'TCP' });
    const closing: Array<Promise<TcpResult>> = [];
    for (let i = 0; i < 6; i++) {
      const src = i % 2 === 0 ? PBX : STRANGER;
      const port = i % 2 === 0 ? lanPort : wanPort;
      const c = tcpCtx(src, port, 100_000 + i);
      // Garbage beyond the 64 KB buffer limit.
      closing.push(tcpSession(port, src, [randomBytes(rnd, 70_000)], 8000));
      // A message announcing more than the limit.
      closing.push(tcpSession(port, src, [Buffer.from(`${headers('INVITE', c).join('\r\n')}\r\nContent-Length: 100000\r\n\r\n`)], 8000));
      // No Content-Length on a stream, and a bad one.
      closing.push(tcpSession(port, src, [Buffer.from(`${headers('OPTIONS', c).join('\r\n')}\r\n\r\n`)], 8000));
      closing.push(tcpSession(port, src, [Buffer.from(`${headers('OPTIONS', c).join('\r\n')}\r\nContent-Length: -7\r\n\r\n`)], 8000));
      // A header section that never ends, past the limit.
      closing.push(tcpSession(port, src, [Buffer.from(`OPTIONS sip:x@${c.dst} SIP/2.0\r\nX-Long: ${'z'.repeat(70_000)}`)], 8000));
    }
    // Pipelined requests, a ping, then garbage: answers first, then the close.
    const pipelined: Array<Promise<TcpResult>> = [];
    for (let i = 0; i < 4; i++) {
      const src = i % 2 === 0 ? PBX : STRANGER;
      const port = i % 2 === 0 ? lanPort : wanPort;
      const msgs: Buffer[] = [];
      // OPTIONS to the SBC itself (no user part): answered by the SBC. OPTIONS to a user is relayed like a call.
      const toSbc = (h: string[]): string[] => [h[0]!.replace(/^OPTIONS sip:\d+@/, 'OPTIONS sip:'), ...h.slice(1)];
      for (let k = 0; k < 5; k++) msgs.push(Buffer.from(build(toSbc(headers('OPTIONS', tcpCtx(src, port, 200_000 + i * 10 + k))))));
      msgs.push(Buffer.from('\r\n\r\n'));
      for (let k = 0; k < 20; k++) msgs.push(MUTATIONS[Math.floor(rnd() * MUTATIONS.length)]!(rnd, tcpCtx(src, port, 210_000 + i * 100 + k)));
      msgs.push(randomBytes(rnd, 70_000));
      pipelined.push(tcpSession(port, src, msgs, 8000));
    }
    // Resets in the middle of a message.
    for (let i = 0; i < 10; i++) {
      const s = net.connect({ port: lanPort, host: '127.0.0.1', localAddress: STRANGER });
      s.on('error', () => undefined);
      s.on('connect', () => {
        s.write(`INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP ${STRANGER}`);
        setTimeout(() => s.resetAndDestroy(), 20);
      });
    }
    // Half-open connections held open: silent, half a start line, a body that never comes.
    // (The completion/first-message deadlines are raised above so that a slow run of the
    // steps before the status read, on a loaded machine, cannot close them first; the
    // deadlines have their own tests in security-probe.)
    const held: Array<Promise<TcpResult>> = [];
    for (let i = 0; i < 60; i++) {
      const src = i % 2 === 0 ? PBX : STRANGER;
      const port = i % 3 === 0 ? wanPort : lanPort;
      const chunks = i % 3 === 0 ? [] : i % 3 === 1
        ? [Buffer.from('OPTIONS sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP ')]
        : [Buffer.from(`${headers('INVITE', tcpCtx(src, port, 300_000 + i)).join('\r\n')}\r\nContent-Length: 60000\r\n\r\nv=0\r\n`)];
      held.push(tcpSession(port, src, chunks, 2500));
    }

    const closed = await Promise.all(closing);
    expect(closed.filter((r) => !r.closedByPeer).length, 'connections with unframeable data must be closed by the SBC').toBe(0);
    const pipes = await Promise.all(pipelined);
    for (const p of pipes) {
      expect(p.closedByPeer).toBe(true);
      // Five OPTIONS answered and the ping ponged before the garbage closed the stream.
      expect(p.received.split('SIP/2.0 ').length - 1).toBeGreaterThanOrEqual(5);
    }
    const heldOpen = await Promise.all(held);
    expect(heldOpen.filter((r) => r.closedByPeer).length, 'idle or incomplete connections stay until the idle timeout').toBe(0);

    // While those connections are still open: the API answers and a normal call completes.
    const mid = await sbc.api<Status>('/api/v1/status');
    expect(mid.transport.openConnections).toBeGreaterThanOrEqual(60);
    const call = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 3, rate: 10, timeoutMs: 20_000 });
    expect(call.failed, call.output).toBe(0);
    expect(call.successful).toBe(3);
    for (const h of heldOpen) h.socket.destroy();

    // --- afterwards ---------------------------------------------------------
    await settle(sbc, 30_000);
    const after = await sbc.api<Status>('/api/v1/status?gc=1');
    fromPbx.sock.close();
    fromStranger.sock.close();
    const t = after.transport;
    const d = (k: keyof Status['transport']): number => t[k] - base.transport[k];
    process.stdout.write(
      `security-flood: sent ${sent} datagrams; udpReceived +${d('udpReceived')} garbageDropped +${d('garbageDropped')} ` +
      `badRequestsAnswered +${d('badRequestsAnswered')} streamFramingErrors +${d('streamFramingErrors')} streamReceived +${d('streamReceived')}; ` +
      `responses to PBX ${JSON.stringify([...fromPbx.statuses])} to stranger ${JSON.stringify([...fromStranger.statuses])}; ` +
      `calls +${after.calls.totalCalls - before.calls.totalCalls}; rss ${base.memory.rss} -> ${after.memory.rss}, heap ${base.memory.heapUsed} -> ${after.memory.heapUsed}\n`,
    );
    if (after.calls.calls > 0) {
      const calls = await sbc.api<unknown>('/api/v1/calls');
      process.stdout.write(`LEFT CALLS ${JSON.stringify(calls, null, 1)}\n`);
      const ids = new Set(((calls as { calls?: Array<{ id: string }> }).calls ?? (calls as Array<{ id: string }>)).map((c) => c.id));
      for (const l of sbc.logs) if (typeof l['callId'] === 'string' && ids.has(l['callId'] as string)) process.stdout.write(JSON.stringify(l) + '\n');
    }
    expect(sbc.proc.exitCode).toBeNull();
    expect(d('udpReceived')).toBeGreaterThan(0);
    expect(d('garbageDropped')).toBeGreaterThan(0);
    expect(d('badRequestsAnswered')).toBeGreaterThan(0);
    expect(d('streamFramingErrors')).toBeGreaterThanOrEqual(closed.length);
    expect(fromPbx.nonSip + fromStranger.nonSip, 'the SBC only ever answers with SIP').toBe(0);
    expect(fromStranger.statuses.get(400) ?? 0).toBeGreaterThan(0);
    // No exception reached a socket handler or the transaction user's guard.
    expect(t.listenerErrors).toBe(0);
    expect(after.transactions.tuErrors).toBe(0);
    expect(errorLogs(sbc).map((l) => JSON.stringify(l)).join('\n')).toBe('');
    // Nothing left behind.
    expect(after.calls.calls).toBe(0);
    expect(after.calls.dialogs).toBe(0);
    expect(after.transactions.serverTransactions).toBe(0);
    expect(after.transactions.clientTransactions).toBe(0);
    expect(after.relay.sessions).toBe(0);
    expect(await waitFor(async () => (await sbc.api<Status>('/api/v1/status')).transport.openConnections === 0, 5000)).toBe(true);
    expect(after.memory.rss).toBeLessThan(2 * base.memory.rss);
    expect(after.memory.heapUsed).toBeLessThan(1.5 * base.memory.heapUsed);
  }, 90_000);

  it('ends the call when the caller\'s TCP connection is gone before the 2xx (no stuck "connected" call)', async () => {
    const before = await settle(sbc, 15_000);
    const c: Ctx = { src: PBX, srcPort: 5060, dst: `127.0.0.1:${lanPort}`, n: 900_000, transport: 'TCP' };
    const inv = Buffer.from(build(headers('INVITE', c, ['Content-Type: application/sdp']), SDP));
    // The INVITE, then bytes that make the SBC close the stream: the 2xx has nowhere to go.
    const r = await tcpSession(lanPort, PBX, [inv, randomBytes(prng(7), 70_000)], 8000);
    expect(r.closedByPeer).toBe(true);
    const after = await settle(sbc, 15_000);
    expect(after.calls.totalCalls).toBe(before.calls.totalCalls + 1);
    expect(after.calls.calls).toBe(0);
    expect(after.relay.sessions).toBe(0);
    expect(after.transactions.serverTransactions).toBe(0);
    expect(after.transactions.clientTransactions).toBe(0);
  }, 40_000);

  it('answers 2,000 INVITEs from an unclassified source with 403, creates no call and keeps no transaction', async () => {
    const flooder = await udpPeer(FLOODER);
    const before = await settle(sbc, 15_000);
    const N = 2000;
    const callIds: string[] = [];
    const invite = (i: number, port: number): string => {
      const c: Ctx = { src: FLOODER, srcPort: flooder.port, dst: `127.0.0.1:${port}`, n: 500_000 + i, transport: 'UDP' };
      return build(headers('INVITE', c, ['Content-Type: application/sdp']), SDP);
    };
    for (let i = 0; i < N; i++) {
      // Half to each interface: neither classifies 127.0.0.66.
      const port = i % 2 === 0 ? wanPort : lanPort;
      callIds.push(`fuzz-${500_000 + i}@${FLOODER}`);
      await sendUdp(flooder.sock, Buffer.from(invite(i, port)), port);
      if (i % 25 === 24) await sleep(3);
    }
    const answered = (): number => callIds.filter((id) => (flooder.byCallId.get(id) ?? []).some((s) => s >= 200)).length;
    await waitFor(async () => answered() === N, 20_000);
    expect(answered()).toBe(N);
    const finals = new Set<number>();
    for (const id of callIds) for (const s of flooder.byCallId.get(id) ?? []) if (s >= 200) finals.add(s);
    expect([...finals]).toEqual([403]);

    // ACK every other 403 (timer I ends those); the rest run into timer H.
    for (let i = 0; i < N; i += 2) {
      const id = callIds[i]!;
      const port = i % 2 === 0 ? wanPort : lanPort;
      const n = 500_000 + i;
      const ack = [
        `ACK sip:${100 + (n % 100)}@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${FLOODER}:${flooder.port};branch=z9hG4bKfz${n}x;rport`,
        'Max-Forwards: 70',
        `From: "Fuzz ${n}" <sip:fuzz@${FLOODER}>;tag=ft${n}`,
        flooder.toOfFinal.get(id)!,
        `Call-ID: ${id}`,
        `CSeq: ${n + 1} ACK`,
      ];
      await sendUdp(flooder.sock, Buffer.from(build(ack)), port);
      if (i % 50 === 48) await sleep(3);
    }

    const after = await settle(sbc, 25_000);
    flooder.sock.close();
    expect(sbc.proc.exitCode).toBeNull();
    expect(after.calls.totalCalls).toBe(before.calls.totalCalls);
    expect(after.calls.rejected - before.calls.rejected).toBe(N);
    expect(after.calls.calls).toBe(0);
    expect(after.transactions.serverTransactions).toBe(0);
    expect(after.transactions.clientTransactions).toBe(0);
    // Only the unACKed half ran into timer H.
    expect(after.transactions.ackTimeouts - before.transactions.ackTimeouts).toBe(N / 2);
    expect(after.relay.sessions).toBe(0);
    expect(after.transactions.tuErrors).toBe(0);
    expect(after.transport.listenerErrors).toBe(0);
  }, 60_000);
});

async function waitFor(pred: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}
