/**
 * The Redis adapter through Sentinel: the contract on a primary found through three sentinels
 * (both with passwords), and a failover while renewals stream in. Real redis-server processes
 * on loopback: a primary, one replica, three sentinels (quorum 2, down after 1 s).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HotStoreError } from '../../src/hotstore/errors.js';
import { RedisHotStore, type RedisHotStoreOptions } from '../../src/hotstore/redis.js';
import type { HotStore, HotStoreStateEvent, Lease } from '../../src/hotstore/store.js';
import {
  replicasInSync,
  startRedisSentinels,
  type RedisSentinelSet,
  type RedisServer,
} from '../support/redis.js';
import { freePorts, pollUntil } from '../support/processes.js';
import { describeHotStoreContract } from './contract.js';

const PASSWORDS = { password: 'data-secret', sentinelPassword: 'sentinel-secret' };

function through(set: RedisSentinelSet, keyPrefix = `test-${randomUUID()}:`): RedisHotStoreOptions {
  return { sentinels: set.sentinels, sentinelName: set.name, ...PASSWORDS, keyPrefix };
}

describeHotStoreContract('redis adapter through Sentinel', async () => {
  const set = await startRedisSentinels(PASSWORDS);
  const stores: HotStore[] = [];
  return {
    async open() {
      const store = await RedisHotStore.connect(through(set));
      stores.push(store);
      return store;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close()));
      await set.stop();
    },
  };
});

/** One renewal attempt of the stream: when it started and ended, and what came of it. */
interface Attempt {
  instance: string;
  startedAt: number;
  endedAt: number;
  lease?: Lease;
  code?: string;
}

/**
 * Each instance renews every 100 ms, as heartbeats would, until stopped; every attempt is
 * recorded. `next` resolves with the first attempt (already made or to come) that matches.
 */
function renewals(store: HotStore, instances: readonly string[], ttlMs: number) {
  const attempts: Attempt[] = [];
  const waiters = new Set<{ matches: (a: Attempt) => boolean; resolve: (a: Attempt) => void }>();
  let streaming = true;
  const loops = instances.map(async (instance) => {
    while (streaming) {
      const attempt: Attempt = { instance, startedAt: Date.now(), endedAt: 0 };
      try {
        attempt.lease = await store.renewLease('orders', instance, ttlMs);
      } catch (err) {
        if (!(err instanceof HotStoreError)) throw err;
        attempt.code = err.code;
      }
      attempt.endedAt = Date.now();
      attempts.push(attempt);
      for (const waiter of waiters) if (waiter.matches(attempt)) waiter.resolve(attempt);
      await sleep(100);
    }
  });
  return {
    next(matches: (a: Attempt) => boolean, timeoutMs: number): Promise<Attempt> {
      const found = attempts.find(matches);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          matches,
          resolve: (a: Attempt) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(a);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no such renewal within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    async stop(): Promise<Attempt[]> {
      streaming = false;
      await Promise.all(loops);
      return attempts;
    },
  };
}

describe('RedisHotStore through Sentinel, on a switchover', () => {
  let set: RedisSentinelSet;

  beforeAll(async () => {
    set = await startRedisSentinels(PASSWORDS);
  });

  afterAll(async () => {
    await set?.stop();
  });

  it('leaves the old primary, still up, for the new one as soon as the sentinels announce it', async () => {
    const prefix = `test-${randomUUID()}:`;
    const store = await RedisHotStore.connect({ ...through(set, prefix), commandTimeoutMs: 500 });
    const stream = renewals(store, ['i-0', 'i-1'], 60_000);
    try {
      const [primary, replica] = set.servers as [RedisServer, RedisServer];
      await stream.next((a) => a.lease !== undefined, 5_000);
      const { promoted } = await set.watchPromotion();
      await set.failover();
      const promotion = await promoted;
      expect(promotion.port).toBe(replica.port);
      // The old primary goes on accepting writes until the sentinels next look at it (up to 10 s)
      // and turn it into a replica: the store must not wait for that, it follows +switch-master.
      const hasStore = async (port: number): Promise<boolean> =>
        String(await ask(port, 'CLIENT', 'LIST')).includes('name=zkgate-hotstore');
      await pollUntil(
        async () => ((await hasStore(replica.port)) && !(await hasStore(primary.port)) ? true : undefined),
        { timeoutMs: 3_000, intervalMs: 20, what: 'the store on the new primary alone' },
      );
      const movedAt = Date.now();
      const back = await stream.next((a) => a.lease !== undefined && a.startedAt >= movedAt, 5_000);
      const stored = JSON.parse(
        String(await ask(replica.port, 'HGET', `${prefix}lease:orders`, back.instance)),
      );
      expect(stored.renewedAt).toBeGreaterThanOrEqual(back.lease?.renewedAt ?? Infinity);
      expect(store.state).toBe('connected');
    } finally {
      await stream.stop();
      await store.close();
    }
  });
});

/** What `command` answers on the data server on `port`, over a connection of its own. */
async function ask(port: number, ...command: [string, ...string[]]): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, password: PASSWORDS.password, lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(...command);
  } finally {
    client.disconnect();
  }
}

