/**
 * Lease reaping under the failures it must survive: a Redis outage longer than the TTL, a Redis
 * that comes back empty, most of a service's leases running out at once, two replicas sharing
 * the job. Redis is a real redis-server; leases are 1 s and the grace 300 ms.
 */
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { asOperator, type OperatorInject } from '../support/embedded-app.js';
import { makeTempDir, pollUntil } from '../support/processes.js';
import { parsePrometheus, value } from '../support/prometheus.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { openSse } from '../support/sse-client.js';
import { BOOTSTRAP_ENV, MANAGEMENT } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

type App = Awaited<ReturnType<typeof buildApp>>;
const logger = pino({ level: 'silent' });
const TTL_MS = 1_000;
const GRACE_MS = 300;
const FAST_LEASES = {
  ZKGATE_EVICTION_GRACE_MS: String(GRACE_MS),
  ZKGATE_REAPER_INTERVAL_MS: '100',
  ZKGATE_LEASE_REFRESH_MS: '0',
};

/** An answer's status, and whether it said the hot store was away. */
interface Answer {
  status: number;
  degraded: boolean;
}

interface Gateway {
  services: Services;
  app: App;
  /** A request as the operator. */
  inject: OperatorInject;
  register(service: string, id: string): Promise<number>;
  registerAnswer(service: string, id: string): Promise<Answer>;
  heartbeat(service: string, id: string): Promise<Answer>;
  ids(service: string): Promise<string[]>;
  close(): Promise<void>;
}

async function gateway(env: Record<string, string>): Promise<Gateway> {
  const services = await createServices(loadSettings({ ...FAST_LEASES, ...BOOTSTRAP_ENV, ...env }), logger);
  const app = await buildApp({ services, logger });
  // As the operator: these tests are about reaping, not access control.
  const inject = asOperator(app);
  const registerAnswer = async (service: string, id: string): Promise<Answer> => {
    const res = await inject({
      method: 'PUT',
      url: `/v1/services/${service}/instances/${id}`,
      payload: { address: '10.0.0.1', port: 8080, ttl: '1s' },
    });
    return { status: res.statusCode, degraded: res.headers['x-zkgate-degraded'] === 'hotstore' };
  };
  return {
    services,
    app,
    inject,
    registerAnswer,
    async register(service, id) {
      return (await registerAnswer(service, id)).status;
    },
    async heartbeat(service, id) {
      const res = await inject({ method: 'PUT', url: `/v1/services/${service}/instances/${id}/heartbeat` });
      return { status: res.statusCode, degraded: res.headers['x-zkgate-degraded'] === 'hotstore' };
    },
    async ids(service) {
      const res = await inject(`/v1/services/${service}/instances`);
      return res.statusCode === 404 ? [] : (res.json() as Array<{ id: string }>).map((i) => i.id);
    },
    async close() {
      await app.close();
      await services.close();
    },
  };
}

/** Heartbeats every 200 ms, as a client would; their answers go to `answers` when given. */
function heartbeats(g: Gateway, service: string, ids: readonly string[], answers?: Answer[]): () => void {
  const timer = setInterval(() => {
    for (const id of ids) {
      void g
        .heartbeat(service, id)
        .then((answer) => answers?.push(answer))
        .catch(() => undefined);
    }
  }, 200);
  return () => clearInterval(timer);
}

/** What `/v1/cluster` and `/metrics` say of the hot store. */
async function hotStoreShown(g: Gateway): Promise<{ state: string; connected: number; deferred: number }> {
  const cluster = await g.inject('/v1/cluster');
  const metrics = await g.inject('/metrics');
  expect([cluster.statusCode, metrics.statusCode]).toEqual([200, 200]);
  const samples = await parsePrometheus(metrics.body);
  // value() reads 0 for a metric that is not there: the gauge must be, to say 0.
  expect(samples.filter((s) => s.name === 'zkgate_hotstore_connected')).toHaveLength(1);
  return {
    state: cluster.json<{ hotStore: { state: string } }>().hotStore.state,
    connected: value(samples, 'zkgate_hotstore_connected'),
    deferred: value(samples, 'zkgate_lease_renewals_deferred_total'),
  };
}

/** Resolves once the reaper completed a sweep that started after `time`. */
async function sweptAfter(g: Gateway, time: number): Promise<void> {
  await expect
    .poll(() => Date.parse(g.services.reaper.status().lastSweep ?? '0'), { timeout: 10_000, interval: 50 })
    .toBeGreaterThan(time + 150);
}

