/**
 * The web console's Calls, CDR, QoE and Security pages (docs/console.md) in
 * Debian's chromium against the real SBC process, sipp and raw SIP:
 *  - a sipp call with RTP (a pcap played through the SBC to an echoing sipp
 *    UAS) shows in Calls, the filter finds it and hides it, its page shows its
 *    media statistics; after the caller hangs up its CDR is found on the CDR
 *    page, the CSV download carries it, the CDR row opens the ended call's
 *    ladder with the BYE on both legs, and the QoE page counts it and lists
 *    it as yellow (a strict QoE profile) with a link to its ladder;
 *  - an Operator ends a held call from its page and the SBC's BYE reaches
 *    both sipp sides (each answers it, else sipp fails the call);
 *  - a source denied by the IDS after a burst of malformed requests is
 *    unblocked from the Security page and answered again.
 * Screenshots go to a temporary directory printed by the test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsvLine } from '../../src/cdr/format.js';
import { consoleLogin, launchChromium, screenshotDir } from './helpers/console-browser.js';
import { freeMediaPort } from './helpers/media-peer.js';
import { basicAuth, startSbc, startSbcOwnThreads, testIni, TEST_API_USERS, type SbcProcess } from './helpers/sbc-process.js';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess } from './helpers/sipp.js';
import { sipRequest, udpPeer } from './helpers/udp-peer.js';
import { until } from './helpers/wait.js';

const PBX = '127.0.0.91';
const ITSP = '127.0.0.92';
const STRANGER = '127.0.0.93';

interface Status { transport: { deniedDropped: number } }

const STRICT_QOE = [
  '[ QOEProfile ]',
  'FORMAT Index = Name, SensitivityLevel;',
  'QOEProfile 0 = "Strict", 2;',
  '[ \\QOEProfile ]',
  '',
  '[ QOEColorRules ]',
  'FORMAT Index = QOEProfile, ColorRuleIndex, MonitoredParam, Direction, Profile, MinorThreshold, MinorHysteresis, MajorThreshold, MajorHysteresis;',
  // MOS, device side, user-defined: yellow below 4.5, red below 3.0.
  'QOEColorRules 0 = "Strict", 0, 0, 0, 0, 45, 1, 30, 1;',
  '[ \\QOEColorRules ]',
  '',
].join('\r\n');

describe('console pages: Calls, CDRs, QoE, Security (chromium, real SBC process)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let browser: Browser;
  let base: string;
  let lanPort: number;
  let shots: string;
  const sipps: SippProcess[] = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    assertSippInstalled();
    shots = await screenshotDir('console-pages');
    lanPort = await findFreePort();
    const [wanPort, uasPort, apiPort] = await Promise.all([findFreePort(), findFreePort(ITSP), findFreePort()]);
    const echoPort = await freeMediaPort(ITSP);
    // The callee answers with its echo port in the SDP and echoes every RTP packet back (both calls of the file).
    uas = startSipp({
      scenario: 'test/scenarios/media-uas-answer.xml', calls: 2, localAddress: ITSP, localPort: uasPort, timeoutMs: 150_000,
      extraArgs: ['-rtp_echo', '-mi', ITSP, '-mp', String(echoPort), '-key', 'rtp_ip', ITSP, '-key', 'rtp_port', String(echoPort)],
    });
    await uas.bound();
    // A strict QoE profile on both IP Groups: MOS below 4.5 is yellow, so the clean G.711 call
    // (MOS about 4.38) lands in the QoE page's red/yellow list.
    const ini = testIni({ lanPort, wanPort, apiPort, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }], extra: STRICT_QOE })
      .replace(/(\[ IPGroup \]\r\nFORMAT Index = [^;]*);/, '$1, QOEProfile;')
      .replace(/^(IPGroup \d+ = .*);$/gm, '$1, "Strict";');
    sbc = await startSbc(ini);
    base = `http://127.0.0.1:${apiPort}`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    for (const s of sipps) await s.stop();
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
    process.stdout.write(`console page screenshots: ${shots}\n`);
  });

  /** A fresh browser context logged in as `user`; page errors are collected. */
  const open = async (user: { username: string; password: string }): Promise<{ page: Page; errors: string[] }> => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await consoleLogin(page, base, user);
    return { page, errors };
  };

  const caller = async (scenario: string, service: string): Promise<SippProcess> => {
    const mediaPort = await freeMediaPort(PBX);
    const s = startSipp({
      scenario, target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 1, rate: 1, service, timeoutMs: 60_000,
      extraArgs: ['-mi', PBX, '-mp', String(mediaPort)],
    });
    sipps.push(s);
    return s;
  };

  it('a call with RTP: in Calls with its QoE, filtered; its media statistics; after hang-up its CDR, the CSV, the ended ladder and the QoE page', async () => {
    const { page, errors } = await open(TEST_API_USERS.monitor);
    const call = await caller('test/scenarios/media-uac-pcap.xml', '4930111');
    await page.getByRole('link', { name: 'Calls' }).click();
    const row = page.locator('tr[data-call]');
    await until('the call in Calls', async () => (await row.count()) === 1 && (await row.textContent())?.includes('confirmed'), 20_000);
    expect(await row.textContent()).toContain('PBX → ITSP');
    expect(await row.locator('td').nth(1).textContent()).toBe('4930111');
    // The relay measures the echoed stream: a MOS and a colour once packets flowed both ways.
    await until('the QoE cell with a MOS', async () => /MOS \d\.\d\d/.test((await row.locator('.qoe').first().textContent()) ?? ''), 15_000);
    expect(await row.locator('.qoe').first().getAttribute('data-qoe')).toBe('yellow');

    // The filter is applied by the server to the stream: a number that matches nothing hides the call.
    await page.getByLabel('Filter').fill('no-such-number');
    await until('the call filtered out', async () => (await row.count()) === 0 && (await page.getByTestId('calls-shown').textContent()) === 'no calls', 10_000);
    await page.getByLabel('Filter').fill('4930111');
    await row.first().waitFor();
    await page.screenshot({ path: join(shots, 'calls-filtered.png'), fullPage: true });

    // The call's page: its media statistics, packets counted on both legs.
    await row.locator('a').first().click();
    await page.getByTestId('call-state').getByText('confirmed').waitFor();
    const packets = (leg: string): Promise<number> => page.getByTestId(`media-${leg}-rx`).locator('td').nth(1).textContent().then((t) => Number(t));
    await until('rx packets on both legs', async () => (await page.getByTestId('media-A-rx').count()) > 0 && (await packets('A')) >= 30 && (await packets('B')) >= 30, 15_000);
    expect(await page.locator('[data-edit]').count()).toBe(0); // a Monitor cannot end it
    await page.screenshot({ path: join(shots, 'call-detail.png'), fullPage: true });

    const done = await call.done;
    expect(done.failed, done.output).toBe(0);
    expect(done.successful).toBe(1);

    // Its CDR on the CDR page, found by callee.
    await page.getByRole('link', { name: 'CDRs' }).click();
    await page.getByLabel('Callee').fill('4930111');
    await page.getByRole('button', { name: 'Search' }).click();
    const cdr = page.locator('tr[data-cdr]');
    await until('the CDR row', async () => (await cdr.count()) === 1, 15_000);
    const sessionId = (await cdr.getAttribute('data-cdr'))!;
    expect(await cdr.textContent()).toContain('PBX → ITSP');
    expect(await cdr.locator('td').nth(4).textContent()).toBe('200');
    await page.screenshot({ path: join(shots, 'cdrs.png'), fullPage: true });
    // A search that matches nothing.
    await page.getByLabel('IP Group').fill('NoSuchGroup');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByTestId('cdr-shown').getByText('No records match.').waitFor();
    await page.getByLabel('IP Group').fill('ITSP');
    await page.getByRole('button', { name: 'Search' }).click();
    await cdr.first().waitFor();

    // The CSV download of the same search: a header and the call's line, quoted per RFC 4180.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('cdr-csv').click()]);
    const csv = await readFile((await download.path())!, 'utf8');
    const lines = csv.trimEnd().split('\n');
    expect(lines.length).toBe(2);
    const header = parseCsvLine(lines[0]!);
    const cells = parseCsvLine(lines[1]!);
    expect(cells.length).toBe(header.length);
    const col = (title: string): string => cells[header.indexOf(title)]!;
    expect(col('SessionId')).toBe(sessionId);
    expect(col('DstURI')).toContain('4930111');
    expect(col('IPGroup')).toBe('PBX');
    expect(col('SIPStatus')).toBe('200');
    expect(Number(col('MOS'))).toBeGreaterThan(4);
    // The display name "Media A" has a space but no comma: only cells with , " or line breaks are quoted.
    expect(lines[1]).toContain(',Media A,');

    // The CDR row links to the ended call's ladder: BYE from the caller, relayed to the callee.
    await cdr.locator('a', { hasText: 'ladder' }).click();
    await page.getByTestId('call-state').getByText('ended').waitFor();
    for (const [leg, dir, label] of [['A', 'in', 'INVITE'], ['B', 'out', 'INVITE'], ['A', 'in', 'BYE'], ['B', 'out', 'BYE'], ['B', 'in', '200 BYE']] as const) {
      expect(await page.locator(`g[data-leg="${leg}"][data-dir="${dir}"][data-msg="${label}"]`).count(), `${leg} ${dir} ${label}`).toBeGreaterThan(0);
    }
    expect(Number(await page.getByTestId('media-A-rx').locator('td').nth(1).textContent())).toBeGreaterThan(30);
    await page.screenshot({ path: join(shots, 'ended-ladder.png'), fullPage: true });

    // The QoE page counts it for both IP Groups, as poor (yellow under the strict profile), and lists it.
    await page.getByRole('link', { name: 'QoE' }).click();
    const pbx = page.locator('section[data-group="PBX"]');
    await pbx.waitFor();
    expect(await pbx.getByTestId('qoe-calls').textContent()).toBe('1');
    expect(await pbx.getByTestId('qoe-poor-share').textContent()).toBe('100.0 %');
    expect(await page.locator('section[data-group="ITSP"]').getByTestId('qoe-calls').textContent()).toBe('1');
    expect(await pbx.locator('svg.chart').count()).toBe(2);
    expect(await pbx.locator('g[data-band="≥ 4.34"]').textContent()).toContain('1');
    const poor = page.getByTestId('poor-calls').locator('tbody tr');
    expect(await poor.count()).toBe(1);
    expect(await poor.textContent()).toContain('4930111');
    expect(await poor.locator('[data-qoe]').getAttribute('data-qoe')).toBe('yellow');
    await page.screenshot({ path: join(shots, 'qoe.png'), fullPage: true });
    // Its ladder from the list.
    await poor.locator('a', { hasText: 'ladder' }).click();
    await page.getByTestId('call-state').getByText('ended').waitFor();
    expect(page.url()).toContain(`#/calls/${encodeURIComponent(sessionId)}`);
    expect(errors).toEqual([]);
  }, 120_000);

  it('an Operator ends a held call from its page: the SBC sends BYE to both sipp sides', async () => {
    // A Monitor may not end calls (403), whatever the route.
    expect((await fetch(`${base}/api/v1/calls/x`, { method: 'DELETE', headers: basicAuth(TEST_API_USERS.monitor) })).status).toBe(403);
    const { page, errors } = await open(TEST_API_USERS.operator);
    // This caller waits (up to 20 s) for the SBC's BYE and answers it.
    const held = await caller('test/scenarios/media-uac-pcap-wait-bye.xml', '4930222');
    await page.getByRole('link', { name: 'Calls' }).click();
    const row = page.locator('tr[data-call]');
    await until('the held call in Calls', async () => (await row.count()) === 1 && (await row.textContent())?.includes('confirmed'), 20_000);
    await row.locator('a').first().click();
    await page.getByRole('button', { name: 'End call' }).click();
    await page.getByRole('button', { name: 'Confirm: end this call' }).click();
    await page.getByRole('status').getByText('Call ended').waitFor();
    const r = await held.done;
    expect(r.failed, r.output).toBe(0);
    expect(r.successful).toBe(1);
    // The callee got its BYE too: both of its calls ended well.
    const u = await uas.done;
    expect(u.failed, u.output).toBe(0);
    expect(u.successful).toBe(2);
    await page.getByTestId('call-state').getByText('ended').waitFor();
    expect(await page.locator('g[data-leg="A"][data-dir="out"][data-msg="BYE"]').count()).toBe(1);
    expect(await page.locator('g[data-leg="B"][data-dir="out"][data-msg="BYE"]').count()).toBe(1);
    expect(await page.getByTestId('call-summary').textContent()).toContain('ended by operator test-operator');
    await page.screenshot({ path: join(shots, 'call-ended-by-operator.png'), fullPage: true });
    // The dashboard's charts of active calls, calls per second and relayed packets per second, from the snapshots since the page opened.
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await until('the three charts drawn', async () => (await page.locator('svg.spark polyline').count()) === 3, 10_000);
    expect(await page.locator('svg.spark').first().getAttribute('aria-label')).toMatch(/^Active calls over the last \d+ minutes, up to 1\.0$/);
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
    expect(sbc.logs.some((l) => l.msg === 'call ended through the API' && l['by'] === 'test-operator')).toBe(true);
    expect(errors).toEqual([]);
  }, 90_000);

  it('a source denied after a burst of malformed requests is unblocked from the Security page and answered again', async () => {
    const peer = await udpPeer(STRANGER);
    try {
      const options = (n: number): string => sipRequest([
        `OPTIONS sip:ping@127.0.0.1:${lanPort} SIP/2.0`, `Via: SIP/2.0/UDP ${STRANGER}:${peer.port};branch=z9hG4bKcp${n};rport`,
        'Max-Forwards: 70', `From: <sip:probe@${STRANGER}>;tag=cp${n}`, 'To: <sip:ping@127.0.0.1>', `Call-ID: console-pages-${n}@${STRANGER}`, 'CSeq: 1 OPTIONS',
      ]);
      // Answered before the burst.
      await peer.send(options(1), lanPort);
      await peer.waitFor((m) => !m.isRequest && m.getHeader('call-id') === `console-pages-1@${STRANGER}`, 5000, 'answer to the first OPTIONS');
      // The default IDS policy denies an address after 20 malformed messages in a minute (docs/security.md).
      for (let i = 0; i < 25; i++) await peer.send(`GARBAGE ${i} / SIP/2.0\r\nVia: nonsense\r\n\r\n`, lanPort);
      await until('the stranger on the deny list', async () => (await sbc.api<Array<{ address: string }>>('/api/v1/security/denied')).some((d) => d.address === STRANGER), 10_000);
      const before = await sbc.api<Status>('/api/v1/status');
      await peer.send(options(2), lanPort);
      await until('the OPTIONS dropped unread', async () => (await sbc.api<Status>('/api/v1/status')).transport.deniedDropped > before.transport.deniedDropped, 5000);

      const { page, errors } = await open(TEST_API_USERS.operator);
      await page.getByRole('link', { name: 'Security' }).click();
      const entry = page.locator(`tr[data-source="${STRANGER}"]`);
      await entry.waitFor();
      expect(await entry.textContent()).toContain('malformed');
      expect(await entry.getByTestId('remaining').textContent()).toMatch(/^0:0[45]:\d\d$/);
      expect(Number(await page.locator('td[data-counter="malformed"]').textContent())).toBeGreaterThanOrEqual(20);
      expect(Number(await page.locator('td[data-counter="denials"]').textContent())).toBeGreaterThanOrEqual(1);
      await page.screenshot({ path: join(shots, 'security.png'), fullPage: true });
      await page.getByRole('button', { name: `Unblock ${STRANGER}` }).click();
      await page.getByRole('status').getByText(`${STRANGER} unblocked`).waitFor();
      await until('the entry gone from the page', async () => (await entry.count()) === 0, 5000);

      // Answered again.
      await peer.send(options(3), lanPort);
      await peer.waitFor((m) => !m.isRequest && m.getHeader('call-id') === `console-pages-3@${STRANGER}`, 5000, 'answer to the OPTIONS after unblocking');
      expect(peer.received.some((m) => !m.isRequest && m.getHeader('call-id') === `console-pages-2@${STRANGER}`)).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      await peer.close();
    }
  }, 60_000);
});

