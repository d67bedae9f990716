/**
 * The registry's HTTP contract in every mode: embedded store or a real ZooKeeper, memory or
 * Redis hot store. Register, list, heartbeat, deregister, validation of every field, ETag and
 * long-poll, dispatch, lease expiry.
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/acl/actor.js';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { loadSettings } from '../../src/settings.js';
import { asOperator, expectTruncatedJsonRefused, type OperatorInject } from '../support/embedded-app.js';
import { makeTempDir } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { BOOTSTRAP_ENV } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

type App = Awaited<ReturnType<typeof buildApp>>;
const logger = pino({ level: 'silent' });

/** Short leases and a fast reaper, so expiry is observable in a test. */
const FAST_LEASES = {
  ZKGATE_EVICTION_GRACE_MS: '300',
  ZKGATE_REAPER_INTERVAL_MS: '100',
  ZKGATE_LEASE_REFRESH_MS: '0',
};

interface Mode {
  readonly name: string;
  readonly store: 'embedded' | 'zookeeper';
  readonly hot: 'memory' | 'redis';
}

const MODES: Mode[] = [
  { name: 'embedded store, memory hot store', store: 'embedded', hot: 'memory' },
  { name: 'embedded store, Redis hot store', store: 'embedded', hot: 'redis' },
  { name: 'ZooKeeper, memory hot store', store: 'zookeeper', hot: 'memory' },
  { name: 'ZooKeeper, Redis hot store', store: 'zookeeper', hot: 'redis' },
];

let zk: ZkStandalone;
let redis: RedisServer;