describe('lease reaper with a Redis hot store', () => {
  let redis: RedisServer;
  let dataDir: string;
  let g: Gateway;
  const stops: Array<() => void> = [];

  beforeAll(async () => {
    redis = await startRedis();
    dataDir = await makeTempDir('zkgate-reaper-');
    g = await gateway({ ZKGATE_DATA_DIR: dataDir, ZKGATE_REDIS_URL: redis.url });
    await pollUntil(() => (g.services.reaper.status().leader ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the only replica to lead the reaper',
    });
  });

  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
  });

  afterAll(async () => {
    await g?.close();
    await redis?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('stays writable through a Redis outage of twice the TTL, evicts nothing, and grants a TTL of grace once it is back', async () => {
    const fleet = ['a', 'b', 'c'];
    for (const id of fleet) expect(await g.register('fleet', id)).toBe(201);
    expect(await g.register('lonely', 'silent')).toBe(201);
    const answers: Answer[] = [];
    stops.push(heartbeats(g, 'fleet', fleet, answers));
    const before = await hotStoreShown(g);
    expect(before).toMatchObject({ state: 'connected', connected: 1 });

    await redis.kill();
    await expect.poll(() => g.services.hot.state).toBe('disconnected');
    const outage = Date.now();
    answers.length = 0;
    // Autoscaled instances keep joining: written to ZooKeeper, their lease deferred.
    const late = Array.from({ length: 20 }, (_, i) => `late-${i}`);
    for (const id of late)
      expect(await g.registerAnswer('fleet', id)).toEqual({ status: 201, degraded: true });
    stops.push(heartbeats(g, 'fleet', late, answers));
    const ready = await g.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      hotStore: { kind: 'redis', state: 'disconnected', degraded: true },
    });
    // /v1/cluster keeps its view for a second: it may predate the kill.
    await expect.poll(async () => (await hotStoreShown(g)).state, { timeout: 5_000 }).toBe('disconnected');
    const during = await hotStoreShown(g);
    expect(during.connected).toBe(0);
    expect(during.deferred - before.deferred).toBeGreaterThanOrEqual(late.length);

    // The outage itself is the input: twice the TTL, past every lease and its grace.
    await sleep(Math.max(0, outage + 2 * TTL_MS - Date.now()));
    expect(g.services.reaper.status().state).toBe('paused');
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status !== 200 || !a.degraded)).toEqual([]);
    expect(await g.ids('fleet')).toEqual([...fleet, ...late].sort());

    await redis.restart(); // empty: every lease is lost
    const restarted = Date.now();
    await sweptAfter(g, restarted + TTL_MS + GRACE_MS);
    expect(await g.ids('fleet')).toEqual([...fleet, ...late].sort());
    expect(g.services.reaper.status()).toMatchObject({ state: 'sweeping' });
    expect((await g.heartbeat('fleet', 'a')).degraded).toBe(false);
    await expect.poll(async () => (await hotStoreShown(g)).state, { timeout: 5_000 }).toBe('connected');
    expect((await hotStoreShown(g)).connected).toBe(1);

    // Grace is one TTL, not forever: the instance nobody renews goes after it.
    await expect.poll(() => g.ids('lonely'), { timeout: 10_000, interval: 100 }).toEqual([]);
    expect(Date.now() - restarted).toBeGreaterThanOrEqual(TTL_MS);
    expect(await g.ids('fleet')).toEqual([...fleet, ...late].sort());
  });

  it("holds back evictions when most of a service's leases run out at once, and reports it", async () => {
    const all = ['p1', 'p2', 'p3', 'p4'];
    for (const id of all) expect(await g.register('partitioned', id)).toBe(201);
    const stopAll = heartbeats(g, 'partitioned', all);
    await sweptAfter(g, Date.now());
    stopAll();
    // Three of four stop renewing together, as behind a network partition.
    stops.push(heartbeats(g, 'partitioned', ['p1']));
    await expect
      .poll(() => g.services.reaper.status().preserving, { timeout: 10_000, interval: 50 })
      .toContain('partitioned');
    expect(g.services.reaper.status().state).toBe('preserving');
    await sweptAfter(g, Date.now());
    expect(await g.ids('partitioned')).toEqual(all);

    // One comes back: two of four expired is no longer "most", so those two go.
    stops.push(heartbeats(g, 'partitioned', ['p2']));
    await expect.poll(() => g.ids('partitioned'), { timeout: 10_000, interval: 100 }).toEqual(['p1', 'p2']);
    await expect.poll(() => g.services.reaper.status().preserving).not.toContain('partitioned');
  });

  it('releases a hold on its own once the instances left have renewed for a full TTL', async () => {
    const all = ['q1', 'q2', 'q3', 'q4'];
    // One after the other, as a deploy would: their leases lapse apart, yet within the grace.
    for (const id of all) expect(await g.register('scaled-down', id)).toBe(201);
    // A scale-down: three go for good, one stays and keeps renewing.
    stops.push(heartbeats(g, 'scaled-down', ['q1']));
    await expect
      .poll(() => g.services.reaper.status().preserving, { timeout: 10_000, interval: 50 })
      .toContain('scaled-down');
    const held = Date.now();
    await expect.poll(() => g.ids('scaled-down'), { timeout: 10_000, interval: 100 }).toEqual(['q1']);
    expect(Date.now() - held).toBeGreaterThanOrEqual(TTL_MS - 200);
    await expect.poll(() => g.services.reaper.status().preserving).not.toContain('scaled-down');
  });

  // Last: it kills and restarts the shared server.
  it('starts a replica while Redis is down: degraded until it answers, then a TTL of grace', async () => {
    await redis.kill();
    const bootDir = await makeTempDir('zkgate-reaper-boot-');
    // The hot store's first connection waits its deadline (10 s), then the replica starts anyway.
    const booted = await gateway({ ZKGATE_DATA_DIR: bootDir, ZKGATE_REDIS_URL: redis.url });
    try {
      expect(booted.services.hot.state).toBe('disconnected');
      expect(await booted.registerAnswer('boot', 'beating')).toEqual({ status: 201, degraded: true });
      expect(await booted.registerAnswer('boot', 'silent')).toEqual({ status: 201, degraded: true });
      expect(await booted.heartbeat('boot', 'beating')).toEqual({ status: 200, degraded: true });
      const ready = await booted.app.inject('/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ hotStore: { state: 'disconnected', degraded: true } });
      // Not a candidate meanwhile: elected, its reaper could read no lease, for every replica.
      expect(await booted.services.election.participants()).toEqual([]);

      await redis.restart();
      await expect.poll(() => booted.services.hot.state, { timeout: 10_000 }).toBe('connected');
      await expect.poll(() => booted.services.election.isLeader, { timeout: 10_000 }).toBe(true);
      const connected = Date.now();
      stops.push(heartbeats(booted, 'boot', ['beating']));
      await expect.poll(async () => (await booted.heartbeat('boot', 'beating')).degraded).toBe(false);
      // The instance nobody renews had no lease at all: it goes one TTL after the first
      // connection, not before, and the one heartbeating stays.
      await expect.poll(() => booted.ids('boot'), { timeout: 10_000, interval: 100 }).toEqual(['beating']);
      expect(Date.now() - connected).toBeGreaterThanOrEqual(TTL_MS);
    } finally {
      await booted.close();
      await rm(bootDir, { recursive: true, force: true });
    }
  });
});

