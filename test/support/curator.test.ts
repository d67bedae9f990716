/**
 * The Curator probe against a real ZooKeeper, and what real Curator 5.4 (curator-x-discovery,
 * as Spring Cloud Zookeeper uses it) writes and accepts. The fixtures under `curator/fixtures/`
 * are the JSON Curator wrote here; run with `ZKGATE_RECORD_FIXTURES=1` to record them again.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, StoreError } from '../../src/coordination/errors.js';
import { CreateMode } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import {
  CuratorProbeError,
  startCuratorProbe,
  type CuratorProbe,
  type CuratorRegistration,
} from './curator.js';
import { pollUntil } from './processes.js';
import { startZooKeeper, type ZkStandalone } from './zookeeper.js';

const SPRING_CLASS = 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance';
/** Curator's ServiceInstance fields, in the order Jackson writes them. */
const CURATOR_FIELDS = [
  'name',
  'id',
  'address',
  'port',
  'sslPort',
  'payload',
  'registrationTimeUTC',
  'serviceType',
  'uriSpec',
];
/** How often ZooKeeper deletes empty containers; its default is a minute. */
const CONTAINER_CHECK_MS = 200;
const RECORD = process.env['ZKGATE_RECORD_FIXTURES'] === '1';

type Json = Record<string, unknown>;

function fixtureUrl(name: string): URL {
  return new URL(`./curator/fixtures/${name}.json`, import.meta.url);
}

/**
 * Compares what Curator wrote with a recorded fixture: same keys in the same order, same values,
 * except `registrationTimeUTC` (the clock at registration). Structural, not byte for byte, so a
 * `prettier --write .` over the fixtures does not break it; that Curator writes compact JSON is
 * checked separately.
 */
async function expectFixture(name: string, written: string): Promise<void> {
  if (RECORD) {
    await writeFile(fixtureUrl(name), `${JSON.stringify(JSON.parse(written), null, 2)}\n`);
    return;
  }
  const fixture = JSON.parse(await readFile(fixtureUrl(name), 'utf8')) as Json;
  const live = JSON.parse(written) as Json;
  expect(typeof live['registrationTimeUTC']).toBe('number');
  live['registrationTimeUTC'] = fixture['registrationTimeUTC'];
  expect(JSON.stringify(live)).toBe(JSON.stringify(fixture));
}

/** Creates `path` and its missing ancestors as persistent znodes, as zkgate does. */
async function ensurePath(store: ZooKeeperStore, path: string): Promise<void> {
  let prefix = '';
  for (const segment of path.split('/').slice(1)) {
    prefix += `/${segment}`;
    try {
      await store.create(prefix);
    } catch (error) {
      if (!(error instanceof StoreError && error.code === ErrorCode.NODE_EXISTS)) throw error;
    }
  }
}

/** A ServiceInstance znode as zkgate writes it: Curator's field order, a Spring payload. */
function zkgateInstance(service: string, id: string, extra: Json = {}, payload?: unknown): string {
  return JSON.stringify({
    name: service,
    id,
    address: '10.0.0.5',
    port: 9090,
    sslPort: null,
    payload: payload ?? {
      '@class': SPRING_CLASS,
      id,
      name: service,
      metadata: { zone: 'eu-1', weight: '10' },
    },
    registrationTimeUTC: 1_700_000_000_000,
    serviceType: 'STATIC',
    uriSpec: {
      parts: [
        { value: 'scheme', variable: true },
        { value: '://', variable: false },
        { value: 'address', variable: true },
        { value: ':', variable: false },
        { value: 'port', variable: true },
      ],
    },
    ...extra,
  });
}

function registration(service: string, id: string, more: Partial<CuratorRegistration>): CuratorRegistration {
  return { service, id, address: '127.0.0.1', port: 8081, payload: null, payloadClass: 'none', ...more };
}

