/**
 * The batch heartbeat (`POST /v1/heartbeats`): each heartbeat renewed or refused on its own, in
 * order, as its single heartbeat would be (404 unknown, 409 session-bound, 403 without `write` on
 * its service); a whole-request problem for a bad body or too many items; degraded answers while
 * Redis is down, and leases granted again once it is back. Embedded store, memory and Redis hot
 * stores (a real redis-server on loopback).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateMode } from '../../src/coordination/store.js';
import { MAX_RENEWAL_BATCH } from '../../src/hotstore/store.js';
import { encodeInstance } from '../../src/registry/instance.js';
import {
  bearerFor,
  expectTruncatedJsonRefused,
  startEmbeddedApp,
  type EmbeddedApp,
} from '../support/embedded-app.js';
import { startRedis, type RedisServer } from '../support/redis.js';

interface Result {
  status: number;
  expiresAt?: string;
  ttlMs?: number;
  degraded?: boolean;
  code?: string;
  detail?: string;
}

type Beat = { service: string; id: string; load?: Record<string, number> };

const beat = (gateway: EmbeddedApp, heartbeats: unknown, headers: Record<string, string> = {}) =>
  gateway.inject({ method: 'POST', url: '/v1/heartbeats', payload: { heartbeats }, headers });

async function register(gateway: EmbeddedApp, service: string, id: string, ttl = '10m'): Promise<void> {
  const res = await gateway.inject({
    method: 'PUT',
    url: `/v1/services/${service}/instances/${id}`,
    payload: { address: '10.0.0.1', port: 8080, ttl },
  });
  expect(res.statusCode, res.body).toBe(201);
}

/** A token whose one policy holds `rules`, as its Authorization header. */
async function tokenWith(
  gateway: EmbeddedApp,
  name: string,
  rules: unknown,
): Promise<Record<string, string>> {
  expect(
    (await gateway.inject({ method: 'PUT', url: `/v1/acl/policies/${name}`, payload: { rules } })).statusCode,
  ).toBe(201);
  return bearerFor(gateway, name, [name]);
}

