/**
 * SIP worker threads over TCP (SIPWorkerThreads = 2, docs/performance.md
 * "Multi-core signalling"): the main thread owns every TCP connection and
 * hands each message to the thread that owns its Call-ID; that thread's
 * sends go back out through the main thread's connections. sipp on both
 * sides over TCP (`-t t1`: one connection each way for every call).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbcOwnThreads, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { until } from './helpers/wait.js';
import { StreamFramer } from '../../src/sip/stream-framer.js';
import { shardOfCallId } from '../../src/sip/call-id-shard.js';

const PBX = '127.0.0.74';
const ITSP = '127.0.0.75';

interface TransportStatus { streamReceived: number; connectionsOpened: number; openConnections: number }
interface ThreadStatus { shard: number; calls: { calls: number; totalCalls: number }; transport: TransportStatus }
interface Status {
  calls: { calls: number; totalCalls: number; registeredDialogs: number };
  transport: TransportStatus;
  workers?: ThreadStatus[];
}

describe('SIP worker threads over TCP (SIPWorkerThreads = 2, real SBC process, sipp -t t1)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;

  beforeAll(async () => {
    assertSippInstalled();
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasPort = await findFreePort(ITSP);
    uas = startSipp({ scenario: 'uas', transport: 't1', calls: 5000, localAddress: ITSP, localPort: uasPort, timeoutMs: 120_000 });
    await uas.bound();
    sbc = await startSbcOwnThreads(testIni({
      lanPort, wanPort, apiPort: await findFreePort(), media: true, pbx: { address: PBX, port: 5060 },
      itsp: [{ address: ITSP, port: uasPort }], itspTransportType: 1, scalars: ['SIPWorkerThreads = 2'],
    }));
  }, 30_000);

  afterAll(async () => {
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('carries TCP calls on both threads over the main thread\'s connections; every call completes', async () => {
    const r = await runSipp({ scenario: 'uac', transport: 't1', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 300, rate: 100, timeoutMs: 60_000 });
    expect(r.failed, r.errors).toBe(0);
    expect(r.successful).toBe(300);
    const s = await until('calls gone', async () => {
      const st = await sbc.api<Status>('/api/v1/status');
      return st.calls.calls === 0 && st.calls.registeredDialogs === 0 ? st : null;
    });
    const worker = s.workers?.find((w) => w.shard === 1);
    process.stdout.write(`tcp with 2 threads: ${s.calls.totalCalls} calls, ${worker?.calls.totalCalls} on the worker; main opened ${s.transport.connectionsOpened} connections\n`);
    expect(s.calls.totalCalls).toBe(300);
    // FNV-1a of sipp's Call-IDs mod 2: each thread carries a fair share.
    expect(worker?.calls.totalCalls).toBeGreaterThan(60);
    expect(worker?.calls.totalCalls).toBeLessThan(240);
    // The connections are the main thread's alone: one from sipp's UAC, one to sipp's UAS.
    expect(s.transport.connectionsOpened).toBe(2);
    expect(worker?.transport.connectionsOpened).toBe(0);
    // Every message of the 300 calls came in over them: INVITE, ACK, BYE on leg A; 200, 200 on leg B (at least).
    expect(s.transport.streamReceived).toBeGreaterThanOrEqual(300 * 5);
  }, 90_000);

  it('answers OPTIONS outside a call over TCP whatever thread its Call-ID hashes to', async () => {
    const ids = Array.from({ length: 16 }, () => randomBytes(8).toString('hex'));
    // Both threads' Call-IDs among them (else this proves nothing about the hand-back).
    expect(new Set(ids.map((id) => shardOfCallId(id, 2))).size).toBe(2);
    const sock = net.connect({ host: '127.0.0.1', port: lanPort, localAddress: PBX });
    const framer = new StreamFramer();
    const answers = new Map<string, number>();
    sock.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (ev.kind === 'message' && ev.result.ok && !ev.result.message.isRequest) answers.set(ev.result.message.callId, ev.result.message.status);
      }
    });
    try {
      await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
      const port = sock.localPort ?? 0;
      for (const id of ids) {
        sock.write([
          `OPTIONS sip:sbc@127.0.0.1:${lanPort};transport=tcp SIP/2.0`,
          `Via: SIP/2.0/TCP ${PBX}:${port};branch=z9hG4bK${id}`,
          'Max-Forwards: 70', `From: <sip:probe@${PBX}>;tag=${id}`, 'To: <sip:sbc@127.0.0.1>',
          `Call-ID: ${id}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
        ].join('\r\n'));
      }
      await until('every OPTIONS answered', async () => (ids.every((id) => answers.has(id)) ? true : null), 10_000);
      for (const id of ids) expect(answers.get(id), id).toBe(200);
    } finally {
      sock.destroy();
    }
  }, 30_000);
});
