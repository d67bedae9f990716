/**
 * The web console in a real browser (headless Chromium) against a real gateway over the embedded
 * store: sign in, publish with checks before publishing, live updates across browser contexts,
 * conflicts, history and rollback, services and the dispatch preview, audit, access, and what a
 * read-only token is (not) offered. Takes the screenshots of docs/console/.
 */
import { rm } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../src/controller/console.js';
import {
  launchBrowser,
  replaceEditorText,
  screenshot,
  signedIn,
  unlabelledControls,
} from '../support/browser.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { MANAGEMENT, MANAGEMENT_SECRET } from '../support/tokens.js';

let gateway: InProcessGateway;
let browser: Browser;
let dataDir: string;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...MANAGEMENT,
      ...(typeof body === 'object' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

const publishYaml = (ns: string, text: string, comment?: string) =>
  call('PUT', `/v1/config/${ns}`, text, {
    'content-type': 'application/yaml',
    ...(comment ? { 'x-zkgate-comment': comment } : {}),
  });

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-console-');
  [gateway, browser] = await Promise.all([
    startInProcessGateway({ ZKGATE_DATA_DIR: dataDir }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the console', () => {
  it('is served with a strict Content-Security-Policy, without a token', async () => {
    const redirect = await fetch(`${gateway.url}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    const page = await fetch(`${gateway.url}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    const html = await page.text();
    const script = /src="([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${gateway.url}/console/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    // Precompressed by the build, in the form the client takes.
    for (const encoding of ['br', 'gzip']) {
      const compressed = await fetch(`${gateway.url}/console/${script}`, {
        headers: { 'accept-encoding': encoding },
      });
      expect(compressed.headers.get('content-encoding')).toBe(encoding);
      expect(await compressed.text()).toBe(await (await fetch(`${gateway.url}/console/${script}`)).text());
    }
    for (const path of ['/console/nope.js', '/console/%2e%2e/package.json', '/console/..%2fpackage.json']) {
      const missing = await fetch(`${gateway.url}${path}`);
      expect(missing.status, path).toBe(404);
      expect(((await missing.json()) as { code: string }).code, path).toBe('ZKG_ROUTE_NOT_FOUND');
    }
  });

  it('signs in with a token, says who you are, and signs out', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(`${gateway.url}/console/`);
    await screenshot(page, 'sign-in');
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByLabel('Token').fill('zkg_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/refused/);
    await page.getByLabel('Token').fill(MANAGEMENT_SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByTestId('whoami').textContent()).toMatch(/management/);
    expect(await page.evaluate("sessionStorage.getItem('zkgate.token')")).toBe(MANAGEMENT_SECRET);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').waitFor();
    expect(await page.evaluate("sessionStorage.getItem('zkgate.token')")).toBeNull();
    await context.close();
  });

  it('shows a schema violation before publishing, publishes a valid document, and another context sees it live', async () => {
    await publishYaml('prod/payments', 'retries: 3\ntimeout: 5s\n', 'first');
    await call('PUT', '/v1/config/prod/payments:schema', {
      type: 'object',
      required: ['retries'],
      properties: { retries: { type: 'integer', maximum: 10 }, timeout: { type: 'string' } },
    });
    const editor = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    const watcher = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await watcher.page.goto(`${gateway.url}/console/#/config/prod/payments`);
    await watcher.page.getByText('retries: 3').waitFor();
    await editor.page.goto(`${gateway.url}/console/#/config/prod/payments`);
    await editor.page.getByText('retries: 3').waitFor();

    // Measured once the page has settled (the author arrives with the history).
    await watcher.page.locator('.facts dd', { hasText: 'bootstrap management token' }).waitFor();
    const editorTop = async () => (await watcher.page.locator('.editor').first().boundingBox())?.y;
    const topBefore = await editorTop();
    expect(topBefore).toBeGreaterThan(0);

    await replaceEditorText(editor.page, 'retries: 11\ntimeout: 5s\n');
    await expect.poll(() => editor.page.getByTestId('checks').textContent()).toMatch(/retries.*10/);
    expect(await editor.page.getByRole('button', { name: 'Review changes…' }).isDisabled()).toBe(true);
    // Marked in place too, on the offending value.
    await expect.poll(() => editor.page.locator('.cm-lintRange-error').first().textContent()).toBe('11');
    await screenshot(editor.page, 'config-schema-violation');
    expect(await unlabelledControls(editor.page)).toEqual([]);

    await replaceEditorText(editor.page, 'retries: 4\ntimeout: 5s\n');
    await expect.poll(() => editor.page.getByTestId('checks').textContent()).toMatch(/valid/);
    await editor.page.getByRole('button', { name: 'Review changes…' }).click();
    await editor.page.locator('.diff .add', { hasText: 'retries: 4' }).waitFor();
    await screenshot(editor.page, 'config-review-diff');
    expect(await unlabelledControls(editor.page)).toEqual([]);
    await editor.page.getByRole('button', { name: 'Publish', exact: true }).click();
    await editor.page.getByText('Published version 2.').waitFor();

    // The other context did nothing: the change arrives over its live stream.
    await expect.poll(() => watcher.page.getByTestId('live-version').textContent()).toBe('2');
    await watcher.page.locator('.cm-content', { hasText: 'retries: 4' }).waitFor();
    // Nothing moved: the live text took the old one's place.
    expect(await editorTop()).toBe(topBefore);
    expect((await call('GET', '/v1/config?prefix=prod/')) as unknown).toEqual([
      expect.objectContaining({ namespace: 'prod/payments', watchers: 2 }),
    ]);
    await expect
      .poll(() => watcher.page.locator('[data-namespace="prod/payments"]').textContent())
      .toContain('2 watching');
    await screenshot(watcher.page, 'config');
    expect(await unlabelledControls(watcher.page)).toEqual([]);
    expect([...editor.faults, ...watcher.faults]).toEqual([]);
    await Promise.all([editor.context.close(), watcher.context.close()]);
  });

  it('shows a publish conflict with their change, and resolves it by rebasing or by overwriting', async () => {
    await publishYaml('prod/orders', 'pool: 10\n');
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await page.goto(`${gateway.url}/console/#/config/prod/orders`);
    await page.getByText('pool: 10').waitFor();
    await replaceEditorText(page, 'pool: 20\n');
    await publishYaml('prod/orders', 'pool: 15\n', 'someone else');
    await page.getByText('Version 2 was published while you edit').waitFor();
    await page.getByRole('button', { name: 'Review changes…' }).click();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByText('Conflict: version 2 was published meanwhile').waitFor();
    await page.locator('.conflict .diff .add', { hasText: 'pool: 15' }).first().waitFor();

    // Rebase: the edit is now reviewed against their version, and published over it.
    await page.getByRole('button', { name: 'Rebase: keep editing on top of v2' }).click();
    await page.getByRole('button', { name: 'Review changes…' }).click();
    await page.getByRole('heading', { name: 'Publish over version 2?' }).waitFor();
    await page.locator('.review .diff .del', { hasText: 'pool: 15' }).waitFor();
    await page.locator('.review .diff .add', { hasText: 'pool: 20' }).waitFor();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByText('Published version 3.').waitFor();

    await replaceEditorText(page, 'pool: 30\n');
    await publishYaml('prod/orders', 'pool: 25\n', 'someone else again');
    await page.getByText('Version 4 was published while you edit').waitFor();
    await page.getByRole('button', { name: 'Review changes…' }).click();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByText('Conflict: version 4 was published meanwhile').waitFor();
    await page.locator('.conflict .diff .add', { hasText: 'pool: 25' }).first().waitFor();
    await screenshot(page, 'config-conflict');
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByRole('button', { name: 'Overwrite v4 with mine' }).click();
    await page.getByText('Published version 5.').waitFor();
    const live = await fetch(`${gateway.url}/v1/config/prod/orders`, { headers: MANAGEMENT });
    expect(await live.text()).toBe('pool: 30\n');
    const history = (await call('GET', '/v1/config/prod/orders:history')) as unknown as { version: number }[];
    expect(history.map((r) => r.version)).toEqual([5, 4, 3, 2, 1]);
    expect(faults).toEqual([]);
    await context.close();
  });

  it('diffs two releases and rolls back', async () => {
    await publishYaml('prod/search', 'shards: 1\n', 'one shard');
    await publishYaml('prod/search', 'shards: 2\n', 'two shards');
    await publishYaml('prod/search', 'shards: 3\n', 'three shards');
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await page.goto(`${gateway.url}/console/#/config/prod/search:history`);
    await page.getByLabel('Search namespaces').fill('sea');
    await expect.poll(() => page.locator('[data-namespace]').count()).toBe(1);
    await page.locator('[data-namespace="prod/search"]').waitFor();
    await page.getByLabel('Search namespaces').fill('');
    await expect.poll(() => page.locator('[data-namespace]').count()).toBeGreaterThan(1);
    await page.getByLabel('compare from version 1').check();
    await page.getByLabel('compare to version 3').check();
    await page.locator('.diff .del', { hasText: 'shards: 1' }).waitFor();
    await page.locator('.diff .add', { hasText: 'shards: 3' }).waitFor();
    await screenshot(page, 'config-history');
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Roll back to v1' }).click();
    await page.getByText('Rolled back: version 4 has the content of version 1.').waitFor();
    const live = await fetch(`${gateway.url}/v1/config/prod/search`, { headers: MANAGEMENT });
    expect(await live.text()).toBe('shards: 1\n');
    await page.getByRole('tab', { name: 'Schema' }).click();
    await page.getByText('No schema').waitFor();
    await screenshot(page, 'config-schema');
    expect(await unlabelledControls(page)).toEqual([]);
    expect(faults).toEqual([]);
    await context.close();
  });

  it('marks an instance DOWN and sees it leave the dispatch preview', async () => {
    for (const [id, zone] of [
      ['a-1', 'eu-1'],
      ['a-2', 'eu-2'],
    ] as const)
      await call('PUT', `/v1/services/orders/instances/${id}`, {
        address: '10.0.0.1',
        port: 8080,
        zone,
        metadata: { version: '1.4.2' },
      });
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await page.goto(`${gateway.url}/console/#/services/orders`);
    await page.locator('[data-instance="a-1"]').waitFor();
    await page.getByLabel('Dispatch strategy').selectOption('consistent_hash');
    await page.getByLabel('Key').fill('customer-42');
    const picked = page.locator('[data-field="pick"]');
    await expect.poll(() => picked.textContent()).toMatch(/^a-[12]$/);
    const first = (await picked.textContent()) as string;
    const other = first === 'a-1' ? 'a-2' : 'a-1';
    await page.getByRole('button', { name: `mark ${first} DOWN` }).click();
    await expect
      .poll(() => page.locator(`[data-instance="${first}"] [data-field="status"]`).textContent())
      .toBe('DOWN');
    await expect.poll(() => picked.textContent()).toBe(other);
    await page.getByLabel('Protection threshold (0–1)').fill('0.4');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('link', { name: /protect below 0\.4/ }).waitFor();
    const [summary] = (await call('GET', '/v1/services')) as unknown as { policy: Record<string, unknown> }[];
    expect(summary?.policy).toMatchObject({ protectThreshold: 0.4 });
    await screenshot(page, 'services');
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByRole('button', { name: `clear the manual status of ${first}` }).click();
    await expect
      .poll(() => page.locator(`[data-instance="${first}"] [data-field="status"]`).textContent())
      .toBe('UP');
    await page.getByRole('button', { name: `deregister ${other}` }).click();
    await page.getByRole('button', { name: 'Confirm deregister' }).click();
    await page.locator(`[data-instance="${other}"]`).waitFor({ state: 'detached' });
    await expect.poll(() => picked.textContent()).toBe(first);
    expect(faults).toEqual([]);
    await context.close();
  });

  it('saves a schema with the schema editor, and deletes a namespace after confirmation', async () => {
    await publishYaml('prod/scratch', 'a: 1\n');
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await page.goto(`${gateway.url}/console/#/config/prod/scratch:schema`);
    await page.getByText('No schema').waitFor();
    await replaceEditorText(page, '{"type": "object", "required": ["a"]');
    await expect.poll(() => page.getByRole('button', { name: 'Save schema' }).isDisabled()).toBe(true);
    await replaceEditorText(page, '{"type": "object", "required": ["a"]}');
    await page.getByRole('button', { name: 'Save schema' }).click();
    await page.getByText('Schema saved').waitFor();
    expect(await call('GET', '/v1/config/prod/scratch:schema')).toEqual({ type: 'object', required: ['a'] });

    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete prod/scratch' }).click();
    await page.locator('[data-namespace="prod/scratch"]').waitFor({ state: 'detached' });
    const gone = await fetch(`${gateway.url}/v1/config/prod/scratch`, { headers: MANAGEMENT });
    expect(gone.status).toBe(404);
    expect(faults).toEqual([]);
    await context.close();
  });

  it('filters the audit trail, creates and revokes a token, and deletes a policy after confirmation', async () => {
    await call('PUT', '/v1/acl/policies/scratch', { rules: { config: { 'scratch/': ['read'] } } });
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    const { accessor } = (await call('GET', '/v1/acl/whoami')) as { accessor: string };
    await page.goto(`${gateway.url}/console/#/audit`);
    await page.getByLabel('Resource starts with').fill('config:prod/search');
    await page.getByRole('button', { name: 'Filter' }).click();
    const rows = page.getByTestId('audit').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(4);
    await expect
      .poll(async () => (await page.getByTestId('audit').textContent()) ?? '')
      .not.toContain('prod/payments');
    await screenshot(page, 'audit');
    expect(await unlabelledControls(page)).toEqual([]);
    // By token and time: the operator made all four, none of them after a date to come, and
    // another accessor made none.
    await page.getByLabel('Token accessor').fill(accessor);
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.count()).toBe(4);
    await page.getByLabel('Since').fill('2099-01-01T00:00');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No records.').waitFor();
    await page.getByLabel('Since').fill('2000-01-01T00:00');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.count()).toBe(4);
    await page.getByLabel('Token accessor').fill('someone-else');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No records.').waitFor();

    await page.goto(`${gateway.url}/console/#/access`);
    await page.getByLabel('Description').first().fill('ci deployer');
    await page.getByRole('checkbox', { name: 'read-only' }).check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('secret').textContent()) as string;
    expect(secret).toMatch(/^zkg_/);
    const who = await fetch(`${gateway.url}/v1/acl/whoami`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(((await who.json()) as { description: string }).description).toBe('ci deployer');
    await screenshot(page, 'access', [page.getByTestId('secret')]);
    expect(await unlabelledControls(page)).toEqual([]);
    await page.getByRole('button', { name: 'Done' }).click();
    // Shown once: gone from the page, and the token listing has no secrets.
    await page.getByTestId('secret').waitFor({ state: 'detached' });
    expect(await page.getByTestId('tokens').textContent()).not.toContain(secret);
    await page.getByRole('button', { name: 'revoke ci deployer' }).click();
    await page.getByRole('button', { name: 'Confirm revoke' }).click();
    await expect
      .poll(
        async () =>
          (await fetch(`${gateway.url}/v1/acl/whoami`, { headers: { authorization: `Bearer ${secret}` } }))
            .status,
      )
      .toBe(401);
    const policyStatus = async () =>
      (await fetch(`${gateway.url}/v1/acl/policies/scratch`, { headers: MANAGEMENT })).status;
    await page.getByRole('button', { name: 'delete policy scratch' }).click();
    expect(await policyStatus()).toBe(200);
    await page.getByRole('button', { name: 'Confirm delete of scratch' }).click();
    await expect.poll(policyStatus).toBe(404);
    await page.getByRole('button', { name: 'delete policy scratch' }).waitFor({ state: 'detached' });
    expect(faults).toEqual([]);
    await context.close();
  });

  it('offers a read-only token no write control, and a forced write gets the 403 screen', async () => {
    const created = (await call('POST', '/v1/acl/tokens', {
      description: 'auditor',
      policies: ['read-only'],
    })) as {
      secret: string;
    };
    const { page, context, faults } = await signedIn(browser, gateway.url, created.secret);
    await page.goto(`${gateway.url}/console/#/config/prod/payments`);
    await page.getByText('retries: 4').waitFor();
    expect(await page.getByRole('button', { name: 'Review changes…' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete…' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'New namespace' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Access' }).count()).toBe(0);
    await page.goto(`${gateway.url}/console/#/config/prod/payments:history`);
    await page.getByLabel('compare to version 2').waitFor();
    expect(await page.getByRole('button', { name: /^Roll back/ }).count()).toBe(0);
    await page.goto(`${gateway.url}/console/#/config/prod/payments:schema`);
    await page.getByText('"maximum": 10').waitFor();
    expect(await page.getByRole('button', { name: 'Save schema' }).count()).toBe(0);
    await page.goto(`${gateway.url}/console/#/services/orders`);
    await page.locator('[data-instance]').first().waitFor();
    expect(await page.getByRole('button', { name: /^mark / }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^deregister / }).count()).toBe(0);

    // Forced: the form behind a hidden link, reached by its address.
    await page.goto(`${gateway.url}/console/#/config-new`);
    await page.getByLabel('Name (segments separated by /)').fill('prod/forced');
    await replaceEditorText(page, 'a: 1\n');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: '403 — not allowed' }).waitFor();
    await screenshot(page, 'forbidden');
    expect(await unlabelledControls(page)).toEqual([]);
    const absent = await fetch(`${gateway.url}/v1/config/prod/forced`, { headers: MANAGEMENT });
    expect(absent.status).toBe(404);
    expect(faults).toEqual([]);
    await context.close();
  });

  it('returns to sign-in when the token is revoked while signed in', async () => {
    const created = (await call('POST', '/v1/acl/tokens', {
      description: 'short-lived',
      policies: ['read-only'],
    })) as {
      secret: string;
      accessor: string;
    };
    const { page, context } = await signedIn(browser, gateway.url, created.secret);
    await call('DELETE', `/v1/acl/tokens/${created.accessor}`);
    await page.getByLabel('Token').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/revoked|refused/);
    await context.close();
  });

  it('works with the keyboard alone: signs in, moves between screens, edits and publishes', async () => {
    await publishYaml('prod/keys', 'level: 1\n');
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const focusedText = () => page.evaluate<string>('document.activeElement?.textContent ?? ""');
    const tabUntil = async (focused: () => Promise<boolean>) => {
      for (let presses = 0; !(await focused()); presses++) {
        expect(presses).toBeLessThan(30);
        await page.keyboard.press('Tab');
      }
    };
    await page.goto(`${gateway.url}/console/`);
    await page.keyboard.press('Tab');
    await page.keyboard.type(MANAGEMENT_SECRET);
    await page.keyboard.press('Enter');
    await page.getByTestId('whoami').waitFor();
    await tabUntil(async () => (await focusedText()) === 'Services');
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: /orders/ }).waitFor();
    expect(page.url()).toMatch(/#\/services$/);

    // Into the editor and out of it again with Tab (it does not trap focus), then review and publish.
    await page.goto(`${gateway.url}/console/#/config/prod/keys`);
    await page.getByText('level: 1').waitFor();
    await tabUntil(() =>
      page.evaluate<boolean>("document.activeElement?.classList.contains('editor') ?? false"),
    );
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('level: 2');
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>("document.activeElement?.closest('label')?.textContent ?? ''")).toBe(
      'Comment',
    );
    await page.keyboard.type('by keyboard');
    await tabUntil(async () => (await focusedText()) === 'Review changes…');
    await page.keyboard.press('Enter');
    await tabUntil(async () => (await focusedText()) === 'Publish');
    await page.keyboard.press('Enter');
    await page.getByText('Published version 2.').waitFor();
    const live = await fetch(`${gateway.url}/v1/config/prod/keys`, { headers: MANAGEMENT });
    expect(await live.text()).toBe('level: 2');
    const [latest] = (await call('GET', '/v1/config/prod/keys:history')) as unknown as { comment?: string }[];
    expect(latest?.comment).toBe('by keyboard');
    await context.close();
  });

  it('is readable at phone width on every screen, in the theme the system asks for', async () => {
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET, {
      width: 390,
      colorScheme: 'dark',
    });
    const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    const screens = [
      ['#/services/orders', page.locator('[data-instance]').first()],
      ['#/cluster', page.getByTestId('replicas').locator('li').first()],
      ['#/audit', page.getByTestId('audit').locator('tbody tr').first()],
      ['#/access', page.getByTestId('tokens').locator('tbody tr').first()],
      ['#/config/prod/payments:history', page.getByLabel('compare to version 2')],
      ['#/config/prod/payments', page.getByText('retries: 4')],
    ] as const;
    for (const [hash, loaded] of screens) {
      await page.goto(`${gateway.url}/console/${hash}`);
      await loaded.waitFor();
      expect(await overflow(), hash).toBeLessThanOrEqual(0);
    }
    await screenshot(page, 'config-phone-dark');
    // The theme follows the system's, also when it changes while the page is open.
    const background = () => page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    const dark = await background();
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await background();
    expect([dark, light]).toEqual(['rgb(21, 23, 27)', 'rgb(247, 247, 248)']);
    expect(faults).toEqual([]);
    await context.close();
  });

  it('keeps showing what it had, marked stale, when a refresh fails with 503', async () => {
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await page.goto(`${gateway.url}/console/#/cluster`);
    const replicas = page.getByTestId('replicas').locator('li');
    await replicas.first().waitFor();
    // What a gateway answers a read it cannot serve while ZooKeeper is unreachable.
    await page.route('**/v1/cluster', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/problem+json',
        body: JSON.stringify({
          type: 'about:blank',
          title: 'The coordination store is unreachable',
          status: 503,
          detail: 'ZooKeeper is unreachable',
          code: 'ZKG_STORE_UNAVAILABLE',
        }),
      }),
    );
    await page.locator('.stale', { hasText: 'ZooKeeper is unreachable' }).waitFor();
    expect(await replicas.count()).toBe(1);
    await page.unroute('**/v1/cluster');
    await page.locator('.stale').waitFor({ state: 'detached' });
    expect(await replicas.count()).toBe(1);
    expect(faults).toEqual([]);
    await context.close();
  });
});
