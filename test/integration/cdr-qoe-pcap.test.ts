/**
 * Issue 13 acceptance, CDR media fields from real calls: sipp (PBX side)
 * plays g711a.pcap through the SBC; the callee's media address (in the sipp
 * UAS's SDP) is a test relay that sends every packet back to the SBC — all
 * of them for the clean call, all but every 10th for the lossy one. The
 * CDR written to the local CSV file must give the duration sipp saw (from
 * its message trace) within 50 ms, the loss the relay made within 1 point,
 * a lower MOS for the lossy call, and the verdict of the IP Groups' QoE
 * profile: green for the clean call, yellow or red for the lossy one.
 */
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCsvFiles, startRetryingPortRace, until, type CdrRow } from './helpers/cdr-receivers.js';
import { freeMediaPort, readPcapUdp } from './helpers/media-peer.js';
import { assertSippInstalled, findFreePort, runSipp, startSipp, type SippProcess } from './helpers/sipp.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';

const PCAP = '/usr/share/sip-tester/g711a.pcap';
const DROP_EVERY = 10;

/** The CSV columns of this test (SBCCDRFormat, CDRType 5 = local storage, signalling records). */
const COLUMNS = [
  'SessionId', 'SIPCallId', 'TrmReasonCategory', 'ConnectTime', 'ReleaseTime', 'DurationMs', 'Coder', 'MOS', 'QoEColor',
  'ARxPackets', 'ARxLost', 'ARxLossPct', 'ARxMos', 'BRxPackets', 'BRxLost', 'BRxLossPct', 'BRxMos', 'BRxJitterMs',
];

/**
 * A QoE profile on both IP Groups, judging what the SBC measured (device side)
 * with the medium presets: MOS 3.5 / 3.0 and packet loss 2 % / 5 %.
 */
const QOE_TABLES = [
  '[ QOEProfile ]',
  'FORMAT Index = Name, SensitivityLevel;',
  'QOEProfile 0 = "Voice", 2;',
  '[ \\QOEProfile ]',
  '',
  '[ QOEColorRules ]',
  'FORMAT Index = QOEProfile, ColorRuleIndex, MonitoredParam, Direction, Profile, MinorThreshold, MinorHysteresis, MajorThreshold, MajorHysteresis;',
  'QOEColorRules 0 = "Voice", 0, 0, 0, 2, -1, -1, -1, -1;',
  'QOEColorRules 1 = "Voice", 1, 2, 0, 2, -1, -1, -1, -1;',
  '[ \\QOEColorRules ]',
  '',
  '[ SBCCDRFormat ]',
  'FORMAT Index = CDRType, FieldType, Title;',
  ...COLUMNS.map((c, i) => `SBCCDRFormat ${i} = 5, ${c}, ;`),
  '[ \\SBCCDRFormat ]',
  '',
].join('\r\n');

/** Gives every IP Group of the test ini the QoE profile "Voice". */
function withQoeProfile(ini: string): string {
  return ini
    .replace(/(\[ IPGroup \]\r\nFORMAT Index = [^;]*);/, '$1, QOEProfile;')
    .replace(/^(IPGroup \d+ = .*);$/gm, '$1, "Voice";');
}

/**
 * The test relay: the callee's media address. Sends every RTP packet back to
 * where it came from (the SBC's leg-B port), except every `dropEvery`-th.
 */
class LossyEcho {
  readonly sock = dgram.createSocket('udp4');
  received = 0;
  dropped = 0;
  dropEvery = 0;

  async start(): Promise<number> {
    this.sock.on('message', (msg, from) => {
      const n = this.received++;
      if (this.dropEvery > 0 && n % this.dropEvery === this.dropEvery - 1) {
        this.dropped++;
        return;
      }
      this.sock.send(msg, from.port, from.address);
    });
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.3', r));
    return this.sock.address().port;
  }

