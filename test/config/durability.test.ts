/**
 * What survives what: an acknowledged publish survives kill -9 of the embedded gateway; an
 * unreachable ZooKeeper leaves reads answering from cache (stale) and writes failing fast, and
 * its return resumes writes and pushes without restarting the gateway.
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { ready, startGateway } from '../support/gateway-process.js';
import { makeTempDir } from '../support/processes.js';
import { openSse } from '../support/sse-client.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

describe('embedded gateway killed with SIGKILL', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-crash-');
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps every publish it acknowledged', async () => {
    const first = await startGateway({ ZKGATE_DATA_DIR: dataDir });
    await ready(first);
    let acknowledged = 0;
    for (let v = 1; v <= 20; v++) {
      const res = await fetch(`${first.url}/v1/config/crash/ns`, {
        method: 'PUT',
        body: `{"v":${v}}`,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBeLessThan(300);
      acknowledged = v;
    }
    // Right after the last acknowledgement, no graceful anything.
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startGateway({ ZKGATE_DATA_DIR: dataDir });
    try {
      await ready(second);
      const res = await fetch(`${second.url}/v1/config/crash/ns`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`{"v":${acknowledged}}`);
      expect(res.headers.get('x-zkgate-version')).toBe(String(acknowledged));
      const history = (await (
        await fetch(`${second.url}/v1/config/crash/ns:history?limit=100`)
      ).json()) as unknown[];
      expect(history).toHaveLength(acknowledged);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 60_000);
});

describe('ZooKeeper down and back', () => {
  const logger = pino({ level: 'silent' });
  let zk: ZkStandalone;
  let services: Services;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let url: string;

  beforeAll(async () => {
    zk = await startZooKeeper();
    services = await createServices(
      loadSettings({
        ZKGATE_ZK: zk.connectString,
        ZKGATE_SESSION_TIMEOUT_MS: '6000',
        ZKGATE_READINESS_GRACE_MS: '0',
      }),
      logger,
    );
    app = await buildApp({ services, logger });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await services?.close();
    await zk?.stop();
  });

  it('serves stale reads, refuses writes fast, then resumes writes and pushes', async () => {
    const put = (body: string) =>
      fetch(`${url}/v1/config/outage/ns`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/json' },
      });
    expect((await put('{"v":1}')).status).toBe(201);
    const watcher = await openSse(`${url}/v1/watch?ns=outage/ns`);
    await watcher.next();

    const down = new Promise<void>((resolve) => {
      const off = services.store.onStateChange((e) => {
        if (e.state === 'disconnected') {
          off();
          resolve();
        }
      });
    });
    await zk.kill();
    await down;

    const read = await fetch(`${url}/v1/config/outage/ns`);
    expect(read.status).toBe(200);
    expect(read.headers.get('x-zkgate-stale')).toBe('true');
    expect(await read.text()).toBe('{"v":1}');
    const started = Date.now();
    const write = await put('{"v":2}');
    expect(write.status).toBe(503);
    expect(write.headers.get('retry-after')).toBe('2');
    expect(((await write.json()) as { code: string }).code).toBe('ZKG_STORE_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);

    await zk.restart();
    await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 15_000 }).toBe(200);
    const resumed = await put('{"v":2}');
    expect(resumed.status).toBe(200);
    const pushed = await watcher.next(10_000);
    expect(JSON.parse(pushed.data)).toMatchObject({ version: 2, content: '{"v":2}' });
    const fresh = await fetch(`${url}/v1/config/outage/ns`);
    expect(fresh.headers.get('x-zkgate-stale')).toBeNull();
    watcher.close();
  });
});
