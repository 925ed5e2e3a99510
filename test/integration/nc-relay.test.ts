/**
 * Issue 11, non-call requests through the real SBC process: MESSAGE and
 * SUBSCRIBE/NOTIFY (a whole subscription: NOTIFY active, un-SUBSCRIBE,
 * NOTIFY terminated) relayed both ways between sipp as the PBX
 * (127.0.0.2) and sipp as the trunk (127.0.0.3), routed by IP2IPRouting
 * like calls, with the SBC's own Call-ID, tags, Via and Contact on each
 * side (topology hiding), and no dialog left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS, topologyOf, type SippTrace } from './helpers/b2bua-harness.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PBX_IP = '127.0.0.2';
const TRUNK_IP = '127.0.0.3';

async function waitUdpBound(address: string, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inUse = await new Promise<boolean>((res) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => res(true));
      s.bind(port, address, () => s.close(() => res(false)));
    });
    if (inUse) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('issue 11: MESSAGE and SUBSCRIBE/NOTIFY relayed through the SBC', () => {
  let sbc: SbcProcess;
  let dir = '';
  let lanPort = 0;
  let wanPort = 0;
  let trunkPort = 0;
  let pbxPort = 0;
  let apiPort = 0;
  let n = 0;

  async function flow(uac: string, uas: string, fromTrunk: boolean): Promise<{ uacTrace: SippTrace; uasTrace: SippTrace }> {
    const k = ++n;
    const callee = fromTrunk ? { ip: PBX_IP, port: pbxPort } : { ip: TRUNK_IP, port: trunkPort };
    const caller = fromTrunk ? { ip: TRUNK_IP, sbcPort: wanPort } : { ip: PBX_IP, sbcPort: lanPort };
    const uasFile = join(dir, `uas-${k}.log`);
    const uacFile = join(dir, `uac-${k}.log`);
    const server = startSipp({
      scenario: join(SCENARIOS, uas), calls: 1, localAddress: callee.ip, localPort: callee.port, timeoutMs: 20_000,
      extraArgs: ['-trace_msg', '-message_file', uasFile],
    });
    await waitUdpBound(callee.ip, callee.port);
    const client = await runSipp({
      scenario: join(SCENARIOS, uac), target: `127.0.0.1:${caller.sbcPort}`, localAddress: caller.ip, calls: 1, service: '4420',
      timeoutMs: 20_000, extraArgs: ['-trace_msg', '-message_file', uacFile],
    });
    const stopper = setTimeout(() => void server.stop(), 3000);
    const s = await server.done;
    clearTimeout(stopper);
    expect(client.successful, `client: ${client.output}${client.errors}\nSBC: ${sbc.stderr()}`).toBe(1);
    expect(s.successful, `server: ${s.output}${s.errors}`).toBe(1);
    return { uacTrace: await readSippTrace(uacFile), uasTrace: await readSippTrace(uasFile) };
  }

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'nc-relay-'));
    [lanPort, wanPort, apiPort, trunkPort, pbxPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort(TRUNK_IP), findFreePort(PBX_IP),
    ]);
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort, media: false, pbx: { address: PBX_IP, port: pbxPort }, itsp: [{ address: TRUNK_IP, port: trunkPort }],
    }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    if (dir && !process.env['KEEP_TRACE']) await rm(dir, { recursive: true, force: true });
  });

  for (const fromTrunk of [false, true]) {
    const dirName = fromTrunk ? 'trunk -> PBX' : 'PBX -> trunk';
    it(`MESSAGE ${dirName}: the body arrives, the answer comes back, nothing of the sender's topology passes`, async () => {
      const { uacTrace, uasTrace } = await flow('nc-uac-message.xml', 'nc-uas-message.xml', fromTrunk);
      const msg = received(uasTrace, 'MESSAGE')[0]!.msg;
      expect(msg.body.toString()).toMatch(/^hello 4420 from 127\.0\.0\.[23]/);
      expect(msg.contentType).toBe('text/plain');
      expect(msg.callId).not.toBe(received(uacTrace, 200)[0]!.msg.callId);
      const own = [`127.0.0.1:${lanPort}`, `127.0.0.1:${wanPort}`];
      const senderIp = fromTrunk ? TRUNK_IP : PBX_IP;
      expect(topologyOf(uasTrace, own).filter((v) => v.includes(senderIp))).toEqual([]);
    }, 40_000);

    it(`SUBSCRIBE/NOTIFY ${dirName}: a whole subscription is relayed and its dialogs are released`, async () => {
      const { uacTrace, uasTrace } = await flow('nc-uac-subscribe.xml', 'nc-uas-subscribe.xml', fromTrunk);
      const notifies = received(uacTrace, 'NOTIFY');
      expect(notifies.map((m) => m.msg.getHeader('subscription-state'))).toEqual(['active;expires=60', 'terminated;reason=timeout']);
      expect(notifies[0]!.msg.body.toString()).toContain('<basic>open</basic>');
      const subs = received(uasTrace, 'SUBSCRIBE');
      expect(subs.map((m) => m.msg.getHeader('expires'))).toEqual(['60', '0']);
      expect(subs[0]!.msg.getHeader('event')).toBe('presence');
      const reg = await sbc.api<{ subscriptions: number }>('/api/v1/registrations');
      expect(reg.subscriptions).toBe(0);
    }, 40_000);
  }

  it('a NOTIFY that overtakes the 2xx of the SUBSCRIBE is held and relayed after it', async () => {
    const { uacTrace } = await flow('nc-uac-subscribe.xml', 'nc-uas-subscribe-early.xml', false);
    const order = uacTrace.filter((m) => m.dir === 'received').map((m) => (m.msg.isRequest ? m.msg.method : `${m.msg.status} ${m.msg.cseq?.method}`));
    expect(order.filter((x, i) => order.indexOf(x) === i).slice(0, 2)).toEqual(['200 SUBSCRIBE', 'NOTIFY']);
    const reg = await sbc.api<{ subscriptions: number }>('/api/v1/registrations');
    expect(reg.subscriptions).toBe(0);
  }, 40_000);
});