beforeAll(async () => {
  [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
});

afterAll(async () => {
  await Promise.all([zk?.stop(), redis?.stop()]);
});

const instance = (overrides: Record<string, unknown> = {}) => ({
  address: '10.0.0.7',
  port: 8080,
  ...overrides,
});

describe.each(MODES)('registry over HTTP: $name', (mode) => {
  let services: Services;
  let app: App;
  // Requests act as the operator: these tests are about the registry, not access control.
  let inject: OperatorInject;
  let plain: CoordinationStore;
  let dataDir: string | undefined;
  let prefix: string;

  beforeAll(async () => {
    // One ZooKeeper and one Redis serve every mode: each mode gets its own paths and keys.
    prefix = `${mode.store}-${mode.hot}`;
    dataDir = mode.store === 'embedded' ? await makeTempDir('zkgate-registry-') : undefined;
    const env: Record<string, string> = {
      ...FAST_LEASES,
      ...BOOTSTRAP_ENV,
      ZKGATE_ROOT: `/zkgate-${prefix}`,
      ZKGATE_SERVICES_PATH: `/services-${prefix}`,
      ...(dataDir ? { ZKGATE_DATA_DIR: dataDir } : { ZKGATE_ZK: zk.connectString }),
      ...(mode.hot === 'redis' ? { ZKGATE_REDIS_URL: `${redis.url}/${MODES.indexOf(mode)}` } : {}),
    };
    services = await createServices(loadSettings(env), logger);
    app = await buildApp({ services, logger });
    inject = asOperator(app);
    plain =
      mode.store === 'embedded'
        ? services.store
        : await ZooKeeperStore.connect({ connectString: zk.connectString });
  });

  afterAll(async () => {
    await app?.close();
    await services?.close();
    if (mode.store === 'zookeeper') await plain?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const put = (path: string, body: unknown) =>
    inject({ method: 'PUT', url: path, payload: body as Record<string, unknown> });

  it('registers, lists, heartbeats and deregisters', async () => {
    const created = await put(
      '/v1/services/orders/instances/i-1',
      instance({ weight: 5, zone: 'a', metadata: { version: '1.2' } }),
    );
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      service: 'orders',
      id: 'i-1',
      address: '10.0.0.7',
      port: 8080,
      weight: 5,
      zone: 'a',
      status: 'UP',
      healthy: true,
      liveness: 'lease',
      metadata: { version: '1.2' },
    });

    // The znode is Curator's JSON in the Spring layout, with zkgate's fields in the metadata.
    const node = await plain.getData(`/services-${prefix}/orders/i-1`);
    expect(node.stat.ephemeralOwner).toBe(0n);
    const json = JSON.parse(node.data.toString()) as {
      payload: { '@class': string; metadata: Record<string, string> };
    };
    expect(json.payload['@class']).toBe('org.springframework.cloud.zookeeper.discovery.ZookeeperInstance');
    expect(json.payload.metadata).toMatchObject({ version: '1.2', 'zkgate.weight': '5', zone: 'a' });

    const updated = await put('/v1/services/orders/instances/i-1', instance({ port: 8081 }));
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ port: 8081, weight: 100 });
    expect(updated.json().registeredAt).toBe(created.json().registeredAt);

    expect((await put('/v1/services/orders/instances/i-2', instance({ zone: 'b' }))).statusCode).toBe(201);
    const list = await inject('/v1/services/orders/instances');
    expect(list.statusCode).toBe(200);
    expect((list.json() as Array<{ id: string }>).map((i) => i.id)).toEqual(['i-1', 'i-2']);
    const zoneB = await inject('/v1/services/orders/instances?zone=b');
    expect((zoneB.json() as Array<{ id: string }>).map((i) => i.id)).toEqual(['i-2']);
    const down = await inject('/v1/services/orders/instances?status=DOWN');
    expect(down.json()).toEqual([]);

    const services = await inject('/v1/services');
    expect(services.json()).toContainEqual(
      expect.objectContaining({
        service: 'orders',
        instances: 2,
        healthy: 2,
        status: { UP: 2, DOWN: 0, DRAINING: 0 },
      }),
    );

    const beat = await put('/v1/services/orders/instances/i-1/heartbeat', { inflight: 3, cpu: 0.5 });
    expect(beat.statusCode).toBe(200);
    expect(Date.parse(beat.json().expiresAt)).toBeGreaterThan(Date.now() - 1000);
    const lease = await leaseOf('orders', 'i-1');
    expect(lease?.load).toEqual({ inflight: 3, cpu: 0.5 });

    // Heartbeats never write to the store: two znodes created around 20 of them are consecutive zxids.
    const before = await plain.create(`/zkgate-${prefix}/hb-before`);
    for (let i = 0; i < 20; i++)
      expect((await put('/v1/services/orders/instances/i-1/heartbeat', {})).statusCode).toBe(200);
    await plain.create(`/zkgate-${prefix}/hb-after`);
    const [first, second] = await Promise.all([
      plain.exists(before),
      plain.exists(`/zkgate-${prefix}/hb-after`),
    ]);
    expect(second!.czxid - first!.czxid).toBe(1n);

    expect((await inject({ method: 'DELETE', url: '/v1/services/orders/instances/i-1' })).statusCode).toBe(
      204,
    );
    const after = await inject('/v1/services/orders/instances');
    expect((after.json() as Array<{ id: string }>).map((i) => i.id)).toEqual(['i-2']);
    expect(await leaseOf('orders', 'i-1')).toBeUndefined();

    const gone = await put('/v1/services/orders/instances/i-1/heartbeat', {});
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe('ZKG_INSTANCE_NOT_FOUND');
    const again = await inject({ method: 'DELETE', url: '/v1/services/orders/instances/i-1' });
    expect(again.statusCode).toBe(404);
    expect((await inject('/v1/services/nope/instances')).json().code).toBe('ZKG_SERVICE_NOT_FOUND');
  });

  const leaseOf = (service: string, id: string) => services.hot.getLease(service, id);

  it.each([
    ['body.address', instance({ address: 'not a host!' })],
    ['body.address', { port: 8080 }],
    ['body.port', instance({ port: 0 })],
    ['body.port', instance({ port: 65536 })],
    ['body.port', instance({ port: '8080' })],
    ['body.sslPort', instance({ sslPort: -1 })],
    ['body.weight', instance({ weight: 0 })],
    ['body.weight', instance({ weight: 1001 })],
    ['body.weight', instance({ weight: 1.5 })],
    ['body.zone', instance({ zone: 'eu west' })],
    ['body.metadata.zkgate.weight', instance({ metadata: { 'zkgate.weight': '9' } })],
    ['body.metadata.owner', instance({ metadata: { owner: 7 } })],
    [
      'body.metadata',
      instance({ metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
    ],
    ['body.ttl', instance({ ttl: '5 seconds' })],
    ['body.ttl', instance({ ttl: '500ms' })],
    ['body.ttl', instance({ ttl: '2d' })],
    ['body.check', instance({ check: { rise: 2 } })],
    ['body.check.http.path', instance({ check: { http: { path: 'health' } } })],
    ['body.check.timeout', instance({ check: { tcp: true, interval: '1s', timeout: '5s' } })],
    ['body.wieght', instance({ wieght: 5 })],
  ])('refuses an invalid %s with a 400 naming it', async (field, body) => {
    const res = await put('/v1/services/orders/instances/bad', body);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = res.json() as { code: string; detail: string; errors: Array<{ field: string }> };
    expect(problem.code).toBe('ZKG_VALIDATION_FAILED');
    expect(problem.errors.map((e) => e.field)).toContain(field);
    expect(problem.detail).toContain(field);
    // Nothing was written.
    expect(await plain.exists(`/services-${prefix}/orders/bad`)).toBeNull();
  });

  it('refuses bad names in the path, and a body that is not JSON', async () => {
    const badId = await put('/v1/services/orders/instances/-x', instance());
    expect(badId.statusCode).toBe(400);
    expect(badId.json().errors[0].field).toBe('id');
    const badService = await put('/v1/services/a%20b/instances/x', instance());
    expect(badService.json().errors[0].field).toBe('service');
    await expectTruncatedJsonRefused(inject, 'PUT', '/v1/services/orders/instances/x', '{"address":');
  });

  it('takes ids up to 255 characters and answers a problem for longer or malformed URLs', async () => {
    const long = `i-${'x'.repeat(250)}`;
    expect((await put(`/v1/services/long/instances/${long}`, instance())).statusCode).toBe(201);
    expect((await inject(`/v1/services/long/instances`)).json()[0].id).toBe(long);
    for (const url of [`/v1/services/${'x'.repeat(2000)}/instances`, '/v1/services/%E0%A4%A/instances']) {
      const res = await inject(url);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('ZKG_VALIDATION_FAILED');
    }
  });

  it('serves instances written by hand with out-of-range values instead of failing', async () => {
    await plain.create(`/services-${prefix}/odd`).catch(() => undefined);
    const payload = { metadata: { 'zkgate.ttl': '9000000000000000' } };
    const data = {
      name: 'odd',
      id: 'o-1',
      address: '10.0.0.9',
      port: 80,
      registrationTimeUTC: 1e300,
      payload,
    };
    await plain.create(`/services-${prefix}/odd/o-1`, Buffer.from(JSON.stringify(data)));
    // The service's znode alone is an empty list: wait for the instance.
    await expect
      .poll(async () => (await inject('/v1/services/odd/instances')).json() as unknown[])
      .toHaveLength(1);
    expect((await inject('/v1/services')).statusCode).toBe(200);
    const [listed] = (await inject('/v1/services/odd/instances')).json() as Array<Record<string, unknown>>;
    expect(listed).toMatchObject({ id: 'o-1', registeredAt: new Date(0).toISOString(), liveness: 'session' });
    expect((await put('/v1/services/odd/instances/o-1/heartbeat', {})).statusCode).toBe(409);
  });

  it('answers 304 to a matching ETag and holds a long-poll until the list changes', async () => {
    await put('/v1/services/poll/instances/a', instance());
    const first = await inject('/v1/services/poll/instances');
    const etag = first.headers.etag as string;
    const index = first.headers['x-zkgate-index'] as string;
    const cached = await inject({
      url: '/v1/services/poll/instances',
      headers: { 'if-none-match': etag },
    });
    expect(cached.statusCode).toBe(304);

    const quiet = await inject(`/v1/services/poll/instances?index=${index}&wait=200ms`);
    expect(quiet.statusCode).toBe(304);

    const poll = inject(`/v1/services/poll/instances?index=${index}&wait=20s`);
    await expect.poll(() => services.tree.listening).toBeGreaterThan(0);
    await put('/v1/services/poll/instances/b', instance());
    const changed = await poll;
    expect(changed.statusCode).toBe(200);
    expect((changed.json() as Array<{ id: string }>).map((i) => i.id)).toEqual(['a', 'b']);
    expect(BigInt(changed.headers['x-zkgate-index'] as string)).toBeGreaterThan(BigInt(index));
  });

  it('dispatches by strategy, leaves out DOWN instances and answers 503 when nothing is eligible', async () => {
    for (const [id, weight] of [
      ['w1', 1],
      ['w2', 2],
      ['w3', 3],
    ] as const) {
      await put(`/v1/services/pay/instances/${id}`, instance({ weight, port: 9000 + weight }));
    }
    const counts = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const res = await inject('/v1/dispatch/pay?strategy=weighted_round_robin');
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-zkgate-protected']).toBe('false');
      const id = (res.json() as { id: string }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ w1: 10, w2: 20, w3: 30 });

    const keyed = await inject('/v1/dispatch/pay?strategy=consistent_hash&key=user-42');
    const again = await inject('/v1/dispatch/pay?strategy=consistent_hash&key=user-42');
    expect(again.json().id).toBe(keyed.json().id);
    const noKey = await inject('/v1/dispatch/pay?strategy=consistent_hash');
    expect(noKey.statusCode).toBe(400);
    const unknown = await inject('/v1/dispatch/pay?strategy=fastest');
    expect(unknown.statusCode).toBe(400);

    // Taken out by hand.
    for (const id of ['w1', 'w2', 'w3']) {
      const res = await put(`/v1/services/pay/instances/${id}/status`, {
        status: id === 'w3' ? 'DRAINING' : 'DOWN',
      });
      expect(res.statusCode).toBe(200);
    }
    await expect.poll(async () => (await inject('/v1/dispatch/pay')).statusCode).toBe(503);
    const none = await inject('/v1/dispatch/pay');
    expect(none.json().code).toBe('ZKG_NO_INSTANCE_AVAILABLE');
    expect((await inject('/v1/dispatch/nope')).statusCode).toBe(404);
  });

  it('takes a manual status that checks and re-registrations keep until it is cleared', async () => {
    await put('/v1/services/manual/instances/m-1', instance());
    await put('/v1/services/manual/instances/m-2', instance({ port: 8082 }));

    const draining = await put('/v1/services/manual/instances/m-1/status', { status: 'DRAINING' });
    expect(draining.statusCode).toBe(200);
    expect(draining.json()).toMatchObject({
      id: 'm-1',
      status: 'DRAINING',
      manualStatus: 'DRAINING',
      healthy: false,
    });
    // Still listed, as draining; never dispatched.
    const listed = await inject('/v1/services/manual/instances?status=DRAINING');
    expect((listed.json() as Array<{ id: string }>).map((i) => i.id)).toEqual(['m-1']);
    for (let i = 0; i < 6; i++) expect((await inject('/v1/dispatch/manual')).json().id).toBe('m-2');

    // Spring readers see it out of service; zkgate's verdict fields are in the znode.
    const node = await plain.getData(`/services-${prefix}/manual/m-1`);
    const meta = (JSON.parse(node.data.toString()) as { payload: { metadata: Record<string, string> } })
      .payload.metadata;
    expect(meta).toMatchObject({
      'zkgate.status': 'DRAINING',
      'zkgate.status.manual': 'DRAINING',
      instance_status: 'OUT_OF_SERVICE',
    });

    // A check's verdict does not override it; a re-registration keeps it.
    const checker = systemActor('health check');
    const owned = () => true;
    expect(
      await services.registry.writer.setCheckStatus(checker, 'manual', 'm-1', 'UP', {
        verdict: undefined,
        owned,
      }),
    ).toBe(false);
    const reregistered = await put('/v1/services/manual/instances/m-1', instance({ check: { tcp: true } }));
    expect(reregistered.json()).toMatchObject({ status: 'DRAINING', manualStatus: 'DRAINING' });
    // Only over the verdict judged from, and only while owned.
    expect(
      await services.registry.writer.setCheckStatus(checker, 'manual', 'm-1', 'DOWN', {
        verdict: 'UP',
        owned,
      }),
    ).toBe(false);
    const lost = { verdict: undefined, owned: () => false };
    expect(await services.registry.writer.setCheckStatus(checker, 'manual', 'm-1', 'DOWN', lost)).toBe(false);
    expect(
      await services.registry.writer.setCheckStatus(checker, 'manual', 'm-1', 'DOWN', {
        verdict: undefined,
        owned,
      }),
    ).toBe(true);
    expect((await inject('/v1/services/manual/instances')).json()[0]).toMatchObject({
      status: 'DRAINING',
      checkStatus: 'DOWN',
    });

    // Cleared: the check decides again.
    const cleared = await inject({ method: 'DELETE', url: '/v1/services/manual/instances/m-1/status' });
    expect(cleared.statusCode).toBe(200);
    expect(cleared.json()).toMatchObject({ status: 'DOWN', checkStatus: 'DOWN' });
    expect(cleared.json().manualStatus).toBeUndefined();
    expect(
      await services.registry.writer.setCheckStatus(checker, 'manual', 'm-1', 'UP', {
        verdict: 'DOWN',
        owned,
      }),
    ).toBe(true);
    expect((await inject('/v1/services/manual/instances')).json()[0]).toMatchObject({
      status: 'UP',
      healthy: true,
    });

    // Clearing what was never set writes nothing.
    const untouched = await plain.getData(`/services-${prefix}/manual/m-2`);
    const noop = await inject({ method: 'DELETE', url: '/v1/services/manual/instances/m-2/status' });
    expect(noop.statusCode).toBe(200);
    expect(noop.json()).toMatchObject({ id: 'm-2', status: 'UP' });
    expect((await plain.getData(`/services-${prefix}/manual/m-2`)).stat.version).toBe(untouched.stat.version);

    const bad = await put('/v1/services/manual/instances/m-1/status', { status: 'SLEEPING' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('body.status');
    expect((await put('/v1/services/manual/instances/m-1/status', {})).statusCode).toBe(400);
    const unknown = await put('/v1/services/manual/instances/nope/status', { status: 'UP' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('ZKG_INSTANCE_NOT_FOUND');
  });

  it("keeps picks in the caller's zone and spills over when the zone cannot serve", async () => {
    await put('/v1/services/zoned/instances/za', instance({ zone: 'a' }));
    await put('/v1/services/zoned/instances/zb', instance({ zone: 'b' }));
    for (let i = 0; i < 4; i++) {
      const local = await inject('/v1/dispatch/zoned?zone=a&strategy=round_robin');
      expect(local.json().id).toBe('za');
      expect(local.headers['x-zkgate-zone']).toBe('local');
    }
    const spilled = await inject('/v1/dispatch/zoned?zone=c');
    expect(spilled.headers['x-zkgate-zone']).toBe('spilled');
    expect(['za', 'zb']).toContain(spilled.json().id);
    expect((await inject('/v1/dispatch/zoned')).headers['x-zkgate-zone']).toBe('none');
  });

  it('spreads over every UP instance below the protection threshold, and says so', async () => {
    await put('/v1/services/prot/instances/alive', instance({ ttl: '1h' }));
    for (const id of ['dead-1', 'dead-2', 'dead-3']) {
      await put(`/v1/services/prot/instances/${id}`, instance({ ttl: '1s' }));
      await services.hot.removeLease('prot', id);
    }
    // Grace for a hot store that just started: leases without renewals count after one TTL.
    await expect
      .poll(
        async () =>
          (await inject('/v1/services/prot/instances')).json().filter((i: { healthy: boolean }) => i.healthy)
            .length,
        { timeout: 5_000 },
      )
      .toBe(1);
    const normal = await inject('/v1/dispatch/prot');
    expect(normal.json().id).toBe('alive');
    expect(normal.headers['x-zkgate-protected']).toBe('false');

    const policy = await put('/v1/services/prot', { protectThreshold: 0.5, strategy: 'round_robin' });
    expect(policy.statusCode).toBe(200);
    expect(policy.json()).toMatchObject({ protectThreshold: 0.5, strategy: 'round_robin' });
    const picked = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await inject('/v1/dispatch/prot');
      expect(res.headers['x-zkgate-protected']).toBe('true');
      expect(res.headers['x-zkgate-strategy']).toBe('round_robin');
      picked.add(res.json().id);
    }
    // Every instance still registered was picked, unhealthy ones included. (Under load the reaper
    // may evict a dead one that expired alone, before the others made it a hold.)
    const left = (await inject('/v1/services/prot/instances')).json().map((i: { id: string }) => i.id);
    expect(left).toContain('alive');
    expect(left.length).toBeGreaterThan(1);
    for (const id of left) expect(picked).toContain(id);
    expect((await put('/v1/services/prot', { protectThreshold: 2 })).statusCode).toBe(400);
  });

  it('evicts an instance without heartbeats after ttl plus grace, and keeps one that heartbeats', async () => {
    // Before the registrations: the lease of `quiet` starts after this, however slow they are.
    const registeredAt = Date.now();
    await put('/v1/services/ttl/instances/quiet', instance({ ttl: '1s' }));
    await put('/v1/services/ttl/instances/beating', instance({ ttl: '1s' }));
    const beats = setInterval(() => void put('/v1/services/ttl/instances/beating/heartbeat', {}), 200);
    try {
      await expect
        .poll(
          async () => (await inject('/v1/services/ttl/instances')).json().map((i: { id: string }) => i.id),
          {
            timeout: 10_000,
            interval: 100,
          },
        )
        .toEqual(['beating']);
      // Not before its lease (1 s) and the grace (0.3 s) ran out.
      expect(Date.now() - registeredAt).toBeGreaterThanOrEqual(1_300);
      expect(services.reaper.status()).toMatchObject({ leader: true, evicted: expect.any(Number) });
      expect(await plain.exists(`/services-${prefix}/ttl/quiet`)).toBeNull();
      // Registered together: the one that heartbeats outlived the lease it was registered with.
      expect(await plain.exists(`/services-${prefix}/ttl/beating`)).not.toBeNull();
    } finally {
      clearInterval(beats);
    }
  });
});
