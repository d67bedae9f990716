/**
 * Replicas of one registry share one hot store. Two replicas on one ZooKeeper each with its own
 * memory store would split the leases (heartbeats through one, evictions by the other): the
 * second refuses to start (exit 2, naming ZKGATE_REDIS_URL) and the first is unready while it is
 * there. With one Redis, an instance registered through one replica and renewed through the
 * other lives on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ready, startGateway, type GatewayProcess } from '../support/gateway-process.js';
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
    // A short session: the refusal first waits 1.5 granted session timeouts for a dead predecessor to leave.
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
    // Nor does the refusing replica stand for leader meanwhile: elected (the first leaving), it
    // would judge every lease by a memory store that holds none.
    const candidates = await first.services.store.getChildren('/split/election/leader');
    expect(candidates.children).toHaveLength(1);

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

describe('a lone replica with the memory store, restarted after a crash', () => {
  let zk: ZkStandalone;
  const processes: GatewayProcess[] = [];

  beforeAll(async () => {
    // ZooKeeper's default tick: it grants no session shorter than two ticks (4 s).
    zk = await startZooKeeper({ tickTime: 2_000 });
  });

  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    await zk?.stop();
  });

  it('starts again while its dead predecessor, with another memory store, is still in the group', async () => {
    // Asked for less than the server grants: the predecessor's znode outlives the timeout asked for.
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_SESSION_TIMEOUT_MS: '1000' };
    const crashed = await startGateway(env);
    processes.push(crashed);
    await ready(crashed);
    crashed.child.kill('SIGKILL');
    await crashed.exited;

    const restarted = await startGateway(env);
    processes.push(restarted);
    await expect(ready(restarted)).resolves.toMatchObject({ hotStore: { kind: 'memory' } });
  });
});
