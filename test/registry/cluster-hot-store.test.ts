/**
 * A gateway whose hot store is a Redis Cluster, configured as an operator would
 * (`ZKGATE_REDIS_CLUSTER` and `ZKGATE_REDIS_PASSWORD`): leases land on every primary, and the
 * reaper, reading the expiry index shard by shard, evicts each instance nobody renews while
 * keeping every one that heartbeats. Three primaries of Debian's redis-server on loopback; leases
 * 1 s, the grace 300 ms, self-preservation off so that it holds nothing back.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReapingApp, type EmbeddedApp } from '../support/embedded-app.js';
import { pollUntil } from '../support/processes.js';
import { startRedisCluster, type RedisClusterSet } from '../support/redis.js';

const PASSWORD = 'cluster-secret';
// Enough services to fall in shards of every primary.
const SERVICES = Array.from({ length: 16 }, (_, i) => `svc-${i}`);

describe('a gateway on a 3-primary Redis Cluster', () => {
  let cluster: RedisClusterSet;
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    cluster = await startRedisCluster({ password: PASSWORD });
    gateway = await startReapingApp({
      ZKGATE_REDIS_CLUSTER: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
      ZKGATE_REDIS_PASSWORD: PASSWORD,
      ZKGATE_EVICTION_GRACE_MS: '300',
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await cluster?.stop();
  });

  const ids = async (service: string): Promise<string[]> => {
    const res = await gateway.inject(`/v1/services/${service}/instances`);
    return res.statusCode === 404 ? [] : (res.json() as Array<{ id: string }>).map((i) => i.id).sort();
  };

  it('keeps leases on every primary, evicts the instances nobody renews and keeps the others', async () => {
    for (const service of SERVICES) {
      for (const id of ['kept', 'dropped']) {
        const res = await gateway.inject({
          method: 'PUT',
          url: `/v1/services/${service}/instances/${id}`,
          payload: { address: '10.0.0.1', port: 8080, ttl: '1s' },
        });
        expect(res.statusCode, res.body).toBe(201);
        expect(res.headers['x-zkgate-degraded']).toBeUndefined();
      }
    }
    for (const { port } of cluster.nodes) {
      const node = new Redis({ host: '127.0.0.1', port, password: PASSWORD, lazyConnect: true });
      await node.connect();
      expect(await node.dbsize(), `keys on the primary at ${port}`).toBeGreaterThan(0);
      node.disconnect();
    }

    const beats: number[] = [];
    const heartbeats = setInterval(() => {
      for (const service of SERVICES) {
        void gateway
          .inject({ method: 'PUT', url: `/v1/services/${service}/instances/kept/heartbeat` })
          .then((res) => beats.push(res.statusCode));
      }
    }, 200);
    try {
      await pollUntil(
        async () => ((await Promise.all(SERVICES.map(ids))).every((l) => l.length === 1) ? true : undefined),
        { timeoutMs: 10_000, what: 'every unrenewed instance evicted' },
      );
    } finally {
      clearInterval(heartbeats);
    }
    for (const service of SERVICES) expect(await ids(service), service).toEqual(['kept']);
    expect(gateway.services.reaper.status().evicted).toBe(SERVICES.length);
    expect(beats.length).toBeGreaterThan(0);
    expect(beats.every((status) => status === 200)).toBe(true);
  });
});
