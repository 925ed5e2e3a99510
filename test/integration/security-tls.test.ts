/**
 * SIP over TLS with TLSContexts, against the real SBC process and a test
 * CA made in the test (issue 12): the SBC's listener presents the
 * context's certificate and refuses TLS 1.1; mutual TLS refuses a client
 * without a certificate; outgoing TLS verifies the trunk, so a trunk with a
 * certificate from another CA is refused and the call fails over to the
 * next server; sslscan finds no TLS 1.0/1.1 and only forward-secret suites
 * on the SIP TLS port and on the HTTPS API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { findFreePort } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { createTestCa, type TestCa } from './helpers/test-ca.js';
import { sipRequest, udpPeer, type UdpPeer } from './helpers/udp-peer.js';
import { assertBaresipInstalled, startBaresip, stopAll, type BaresipInstance } from './helpers/baresip.js';

const PBX = '127.0.0.111';
const TRUNK_BAD = '127.0.0.112';
const TRUNK_GOOD = '127.0.0.113';

/** A TLS "trunk": records handshakes and INVITEs, answers every INVITE 486. */
function tlsTrunk(address: string, port: number, cert: { cert: string; key: string }): Promise<{ server: tls.Server; invites: string[]; handshakes: number }> {
  const state = { invites: [] as string[], handshakes: 0 };
  const server = tls.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (sock) => {
    state.handshakes++;
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const msg = buf.slice(0, end);
        buf = buf.slice(end + 4);
        if (!msg.startsWith('INVITE ')) continue;
        state.invites.push(msg);
        const h = (n: string): string => msg.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${n.toLowerCase()}:`)).join('\r\n');
        sock.write(`SIP/2.0 486 Busy Here\r\n${h('Via')}\r\n${h('From')}\r\n${h('To')};tag=busy1\r\n${h('Call-ID')}\r\n${h('CSeq')}\r\nContent-Length: 0\r\n\r\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(port, address, () => resolve({ server, ...state, get invites() { return state.invites; }, get handshakes() { return state.handshakes; } })));
}

function sslscan(target: string): string {
  const r = spawnSync('/usr/bin/sslscan', ['--no-colour', '--no-heartbleed', '--no-compression', '--no-renegotiation', target], { encoding: 'utf8', timeout: 60_000 });
  return `${r.stdout}\n${r.stderr}`;
}

