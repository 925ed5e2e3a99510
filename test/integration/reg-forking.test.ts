/**
 * Issue 11, one AOR with two phones registered through the SBC (two
 * bindings, two upstream contacts at Kamailio): a PBX call to the user is
 * forked by Kamailio to both contacts, both reach the SBC with the same
 * Call-ID, From tag and CSeq but different Request-URIs (no merged request,
 * §8.2.2.2), both phones ring, the first 2xx wins and the other phone gets
 * the CANCEL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { startSbc, type SbcProcess } from './helpers/sbc-process.js';
import { startKamailioRegistrar, type KamailioRegistrar } from './helpers/kamailio.js';
import { remoteUsersIni } from './helpers/remote-users.js';
import { waitUdpBound } from './helpers/wait.js';

const PHONE_IP = '127.0.0.5';
const PBX_IP = '127.0.0.20';
const EXT_IP = '127.0.0.21';

describe('issue 11: a call to a user with two registered phones rings both', () => {
  let dir = '';
  let kam: KamailioRegistrar | null = null;
  let sbc: SbcProcess | null = null;
  let wanPort = 0;
  const phones = [0, 0];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'reg-forking-'));
    const [apiPort, lanPort, extPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(EXT_IP)]);
    wanPort = await findFreePort();
    phones[0] = await findFreePort(PHONE_IP);
    do phones[1] = await findFreePort(PHONE_IP); while (phones[1] === phones[0]);
    kam = await startKamailioRegistrar({ address: PBX_IP, extensions: { address: EXT_IP, port: extPort } });
    const pbxPort = kam.port;
    sbc = await startSbc(await remoteUsersIni({ lanPort, wanPort, pbxPort, apiPort }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    await kam?.stop();
    if (dir && !process.env['KEEP_TRACE']) await rm(dir, { recursive: true, force: true });
  });

  it('forks to both bindings: one answers, the other is cancelled', async () => {
    for (const port of phones) {
      const r = await runSipp({
        scenario: join(SCENARIOS, 'reg-phone-register.xml'), target: `127.0.0.1:${wanPort}`, localAddress: PHONE_IP, localPort: port,
        calls: 1, service: '240', timeoutMs: 15_000, extraArgs: ['-key', 'contact_port', String(port), '-key', 'expires', '300'],
      });
      expect(r.successful, r.output).toBe(1);
    }
    const bindings = await sbc!.api<Array<{ aor: string; flow: { port: number } }>>('/api/v1/registrations/users?aor=240');
    expect(bindings.map((b) => b.flow.port).sort()).toEqual([...phones].sort());

    // Phone 0 answers after a second; phone 1 rings until it is cancelled.
    const traces = phones.map((_, i) => join(dir, `phone${i}.log`));
    const answering = startSipp({
      scenario: join(SCENARIOS, 'overload-uas-slow-answer.xml'), calls: 1, localAddress: PHONE_IP, localPort: phones[0]!, timeoutMs: 25_000,
      extraArgs: ['-trace_msg', '-message_file', traces[0]!],
    });
    const ringing = startSipp({
      scenario: join(SCENARIOS, 'b2bua-uas-ringing-cancel.xml'), calls: 1, localAddress: PHONE_IP, localPort: phones[1]!, timeoutMs: 25_000,
      extraArgs: ['-trace_msg', '-message_file', traces[1]!],
    });
    try {
      await Promise.all(phones.map((p) => waitUdpBound(PHONE_IP, p)));
      const pbx = await runSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${PBX_IP}:${kam!.port}`, localAddress: EXT_IP, calls: 1, service: '240',
        timeoutMs: 20_000, extraArgs: ['-d', '300', '-trace_msg', '-message_file', join(dir, 'pbx.log')],
      });
      expect(pbx.successful, `PBX: ${pbx.output}${pbx.errors}`).toBe(1);
      const [a, b] = await Promise.all([answering.done, ringing.done]);
      expect(a.successful, `answering phone: ${a.output}`).toBe(1);
      expect(b.successful, `ringing phone: ${b.output}`).toBe(1);
    } finally {
      await Promise.all([answering.stop(), ringing.stop()]);
    }
    const [t0, t1] = await Promise.all(traces.map((t) => readSippTrace(t)));
    // Both phones got the INVITE, each with its own Contact as Request-URI.
    expect(received(t0!, 'INVITE')[0]!.msg.requestUri).toContain(`@${PHONE_IP}:${phones[0]};`);
    expect(received(t1!, 'INVITE')[0]!.msg.requestUri).toContain(`@${PHONE_IP}:${phones[1]};`);
    expect(received(t0!, 'BYE')).toHaveLength(1);
    expect(received(t1!, 'CANCEL')).toHaveLength(1);
    expect(received(t1!, 'BYE')).toHaveLength(0);
    // The PBX got exactly one answer.
    const answers = received(await readSippTrace(join(dir, 'pbx.log')), 200).filter((m) => m.msg.cseq?.method === 'INVITE');
    expect(new Set(answers.map((m) => m.msg.toTag)).size).toBe(1);
  }, 60_000);
});
