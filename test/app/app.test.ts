import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/acl/actor.js';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { makeTempDir } from '../support/processes.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { BOOTSTRAP_ENV } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const logger = pino({ level: 'silent' });

async function appFor(services: Services) {
  const app = await buildApp({ services, logger });
  await app.ready();
  return app;
}

/** Resolves once the store reports `state`. */
function storeState(services: Services, state: string): Promise<void> {
  return new Promise((resolve) => {
    if (services.store.state === state) return resolve();
    const off = services.store.onStateChange((e) => {
      if (e.state === state) {
        off();
        resolve();
      }
    });
  });
}

describe('app on the embedded store', () => {
  let dataDir: string;
  let services: Services;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-app-');
    services = await createServices(loadSettings({ ZKGATE_DATA_DIR: dataDir, ...BOOTSTRAP_ENV }), logger);
  });

  afterAll(async () => {
    await services?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is alive and ready', async () => {
    const app = await appFor(services);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', store: { kind: 'embedded', state: 'connected' } });
    await app.close();
  });

  it('answers unknown routes with a problem document', async () => {
    const app = await appFor(services);
    const res = await app.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      status: 404,
      code: 'ZKG_ROUTE_NOT_FOUND',
      type: expect.stringContaining('ZKG_ROUTE_NOT_FOUND'),
      title: expect.any(String),
      detail: expect.stringContaining('/v1/nothing-here'),
    });
    await app.close();
  });

  it('fails liveness when the embedded store loses its lock (so an orchestrator restarts it)', async () => {
    const dir = await makeTempDir('zkgate-app-');
    const doomed = await createServices(loadSettings({ ZKGATE_DATA_DIR: dir, ...BOOTSTRAP_ENV }), logger);
    const app = await appFor(doomed);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    // Another process "took" the directory: the lease can no longer be refreshed.
    await rm(join(dir, 'zkgate-embedded.lock'), { recursive: true });
    await expect
      .poll(async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode, {
        timeout: 15_000,
      })
      .toBe(503);
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.json()).toMatchObject({ code: 'ZKG_NOT_ALIVE' });
    const write = await doomed.config
      .publish(systemActor('test'), 'after/loss', { body: Buffer.from('{}'), format: 'json' })
      .then(
        () => 'written',
        (err: { code?: string }) => err.code,
      );
    expect(write).not.toBe('written');
    await app.close();
    await doomed.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('fails readiness once shutdown begins', async () => {
    const dir = await makeTempDir('zkgate-app-');
    const draining = await createServices(loadSettings({ ZKGATE_DATA_DIR: dir, ...BOOTSTRAP_ENV }), logger);
    const app = await appFor(draining);
    draining.beginShutdown();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toMatchObject({ code: 'ZKG_SHUTTING_DOWN', status: 503 });
    await app.close();
    await draining.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('app on ZooKeeper', () => {
  let zk: ZkStandalone;
  let proxy: TcpProxy;
  let services: Services;

  beforeAll(async () => {
    zk = await startZooKeeper();
    proxy = await startProxy(zk.port);
    services = await createServices(
      loadSettings({
        ZKGATE_ZK: proxy.address,
        ZKGATE_SESSION_TIMEOUT_MS: '4000',
        ZKGATE_READINESS_GRACE_MS: '500',
        // Given, not generated: a generated secret would be written to ./data.
        ...BOOTSTRAP_ENV,
      }),
      logger,
    );
  });

  afterAll(async () => {
    await services?.close();
    await proxy?.close();
    await zk?.stop();
  });

  it('stays ready for a grace period while ZooKeeper is unreachable, then is not, and is ready again after', async () => {
    const app = await appFor(services);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({
      store: { kind: 'zookeeper', state: 'connected' },
    });
    const down = storeState(services, 'disconnected');
    proxy.suspend();
    await down;
    // A short outage (an ensemble electing a leader) must not pull every replica at once.
    const grace = await app.inject({ method: 'GET', url: '/readyz' });
    expect(grace.statusCode).toBe(200);
    expect(grace.json()).toMatchObject({ store: { state: 'disconnected' } });
    await expect
      .poll(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode, { timeout: 5_000 })
      .toBe(503);
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.json()).toMatchObject({ code: 'ZKG_NOT_READY', store: { state: 'disconnected' } });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const up = storeState(services, 'connected');
    proxy.resume();
    await up;
    await expect
      .poll(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode, { timeout: 10_000 })
      .toBe(200);
    await app.close();
  });
});
