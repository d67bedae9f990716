/**
 * The Redis adapter on a Redis Cluster: the contract on three primaries (with a password), the
 * sharded key layout (every script within one slot, shards spread over the slot space and the
 * primaries), the expiry index merged across shards, one node's data lost, and a primary lost
 * with its replica taking over. Real redis-server processes on loopback, node timeout 1 s.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisHotStore } from '../../src/hotstore/redis.js';
import { SHARD_TAGS, shardOf } from '../../src/hotstore/redis/keys.js';
import type { HotStore, Lease } from '../../src/hotstore/store.js';
import { replicasInSync, startRedisCluster, type RedisClusterSet } from '../support/redis.js';
import { describeHotStoreContract, failureCode, nextEvent } from './contract.js';

const PASSWORD = 'cluster-secret';
const freshPrefix = (): string => `test-${randomUUID()}:`;

describeHotStoreContract('redis adapter on a 3-primary Cluster', async () => {
  const cluster = await startRedisCluster({ password: PASSWORD });
  const stores: HotStore[] = [];
  return {
    async open() {
      const store = await RedisHotStore.connect({
        cluster: cluster.nodes,
        password: PASSWORD,
        keyPrefix: freshPrefix(),
      });
      stores.push(store);
      return store;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close()));
      await cluster.stop();
    },
  };
});

/** A plain client of one node. */
function node(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, password: PASSWORD, lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

describe('RedisHotStore on a Cluster', () => {
  let cluster: RedisClusterSet;
  let raw: Cluster;
  const stores: HotStore[] = [];

  const open = async (keyPrefix = freshPrefix()): Promise<RedisHotStore> => {
    const store = await RedisHotStore.connect({ cluster: cluster.nodes, password: PASSWORD, keyPrefix });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster({ password: PASSWORD });
    raw = new Cluster([...cluster.nodes], { redisOptions: { password: PASSWORD }, lazyConnect: true });
    raw.on('error', () => undefined);
    await raw.connect();
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.disconnect();
    await cluster?.stop();
  });

  it('refuses a wrong password at the deadline, saying why, degradedStart or not', async () => {
    for (const degradedStart of [false, true]) {
      const connecting = RedisHotStore.connect({
        cluster: cluster.nodes,
        password: 'wrong',
        connectTimeoutMs: 1_000,
        degradedStart,
      });
      await expect(connecting).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /WRONGPASS/ });
    }
  });

  it('puts shard k in the k-th sixteenth of the slot space, as the server hashes it', async () => {
    const slots = await Promise.all(SHARD_TAGS.map((tag) => raw.call('CLUSTER', 'KEYSLOT', `x{${tag}}y`)));
    expect(slots.map((slot) => Math.floor(Number(slot) / 1024))).toEqual(SHARD_TAGS.map((_, k) => k));
  });

  it("keeps a service's lease, check result, expiry index and marker in one slot, in the documented keys", async () => {
    const prefix = freshPrefix();
    const store = await open(prefix);
    const lease = await store.renewLease('billing', 'b-1', 5_000, { inflight: 2 });
    await store.recordCheck('billing', 'b-1', { ok: true, at: 1, latencyMs: 2, by: 'gw-1' });
    const shard = `${prefix}{${SHARD_TAGS[shardOf('billing')]}}:`;
    expect(JSON.parse((await raw.hget(`${shard}lease:billing`, 'b-1')) ?? '')).toEqual(lease);
    expect(await raw.hlen(`${shard}check:billing`)).toBe(1);
    expect(await raw.zrange(`${shard}leases`, 0, -1, 'WITHSCORES')).toEqual([
      'billing\u0000b-1',
      String(lease.expiresAt),
    ]);
    const slots = new Set(
      await Promise.all(
        ['lease:billing', 'check:billing', 'leases', 'generation'].map((key) =>
          raw.call('CLUSTER', 'KEYSLOT', `${shard}${key}`),
        ),
      ),
    );
    expect(slots.size).toBe(1);
    await store.removeLease('billing', 'b-1');
    expect(await raw.exists(`${shard}lease:billing`, `${shard}check:billing`, `${shard}leases`)).toBe(0);
  });

  it('refuses a key prefix with braces, which would change the hash tags', async () => {
    const connecting = RedisHotStore.connect({
      cluster: cluster.nodes,
      password: PASSWORD,
      keyPrefix: 'a{b}:',
    });
    expect(await failureCode(connecting)).toBe('BAD_ARGUMENTS');
  });

  it('spreads services over every primary, and lists expired leases across shards as one index would', async () => {
    const store = await open();
    const renewed: Array<{ service: string; instance: string; lease: Lease }> = [];
    // Expiries in an order unlike the services', with ties across shards.
    for (let i = 0; i < 120; i++) {
      const service = `svc-${i}`;
      const lease = await store.renewLease(service, 'x', 1_000 + ((i * 37) % 50) * 10);
      renewed.push({ service, instance: 'x', lease });
    }
    expect(new Set(renewed.map((r) => shardOf(r.service))).size).toBe(SHARD_TAGS.length);
    const sizes = await Promise.all(raw.nodes('master').map((primary) => primary.dbsize()));
    for (const size of sizes) expect(size).toBeGreaterThan(0);

    const sorted = renewed
      .map(({ service, instance, lease }) => ({ service, instance, expiresAt: lease.expiresAt }))
      .sort(
        (a, b) =>
          a.expiresAt - b.expiresAt ||
          (`${a.service}\u0000${a.instance}` < `${b.service}\u0000${b.instance}` ? -1 : 1),
      );
    for (const limit of [1, 7, 50, 120, 500]) {
      expect(await store.expired(Number.MAX_SAFE_INTEGER, limit)).toEqual(sorted.slice(0, limit));
    }
    const cut = sorted[60]?.expiresAt ?? 0;
    expect(await store.expired(cut, 1_000)).toEqual(sorted.filter((e) => e.expiresAt <= cut));
  });

  it("notices one primary's data lost on the next generation() call", async () => {
    const store = await open();
    const before = await store.generation();
    const lost = nextEvent(store, () => true, 5_000);
    const [victim] = raw.nodes('master');
    await victim?.flushall();
    const flushedAt = Date.now();
    const after = await store.generation();
    expect(await lost).toEqual({ state: 'connected', dataLost: true });
    expect(after.id).not.toBe(before.id);
    expect(after.since).toBeGreaterThanOrEqual(flushedAt - 1_000);
    expect(await store.generation()).toEqual(after);
  });
});

