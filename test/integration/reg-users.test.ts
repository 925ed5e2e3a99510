/**
 * Issue 11, far-end users through the SBC process with the shipped
 * `config/remote-users.ini` (ports made free, API added): sipp phones on
 * 127.0.0.5 register through the SBC to Kamailio (registrar + usrloc) as
 * the PBX on 127.0.0.20. Then the PBX's call to the phone is routed by
 * Kamailio to the SBC's contact and by the SBC to the phone's flow (its
 * source port, not the port its Contact names: a NAT), the phone's call
 * reaches the PBX, un-REGISTER and expiry remove the binding (and the
 * registration upstream), and an expired user gets 480.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { startSbc, type SbcProcess } from './helpers/sbc-process.js';
import { startKamailioRegistrar, type KamailioRegistrar } from './helpers/kamailio.js';
import { startBaresip, stopAll, type BaresipInstance } from './helpers/baresip.js';
import { remoteUsersIni } from './helpers/remote-users.js';
import { until, waitUdpBound } from './helpers/wait.js';

const PHONE_IP = '127.0.0.5';
const PBX_IP = '127.0.0.20';
const EXT_IP = '127.0.0.21';

interface BindingView { aor: string; contact: string; ipGroup: string; flow: { address: string; port: number; transport: string }; expiresInSec: number }

describe('issue 11: remote users register through the SBC to a Kamailio registrar', () => {
  let dir = '';
  let kam: KamailioRegistrar | null = null;
  let sbc: SbcProcess | null = null;
  let lanPort = 0;
  let wanPort = 0;
  let extPort = 0;
  let phonePort = 0;
  let ini = '';

  const users = async (): Promise<BindingView[]> => sbc!.api<BindingView[]>('/api/v1/registrations/users');

  async function register(expires: number, contactPort: number, name: string): Promise<Awaited<ReturnType<typeof readSippTrace>>> {
    const trace = join(dir, `${name}.log`);
    const r = await runSipp({
      scenario: join(SCENARIOS, 'reg-phone-register.xml'), target: `127.0.0.1:${wanPort}`, localAddress: PHONE_IP, localPort: phonePort,
      calls: 1, service: '200', timeoutMs: 15_000,
      extraArgs: ['-key', 'contact_port', String(contactPort), '-key', 'expires', String(expires), '-trace_msg', '-message_file', trace],
    });
    expect(r.successful, `phone REGISTER: ${r.output}${r.errors}\nSBC: ${sbc!.stderr()}`).toBe(1);
    return readSippTrace(trace);
  }

  /** The PBX (sipp on the PBX host) calls `user` through Kamailio; the phone (sipp UAS on its registered source port) answers. */
  async function pbxCallsPhone(name: string, service = '200'): Promise<{ ok: number; phone: Awaited<ReturnType<typeof readSippTrace>> }> {
    const phoneTrace = join(dir, `${name}-phone.log`);
    const phone = startSipp({
      scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls: 1, localAddress: PHONE_IP, localPort: phonePort, timeoutMs: 20_000,
      extraArgs: ['-trace_msg', '-message_file', phoneTrace],
    });
    await waitUdpBound(PHONE_IP, phonePort);
    const pbx = await runSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${PBX_IP}:${kam!.port}`, localAddress: EXT_IP, calls: 1, service,
      timeoutMs: 20_000, extraArgs: ['-d', '200', '-trace_msg', '-message_file', join(dir, `${name}-pbx.log`)],
    });
    if (pbx.successful !== 1) console.log(pbx.output, pbx.errors);
    const stopper = setTimeout(() => void phone.stop(), 2000);
    await phone.done;
    clearTimeout(stopper);
    return { ok: pbx.successful, phone: await readSippTrace(phoneTrace).catch(() => []) };
  }

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'reg-users-'));
    const apiPort = await findFreePort();
    [lanPort, wanPort, extPort, phonePort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(EXT_IP), findFreePort(PHONE_IP)]);
    kam = await startKamailioRegistrar({ address: PBX_IP, extensions: { address: EXT_IP, port: extPort } });
    const pbxPort = kam.port;
    ini = await remoteUsersIni({ lanPort, wanPort, pbxPort, apiPort, scalars: [`RegistrationDatabaseDir = ${join(dir, 'registrations')}`] });
    sbc = await startSbc(ini);
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    await kam?.stop();
    if (dir && !process.env['KEEP_TRACE']) await rm(dir, { recursive: true, force: true });
  });

  it('relays the REGISTER with its own Contact and keeps the binding with the exact flow and Contact', async () => {
    const natPort = phonePort + 1;
    const trace = await register(300, natPort, 'register');
    const exact = `<sip:200@${PHONE_IP}:${natPort};unknownparam=x1;transport=UDP?Route=%3Csip%3Aedge.example%3Blr%3E>`;
    const ok = received(trace, 200)[0]!.msg;
    expect(ok.getHeader('contact')).toMatch(new RegExp(`^${exact.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};expires=\\d+$`));
    const list = await users();
    expect(list).toHaveLength(1);
    expect(list[0]!.aor).toBe('200@pbx.local');
    expect(list[0]!.ipGroup).toBe('RemoteUsers');
    expect(list[0]!.contact).toBe(exact);
    expect(list[0]!.flow).toMatchObject({ address: PHONE_IP, port: phonePort, transport: 'udp' });
    const reg = await sbc!.api<{ users: Record<string, number> }>('/api/v1/registrations');
    expect(reg.users).toEqual({ RemoteUsers: 1 });
  }, 30_000);

  it('a PBX call to the user reaches the phone on its source port (NAT), with the Contact\'s parameters in the Request-URI', async () => {
    const { ok, phone } = await pbxCallsPhone('pbx-to-phone');
    expect(ok, kam!.output()).toBe(1);
    const inv = received(phone, 'INVITE')[0]!.msg;
    expect(inv.requestUri).toBe(`sip:200@${PHONE_IP}:${phonePort + 1};unknownparam=x1;transport=UDP`);
    // Topology hiding: nothing of the PBX or of Kamailio's contact alias reaches the phone.
    const raw = received(phone, 'INVITE')[0]!.raw;
    expect(raw).not.toContain(PBX_IP);
    expect(raw).not.toMatch(/sip:r[0-9a-f]{12}@/);
  }, 40_000);

  it('a call from the phone reaches the PBX, classified by its registration', async () => {
    const ext = startSipp({ scenario: join(SCENARIOS, 'e2e-uas-answer.xml'), calls: 1, localAddress: EXT_IP, localPort: extPort, timeoutMs: 20_000 });
    await waitUdpBound(EXT_IP, extPort);
    // From user 999 matches no Classification row (2xx# only): only the registered flow (the phone's port) classifies it.
    const call = await runSipp({
      scenario: join(SCENARIOS, 'reg-phone-call.xml'), target: `127.0.0.1:${wanPort}`, localAddress: PHONE_IP, localPort: phonePort, calls: 1,
      service: '300', timeoutMs: 20_000, extraArgs: ['-d', '200', '-key', 'from_user', '999'],
    });
    const extRes = await ext.done;
    expect(call.successful, `phone: ${call.output}${call.errors}`).toBe(1);
    expect(extRes.successful, `extension: ${extRes.output}`).toBe(1);
  }, 40_000);

  it('the binding survives a restart of the SBC: the PBX call still reaches the phone', async () => {
    expect(await sbc!.stop()).toBe(0);
    sbc = await startSbc(ini);
    const opened = await sbc.waitForLog((l) => l.msg === 'registration store opened');
    expect(opened['bindings']).toBe(1);
    const list = await users();
    expect(list).toHaveLength(1);
    expect(list[0]!.flow).toMatchObject({ address: PHONE_IP, port: phonePort });
    const { ok, phone } = await pbxCallsPhone('after-restart');
    expect(ok).toBe(1);
    expect(received(phone, 'INVITE')).toHaveLength(1);
  }, 40_000);

  it('un-REGISTER removes the binding here and at the PBX', async () => {
    await register(0, phonePort + 1, 'unregister');
    expect(await users()).toEqual([]);
    const { ok, phone } = await pbxCallsPhone('after-unregister');
    // Kamailio no longer knows the user: 404 to the PBX caller (the scenario ACKs it), nothing reaches the phone.
    expect(ok).toBe(1);
    expect(received(phone, 'INVITE')).toHaveLength(0);
  }, 40_000);

  it('an expired binding is removed, un-registered upstream, and calls to the user get 480', async () => {
    await register(2, phonePort, 'short');
    expect(await users()).toHaveLength(1);
    await until('expiry', async () => (await users()).length === 0);
    await sbc!.waitForLog((l) => l.msg === 'registration expired');
    // The SBC un-registered our contact at Kamailio (it had granted 3600 s, SBCProxyRegistrationTime):
    // a PBX call through Kamailio now ends there (404) and never reaches the SBC.
    const cdrsBefore = sbc!.logs.filter((l) => l.msg === 'call detail record').length;
    const viaKamailio = await runSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${PBX_IP}:${kam!.port}`, localAddress: EXT_IP, calls: 1, service: '200',
      timeoutMs: 15_000, extraArgs: ['-trace_msg', '-message_file', join(dir, 'after-expiry-pbx.log')],
    });
    expect(viaKamailio.successful).toBe(1);
    expect(received(await readSippTrace(join(dir, 'after-expiry-pbx.log')), 404)).toHaveLength(1);
    expect(sbc!.logs.filter((l) => l.msg === 'call detail record')).toHaveLength(cdrsBefore);
    // The PBX (its address classifies by proxy set) calls the SBC directly: the user is known but expired.
    await runSipp({
      scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `127.0.0.1:${lanPort}`, localAddress: PBX_IP, calls: 1, service: '200',
      timeoutMs: 15_000,
    });
    const cdr = await sbc!.waitForLog((l) => l.msg === 'call detail record' && (l['cdr'] as { sipStatus?: number }).sipStatus === 480);
    expect((cdr['cdr'] as { srcIpGroup: string }).srcIpGroup).toBe('PBX');
  }, 40_000);

  it('baresip registered over TCP is called over the connection it registered on', async () => {
    let phone: BaresipInstance | null = null;
    try {
      phone = await startBaresip({
        name: 'tcp-phone', user: '201',
        register: { aorHost: 'pbx.local', outbound: `sip:127.0.0.1:${wanPort};transport=tcp`, transport: 'tcp', regint: 600 },
      });
      // baresip may register before its control connection is up, so its REGISTER_OK event can be missed: watch the SBC instead.
      const b = await until('TCP binding', async () => (await users()).find((u) => u.aor === '201@pbx.local'));
      expect(b.flow.transport).toBe('tcp');
      expect(b.flow.address).toBe('127.0.0.1');
      // baresip listens on its own port; the binding's flow is the ephemeral port of its connection.
      expect(b.flow.port).not.toBe(phone.sipPort);
      const opened = async (): Promise<number> =>
        (await sbc!.api<{ transport: { connectionsOpened: number } }>('/api/v1/status')).transport.connectionsOpened;
      const before = await opened();
      const pbx = await runSipp({
        scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${PBX_IP}:${kam!.port}`, localAddress: EXT_IP, calls: 1, service: '201',
        timeoutMs: 20_000, extraArgs: ['-d', '500', '-trace_msg', '-message_file', join(dir, 'tcp-pbx.log')],
      });
      const pbxTrace = async (): Promise<string> => (await readSippTrace(join(dir, 'tcp-pbx.log')).catch(() => [])).map((m) => `${m.dir}: ${m.raw}`).join('\n');
      expect(pbx.successful, `PBX: ${pbx.output}${pbx.errors}\n${await pbxTrace()}\nbaresip: ${phone.output()}`).toBe(1);
      await phone.waitForEvent('CALL_ESTABLISHED');
      await phone.waitForEvent('CALL_CLOSED');
      // No new connection toward the phone: the INVITE and the BYE went over the registered one.
      expect(await opened()).toBe(before);
    } finally {
      if (phone) await stopAll([phone]);
    }
  }, 60_000);
});
