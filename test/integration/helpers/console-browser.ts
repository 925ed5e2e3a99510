/**
 * The web console in a real browser for the tests: Debian's chromium
 * (installed by scripts/install-test-deps.sh; a missing browser fails the
 * test, never skips it) driven by playwright-core, a login through the
 * console's own form, a watch on page errors and refused requests, and the
 * directory screenshots go to (printed by the test, not committed).
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/install-test-deps.sh (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** A fresh directory for one test file's screenshots. */
export function screenshotDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sbc-console-shots-'));
}

/** Logs in through the login form and waits for the signed-in header. */
export async function consoleLogin(page: Page, base: string, user: { username: string; password: string }): Promise<void> {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  await page.goto(`${base}/console/`);
  await page.getByLabel('User name').waitFor({ timeout: 15_000 }).catch((e: unknown) => { throw new Error(`no login form: ${problems.join('; ')} ${String(e)}`); });
  await page.getByLabel('User name').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('who').waitFor();
}

/**
 * Script errors on the page (`errors`; the browser's own "Failed to load resource" notes
 * for refused requests left out) and every answer >= 400 as "METHOD /path status"
 * (`refused`: expected ones are asserted by the test).
 */
export function watchPage(page: Page): { errors: string[]; refused: string[] } {
  const errors: string[] = [];
  const refused: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) refused.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  return { errors, refused };
}
