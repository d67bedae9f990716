/**
 * One registry shared by Java apps and HTTP clients: real Curator service discovery (as Spring
 * Cloud Zookeeper uses it) against the same ZooKeeper as two gateway replicas. Also the registry
 * over SSE (`/v1/watch?service=`), resumed on the other replica.
 *
 * ZooKeeper only: Curator speaks ZooKeeper's wire protocol, which the embedded store does not
 * serve. Empty service znodes are containers that ZooKeeper removes on its own schedule; the
 * server here checks every 200 ms so that removal is exercised too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCuratorProbe, type CuratorProbe } from '../support/curator.js';
import { openSse, type ReceivedEvent, type SseClient } from '../support/sse-client.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const SPRING_CLASS = 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance';

type Gateway = InProcessGateway;

interface ListedInstance {
  id: string;
  address: string;
  port: number;
  liveness: string;
  healthy: boolean;
  zone?: string;
  metadata: Record<string, string>;
}

interface InstancesEvent {
  service: string;
  index: string;
  instances: ListedInstance[];
}

// Replicas of one registry share one hot store.
const gateway = (zk: ZkStandalone, redis: RedisServer) =>
  startInProcessGateway({ ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url });

async function list(g: Gateway, service: string): Promise<ListedInstance[]> {
  const res = await fetch(`${g.url}/v1/services/${service}/instances`, { headers: MANAGEMENT });
  if (res.status === 404) return [];
  expect(res.status).toBe(200);
  return (await res.json()) as ListedInstance[];
}

const ids = (instances: ListedInstance[]) => instances.map((i) => i.id);
const payload = (e: ReceivedEvent) => JSON.parse(e.data) as InstancesEvent;

describe('Curator and HTTP clients on one registry', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;
  const probes: CuratorProbe[] = [];
  const clients: SseClient[] = [];

  beforeAll(async () => {
    [zk, redis] = await Promise.all([
      startZooKeeper({ jvmProps: { 'znode.container.checkIntervalMs': '200' } }),
      startRedis(),
    ]);
    [a, b] = await Promise.all([gateway(zk, redis), gateway(zk, redis)]);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(probes.map((p) => p.close().catch(() => undefined)));
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  const curator = async () => {
    const probe = await startCuratorProbe(zk.connectString);
    probes.push(probe);
    return probe;
  };

  it('lists an instance Curator registers within a second, and drops it within a second of the client closing', async () => {
    const probe = await curator();
    await probe.register({
      service: 'inventory',
      id: 'spring-1',
      address: '10.1.0.5',
      port: 8443,
      payloadClass: 'spring',
      payload: { id: 'inventory', name: 'inventory', metadata: { zone: 'eu-1a', build: '77' } },
    });
    const registered = Date.now();
    await expect
      .poll(async () => ids(await list(a, 'inventory')), { timeout: 1_000, interval: 20 })
      .toEqual(['spring-1']);
    await expect
      .poll(async () => ids(await list(b, 'inventory')), { timeout: 1_000, interval: 20 })
      .toEqual(['spring-1']);
    expect(Date.now() - registered).toBeLessThan(1_000);

    const [listed] = await list(a, 'inventory');
    expect(listed).toMatchObject({
      address: '10.1.0.5',
      port: 8443,
      liveness: 'session',
      healthy: true,
      zone: 'eu-1a',
      metadata: { build: '77' },
    });
    const picked = await fetch(`${a.url}/v1/dispatch/inventory`, { headers: MANAGEMENT });
    expect(((await picked.json()) as ListedInstance).id).toBe('spring-1');
    // Its liveness is its session: there is no lease to renew.
    const beat = await fetch(`${a.url}/v1/services/inventory/instances/spring-1/heartbeat`, {
      method: 'PUT',
      headers: MANAGEMENT,
    });
    expect(beat.status).toBe(409);
    expect(((await beat.json()) as { code: string }).code).toBe('ZKG_INSTANCE_SESSION_BOUND');
    // Nor can an HTTP registration take over its id.
    const takeOver = await fetch(`${a.url}/v1/services/inventory/instances/spring-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
      body: JSON.stringify({ address: '10.9.9.9', port: 1 }),
    });
    expect(takeOver.status).toBe(409);

    await probe.close();
    const closed = Date.now();
    await expect
      .poll(async () => ids(await list(a, 'inventory')), { timeout: 1_000, interval: 20 })
      .toEqual([]);
    await expect
      .poll(async () => ids(await list(b, 'inventory')), { timeout: 1_000, interval: 20 })
      .toEqual([]);
    expect(Date.now() - closed).toBeLessThan(1_000);
  });

  it('lists instances with any payload Curator writes: a map, or none', async () => {
    const probe = await curator();
    await probe.register({
      service: 'mixed',
      id: 'map-1',
      address: '10.1.0.6',
      port: 9000,
      payloadClass: 'map',
      payload: { zone: 'b', owner: 'team-x' },
    });
    await probe.register({
      service: 'mixed',
      id: 'none-1',
      address: '10.1.0.7',
      port: 9001,
      serviceType: 'STATIC',
      payloadClass: 'none',
      payload: null,
    });
    await expect.poll(async () => ids(await list(a, 'mixed'))).toEqual(['map-1', 'none-1']);
    const [map, none] = await list(a, 'mixed');
    expect(map).toMatchObject({ zone: 'b', metadata: { owner: 'team-x' }, liveness: 'session' });
    // A STATIC Curator registration is persistent, without a zkgate lease: session liveness too.
    expect(none).toMatchObject({ metadata: {}, liveness: 'session', healthy: true });
    await probe.unregister('mixed', 'map-1');
    await probe.unregister('mixed', 'none-1');
    await expect.poll(async () => ids(await list(a, 'mixed'))).toEqual([]);
  });

  it("returns an HTTP registration from Curator's queryForInstances with its metadata", async () => {
    const res = await fetch(`${a.url}/v1/services/billing/instances/http-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
      body: JSON.stringify({
        address: '10.2.0.9',
        port: 7070,
        weight: 30,
        zone: 'eu-1b',
        metadata: { version: '2.4.1', owner: 'payments' },
      }),
    });
    expect(res.status).toBe(201);
    const probe = await curator();
    for (const as of ['spring', 'object'] as const) {
      const [found, ...rest] = await probe.query('billing', { as });
      expect(rest).toEqual([]);
      expect(found).toMatchObject({
        id: 'http-1',
        name: 'billing',
        address: '10.2.0.9',
        port: 7070,
        enabled: true,
      });
      expect(found!.uri).toBe('http://10.2.0.9:7070');
      if (as === 'spring') {
        expect(found!.payloadType).toBe(SPRING_CLASS);
        expect(found!.payload).toMatchObject({
          id: 'http-1',
          name: 'billing',
          metadata: {
            version: '2.4.1',
            owner: 'payments',
            zone: 'eu-1b',
            instance_status: 'UP',
            'zkgate.weight': '30',
          },
        });
      }
    }
  });

  it('pushes instance lists over SSE and resumes on the other replica without missing a change', async () => {
    const watch = async (g: Gateway, headers: Record<string, string> = {}) => {
      const client = await openSse(`${g.url}/v1/watch?service=catalog&ns=catalog/settings`, {
        ...MANAGEMENT,
        ...headers,
      });
      clients.push(client);
      return client;
    };
    const register = (g: Gateway, id: string) =>
      fetch(`${g.url}/v1/services/catalog/instances/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...MANAGEMENT },
        body: JSON.stringify({ address: '10.3.0.1', port: 8000 }),
      });

    const first = await watch(a);
    expect(first.status).toBe(200);
    const initial = await first.next();
    // Not registered yet: the list is empty, not missing.
    expect(initial.event).toBe('instances');
    expect(payload(initial)).toMatchObject({ service: 'catalog', instances: [] });

    expect((await register(a, 'c-1')).status).toBe(201);
    // Then one event per instance changed, not the whole list again.
    const added = await first.next();
    expect(added.event).toBe('instance');
    expect(JSON.parse(added.data)).toMatchObject({
      service: 'catalog',
      instance: { id: 'c-1', healthy: true },
    });
    expect(BigInt(added.id!)).toBeGreaterThan(BigInt(initial.id!));

    // A Curator app joins the same service: pushed like any other change.
    const probe = await curator();
    await probe.register({
      service: 'catalog',
      id: 'c-java',
      address: '10.3.0.2',
      port: 8000,
      payloadClass: 'spring',
      payload: null,
    });
    const joined = await first.next();
    expect(joined.event).toBe('instance');
    expect(JSON.parse(joined.data)).toMatchObject({ instance: { id: 'c-java', liveness: 'session' } });
    first.close();

    // Missed while disconnected: a config publish, a registration, a deregistration.
    await fetch(`${a.url}/v1/config/catalog/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
      body: '{"pageSize":50}',
    });
    expect((await register(a, 'c-2')).status).toBe(201);
    await probe.close();

    // Resumed on replica B from the last id seen on A: what changed of each namespace, once, and
    // the whole list of each service (its lease changes have no zxid to resume from).
    const resumed = await watch(b, { 'last-event-id': joined.id! });
    const events: ReceivedEvent[] = [];
    await expect
      .poll(async () => {
        events.push(...resumed.events.splice(0));
        const list = events.find((e) => e.event === 'instances');
        return list ? ids(payload(list).instances) : undefined;
      })
      .toEqual(['c-1', 'c-2']);
    expect(events.filter((e) => e.event === 'instances')).toHaveLength(1);
    expect(events.filter((e) => e.event === 'config')).toHaveLength(1);
    const eventIds = events.map((e) => BigInt(e.id!));
    expect(eventIds.every((id) => id > BigInt(joined.id!))).toBe(true);
    expect([...eventIds].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(eventIds);
  });
});
