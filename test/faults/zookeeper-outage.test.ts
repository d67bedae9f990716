/**
 * ZooKeeper unreachable altogether (a standalone server killed, then restarted): reads keep
 * answering from the watch-backed cache marked stale, writes fail fast with 503 and Retry-After,
 * readiness fails, and the server's return resumes writes and pushes without restarting the
 * gateway. (Moved from test/config/durability.test.ts.)
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { openSse } from '../support/sse-client.js';
import { BOOTSTRAP_ENV, MANAGEMENT } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

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
        ...BOOTSTRAP_ENV,
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
        headers: { 'content-type': 'application/json', ...MANAGEMENT },
      });
    expect((await put('{"v":1}')).status).toBe(201);
    const watcher = await openSse(`${url}/v1/watch?ns=outage/ns`, MANAGEMENT);
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

    const read = await fetch(`${url}/v1/config/outage/ns`, { headers: MANAGEMENT });
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
    const servingAt = Date.now();
    await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 15_000 }).toBe(200);
    const resumed = await put('{"v":2}');
    expect(resumed.status).toBe(200);
    console.log(`[faults] ZooKeeper back: writes resumed ${Date.now() - servingAt} ms after it served again`);
    const pushed = await watcher.next(10_000);
    expect(JSON.parse(pushed.data)).toMatchObject({ version: 2, content: '{"v":2}' });
    const fresh = await fetch(`${url}/v1/config/outage/ns`, { headers: MANAGEMENT });
    expect(fresh.headers.get('x-zkgate-stale')).toBeNull();
    watcher.close();
  });
});
