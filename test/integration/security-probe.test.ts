/**
 * Regression tests for the hostile-probe findings of issue 12, against the
 * real SBC process:
 *
 * 1. One outside address opens as many TCP connections as it can and 200
 *    slowloris connections trickle a byte a second: the stranger is held
 *    to its per-source share, the slow ones are closed at the message
 *    deadline, and a PBX call over TCP completes meanwhile.
 * 2. 100,000 valid OPTIONS from an unclassified address on an interface
 *    that drops unclassified requests get no answer and create no state
 *    (no server transaction; the heap stays flat) — with IDS and the rate
 *    limit off, so that this is the stateless drop and not the deny list.
 * 3. 3,000 never-ACKed INVITEs from one source: the pending-call quota
 *    refuses the excess, a PBX call still gets media ports; the ports of a
 *    call are released at its final non-2xx and at the ACK timeout, counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { sipRequest, udpPeer, type UdpPeer } from './helpers/udp-peer.js';
import type { SipMessage } from '../../src/sip/message.js';
import { createResponse } from '../../src/sip/response.js';
import { serializeMessage } from '../../src/sip/serializer.js';

const PBX = '127.0.0.81';
const ITSP = '127.0.0.82';
const HOARDER = '127.0.0.83';
const LORIS = (i: number): string => `127.0.0.${90 + (i % 10)}`;
const STRANGER = '127.0.0.84';

interface Status {
  transactions: { serverTransactions: number; clientTransactions: number };
  transport: { openConnections: number; connectionsRefused: number; slowConnectionsClosed: number; udpReceived: number };
  security: { strangersDropped: number };
  memory: { heapUsed: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('probe findings: TCP exhaustion and slowloris (real SBC process)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const uasPort = await findFreePort(ITSP);
    uas = startSipp({ scenario: 'uas', calls: 100, localAddress: ITSP, localPort: uasPort, timeoutMs: 90_000 });
    sbc = await startSbc(testIni({
      lanPort, wanPort: await findFreePort(), apiPort: await findFreePort(), media: false,
      pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }],
      scalars: ['SIPMaxConnectionsPerSource = 20', 'SIPMessageCompletionTimeout = 4', 'SIPFirstMessageTimeout = 4', 'EnableIDS = 0'],
    }));
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('a PBX TCP call completes while one address hoards connections and 200 slowloris connections trickle', async () => {
    const sockets: net.Socket[] = [];
    const open = (address: string): Promise<net.Socket | null> => new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: lanPort, localAddress: address });
      s.on('error', () => resolve(null));
      s.on('connect', () => { sockets.push(s); resolve(s); });
      s.on('close', () => resolve(null));
    });
    try {
      // The hoarder: 300 connections from one address.
      await Promise.all(Array.from({ length: 300 }, () => open(HOARDER)));
      // 200 slowloris connections from 10 addresses: a valid start, then a byte a second.
      const loris = (await Promise.all(Array.from({ length: 200 }, (_, i) => open(LORIS(i))))).filter((s): s is net.Socket => s !== null);
      const head = `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.90:5060;branch=z9hG4bKloris\r\nX-Slow: `;
      for (const s of loris) s.write(head);
      let closedByPeer = 0;
      for (const s of loris) s.on('close', () => { closedByPeer++; });
      const trickle = setInterval(() => { for (const s of loris) if (!s.destroyed) s.write('a'); }, 1000);
      try {
        // 20 per source: the hoarder got 20, each loris address 20. The kernel completes handshakes before
        // the SBC accepts (and refuses) them, so wait for the count rather than read it once.
        let mid = await sbc.api<Status>('/api/v1/status');
        for (let i = 0; i < 100 && mid.transport.connectionsRefused < 280; i++) {
          await new Promise((r) => setTimeout(r, 100));
          mid = await sbc.api<Status>('/api/v1/status');
        }
        expect(mid.transport.connectionsRefused).toBeGreaterThanOrEqual(280);
        const call = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, transport: 't1', localAddress: PBX, calls: 3, rate: 5, timeoutMs: 30_000 });
        expect(call.failed, call.output).toBe(0);
        expect(call.successful).toBe(3);
        // The trickling connections are closed at the message deadline, not kept alive by their bytes.
        const deadline = Date.now() + 20_000;
        while (closedByPeer < loris.length && Date.now() < deadline) await sleep(200);
        expect(closedByPeer).toBe(loris.length);
      } finally {
        clearInterval(trickle);
      }
      const after = await sbc.api<Status>('/api/v1/status');
      process.stdout.write(`probe tcp: ${sockets.length} connections accepted of 500, refused ${after.transport.connectionsRefused}, ` +
        `slow closed ${after.transport.slowConnectionsClosed}, loris ${loris.length} all closed\n`);
      // The hoarder's idle connections sent nothing valid: closed at the first-message deadline too.
      expect(after.transport.slowConnectionsClosed).toBeGreaterThanOrEqual(loris.length + 20);
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 90_000);
});

describe('probe findings: unclassified OPTIONS flood creates no state (real SBC process)', () => {
  let sbc: SbcProcess;
  let lanPort: number;

  beforeAll(async () => {
    lanPort = await findFreePort();
    let ini = testIni({
      lanPort, wanPort: await findFreePort(), apiPort: await findFreePort(), media: false,
      pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: 5060 }],
      scalars: ['EnableIDS = 0', 'SourceRequestRate = 0'],
    });
    ini = ini.replace(/^(SIPInterface \d+ = .*), 403;$/gm, '$1, 0;');
    sbc = await startSbc(ini, { exposeGc: true });
  }, 30_000);

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
  });

  it('100,000 unclassified OPTIONS: no answer, no server transaction, heap flat', async () => {
    const before = await sbc.api<Status>('/api/v1/status?gc=1');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, STRANGER, () => r()));
    let answers = 0;
    sock.on('message', () => { answers++; });
    const port = sock.address().port;
    let maxServerTx = 0;
    const N = 100_000;
    for (let n = 0; n < N; n++) {
      const msg = `OPTIONS sip:ping@127.0.0.1:${lanPort} SIP/2.0\r\nVia: SIP/2.0/UDP ${STRANGER}:${port};branch=z9hG4bKst${n};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:s@${STRANGER}>;tag=s${n}\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: st-${n}@${STRANGER}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
      sock.send(msg, lanPort, '127.0.0.1');
      if (n % 500 === 499) await sleep(5);
      if (n % 20_000 === 19_999) maxServerTx = Math.max(maxServerTx, (await sbc.api<Status>('/api/v1/status')).transactions.serverTransactions);
    }
    const deadline = Date.now() + 20_000;
    let after = await sbc.api<Status>('/api/v1/status?gc=1');
    while (after.transport.udpReceived - before.transport.udpReceived < N * 0.5 && Date.now() < deadline) {
      await sleep(200);
      after = await sbc.api<Status>('/api/v1/status?gc=1');
    }
    await sleep(300);
    after = await sbc.api<Status>('/api/v1/status?gc=1');
    sock.close();
    const received = after.transport.udpReceived - before.transport.udpReceived;
    const heapDelta = (after.memory.heapUsed - before.memory.heapUsed) / 1048576;
    process.stdout.write(`probe unclassified: ${N} OPTIONS sent, ${received} received, ${after.security.strangersDropped} dropped before any transaction, ` +
      `server transactions max ${maxServerTx}, answers ${answers}, heap ${(before.memory.heapUsed / 1048576).toFixed(1)} -> ${(after.memory.heapUsed / 1048576).toFixed(1)} MiB\n`);
    expect(received).toBeGreaterThan(N * 0.5);
    expect(after.security.strangersDropped).toBe(received);
    expect(maxServerTx).toBe(0);
    expect(after.transactions.serverTransactions).toBe(0);
    expect(answers).toBe(0);
    expect(heapDelta).toBeLessThan(16);
  }, 120_000);
});

describe('probe findings: un-ACKed INVITEs do not take every media port (real SBC process)', () => {
  const ATTACKER = '127.0.0.141';
  const PBX2 = '127.0.0.85';
  const ITSP2 = '127.0.0.86';
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const uasPort = await findFreePort(ITSP2);
    uas = startSipp({ scenario: 'uas', calls: 10_000, localAddress: ITSP2, localPort: uasPort, timeoutMs: 120_000 });
    const pool = Number(process.env['VITEST_POOL_ID'] ?? '1');
    const base = 30000 - ((pool - 1) % 4) * 1000;
    sbc = await startSbc(testIni({
      lanPort, wanPort: await findFreePort(), apiPort: await findFreePort(),
      pbx: { address: PBX2, port: 5060 }, itsp: [{ address: ITSP2, port: uasPort }],
      // Small realms (200 ports each), so that a few hundred held calls would exhaust them.
      mediaPorts: { lan: [base, base + 199], wan: [base + 200, base + 399] },
      scalars: ['EnableIDS = 0', 'SourceRequestRate = 0', 'SIPMaxPendingCallsPerSource = 40'],
      // Remote phones: a subnet classified into the PBX group (classified, but not a known peer).
      extra: [
        '[ Classification ]',
        'FORMAT Index = ClassificationName, SrcSIPInterfaceName, SrcAddress, ActionType, SrcIPGroupName;',
        'Classification 10 = "remote users", "LAN", "127.0.0.140/30", 1, "PBX";',
        '[ \\Classification ]',
        '',
      ].join('\r\n'),
    }));
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('3,000 never-ACKed INVITEs from one source: the quota refuses the excess and a PBX call still gets media ports', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, ATTACKER, () => r()));
    const port = sock.address().port;
    const finals = new Map<string, number>();
    sock.on('message', (b: Buffer) => {
      const t = b.toString('latin1');
      const m = /^SIP\/2\.0 (\d{3})/.exec(t);
      const id = /\r\nCall-ID: *([^\r]+)/i.exec(t)?.[1];
      if (m && id && Number(m[1]) >= 200) finals.set(id, Number(m[1]));
    });
    const sdp = ['v=0', `o=- 1 1 IN IP4 ${ATTACKER}`, 's=-', `c=IN IP4 ${ATTACKER}`, 't=0 0', 'm=audio 40000 RTP/AVP 8 0 101',
      'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', ''].join('\r\n');
    for (let n = 0; n < 3000; n++) {
      const msg = `INVITE sip:100@127.0.0.1:${lanPort} SIP/2.0\r\nVia: SIP/2.0/UDP ${ATTACKER}:${port};branch=z9hG4bKna${n};rport\r\nMax-Forwards: 70\r\n` +
        `From: <sip:666@${ATTACKER}>;tag=na${n}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: noack-${n}@${ATTACKER}\r\nCSeq: 1 INVITE\r\n` +
        `Contact: <sip:666@${ATTACKER}:${port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`;
      sock.send(msg, lanPort, '127.0.0.1');
      if (n % 200 === 199) await sleep(20);
    }
    // While the admitted ones wait for their ACK: a normal PBX call with media.
    const call = await runSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX2, calls: 3, rate: 5, timeoutMs: 30_000 });
    const s = await sbc.api<{ calls: { pendingRefused: number; pendingCalls: number } }>('/api/v1/status');
    sock.close();
    const codes = [...finals.values()];
    process.stdout.write(`probe media: 3000 un-ACKed INVITEs, refused by quota ${s.calls.pendingRefused}, pending ${s.calls.pendingCalls}, ` +
      `finals ${JSON.stringify(Object.fromEntries([...new Set(codes)].map((c) => [c, codes.filter((x) => x === c).length])))}; PBX calls ${call.successful}/3\n`);
    expect(call.failed, call.output).toBe(0);
    expect(call.successful).toBe(3);
    expect(s.calls.pendingRefused).toBeGreaterThan(2000);
    const metrics = (await sbc.http('/metrics')).body;
    expect(Number(/^sbc_pending_calls_refused (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(s.calls.pendingRefused);
  }, 90_000);
});

describe('probe findings: media ports go back at a final non-2xx and at the ACK timeout (real SBC process)', () => {
  const CALLER = '127.0.0.142';
  const PBX3 = '127.0.0.87';
  const TRUNK3 = '127.0.0.88';
  let sbc: SbcProcess;
  let caller: UdpPeer;
  let trunk: UdpPeer;
  let lanPort: number;
  let apiPort: number;

  interface PoolStatus { media: { portPools: Array<{ realm: string; portsInUse: number; allocationFailures: number }> }; transactions: { ackTimeouts: number }; calls: { calls: number } }
  const inUse = (s: PoolStatus): number => s.media.portPools.reduce((n, p) => n + p.portsInUse, 0);
  const statusUntil = async (ok: (s: PoolStatus) => boolean, ms: number, what: string): Promise<PoolStatus> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await sbc.api<PoolStatus>('/api/v1/status');
      if (ok(s)) return s;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; ${JSON.stringify(s.media)} ackTimeouts ${s.transactions.ackTimeouts}`);
      await sleep(50);
    }
  };
  const answer = (req: SipMessage, status: number, body = ''): Buffer => {
    const res = createResponse(req, status, undefined, 'trk1');
    res.setHeader('Contact', `<sip:trunk@${TRUNK3}:${trunk.port}>`);
    if (body !== '') res.setBody(body, 'application/sdp');
    return serializeMessage(res);
  };
  const sdp = (addr: string, port: number): string => ['v=0', `o=- 1 1 IN IP4 ${addr}`, 's=-', `c=IN IP4 ${addr}`, 't=0 0', `m=audio ${port} RTP/AVP 8`, 'a=rtpmap:8 PCMA/8000', 'a=sendrecv', ''].join('\r\n');
  const invite = (callId: string): string => sipRequest([
    `INVITE sip:100@127.0.0.1:${lanPort} SIP/2.0`, `Via: SIP/2.0/UDP ${CALLER}:${caller.port};branch=z9hG4bK${callId};rport`, 'Max-Forwards: 70',
    `From: <sip:666@${CALLER}>;tag=${callId}`, 'To: <sip:100@127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 INVITE',
    `Contact: <sip:666@${CALLER}:${caller.port}>`, 'Content-Type: application/sdp',
  ], sdp(CALLER, 40000));

  beforeAll(async () => {
    caller = await udpPeer(CALLER);
    trunk = await udpPeer(TRUNK3);
    lanPort = await findFreePort();
    apiPort = await findFreePort();
    const pool = Number(process.env['VITEST_POOL_ID'] ?? '1');
    const base = 26000 - ((pool - 1) % 4) * 1000;
    sbc = await startSbc(testIni({
      lanPort, wanPort: await findFreePort(), apiPort,
      pbx: { address: PBX3, port: 5060 }, itsp: [{ address: TRUNK3, port: trunk.port }],
      mediaPorts: { lan: [base, base + 199], wan: [base + 200, base + 399] },
      // T1 250 ms: timer H/L (64*T1) is 16 s, so a release at the final response is told apart from one at the timer.
      scalars: ['EnableIDS = 0', 'SourceRequestRate = 0', 'SipT1Rtx = 250'],
      extra: [
        '[ Classification ]',
        'FORMAT Index = ClassificationName, SrcSIPInterfaceName, SrcAddress, ActionType, SrcIPGroupName;',
        `Classification 10 = "remote users", "LAN", "${CALLER}", 1, "PBX";`,
        '[ \\Classification ]',
        '',
      ].join('\r\n'),
    }).replace(/^SipT1Rtx = 100$/m, ''));
  }, 30_000);

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
    await caller?.close();
    await trunk?.close();
  });

  it('a final non-2xx frees both legs\' ports at once, even though the caller never ACKs it', async () => {
    await caller.send(invite('rel-486'), lanPort);
    const out = await trunk.waitFor((m) => m.isRequest && m.method === 'INVITE', 5000, 'INVITE at the trunk');
    const during = await sbc.api<PoolStatus>('/api/v1/status');
    expect(inUse(during)).toBe(4); // two legs, an RTP/RTCP pair each
    await trunk.send(answer(out, 486), out.topVia!.port ?? 5060, '127.0.0.1');
    await caller.waitFor((m) => !m.isRequest && m.callId === 'rel-486' && m.status === 486, 5000, '486 at the caller');
    // Released with the 486, long before timer H (16 s) would end the unacknowledged transaction.
    const after = await statusUntil((s) => inUse(s) === 0, 5000, 'ports released after 486');
    expect(after.transactions.ackTimeouts).toBe(0);
  }, 30_000);

  it('a 2xx that is never ACKed: the call ends at timer L, its ports are released and the timeout is counted', async () => {
    const before = await sbc.api<PoolStatus>('/api/v1/status');
    await caller.send(invite('rel-noack'), lanPort);
    const invites = (): SipMessage[] => trunk.received.filter((m) => m.isRequest && m.method === 'INVITE');
    const firstCallId = invites()[0]?.callId;
    const out = await trunk.waitFor((m) => m.isRequest && m.method === 'INVITE' && m.callId !== firstCallId, 5000, 'second INVITE at the trunk');
    await trunk.send(answer(out, 200, sdp(TRUNK3, 41000)), out.topVia!.port ?? 5060, '127.0.0.1');
    await caller.waitFor((m) => !m.isRequest && m.callId === 'rel-noack' && m.status === 200, 5000, '200 at the caller');
    expect(inUse(await sbc.api<PoolStatus>('/api/v1/status'))).toBe(4);
    // No ACK from the caller: after 64*T1 the SBC gives up, hangs up leg B and frees the ports.
    const bye = await trunk.waitFor((m) => m.isRequest && m.method === 'BYE', 30_000, 'BYE to the trunk');
    await trunk.send(serializeMessage(createResponse(bye, 200)), bye.topVia!.port ?? 5060, '127.0.0.1');
    const after = await statusUntil((s) => inUse(s) === 0 && s.calls.calls === 0, 10_000, 'ports released after the ACK timeout');
    // Both never-ACKed finals are counted: the 486 of the first test (timer H, which ran out first) and this 2xx (timer L).
    expect(before.transactions.ackTimeouts).toBeLessThanOrEqual(1);
    expect(after.transactions.ackTimeouts).toBe(2);
    const metrics = (await sbc.http('/metrics')).body;
    expect(metrics).toMatch(/^sbc_ack_timeouts 2$/m);
    expect(metrics).toMatch(/^sbc_media_ports_in_use\{realm="LAN"\} 0$/m);
    expect(metrics).toMatch(/^sbc_media_port_allocation_failures\{realm="LAN"\} 0$/m);
    expect(metrics).toMatch(/^sbc_pending_calls 0$/m);
  }, 60_000);
});
