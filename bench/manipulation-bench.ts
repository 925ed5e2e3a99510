/**
 * Cost of applying a 20-rule Message Manipulation set to a typical INVITE.
 * Run: npx tsx bench/manipulation-bench.ts [iterations]
 * Each iteration applies the set to a fresh clone of the parsed INVITE; the
 * cost of the clone alone is measured separately and subtracted.
 */
import { compileManipulations, type ManipulationContext, type ManipulationRowInput } from '../src/manipulation/index.js';
import { parseMessage } from '../src/sip/parser.js';
import type { SipMessage } from '../src/sip/message.js';

const SDP = [
  'v=0', 'o=pbx 1 1 IN IP4 10.0.0.10', 's=-', 'c=IN IP4 10.0.0.10', 't=0 0', 'm=audio 40000 RTP/AVP 0 18 101',
  'a=rtpmap:0 PCMU/8000', 'a=rtpmap:18 G729/8000', 'a=fmtp:18 annexb=no', 'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16', 'a=sendrecv', '',
].join('\r\n');

const INVITE = [
  'INVITE sip:+15551234567@sbc.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-pbx-1',
  'Max-Forwards: 70',
  'From: "Alice Smith" <sip:100@pbx.local>;tag=pbx-tag-1',
  'To: <sip:+15551234567@sbc.example.com>',
  'Call-ID: call-1@10.0.0.10',
  'CSeq: 1 INVITE',
  'Contact: <sip:100@10.0.0.10:5060;transport=udp>',
  'P-Asserted-Identity: "Main Line" <sip:+15557654321@pbx.local>',
  'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS',
  'Supported: timer, replaces',
  'User-Agent: PBX-Vendor/1.0',
  'X-PBX-Call-Ref: 8842',
  'Session-Expires: 1800;refresher=uac',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
].join('\r\n');

// A realistic PBX -> trunk outbound set: a mix of matching and non-matching rules.
const RULES: [string, string, string, string, string][] = [
  ['invite.request', '', 'header.request-uri.url.param.user', '0', "'phone'"],
  ['any.request', "param.ipg.src.name == 'PBX'", 'header.from.url.host', '2', 'param.ipg.dst.host'],
  ['any.request', '', 'header.to.url.host', '2', 'param.ipg.dst.host'],
  ['invite.request', 'header.p-asserted-identity exists', 'header.from.url.user', '2', 'header.p-asserted-identity.url.user'],
  ['', '', 'header.x-pbx-call-ref', '1', ''],
  ['', '', 'header.user-agent', '2', "'SBC/1.0'"],
  ['invite.request', String.raw`header.request-uri.url.user regex '^\+1(\d+)$'`, 'header.x-national', '0', '$1'],
  ['invite.request', 'header.diversion !exists', 'header.diversion', '0', "'<sip:100@pbx.local>;reason=unconditional'"],
  ['', "header.session-expires.param.refresher == 'uac'", 'header.session-expires.param.refresher', '2', "'uas'"],
  ['', "header.contact.url.param.transport == 'udp'", 'header.contact.url.param.transport', '1', ''],
  ['register.request', '', 'header.contact.param.expires', '2', "'600'"],
  ['invite.response.486', '', 'header.request-uri.methodtype', '2', "'603'"],
  ['', "header.max-forwards > '20'", 'header.max-forwards', '2', "'20'"],
  ['', "header.allow contains 'OPTIONS'", 'header.allow', '2', "'INVITE, ACK, CANCEL, BYE'"],
  ['', '', 'header.supported', '5', "', replaces'"],
  ['invite.request', "body.sdp contains 'G729'", 'header.x-codec', '0', "'g729'"],
  ['', "header.from.url.user len< '4' AND header.to exists", 'header.from.name', '3', "'Ext '"],
  ['bye.request', '', 'header.reason', '0', "'Q.850;cause=16'"],
  ['', "header.x-missing == 'a' OR header.y-missing exists", 'header.x-never', '0', "'1'"],
  ['', '', 'header.p-asserted-identity.url.host', '2', "'itsp.example.com'"],
];

const rows: ManipulationRowInput[] = RULES.map(([messageType, condition, actionSubject, actionType, actionValue], i) => ({
  index: i, manipulationName: `bench${i}`, manSetId: 1, messageType, condition, actionSubject, actionType, actionValue,
  rowRole: '0', line: i + 1, file: 'bench.ini',
}));

const compiled = compileManipulations(rows, []);
if (compiled.errors.length > 0) {
  console.error(compiled.errors);
  process.exit(1);
}
const parsed = parseMessage(Buffer.from(INVITE));
if (!parsed.ok) throw new Error(parsed.error);
const base: SipMessage = parsed.message;
const ctx: ManipulationContext = {
  callSrcUser: '100', callDstUser: '+15551234567',
  srcIpGroup: { name: 'PBX', id: 1, type: 'Server', host: 'pbx.local' },
  dstIpGroup: { name: 'ITSP', id: 2, type: 'Server', host: 'itsp.example.com' },
  messageSrcAddress: '10.0.0.10',
};

const iterations = Math.min(Math.max(Number(process.argv[2] ?? 20000) || 20000, 1000), 1_000_000);

function timeIt(fn: () => void, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / n; // µs per call
}

let applied = 0;
const run = (): void => { applied = compiled.sets.apply(1, base.clone(), ctx).rulesApplied; };
const cloneOnly = (): void => { base.clone(); };
timeIt(run, Math.min(2000, iterations)); // warm-up
timeIt(cloneOnly, Math.min(2000, iterations));
const total = timeIt(run, iterations);
const clone = timeIt(cloneOnly, iterations);
const perMessage = Math.max(total - clone, 0.001);
console.log(`rules in set: ${RULES.length}, rules that changed the INVITE: ${applied}, iterations: ${iterations}`);
console.log(`apply 20-rule set: ${perMessage.toFixed(2)} µs/message (${Math.round(1e6 / perMessage).toLocaleString('en-US')} messages/s on one core)`);
console.log(`(clone of the INVITE, excluded: ${clone.toFixed(2)} µs)`);
