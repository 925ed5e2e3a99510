import http from 'node:http';
import type net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleCdr } from '../cdr/sample-record.js';
import { silentLogger } from '../util/logger.js';
import { createQoeFeeds, mediaDirectionFromVq, type QoeCallReport, type QoePublishPort } from './feed.js';
import { parseVqRtcpXr } from './vq-rtcpxr.js';

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const report = (n: number): QoeCallReport => {
  const c = sampleCdr();
  return {
    kind: 'session', sessionId: `q${n}`, legACallId: `a${n}@pbx`, legBCallId: `b${n}@sbc`, srcIpGroup: 'PBX', dstIpGroup: 'ITSP',
    callerUri: c.callerBeforeMap.uri, calleeUri: c.callee.uri, start: c.connectTime!, stop: c.releaseTime!, streams: c.media, verdict: 'green',
  };
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qoe-feed-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('QoE feeds', () => {
  it('PUBLISH feed: one valid vq-rtcpxr body per leg; collector failures are retried in order, nothing lost', async () => {
    const got: Array<{ callId: string; body: string }> = [];
    let failures = 5;
    const port: QoePublishPort = {
      async publish(req) {
        if (failures-- > 0) return failures % 2 === 0 ? 503 : Promise.reject(new Error('timeout'));
        got.push({ callId: req.callId, body: req.body });
        expect(req).toMatchObject({ host: '127.0.0.1', port: 5099 });
        return 200;
      },
    };
    const [feed] = await createQoeFeeds(
      { sipCollector: { host: '127.0.0.1', port: 5099 }, httpUrl: null, spoolDir: dir, spoolMaxBytes: 1 << 20, sbcId: '<sip:sbc@192.0.2.1>', retryMinMs: 10, retryMaxMs: 50 },
      silentLogger(), port,
    );
    for (let i = 0; i < 10; i++) feed!.report(report(i));
    await until(() => got.length === 20, '20 PUBLISH bodies');
    expect(got.map((g) => g.callId)).toEqual(Array.from({ length: 10 }, (_, i) => [`a${i}@pbx`, `b${i}@sbc`]).flat());
    const vq = parseVqRtcpXr(got[0]!.body)!;
    expect(vq).toMatchObject({ type: 'VQSessionReport', qualifier: 'CallTerm', callId: 'a0@pbx', localId: '<sip:sbc@192.0.2.1>', localGroup: 'q0' });
    expect(vq.local).toMatchObject({ networkLossPct: 0.2, interarrivalJitterMs: 1.5, roundTripDelayMs: 12, mosCq: 4.38, payloadDesc: 'PCMA', packetsPerSecond: 50 });
    expect(mediaDirectionFromVq(vq.remote!)).toMatchObject({ lossPct: 0.2, jitterMs: 1.5, mos: 4.38 });
    expect(feed!.stats()).toMatchObject({ lost: 0, errors: 5 });
    await feed!.close();
  });

  it('JSON feed: collector down then back, reports arrive complete and in order', async () => {
    const records: Array<{ sessionId: string; start: string }> = [];
    let down = true;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (down) return void res.writeHead(503).end();
        records.push(...(JSON.parse(Buffer.concat(chunks).toString()) as typeof records));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = (server.address() as net.AddressInfo).port;
    const [feed] = await createQoeFeeds(
      { sipCollector: null, httpUrl: `http://127.0.0.1:${p}/qoe`, spoolDir: dir, spoolMaxBytes: 1 << 20, sbcId: 'x', retryMinMs: 10, retryMaxMs: 50 }, silentLogger(), null,
    );
    for (let i = 0; i < 30; i++) feed!.report(report(i));
    await until(() => feed!.stats().spooled === 30, 'spooled while down');
    down = false;
    await feed!.flush();
    await until(() => records.length === 30, 'all reports');
    expect(records.map((r) => r.sessionId)).toEqual(Array.from({ length: 30 }, (_, i) => `q${i}`));
    expect(records[0]!.start).toBe('2025-01-02T03:04:10.678Z');
    await feed!.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
