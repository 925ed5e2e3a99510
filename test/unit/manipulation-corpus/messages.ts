/**
 * Input messages of the manipulation corpus, as full SIP text, and the
 * helpers that derive an expected output from an input by exact textual
 * edits (each edit must match exactly once, so a typo fails loudly).
 */

const CRLF = '\r\n';

/** Builds message text with a Content-Length that states the body's real size. */
export function sip(head: string[], body = ''): string {
  const len = Buffer.byteLength(body, 'utf8');
  return [...head, `Content-Length: ${len}`].join(CRLF) + CRLF + CRLF + body;
}

/** Recomputes the Content-Length line after a body edit. */
export function fixLength(text: string): string {
  const sep = text.indexOf('\r\n\r\n');
  const head = text.slice(0, sep);
  const body = text.slice(sep + 4);
  const fixed = head.replace(/^Content-Length: \d+$/m, `Content-Length: ${Buffer.byteLength(body, 'utf8')}`);
  return fixed + '\r\n\r\n' + body;
}

/** Applies exact replacements; each `from` must occur exactly once. */
export function edit(text: string, ...pairs: [string, string][]): string {
  let out = text;
  for (const [from, to] of pairs) {
    const first = out.indexOf(from);
    if (first < 0) throw new Error(`corpus edit: '${from}' not found`);
    if (out.indexOf(from, first + 1) >= 0) throw new Error(`corpus edit: '${from}' is ambiguous`);
    out = out.slice(0, first) + to + out.slice(first + from.length);
  }
  return fixLength(out);
}

/** Appends a header line after the last one. */
export function append(text: string, ...lines: string[]): string {
  const sep = text.indexOf('\r\n\r\n');
  return fixLength(text.slice(0, sep) + lines.map((l) => CRLF + l).join('') + text.slice(sep));
}

export const SDP = [
  'v=0',
  'o=pbx 1 1 IN IP4 10.0.0.10',
  's=-',
  'c=IN IP4 10.0.0.10',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 18 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=sendrecv',
  '',
].join(CRLF);

/** An INVITE as a PBX sends it toward the SBC. */
export const INVITE = sip([
  'INVITE sip:+15551234567@sbc.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-pbx-1',
  'Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-ph-7',
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
  'X-Internal-Ext: 100',
  'Session-Expires: 1800;refresher=uac',
  'Content-Type: application/sdp',
], SDP);

/** The trunk's busy answer to that INVITE, on its way back to the PBX. */
export const BUSY_486 = sip([
  'SIP/2.0 486 Busy Here',
  'Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-pbx-1',
  'From: "Alice Smith" <sip:100@pbx.local>;tag=pbx-tag-1',
  'To: <sip:+15551234567@sbc.example.com>;tag=itsp-9',
  'Call-ID: call-1@10.0.0.10',
  'CSeq: 1 INVITE',
  'Server: ITSP-Core',
]);

export const OK_200_INVITE = sip([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-pbx-1',
  'From: "Alice Smith" <sip:100@pbx.local>;tag=pbx-tag-1',
  'To: <sip:+15551234567@sbc.example.com>;tag=itsp-9',
  'Call-ID: call-1@10.0.0.10',
  'CSeq: 1 INVITE',
  'Contact: <sip:+15551234567@203.0.113.5:5060>',
]);

export const REGISTER = sip([
  'REGISTER sip:pbx.local SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-reg-1',
  'Max-Forwards: 70',
  'From: <sip:200@pbx.local>;tag=reg-1',
  'To: <sip:200@pbx.local>',
  'Call-ID: reg-call-1',
  'CSeq: 5 REGISTER',
  'Contact: <sip:200@10.0.0.2:5062>;expires=7200',
]);

export const OK_200_REGISTER = sip([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-reg-1',
  'From: <sip:200@pbx.local>;tag=reg-1',
  'To: <sip:200@pbx.local>;tag=srv-4',
  'Call-ID: reg-call-1',
  'CSeq: 5 REGISTER',
  'Contact: <sip:200@10.0.0.2:5062>;expires=7200',
]);

export const INFO_DTMF = sip([
  'INFO sip:100@10.0.0.10:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-info-1',
  'Max-Forwards: 70',
  'From: <sip:+15551234567@itsp.example.com>;tag=itsp-9',
  'To: "Alice Smith" <sip:100@pbx.local>;tag=pbx-tag-1',
  'Call-ID: call-1@10.0.0.10',
  'CSeq: 2 INFO',
  'Content-Type: application/dtmf-relay',
], 'Signal=5\r\nDuration=100\r\n');