describe('RedisHotStore on a Cluster whose primary is lost', () => {
  let cluster: RedisClusterSet;

  beforeAll(async () => {
    cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1, password: PASSWORD });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('fails its shards fast until the replica takes over, then reports connected with the data intact', async () => {
    const store = await RedisHotStore.connect({
      cluster: cluster.nodes,
      password: PASSWORD,
      keyPrefix: freshPrefix(),
      commandTimeoutMs: 500,
    });
    try {
      const services = Array.from({ length: 48 }, (_, i) => `svc-${i}`);
      for (const service of services) await store.renewLease(service, 'x', 60_000);
      const generation = await store.generation();

      // The primary of shard 0's slot.
      const probe = node(cluster.nodes[0]?.port ?? 0);
      await probe.connect();
      const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', `{${SHARD_TAGS[0]}}`));
      const ranges = (await probe.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
      probe.disconnect();
      const owner = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1];
      const victim = cluster.servers.find((s) => s.port === owner);
      if (!victim) throw new Error(`no node owns slot ${slot}`);
      const lostService = services.find((s) => shardOf(s) === 0) as string;

      // Killed before its replica had everything, it would take data with it: a new generation.
      await replicasInSync(victim.port, PASSWORD);
      const back = nextEvent(store, (e) => e.state === 'connected', 15_000);
      await victim.kill();
      const started = performance.now();
      // Refused, or unanswered when the kill caught it in flight: either way a 503 to a heartbeat.
      expect(['UNAVAILABLE', 'TIMEOUT']).toContain(
        await failureCode(store.renewLease(lostService, 'x', 60_000)),
      );
      expect(performance.now() - started).toBeLessThan(1_500);
      expect(await back).toEqual({ state: 'connected', dataLost: false });
      expect(store.state).toBe('connected');
      // The replica had every lease of the lost primary's shards.
      for (const service of services) expect(await store.getLease(service, 'x'), service).toBeDefined();
      expect((await store.renewLease(lostService, 'x', 60_000)).ttlMs).toBe(60_000);
      expect(await store.generation()).toEqual(generation);
    } finally {
      await store.close();
    }
  });
});
