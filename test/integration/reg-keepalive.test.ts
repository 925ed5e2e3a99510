/**
 * Issue 11, NAT keep-alive toward users registered through the SBC (the
 * shipped `config/remote-users.ini`, Kamailio as the PBX's registrar):
 * - a sipp phone behind a simulated NAT (it registers from one port, its
 *   Contact names another) gets the SBC's OPTIONS pings on the port it
 *   registered from, none on the Contact's port; once it stops answering,
 *   the binding is removed (SBCUserKeepAliveRemoveDead) and un-registered
 *   at the PBX;
 * - a phone on TCP gets RFC 5626 CRLFCRLF keep-alives on the connection it
 *   registered on (UsePingPongKeepAlive), and its binding goes when that
 *   connection closes;
 * - a TCP client's CRLFCRLF ping is answered with a CRLF pong (RFC 5626 §3.5.1);
 * - `sbc status` prints the users and bindings per IP Group and the calls.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, runSipp, startSipp } from './helpers/sipp.js';
import { readSippTrace, received, SCENARIOS } from './helpers/b2bua-harness.js';
import { SBC_MAIN, startSbc, TEST_API_USERS, type SbcProcess } from './helpers/sbc-process.js';
import { startKamailioRegistrar, type KamailioRegistrar } from './helpers/kamailio.js';
import { remoteUsersIni } from './helpers/remote-users.js';
import { until, waitUdpBound } from './helpers/wait.js';

const PHONE_IP = '127.0.0.5';
const PBX_IP = '127.0.0.20';
const EXT_IP = '127.0.0.21';

interface BindingView { aor: string; flow: { address: string; port: number; transport: string } }

/** A TCP connection to the SBC that records every byte it receives. */
class RawTcp {
  readonly socket: net.Socket;
  data = '';
  closed = false;
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { this.data += d; });
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => undefined);
  }
  static open(port: number): Promise<RawTcp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawTcp(s)));
      s.once('error', reject);
    });
  }
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }
}

