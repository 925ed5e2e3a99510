/**
 * SIP parser micro-benchmark: messages per second for a typical INVITE with
 * SDP, a 200 OK and a BYE, parsed and with the hot headers read (what the
 * transaction layer does for every packet), and parse + serialize.
 *
 *   npx tsx bench/parser-bench.ts [--seconds N]
 *
 * Figures depend on the machine and on what else runs on it; compare runs
 * made on the same machine only.
 */
import { parseMessage, serializeMessage, type SipMessage } from '../src/sip/index.js';

const INVITE = [
  'INVITE sip:+4930123456@trunk.example.net:5060;user=phone SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7f1c3a9e2b4d;rport',
  'Max-Forwards: 70',
  'Contact: <sip:1001@192.0.2.10:5060;transport=udp>',
  'To: <sip:+4930123456@trunk.example.net>',
  'From: "Alice Example" <sip:1001@pbx.example.com>;tag=a73kszlfl',
  'Call-ID: 7f1c3a9e2b4d4f0a8c1e5d6b@192.0.2.10',
  'CSeq: 1 INVITE',
  'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE, UPDATE, PRACK',
  'Content-Type: application/sdp',
  'Supported: replaces, norefersub, extended-refer, timer, outbound, path, X-cisco-serviceuri',
  'User-Agent: Example PBX 16.0',
  'Allow-Events: presence, kpml, talk',
  'P-Asserted-Identity: "Alice Example" <sip:1001@pbx.example.com>',
  'Session-Expires: 1800;refresher=uac',
  'Min-SE: 90',
  'Content-Length: ',
  '',
  '',
].join('\r\n');

const SDP = [
  'v=0',
  'o=- 3912408872 3912408872 IN IP4 192.0.2.10',
  's=Example PBX',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 16384 RTP/AVP 0 8 9 18 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

const OK200 = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7f1c3a9e2b4d;rport=5060;received=192.0.2.10',
  'Record-Route: <sip:198.51.100.1;lr;ftag=a73kszlfl>',
  'Contact: <sip:+4930123456@198.51.100.20:5060>',
  'To: <sip:+4930123456@trunk.example.net>;tag=as6f2b1c7d',
  'From: "Alice Example" <sip:1001@pbx.example.com>;tag=a73kszlfl',
  'Call-ID: 7f1c3a9e2b4d4f0a8c1e5d6b@192.0.2.10',
  'CSeq: 1 INVITE',
  'Server: Example Carrier SBC',
  'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE',
  'Supported: replaces, timer',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const BYE = [
  'BYE sip:+4930123456@198.51.100.20:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---0c9e8d7a6b5c;rport',
  'Max-Forwards: 70',
  'Route: <sip:198.51.100.1;lr;ftag=a73kszlfl>',
  'To: <sip:+4930123456@trunk.example.net>;tag=as6f2b1c7d',
  'From: "Alice Example" <sip:1001@pbx.example.com>;tag=a73kszlfl',
  'Call-ID: 7f1c3a9e2b4d4f0a8c1e5d6b@192.0.2.10',
  'CSeq: 2 BYE',
  'User-Agent: Example PBX 16.0',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const cases: Array<{ name: string; bytes: Buffer }> = [
  { name: 'INVITE+SDP', bytes: Buffer.from(INVITE.replace('Content-Length: ', `Content-Length: ${SDP.length}`) + SDP) },
  { name: '200 OK', bytes: Buffer.from(OK200) },
  { name: 'BYE', bytes: Buffer.from(BYE) },
];

/** What the transport + transaction layer read on every message. */
function touchHotHeaders(m: SipMessage): number {
  const via = m.topVia;
  const cseq = m.cseq;
  let n = m.callId.length + (m.fromTag?.length ?? 0) + (m.toTag?.length ?? 0);
  if (via !== null) n += via.params.get('branch')?.length ?? 0;
  if (cseq !== null) n += cseq.seq;
  return n;
}

let sink = 0;

/**
 * Runs `body` in batches of 1000 for about `ms` of wall time and returns
 * messages per second of this process's CPU time: on a shared machine the
 * wall clock mostly measures the other jobs, CPU time measures us.
 */
function measure(body: () => void, ms: number): { cpuRate: number; wallRate: number } {
  let n = 0;
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = wall0 + ms;
  while (performance.now() < deadline) {
    for (let i = 0; i < 1000; i++) body();
    n += 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  return { cpuRate: (n * 1e6) / cpuUs, wallRate: (n * 1000) / (performance.now() - wall0) };
}

function parseOnce(bytes: Buffer): void {
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error(`benchmark message did not parse: ${r.error}`);
  sink += touchHotHeaders(r.message);
}

function roundTripOnce(bytes: Buffer): void {
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error(`benchmark message did not parse: ${r.error}`);
  sink += touchHotHeaders(r.message);
  sink += serializeMessage(r.message).length;
}

const secArg = process.argv.indexOf('--seconds');
const seconds = secArg > 0 ? Number(process.argv[secArg + 1]) : 1;
const ms = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;

// Warm up so the JIT has compiled the hot paths before measuring.
for (const c of cases) {
  measure(() => parseOnce(c.bytes), 200);
  measure(() => roundTripOnce(c.bytes), 200);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const rows: string[][] = [[
  'message', 'bytes', 'parse+hot msg/s', 'µs/msg', 'parse+serialize msg/s', 'µs/msg', 'wall msg/s (parse)',
]];
for (const c of cases) {
  const p = measure(() => parseOnce(c.bytes), ms);
  const rt = measure(() => roundTripOnce(c.bytes), ms);
  rows.push([c.name, String(c.bytes.length), fmt(p.cpuRate), (1e6 / p.cpuRate).toFixed(2),
    fmt(rt.cpuRate), (1e6 / rt.cpuRate).toFixed(2), fmt(p.wallRate)]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(`Node ${process.version}; rates per CPU-second of this process, one core`);
for (const [ri, r] of rows.entries()) {
  console.log('| ' + r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ') + ' |');
  if (ri === 0) console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
}
if (sink === 42) console.log('');