function assertStrongTls(out: string, what: string): void {
  expect(out, what).toMatch(/TLSv1\.2\s+enabled/);
  expect(out, what).not.toMatch(/TLSv1\.[01]\s+enabled/);
  expect(out, what).not.toMatch(/SSLv[23]\s+enabled/);
  const accepted = [...out.matchAll(/^(?:Preferred|Accepted)\s+(TLSv1\.[0-3])\s+\d+ bits\s+(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
  expect(accepted.length, out).toBeGreaterThan(0);
  for (const a of accepted) expect(a, `${what}: ${a}`).toMatch(/^TLSv1\.3 TLS_|^TLSv1\.2 ECDHE-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20-POLY1305)/);
}

describe('TLS contexts (real SBC process, test CA)', () => {
  let ca: TestCa;
  let other: TestCa;
  let sbc: SbcProcess;
  let pbx: UdpPeer;
  let lanPort: number;
  let lanTls: number;
  let wanTls: number;
  let apiPort: number;
  let trunks: Array<{ server: tls.Server; invites: string[]; handshakes: number }> = [];
  let sbcCert: { cert: string; key: string };

  beforeAll(async () => {
    if (!existsSync('/usr/bin/sslscan')) throw new Error('sslscan not found: apt-get install sslscan (scripts/install-test-deps.sh)');
    ca = createTestCa('a');
    other = createTestCa('b');
    sbcCert = ca.issue('sbc', ['IP:127.0.0.1']);
    const client = ca.issue('pbx-client', [`IP:${PBX}`]);
    void client;
    const badPort = await findFreePort(TRUNK_BAD);
    const goodPort = await findFreePort(TRUNK_GOOD);
    trunks = [
      await tlsTrunk(TRUNK_BAD, badPort, other.issue('bad-trunk', [`IP:${TRUNK_BAD}`])),
      await tlsTrunk(TRUNK_GOOD, goodPort, ca.issue('good-trunk', [`IP:${TRUNK_GOOD}`])),
    ];
    pbx = await udpPeer(PBX);
    lanPort = await findFreePort();
    lanTls = await findFreePort();
    wanTls = await findFreePort();
    apiPort = await findFreePort();
    let ini = testIni({
      lanPort, wanPort: await findFreePort(), apiPort, media: false, pbx: { address: PBX, port: pbx.port },
      itsp: [{ address: TRUNK_BAD, port: badPort }, { address: TRUNK_GOOD, port: goodPort }],
      scalars: ['EnableIDS = 0', `SbcApiTlsCertFile = ${sbcCert.cert}`, `SbcApiTlsKeyFile = ${sbcCert.key}`],
      extra: [
        '[ TLSContexts ]',
        'FORMAT Index = Name, TLSVersion, CertificateFile, PrivateKeyFile, TrustedRootFile;',
        `TLSContexts 0 = "sbc", 0, "${sbcCert.cert}", "${sbcCert.key}", "${ca.caCert}";`,
        '[ \\TLSContexts ]',
        '',
      ].join('\r\n'),
    });
    ini = ini.replace(/^FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType;$/m,
      'FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType, TLSContext, TLSMutualAuthentication;');
    ini = ini.replace(/^(SIPInterface 0 = "LAN", "LAN_IF", 2, \d+, \d+), 0, (.*), 403;$/m, `$1, ${lanTls}, $2, 403, "sbc", 0;`);
    ini = ini.replace(/^(SIPInterface 1 = "WAN", "WAN_IF", 2, \d+, \d+), 0, (.*), 403;$/m, `$1, ${wanTls}, $2, 403, "sbc", 1;`);
    // Both trunk servers over TLS (TransportType 2).
    ini = ini.replace(/^(ProxyIp [12] = "1", \d+, "[^"]+"), 0, /gm, '$1, 2, ');
    sbc = await startSbc(ini);
  }, 60_000);

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
    await pbx?.close();
    for (const t of trunks) t.server.close();
    ca?.remove();
    other?.remove();
  });

  const connect = (port: number, opts: tls.ConnectionOptions): Promise<tls.TLSSocket> => new Promise((resolve, reject) => {
    const s = tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress: PBX }), host: '127.0.0.1', ca: readFileSync(ca.caCert), ...opts });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });

  it('the listener presents the context certificate (verified against the test CA) and answers SIP over TLS; TLS 1.1 is refused', async () => {
    const s = await connect(lanTls, {});
    expect(s.authorized).toBe(true);
    expect(s.getProtocol()).toMatch(/TLSv1\.[23]/);
    const reply = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString('utf8'))));
    s.write(sipRequest([
      `OPTIONS sip:127.0.0.1:${lanTls};transport=tls SIP/2.0`, `Via: SIP/2.0/TLS ${PBX}:5061;branch=z9hG4bKtls1`, 'Max-Forwards: 70',
      `From: <sip:pbx@${PBX}>;tag=t1`, '<sip:ping@127.0.0.1>'.replace(/^/, 'To: '), 'Call-ID: tls-options-1', 'CSeq: 1 OPTIONS',
    ]));
    expect(await reply).toMatch(/^SIP\/2\.0 200 /);
    s.destroy();
    await expect(connect(lanTls, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).rejects.toThrow();
  });

  it('mutual TLS: a client without a certificate is refused, one with a certificate from the trusted CA is accepted', async () => {
    const without = await connect(wanTls, {}).then(
      (s) => new Promise<string>((resolve) => {
        // TLS 1.3: the refusal arrives after the handshake, as an alert that closes the socket.
        s.once('error', (e) => resolve(`error ${e.message}`));
        s.once('close', () => resolve('closed'));
        s.write('OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n');
      }),
      (e: Error) => `error ${e.message}`,
    );
    expect(without).toMatch(/error|closed/);
    const client = ca.issue('pbx-client-2', [`IP:${PBX}`]);
    const s = await connect(wanTls, { cert: readFileSync(client.cert), key: readFileSync(client.key) });
    expect(s.authorized).toBe(true);
    s.destroy();
  });

  it('outgoing TLS verifies the trunk: the trunk with a foreign CA is refused, the call fails over to the next server', async () => {
    await pbx.send(sipRequest([
      `INVITE sip:100@127.0.0.1:${lanPort} SIP/2.0`, `Via: SIP/2.0/UDP ${PBX}:${pbx.port};branch=z9hG4bKtlsinv;rport`, 'Max-Forwards: 70',
      `From: <sip:200@${PBX}>;tag=ti1`, 'To: <sip:100@127.0.0.1>', 'Call-ID: tls-invite-1', 'CSeq: 1 INVITE', `Contact: <sip:200@${PBX}:${pbx.port}>`,
    ]), lanPort);
    const res = await pbx.waitFor((m) => !m.isRequest && m.callId === 'tls-invite-1' && m.status >= 200, 15_000, 'final response');
    expect(res.status).toBe(486);
    expect(trunks[0]!.invites.length).toBe(0);
    expect(trunks[0]!.handshakes).toBe(0);
    expect(trunks[1]!.invites.length).toBe(1);
  }, 30_000);

  it('SIGHUP re-reads the certificate files: new handshakes get the rotated certificate', async () => {
    const before = await connect(lanTls, {});
    const serialBefore = before.getPeerCertificate().serialNumber;
    before.destroy();
    const rotated = ca.issue('sbc-rotated', ['IP:127.0.0.1']);
    copyFileSync(rotated.cert, sbcCert.cert);
    copyFileSync(rotated.key, sbcCert.key);
    const mark = sbc.logs.length;
    sbc.proc.kill('SIGHUP');
    await sbc.waitForLog((l) => sbc.logs.indexOf(l) >= mark && l.msg === 'TLS certificate files reloaded', 10_000);
    const after = await connect(lanTls, {});
    expect(after.getPeerCertificate().serialNumber).not.toBe(serialBefore);
    after.destroy();
  });

  it('sslscan: no TLS 1.0/1.1 and only forward-secret AEAD suites on the SIP TLS port and the HTTPS API', async () => {
    assertStrongTls(sslscan(`127.0.0.1:${lanTls}`), 'SIP TLS');
    assertStrongTls(sslscan(`127.0.0.1:${apiPort}`), 'HTTPS API');
    const r = await fetch(`https://127.0.0.1:${apiPort}/api/v1/health`).catch((e: Error) => e);
    // Node's fetch does not trust the test CA: the certificate check itself fails, which proves HTTPS is on.
    expect(r instanceof Error).toBe(true);
  }, 120_000);
});

