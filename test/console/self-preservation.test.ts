/**
 * A self-preservation hold on the Services screen, live: it shows when the hold begins and goes
 * when an operator releases it, without a reload. Neither changes an instance, so only the watch
 * stream's `self-preservation` event can tell the page. Leases are 2 s, the eviction grace 300 ms.
 */
import { rm } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchBrowser, signedIn } from '../support/browser.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { MANAGEMENT, MANAGEMENT_SECRET } from '../support/tokens.js';

let gateway: InProcessGateway;
let browser: Browser;
let dataDir: string;

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${gateway.url}${path}`, {
    method,
    headers: { ...MANAGEMENT, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-console-hold-');
  [gateway, browser] = await Promise.all([
    startInProcessGateway({
      ZKGATE_DATA_DIR: dataDir,
      ZKGATE_EVICTION_GRACE_MS: '300',
      ZKGATE_REAPER_INTERVAL_MS: '100',
      ZKGATE_LEASE_REFRESH_MS: '0',
    }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await rm(dataDir, { recursive: true, force: true });
});

it('shows a self-preservation hold as it begins and as it is released, without a reload', async () => {
  const ids = ['p1', 'p2', 'p3', 'p4'];
  for (const id of ids) {
    const res = await call('PUT', `/v1/services/partitioned/instances/${id}`, {
      address: '10.0.0.1',
      port: 8080,
      ttl: '2s',
    });
    expect(res.status).toBe(201);
  }
  // Every instance renews until the page shows the service without a hold: on a loaded machine
  // signing in can take longer than a lease.
  let renewing = ids;
  const beat = setInterval(() => {
    for (const id of renewing) void call('PUT', `/v1/services/partitioned/instances/${id}/heartbeat`);
  }, 200);
  try {
    const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
    await page.goto(`${gateway.url}/console/#/services/partitioned`);
    await page.locator('[data-instance="p1"]').waitFor();
    const hold = page.getByText(/Self-preservation since/);
    expect(await hold.count()).toBe(0);

    // Three of four stop renewing together, as behind a partition; one keeps renewing.
    renewing = ['p1'];
    await hold.waitFor({ timeout: 15_000 });
    const [summary] = (await (await call('GET', '/v1/services')).json()) as Array<{
      selfPreservation?: unknown;
    }>;
    expect(summary?.selfPreservation).toBeDefined();

    expect((await call('POST', '/v1/services/partitioned:release')).status).toBe(202);
    await hold.waitFor({ state: 'detached', timeout: 15_000 });
    expect(faults).toEqual([]);
    await context.close();
  } finally {
    clearInterval(beat);
  }
});
