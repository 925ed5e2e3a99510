/**
 * Issue 5 (and the topology-hiding part of issue 4) through the real SBC
 * process: sipp as the PBX (127.0.0.2) calls through `sbc start` to sipp as
 * the trunk (127.0.0.3). The ini gives the PBX IP Group an inbound set
 * (normalise a header, add one from a parameter, rewrite the From host),
 * the ITSP IP Group an outbound set (strip X-PBX-Info, add user=phone to
 * the Request-URI, copy P-Asserted-Identity into From) and a number
 * manipulation (national -> E.164), and the PBX IP Group an outbound set
 * that turns a 486 into a 603 on its way back to the PBX. The tests read
 * what each sipp received (`-trace_msg`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp, type SippResult } from './helpers/sipp.js';
import { readSippTrace, SCENARIOS, topologyOf, type SippTrace } from './helpers/b2bua-harness.js';
import { startSbc, testIni, type LogLine, type SbcProcess } from './helpers/sbc-process.js';
import { parseNameAddr } from '../../src/sip/grammar.js';
import { parseUri } from '../../src/sip/uri.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';
const SBC_IP = '127.0.0.1';

const MANIPULATIONS = [
  // Set 1: inbound from the PBX (before routing).
  `"normalise X-Site", 1, "invite.request", "header.x-site exists", "header.x-site", 7, "", 0`,
  `"tag source group", 1, "invite.request", "", "header.x-src-group", 0, "param.ipg.src.name", 0`,
  `"From host", 1, "invite.request", "", "header.from.url.host", 2, "'pbx.example.com'", 0`,
  // Makes the rewritten From host visible on the trunk side (leg B's From host is the trunk's domain).
  `"show From host", 1, "invite.request", "", "header.x-from-host", 0, "header.from.url.host", 0`,
  // Set 2: outbound toward the trunk.
  `"strip X-PBX-Info", 2, "any", "header.x-pbx-info exists", "header.x-pbx-info", 1, "", 0`,
  `"user=phone", 2, "invite.request", "", "header.request-uri.url.param.user", 0, "'phone'", 0`,
  `"PAI user to From", 2, "invite.request", "header.p-asserted-identity exists", "header.from.url.user", 2, "header.p-asserted-identity.url.user", 0`,
  `"PAI name to From", 2, "invite.request", "", "header.from.name", 2, "header.p-asserted-identity.name", 1`,
  // Set 3: outbound toward the PBX (responses included).
  `"486 to 603", 3, "invite.response.486", "", "header.request-uri.methodtype", 2, "'603'", 0`,
  // Set 4: inbound from the trunk.
  `"drop trunk PAI", 4, "invite.request", "", "header.p-asserted-identity", 1, "", 0`,
  `"mark carrier", 4, "invite.request", "", "header.x-carrier", 0, "param.ipg.src.name + '/' + param.message.address.src.ip", 0`,
  `"caller name", 4, "invite.request", "header.from.name exists", "header.from.name", 3, "'Trunk: '", 0`,
];

const NUMBER_MANIPULATION = [
  '[ IPOutboundManipulation ]',
  'FORMAT Index = ManipulationName, IsAdditionalManipulation, SrcIPGroupName, DestIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, ManipulatedURI, RemoveFromLeft, RemoveFromRight, LeaveFromRight, Prefix2Add, Suffix2Add;',
  'IPOutboundManipulation 0 = "national to E.164", 0, "PBX", "ITSP", "*", "0[1-9]", 1, 1, 0, 255, "+44", "";',
  '[ \\IPOutboundManipulation ]',
  '',
  '[ IPInboundManipulation ]',
  'FORMAT Index = ManipulationName, SrcIPGroupName, SrcUsernamePrefix, DestUsernamePrefix, ManipulatedURI, RemoveFromLeft, RemoveFromRight, LeaveFromRight, Prefix2Add, Suffix2Add;',
  'IPInboundManipulation 0 = "DID to extension", "ITSP", "*", "+4420712345", 1, 0, 0, 4, "", "";',
  '[ \\IPInboundManipulation ]',
  '',
].join('\r\n');

interface CallResult {
  uac: SippResult;
  uas: SippResult;
  uacTrace: SippTrace;
  uasTrace: SippTrace;
}

function received(trace: SippTrace, what: string | number): SippTrace {
  return trace.filter((m) => m.dir === 'received' && (typeof what === 'number'
    ? !m.msg.isRequest && m.msg.status === what
    : m.msg.isRequest && m.msg.method === what));
}

describe('issue 5: manipulation sets on a real call through the SBC process', () => {
  let sbc: SbcProcess;
  let lanPort = 0;
  let wanPort = 0;
  let uasPort = 0;
  let pbxPort = 0;
  let dir = '';
  let seq = 0;

  /** One call: the trunk sipp listens first, then the PBX sipp calls the SBC's LAN port. */
  async function call(uasScenario: string, service: string, fromTrunk = false): Promise<CallResult> {
    const n = ++seq;
    const callee = fromTrunk ? { ip: PBX_IP, port: pbxPort } : { ip: TRUNK_IP, port: uasPort };
    const caller = fromTrunk ? { ip: TRUNK_IP, sbcPort: wanPort } : { ip: PBX_IP, sbcPort: lanPort };
    const uacFile = join(dir, `uac-${n}.log`);
    const uasFile = join(dir, `uas-${n}.log`);
    const uas = startSipp({
      scenario: join(SCENARIOS, uasScenario), calls: 1, localAddress: callee.ip, localPort: callee.port, timeoutMs: 20_000,
      extraArgs: ['-trace_msg', '-message_file', uasFile],
    });
    await uas.bound();
    const uac = await startSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${SBC_IP}:${caller.sbcPort}`, localAddress: caller.ip, calls: 1,
      service, timeoutMs: 20_000, extraArgs: ['-d', '300', '-trace_msg', '-message_file', uacFile],
    }).done;
    const stopper = setTimeout(() => void uas.stop(), 3000);
    const uasRes = await uas.done;
    clearTimeout(stopper);
    return { uac, uas: uasRes, uacTrace: await readSippTrace(uacFile), uasTrace: await readSippTrace(uasFile) };
  }

  function cdrs(): Array<Record<string, unknown>> {
    return sbc.logs.filter((l: LogLine) => l.msg === 'call detail record').map((l) => l['cdr'] as Record<string, unknown>);
  }

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'e2e-manip-'));
    [lanPort, wanPort, uasPort, pbxPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP)]);
    sbc = await startSbc(testIni({
      lanPort, wanPort,
      pbx: { address: PBX_IP, port: pbxPort },
      itsp: [{ address: TRUNK_IP, port: uasPort }],
      manipulations: MANIPULATIONS,
      pbxInboundManSet: 1,
      itspOutboundManSet: 2,
      pbxOutboundManSet: 3,
      itspInboundManSet: 4,
      extra: NUMBER_MANIPULATION,
    }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let answered: CallResult | undefined;

  it('applies the PBX inbound set, the ITSP outbound set and the E.164 number manipulation to the INVITE the trunk receives', async () => {
    const r = await call('e2e-uas-answer.xml', '0201234567');
    answered = r;
    expect(r.uac.successful, `UAC: ${r.uac.output}${r.uac.errors}\nSBC: ${sbc.stderr()}`).toBe(1);
    expect(r.uas.successful, `UAS: ${r.uas.output}${r.uas.errors}`).toBe(1);

    const invites = received(r.uasTrace, 'INVITE');
    expect(invites).toHaveLength(1);
    const inv = invites[0]!.msg;
    // Number manipulation (0201234567 -> +44201234567), then user=phone from the outbound set.
    expect(inv.requestUri).toBe(`sip:+44201234567@itsp.test;user=phone`);
    // PAI copied into From (user and display name); the host is the trunk's domain, the tag ours.
    const from = parseNameAddr(inv.getHeader('from')!)!;
    expect(from.displayName).toBe('Alice Smith');
    const fromUri = parseUri(from.uri)!;
    expect(fromUri.user).toBe('+442071234500');
    expect(fromUri.host).toBe('itsp.test');
    expect(inv.fromTag).toMatch(/\S+/);
    expect(inv.fromTag).not.toContain('PbxTag');
    // To follows the called number too.
    expect(parseUri(parseNameAddr(inv.getHeader('to')!)!.uri)!.user).toBe('+44201234567');
    expect(inv.getHeader('p-asserted-identity')).toBe('"Alice Smith" <sip:+442071234500@pbx.example>');
    // Inbound set: normalised, added from a parameter, From host rewritten before routing.
    expect(inv.getHeader('x-site')).toBe('London HQ East');
    expect(inv.getHeader('x-src-group')).toBe('PBX');
    expect(inv.getHeader('x-from-host')).toBe('pbx.example.com');
    // Outbound set: only X-PBX-Info is stripped; other X- headers pass.
    expect(inv.hasHeader('x-pbx-info')).toBe(false);
    expect(inv.getHeader('x-pbx-trace')).toBe('keep-me');

    // The answer reached the PBX untouched by its outbound set (which only knows 486).
    const ok = received(r.uacTrace, 200).filter((m) => m.msg.cseq?.method === 'INVITE');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok[0]!.msg.reason).toBe('OK');
    expect(ok[0]!.msg.getHeader('x-trunk-ref')).toBe('answer-1');
    expect(received(r.uasTrace, 'BYE')).toHaveLength(1);

    const cdr = await sbc.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as { sipStatus?: number }).sipStatus === 200);
    expect((cdr['cdr'] as { srcIpGroup: string }).srcIpGroup).toBe('PBX');
    expect((cdr['cdr'] as { dstIpGroup: string }).dstIpGroup).toBe('ITSP');
    expect((cdr['cdr'] as { terminationSide: string }).terminationSide).toBe('A');
  }, 40_000);

  it('hides each side\'s topology from the other (Via, Contact, Record-Route, Call-ID, tags, addresses)', () => {
    const r = answered;
    expect(r, 'needs the answered call of the previous test').toBeDefined();
    const { uacTrace, uasTrace } = r!;
    const own = [`${SBC_IP}:${lanPort}`, `${SBC_IP}:${wanPort}`];
    const pbxValues = topologyOf(uacTrace, own);
    const trunkValues = topologyOf(uasTrace, own);
    // Responses' Record-Route too (topologyOf looks at Contact only there).
    for (const m of uasTrace) {
      if (m.dir === 'sent' && !m.msg.isRequest) for (const v of m.msg.getHeaderValues('record-route')) trunkValues.push(v);
    }
    expect(pbxValues.length).toBeGreaterThan(3);
    expect(trunkValues.length).toBeGreaterThan(3);
    const atTrunk = uasTrace.filter((m) => m.dir === 'received').map((m) => m.raw).join('\n');
    const atPbx = uacTrace.filter((m) => m.dir === 'received').map((m) => m.raw).join('\n');
    expect(atTrunk, 'the trunk received nothing').not.toBe('');
    expect(atPbx, 'the PBX received nothing').not.toBe('');
    for (const v of pbxValues) expect(atTrunk, `PBX value ${v} reached the trunk`).not.toContain(v);
    for (const v of trunkValues) expect(atPbx, `trunk value ${v} reached the PBX`).not.toContain(v);
    // Neither side's address appears anywhere on the other side (SIP headers and SDP alike).
    expect(atTrunk).not.toContain(PBX_IP);
    expect(atPbx).not.toContain(TRUNK_IP);
    expect(atTrunk).not.toContain('PbxTag');
    expect(atPbx).not.toContain('TrunkTag');
    // Separate dialogs: leg B has its own Call-ID.
    const aCallId = uacTrace.find((m) => m.dir === 'sent')!.msg.callId;
    const bCallId = uasTrace.find((m) => m.dir === 'received')!.msg.callId;
    expect(bCallId).not.toBe(aCallId);
    // Every message the trunk received came from the SBC's WAN side (Via), every one the PBX received from its LAN side.
    for (const m of uasTrace.filter((x) => x.dir === 'received' && x.msg.isRequest)) {
      expect(m.msg.getHeaderValues('via')).toHaveLength(1);
      expect(m.msg.getHeaderValues('via')[0]).toContain(`${SBC_IP}:${wanPort}`);
      expect(m.msg.hasHeader('record-route')).toBe(false);
    }
    for (const m of uacTrace.filter((x) => x.dir === 'received' && !x.msg.isRequest)) {
      expect(m.msg.hasHeader('record-route')).toBe(false);
      for (const c of m.msg.getHeaderValues('contact')) expect(c).toContain(`${SBC_IP}:${lanPort}`);
    }
  });

  it('turns the trunk\'s 486 into 603 Decline toward the PBX (outbound set of the PBX on a response)', async () => {
    const r = await call('e2e-uas-busy.xml', '0207654321');
    expect(r.uac.successful, `UAC: ${r.uac.output}${r.uac.errors}`).toBe(1);
    expect(r.uas.successful, `UAS: ${r.uas.output}${r.uas.errors}`).toBe(1);
    // The trunk sent 486 and got its ACK from the SBC.
    expect(r.uasTrace.filter((m) => m.dir === 'sent' && !m.msg.isRequest && m.msg.status === 486)).toHaveLength(1);
    expect(received(r.uasTrace, 'ACK')).toHaveLength(1);
    expect(received(r.uasTrace, 'INVITE')[0]!.msg.requestUri).toBe(`sip:+44207654321@itsp.test;user=phone`);
    // The PBX saw 603 Decline, never a 486.
    const finals = r.uacTrace.filter((m) => m.dir === 'received' && !m.msg.isRequest && m.msg.status >= 300);
    expect(finals.length).toBeGreaterThanOrEqual(1);
    for (const f of finals) {
      expect(f.msg.status).toBe(603);
      expect(f.msg.reason).toBe('Decline');
    }
    const cdr = await sbc.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as { connectTime?: unknown }).connectTime === null);
    expect((cdr['cdr'] as { dstIpGroup: string }).dstIpGroup).toBe('ITSP');
    expect(cdrs()).toHaveLength(2);
  }, 40_000);

  it('applies the trunk\'s inbound set and the DID -> extension inbound number manipulation to a call toward the PBX', async () => {
    const r = await call('e2e-uas-answer.xml', '+442071234567', true);
    expect(r.uac.successful, `UAC: ${r.uac.output}${r.uac.errors}`).toBe(1);
    expect(r.uas.successful, `UAS: ${r.uas.output}${r.uas.errors}`).toBe(1);
    const inv = received(r.uasTrace, 'INVITE')[0]!.msg;
    // Inbound number manipulation runs before routing; no outbound rule for this direction.
    expect(inv.requestUri).toBe(`sip:4567@pbx.test`);
    expect(parseUri(parseNameAddr(inv.getHeader('to')!)!.uri)!.user).toBe('4567');
    // The trunk's inbound set.
    expect(inv.hasHeader('p-asserted-identity')).toBe(false);
    expect(inv.getHeader('x-carrier')).toBe(`ITSP/${TRUNK_IP}`);
    const from = parseNameAddr(inv.getHeader('from')!)!;
    expect(from.displayName).toBe('Trunk: PBX Ext 100');
    expect(parseUri(from.uri)!.host).toBe('pbx.test');
    // Sets of the other direction did not run: X-PBX-Info passes toward the PBX, From keeps its user.
    expect(inv.hasHeader('x-pbx-info')).toBe(true);
    expect(parseUri(from.uri)!.user).toBe('100');
    const cdr = await sbc.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as { srcIpGroup?: string }).srcIpGroup === 'ITSP');
    expect((cdr['cdr'] as { dstIpGroup: string }).dstIpGroup).toBe('PBX');
  }, 40_000);
});
