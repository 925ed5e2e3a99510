/**
 * Refusals the RFCs require, against the real SBC process over UDP from
 * the PBX's address (issue 12): 416 for a Request-URI scheme we do not
 * route (RFC 3261 §8.2.2.1), 420 with Unsupported for Require /
 * Proxy-Require tags we cannot honour (§8.2.2.3), 400 for empty
 * parameters or separators in Via/Contact and for whitespace after the
 * SIP-Version (§25.1) — each answered, none relayed. SBCMaxForwardsLimit
 * caps the Max-Forwards relayed; SIPMaxRtx bounds the INVITE copies sent
 * to a silent trunk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { sipRequest, udpPeer, type UdpPeer } from './helpers/udp-peer.js';

const PBX = '127.0.0.41';
const ITSP = '127.0.0.42';

describe('stricter parsing and SIP limits (real SBC process)', () => {
  let sbc: SbcProcess;
  let pbx: UdpPeer;
  let itsp: UdpPeer;
  let lanPort: number;
  let n = 0;

  beforeAll(async () => {
    pbx = await udpPeer(PBX);
    itsp = await udpPeer(ITSP);
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const apiPort = await findFreePort();
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort, media: false, pbx: { address: PBX, port: pbx.port }, itsp: [{ address: ITSP, port: itsp.port }],
      scalars: ['SIPMaxRtx = 2', 'SBCMaxForwardsLimit = 10'],
    }));
  }, 30_000);

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
    await pbx?.close();
    await itsp?.close();
  });

  /** Sends a request from the PBX; `mutate` edits the lines; resolves with the SBC's final answer. */
  async function ask(method: string, opts: { uri?: string; extra?: string[]; mutate?: (lines: string[]) => string[] } = {}): Promise<{ status: number; res: import('../../src/sip/message.js').SipMessage; callId: string }> {
    const callId = `strict-${++n}@${PBX}`;
    let lines = [
      `${method} ${opts.uri ?? `sip:100@127.0.0.1:${lanPort}`} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PBX}:${pbx.port};branch=z9hG4bKstrict${n};rport`,
      'Max-Forwards: 70',
      `From: <sip:200@${PBX}>;tag=f${n}`,
      `To: <sip:100@127.0.0.1>`,
      `Call-ID: ${callId}`,
      `CSeq: 1 ${method}`,
      `Contact: <sip:200@${PBX}:${pbx.port}>`,
      ...(opts.extra ?? []),
    ];
    if (opts.mutate) lines = opts.mutate(lines);
    await pbx.send(sipRequest(lines), lanPort);
    const res = await pbx.waitFor((m) => !m.isRequest && m.callId === callId && m.status >= 200, 5000, `final response to ${method} ${n}`);
    return { status: res.status, res, callId };
  }

  it('416 for unsupported Request-URI schemes, even with a usable To URI; nothing is relayed', async () => {
    for (const uri of ['http://127.0.0.1/x', 'mailto:someone@example.invalid', 'urn:service:sos']) {
      expect((await ask('OPTIONS', { uri })).status, uri).toBe(416);
      expect((await ask('INVITE', { uri })).status, uri).toBe(416);
    }
    expect(itsp.received.length).toBe(0);
  });

  it('420 listing the unsupported option tags of Require and Proxy-Require', async () => {
    const a = await ask('INVITE', { extra: ['Require: foo, timer', 'Proxy-Require: bar'] });
    expect(a.status).toBe(420);
    expect(a.res.getHeaderValues('unsupported').sort()).toEqual(['bar', 'foo']);
    const b = await ask('OPTIONS', { extra: ['Proxy-Require: sec-agree'] });
    expect(b.status).toBe(420);
    expect(b.res.getHeader('unsupported')).toBe('sec-agree');
    expect(itsp.received.length).toBe(0);
  });

  it('400 for empty Via/Contact parameters, extra separators and whitespace after SIP-Version', async () => {
    const via = (f: (v: string) => string) => (lines: string[]) => lines.map((l) => (l.startsWith('Via:') ? f(l) : l));
    const cases: Array<[string, (lines: string[]) => string[]]> = [
      ['Via ;;', via((l) => l.replace(';branch', ';;branch'))],
      ['Via trailing ;', via((l) => `${l};`)],
      ['Via empty value', via((l) => `${l};received=`)],
      ['Via ,,', via((l) => `${l},,SIP/2.0/UDP ${PBX}:1;branch=z9hG4bKx`)],
      ['Contact ;;', (lines) => lines.map((l) => (l.startsWith('Contact:') ? `${l};;expires=60` : l))],
      ['Contact ,,', (lines) => lines.map((l) => (l.startsWith('Contact:') ? `${l},,<sip:x@${PBX}>` : l))],
      ['SIP/2.0 + SP', (lines) => [`${lines[0]} `, ...lines.slice(1)]],
      ['SIP/2.0 + HTAB', (lines) => [`${lines[0]}\t`, ...lines.slice(1)]],
    ];
    for (const [name, mutate] of cases) {
      for (const method of ['OPTIONS', 'INVITE']) {
        const r = await ask(method, { mutate });
        expect(r.status, `${name} ${method}`).toBe(400);
      }
    }
    expect(itsp.received.length).toBe(0);
    const s = await sbc.api<{ transport: { badRequestsAnswered: number } }>('/api/v1/status');
    expect(s.transport.badRequestsAnswered).toBeGreaterThanOrEqual(16);
  });

  it('SBCMaxForwardsLimit caps Max-Forwards; SIPMaxRtx = 2 sends two INVITE copies to a silent trunk', async () => {
    const before = itsp.received.length;
    const r = await ask('INVITE');
    // The trunk never answers: after 2 transmissions the SBC gives up and answers the PBX.
    expect([408, 500, 503]).toContain(r.status);
    const invites = itsp.received.slice(before).filter((m) => m.isRequest && m.method === 'INVITE');
    expect(invites.length).toBe(2);
    expect(invites[0]!.getHeader('max-forwards')).toBe('10');
    expect(invites[0]!.getHeaderValues('via').length).toBe(1);
  });
});