describe('lease reaper facing a partition that cuts off instances heartbeating at different phases', () => {
  let dataDir: string;
  let g: Gateway;
  const stops: Array<() => void> = [];

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-reaper-phases-');
    // A grace longer than the spread of the cut-off leases, as the defaults are (30 s against a
    // heartbeat interval of a third of the TTL).
    g = await gateway({ ZKGATE_DATA_DIR: dataDir, ZKGATE_EVICTION_GRACE_MS: '1500' });
  });

  afterAll(async () => {
    for (const stop of stops.splice(0)) stop();
    await g?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('holds the service although its leases lapse sweeps apart, instead of evicting them one by one', async () => {
    const all = ['s1', 's2', 's3', 's4'];
    for (const id of all) expect(await g.register('staggered', id)).toBe(201);
    const beats = new Map(all.map((id) => [id, heartbeats(g, 'staggered', [id])]));
    stops.push(...beats.values());
    // Cut off one after the other, two sweeps apart: each is the only one past its eviction time
    // for a while, which the hold must not take for one instance dying.
    for (const id of ['s4', 's3', 's2']) {
      beats.get(id)?.();
      await sweptAfter(g, Date.now());
      await sweptAfter(g, Date.now());
    }
    await expect
      .poll(() => g.services.reaper.status().preserving, { timeout: 10_000, interval: 50 })
      .toContain('staggered');
    expect(g.services.reaper.status().reason).toMatch(/staggered: 3 of 4 leases/);
    await sweptAfter(g, Date.now());
    expect(await g.ids('staggered')).toEqual(all);
  });

  it("reads a quiet service's leases once until the first could run out, and again when its instances change", async () => {
    const inject = asOperator(g.app);
    const register = async (id: string) =>
      (
        await inject({
          method: 'PUT',
          url: `/v1/services/quiet/instances/${id}`,
          payload: { address: '10.0.0.2', port: 8080, ttl: '30s' },
        })
      ).statusCode;
    const reads = vi.spyOn(g.services.hot, 'leases');
    const readsOfQuiet = () => reads.mock.calls.filter(([service]) => service === 'quiet').length;
    try {
      expect(await register('t1')).toBe(201);
      await sweptAfter(g, Date.now());
      expect(readsOfQuiet()).toBe(1);
      for (let sweep = 0; sweep < 5; sweep++) await sweptAfter(g, Date.now());
      expect(readsOfQuiet()).toBe(1);
      expect(await register('t2')).toBe(201);
      await sweptAfter(g, Date.now());
      expect(readsOfQuiet()).toBe(2);
    } finally {
      reads.mockRestore();
    }
  });
});