describe('Curator probe (curator-x-discovery 5.4) against ZooKeeper', () => {
  let zk: ZkStandalone;
  let store: ZooKeeperStore;
  let curator: CuratorProbe;

  beforeAll(async () => {
    zk = await startZooKeeper({
      jvmProps: { 'znode.container.checkIntervalMs': String(CONTAINER_CHECK_MS) },
    });
    store = await ZooKeeperStore.connect({ connectString: zk.connectString });
    curator = await startCuratorProbe(zk.connectString);
  });

  afterAll(async () => {
    await curator?.close();
    await store?.close();
    await zk?.stop();
  });

  describe('Curator -> znodes', () => {
    it('registers a Spring Cloud Zookeeper instance as an ephemeral znode in Curator JSON', async () => {
      await curator.register(
        registration('orders', 'i-1', {
          port: 8081,
          payloadClass: 'spring',
          payload: { id: 'orders', name: 'orders', metadata: { zone: 'eu-1', weight: '5' } },
          uriSpec: '{scheme}://{address}:{port}',
        }),
      );
      const { data, stat } = await store.getData('/services/orders/i-1');
      // DYNAMIC: owned by the probe's session.
      expect(stat.ephemeralOwner).not.toBe(0n);
      const written = data.toString('utf8');
      // Jackson's default printer: compact, so zkgate may compare bytes it re-serializes the same way.
      expect(written).toBe(JSON.stringify(JSON.parse(written)));
      const json = JSON.parse(written) as Json;
      // The default (compatible-mode) serializer writes no `enabled` field.
      expect(Object.keys(json)).toEqual(CURATOR_FIELDS);
      expect(json).toMatchObject({
        name: 'orders',
        id: 'i-1',
        address: '127.0.0.1',
        port: 8081,
        sslPort: null,
        serviceType: 'DYNAMIC',
        // `@class` comes first: Curator's @JsonTypeInfo(use = CLASS) on getPayload, not Spring's class.
        payload: {
          '@class': SPRING_CLASS,
          id: 'orders',
          name: 'orders',
          metadata: { zone: 'eu-1', weight: '5' },
        },
      });
      expect(Object.keys(json['payload'] as Json)[0]).toBe('@class');
      await expectFixture('spring-payload', written);
    });

    it('creates the service znodes as containers: ZooKeeper deletes them once empty', async () => {
      // creatingParentContainersIfNeeded. The Stat does not tell (ZooKeeper reports a container's
      // ephemeralOwner as 0), so zkgate must expect /services/<service> to vanish under it.
      await curator.register(registration('containers', 'c-1', {}));
      expect((await store.exists('/services/containers'))?.ephemeralOwner).toBe(0n);
      await curator.unregister('containers', 'c-1');
      await pollUntil(
        async () => ((await store.exists('/services/containers')) === null ? true : undefined),
        {
          timeoutMs: 5_000,
          what: 'ZooKeeper to delete the empty container',
        },
      );
    });

    it('writes a Map payload with its Java class and no payload as null', async () => {
      await curator.register(
        registration('fixture-map', 'm-1', {
          port: 8082,
          payloadClass: 'map',
          payload: { zone: 'eu-1', weight: 5, tags: ['a', 'b'] },
        }),
      );
      await curator.register(registration('fixture-none', 'n-1', { port: 8083, sslPort: 8443 }));

      const map = (await store.getData('/services/fixture-map/m-1')).data.toString('utf8');
      expect((JSON.parse(map) as Json)['payload']).toEqual({
        '@class': 'java.util.HashMap',
        zone: 'eu-1',
        weight: 5,
        tags: ['a', 'b'],
      });
      await expectFixture('map-payload', map);

      const none = (await store.getData('/services/fixture-none/n-1')).data.toString('utf8');
      expect(JSON.parse(none)).toMatchObject({ payload: null, sslPort: 8443, uriSpec: null });
      await expectFixture('no-payload', none);
    });

    it('queries what it registered, payloads deserialized', async () => {
      const [spring] = await curator.query('orders', { as: 'spring' });
      expect(spring).toMatchObject({
        id: 'i-1',
        name: 'orders',
        address: '127.0.0.1',
        port: 8081,
        sslPort: null,
        serviceType: 'DYNAMIC',
        enabled: true,
        payloadType: SPRING_CLASS,
        payload: { id: 'orders', name: 'orders', metadata: { zone: 'eu-1', weight: '5' } },
        uri: 'http://127.0.0.1:8081',
      });
      expect(spring?.registrationTimeUTC).toBeGreaterThan(Date.now() - 60_000);
      const [map] = await curator.query('fixture-map', { as: 'map' });
      expect(map).toMatchObject({ payloadType: 'java.util.HashMap', payload: { weight: 5 } });
      const [none] = await curator.query('fixture-none');
      expect(none).toMatchObject({ payload: null, payloadType: null, sslPort: 8443, uri: null });
    });

    it('unregisters: the znode is gone', async () => {
      await curator.register(registration('orders', 'i-gone', { port: 8089 }));
      expect(await store.exists('/services/orders/i-gone')).not.toBeNull();
      await curator.unregister('orders', 'i-gone');
      expect(await store.exists('/services/orders/i-gone')).toBeNull();
    });

    it('reports errors as CuratorProbeError and keeps serving', async () => {
      await expect(curator.unregister('orders', 'never')).rejects.toThrow(CuratorProbeError);
      await expect(curator.register(registration('orders', 'i-1', {}))).rejects.toThrow(/already registered/);
      // An unknown service is an empty list, not an error.
      expect(await curator.query('no-such-service')).toEqual([]);
    });

    it('close() ends the session: its ephemerals vanish at once', async () => {
      const other = await startCuratorProbe(zk.connectString);
      await other.register(registration('closing', 'c-1', { payloadClass: 'spring' }));
      expect(await store.exists('/services/closing/c-1')).not.toBeNull();
      await other.close();
      expect(await store.exists('/services/closing/c-1')).toBeNull();
      await other.close(); // idempotent
    });

    it('kill() leaves the ephemeral until the session times out', async () => {
      const other = await startCuratorProbe(zk.connectString, '/services', { sessionTimeoutMs: 2_000 });
      await other.register(registration('killed', 'k-1', {}));
      await other.kill();
      await expect(other.query('killed')).rejects.toThrow(/closed its connection/);
      expect(await store.exists('/services/killed/k-1')).not.toBeNull();
      await pollUntil(
        async () => ((await store.exists('/services/killed/k-1')) === null ? true : undefined),
        {
          timeoutMs: 10_000,
          what: 'the killed probe session to expire',
        },
      );
      await other.close();
    });
  });

  describe('zkgate-style znodes -> Curator', () => {
    const service = 'zk-orders';
    const base = `/services/${service}`;

    beforeAll(async () => {
      await ensurePath(store, base);
      const variants: [string, Json][] = [
        ['static', {}],
        ['dynamic', { serviceType: 'DYNAMIC' }],
        ['enabled-true', { enabled: true }],
        ['enabled-false', { enabled: false }],
        ['unknown-field', { zkgateVersion: 3 }],
      ];
      for (const [id, extra] of variants) {
        await store.create(
          `${base}/${id}`,
          Buffer.from(zkgateInstance(service, id, extra)),
          CreateMode.PERSISTENT,
        );
      }
    });

    it('reads persistent instances with the Spring payload and its metadata', async () => {
      for (const as of ['object', 'spring'] as const) {
        const instances = await curator.query(service, { as });
        expect(instances.map((i) => i.id).sort()).toEqual([
          'dynamic',
          'enabled-false',
          'enabled-true',
          'static',
          'unknown-field',
        ]);
        for (const instance of instances) {
          expect(instance).toMatchObject({
            name: service,
            address: '10.0.0.5',
            port: 9090,
            payloadType: SPRING_CLASS,
            payload: { id: instance.id, name: service, metadata: { zone: 'eu-1', weight: '10' } },
            registrationTimeUTC: 1_700_000_000_000,
            uri: 'http://10.0.0.5:9090',
          });
        }
      }
    });

    it('takes serviceType and enabled as written: queryForInstances filters on neither', async () => {
      const byId = new Map((await curator.query(service)).map((i) => [i.id, i]));
      // serviceType only picks the CreateMode when Curator itself registers (DYNAMIC: ephemeral).
      expect(byId.get('static')?.serviceType).toBe('STATIC');
      expect(byId.get('dynamic')?.serviceType).toBe('DYNAMIC');
      // Absent means true (ServiceInstance's default); false is returned all the same.
      expect(byId.get('static')?.enabled).toBe(true);
      expect(byId.get('enabled-true')?.enabled).toBe(true);
      expect(byId.get('enabled-false')?.enabled).toBe(false);
    });

    it('fails the whole query of a Spring app when one payload is not a ZookeeperInstance', async () => {
      const path = `${base}/plain-map`;
      // No `@class`: Jackson falls back to a LinkedHashMap, which Spring's serializer cannot cast.
      await store.create(path, Buffer.from(zkgateInstance(service, 'plain-map', {}, { metadata: {} })));
      try {
        await expect(curator.query(service, { as: 'spring' })).rejects.toThrow(/ClassCastException/);
        const lenient = await curator.query(service);
        expect(lenient.find((i) => i.id === 'plain-map')?.payloadType).toBe('java.util.LinkedHashMap');
      } finally {
        await store.delete(path);
      }
    });

    it('fails the whole query for every reader on an unknown serviceType', async () => {
      const path = `${base}/bad-type`;
      await store.create(
        path,
        Buffer.from(zkgateInstance(service, 'bad-type', { serviceType: 'EPHEMERAL' })),
      );
      try {
        await expect(curator.query(service)).rejects.toThrow(/ServiceType/);
      } finally {
        await store.delete(path);
      }
      expect(await curator.query(service)).toHaveLength(5);
    });
  });
});
