/**
 * The console's cluster page on a real 3-node ZooKeeper ensemble with two gateway replicas: it
 * shows each server's mode and follows a leader kill; with the quorum lost, the configuration
 * screen shows what the gateway still serves from its cache, marked stale.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchBrowser, screenshot, signedIn } from '../support/browser.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { MANAGEMENT, MANAGEMENT_SECRET } from '../support/tokens.js';
import { pollUntil } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startEnsemble, type ZkEnsemble } from '../support/zookeeper.js';

let ensemble: ZkEnsemble;
let redis: RedisServer;
const gateways: InProcessGateway[] = [];
let browser: Browser;

beforeAll(async () => {
  [ensemble, redis, browser] = await Promise.all([startEnsemble(3), startRedis(), launchBrowser()]);
  // Replicas of one registry share one hot store.
  const env = {
    ZKGATE_ZK: ensemble.connectString,
    ZKGATE_REDIS_URL: redis.url,
    ZKGATE_READINESS_GRACE_MS: '0',
  };
  for (let i = 0; i < 2; i++) gateways.push(await startInProcessGateway(env));
  for (const gateway of gateways)
    await pollUntil(async () => (await fetch(`${gateway.url}/readyz`)).ok || undefined, {
      timeoutMs: 20_000,
      what: 'the gateway to be ready',
    });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(gateways.map((g) => g.close()));
  await Promise.all([ensemble?.stop(), redis?.stop()]);
});

it('follows a leader kill, and marks data stale while the quorum is lost', async () => {
  const [gateway] = gateways as [InProcessGateway];
  const published = await fetch(`${gateway.url}/v1/config/prod/cluster-demo`, {
    method: 'PUT',
    headers: { ...MANAGEMENT, 'content-type': 'application/yaml' },
    body: 'replicas: 2\n',
  });
  expect(published.status, await published.text()).toBe(201);
  const { page, context, faults } = await signedIn(browser, gateway.url, MANAGEMENT_SECRET);
  await page.goto(`${gateway.url}/console/#/cluster`);
  const leader = await ensemble.leader();
  const row = (port: number) => page.locator(`[data-server="127.0.0.1:${port}"] [data-field="mode"]`);
  await expect.poll(() => row(leader.port).textContent(), { timeout: 10_000 }).toBe('leader');
  await expect.poll(() => page.getByTestId('replicas').locator('li').count()).toBe(2);
  await page
    .getByText(/leader$/)
    .first()
    .waitFor();
  await screenshot(page, 'cluster');

  await leader.kill();
  const survivors = ensemble.nodes.filter((n) => n !== leader);
  await expect.poll(() => row(leader.port).textContent(), { timeout: 15_000 }).toMatch(/^unreachable/);
  const next = await ensemble.leader(15_000);
  expect(survivors).toContain(next);
  await expect.poll(() => row(next.port).textContent(), { timeout: 15_000 }).toBe('leader');
  await screenshot(page, 'cluster-after-leader-kill');

  // One of three left: no quorum, so reads come from the gateway's cache, marked stale.
  await next.kill();
  const stale = async () =>
    (await fetch(`${gateway.url}/v1/config`, { headers: MANAGEMENT })).headers.get('x-zkgate-stale');
  await expect.poll(stale, { timeout: 20_000 }).toBe('true');
  await page.goto(`${gateway.url}/console/#/config/prod/cluster-demo`);
  await page.locator('.stale').first().waitFor({ timeout: 20_000 });
  await page.getByText('replicas: 2').waitFor();
  await screenshot(page, 'config-stale');
  expect(faults).toEqual([]);
  await context.close();
});
