/**
 * Two gateway processes on one ZooKeeper and one Redis: the checks are split between them (each
 * instance probed by exactly one), and when one is killed (SIGKILL, so its session lingers until
 * it expires) its checks and, as leader, the lease reaping move to the other within the session
 * timeout. Expired leases are evicted exactly once, before and after the hand-over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ready, startGateway, type GatewayProcess } from '../support/gateway-process.js';
import { startHealthStub, type HealthStub } from '../support/health-stub.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const SESSION_TIMEOUT_MS = 2_000;
const INSTANCES = Array.from({ length: 24 }, (_, i) => `i-${String(i).padStart(2, '0')}`);

interface Cluster {
  gateways: { self: string; leader: string | null; replicas: Array<{ id: string }> };
}

const cluster = async (gateway: GatewayProcess): Promise<Cluster> =>
  (await fetch(`${gateway.url}/v1/cluster`, { headers: MANAGEMENT })).json() as Promise<Cluster>;

/** A counter of the gateway's /metrics without labels. */
async function counter(gateway: GatewayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`, { headers: MANAGEMENT })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe('checks and leadership across two gateway replicas', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let stub: HealthStub;
  const gateways: GatewayProcess[] = [];

  const put = (gateway: GatewayProcess, path: string, body: unknown) =>
    fetch(`${gateway.url}${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
      body: JSON.stringify(body),
    });

  /** Register instances without heartbeats that expire in 1 s, and wait until all are evicted. */
  const expireAndEvict = async (through: GatewayProcess, ids: string[]) => {
    for (const id of ids) {
      expect(
        (
          await put(through, `/v1/services/leased/instances/${id}`, {
            address: '127.0.0.1',
            port: 1,
            ttl: '1s',
          })
        ).status,
      ).toBe(201);
    }
    await expect
      .poll(
        async () => {
          const res = await fetch(`${through.url}/v1/services/leased/instances`, { headers: MANAGEMENT });
          const listed = res.status === 200 ? ((await res.json()) as Array<{ id: string }>) : [];
          return listed.filter((i) => ids.includes(i.id)).length;
        },
        { timeout: 15_000, interval: 100 },
      )
      .toBe(0);
  };

  beforeAll(async () => {
    [zk, redis, stub] = await Promise.all([startZooKeeper(), startRedis(), startHealthStub()]);
    const env = {
      ZKGATE_ZK: zk.connectString,
      ZKGATE_REDIS_URL: redis.url,
      ZKGATE_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      ZKGATE_REAPER_INTERVAL_MS: '100',
      ZKGATE_EVICTION_GRACE_MS: '100',
      ZKGATE_LEASE_REFRESH_MS: '0',
      // Every lease of the test's service runs out together, on purpose: no self-preservation.
      ZKGATE_SELF_PRESERVATION_RATIO: '1',
      LOG_LEVEL: 'warn',
    };
    gateways.push(await startGateway(env), await startGateway(env));
    await Promise.all(gateways.map(ready));
  }, 60_000);

  afterAll(async () => {
    for (const gateway of gateways) gateway.child.kill('SIGKILL');
    await Promise.all(gateways.map((g) => g.exited));
    await Promise.all([zk?.stop(), redis?.stop(), stub?.close()]);
  });

  it('splits the checks, and hands checks and leadership over when a replica dies', async () => {
    const [first, second] = gateways as [GatewayProcess, GatewayProcess];
    // Both replicas see both, and agree on one leader.
    await expect
      .poll(async () => (await cluster(first)).gateways.replicas.length, { timeout: 10_000 })
      .toBe(2);
    await expect
      .poll(async () => (await cluster(second)).gateways.replicas.length, { timeout: 10_000 })
      .toBe(2);
    const views = await Promise.all(gateways.map(cluster));
    const leaderId = views[0]!.gateways.leader;
    expect(views[1]!.gateways.leader).toBe(leaderId);
    const ids = views.map((v) => v.gateways.self);
    const leader = gateways[ids.indexOf(leaderId!)]!;
    const survivor = gateways.find((g) => g !== leader)!;
    const survivorId = ids[gateways.indexOf(survivor)]!;

    for (const id of INSTANCES) {
      const res = await put(first, `/v1/services/web/instances/${id}`, {
        address: '127.0.0.1',
        port: stub.port,
        ttl: '1h',
        check: { http: { path: `/health/${id}` }, interval: '1s', timeout: '500ms' },
      });
      expect(res.status).toBe(201);
    }
    const settled = Date.now();
    for (const id of INSTANCES) {
      await expect
        .poll(() => stub.count(id, { after: settled }), { timeout: 10_000 })
        .toBeGreaterThanOrEqual(2);
    }
    // Exactly one replica probes each instance, and both have a share.
    const byInstance = new Map<string, Set<string>>();
    for (const probe of stub.probes.filter((p) => p.at >= settled)) {
      byInstance.set(probe.id, (byInstance.get(probe.id) ?? new Set()).add(probe.replica));
    }
    for (const id of INSTANCES) expect(byInstance.get(id)?.size).toBe(1);
    const shares = new Set([...byInstance.values()].flatMap((s) => [...s]));
    expect(shares).toEqual(new Set(ids));

    // The leader alone evicts, each expired instance once.
    await expireAndEvict(second, ['e-1', 'e-2', 'e-3', 'e-4']);
    expect(await counter(leader, 'zkgate_lease_evictions_total')).toBe(4);
    expect(await counter(survivor, 'zkgate_lease_evictions_total')).toBe(0);

    // SIGKILL: no goodbye, the session lingers until it expires.
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited;
    await expect
      .poll(
        async () => {
          const view = await cluster(survivor);
          return view.gateways.leader === survivorId && view.gateways.replicas.length === 1;
        },
        { timeout: 4 * SESSION_TIMEOUT_MS, interval: 100 },
      )
      .toBe(true);
    const tookOverAt = Date.now();
    // The session timeout, plus the time ZooKeeper's session tracker takes to notice (one tick).
    expect(tookOverAt - killedAt).toBeLessThan(SESSION_TIMEOUT_MS + 1_500);

    // Every instance the dead replica checked is now checked by the survivor.
    for (const id of INSTANCES) {
      await expect
        .poll(() => stub.probes.some((p) => p.id === id && p.replica === survivorId && p.at >= tookOverAt), {
          timeout: 3_000,
          interval: 50,
        })
        .toBe(true);
    }
    expect(Date.now() - killedAt).toBeLessThan(SESSION_TIMEOUT_MS + 1_500 + 1_000 + 1_000);

    // The new leader evicts what expires now, each once; nothing is missed.
    await expireAndEvict(survivor, ['e-5', 'e-6', 'e-7']);
    expect(await counter(survivor, 'zkgate_lease_evictions_total')).toBe(3);
  }, 90_000);
});
