/**
 * The console's Configuration page in a real browser (Debian's chromium,
 * playwright-core) against the real SBC process and real sipp:
 * - a Monitor sees the tables (Mediant column names, schema descriptions as
 *   help) with every change control disabled, and a change forced from the
 *   page is refused (403, with and without the CSRF token); the Monitor can
 *   still use the Test route form (the `sbc route` explainer);
 * - an Operator edits the PBX -> ITSP routing row (IP2IPRouting 0): a bad
 *   IP Group name shows the check-config validator's message at the column,
 *   a good one (ITSP2) shows the diff; after Apply the next sipp call reaches
 *   the ITSP2 sipp UAS and not the ITSP one; one click on Roll back in the
 *   History restores the route and the next call reaches ITSP again.
 * Screenshots go to a temporary directory the test prints.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleLogin, launchChromium, screenshotDir } from './helpers/console-browser.js';
import { watchPage } from './helpers/console-watch.js';
import { assertSippInstalled, findFreePort, startSipp, type SippProcess, type SippResult } from './helpers/sipp.js';
import { startSbc, testIni, TEST_API_USERS, type SbcProcess } from './helpers/sbc-process.js';
import { until } from './helpers/wait.js';

const PBX = '127.0.0.91';
const ITSP = '127.0.0.92';
const ITSP2 = '127.0.0.93';

/** The test ini plus a second trunk, IP Group ITSP2 (Proxy Set ITSP2 -> ITSP2:port), that no route uses yet. */
function iniWithSecondTrunk(base: string, itsp2Port: number): string {
  const add = (text: string, end: string, row: string): string => {
    if (!text.includes(end)) throw new Error(`test ini has no ${end}`);
    return text.replace(end, `${row}\r\n${end}`);
  };
  let t = add(base, '[ \\ProxySet ]', 'ProxySet 2 = "ITSP2", 0, 60, 0, 0, -1, "WAN", 1, -1;');
  t = add(t, '[ \\ProxyIp ]', `ProxyIp 9 = "2", 0, "${ITSP2}:${itsp2Port}", 0, 0, 0;`);
  t = add(t, '[ \\IPGroup ]', 'IPGroup 2 = 0, "ITSP2", "ITSP2", "itsp2.test", "WAN", 0, "ITSP-Profile", -1, -1;');
  return t;
}

/** INVITEs a sipp UAS received (its -trace_stat counter), whatever became of the call. */
const incoming = (r: SippResult): number => Number.parseInt(r.stats['IncomingCall(C)'] ?? 'NaN', 10);

