/**
 * Shared by the web console's browser tests: Debian's chromium driven by
 * playwright-core (no browser download; a missing chromium fails the
 * test), the console's login form, and a directory for screenshots.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

/** Launches chromium; throws (fails the test) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/install-test-deps.sh (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** A temporary directory for the test's screenshots (printed by the test, not committed). */
export function screenshotDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `sbc-${name}-`));
}

/** Opens the console at `base` and logs in through its form; waits until the page shows who is logged in. */
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