describe('DELETE /api/v1/calls/:id on a call still ringing (real SBC process)', () => {
  let sbc: SbcProcess;
  const sipps: SippProcess[] = [];
  afterAll(async () => {
    for (const s of sipps) await s.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('CANCEL toward the callee, 503 to the caller; the CDR and the ladder of the ended call', async () => {
    const [lanPort, wanPort, apiPort, uasPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(), findFreePort(ITSP)]);
    // The callee rings until it gets a CANCEL (else it fails); the caller accepts the failure and ACKs it.
    const uas = startSipp({ scenario: 'test/scenarios/b2bua-uas-ringing-cancel.xml', calls: 1, localAddress: ITSP, localPort: uasPort, timeoutMs: 60_000 });
    sipps.push(uas);
    await uas.bound();
    sbc = await startSbc(testIni({ lanPort, wanPort, apiPort, media: false, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }] }));
    const uac = startSipp({ scenario: 'test/scenarios/b2bua-uac-fail.xml', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 1, service: '4930333', timeoutMs: 60_000 });
    sipps.push(uac);
    const s = sbc;
    const live = await until('the ringing call', async () => (await s.api<Array<{ id: string; state: string }>>('/api/v1/calls'))[0], 15_000);
    const op = basicAuth(TEST_API_USERS.operator);
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/calls/${encodeURIComponent(live.id)}`, { method: 'DELETE', headers: op });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ended: live.id });
    const a = await uac.done;
    expect(a.failed, a.output).toBe(0);
    expect(a.successful).toBe(1);
    const b = await uas.done;
    expect(b.failed, b.output).toBe(0);
    expect(b.successful).toBe(1);
    const cdr = await until('its CDR', async () => (await s.api<{ records: Array<{ sessionId: string; sipStatus: number; releaseSide: string }> }>('/api/v1/cdrs?limit=1')).records.find((r) => r.sessionId === live.id), 10_000);
    expect(cdr.sipStatus).toBe(503);
    expect(cdr.releaseSide).toBe('sbc');
    // The CDR has the status the caller got; who ended it is in the call's timeline (its ladder).
    const ladder = await s.api<{ ended: boolean; events: Array<{ dir: string; leg: string; method?: string; status?: number; note?: string }> }>(`/api/v1/calls/${encodeURIComponent(live.id)}/ladder`);
    expect(ladder.ended).toBe(true);
    expect(ladder.events.some((e) => e.note === 'terminate: sbc ended by operator test-operator')).toBe(true);
    expect(ladder.events.some((e) => e.leg === 'B' && e.dir === 'out' && (e.method ?? e.note) === 'CANCEL')).toBe(true);
    expect(ladder.events.some((e) => e.leg === 'A' && e.dir === 'out' && e.status === 503)).toBe(true);
    // Gone: a second DELETE finds nothing.
    expect((await fetch(`http://127.0.0.1:${apiPort}/api/v1/calls/${encodeURIComponent(live.id)}`, { method: 'DELETE', headers: op })).status).toBe(404);
  }, 60_000);
});