describe('a TLS port without a certificate', () => {
  it('is a configuration error at start, with the SIPInterface line', async () => {
    const lanPort = await findFreePort();
    let ini = testIni({ lanPort, wanPort: await findFreePort(), media: false, pbx: { address: PBX, port: 5060 }, itsp: [{ address: TRUNK_GOOD, port: 5061 }] });
    ini = ini.replace(/^(SIPInterface 0 = "LAN", "LAN_IF", 2, \d+, \d+), 0, /m, `$1, ${await findFreePort()}, `);
    const err = await startSbc(ini).then(async (s) => { await s.stop(); return null; }, (e: Error) => e);
    expect(err?.message).toMatch(/sbc\.ini:\d+.*SIPInterface 0: TLSPort \d+ needs a certificate/);
  });
});

describe('RequireStrictCert (Mediant strict certificate extension validation)', () => {
  const PBX_S = '127.0.0.114';
  const TRUNK_LAX = '127.0.0.115';
  const TRUNK_STRICT = '127.0.0.116';
  let ca: TestCa;
  let sbc: SbcProcess;
  let pbx: UdpPeer;
  let lanPort: number;
  let wanTls: number;
  let trunks: Array<{ server: tls.Server; invites: string[]; handshakes: number }> = [];

  beforeAll(async () => {
    ca = createTestCa('strict');
    const sbcCert = ca.issue('sbc-strict', ['IP:127.0.0.1']);
    const laxPort = await findFreePort(TRUNK_LAX);
    const strictPort = await findFreePort(TRUNK_STRICT);
    // Both trunks' certificates are signed by the trusted CA for their address; only the second states its key usages.
    trunks = [
      await tlsTrunk(TRUNK_LAX, laxPort, ca.issue('lax-trunk', [`IP:${TRUNK_LAX}`], { usages: false })),
      await tlsTrunk(TRUNK_STRICT, strictPort, ca.issue('strict-trunk', [`IP:${TRUNK_STRICT}`])),
    ];
    pbx = await udpPeer(PBX_S);
    lanPort = await findFreePort();
    wanTls = await findFreePort();
    let ini = testIni({
      lanPort, wanPort: await findFreePort(), media: false, pbx: { address: PBX_S, port: pbx.port },
      itsp: [{ address: TRUNK_LAX, port: laxPort }, { address: TRUNK_STRICT, port: strictPort }],
      scalars: ['EnableIDS = 0'],
      extra: [
        '[ TLSContexts ]',
        'FORMAT Index = Name, TLSVersion, RequireStrictCert, CertificateFile, PrivateKeyFile, TrustedRootFile;',
        `TLSContexts 0 = "strict", 0, 1, "${sbcCert.cert}", "${sbcCert.key}", "${ca.caCert}";`,
        '[ \\TLSContexts ]',
        '',
      ].join('\r\n'),
    });
    ini = ini.replace(/^FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType;$/m,
      'FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType, TLSContext, TLSMutualAuthentication;');
    ini = ini.replace(/^(SIPInterface 0 = "LAN", "LAN_IF", 2, \d+, \d+), 0, (.*), 403;$/m, '$1, 0, $2, 403, "", 0;');
    ini = ini.replace(/^(SIPInterface 1 = "WAN", "WAN_IF", 2, \d+, \d+), 0, (.*), 403;$/m, `$1, ${wanTls}, $2, 403, "strict", 1;`);
    ini = ini.replace(/^(ProxyIp [12] = "1", \d+, "[^"]+"), 0, /gm, '$1, 2, ');
    sbc = await startSbc(ini);
  }, 60_000);

  afterAll(async () => {
    expect(await sbc?.stop()).toBe(0);
    await pbx?.close();
    for (const t of trunks) t.server.close();
    ca?.remove();
  });

  it('a trunk whose certificate lacks keyUsage/extendedKeyUsage is refused (though signed by the trusted CA); the call fails over', async () => {
    await pbx.send(sipRequest([
      `INVITE sip:100@127.0.0.1:${lanPort} SIP/2.0`, `Via: SIP/2.0/UDP ${PBX_S}:${pbx.port};branch=z9hG4bKstrict1;rport`, 'Max-Forwards: 70',
      `From: <sip:200@${PBX_S}>;tag=st1`, 'To: <sip:100@127.0.0.1>', 'Call-ID: tls-strict-1', 'CSeq: 1 INVITE', `Contact: <sip:200@${PBX_S}:${pbx.port}>`,
    ]), lanPort);
    const res = await pbx.waitFor((m) => !m.isRequest && m.callId === 'tls-strict-1' && m.status >= 200, 15_000, 'final response');
    expect(res.status).toBe(486);
    // The lax trunk's chain is valid; the SBC refused it for the missing key usages (TLS 1.3: before its Finished, so the trunk saw no handshake).
    expect(sbc.logs.some((l) => l.msg === 'leg B transport error' && l['err'] === 'RequireStrictCert: extendedKeyUsage does not include serverAuth')).toBe(true);
    expect(trunks[0]!.invites.length).toBe(0);
    expect(trunks[1]!.invites.length).toBe(1);
  }, 30_000);

  it('mutual TLS: a client certificate without clientAuth usage is refused, a complete one is accepted', async () => {
    const connectWith = (cert: { cert: string; key: string }): Promise<string> => new Promise((resolve) => {
      const s = tls.connect({
        socket: net.connect({ host: '127.0.0.1', port: wanTls, localAddress: PBX_S }), host: '127.0.0.1', ca: readFileSync(ca.caCert),
        cert: readFileSync(cert.cert), key: readFileSync(cert.key),
      });
      let data = '';
      s.on('data', (d: Buffer) => { data += d.toString('utf8'); });
      s.once('secureConnect', () => s.write(sipRequest([
        `OPTIONS sip:127.0.0.1:${wanTls};transport=tls SIP/2.0`, `Via: SIP/2.0/TLS ${PBX_S}:5061;branch=z9hG4bKstrictopt${Math.random().toString(36).slice(2)}`,
        'Max-Forwards: 70', `From: <sip:pbx@${PBX_S}>;tag=so1`, 'To: <sip:ping@127.0.0.1>', `Call-ID: strict-opt-${Math.random()}`, 'CSeq: 1 OPTIONS',
      ])));
      s.on('error', () => undefined);
      s.once('close', () => resolve(data === '' ? 'closed without answer' : data.split('\r\n')[0]!));
      setTimeout(() => { resolve(data === '' ? 'no answer' : data.split('\r\n')[0]!); s.destroy(); }, 3000);
    });
    const lax = await connectWith(ca.issue('lax-client', [`IP:${PBX_S}`], { usages: false }));
    expect(lax).toBe('closed without answer');
    await sbc.waitForLog((l) => l.msg === 'TLS client certificate refused (RequireStrictCert)', 5000);
    const good = await connectWith(ca.issue('strict-client', [`IP:${PBX_S}`]));
    // Answered (the WAN side classifies by the trunks' addresses: 403 to this unknown one, but over the accepted connection).
    expect(good).toMatch(/^SIP\/2\.0 \d{3} /);
  }, 30_000);
});

describe('baresip over TLS through the SBC (test CA)', () => {
  const PHONE = '127.0.0.117';
  const FAR = '127.0.0.118';
  let ca: TestCa;
  let sbc: SbcProcess;
  let phone: BaresipInstance | undefined;
  let far: BaresipInstance | undefined;
  let lanTls: number;

  beforeAll(async () => {
    assertBaresipInstalled();
    ca = createTestCa('baresip');
    const sbcCert = ca.issue('sbc-baresip', ['IP:127.0.0.1']);
    [phone, far] = await Promise.all([
      // The PBX phone trusts only the test CA for the SBC's certificate (libre verifies against sip_cafile).
      startBaresip({ name: 'tls-phone', user: '100', host: PHONE, sipTrace: true, extraConfig: `sip_cafile ${ca.caCert}` }),
      startBaresip({ name: 'tls-far', user: '200', host: FAR }),
    ]);
    lanTls = await findFreePort();
    let ini = testIni({
      lanPort: await findFreePort(), wanPort: await findFreePort(), apiPort: await findFreePort(),
      pbx: { address: PHONE, port: phone.sipPort }, itsp: [{ address: FAR, port: far.sipPort }],
      extra: [
        '[ TLSContexts ]',
        'FORMAT Index = Name, TLSVersion, CertificateFile, PrivateKeyFile, TrustedRootFile;',
        `TLSContexts 0 = "sbc", 0, "${sbcCert.cert}", "${sbcCert.key}", "${ca.caCert}";`,
        '[ \\TLSContexts ]',
        // baresip (libre) opens its TLS connection from 127.0.0.1 whatever sip_listen says.
        '[ Classification ]',
        'FORMAT Index = ClassificationName, SrcSIPInterfaceName, SrcAddress, ActionType, SrcIPGroupName;',
        'Classification 10 = "phone over TLS", "LAN", "127.0.0.1", 1, "PBX";',
        '[ \\Classification ]',
        '',
      ].join('\r\n'),
    });
    ini = ini.replace(/^FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType;$/m,
      'FORMAT Index = InterfaceName, NetworkInterface, ApplicationType, UDPPort, TCPPort, TLSPort, MediaRealm, ClassificationFailureResponseType, TLSContext;');
    ini = ini.replace(/^(SIPInterface 0 = "LAN", "LAN_IF", 2, \d+, \d+), 0, (.*), 403;$/m, `$1, ${lanTls}, $2, 403, "sbc";`);
    ini = ini.replace(/^(SIPInterface 1 = "WAN", "WAN_IF", 2, \d+, \d+), 0, (.*), 403;$/m, '$1, 0, $2, 403, "";');
    sbc = await startSbc(ini);
  }, 60_000);

  afterAll(async () => {
    await stopAll([phone, far]);
    expect(await sbc?.stop()).toBe(0);
    ca?.remove();
  });

  it('a baresip call over TLS to the SBC is relayed to the trunk and established; the phone\'s signalling was TLS', async () => {
    await phone!.dial(`sip:200@127.0.0.1:${lanTls};transport=tls`);
    await Promise.all([phone!.waitForEvent('CALL_ESTABLISHED', 20_000), far!.waitForEvent('CALL_ESTABLISHED', 20_000)]);
    await phone!.hangup();
    await far!.waitForEvent('CALL_CLOSED', 10_000);
    const invite = phone!.sipMessages().find((m) => m.dir === 'sent' && m.text.startsWith('INVITE '));
    expect(invite?.route).toMatch(/^TLS /);
    expect(invite?.text).toMatch(/^Via: SIP\/2\.0\/TLS /m);
    const status = await sbc.api<{ transport: { streamReceived: number; connectionsOpened: number } }>('/api/v1/status');
    expect(status.transport.streamReceived).toBeGreaterThan(0);
  }, 60_000);
});