it('started degraded with no sentinel answering, warns once, not at every retry', async () => {
  const [port] = await freePorts(1);
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
  const store = await RedisHotStore.connect({
    sentinels: [{ host: '127.0.0.1', port: port! }],
    sentinelName: 'nobody',
    connectTimeoutMs: 300,
    degradedStart: true,
    logger,
  });
  try {
    expect(store.state).toBe('disconnected');
    // Retries go on meanwhile, each with a delay of its own in ioredis's message.
    await sleep(1_500);
    expect(warnings.filter((w) => w === 'redis connection error')).toHaveLength(1);
    expect(warnings).toContainEqual(
      expect.stringMatching(/All sentinels are unreachable.*starting degraded/),
    );
  } finally {
    await store.close();
  }
});

describe('RedisHotStore through Sentinel', () => {
  let set: RedisSentinelSet;

  beforeAll(async () => {
    set = await startRedisSentinels(PASSWORDS);
  });

  afterAll(async () => {
    await set?.stop();
  });

  it('refuses to connect with a wrong sentinel password, saying why, degradedStart or not', async () => {
    for (const degradedStart of [false, true]) {
      const connecting = RedisHotStore.connect({
        ...through(set),
        sentinelPassword: 'wrong',
        connectTimeoutMs: 1_000,
        degradedStart,
      });
      await expect(connecting).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /WRONGPASS/ });
    }
  });

  // Last: it kills the primary.
  it('follows a failover: renewals succeed again within 10 s of the promotion, and no lease is lost', async () => {
    const TTL_MS = 3_000;
    const INSTANCES = Array.from({ length: 20 }, (_, i) => `i-${i}`);
    const store = await RedisHotStore.connect({ ...through(set), commandTimeoutMs: 500 });
    try {
      for (const instance of INSTANCES) await store.renewLease('orders', instance, TTL_MS);
      const generation = await store.generation();
      const events: HotStoreStateEvent[] = [];
      store.onStateChange((event) => events.push(event));

      const [primary, replica] = set.servers as [RedisServer, RedisServer];
      expect(await set.primary()).toBe(primary);
      // The generation marker reached the replica: what the kill loses is the latest renewals.
      await replicasInSync(primary.port, PASSWORDS.password);
      const { promoted } = await set.watchPromotion();
      const stream = renewals(store, INSTANCES, TTL_MS);
      let attempts: Attempt[];
      let firstBack: Attempt;
      let promotedAt: number;
      try {
        await stream.next((a) => a.lease !== undefined, 5_000);
        await primary.kill();
        const promotion = await promoted;
        promotedAt = promotion.at;
        expect(promotion.port).toBe(replica.port);
        const renewed = (since: number) => (a: Attempt) => a.lease !== undefined && a.startedAt >= since;
        firstBack = await stream.next(renewed(promotedAt), 10_000);
        // Each instance once more after that.
        await Promise.all(
          INSTANCES.map((instance) =>
            stream.next((a) => a.instance === instance && renewed(firstBack.endedAt)(a), 5_000),
          ),
        );
      } finally {
        attempts = await stream.stop();
      }
      expect(firstBack.endedAt - promotedAt).toBeLessThan(10_000);

      // During the outage renewals failed fast, never hanging past the command deadline.
      const failed = attempts.filter((a) => a.code !== undefined);
      expect(failed.length).toBeGreaterThan(0);
      for (const attempt of failed) {
        expect(attempt.code).toMatch(/^(UNAVAILABLE|TIMEOUT)$/);
        expect(attempt.endedAt - attempt.startedAt).toBeLessThan(1_500);
      }
      // A reconnect, the data intact: the replica had it, so the generation is the same.
      expect(events[0]).toEqual({ state: 'disconnected', dataLost: false });
      expect(events.at(-1)).toEqual({ state: 'connected', dataLost: false });
      expect(events.filter((e) => e.dataLost)).toEqual([]);
      expect(await store.generation()).toEqual(generation);

      // Every lease is the one its latest renewal wrote, and none is expired.
      const leases = await store.leases('orders');
      for (const instance of INSTANCES) {
        const latest = attempts.filter((a) => a.instance === instance && a.lease).at(-1)?.lease;
        expect(leases.get(instance), instance).toEqual(latest);
      }
      const now = await store.now();
      expect(await store.expired(now, 1_000)).toEqual([]);
      for (const lease of leases.values()) expect(lease.expiresAt).toBeGreaterThan(now);
    } finally {
      await store.close();
    }
  });
});