  reset(dropEvery: number): void {
    this.received = 0;
    this.dropped = 0;
    this.dropEvery = dropEvery;
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}

interface SippTimes {
  /** sipp received the 200 to its INVITE. */
  ok200: number;
  /** sipp sent its BYE. */
  byeSent: number;
  /** sipp received the 200 to its BYE. */
  byeAnswered: number;
}

/**
 * When sipp (the caller) received the 200 to its INVITE, sent its BYE and got its answer, from its
 * -trace_msg file: each message follows a line `----- YYYY-MM-DD HH:MM:SS.uuuuuu`
 * (sipp's local time).
 */
function sippTimes(trace: string): SippTimes {
  const blocks = trace.split(/^-{10,} (\d{4})-(\d\d)-(\d\d)\s+(\d\d):(\d\d):(\d\d)\.(\d{6})\s*$/m);
  const t: SippTimes = { ok200: Number.NaN, byeSent: Number.NaN, byeAnswered: Number.NaN };
  // split() with groups: [before, y, mo, d, h, mi, s, us, text, y, ...]
  for (let i = 1; i + 7 < blocks.length; i += 8) {
    const [y, mo, d, h, mi, sec, us] = blocks.slice(i, i + 7).map(Number) as [number, number, number, number, number, number, number];
    const at = new Date(y, mo - 1, d, h, mi, sec).getTime() + us / 1000;
    const text = blocks[i + 7]!;
    const received = /message received/i.test(text);
    const ok = /^SIP\/2\.0 200/m.test(text);
    if (received && ok && /^CSeq:\s*1 INVITE/im.test(text) && Number.isNaN(t.ok200)) t.ok200 = at;
    if (!received && /^BYE /m.test(text) && Number.isNaN(t.byeSent)) t.byeSent = at;
    if (received && ok && /^CSeq:\s*\d+ BYE/im.test(text) && Number.isNaN(t.byeAnswered)) t.byeAnswered = at;
  }
  return t;
}

describe('CDR media fields of sipp pcap calls through the SBC, clean and lossy', () => {
  let dir: string;
  let sbc: SbcProcess;
  let uas: SippProcess;
  let lanPort: number;
  const echo = new LossyEcho();
  const pcap = readPcapUdp(PCAP);
  const rows: CdrRow[] = [];

  beforeAll(async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'cdr-qoe-'));
    const echoPort = await echo.start();
    const uasPort = await findFreePort('127.0.0.3');
    uas = startSipp({
      scenario: 'test/scenarios/media-uas-answer.xml', calls: 2, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 80_000,
      extraArgs: ['-mi', '127.0.0.3', '-mp', String(await freeMediaPort('127.0.0.3')), '-key', 'rtp_ip', '127.0.0.3', '-key', 'rtp_port', String(echoPort)],
    });
    await uas.bound();
    sbc = await startRetryingPortRace(async () => {
      const [lan, wan] = [await findFreePort(), await findFreePort()];
      const started = await startSbc(withQoeProfile(testIni({
        lanPort: lan, wanPort: wan,
        pbx: { address: '127.0.0.2', port: 5060 },
        itsp: [{ address: '127.0.0.3', port: uasPort }],
        scalars: [`CDRLocalDir = ${join(dir, 'cdr')}`],
        extra: QOE_TABLES,
      })));
      lanPort = lan;
      return started;
    });
  });

  afterAll(async () => {
    await uas?.stop();
    await sbc?.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** One pcap call; its CDR row (read from the CSV file once written) and what sipp and the relay saw. */
  async function call(name: string, dropEvery: number): Promise<{ row: CdrRow; sipp: SippTimes }> {
    echo.reset(dropEvery);
    const traceFile = join(dir, `${name}-messages.log`);
    const r = await runSipp({
      scenario: 'test/scenarios/media-uac-pcap.xml', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 40_000,
      extraArgs: ['-mi', '127.0.0.2', '-mp', String(await freeMediaPort('127.0.0.2')), '-trace_msg', '-message_file', traceFile],
    });
    expect(r.successful, `${r.errors}\n${r.output}`).toBe(1);
    expect(Number(/npkts (\d+)/.exec(r.errors + r.output)?.[1]), 'sipp played the whole pcap').toBe(pcap.payloads.length);
    const times = sippTimes(await readFile(traceFile, 'utf8'));
    expect(times.ok200, 'the 200 in sipp\'s trace').not.toBeNaN();
    expect(times.byeSent, 'the BYE in sipp\'s trace').not.toBeNaN();
    expect(times.byeAnswered, 'the 200 to the BYE in sipp\'s trace').not.toBeNaN();
    // The CSV file is appended at least once a second.
    let row: CdrRow | undefined;
    await until(async () => {
      const files = await readCsvFiles(join(dir, 'cdr')).catch(() => []);
      row = files.flatMap((f) => f.rows)[rows.length];
      return row !== undefined;
    }, `the CDR of the ${name} call in the CSV file`, 15_000);
    rows.push(row!);
    return { row: row!, sipp: times };
  }

  /**
   * The CDR's times against sipp's: the duration within 50 ms of sipp's 200 -> BYE. The SBC can
   * only stamp the release when it reads the BYE; when it is busy (other processes on two
   * cores) that comes later, and sipp sees exactly that delay as the time its BYE waited for
   * the 200: the bound grows by it (about 1 ms on a quiet machine). The release time must lie
   * between sipp's BYE and its answer.
   */
  function checkTimes(name: string, row: CdrRow, sipp: SippTimes): void {
    const duration = sipp.byeSent - sipp.ok200;
    const byeWait = sipp.byeAnswered - sipp.byeSent;
    const got = { connect: Date.parse(row['ConnectTime']!), release: Date.parse(row['ReleaseTime']!), duration: Number(row['DurationMs']) };
    console.log(`${name}: sipp 200 -> BYE ${duration.toFixed(1)} ms, CDR ${got.duration} ms (connect ${(got.connect - sipp.ok200).toFixed(1)} ms, release ${(got.release - sipp.byeSent).toFixed(1)} ms off; BYE answered after ${byeWait.toFixed(1)} ms)`);
    expect(Math.abs(got.duration - duration), `${name}: DurationMs ${got.duration} vs sipp ${duration}`).toBeLessThanOrEqual(50 + byeWait);
    expect(Math.abs(got.connect - sipp.ok200), `${name}: ConnectTime`).toBeLessThanOrEqual(50);
    // Millisecond stamps against sipp's microseconds, and the SBC stamps the release just after
    // it sends the 200 (in-dialog.ts): a few ms of slack either way. sipp stamps its trace line
    // after its send returns, so on a busy machine the BYE can reach the SBC before sipp's stamp
    // (CI once saw the release 2.3 ms "before" the BYE): 10 ms below it.
    expect(got.release, `${name}: ReleaseTime after sipp's BYE`).toBeGreaterThanOrEqual(sipp.byeSent - 10);
    expect(got.release, `${name}: ReleaseTime by the time sipp got the 200 to its BYE`).toBeLessThanOrEqual(sipp.byeAnswered + 5);
  }

  it('the clean call: packets, no loss, the duration sipp saw, MOS of G.711 without loss, verdict green', async () => {
    const { row, sipp } = await call('clean', 0);
    console.log(`clean: relay echoed ${echo.received}, dropped ${echo.dropped}; CDR ${JSON.stringify(row)}`);
    expect(echo.dropped).toBe(0);
    expect(row['TrmReasonCategory']).toBe('normal');
    expect(row['Coder']).toBe('PCMA');
    checkTimes('clean', row, sipp);
    expect(Number(row['ARxPackets'])).toBe(pcap.payloads.length);
    expect(Number(row['ARxLost'])).toBe(0);
    expect(Number(row['BRxPackets'])).toBe(echo.received);
    expect(Number(row['BRxLost'])).toBe(0);
    expect(Number(row['BRxLossPct'])).toBe(0);
    expect(Number(row['MOS'])).toBeGreaterThanOrEqual(4.0);
    expect(row['QoEColor']).toBe('green');
  }, 45_000);

  it('the lossy call (every 10th packet dropped by the relay): loss within 1 point, lower MOS, verdict yellow or red', async () => {
    const { row, sipp } = await call('lossy', DROP_EVERY);
    const expectedPct = (100 * echo.dropped) / echo.received;
    console.log(`lossy: relay got ${echo.received}, dropped ${echo.dropped} (${expectedPct.toFixed(2)} %); CDR ${JSON.stringify(row)}`);
    expect(echo.dropped).toBeGreaterThanOrEqual(Math.floor(pcap.payloads.length / DROP_EVERY) - 1);
    expect(row['TrmReasonCategory']).toBe('normal');
    checkTimes('lossy', row, sipp);
    // What the caller sent arrived whole; what came back from the relay lost what the relay dropped.
    expect(Number(row['ARxLost'])).toBe(0);
    expect(Number(row['BRxPackets'])).toBe(echo.received - echo.dropped);
    expect(Math.abs(Number(row['BRxLossPct']) - expectedPct), `BRxLossPct ${row['BRxLossPct']} vs ${expectedPct}`).toBeLessThanOrEqual(1);
    expect(Math.abs(Number(row['BRxLost']) - echo.dropped)).toBeLessThanOrEqual(1);
    const clean = rows[0]!;
    expect(Number(row['MOS'])).toBeLessThan(Number(clean['MOS']) - 0.5);
    expect(Number(row['BRxMos'])).toBeLessThan(Number(row['ARxMos']));
    expect(['yellow', 'red']).toContain(row['QoEColor']);
  }, 45_000);
});
