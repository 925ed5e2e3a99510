/**
 * QoE through the real SBC process (docs/qoe.md): sipp plays g711a.pcap
 * through the SBC to a sipp UAS with -rtp_echo, then reports its own voice
 * quality in a PUBLISH vq-rtcpxr (RFC 6035) and hangs up.
 *  - During the call, GET /api/v1/calls shows the call's current loss,
 *    jitter and MOS per stream (both legs, from the relay), and, once the
 *    phone's PUBLISH was answered 200, the phone's own figures.
 *  - At its end, a sipp UAS acting as the QoE collector (QOEServerIP)
 *    receives one PUBLISH per leg with a valid vq-rtcpxr body (its scenario
 *    checks the headers and body lines; the test parses them too), and the
 *    end record holds the phone's figures.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseVqRtcpXr, type VqReport } from '../../src/qoe/vq-rtcpxr.js';
import { delay, freeMediaPort } from './helpers/media-peer.js';
import { startSbc, testIni, type SbcProcess } from './helpers/sbc-process.js';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess } from './helpers/sipp.js';

const COLLECTOR_IP = '127.0.0.5';

interface Direction { packets: number; lossPct: number | null; jitterMs: number | null; rttMs: number | null; mos: number | null }
interface Stream { coder: string | null; verdict: string | null; A: { rx: Direction; tx: Direction }; B: { rx: Direction; tx: Direction } }
interface LiveCall { id: string; legACallId: string; qoe: { mos: number | null; streams: Stream[] } | null }
interface EndRecord { sessionId: string; legA: { callId: string }; legB: { callId: string }; media: Stream[] }

async function poll<T>(what: string, fn: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

/** The PUBLISH requests in a sipp -trace_msg log, as parsed vq-rtcpxr bodies. */
function publishedReports(log: string): VqReport[] {
  const out: VqReport[] = [];
  for (const chunk of log.split(/^-{10,}.*$/m)) {
    const start = chunk.indexOf('PUBLISH sip:');
    if (start < 0) continue;
    const msg = chunk.slice(start);
    const sep = msg.search(/\r?\n\r?\n/);
    const r = sep < 0 ? null : parseVqRtcpXr(msg.slice(sep).trim());
    if (r !== null) out.push(r);
  }
  return out;
}

