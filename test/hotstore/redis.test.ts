import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisHotStore, type RedisHotStoreOptions } from '../../src/hotstore/redis.js';
import type { CheckResult, HotStore, HotStoreStateEvent } from '../../src/hotstore/store.js';
import { freePorts } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { describeHotStoreContract, failureCode, nextEvent } from './contract.js';

const CHECK: CheckResult = {
  ok: false,
  at: 1_700_000_000_000,
  latencyMs: 3.5,
  detail: 'HTTP 500',
  by: 'gw-1',
};

/** A key prefix no other test uses, so tests share one server without seeing each other. */
const freshPrefix = (): string => `test-${randomUUID()}:`;

describeHotStoreContract('redis adapter', async () => {
  const server = await startRedis();
  const stores: HotStore[] = [];
  return {
    async open() {
      const store = await RedisHotStore.connect({ url: server.url, keyPrefix: freshPrefix() });
      stores.push(store);
      return store;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close()));
      await server.stop();
    },
  };
});

/** Milliseconds on the server's clock, read over a separate connection. */
async function serverTime(raw: Redis): Promise<number> {
  const [seconds, micros] = await raw.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

describe('RedisHotStore', () => {
  let server: RedisServer;
  /** A plain client beside the stores, to look at and tamper with the server. */
  let raw: Redis;
  const stores: HotStore[] = [];

  const open = async (options: Partial<RedisHotStoreOptions> = {}): Promise<RedisHotStore> => {
    const store = await RedisHotStore.connect({ url: server.url, keyPrefix: freshPrefix(), ...options });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
    await raw.connect();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  it('renews on the server clock', async () => {
    const store = await open();
    const before = await serverTime(raw);
    const lease = await store.renewLease('billing', 'b-1', 5_000);
    const after = await serverTime(raw);
    expect(lease.renewedAt).toBeGreaterThanOrEqual(before);
    expect(lease.renewedAt).toBeLessThanOrEqual(after);
    const now = await store.now();
    expect(now).toBeGreaterThanOrEqual(after);
    expect(now).toBeLessThanOrEqual(await serverTime(raw));
  });

  it('keeps the documented key layout', async () => {
    const prefix = freshPrefix();
    const store = await open({ keyPrefix: prefix });
    const lease = await store.renewLease('billing', 'b-1', 5_000, { inflight: 2 });
    await store.recordCheck('billing', 'b-1', CHECK);
    expect(JSON.parse((await raw.hget(`${prefix}lease:billing`, 'b-1')) ?? '')).toEqual(lease);
    expect(JSON.parse((await raw.hget(`${prefix}check:billing`, 'b-1')) ?? '')).toEqual(CHECK);
    expect(await raw.zrange(`${prefix}leases`, 0, -1, 'WITHSCORES')).toEqual([
      'billing\u0000b-1',
      String(lease.expiresAt),
    ]);
    expect(JSON.parse((await raw.get(`${prefix}generation`)) ?? '')).toEqual(await store.generation());
    expect((await raw.keys(`${prefix}*`)).sort()).toEqual(
      [`${prefix}generation`, `${prefix}lease:billing`, `${prefix}leases`, `${prefix}check:billing`].sort(),
    );
    await store.removeLease('billing', 'b-1');
    expect((await raw.keys(`${prefix}*`)).sort()).toEqual([`${prefix}generation`]);
  });

  it('isolates stores with different prefixes', async () => {
    const a = await open();
    const b = await open();
    await a.renewLease('billing', 'b-1', 1_000);
    expect(await b.getLease('billing', 'b-1')).toBeUndefined();
    expect(await b.leases('billing')).toEqual(new Map());
    expect(await b.expired(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    expect((await a.generation()).id).not.toBe((await b.generation()).id);
  });

  it('shares leases and the generation between replicas on one prefix; concurrent renewals stay atomic', async () => {
    const prefix = freshPrefix();
    const a = await open({ keyPrefix: prefix });
    const b = await open({ keyPrefix: prefix });
    expect(await b.generation()).toEqual(await a.generation());
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? a : b).renewLease('billing', 'b-1', 1_000 + i, { inflight: i }),
      ),
    );
    const stored = await a.getLease('billing', 'b-1');
    expect(results).toContainEqual(stored);
    expect(stored?.renewedAt).toBe(Math.max(...results.map((r) => r.renewedAt)));
    expect(await b.getLease('billing', 'b-1')).toEqual(stored);
    expect(await raw.zrange(`${prefix}leases`, 0, -1, 'WITHSCORES')).toEqual([
      'billing\u0000b-1',
      String(stored?.expiresAt),
    ]);
    expect(await raw.hlen(`${prefix}lease:billing`)).toBe(1);
  });

  it('notices data wiped without a reconnect (FLUSHALL) on the next generation() call', async () => {
    const store = await open();
    await store.renewLease('billing', 'b-1', 60_000);
    const before = await store.generation();
    const lost = nextEvent(store, () => true);
    await raw.flushall();
    const after = await store.generation();
    expect(await lost).toEqual({ state: 'connected', dataLost: true });
    expect(after.id).not.toBe(before.id);
    // Millisecond clock: the new generation may start in the same millisecond.
    expect(after.since).toBeGreaterThanOrEqual(before.since);
    expect(await store.generation()).toEqual(after);
    expect(await store.leases('billing')).toEqual(new Map());
  });

  it('shares one generation check among concurrent callers', async () => {
    const store = await open();
    const first = await store.generation();
    const scriptCalls = async (): Promise<number> => {
      const stats = await raw.info('commandstats');
      return [...stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    await raw.config('RESETSTAT');
    const all = await Promise.all(Array.from({ length: 20 }, () => store.generation()));
    expect(all).toEqual(Array.from({ length: 20 }, () => first));
    expect(await scriptCalls()).toBe(1);
    await store.generation();
    expect(await scriptCalls()).toBe(2);
  });

  it('reconnects after its connection is killed, keeping the generation (no data lost)', async () => {
    const store = await open();
    const lease = await store.renewLease('billing', 'b-1', 60_000);
    const generation = await store.generation();
    const events: HotStoreStateEvent[] = [];
    store.onStateChange((e) => events.push(e));
    const back = nextEvent(store, (e) => e.state === 'connected');
    await raw.client('KILL', 'TYPE', 'normal');
    expect(await back).toEqual({ state: 'connected', dataLost: false });
    expect(events).toEqual([
      { state: 'disconnected', dataLost: false },
      { state: 'connected', dataLost: false },
    ]);
    expect(store.state).toBe('connected');
    expect(await store.generation()).toEqual(generation);
    expect(await store.getLease('billing', 'b-1')).toEqual(lease);
  });

  it('fails commands with TIMEOUT when the server does not answer in time', async () => {
    const store = await open({ commandTimeoutMs: 200 });
    await raw.client('PAUSE', 1_000, 'ALL');
    try {
      const started = performance.now();
      expect(await failureCode(store.renewLease('billing', 'b-1', 1_000))).toBe('TIMEOUT');
      expect(performance.now() - started).toBeLessThan(900);
    } finally {
      await sleep(1_000);
    }
    expect(store.state).toBe('connected');
    await store.renewLease('billing', 'b-1', 1_000);
  });

  it('rejects connect with UNAVAILABLE at the deadline when no server answers, saying why', async () => {
    const [port] = await freePorts(1);
    const started = performance.now();
    const connecting = RedisHotStore.connect({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 });
    await expect(connecting).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /ECONNREFUSED/ });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('rejects credentials the server refuses at the deadline, degradedStart or not', async () => {
    await raw.config('SET', 'requirepass', 'data-secret');
    try {
      for (const password of [undefined, 'wrong']) {
        const connecting = RedisHotStore.connect({
          url: server.url,
          ...(password === undefined ? {} : { password }),
          connectTimeoutMs: 300,
          degradedStart: true,
        });
        await expect(connecting).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /NOAUTH|WRONGPASS/ });
      }
    } finally {
      await raw.config('SET', 'requirepass', '');
    }
  });

  it('rejects with SERVER_ERROR, not a parse error, on foreign data under its prefix', async () => {
    const prefix = freshPrefix();
    const store = await open({ keyPrefix: prefix });
    await raw.hset(`${prefix}lease:billing`, 'b-1', 'not json');
    expect(await failureCode(store.getLease('billing', 'b-1'))).toBe('SERVER_ERROR');
    await raw.set(`${prefix}lease:orders`, 'a string, not a hash');
    expect(await failureCode(store.leases('orders'))).toBe('SERVER_ERROR');
    await raw.hset(`${prefix}check:billing`, 'b-1', 'not json');
    expect(await failureCode(store.checkResults('billing'))).toBe('SERVER_ERROR');
  });

  // Last: these kill and restart the shared server.
  describe('when the server dies', () => {
    it('goes disconnected and fails every call fast with UNAVAILABLE, in flight ones included', async () => {
      const warnings: string[] = [];
      const logger = { info: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
      const consoleError = vi.spyOn(console, 'error');
      const store = await open({ logger });
      await store.renewLease('billing', 'b-1', 60_000);
      const down = nextEvent(store, (e) => e.state === 'disconnected');
      const inFlight = Array.from({ length: 100 }, (_, i) =>
        store.renewLease('billing', `b-${i}`, 60_000).then(
          () => 'ok',
          (err: { code: string }) => err.code,
        ),
      );
      await server.kill();
      expect(await down).toEqual({ state: 'disconnected', dataLost: false });
      expect(store.state).toBe('disconnected');
      const settled = await Promise.race([Promise.all(inFlight), sleep(1_000, 'hung')]);
      expect(settled).not.toBe('hung');
      expect(new Set(settled)).toSatisfy((codes: Set<string>) =>
        [...codes].every((c) => c === 'ok' || c === 'UNAVAILABLE'),
      );
      const started = performance.now();
      expect(await failureCode(store.renewLease('billing', 'b-1', 60_000))).toBe('UNAVAILABLE');
      expect(await failureCode(store.getLease('billing', 'b-1'))).toBe('UNAVAILABLE');
      expect(await failureCode(store.expired(0, 10))).toBe('UNAVAILABLE');
      expect(await failureCode(store.generation())).toBe('UNAVAILABLE');
      expect(await failureCode(store.recordCheck('billing', 'b-1', CHECK))).toBe('UNAVAILABLE');
      expect(await failureCode(store.checkResults('billing'))).toBe('UNAVAILABLE');
      expect(await failureCode(store.removeLease('billing', 'b-1'))).toBe('UNAVAILABLE');
      expect(performance.now() - started).toBeLessThan(1_000);
      // Reconnect attempts fail meanwhile: each error reaches the handler (ioredis would print
      // unhandled ones), which logs a repeated one once.
      await sleep(500);
      const back = nextEvent(store, (e) => e.state === 'connected');
      await server.restart();
      await back;
      expect(consoleError).not.toHaveBeenCalled();
      consoleError.mockRestore();
      expect(warnings.filter((w) => w === 'redis connection lost; reconnecting')).toHaveLength(1);
      const errors = warnings.filter((w) => w === 'redis connection error').length;
      expect(errors).toBeGreaterThanOrEqual(1);
      expect(errors).toBeLessThanOrEqual(2);
    });

    it('with degradedStart, opens while the server is down: disconnected, failing fast, until it answers', async () => {
      await server.kill();
      const warnings: string[] = [];
      const logger = { info: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
      const started = performance.now();
      const store = await open({ connectTimeoutMs: 300, degradedStart: true, logger });
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(store.state).toBe('disconnected');
      expect(warnings).toContainEqual(expect.stringMatching(/ECONNREFUSED.*starting degraded/));
      expect(await failureCode(store.renewLease('billing', 'b-1', 60_000))).toBe('UNAVAILABLE');
      expect(await failureCode(store.generation())).toBe('UNAVAILABLE');
      // The first connection is a connection like any other: the registry's grace counts from it.
      const up = nextEvent(store, (e) => e.state === 'connected');
      await server.restart();
      expect(await up).toEqual({ state: 'connected', dataLost: false });
      expect((await store.renewLease('billing', 'b-1', 60_000)).expiresAt).toBeGreaterThan(0);
    });

    it('comes back with dataLost and a new generation after a restart that lost the data', async () => {
      const store = await open();
      await store.renewLease('billing', 'b-1', 60_000);
      await store.recordCheck('billing', 'b-1', CHECK);
      const before = await store.generation();
      const events: HotStoreStateEvent[] = [];
      store.onStateChange((e) => events.push(e));
      const back = nextEvent(store, (e) => e.state === 'connected');
      await server.kill();
      const restartedAt = Date.now();
      await server.restart();
      expect(await back).toEqual({ state: 'connected', dataLost: true });
      expect(events).toEqual([
        { state: 'disconnected', dataLost: false },
        { state: 'connected', dataLost: true },
      ]);
      const after = await store.generation();
      expect(after.id).not.toBe(before.id);
      expect(after.since).toBeGreaterThanOrEqual(restartedAt);
      expect(await store.leases('billing')).toEqual(new Map());
      expect(await store.checkResults('billing')).toEqual(new Map());
      // Scripts are gone with the old server; ioredis loads them again.
      const lease = await store.renewLease('billing', 'b-1', 60_000);
      expect(await store.getLease('billing', 'b-1')).toEqual(lease);
      await store.recordCheck('billing', 'b-1', CHECK);
      await store.removeLease('billing', 'b-1');
      expect(await store.checkResults('billing')).toEqual(new Map());
      expect(await store.generation()).toEqual(after);
    });
  });
});
