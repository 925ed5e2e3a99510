/**
 * SIP message corpus for the parser tests: valid-but-strange and invalid
 * messages, in the spirit of RFC 4475 but written for this project. Each
 * case states its expected outcome: `ok` with the fields the parser must
 * find, or the exact error string (and whether a partial message must come
 * back so that a 400 can be sent).
 *
 * `lines` are joined with CRLF and end with the blank line; `raw` is used
 * as is (for bare LF, missing blank lines, binary bodies).
 */

export interface ExpectedVia {
  transport?: string;
  host: string;
  port: number | null;
  branch: string | null;
  /** undefined: not checked; null: flag without value; string: value; false: absent. */
  rport?: string | null | false;
  received?: string | false;
}

export interface ExpectOk {
  ok: true;
  method: string;
  /** Request-URI for requests. */
  uri?: string;
  status?: number;
  reason?: string;
  callId: string;
  cseq: { seq: number; method: string };
  fromTag: string | null;
  toTag: string | null;
  via: ExpectedVia;
  /** Header lines stored (after folding joins). */
  headerLines: number;
  bodyLength: number;
  /** Extra checks: number of values per header (getHeaderValues(name).length). */
  valueCounts?: Record<string, number>;
  /** Extra checks: exact getHeader(name) values. */
  headerValues?: Record<string, string>;
}

export interface ExpectError {
  ok: false;
  error: string;
  /** Whether a partial message must be returned (true for requests readable enough to answer). */
  partial: boolean;
}

export interface CorpusCase {
  name: string;
  lines?: string[];
  body?: string | Buffer;
  raw?: Buffer;
  expect: ExpectOk | ExpectError;
  /** Part of the round-trip set: written canonically, must serialize byte for byte. */
  canonical?: boolean;
}

export function caseBytes(c: CorpusCase): Buffer {
  if (c.raw !== undefined) return c.raw;
  const head = Buffer.from((c.lines ?? []).join('\r\n') + '\r\n\r\n', 'utf8');
  if (c.body === undefined) return head;
  return Buffer.concat([head, typeof c.body === 'string' ? Buffer.from(c.body, 'utf8') : c.body]);
}

const SDP =
  'v=0\r\no=bob 2890844527 2890844527 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n' +
  't=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n';

/** A valid BYE's mandatory headers, for cases that vary one thing. */
function bye(extra: string[], skip: string[] = [], method = 'BYE'): string[] {
  const base: Array<[string, string]> = [
    ['via', 'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.byeFixture1'],
    ['max-forwards', 'Max-Forwards: 70'],
    ['from', 'From: <sip:carol@chicago.example.com>;tag=8321234356'],
    ['to', 'To: <sip:dave@denver.example.org>;tag=9fxced76sl'],
    ['call-id', 'Call-ID: 3848276298220188511@atlanta.example.com'],
    ['cseq', `CSeq: 31862 ${method}`],
  ];
  const lines = [`${method} sip:dave@denver.example.org SIP/2.0`];
  for (const [k, l] of base) if (!skip.includes(k)) lines.push(l);
  return [...lines, ...extra, 'Content-Length: 0'];
}

const BYE_OK = (headerLines: number, more: Partial<ExpectOk> = {}): ExpectOk => ({
  ok: true, method: 'BYE', uri: 'sip:dave@denver.example.org', callId: '3848276298220188511@atlanta.example.com',
  cseq: { seq: 31862, method: 'BYE' }, fromTag: '8321234356', toTag: '9fxced76sl',
  via: { transport: 'UDP', host: '203.0.113.5', port: 5060, branch: 'z9hG4bK.byeFixture1' },
  headerLines, bodyLength: 0, ...more,
});

const err = (error: string, partial: boolean): ExpectError => ({ ok: false, error, partial });

const binaryBody = Buffer.alloc(256);
for (let i = 0; i < 256; i++) binaryBody[i] = (i * 7 + 3) & 0xff;

const manyHeaders: string[] = [];
for (let i = 0; i < 200; i++) manyHeaders.push(`X-Filler-${i}: value number ${i}`);
const tooManyHeaders: string[] = [];
for (let i = 0; i < 300; i++) tooManyHeaders.push(`X-Filler-${i}: value number ${i}`);

