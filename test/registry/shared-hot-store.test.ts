/**
 * Replicas of one registry share one hot store. Two replicas on one ZooKeeper each with its own
 * memory store would split the leases (heartbeats through one, evictions by the other): the
 * second refuses to start (exit 2, naming ZKGATE_REDIS_URL) and the first is unready while it is
 * there. With one Redis, an instance registered through one replica and renewed through the
 * other lives on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../support/gateway-process.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const TTL_S = 2;
const call = (g: InProcessGateway, path: string, init: RequestInit = {}) =>
  fetch(`${g.url}${path}`, { ...init, headers: { ...MANAGEMENT, 'content-type': 'application/json' } });

describe('replicas sharing a hot store', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  const gateways: InProcessGateway[] = [];

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it('refuses a second replica with its own memory store (exit 2), the first unready until it is gone', async () => {
    // A short session: the refusal first waits one session timeout for a dead predecessor to leave.
    const env = {
      ZKGATE_ZK: zk.connectString,
      ZKGATE_ROOT: '/split',
      ZKGATE_SERVICES_PATH: '/split-services',
      ZKGATE_SESSION_TIMEOUT_MS: '4000',
    };
    const first = await startInProcessGateway(env);
    gateways.push(first);
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    const second = await startGateway(env);
    // While the second is in the group, the first does not serve a registry that is splitting.
    await expect
      .poll(async () => (await fetch(`${first.url}/readyz`)).status, { timeout: 10_000, interval: 100 })
      .toBe(503);
    const unready = (await (await fetch(`${first.url}/readyz`)).json()) as { detail: string };
    expect(unready.detail).toContain('ZKGATE_REDIS_URL');

    expect(await second.exited).toBe(2);
    expect(second.output()).toMatch(/another hot store.*ZKGATE_REDIS_URL/s);
    await expect
      .poll(async () => (await fetch(`${first.url}/readyz`)).status, { timeout: 10_000, interval: 100 })
      .toBe(200);
  });

  it('keeps an instance registered through one replica and renewed through the other', async () => {
    // Evictions as soon as a lease runs out, so a lease renewed where the leader does not look
    // would show within the test.
    const env = {
      ZKGATE_ZK: zk.connectString,
      ZKGATE_REDIS_URL: redis.url,
      ZKGATE_EVICTION_GRACE_MS: '0',
      ZKGATE_REAPER_INTERVAL_MS: '100',
      ZKGATE_LEASE_REFRESH_MS: '0',
    };
    const a = await startInProcessGateway(env);
    gateways.push(a);
    const b = await startInProcessGateway(env);
    gateways.push(b);
    expect(a.services.election.isLeader).toBe(true);

    const registered = await call(a, '/v1/services/orders/instances/o-1', {
      method: 'PUT',
      body: JSON.stringify({ address: '10.0.0.1', port: 8080, ttl: `${TTL_S}s` }),
    });
    expect(registered.status).toBe(201);
    // Heartbeats through B for three TTLs (past the lease, the eviction grace and a sweep).
    const until = Date.now() + 3 * TTL_S * 1000;
    while (Date.now() < until) {
      const beat = await call(b, '/v1/services/orders/instances/o-1/heartbeat', {
        method: 'PUT',
        body: 'null',
      });
      expect(beat.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, (TTL_S * 1000) / 3));
    }
    const listed = (await (await call(a, '/v1/services/orders/instances')).json()) as Array<{
      id: string;
      healthy: boolean;
    }>;
    expect(listed).toMatchObject([{ id: 'o-1', healthy: true }]);
  });
});
