/**
 * What went wrong on a console page during a browser test: script errors
 * (`errors`; the browser's own "Failed to load resource" notes for refused
 * requests left out) and every answer >= 400 as "METHOD /path status"
 * (`refused`: the test asserts the ones it expects, e.g. a Monitor's
 * refused changes).
 */
import type { Page } from 'playwright-core';

export function watchPage(page: Page): { errors: string[]; refused: string[] } {
  const errors: string[] = [];
  const refused: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) refused.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  return { errors, refused };
}