describe('console Configuration page in chromium (real SBC, real sipp)', () => {
  let sbc: SbcProcess;
  let browser: Browser;
  let base: string;
  let lanPort: number;
  let uasPort: number;
  let uas2Port: number;
  let shots: string;

  beforeAll(async () => {
    assertSippInstalled();
    shots = await screenshotDir('console-config-shots');
    lanPort = await findFreePort();
    uasPort = await findFreePort();
    uas2Port = await findFreePort();
    const apiPort = await findFreePort();
    const ini = testIni({ lanPort, wanPort: await findFreePort(), apiPort, pbx: { address: PBX, port: 5060 }, itsp: [{ address: ITSP, port: uasPort }] });
    sbc = await startSbc(iniWithSecondTrunk(ini, uas2Port));
    base = `http://127.0.0.1:${apiPort}`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    expect(await sbc?.stop()).toBe(0);
    process.stdout.write(`console screenshots: ${shots}\n`);
  });

  /** One call from the PBX with a one-call UAS on each trunk: which of them got the INVITE. */
  const callAndSeeWhere = async (): Promise<{ itsp: number; itsp2: number }> => {
    const uas: SippProcess = startSipp({ scenario: 'uas', calls: 1, localAddress: ITSP, localPort: uasPort, timeoutMs: 30_000 });
    const uas2: SippProcess = startSipp({ scenario: 'uas', calls: 1, localAddress: ITSP2, localPort: uas2Port, timeoutMs: 30_000 });
    let uac: SippResult | null = null;
    let counted: SippResult[];
    try {
      await Promise.all([uas.bound(), uas2.bound()]);
      uac = await startSipp({ scenario: 'uac', target: `127.0.0.1:${lanPort}`, localAddress: PBX, calls: 1, rate: 1, service: '4930123', timeoutMs: 30_000 }).done;
      // The UAS that got the call ends by itself after it (-m 1, bounded by its timeout): wait for that, so its count is final.
      if (uac.successful === 1) await Promise.race([uas.done, uas2.done]);
    } finally {
      // The other one is stopped; sipp writes its counters as it exits.
      counted = await Promise.all([uas.stop(), uas2.stop()]);
    }
    expect(uac?.successful, uac?.output).toBe(1);
    const [a, b] = counted as [SippResult, SippResult];
    for (const r of [a, b]) expect(Number.isNaN(incoming(r)), `no IncomingCall(C) in ${JSON.stringify(r.stats)}`).toBe(false);
    return { itsp: incoming(a), itsp2: incoming(b) };
  };

  const routingPage = async (page: Page): Promise<void> => {
    await page.getByRole('link', { name: 'Configuration' }).click();
    await page.getByRole('navigation', { name: 'Tables' }).getByRole('link', { name: /^IP2IPRouting/ }).click();
    await page.locator('table[data-table="IP2IPRouting"] tr[data-index="0"]').waitFor();
  };

  it('Monitor: sees the tables with column help, cannot change anything (UI disabled, forced requests 403); uses Test route', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const { errors, refused } = watchPage(page);
    await consoleLogin(page, base, TEST_API_USERS.monitor);
    await routingPage(page);
    const table = page.locator('table[data-table="IP2IPRouting"]');
    // Mediant column names, their schema descriptions as tooltips.
    const th = table.locator('th', { hasText: 'DestIPGroupName' });
    expect(await th.count()).toBe(1);
    expect((await th.getAttribute('title'))?.length).toBeGreaterThan(5);
    expect(await table.locator('tr[data-index="0"]').textContent()).toContain('ITSP');
    // Every change control is there but disabled.
    await page.getByTestId('read-only').waitFor();
    expect(await page.getByRole('button', { name: 'Edit IP2IPRouting row 0' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Delete IP2IPRouting row 0' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Add row' }).isDisabled()).toBe(true);
    await page.screenshot({ path: join(shots, 'config-monitor.png'), fullPage: true });

    // Forced from the page: refused by the server with and without the CSRF token.
    const codes = await page.evaluate(async () => {
      const s = await (await fetch('/console/api/session')).json() as { csrf: string };
      const h = { 'content-type': 'application/json', 'x-csrf-token': s.csrf };
      const body = JSON.stringify({ DestIPGroupName: 'ITSP2' });
      return {
        noToken: (await fetch('/api/v1/config/tables/IP2IPRouting/0', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body })).status,
        patch: (await fetch('/api/v1/config/tables/IP2IPRouting/0', { method: 'PATCH', headers: h, body })).status,
        preview: (await fetch('/api/v1/config/preview', { method: 'POST', headers: h, body: JSON.stringify({ op: 'patch', table: 'IP2IPRouting', index: 0, values: { DestIPGroupName: 'ITSP2' } }) })).status,
        rollback: (await fetch('/api/v1/config/rollback/1', { method: 'POST', headers: h })).status,
      };
    });
    expect(codes).toEqual({ noToken: 403, patch: 403, preview: 403, rollback: 403 });
    const cfg = await sbc.api<{ tables: { IP2IPRouting: Array<{ DestIPGroupName: string }> } }>('/api/v1/config');
    expect(cfg.tables.IP2IPRouting[0]!.DestIPGroupName).toBe('ITSP');

    // Test route: the explainer, open to a Monitor.
    await page.getByRole('link', { name: 'Test route' }).click();
    await page.getByLabel('From URI').fill('sip:1001@pbx.test');
    await page.getByLabel('To URI', { exact: true }).fill('sip:4930123@sbc.test');
    await page.getByLabel('Source address').fill(PBX);
    await page.getByRole('button', { name: 'Explain' }).click();
    const result = page.getByTestId('route-result');
    await result.waitFor();
    expect(await result.getAttribute('data-outcome')).toBe('route');
    expect(await result.textContent()).toMatch(/IP2IPRouting 0 \(PBX to ITSP\): PBX → IP Group ITSP via udp:127\.0\.0\.92:\d+/);
    expect(await page.getByTestId('route-trace').textContent()).toContain('source IP Group PBX');
    await page.screenshot({ path: join(shots, 'config-route-test.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(refused).toEqual([
      'GET /console/api/session 401', 'PATCH /api/v1/config/tables/IP2IPRouting/0 403', 'PATCH /api/v1/config/tables/IP2IPRouting/0 403',
      'POST /api/v1/config/preview 403', 'POST /api/v1/config/rollback/1 403',
    ]);
    await context.close();
  }, 90_000);

  it('Operator: a bad value shows the validator message, a good one its diff; apply reroutes the next sipp call; one-click rollback restores it', async () => {
    // Before: calls from the PBX go to ITSP.
    expect(await callAndSeeWhere()).toEqual({ itsp: 1, itsp2: 0 });

    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const { errors } = watchPage(page);
    await consoleLogin(page, base, TEST_API_USERS.operator);
    await routingPage(page);
    await page.getByRole('button', { name: 'Edit IP2IPRouting row 0' }).click();
    const dest = page.getByLabel('DestIPGroupName', { exact: true });
    const apply = page.getByRole('button', { name: 'Apply' });

    // A bad value: the check-config message, at its row and column; Apply stays disabled.
    await dest.fill('NOWHERE');
    await dest.press('Tab');
    const validation = page.getByTestId('validation');
    await validation.waitFor();
    expect(await validation.textContent()).toMatch(/IP2IPRouting row 0, column DestIPGroupName: .*sbc\.ini:\d+:\d+: error: IP2IPRouting 0: refers to IPGroup 'NOWHERE' which does not exist/);
    expect(await page.locator('[data-field-error="DestIPGroupName"]').textContent()).toContain("refers to IPGroup 'NOWHERE' which does not exist");
    expect(await dest.getAttribute('aria-invalid')).toBe('true');
    expect(await apply.isDisabled()).toBe(true);
    await page.screenshot({ path: join(shots, 'config-validation.png'), fullPage: true });

    // A good value: the server's diff of running vs proposed, then Apply.
    await dest.fill('ITSP2');
    await page.getByRole('button', { name: 'Preview change' }).click();
    const diff = page.getByTestId('diff');
    await diff.getByText("IP2IPRouting 0: DestIPGroupName 'ITSP' -> 'ITSP2'").waitFor();
    expect(await diff.locator('td.before').first().textContent()).toBe("'ITSP'");
    expect(await diff.locator('td.after').first().textContent()).toBe("'ITSP2'");
    await page.screenshot({ path: join(shots, 'config-diff.png'), fullPage: true });
    await page.locator('section.editor').screenshot({ path: join(shots, 'config-editor.png') });
    await until('Apply enabled by the preview', () => apply.isEnabled(), 15_000);
    await apply.click();
    const note = page.getByTestId('config-note');
    await note.waitFor();
    expect(await note.textContent()).toMatch(/^Applied as version 2: IP2IPRouting 0: DestIPGroupName 'ITSP' -> 'ITSP2'$/);
    expect(await page.locator('table[data-table="IP2IPRouting"] tr[data-index="0"]').textContent()).toContain('ITSP2');

    // The next call follows the new route.
    expect(await callAndSeeWhere()).toEqual({ itsp: 0, itsp2: 1 });

    // History: the change with who made it; one click rolls back to version 1.
    await page.getByRole('link', { name: 'History' }).click();
    const v2 = page.locator('tr[data-version="2"]');
    await v2.waitFor();
    expect(await v2.textContent()).toContain('api by test-operator (PATCH IP2IPRouting 0)');
    expect(await v2.textContent()).toContain("IP2IPRouting 0: DestIPGroupName 'ITSP' -> 'ITSP2'");
    await page.getByRole('button', { name: 'Compare version 1 with the running one' }).click();
    await page.getByTestId('diff-1').getByText("IP2IPRouting 0: DestIPGroupName 'ITSP2' -> 'ITSP'").waitFor();
    await page.screenshot({ path: join(shots, 'config-history.png'), fullPage: true });
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    const rolled = page.getByTestId('history-note');
    await rolled.waitFor();
    expect(await rolled.textContent()).toBe("Rolled back to version 1 (now version 3): IP2IPRouting 0: DestIPGroupName 'ITSP2' -> 'ITSP'");
    await page.locator('tr[data-version="3"]').getByText('rollback by test-operator').waitFor();

    // The route is restored: the next call goes to ITSP again.
    expect(await callAndSeeWhere()).toEqual({ itsp: 1, itsp2: 0 });
    const cfg = await sbc.api<{ tables: { IP2IPRouting: Array<{ DestIPGroupName: string }> } }>('/api/v1/config');
    expect(cfg.tables.IP2IPRouting[0]!.DestIPGroupName).toBe('ITSP');

    // Add a row, then delete it: each previewed as a diff and applied.
    await page.getByRole('link', { name: 'Tables' }).click();
    await page.getByRole('button', { name: 'Add row' }).click();
    expect(await page.getByLabel('Index', { exact: true }).inputValue()).toBe('2');
    await page.getByLabel('RouteName', { exact: true }).fill('spare to PBX');
    await page.getByLabel('SrcIPGroupName', { exact: true }).fill('ITSP2');
    await page.getByLabel('DestIPGroupName', { exact: true }).fill('PBX');
    await page.getByRole('button', { name: 'Preview change' }).click();
    await page.getByTestId('diff').getByText('IP2IPRouting 2 added').waitFor();
    await until('Apply enabled by the preview', () => apply.isEnabled(), 15_000);
    await apply.click();
    await note.getByText('Applied as version 4: IP2IPRouting 2 added').waitFor();
    await page.getByRole('button', { name: 'Delete IP2IPRouting row 2' }).click();
    await page.getByRole('button', { name: 'Preview change' }).click();
    await page.getByTestId('diff').getByText('IP2IPRouting 2 removed').waitFor();
    await until('Apply enabled by the preview', () => apply.isEnabled(), 15_000);
    await apply.click();
    await note.getByText('Applied as version 5: IP2IPRouting 2 removed').waitFor();
    await until('the deleted row gone from the table', async () => (await page.locator('table[data-table="IP2IPRouting"] tr[data-index]').count()) === 2, 10_000);

    // A security table stays read-only for an Operator (Mediant: Administrator level).
    await page.getByRole('navigation', { name: 'Tables' }).getByRole('link', { name: /^WebUsers/ }).click();
    await page.getByTestId('read-only').waitFor();
    expect(await page.getByRole('button', { name: 'Edit WebUsers row 0' }).isDisabled()).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  }, 150_000);
});
