/**
 * The web console (docs/console.md) in a real browser: Debian's chromium
 * driven by playwright-core against the real SBC process. Nothing but the
 * login page answers without a session; a Monitor logs in (HttpOnly,
 * SameSite=Strict cookie), sees the dashboard fed by the event stream, sees
 * a live sipp call in Calls, opens its SIP ladder and finds INVITE / 180 /
 * 200 / ACK on both legs; a Monitor has no edit controls and gets 403 on a
 * change; an Operator unblocks a source from the dashboard; logout ends the
 * session. Screenshots go to a temporary directory printed by the test.
 * A missing chromium fails the test.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess } from './helpers/sipp.js';
import { basicAuth, startSbc, testIni, TEST_API_USERS, type SbcProcess } from './helpers/sbc-process.js';
import { until } from './helpers/wait.js';
import { consoleLogin, launchChromium, screenshotDir } from './helpers/console-browser.js';
const PBX = '127.0.0.81';
const ITSP = '127.0.0.82';

describe('web console in chromium (real SBC process)', () => {
  let sbc: SbcProcess;
  let uas: SippProcess;
  let browser: Browser;
  let base: string;
  let lanPort: number;
  let shots: string;

  beforeAll(async () => {
    assertSippInstalled();
    shots = await screenshotDir('console-shots');
    lanPort = await findFreePort();
    const wanPort = await findFreePort();
    const uasPort = await findFreePort();
    const apiPort = await findFreePort();
    uas = startSipp({ scenario: 'uas', calls: 100, localAddress: ITSP, localPort: uasPort, timeoutMs: 120_000 });
    await uas.bound();
    sbc = await startSbc(testIni({ lanPort, wanPort, apiPort, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }] }));
    base = `http://127.0.0.1:${apiPort}`;
    // A missing browser fails here (scripts/install-test-deps.sh installs Debian's chromium).
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await uas?.stop();
    expect(await sbc?.stop()).toBe(0);
    process.stdout.write(`console screenshots: ${shots}\n`);
  });

  const login = (page: Page, user: { username: string; password: string }): Promise<void> => consoleLogin(page, base, user);

  it('serves only the login page without a session; assets with caching headers and a CSP', async () => {
    const index = await fetch(`${base}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self' 'sha256-[^']+'/);
    const html = await index.text();
    const appUrl = /src="(\/console\/app\.js\?v=[0-9a-f]{12})"/.exec(html)?.[1];
    expect(appUrl).toBeDefined();
    const app = await fetch(`${base}${appUrl!}`);
    expect(app.status).toBe(200);
    expect(app.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(app.headers.get('content-type')).toMatch(/^text\/javascript/);
    const etag = app.headers.get('etag')!;
    expect((await fetch(`${base}${appUrl!}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    for (const path of ['/console/api/session', '/console/api/events', '/api/v1/calls', '/api/v1/calls/x/ladder']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(401);
    }
    expect((await fetch(`${base}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: TEST_API_USERS.monitor.username, password: 'wrong' }) })).status).toBe(401);
    // A made-up cookie is no session.
    expect((await fetch(`${base}/api/v1/calls`, { headers: { cookie: 'sbc_console=forged' } })).status).toBe(401);
  });

  it('Monitor: dashboard, a live call in Calls, its ladder on both legs; no edit controls, 403 on a change; logout', async () => {
    // A blocked source, so the dashboard has a row an Operator could unblock.
    const admin = { ...basicAuth(TEST_API_USERS.admin), 'content-type': 'application/json' };
    expect((await fetch(`${base}/api/v1/security/denied`, { method: 'POST', headers: admin, body: JSON.stringify({ address: '198.51.100.7', seconds: 600 }) })).status).toBe(201);

    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Refusals are expected (the session check before login, the Monitor's refused changes): listed, not errors.
    const refused: string[] = [];
    page.on('response', (r) => { if (r.status() >= 400) refused.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    await login(page, TEST_API_USERS.monitor);
    expect(await page.getByTestId('who').textContent()).toBe('test-monitor (monitor)');
    const cookie = (await context.cookies()).find((c) => c.name === 'sbc_console');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');

    // Dashboard from the event stream: proxy sets, the blocked source, and no Unblock button for a Monitor.
    await page.getByTestId('denied').getByText('198.51.100.7').waitFor();
    await page.getByTestId('proxy-sets').getByText('ITSP').first().waitFor();
    expect(await page.getByTestId('active-calls').textContent()).toBe('0');
    expect(await page.locator('[data-edit]').count()).toBe(0);
    await page.screenshot({ path: join(shots, 'dashboard-monitor.png'), fullPage: true });

    // A change from the Monitor's page: 403 without the CSRF token, 403 (role) with it.
    const codes = await page.evaluate(async () => {
      const s = await (await fetch('/console/api/session')).json() as { csrf: string };
      const noToken = (await fetch('/api/v1/security/denied/198.51.100.7', { method: 'DELETE' })).status;
      const withToken = (await fetch('/api/v1/security/denied/198.51.100.7', { method: 'DELETE', headers: { 'x-csrf-token': s.csrf } })).status;
      const reload = (await fetch('/api/v1/config/reload', { method: 'POST', headers: { 'x-csrf-token': s.csrf } })).status;
      return { noToken, withToken, reload };
    });
    expect(codes).toEqual({ noToken: 403, withToken: 403, reload: 403 });

    // A call held up for a while: it shows in Calls with its IP Groups and QoE cell.
    const held = startSipp({
      scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 1, rate: 1, service: '4930123',
      timeoutMs: 60_000, extraArgs: ['-d', '15000'],
    });
    await page.getByRole('link', { name: 'Calls' }).click();
    const row = page.locator('tr[data-call]');
    await until('the call in the Calls page', async () => (await row.count()) === 1 && (await row.textContent())?.includes('confirmed'), 20_000);
    expect(await row.textContent()).toContain('PBX → ITSP');
    expect(await row.locator('td').nth(1).textContent()).toBe('4930123');
    expect(await row.locator('.qoe').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'calls.png'), fullPage: true });

    // Its ladder: INVITE, 180, 200, ACK on both legs, each with a time.
    await row.locator('a').first().click();
    const msg = (leg: string, dir: string, label: string) => page.locator(`g[data-leg="${leg}"][data-dir="${dir}"][data-msg="${label}"]`);
    await msg('A', 'in', 'INVITE').first().waitFor();
    const expected: Array<[string, string, string]> = [
      ['A', 'in', 'INVITE'], ['A', 'out', '180 INVITE'], ['A', 'out', '200 INVITE'], ['A', 'in', 'ACK'],
      ['B', 'out', 'INVITE'], ['B', 'in', '180 INVITE'], ['B', 'in', '200 INVITE'], ['B', 'out', 'ACK'],
    ];
    for (const [leg, dir, label] of expected) {
      expect(await msg(leg, dir, label).count(), `${leg} ${dir} ${label}`).toBeGreaterThan(0);
      expect(await msg(leg, dir, label).first().locator('text').first().textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \+\d+\.\d{3}s$/);
    }
    await page.screenshot({ path: join(shots, 'ladder.png'), fullPage: true });
    expect(await page.locator('[data-edit]').count()).toBe(0);

    // Logout ends the session: the login form is back and the old cookie is refused.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('User name').waitFor();
    expect((await fetch(`${base}/api/v1/calls`, { headers: { cookie: `sbc_console=${cookie!.value}` } })).status).toBe(401);
    expect(errors).toEqual([]);
    expect(refused).toEqual([
      'GET /console/api/session 401', 'DELETE /api/v1/security/denied/198.51.100.7 403',
      'DELETE /api/v1/security/denied/198.51.100.7 403', 'POST /api/v1/config/reload 403',
    ]);
    await context.close();
    const done = await held.done;
    expect(done.successful).toBe(1);
  }, 90_000);

  it('Operator: unblocks a source from the dashboard', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await login(page, TEST_API_USERS.operator);
    await page.getByTestId('denied').getByText('198.51.100.7').waitFor();
    // The previous test's call is in its IP Group's figures (ASR over the group's last calls), and states say since when.
    await page.getByTestId('ip-groups').getByRole('row').filter({ hasText: 'PBX' }).filter({ hasText: '100 %' }).first().waitFor();
    expect(await page.getByTestId('proxy-sets').locator('time').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'dashboard-operator.png'), fullPage: true });
    await page.getByRole('button', { name: 'Unblock' }).click();
    await page.getByRole('status').getByText('198.51.100.7 unblocked').waitFor();
    const denied = await sbc.api<Array<{ address: string }>>('/api/v1/security/denied');
    expect(denied.some((d) => d.address === '198.51.100.7')).toBe(false);
    await context.close();
  }, 60_000);
});
