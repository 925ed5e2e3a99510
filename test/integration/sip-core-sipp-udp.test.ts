/**
 * sipp against the transaction layer over UDP: the built-in `uac` scenario
 * against the test UAS (clean and with 10% simulated loss), a CANCEL
 * scenario of ours, and our own client transactions against sipp's `uas`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { SipMessage } from '../../src/sip/message.js';
import { newCallId, newTag } from '../../src/sip/response.js';
import { parseNameAddr } from '../../src/sip/grammar.js';
import { TransportLayer } from '../../src/transport/transport-layer.js';
import type { Endpoint } from '../../src/transport/types.js';
import { TransactionLayer } from '../../src/transaction/transaction-layer.js';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippResult } from './helpers/sipp.js';
import { TestUas } from './helpers/test-uas.js';

const scenario = (name: string): string => fileURLToPath(new URL(`../scenarios/${name}`, import.meta.url));

function describeRun(r: SippResult): string {
  return `sipp ${r.args.join(' ')}\nexit=${r.exitCode} signal=${r.signal} killed=${r.killed} ok=${r.successful} failed=${r.failed}\n${r.output.slice(-1500)}\n${r.errors.slice(-1500)}`;
}

describe('sipp uac -> test UAS over UDP', () => {
  beforeAll(() => assertSippInstalled());

  it('completes 2,000 calls with none failed', async () => {
    const uas = await TestUas.start({ tcp: false });
    try {
      const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${uas.info.udpPort}`, calls: 2000, rate: 200, limit: 400, timeoutMs: 50_000 });
      expect(r.failed, describeRun(r)).toBe(0);
      expect(r.successful, describeRun(r)).toBe(2000);
      expect(r.exitCode, describeRun(r)).toBe(0);
      expect(uas.counters.invites).toBe(2000);
      expect(uas.counters.byes).toBe(2000);
    } finally {
      await uas.stop();
    }
  }, 60_000);

  it('recovers every call through retransmissions with 10% packet loss', async () => {
    const uas = await TestUas.start({ tcp: false });
    try {
      const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${uas.info.udpPort}`, calls: 2000, rate: 200, limit: 600, lostPercent: 10, timeoutMs: 80_000 });
      expect(r.failed, describeRun(r)).toBe(0);
      expect(r.successful, describeRun(r)).toBe(2000);
      // Loss really happened and both sides retransmitted.
      expect(r.retransmissions).toBeGreaterThan(0);
      const s = uas.layer.stats();
      expect(s.retransmissionsSent).toBeGreaterThan(0);
      expect(s.retransmissionsAbsorbed).toBeGreaterThan(0);
    } finally {
      await uas.stop();
    }
  }, 90_000);

  it('matches CANCEL to its INVITE: 200 to the CANCEL, 487 to the INVITE, ACK absorbed', async () => {
    const uas = await TestUas.start({ tcp: false, answerDelayMs: 20_000 });
    try {
      const r = await runSipp({ scenario: scenario('uac-cancel-ringing.xml'), target: `127.0.0.1:${uas.info.udpPort}`, calls: 20, rate: 20, timeoutMs: 30_000 });
      expect(r.failed, describeRun(r)).toBe(0);
      expect(r.successful, describeRun(r)).toBe(20);
      expect(uas.counters.cancels).toBe(20);
      expect(uas.counters.acks).toBe(0); // the ACK of the 487 stays inside the transaction
      expect(uas.layer.stats().cancelsMatched).toBe(20);
    } finally {
      await uas.stop();
    }
  }, 40_000);
});

describe('our client transactions -> sipp uas over UDP', () => {
  let transport: TransportLayer;
  let layer: TransactionLayer;

  beforeAll(async () => {
    assertSippInstalled();
    transport = new TransportLayer();
    await transport.listen({ name: 'lan', address: '127.0.0.1', udpPort: 0 });
    layer = new TransactionLayer(transport);
  });

  afterAll(async () => {
    layer.close();
    await transport.close();
  });

  function request(layerReq: { method: string; uri: string; from: string; to: string; callId: string; cseq: number }): SipMessage {
    const m = SipMessage.request(layerReq.method, layerReq.uri);
    m.addHeader('from', layerReq.from);
    m.addHeader('to', layerReq.to);
    m.addHeader('call-id', layerReq.callId);
    m.addHeader('cseq', `${layerReq.cseq} ${layerReq.method}`);
    return m;
  }

  function transact(req: SipMessage, dest: Endpoint): Promise<SipMessage> {
    return new Promise((resolve, reject) => {
      layer.sendRequest(req, dest, 'lan', {
        onFinal: resolve,
        onTimeout: () => reject(new Error(`${req.method} timed out`)),
        onTransportError: reject,
      });
    });
  }

  it('INVITE / 2xx / ACK / BYE with sipp as the callee', async () => {
    const port = await findFreePort();
    const calls = 10;
    const sipp = startSipp({ scenario: 'uas', calls, localPort: port, timeoutMs: 40_000 });
    try {
      await sipp.bound();
      const dest: Endpoint = { address: '127.0.0.1', port, transport: 'udp' };
      const local = transport.getInterface('lan')!;
      for (let i = 0; i < calls; i++) {
        const ids = {
          uri: `sip:service@127.0.0.1:${port}`,
          from: `<sip:sbc@127.0.0.1:${local.udpPort}>;tag=${newTag()}`,
          to: `<sip:service@127.0.0.1:${port}>`,
          callId: newCallId(),
        };
        const inv = request({ ...ids, method: 'INVITE', cseq: 1 });
        inv.addHeader('contact', `<sip:sbc@127.0.0.1:${local.udpPort}>`);
        const ok = await transact(inv, dest);
        expect(ok.status).toBe(200);
        const to = ok.getHeader('to')!;
        const contact = parseNameAddr(ok.getHeaderValues('contact')[0] ?? '');
        const target = contact?.uri ?? ids.uri;
        const ack = request({ ...ids, to, uri: target, method: 'ACK', cseq: 1 });
        await layer.sendStateless(ack, dest, 'lan');
        const bye = request({ ...ids, to, uri: target, method: 'BYE', cseq: 2 });
        const byeOk = await transact(bye, dest);
        expect(byeOk.status).toBe(200);
      }
      const r = await sipp.done;
      expect(r.successful, describeRun(r)).toBe(calls);
      expect(r.failed, describeRun(r)).toBe(0);
    } finally {
      await sipp.stop();
    }
  }, 50_000);
});