describe('POST /v1/heartbeats, memory hot store', () => {
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    await register(gateway, 'orders', 'o-1');
    await register(gateway, 'orders', 'o-2', '30s');
    await register(gateway, 'billing', 'b-1');
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('renews each instance with its load and answers each heartbeat in order', async () => {
    const before = Date.now();
    const res = await beat(gateway, [
      { service: 'orders', id: 'o-1', load: { inflight: 4, cpu: 0.5 } },
      { service: 'billing', id: 'b-1' },
      { service: 'orders', id: 'gone' },
      { service: 'orders', id: 'o-2', load: { latencyMs: 12 } },
      { service: 'nowhere', id: 'x' },
    ]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-zkgate-degraded']).toBeUndefined();
    const { results, degraded } = res.json<{ results: Result[]; degraded?: boolean }>();
    expect(degraded).toBeUndefined();
    expect(results.map((r) => r.status)).toEqual([200, 200, 404, 200, 404]);
    expect(results[2]).toMatchObject({
      code: 'ZKG_INSTANCE_NOT_FOUND',
      detail: expect.stringContaining('gone'),
    });
    expect(results[4]?.code).toBe('ZKG_INSTANCE_NOT_FOUND');
    expect(results[0]?.ttlMs).toBe(600_000);
    expect(results[3]?.ttlMs).toBe(30_000);
    for (const [i, service, id, load] of [
      [0, 'orders', 'o-1', { inflight: 4, cpu: 0.5 }],
      [1, 'billing', 'b-1', undefined],
      [3, 'orders', 'o-2', { latencyMs: 12 }],
    ] as const) {
      const lease = await gateway.services.hot.getLease(service, id);
      expect(lease?.renewedAt).toBeGreaterThanOrEqual(before);
      expect(lease?.load).toEqual(load);
      expect(results[i]?.expiresAt).toBe(new Date(lease?.expiresAt ?? 0).toISOString());
    }
    // The load reaches the listing as the single heartbeat's does.
    const listed = await gateway.inject({ url: '/v1/services/orders/instances' });
    expect(
      listed.json<Array<{ id: string; lease?: { load?: unknown } }>>().find((i) => i.id === 'o-1')?.lease
        ?.load,
    ).toEqual({
      inflight: 4,
      cpu: 0.5,
    });
  });

  it('answers 409 for an instance whose liveness is its client session', async () => {
    const { store } = gateway.services;
    await store.create('/services/inventory', Buffer.alloc(0)).catch(() => undefined);
    const curator = encodeInstance({
      service: 'inventory',
      id: 'spring-1',
      address: '10.0.0.9',
      port: 8080,
      sslPort: null,
      weight: 1,
      zone: undefined,
      status: 'UP',
      metadata: {},
      ttlMs: undefined,
      registrationTimeUTC: Date.now(),
      serviceType: 'DYNAMIC',
      enabled: true,
    });
    await store.create('/services/inventory/spring-1', curator, CreateMode.EPHEMERAL);
    await expect
      .poll(() => gateway.services.registry.cache.service('inventory')?.instances.has('spring-1'))
      .toBe(true);
    const res = await beat(gateway, [
      { service: 'inventory', id: 'spring-1' },
      { service: 'orders', id: 'o-1' },
    ]);
    const { results } = res.json<{ results: Result[] }>();
    expect(results.map((r) => [r.status, r.code])).toEqual([
      [409, 'ZKG_INSTANCE_SESSION_BOUND'],
      [200, undefined],
    ]);
    expect(await gateway.services.hot.getLease('inventory', 'spring-1')).toBeUndefined();
  });

  it('refuses per heartbeat what the token may not write, before telling whether it exists', async () => {
    const ordersOnly = await tokenWith(gateway, 'orders-heartbeats', { service: { orders: ['write'] } });
    const before = await gateway.services.hot.getLease('billing', 'b-1');
    const res = await beat(
      gateway,
      [
        { service: 'billing', id: 'b-1' },
        { service: 'orders', id: 'o-1' },
        { service: 'billing', id: 'unknown' },
        { service: 'orders', id: 'unknown' },
      ],
      ordersOnly,
    );
    expect(res.statusCode, res.body).toBe(200);
    const { results } = res.json<{ results: Result[] }>();
    expect(results.map((r) => [r.status, r.code])).toEqual([
      [403, 'ZKG_FORBIDDEN'],
      [200, undefined],
      [403, 'ZKG_FORBIDDEN'],
      [404, 'ZKG_INSTANCE_NOT_FOUND'],
    ]);
    expect(results[0]?.detail).toContain('service:billing write');
    expect(await gateway.services.hot.getLease('billing', 'b-1')).toEqual(before);
  });

  it('refuses the whole request to a token that may write no service, and to no token', async () => {
    const readOnly = await tokenWith(gateway, 'services-read', { service: { '': ['read'] } });
    const forbidden = await beat(gateway, [{ service: 'orders', id: 'o-1' }], readOnly);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('ZKG_FORBIDDEN');
    const anonymous = await gateway.app.inject({
      method: 'POST',
      url: '/v1/heartbeats',
      payload: { heartbeats: [{ service: 'orders', id: 'o-1' }] },
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it('answers a bad body with a problem naming the field, and renews nothing', async () => {
    const before = await gateway.services.hot.getLease('orders', 'o-1');
    const cases: Array<[unknown, string]> = [
      [undefined, 'body.heartbeats'],
      [[], 'body.heartbeats'],
      ['orders/o-1', 'body.heartbeats'],
      [[{ service: 'orders' }], 'body.heartbeats.0.id'],
      [[{ service: 'orders', id: 'o-1', ttl: 5 }], 'body.heartbeats.0.ttl'],
      [[{ service: 'orders', id: 'o-1', load: { cpu: -1 } }], 'body.heartbeats.0.load.cpu'],
      [[{ service: 'orders', id: 'o-1', load: { mood: 1 } }], 'body.heartbeats.0.load.mood'],
      [
        [
          { service: 'orders', id: 'o-1' },
          { service: 'a/b', id: 'o-1' },
        ],
        'body.heartbeats.1.service',
      ],
      [[{ service: 'orders', id: 'x'.repeat(256) }], 'body.heartbeats.0.id'],
    ];
    for (const [heartbeats, field] of cases) {
      const res = await beat(gateway, heartbeats);
      expect(res.statusCode, JSON.stringify(heartbeats)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const problem = res.json<{ code: string; errors: Array<{ field: string }> }>();
      expect(problem.code).toBe('ZKG_VALIDATION_FAILED');
      expect(problem.errors.map((e) => e.field)).toContain(field);
    }
    await expectTruncatedJsonRefused(gateway.inject, 'POST', '/v1/heartbeats', '{"heartbeats":[');
    expect(await gateway.services.hot.getLease('orders', 'o-1')).toEqual(before);
  });

  it(`takes ${MAX_RENEWAL_BATCH} heartbeats and answers 413 ZKG_BATCH_TOO_LARGE to one more`, async () => {
    const full: Beat[] = Array.from({ length: MAX_RENEWAL_BATCH }, (_, i) => ({
      service: 'orders',
      id: i % 2 === 0 ? 'o-1' : `missing-${i}`,
    }));
    const ok = await beat(gateway, full);
    expect(ok.statusCode).toBe(200);
    const { results } = ok.json<{ results: Result[] }>();
    expect(results).toHaveLength(MAX_RENEWAL_BATCH);
    expect(results.filter((r) => r.status === 200)).toHaveLength(MAX_RENEWAL_BATCH / 2);
    const tooMany = await beat(gateway, [...full, { service: 'orders', id: 'o-1' }]);
    expect(tooMany.statusCode).toBe(413);
    expect(tooMany.headers['content-type']).toContain('application/problem+json');
    expect(tooMany.json()).toMatchObject({ code: 'ZKG_BATCH_TOO_LARGE', status: 413 });
  });
});

describe('POST /v1/heartbeats, Redis hot store', () => {
  let redis: RedisServer;
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startEmbeddedApp({ ZKGATE_REDIS_URL: redis.url });
    expect(gateway.services.hot.kind).toBe('redis');
    // Enough services to fall in several expiry shards' scripts on the one server.
    for (let s = 0; s < 5; s++) for (let i = 0; i < 3; i++) await register(gateway, `svc-${s}`, `i-${i}`);
  });

  afterAll(async () => {
    await gateway?.close();
    await redis?.stop();
  });

  const all = (): Beat[] =>
    Array.from({ length: 15 }, (_, n) => ({ service: `svc-${n % 5}`, id: `i-${Math.floor(n / 5)}` }));

  it('renews every lease in Redis, where another replica reads it', async () => {
    const before = await gateway.services.hot.now();
    const res = await beat(gateway, [...all(), { service: 'svc-0', id: 'nope' }]);
    expect(res.statusCode, res.body).toBe(200);
    const { results } = res.json<{ results: Result[] }>();
    expect(results.map((r) => r.status)).toEqual([...Array(15).fill(200), 404]);
    for (const [n, { service, id }] of all().entries()) {
      const lease = await gateway.services.hot.getLease(service, id);
      expect(lease?.renewedAt).toBeGreaterThanOrEqual(before);
      expect(results[n]?.expiresAt).toBe(new Date(lease?.expiresAt ?? 0).toISOString());
    }
  });

  it('answers degraded while Redis is down, losing no instance, and renews again once it is back', async () => {
    const deferred = async () =>
      (await gateway.services.metrics.registry.getSingleMetric('zkgate_lease_renewals_deferred_total')?.get())
        ?.values[0]?.value ?? 0;
    const deferredBefore = await deferred();
    await redis.kill();
    await expect.poll(() => gateway.services.hot.state).toBe('disconnected');
    const res = await beat(gateway, [...all(), { service: 'svc-0', id: 'nope' }]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-zkgate-degraded']).toBe('hotstore');
    const body = res.json<{ results: Result[]; degraded?: boolean }>();
    expect(body.degraded).toBe(true);
    expect(body.results.slice(0, 15)).toEqual(Array(15).fill({ status: 200, degraded: true }));
    expect(body.results[15]?.status).toBe(404);
    expect((await deferred()) - deferredBefore).toBe(15);

    await redis.restart(); // empty: every lease is lost
    await expect.poll(() => gateway.services.hot.state, { timeout: 10_000 }).toBe('connected');
    const back = await beat(gateway, all());
    expect(back.statusCode).toBe(200);
    expect(back.headers['x-zkgate-degraded']).toBeUndefined();
    expect(back.json<{ results: Result[] }>().results.every((r) => r.status === 200 && r.expiresAt)).toBe(
      true,
    );
    for (const { service, id } of all())
      expect(await gateway.services.hot.getLease(service, id)).toBeDefined();
    const listed = await gateway.inject({ url: '/v1/services/svc-3/instances' });
    expect(
      listed
        .json<Array<{ id: string }>>()
        .map((i) => i.id)
        .sort(),
    ).toEqual(['i-0', 'i-1', 'i-2']);
  });
});