describe('issue 11: keep-alives toward registered users behind NAT', () => {
  let dir = '';
  let kam: KamailioRegistrar | null = null;
  let sbc: SbcProcess | null = null;
  let wanPort = 0;
  let phonePort = 0;
  let apiPort = 0;

  const users = async (): Promise<BindingView[]> => sbc!.api<BindingView[]>('/api/v1/registrations/users');
  const metric = async (re: RegExp): Promise<number> => {
    const m = re.exec((await sbc!.http('/metrics')).body);
    return m === null ? 0 : Number(m[1]);
  };

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'reg-keepalive-'));
    let pbxPort = 0, lanPort = 0, extPort = 0;
    [apiPort, lanPort, extPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(EXT_IP)]);
    [wanPort, phonePort] = await Promise.all([findFreePort(), findFreePort(PHONE_IP)]);
    kam = await startKamailioRegistrar({ address: PBX_IP, extensions: { address: EXT_IP, port: extPort } });
    pbxPort = kam.port;
    sbc = await startSbc(await remoteUsersIni({
      lanPort, wanPort, pbxPort, apiPort,
      scalars: ['SBCUserKeepAliveTime = 1', 'UsePingPongKeepAlive = 1', 'PingPongKeepAliveTime = 1', 'SBCUserKeepAliveRemoveDead = 1'],
    }));
  }, 30_000);

  afterAll(async () => {
    await sbc?.stop();
    await kam?.stop();
    if (dir && !process.env['KEEP_TRACE']) await rm(dir, { recursive: true, force: true });
  });

  it('pings a UDP phone behind NAT on its source port with OPTIONS, and drops it once it stops answering', async () => {
    const contactPort = phonePort + 1;
    // The NAT's other side: the port the phone's Contact names. Nothing may arrive there.
    const contactSide = dgram.createSocket('udp4');
    const strays: string[] = [];
    contactSide.on('message', (m) => strays.push(m.toString('latin1')));
    await new Promise<void>((res) => contactSide.bind(contactPort, PHONE_IP, () => res()));
    try {
      const reg = await runSipp({
        scenario: join(SCENARIOS, 'reg-phone-register.xml'), target: `127.0.0.1:${wanPort}`, localAddress: PHONE_IP, localPort: phonePort,
        calls: 1, service: '210', timeoutMs: 15_000, extraArgs: ['-key', 'contact_port', String(contactPort), '-key', 'expires', '300'],
      });
      expect(reg.successful, `phone REGISTER: ${reg.output}${reg.errors}\nSBC: ${sbc!.stderr()}`).toBe(1);
      expect((await users()).find((u) => u.aor === '210@pbx.local')?.flow).toMatchObject({ address: PHONE_IP, port: phonePort, transport: 'udp' });

      // The phone (sipp on the port it registered from) answers two keep-alives, then goes away.
      const trace = join(dir, 'phone-options.log');
      const phone = startSipp({
        scenario: join(SCENARIOS, 'keepalive-options-uas.xml'), calls: 2, localAddress: PHONE_IP, localPort: phonePort, timeoutMs: 20_000,
        extraArgs: ['-trace_msg', '-message_file', trace],
      });
      await waitUdpBound(PHONE_IP, phonePort);
      const r = await phone.done;
      expect(r.successful, `phone: ${r.output}${r.errors}`).toBe(2);
      const pings = received(await readSippTrace(trace), 'OPTIONS');
      expect(pings.length).toBeGreaterThanOrEqual(2);
      const ping = pings[0]!.msg;
      // Toward the registered Contact (its parameters kept, its escaped headers dropped), sent to the flow.
      expect(ping.requestUri).toBe(`sip:210@${PHONE_IP}:${contactPort};unknownparam=x1;transport=UDP`);
      expect(ping.getHeader('to')).toBe('<sip:210@pbx.local>');
      // Topology hiding: nothing of the PBX side.
      expect(pings[0]!.raw).not.toContain(PBX_IP);
      expect(strays).toEqual([]);
      expect(await metric(/sbc_user_keepalives_total\{kind="options",result="alive"\} (\d+)/)).toBeGreaterThanOrEqual(2);

      // Nobody answers any more: timer F (64 x T1 = 6.4 s here) ends the next ping, the binding goes.
      const dead = await sbc!.waitForLog((l) => l.msg === 'registration flow dead' && l['aor'] === '210@pbx.local', 30_000);
      expect(dead['reason']).toBe('OPTIONS timed out');
      expect((await users()).find((u) => u.aor === '210@pbx.local')).toBeUndefined();
      expect(await metric(/sbc_user_keepalives_total\{kind="options",result="dead"\} (\d+)/)).toBeGreaterThanOrEqual(1);
      // ... and un-registered at the PBX: Kamailio no longer finds the user (404), nothing reaches the SBC.
      const pbxTrace = join(dir, 'pbx-after-dead.log');
      await until('un-REGISTER upstream', async () => {
        const call = await runSipp({
          scenario: join(SCENARIOS, 'e2e-uac-call.xml'), target: `${PBX_IP}:${kam!.port}`, localAddress: EXT_IP, calls: 1, service: '210',
          timeoutMs: 15_000, extraArgs: ['-trace_msg', '-message_file', pbxTrace],
        });
        return call.successful === 1 && received(await readSippTrace(pbxTrace), 404).length === 1;
      }, 20_000);
    } finally {
      contactSide.close();
    }
  }, 60_000);

  it('sends CRLFCRLF keep-alives on a TCP phone\'s registered connection and drops the binding when it closes', async () => {
    const phone = await RawTcp.open(wanPort);
    try {
      const port = phone.localPort;
      phone.socket.write([
        'REGISTER sip:pbx.local SIP/2.0',
        `Via: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bK-ka-tcp-1;rport`,
        'From: <sip:220@pbx.local>;tag=ka220',
        'To: <sip:220@pbx.local>',
        'Call-ID: keepalive-tcp-220',
        'CSeq: 1 REGISTER',
        `Contact: <sip:220@192.168.1.20:5060;transport=tcp>`,
        'Expires: 300',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '', '',
      ].join('\r\n'));
      await until('200 to the REGISTER', async () => /^SIP\/2\.0 200 /m.test(phone.data));
      const b = (await users()).find((u) => u.aor === '220@pbx.local');
      expect(b?.flow).toMatchObject({ transport: 'tcp', address: '127.0.0.1', port });
      // After the 200 (its Content-Length: 0 ends it) only keep-alives follow: CRLFCRLF, nothing else.
      const afterOk = (): string => phone.data.slice(phone.data.indexOf('\r\n\r\n', phone.data.indexOf('SIP/2.0 200')) + 4);
      await until('two CRLF keep-alives', async () => afterOk().length >= 8);
      expect(afterOk()).toMatch(/^(\r\n\r\n)+$/);
      expect(await metric(/sbc_user_keepalives_total\{kind="crlf",result="sent"\} (\d+)/)).toBeGreaterThanOrEqual(2);
    } finally {
      phone.socket.destroy();
    }
    const dead = await sbc!.waitForLog((l) => l.msg === 'registration flow dead' && l['aor'] === '220@pbx.local');
    expect(dead['reason']).toBe('connection closed');
    expect((await users()).find((u) => u.aor === '220@pbx.local')).toBeUndefined();
  }, 40_000);

  it('answers a TCP client\'s CRLFCRLF ping with a CRLF pong', async () => {
    const answered = async (): Promise<number> =>
      (await sbc!.api<{ transport: { keepAlivesAnswered: number } }>('/api/v1/status')).transport.keepAlivesAnswered;
    const before = await answered();
    const client = await RawTcp.open(wanPort);
    try {
      client.socket.write('\r\n\r\n');
      await until('the pong', async () => client.data.length >= 2);
      // Not registered: no keep-alives of ours on this connection, so exactly the pong.
      expect(client.data).toBe('\r\n');
      expect(await answered()).toBe(before + 1);
    } finally {
      client.socket.destroy();
    }
  }, 20_000);

  it('sbc status prints the calls, the accounts and the users and bindings per IP Group', async () => {
    const reg = await runSipp({
      scenario: join(SCENARIOS, 'reg-phone-register.xml'), target: `127.0.0.1:${wanPort}`, localAddress: PHONE_IP, localPort: phonePort,
      calls: 1, service: '230', timeoutMs: 15_000, extraArgs: ['-key', 'contact_port', String(phonePort), '-key', 'expires', '300'],
    });
    expect(reg.successful, reg.output).toBe(1);
    // The phone answers the keep-alives meanwhile, so its binding stays.
    const phone = startSipp({ scenario: join(SCENARIOS, 'keepalive-options-uas.xml'), calls: 100, localAddress: PHONE_IP, localPort: phonePort, timeoutMs: 25_000 });
    try {
      await waitUdpBound(PHONE_IP, phonePort);
      await statusChecks();
    } finally {
      await phone.stop();
    }
  }, 30_000);

  async function statusChecks(): Promise<void> {
    const cli = (env: Record<string, string>, ...extra: string[]): Promise<{ code: number; out: string; err: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [SBC_MAIN, 'status', '--api', `http://127.0.0.1:${apiPort}`, ...extra], {
          env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 15_000,
        }, (err, out, errOut) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out, err: errOut }));
      });
    const monitor = { SBC_API_USER: TEST_API_USERS.monitor.username, SBC_API_PASSWORD: TEST_API_USERS.monitor.password };
    const r = await cli(monitor);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^SBC \S+, up \S+$/m);
    expect(r.out).toMatch(/^Calls: 0 active/m);
    expect(r.out).toMatch(/^Accounts \(registrations to trunks\): none$/m);
    expect(r.out).toMatch(/^Registered users: 1 users, 1 bindings$/m);
    expect(r.out).toMatch(/^ {2}RemoteUsers {2}1 users {2}1 bindings$/m);
    const j = await cli(monitor, '--json');
    expect(JSON.parse(j.out).registrations.bindings).toEqual({ RemoteUsers: 1 });
    // Without credentials the API refuses, and so does the command.
    const denied = await cli({});
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/^status: /);
  }
});