describe('SBC process: live QoE per stream, PUBLISH vq-rtcpxr from a phone and to the collector', () => {
  const sipps: SippProcess[] = [];
  let sbc: SbcProcess | null = null;
  let dir = '';

  afterAll(async () => {
    for (const s of sipps) await s.stop();
    await sbc?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('shows the call quality while it lasts, takes the phone report and sends one report per leg to the collector', async () => {
    assertSippInstalled();
    dir = await mkdtemp(join(tmpdir(), 'qoe-publish-'));
    const messageLog = join(dir, 'collector-messages.log');
    const [lanPort, wanPort, apiPort, uasPort, collectorPort] = await Promise.all([
      findFreePort(), findFreePort(), findFreePort(), findFreePort('127.0.0.3'), findFreePort(COLLECTOR_IP),
    ]);
    const collector = startSipp({
      scenario: 'test/scenarios/qoe-collector-uas.xml', calls: 2, localAddress: COLLECTOR_IP, localPort: collectorPort, timeoutMs: 60_000,
      extraArgs: ['-trace_msg', '-message_file', messageLog],
    });
    sipps.push(collector);
    const echoPort = await freeMediaPort('127.0.0.3');
    const uas = startSipp({
      scenario: 'test/scenarios/media-uas-answer.xml', calls: 1, localAddress: '127.0.0.3', localPort: uasPort, timeoutMs: 60_000,
      extraArgs: ['-rtp_echo', '-mi', '127.0.0.3', '-mp', String(echoPort), '-key', 'rtp_ip', '127.0.0.3', '-key', 'rtp_port', String(echoPort)],
    });
    sipps.push(uas);
    await Promise.all([collector.bound(), uas.bound()]);
    sbc = await startSbc(testIni({
      lanPort, wanPort, apiPort, pbx: { address: '127.0.0.2', port: 5060 }, itsp: [{ address: '127.0.0.3', port: uasPort }],
      scalars: [`QOEServerIP = ${COLLECTOR_IP}`, `QOEPort = ${collectorPort}`],
    }));
    const s = sbc;
    const uacMediaPort = await freeMediaPort('127.0.0.2');
    const uac = startSipp({
      scenario: 'test/scenarios/qoe-uac-pcap-publish.xml', target: `127.0.0.1:${lanPort}`, localAddress: '127.0.0.2', calls: 1, timeoutMs: 60_000,
      extraArgs: ['-mi', '127.0.0.2', '-mp', String(uacMediaPort)],
    });
    sipps.push(uac);

    // While the pcap plays (7 s): both legs' received streams counted, clean loopback media.
    const live = await poll('media flowing on both legs in GET /api/v1/calls', async () => {
      const calls = await s.api<LiveCall[]>('/api/v1/calls');
      const st = calls[0]?.qoe?.streams[0];
      return st !== undefined && st.A.rx.packets >= 30 && st.B.rx.packets >= 30 ? calls[0]! : null;
    }, 15_000);
    const st = live.qoe!.streams[0]!;
    expect(st.coder).toBe('PCMA');
    for (const d of [st.A.rx, st.B.rx]) {
      expect(d.lossPct).not.toBeNull();
      expect(d.lossPct!).toBeLessThanOrEqual(1);
      expect(d.jitterMs).not.toBeNull();
      expect(d.jitterMs!).toBeGreaterThanOrEqual(0);
      expect(d.jitterMs!).toBeLessThan(30);
      expect(d.mos!).toBeGreaterThan(4);
      expect(d.mos!).toBeLessThanOrEqual(4.5);
    }
    expect(live.qoe!.mos!).toBeGreaterThan(4);
    expect(st.verdict).toBe('green');

    // The phone's PUBLISH (answered 200, else sipp fails the call) shows up as leg A's sent direction.
    const withPhone = await poll('the phone report in GET /api/v1/calls', async () => {
      const calls = await s.api<LiveCall[]>('/api/v1/calls');
      const tx = calls[0]?.qoe?.streams[0]?.A.tx;
      return tx !== undefined && tx.mos === 3.7 ? tx : null;
    }, 15_000);
    expect(withPhone).toMatchObject({ lossPct: 1.5, jitterMs: 12, rttMs: 42 });

    const a = await uac.done;
    expect(a.failed, `${a.errors}\n${a.output}`).toBe(0);
    expect(a.successful).toBe(1);
    expect((await uas.done).successful).toBe(1);
    const c = await collector.done;
    expect(c.failed, `${c.errors}\n${c.output}`).toBe(0);
    expect(c.successful).toBe(2);

    const ended = (await s.api<{ records: EndRecord[] }>('/api/v1/cdrs?limit=1')).records[0]!;
    expect(ended.legA.callId).toBe(live.legACallId);
    expect(ended.media[0]!.A.tx).toMatchObject({ mos: 3.7, lossPct: 1.5 });

    const reports = publishedReports(await readFile(messageLog, 'latin1'));
    expect(reports.map((r) => r.callId).sort()).toEqual([ended.legA.callId, ended.legB.callId].sort());
    for (const r of reports) {
      expect(r).toMatchObject({ type: 'VQSessionReport', qualifier: 'CallTerm', localGroup: ended.sessionId });
      expect(r.local!.payloadDesc).toBe('PCMA');
      expect(r.local!.networkLossPct!).toBeLessThanOrEqual(1);
      expect(r.local!.mosLq!).toBeGreaterThan(4);
      expect(r.local!.mosLq!).toBeLessThanOrEqual(4.5);
      expect(r.local!.estimationAlgorithm).toBe('G.107');
    }
    // Leg A's report carries, as RemoteMetrics, what the phone reported about what the SBC sent it.
    const legA = reports.find((r) => r.callId === ended.legA.callId)!;
    expect(legA.remote).toMatchObject({ mosCq: 3.7, networkLossPct: 1.5, interarrivalJitterMs: 12 });
  }, 90_000);
});