export const CORPUS: CorpusCase[] = [
  // ---------------------------------------------------------------- valid
  {
    name: 'canonical INVITE with SDP',
    canonical: true,
    lines: [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport',
      'Max-Forwards: 70',
      'To: Bob <sip:bob@biloxi.example.com>',
      'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Contact: <sip:alice@pc33.atlanta.example.com>',
      'Content-Type: application/sdp',
      `Content-Length: ${SDP.length}`,
    ],
    body: SDP,
    expect: {
      ok: true, method: 'INVITE', uri: 'sip:bob@biloxi.example.com', callId: 'a84b4c76e66710@pc33.atlanta.example.com',
      cseq: { seq: 314159, method: 'INVITE' }, fromTag: '1928301774', toTag: null,
      via: { transport: 'UDP', host: 'pc33.atlanta.example.com', port: 5060, branch: 'z9hG4bK776asdhds', rport: null, received: false },
      headerLines: 9, bodyLength: SDP.length,
    },
  },
  {
    name: 'canonical 200 OK with received and rport on the Via',
    canonical: true,
    lines: [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5071;received=192.0.2.101',
      'To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
      'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Contact: <sip:bob@192.0.2.4>',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', status: 200, reason: 'OK', callId: 'a84b4c76e66710@pc33.atlanta.example.com',
      cseq: { seq: 314159, method: 'INVITE' }, fromTag: '1928301774', toTag: 'a6c85cf',
      via: { transport: 'UDP', host: 'pc33.atlanta.example.com', port: 5060, branch: 'z9hG4bK776asdhds', rport: '5071', received: '192.0.2.101' },
      headerLines: 7, bodyLength: 0,
    },
  },
  {
    name: 'canonical BYE',
    canonical: true,
    lines: bye([]),
    expect: BYE_OK(7),
  },
  {
    name: 'canonical REGISTER with several Contacts and Expires',
    canonical: true,
    lines: [
      'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/TCP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7',
      'Max-Forwards: 70',
      'To: Bob <sip:bob@biloxi.example.com>',
      'From: Bob <sip:bob@biloxi.example.com>;tag=456248',
      'Call-ID: 843817637684230@998sdasdh09',
      'CSeq: 1826 REGISTER',
      'Contact: <sip:bob@192.0.2.4>;expires=3600, <sip:bob@192.0.2.5>;q=0.5',
      'Contact: <sip:bob@198.51.100.9;transport=tcp>',
      'Expires: 7200',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'REGISTER', uri: 'sip:registrar.biloxi.example.com', callId: '843817637684230@998sdasdh09',
      cseq: { seq: 1826, method: 'REGISTER' }, fromTag: '456248', toTag: null,
      via: { transport: 'TCP', host: 'bobspc.biloxi.example.com', port: 5060, branch: 'z9hG4bKnashds7' },
      headerLines: 10, bodyLength: 0, valueCounts: { contact: 3, m: 3 },
    },
  },
  {
    name: 'canonical 401 with a challenge whose commas are not list separators',
    canonical: true,
    lines: [
      'SIP/2.0 401 Unauthorized',
      'Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-reg-2;received=192.0.2.20;rport=5060',
      'From: <sip:1001@pbx.example.com>;tag=reg77',
      'To: <sip:1001@pbx.example.com>;tag=srv88',
      'Call-ID: reg-call-1',
      'CSeq: 2 REGISTER',
      'WWW-Authenticate: Digest realm="pbx.example.com", nonce="abc,def", qop="auth,auth-int", algorithm=MD5',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'REGISTER', status: 401, reason: 'Unauthorized', callId: 'reg-call-1',
      cseq: { seq: 2, method: 'REGISTER' }, fromTag: 'reg77', toTag: 'srv88',
      via: { host: '192.0.2.20', port: 5060, branch: 'z9hG4bK-reg-2', rport: '5060', received: '192.0.2.20' },
      headerLines: 7, bodyLength: 0, valueCounts: { 'www-authenticate': 1 },
    },
  },
  {
    name: 'compact header forms v f t i m l c k s',
    lines: [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      'v: SIP/2.0/UDP 192.0.2.33;branch=z9hG4bKcompact1',
      'f: "A" <sip:a@atlanta.example.com>;tag=cmp1',
      't: sip:bob@biloxi.example.com',
      'i: compact-call-id@192.0.2.33',
      'CSeq: 1 INVITE',
      'm: <sip:a@192.0.2.33>',
      'k: 100rel, timer',
      's: compact forms',
      'c: application/sdp',
      `l: ${SDP.length}`,
    ],
    body: SDP,
    expect: {
      ok: true, method: 'INVITE', uri: 'sip:bob@biloxi.example.com', callId: 'compact-call-id@192.0.2.33',
      cseq: { seq: 1, method: 'INVITE' }, fromTag: 'cmp1', toTag: null,
      via: { host: '192.0.2.33', port: null, branch: 'z9hG4bKcompact1' },
      headerLines: 10, bodyLength: SDP.length,
      valueCounts: { supported: 2, contact: 1 },
      headerValues: { subject: 'compact forms', 'Content-Type': 'application/sdp' },
    },
  },
  {
    name: 'header names in odd letter case',
    lines: [
      'OPTIONS sip:gw.example.net SIP/2.0',
      'VIA: SIP/2.0/UDP 192.0.2.40:5062;branch=z9hG4bKcase1',
      'fRoM: <sip:ping@192.0.2.40>;tag=case',
      'TO: <sip:gw.example.net>',
      'cAlL-iD: MixedCase@192.0.2.40',
      'CSEQ: 7 OPTIONS',
      'max-FORWARDS: 0',
      'CONTENT-length: 0',
    ],
    expect: {
      ok: true, method: 'OPTIONS', uri: 'sip:gw.example.net', callId: 'MixedCase@192.0.2.40',
      cseq: { seq: 7, method: 'OPTIONS' }, fromTag: 'case', toTag: null,
      via: { host: '192.0.2.40', port: 5062, branch: 'z9hG4bKcase1' }, headerLines: 7, bodyLength: 0,
    },
  },
  {
    name: 'whitespace around colons, tabs and trailing blanks',
    lines: [
      'INFO sip:bob@192.0.2.4 SIP/2.0',
      'Via   :    SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKws1   ',
      'From\t:\t<sip:a@192.0.2.50>;tag=ws1',
      'To:<sip:bob@192.0.2.4>;tag=ws2',
      'Call-ID :ws-call   ',
      'CSeq:    12      INFO',
      'Content-Length  :  0',
    ],
    expect: {
      ok: true, method: 'INFO', uri: 'sip:bob@192.0.2.4', callId: 'ws-call', cseq: { seq: 12, method: 'INFO' },
      fromTag: 'ws1', toTag: 'ws2', via: { host: '192.0.2.50', port: 5060, branch: 'z9hG4bKws1' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'LWS around the slashes and parameters of a Via',
    lines: [
      'BYE sip:dave@denver.example.org SIP/2.0',
      'Via: SIP / 2.0 / UDP   203.0.113.5 : 5060 ; branch = z9hG4bK.byeFixture1 ; rport',
      ...bye([], ['via']).slice(1),
    ],
    expect: BYE_OK(7, { via: { transport: 'UDP', host: '203.0.113.5', port: 5060, branch: 'z9hG4bK.byeFixture1', rport: null } }),
  },
  {
    name: 'folded header lines',
    lines: [
      'MESSAGE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.60:5060',
      ' ;branch=z9hG4bKfold1',
      'From: <sip:a@atlanta.example.com>',
      '\t;tag=fold-from',
      'To: <sip:bob@biloxi.example.com>',
      'Call-ID: fold-call',
      'CSeq: 5 MESSAGE',
      'Subject: a subject',
      '   that goes on',
      '\t  and on',
      'Content-Type: text/plain',
      'Content-Length: 5',
    ],
    body: 'hello',
    expect: {
      ok: true, method: 'MESSAGE', uri: 'sip:bob@biloxi.example.com', callId: 'fold-call', cseq: { seq: 5, method: 'MESSAGE' },
      fromTag: 'fold-from', toTag: null, via: { host: '192.0.2.60', port: 5060, branch: 'z9hG4bKfold1' },
      headerLines: 8, bodyLength: 5, headerValues: { subject: 'a subject that goes on and on' },
    },
  },
  {
    name: 'several Via values in one line and across lines',
    lines: [
      'SIP/2.0 180 Ringing',
      'Via: SIP/2.0/UDP proxy1.example.com;branch=z9hG4bKp1, SIP/2.0/TCP proxy2.example.com:5070;branch=z9hG4bKp2',
      'Via: SIP/2.0/UDP 192.0.2.70:5060;branch=z9hG4bKuac;received=192.0.2.71',
      'v: SIP/2.0/TLS [2001:db8::70]:5061;branch=z9hG4bKfour',
      'From: <sip:a@atlanta.example.com>;tag=multi1',
      'To: <sip:b@biloxi.example.com>;tag=multi2',
      'Call-ID: multi-via',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', status: 180, reason: 'Ringing', callId: 'multi-via', cseq: { seq: 1, method: 'INVITE' },
      fromTag: 'multi1', toTag: 'multi2', via: { transport: 'UDP', host: 'proxy1.example.com', port: null, branch: 'z9hG4bKp1' },
      headerLines: 8, bodyLength: 0, valueCounts: { via: 4 },
    },
  },
  {
    name: 'IPv6 references in Request-URI, Via and Contact',
    lines: [
      'INVITE sip:bob@[2001:db8::10]:5070;transport=udp SIP/2.0',
      'Via: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKv6;received=2001:db8::99;rport=5061',
      'From: <sip:alice@[2001:db8::9]>;tag=v6from',
      'To: <sip:bob@[2001:db8::10]:5070>',
      'Call-ID: v6@2001:db8::9',
      'CSeq: 1 INVITE',
      'Contact: <sip:alice@[2001:db8::9]:5060;transport=udp>',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', uri: 'sip:bob@[2001:db8::10]:5070;transport=udp', callId: 'v6@2001:db8::9',
      cseq: { seq: 1, method: 'INVITE' }, fromTag: 'v6from', toTag: null,
      via: { host: '[2001:db8::9]', port: 5060, branch: 'z9hG4bKv6', rport: '5061', received: '2001:db8::99' },
      headerLines: 7, bodyLength: 0,
    },
  },
  {
    name: 'tel: Request-URI and tel: To',
    lines: [
      'INVITE tel:+1-201-555-0123;phone-context=example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.80:5060;branch=z9hG4bKtel',
      'From: <sip:a@atlanta.example.com>;tag=tel1',
      'To: <tel:+1-201-555-0123>',
      'Call-ID: tel-call',
      'CSeq: 9 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', uri: 'tel:+1-201-555-0123;phone-context=example.com', callId: 'tel-call',
      cseq: { seq: 9, method: 'INVITE' }, fromTag: 'tel1', toTag: null,
      via: { host: '192.0.2.80', port: 5060, branch: 'z9hG4bKtel' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'unknown URI scheme in Request-URI and To (the parser accepts it, routing answers 416)',
    lines: [
      'OPTIONS urn:service:sos SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.81;branch=z9hG4bKurn',
      'From: <sip:a@atlanta.example.com>;tag=urn1',
      'To: <urn:service:sos>',
      'Call-ID: urn-call',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'OPTIONS', uri: 'urn:service:sos', callId: 'urn-call', cseq: { seq: 1, method: 'OPTIONS' },
      fromTag: 'urn1', toTag: null, via: { host: '192.0.2.81', port: null, branch: 'z9hG4bKurn' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'escaped characters in URIs and quoted display names',
    lines: [
      'INVITE sip:%61lice%20smith@atlanta.example.com;x-param=a%3Bb SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.82:5060;branch=z9hG4bKesc',
      'From: "Bob \\"the builder\\" \\\\ Jr." <sip:bob%40home@biloxi.example.com>;tag=esc1',
      'To: "<alice>, \\"the\\" one;" <sip:%61lice%20smith@atlanta.example.com>',
      'Call-ID: esc-call',
      'CSeq: 3 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', uri: 'sip:%61lice%20smith@atlanta.example.com;x-param=a%3Bb', callId: 'esc-call',
      cseq: { seq: 3, method: 'INVITE' }, fromTag: 'esc1', toTag: null,
      via: { host: '192.0.2.82', port: 5060, branch: 'z9hG4bKesc' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'Contact list with commas inside quotes and angle brackets, plus a quoted instance id',
    lines: bye([
      'Contact: "Smith, John" <sip:j@192.0.2.90;foo=a,b>, <sip:k@192.0.2.91>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
    ]),
    expect: BYE_OK(8, { valueCounts: { contact: 2 } }),
  },
  {
    name: 'Content-Length smaller than the datagram: extra bytes are dropped',
    lines: bye([], [], 'BYE').slice(0, -1).concat(['Content-Length: 4']),
    body: 'abcdEXTRA-BYTES',
    expect: BYE_OK(7, { bodyLength: 4 }),
  },
  {
    name: 'no Content-Length on a datagram: the body is the rest of the packet',
    lines: bye([]).slice(0, -1).concat(['Content-Type: text/plain']),
    body: 'twelve bytes',
    expect: BYE_OK(7, { bodyLength: 12 }),
  },
  {
    name: 'bare LF line ends',
    raw: Buffer.from(bye(['Subject: lf only']).join('\n') + '\n\n'),
    expect: BYE_OK(8, { headerValues: { subject: 'lf only' } }),
  },
  {
    name: 'mixed CRLF and bare LF line ends',
    raw: Buffer.from(bye([]).slice(0, 4).join('\r\n') + '\n' + bye([]).slice(4).join('\n') + '\r\n\n'),
    expect: BYE_OK(7),
  },
  {
    name: 'leading CRLFs before the start line',
    raw: Buffer.from('\r\n\r\n\r\n' + bye([]).join('\r\n') + '\r\n\r\n'),
    expect: BYE_OK(7),
  },
  {
    name: 'binary body bytes',
    lines: [
      'MESSAGE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.83:5060;branch=z9hG4bKbin',
      'From: <sip:a@atlanta.example.com>;tag=bin1',
      'To: <sip:bob@biloxi.example.com>',
      'Call-ID: bin-call',
      'CSeq: 1 MESSAGE',
      'Content-Type: application/octet-stream',
      'Content-Length: 256',
    ],
    body: binaryBody,
    expect: {
      ok: true, method: 'MESSAGE', uri: 'sip:bob@biloxi.example.com', callId: 'bin-call', cseq: { seq: 1, method: 'MESSAGE' },
      fromTag: 'bin1', toTag: null, via: { host: '192.0.2.83', port: 5060, branch: 'z9hG4bKbin' }, headerLines: 7, bodyLength: 256,
    },
  },
  {
    name: 'two hundred unknown headers (within the limit)',
    lines: bye(manyHeaders),
    expect: BYE_OK(207, { headerValues: { 'x-filler-199': 'value number 199' } }),
  },
  {
    name: 'long values: 6000-character header and 300-character Call-ID',
    lines: [
      'BYE sip:dave@denver.example.org SIP/2.0',
      'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.byeFixture1',
      'From: <sip:carol@chicago.example.com>;tag=8321234356',
      'To: <sip:dave@denver.example.org>;tag=9fxced76sl',
      `Call-ID: ${'c'.repeat(300)}@long`,
      'CSeq: 31862 BYE',
      `X-Long: ${'0123456789'.repeat(600)}`,
      'Content-Length: 0',
    ],
    expect: BYE_OK(7, { callId: `${'c'.repeat(300)}@long` }),
  },
  {
    name: 'unknown headers with every token character in the name',
    lines: bye(["X-A.b!c%d*e_f+g`h'i~j: strange but legal", 'P-Unknown-Thing: a, b, c']),
    expect: BYE_OK(9, { headerValues: { "x-a.b!c%d*e_f+g`h'i~j": 'strange but legal' }, valueCounts: { 'p-unknown-thing': 1 } }),
  },
  {
    name: 'addr-spec From/To without angle brackets',
    lines: [
      'NOTIFY sip:a@192.0.2.84 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.85:5060;branch=z9hG4bKaddr',
      'From: sip:server@biloxi.example.com;tag=88sja8x',
      'To: sip:a@atlanta.example.com;tag=zzz',
      'Call-ID: addrspec',
      'CSeq: 2 NOTIFY',
      'Event: presence',
      'Subscription-State: active;expires=600',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'NOTIFY', uri: 'sip:a@192.0.2.84', callId: 'addrspec', cseq: { seq: 2, method: 'NOTIFY' },
      fromTag: '88sja8x', toTag: 'zzz', via: { host: '192.0.2.85', port: 5060, branch: 'z9hG4bKaddr' }, headerLines: 8, bodyLength: 0,
    },
  },
  {
    name: 'tag parameter name in upper case and spaces around ; and =',
    lines: [
      'BYE sip:dave@denver.example.org SIP/2.0',
      'Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.byeFixture1',
      'From: <sip:carol@chicago.example.com> ; TAG = 8321234356',
      'To: <sip:dave@denver.example.org>;Tag=9fxced76sl',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 31862 BYE',
      'Content-Length: 0',
    ],
    expect: BYE_OK(6),
  },
  {
    name: 'Via with many parameters and a TCP transport without port',
    lines: [
      'SUBSCRIBE sip:presentity@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/TCP client.atlanta.example.com;maddr=239.255.255.1;ttl=15;received=192.0.2.86;rport;branch=z9hG4bKparams;x-custom',
      'From: <sip:a@atlanta.example.com>;tag=sub1',
      'To: <sip:presentity@biloxi.example.com>',
      'Call-ID: sub-call',
      'CSeq: 1 SUBSCRIBE',
      'Event: presence',
      'Expires: 3600',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'SUBSCRIBE', uri: 'sip:presentity@biloxi.example.com', callId: 'sub-call', cseq: { seq: 1, method: 'SUBSCRIBE' },
      fromTag: 'sub1', toTag: null,
      via: { transport: 'TCP', host: 'client.atlanta.example.com', port: null, branch: 'z9hG4bKparams', rport: null, received: '192.0.2.86' },
      headerLines: 8, bodyLength: 0,
    },
  },
  {
    name: 'largest CSeq number (2^32 - 1)',
    lines: bye([], ['cseq']).slice(0, -1).concat(['CSeq: 4294967295 BYE', 'Content-Length: 0']),
    expect: BYE_OK(7, { cseq: { seq: 4294967295, method: 'BYE' } }),
  },
  {
    name: 'status line without reason phrase',
    lines: [
      'SIP/2.0 100',
      'Via: SIP/2.0/UDP 192.0.2.87:5060;branch=z9hG4bKnoreason',
      'From: <sip:a@atlanta.example.com>;tag=nr1',
      'To: <sip:b@biloxi.example.com>',
      'Call-ID: noreason',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', status: 100, reason: '', callId: 'noreason', cseq: { seq: 1, method: 'INVITE' },
      fromTag: 'nr1', toTag: null, via: { host: '192.0.2.87', port: 5060, branch: 'z9hG4bKnoreason' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'UTF-8 reason phrase and display name',
    lines: [
      'SIP/2.0 486 Besetzt – bitte später',
      'Via: SIP/2.0/UDP 192.0.2.88:5060;branch=z9hG4bKutf',
      'From: "Jörg Müller" <sip:joerg@example.de>;tag=utf1',
      'To: "Zoë" <sip:zoe@example.fr>;tag=utf2',
      'Call-ID: utf8-call',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', status: 486, reason: 'Besetzt – bitte später', callId: 'utf8-call', cseq: { seq: 1, method: 'INVITE' },
      fromTag: 'utf1', toTag: 'utf2', via: { host: '192.0.2.88', port: 5060, branch: 'z9hG4bKutf' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'empty header value',
    lines: bye(['Subject:', 'X-Empty:    ']),
    expect: BYE_OK(9, { headerValues: { subject: '', 'x-empty': '' } }),
  },
  {
    name: 'extension method with matching CSeq',
    lines: bye([], [], 'FROBNICATE'),
    expect: BYE_OK(7, { method: 'FROBNICATE', cseq: { seq: 31862, method: 'FROBNICATE' } }),
  },
  {
    name: 'lower-case method is a different (extension) method',
    lines: bye([], [], 'bye'),
    expect: BYE_OK(7, { method: 'bye', cseq: { seq: 31862, method: 'bye' } }),
  },
  {
    name: 'Max-Forwards 0',
    lines: bye(['Max-Forwards: 0'], ['max-forwards']),
    expect: BYE_OK(7, { headerValues: { 'max-forwards': '0' } }),
  },
  {
    name: 'Route and Record-Route lists over several lines',
    lines: bye([
      'Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>',
      'Route: <sip:[2001:db8::1]:5080;lr;transport=tcp>',
      'Record-Route: <sip:p3.example.com;lr>, <sip:p4.example.com;lr>',
    ]),
    expect: BYE_OK(10, { valueCounts: { route: 3, 'record-route': 2 } }),
  },
  {
    name: 'REGISTER removing all bindings with Contact: *',
    lines: [
      'REGISTER sip:registrar.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.89:5060;branch=z9hG4bKstar',
      'From: <sip:u@example.com>;tag=star1',
      'To: <sip:u@example.com>',
      'Call-ID: star-call',
      'CSeq: 10 REGISTER',
      'Contact: *',
      'Expires: 0',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'REGISTER', uri: 'sip:registrar.example.com', callId: 'star-call', cseq: { seq: 10, method: 'REGISTER' },
      fromTag: 'star1', toTag: null, via: { host: '192.0.2.89', port: 5060, branch: 'z9hG4bKstar' }, headerLines: 8, bodyLength: 0,
      valueCounts: { contact: 1 }, headerValues: { contact: '*' },
    },
  },
  {
    name: 'REFER with a Refer-To carrying escaped URI headers',
    lines: bye(['Refer-To: <sip:carol@chicago.example.com?Replaces=12345%40192.0.2.1%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>', 'Referred-By: <sip:dave@denver.example.org>'], [], 'REFER'),
    expect: BYE_OK(9, { method: 'REFER', cseq: { seq: 31862, method: 'REFER' } }),
  },
  {
    name: 'RFC 2543 style branch without magic cookie',
    lines: bye(['Via: SIP/2.0/UDP 203.0.113.5:5060;branch=1'], ['via']),
    expect: BYE_OK(7, { via: { host: '203.0.113.5', port: 5060, branch: '1' } }),
  },
  {
    name: 'Via without branch at all (RFC 2543 client)',
    lines: bye(['Via: SIP/2.0/UDP old.example.com'], ['via']),
    expect: BYE_OK(7, { via: { host: 'old.example.com', port: null, branch: null } }),
  },
  {
    name: 'Content-Length 0 with stray bytes after the blank line',
    lines: bye([]),
    body: '\r\n\r\n',
    expect: BYE_OK(7),
  },
  {
    name: 'sips Request-URI over TLS',
    lines: [
      'INVITE sips:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/TLS 192.0.2.91:5061;branch=z9hG4bKsips',
      'From: <sips:a@atlanta.example.com>;tag=sips1',
      'To: <sips:bob@biloxi.example.com>',
      'Call-ID: sips-call',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', uri: 'sips:bob@biloxi.example.com', callId: 'sips-call', cseq: { seq: 1, method: 'INVITE' },
      fromTag: 'sips1', toTag: null, via: { transport: 'TLS', host: '192.0.2.91', port: 5061, branch: 'z9hG4bKsips' }, headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'status code 699 with a long reason',
    lines: [
      'SIP/2.0 699 Something Nobody Defined Yet But Still A Valid Global Failure',
      'Via: SIP/2.0/UDP 192.0.2.92:5060;branch=z9hG4bK699',
      'From: <sip:a@atlanta.example.com>;tag=699a',
      'To: <sip:b@biloxi.example.com>;tag=699b',
      'Call-ID: six-nine-nine',
      'CSeq: 4 INVITE',
      'Content-Length: 0',
    ],
    expect: {
      ok: true, method: 'INVITE', status: 699, reason: 'Something Nobody Defined Yet But Still A Valid Global Failure', callId: 'six-nine-nine',
      cseq: { seq: 4, method: 'INVITE' }, fromTag: '699a', toTag: '699b', via: { host: '192.0.2.92', port: 5060, branch: 'z9hG4bK699' },
      headerLines: 6, bodyLength: 0,
    },
  },
  {
    name: 'extra spaces around the Request-URI',
    raw: Buffer.from(['BYE   sip:dave@denver.example.org   SIP/2.0', ...bye([]).slice(1)].join('\r\n') + '\r\n\r\n'),
    expect: BYE_OK(7),
  },
  {
    name: 'Content-Length given twice with the same value',
    lines: bye(['l: 0']),
    expect: BYE_OK(8),
  },
  {
    name: 'password, port and URI headers in a Contact',
    lines: bye(['Contact: <sip:user:secret@192.0.2.93:5090;transport=tcp?Subject=hi&Priority=urgent>']),
    expect: BYE_OK(8, { valueCounts: { contact: 1 } }),
  },
  {
    name: 'Authorization header with commas stays one value',
    lines: bye(['Authorization: Digest username="carol", realm="example.com", nonce="n,1", uri="sip:dave@denver.example.org", response="0123456789abcdef0123456789abcdef"']),
    expect: BYE_OK(8, { valueCounts: { authorization: 1 } }),
  },

  // -------------------------------------------------------------- invalid
  { name: 'missing Call-ID', lines: bye([], ['call-id']), expect: err('Missing Call-ID', true) },
  { name: 'empty Call-ID', lines: bye(['Call-ID:'], ['call-id']), expect: err('Missing Call-ID', true) },
  { name: 'missing From', lines: bye([], ['from']), expect: err('Missing From', true) },
  { name: 'missing To', lines: bye([], ['to']), expect: err('Missing To', true) },
  { name: 'missing CSeq', lines: bye([], ['cseq']), expect: err('Missing CSeq', true) },
  { name: 'missing Via', lines: bye([], ['via']), expect: err('Missing Via', true) },
  {
    name: 'response without CSeq',
    lines: ['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr', 'From: <sip:a@b>;tag=1', 'To: <sip:c@d>;tag=2', 'Call-ID: r', 'Content-Length: 0'],
    expect: err('Missing CSeq', true),
  },
  { name: 'two Call-ID headers', lines: bye(['Call-ID: another-one']), expect: err('Multiple Call-ID', true) },
  { name: 'two From headers', lines: bye(['From: <sip:x@y>;tag=2']), expect: err('Multiple From', true) },
  { name: 'two To headers', lines: bye(['t: <sip:x@y>']), expect: err('Multiple To', true) },
  { name: 'two CSeq headers', lines: bye(['CSeq: 2 BYE']), expect: err('Multiple CSeq', true) },
  { name: 'request line with two parts', raw: Buffer.from('INVITE sip:bob@biloxi.example.com\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n'), expect: err('Bad Request Line', false) },
  { name: 'garbage start line', raw: Buffer.from('hello world\r\n\r\n'), expect: err('Bad Request Line', false) },
  { name: 'HTTP request', raw: Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'), expect: err('Bad Request Line', false) },
  { name: 'request with SIP/3.0', lines: ['BYE sip:dave@denver.example.org SIP/3.0', ...bye([]).slice(1)], expect: err('Unsupported SIP Version', true) },
  { name: 'request with SIP/2.00', lines: ['BYE sip:dave@denver.example.org SIP/2.00', ...bye([]).slice(1)], expect: err('Unsupported SIP Version', true) },
  { name: 'response with SIP/3.0', lines: ['SIP/3.0 200 OK', ...bye([]).slice(1)], expect: err('Unsupported SIP Version', false) },
  { name: 'two-digit status code', lines: ['SIP/2.0 20 OK', ...bye([]).slice(1)], expect: err('Bad Status Code', false) },
  { name: 'four-digit status code', lines: ['SIP/2.0 2000 OK', ...bye([]).slice(1)], expect: err('Bad Status Code', false) },
  { name: 'status code 099', lines: ['SIP/2.0 099 Early', ...bye([]).slice(1)], expect: err('Bad Status Code', false) },
  { name: 'status code 700', lines: ['SIP/2.0 700 Beyond', ...bye([]).slice(1)], expect: err('Bad Status Code', false) },
  { name: 'status line with nothing after the version', raw: Buffer.from('SIP/2.0\r\nCall-ID: x\r\n\r\n'), expect: err('Bad Status Line', false) },
  { name: 'method with an illegal character', lines: ['BY@E sip:dave@denver.example.org SIP/2.0', ...bye([]).slice(1)], expect: err('Bad Method', false) },
  { name: 'Request-URI without a scheme', lines: ['BYE dave@denver.example.org SIP/2.0', ...bye([]).slice(1)], expect: err('Bad Request-URI', true) },
  { name: 'Request-URI in angle brackets', lines: ['BYE <sip:dave@denver.example.org> SIP/2.0', ...bye([]).slice(1)], expect: err('Bad Request-URI', true) },
  { name: 'Request-URI with a space in it', lines: ['BYE sip:dave@denver example.org SIP/2.0', ...bye([]).slice(1)], expect: err('Bad Request-URI', true) },
  { name: 'negative Content-Length', lines: bye([]).slice(0, -1).concat(['Content-Length: -5']), expect: err('Bad Content-Length', true) },
  { name: 'huge Content-Length', lines: bye([]).slice(0, -1).concat(['Content-Length: 99999999999']), expect: err('Bad Content-Length', true) },
  { name: 'non-numeric Content-Length', lines: bye([]).slice(0, -1).concat(['Content-Length: ten']), expect: err('Bad Content-Length', true) },
  { name: 'Content-Length with a sign', lines: bye([]).slice(0, -1).concat(['Content-Length: +3']), body: 'abc', expect: err('Bad Content-Length', true) },
  { name: 'Content-Length larger than the body', lines: bye([]).slice(0, -1).concat(['Content-Length: 150']), body: 'short body', expect: err('Content-Length Exceeds Body', true) },
  { name: 'two different Content-Length values', lines: bye(['l: 4']), body: 'abcd', expect: err('Conflicting Content-Length', true) },
  { name: 'unterminated quote in From', lines: bye(['From: "Carol <sip:carol@chicago.example.com>;tag=8321234356'], ['from']), expect: err('Bad From', true) },
  { name: 'unterminated quote in To', lines: bye(['To: "Dave <sip:dave@denver.example.org>'], ['to']), expect: err('Bad To', true) },
  { name: 'To with an unclosed angle bracket', lines: bye(['To: <sip:dave@denver.example.org;tag=1'], ['to']), expect: err('Bad To', true) },
  { name: 'unterminated quoted parameter in From', lines: bye(['From: <sip:carol@chicago.example.com>;tag=1;x="open'], ['from']), expect: err('Bad From', true) },
  { name: 'CSeq with the method first', lines: bye(['CSeq: BYE 31862'], ['cseq']), expect: err('Bad CSeq', true) },
  { name: 'CSeq without method', lines: bye(['CSeq: 31862'], ['cseq']), expect: err('Bad CSeq', true) },
  { name: 'CSeq number above 2^32 - 1', lines: bye(['CSeq: 4294967296 BYE'], ['cseq']), expect: err('Bad CSeq', true) },
  { name: 'CSeq with a negative number', lines: bye(['CSeq: -1 BYE'], ['cseq']), expect: err('Bad CSeq', true) },
  { name: 'CSeq method does not match the request', lines: bye(['CSeq: 31862 INVITE'], ['cseq']), expect: err('CSeq Method Mismatch', true) },
  { name: 'Max-Forwards not a number', lines: bye(['Max-Forwards: seventy'], ['max-forwards']), expect: err('Bad Max-Forwards', true) },
  { name: 'Max-Forwards above 255', lines: bye(['Max-Forwards: 256'], ['max-forwards']), expect: err('Bad Max-Forwards', true) },
  { name: 'Via that is not a Via', lines: bye(['Via: garbage'], ['via']), expect: err('Bad Via', true) },
  { name: 'Via with a port out of range', lines: bye(['Via: SIP/2.0/UDP 203.0.113.5:70000;branch=z9hG4bK1'], ['via']), expect: err('Bad Via', true) },
  { name: 'header line without a colon', lines: bye(['This line has no colon at all']), expect: err('Malformed Header Line', true) },
  { name: 'header line starting with a colon', lines: bye([': no name']), expect: err('Malformed Header Line', true) },
  { name: 'header name with a space inside', lines: bye(['Bad Name: value']), expect: err('Malformed Header Name', true) },
  {
    name: 'continuation line before any header',
    raw: Buffer.from(['BYE sip:dave@denver.example.org SIP/2.0', '  folded onto the start line', ...bye([]).slice(1)].join('\r\n') + '\r\n\r\n'),
    expect: err('Bad Header Folding', true),
  },
  { name: 'three hundred headers (over the limit)', lines: bye(tooManyHeaders), expect: err('Too Many Headers', true) },
  { name: 'header line over 8192 bytes', lines: bye([`X-Huge: ${'z'.repeat(9000)}`]), expect: err('Header Line Too Long', true) },
  {
    name: 'datagram over 65535 bytes',
    lines: bye([]).slice(0, -1).concat(['Content-Type: text/plain', 'Content-Length: 70000']),
    body: 'x'.repeat(70000),
    expect: err('Message Too Large', true),
  },
  { name: 'only line ends', raw: Buffer.from('\r\n\r\n\r\n'), expect: err('Empty Message', false) },
  { name: 'no blank line after the headers', raw: Buffer.from(bye([]).join('\r\n') + '\r\n'), expect: err('Missing End Of Headers', true) },
];
