/**
 * Headless Chromium for the console's end-to-end tests: Debian's `chromium` (scripts/test-deps.sh
 * installs it) driven by playwright-core, which downloads no browser of its own. One browser per
 * test file; each test opens its own contexts (separate sessionStorage, so separate sign-ins).
 */
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { requireFile } from './processes.js';

export const CHROMIUM = '/usr/bin/chromium';
/**
 * Screenshots of every screen: into docs/console/ (committed, linked from the README) when
 * ZKGATE_UPDATE_SCREENSHOTS is set, else into a temp directory, so a test run leaves the
 * working tree as it was.
 */
export const SCREENSHOTS = process.env.ZKGATE_UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../../docs/console/', import.meta.url))
  : join(tmpdir(), 'zkgate-console-screenshots');

export async function launchBrowser(): Promise<Browser> {
  requireFile(CHROMIUM, 'apt-get install -y --no-install-recommends chromium');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface ConsolePage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Content-Security-Policy violations, uncaught errors and requests to anywhere but the gateway. */
  readonly faults: string[];
}

/** A fresh context at 1280 px (or `width`), signed in to the console with `token`. */
export async function signedIn(
  browser: Browser,
  base: string,
  token: string,
  options: { width?: number; colorScheme?: 'light' | 'dark' } = {},
): Promise<ConsolePage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 860 },
    colorScheme: options.colorScheme ?? 'light',
  });
  const page = await context.newPage();
  const faults: string[] = [];
  page.on('pageerror', (err) => faults.push(String(err)));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy|Refused to/i.test(message.text()))
      faults.push(message.text());
  });
  // Offline means the page asks its own gateway for everything: no CDN, no font or telemetry host
  // (`data:` is the page's empty favicon, inline).
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${base}/`) && !url.startsWith('data:'))
      faults.push(`request off the gateway: ${url}`);
  });
  await page.goto(`${base}/console/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('whoami').waitFor();
  return { page, context, faults };
}

/** A full-page screenshot; `mask` covers what must not be published (a token's secret). */
export async function screenshot(page: Page, name: string, mask: Locator[] = []): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, mask });
}

/** Replaces the text of the page's (first) CodeMirror editor, as typing would. */
export async function replaceEditorText(page: Page, text: string): Promise<void> {
  const content = page.locator('.cm-content').first();
  await content.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/**
 * The form controls on the page (the editors' shadow roots included) that have no accessible
 * name, described for a failure message: no label, aria-label, aria-labelledby, title or text.
 */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const roots = [document, ...[...document.querySelectorAll('.editor')].map((h) => h.shadowRoot).filter(Boolean)];
    const controls = roots.flatMap((r) => [...r.querySelectorAll('input:not([type=hidden]), select, textarea, button, [contenteditable=true]')]);
    const named = (c) =>
      [...(c.labels ?? [])].some((l) => l.textContent.trim() !== '') ||
      (c.getAttribute('aria-label') ?? '').trim() !== '' ||
      c.hasAttribute('aria-labelledby') ||
      (c.getAttribute('title') ?? '').trim() !== '' ||
      (c.tagName === 'BUTTON' && c.textContent.trim() !== '');
    return controls.filter((c) => !named(c)).map((c) => c.outerHTML.slice(0, 120));
  })()`);
}