describe('lease reaper on two replicas sharing one ZooKeeper', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url };
    a = await gateway(env);
    b = await gateway(env);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it('says on every replica which service is held, since when and why, until an operator releases it', async () => {
    // Every instance stops at once (none registers a heartbeat): nothing renews, so it stays held.
    for (const id of ['r1', 'r2', 'r3']) expect(await a.register('silent', id)).toBe(201);
    const leader = a.services.election.isLeader ? a : b;
    const other = leader === a ? b : a;
    const summary = async (g: Gateway) =>
      (
        (await asOperator(g.app)('/v1/services')).json() as Array<{
          service: string;
          selfPreservation?: unknown;
        }>
      ).find((s) => s.service === 'silent');
    await expect
      .poll(async () => (await summary(other))?.selfPreservation, { timeout: 10_000, interval: 100 })
      .toMatchObject({
        since: expect.any(String),
        // Two or three of them, depending on which sweep saw them first; the leader's view of the
        // membership may also not hold the third yet when the first two run out.
        reason: expect.stringMatching(/^([23] of 3|2 of 2) leases ran out at once/),
      });
    // Held: what the hold found stays through later sweeps. (Under load, the first to run out
    // may have gone alone, before the others made it a hold.)
    const held = await other.ids('silent');
    expect(held.length).toBeGreaterThanOrEqual(2);
    await sweptAfter(leader, Date.now());
    expect(await other.ids('silent')).toEqual(held);
    // A watcher hears it too: in the list it starts with, then when the hold ends.
    const url = await other.app.listen({ port: 0, host: '127.0.0.1' });
    const watcher = await openSse(`${url}/v1/watch?service=silent`, MANAGEMENT);
    const list = await watcher.next();
    expect(list.event).toBe('instances');
    expect(JSON.parse(list.data)).toMatchObject({ selfPreservation: { since: expect.any(String) } });

    const released = await asOperator(other.app)({ method: 'POST', url: '/v1/services/silent:release' });
    expect(released.statusCode).toBe(202);
    await expect.poll(() => other.ids('silent'), { timeout: 10_000, interval: 100 }).toEqual([]);
    const ended = await watcher.next(10_000).then(async function skip(e): Promise<typeof e> {
      return e.event === 'self-preservation' ? e : skip(await watcher.next(10_000));
    });
    expect(JSON.parse(ended.data)).toEqual({ service: 'silent', held: false });
    watcher.close();
    expect(
      (await asOperator(other.app)({ method: 'POST', url: '/v1/services/nobody:release' })).statusCode,
    ).toBe(404);
  });

  it('has exactly one leader, which evicts each expired instance once; the other takes over when it leaves', async () => {
    await expect.poll(() => [a, b].filter((g) => g.services.reaper.status().leader).length).toBe(1);
    const [leader, other] = a.services.reaper.status().leader ? [a, b] : [b, a];
    expect(other.services.reaper.status().state).toBe('standby');
    // Counts from here on (an earlier test may have had evictions).
    const evicted = (g: Gateway) => g.services.reaper.status().evicted;
    const [leaderBefore, otherBefore] = [evicted(leader), evicted(other)];

    expect(await other.register('shared', 'gone-1')).toBe(201);
    await expect.poll(() => leader.ids('shared'), { timeout: 10_000, interval: 100 }).toEqual([]);
    await expect.poll(() => other.ids('shared'), { timeout: 10_000, interval: 100 }).toEqual([]);
    await expect.poll(() => evicted(leader)).toBe(leaderBefore + 1);
    expect(evicted(other)).toBe(otherBefore);

    await leader.close();
    await expect.poll(() => other.services.reaper.status().leader, { timeout: 10_000 }).toBe(true);
    expect(await other.register('shared', 'gone-2')).toBe(201);
    await expect.poll(() => other.ids('shared'), { timeout: 10_000, interval: 100 }).toEqual([]);
    await expect.poll(() => evicted(other)).toBe(otherBefore + 1);
  });
});
