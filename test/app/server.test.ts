/**
 * The gateway as a process, the way `npm start` runs it: boots on both stores, drains on
 * SIGTERM (exit 0, store session closed at once), refuses bad settings.
 */
import { readdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ready, startGateway } from '../support/gateway-process.js';
import { freePorts, makeTempDir } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

describe('gateway process', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  const dirs: string[] = [];

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
  });

  afterAll(async () => {
    await Promise.all([zk?.stop(), redis?.stop()]);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('serves on the embedded store and exits 0 on SIGTERM', async () => {
    const dataDir = await makeTempDir('zkgate-server-');
    dirs.push(dataDir);
    const gateway = await startGateway({ ZKGATE_DATA_DIR: dataDir });
    expect(await ready(gateway)).toMatchObject({ status: 'ready', store: { kind: 'embedded' } });
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    expect(gateway.output()).toContain('shutting down');
    expect((await readdir(dataDir)).length).toBeGreaterThan(0);
  });

  it('serves on ZooKeeper and closes its session on SIGTERM', async () => {
    const gateway = await startGateway({ ZKGATE_ZK: zk.connectString, ZKGATE_SESSION_TIMEOUT_MS: '10000' });
    const body = (await ready(gateway)) as { store: { kind: string; sessionId: string } };
    expect(body.store.kind).toBe('zookeeper');
    const session = body.store.sessionId.replace(/^0x/, '');
    // `cons` lists live connections with their session ids.
    expect(await zk.fourLetter('cons')).toContain(`sid=0x${session}`);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    // Closed, not abandoned: an abandoned session would be listed until it timed out (10 s).
    const dump = await zk.fourLetter('dump');
    expect(dump).not.toContain(session);
  });

  it('exits 1 when its port is taken, closing its ZooKeeper session on the way out', async () => {
    // Two replicas of one registry: they share one hot store.
    const first = await startGateway({ ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url });
    const { store } = (await ready(first)) as { store: { sessionId: string } };
    const second = await startGateway({
      ZKGATE_ZK: zk.connectString,
      ZKGATE_REDIS_URL: redis.url,
      ZKGATE_SESSION_TIMEOUT_MS: '20000',
      PORT: new URL(first.url).port,
    });
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain('EADDRINUSE');
    // Closed, not abandoned: an abandoned session would stay listed until it timed out (20 s).
    const tracked = (await zk.fourLetter('dump')).split('ephemeral nodes dump')[0]!.match(/0x[0-9a-f]+/g);
    expect(tracked).toEqual([store.sessionId]);
    first.child.kill('SIGTERM');
    await first.exited;
  });

  it('refuses invalid settings with exit code 2 naming the variable', async () => {
    const gateway = await startGateway({ ZKGATE_ROOT: 'no-leading-slash' });
    expect(await gateway.exited).toBe(2);
    expect(gateway.output()).toContain('ZKGATE_ROOT');
  });

  it('exits 1 with a clear message when ZooKeeper cannot be reached', async () => {
    const [closed] = await freePorts(1);
    const gateway = await startGateway({
      ZKGATE_ZK: `127.0.0.1:${closed}`,
      ZKGATE_SESSION_TIMEOUT_MS: '1000',
    });
    expect(await gateway.exited).toBe(1);
    expect(gateway.output()).toContain(`no ZooKeeper session from 127.0.0.1:${closed}`);
  });
});