describe('DELETE /api/v1/calls/:id with SIP worker threads (SIPWorkerThreads = 2, real SBC process)', () => {
  let sbc: SbcProcess;
  const sipps: SippProcess[] = [];
  afterAll(async () => {
    for (const s of sipps) await s.stop();
    expect(await sbc?.stop()).toBe(0);
  });

  it('lists, pages and ends calls on either thread: each caller gets its BYE', async () => {
    const [lanPort, wanPort, apiPort, uasPort] = await Promise.all([findFreePort(), findFreePort(), findFreePort(), findFreePort(ITSP)]);
    const uas = startSipp({ scenario: 'uas', calls: 16, localAddress: ITSP, localPort: uasPort, timeoutMs: 60_000 });
    sipps.push(uas);
    await uas.bound();
    // This file is about two threads whatever the environment forces (as in sip-workers.test.ts).
    sbc = await startSbcOwnThreads(testIni({ lanPort, wanPort, apiPort, media: false, scalars: ['SIPWorkerThreads = 2'], pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }] }));
    // 16 callers that wait for the SBC's BYE (sipp fails a call that does not get it).
    const uac = startSipp({ scenario: 'test/scenarios/b2bua-uac-wait-bye.xml', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 16, rate: 20, timeoutMs: 60_000 });
    sipps.push(uac);
    const s = sbc;
    const calls = await until('16 calls up', async () => {
      const c = await s.api<Array<{ id: string; state: string; shard?: number }>>('/api/v1/calls');
      return c.length === 16 && c.every((x) => x.state === 'confirmed') ? c : null;
    }, 20_000);
    // Call-IDs hash over both threads (FNV-1a mod 2): with 16 calls both have some (all on one: 2 in 65,536).
    expect(calls.some((c) => c.shard === 1)).toBe(true);
    expect(calls.some((c) => c.shard === undefined)).toBe(true);
    const mon = basicAuth(TEST_API_USERS.monitor);
    const page = await fetch(`http://127.0.0.1:${apiPort}/api/v1/calls?limit=5&offset=10`, { headers: mon });
    expect(page.headers.get('x-total-count')).toBe('16');
    expect(((await page.json()) as Array<{ id: string }>).map((c) => c.id)).toEqual(calls.slice(10, 15).map((c) => c.id));
    const op = basicAuth(TEST_API_USERS.operator);
    for (const c of calls) {
      expect((await fetch(`http://127.0.0.1:${apiPort}/api/v1/calls/${encodeURIComponent(c.id)}`, { method: 'DELETE', headers: op })).status, c.id).toBe(200);
    }
    const done = await uac.done;
    expect(done.failed, done.output).toBe(0);
    expect(done.successful).toBe(16);
    await until('no calls left on either thread', async () => (await s.api<{ activeCalls: number }>('/api/v1/status')).activeCalls === 0, 10_000);
    expect(sbc.logs.filter((l) => l.msg === 'call ended through the API')).toHaveLength(16);
  }, 90_000);
});
