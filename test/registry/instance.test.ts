/**
 * The instance codec against what Curator really writes (fixtures recorded from Curator 5.4) and
 * against what Curator and Spring really read (the Curator probe on a real ZooKeeper).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { mkdirs } from '../../src/coordination/recipes.js';
import {
  decodeInstance,
  effectiveStatus,
  encodeInstance,
  InstanceFormatError,
  SPRING_PAYLOAD_CLASS,
  type Instance,
} from '../../src/registry/instance.js';
import { startCuratorProbe, type CuratorProbe } from '../support/curator.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`../support/curator/fixtures/${name}.json`, import.meta.url));

const instance: Instance = {
  service: 'orders',
  id: 'i-7',
  address: '10.0.0.7',
  port: 8080,
  sslPort: null,
  weight: 250,
  zone: 'eu-1',
  status: 'UP',
  metadata: { version: '1.4.2', team: 'payments' },
  ttlMs: 30_000,
  registrationTimeUTC: 1_700_000_000_000,
  serviceType: 'STATIC',
  enabled: true,
};

describe('instance codec', () => {
  it('reads a Spring payload as Curator wrote it', () => {
    const read = decodeInstance('orders', 'i-1', fixture('spring-payload'));
    expect(read).toMatchObject({
      address: '127.0.0.1',
      port: 8081,
      sslPort: null,
      zone: 'eu-1',
      status: 'UP',
      weight: 100,
      metadata: { weight: '5' },
      serviceType: 'DYNAMIC',
      enabled: true,
      ttlMs: undefined,
    });
  });

  it('reads a Map payload and no payload', () => {
    const map = decodeInstance('fixture-map', 'm-1', fixture('map-payload'));
    expect(map).toMatchObject({ port: 8082, zone: 'eu-1', metadata: { weight: '5' } });
    expect(map.metadata).not.toHaveProperty('tags');
    const none = decodeInstance('fixture-none', 'n-1', fixture('no-payload'));
    expect(none).toMatchObject({ port: 8083, sslPort: 8443, metadata: {}, zone: undefined, status: 'UP' });
  });

  it('writes Curator JSON, in its field order, with the Spring payload', () => {
    const json = JSON.parse(encodeInstance(instance).toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(
      Object.keys(JSON.parse(fixture('spring-payload').toString('utf8')) as Record<string, unknown>),
    );
    expect(json.payload).toEqual({
      '@class': SPRING_PAYLOAD_CLASS,
      id: 'i-7',
      name: 'orders',
      metadata: {
        version: '1.4.2',
        team: 'payments',
        'zkgate.weight': '250',
        'zkgate.status': 'UP',
        instance_status: 'UP',
        zone: 'eu-1',
        'zkgate.ttl': '30000',
      },
    });
    expect(decodeInstance('orders', 'i-7', encodeInstance(instance))).toEqual(instance);
  });

  it('maps statuses both ways, Spring and Curator included', () => {
    for (const status of ['UP', 'DOWN', 'DRAINING'] as const) {
      expect(decodeInstance('s', 'i', encodeInstance({ ...instance, status })).status).toBe(status);
    }
    const spring = (meta: Record<string, string>, extra: Record<string, unknown> = {}) =>
      Buffer.from(
        JSON.stringify({
          address: 'h',
          port: 1,
          payload: { '@class': SPRING_PAYLOAD_CLASS, metadata: meta },
          ...extra,
        }),
      );
    expect(decodeInstance('s', 'i', spring({ instance_status: 'OUT_OF_SERVICE' })).status).toBe('DOWN');
    expect(decodeInstance('s', 'i', spring({}, { enabled: false })).status).toBe('DOWN');
    expect(decodeInstance('s', 'i', spring({ 'zkgate.weight': '5000' })).weight).toBe(100);
    const disabled = decodeInstance('s', 'i', encodeInstance({ ...instance, enabled: false }));
    expect(disabled.enabled).toBe(false);
  });

  it('keeps the manual status and the check verdict apart; the manual one wins', () => {
    const cases = [
      { manualStatus: undefined, checkStatus: 'DOWN', status: 'DOWN' },
      { manualStatus: 'DRAINING', checkStatus: 'DOWN', status: 'DRAINING' },
      { manualStatus: 'UP', checkStatus: 'DOWN', status: 'UP' },
      { manualStatus: 'DOWN', checkStatus: 'UP', status: 'DOWN' },
      { manualStatus: undefined, checkStatus: 'UP', status: 'UP' },
    ] as const;
    for (const { manualStatus, checkStatus, status } of cases) {
      const written: Instance = {
        ...instance,
        status: effectiveStatus(manualStatus, checkStatus),
        ...(manualStatus === undefined ? {} : { manualStatus }),
        checkStatus,
      };
      const read = decodeInstance('orders', 'i-7', encodeInstance(written));
      expect(read).toEqual(written);
      expect(read.status).toBe(status);
    }
    // Hand-edited values are ignored rather than trusted.
    const edited = JSON.parse(encodeInstance(instance).toString()) as {
      payload: { metadata: Record<string, string> };
    };
    edited.payload.metadata['zkgate.status.manual'] = 'MAYBE';
    edited.payload.metadata['zkgate.status.check'] = 'DRAINING';
    const read = decodeInstance('s', 'i', Buffer.from(JSON.stringify(edited)));
    expect(read).toMatchObject({ status: 'UP' });
    expect(read.manualStatus).toBeUndefined();
    expect(read.checkStatus).toBeUndefined();
  });

  it('ignores a check out of the bounds the API enforces, whoever wrote it', () => {
    const check = { http: { path: '/health' }, intervalMs: 5000, timeoutMs: 1000, rise: 2, fall: 3 };
    const withCheck = (value: unknown) => {
      const json = JSON.parse(encodeInstance(instance).toString()) as {
        payload: { metadata: Record<string, string> };
      };
      json.payload.metadata['zkgate.check'] = JSON.stringify(value);
      return decodeInstance('s', 'i', Buffer.from(JSON.stringify(json))).check;
    };
    expect(withCheck(check)).toEqual(check);
    expect(withCheck({ ...check, intervalMs: 1 })).toBeUndefined();
    expect(withCheck({ ...check, timeoutMs: 10_000 })).toBeUndefined();
    expect(withCheck({ ...check, rise: 1000 })).toBeUndefined();
    // A path that would move the probe to another host.
    expect(withCheck({ ...check, http: { path: '@evil.example/x' } })).toBeUndefined();
    expect(withCheck({ ...check, http: { path: '/ok', expectStatus: 42 } })).toBeUndefined();
    expect(withCheck({ tcp: true, intervalMs: 1000, timeoutMs: 100, rise: 1, fall: 1 })).toMatchObject({
      tcp: true,
    });
  });

  it('refuses data it cannot read, with the reason', () => {
    expect(() => decodeInstance('s', 'i', Buffer.from('not json'))).toThrow(InstanceFormatError);
    expect(() => decodeInstance('s', 'i', Buffer.from('{"port":1}'))).toThrow(/no address/);
  });
});

describe('instances written by zkgate, read by Curator and Spring', () => {
  let zk: ZkStandalone;
  let store: ZooKeeperStore;
  let probe: CuratorProbe;

  beforeAll(async () => {
    zk = await startZooKeeper();
    store = await ZooKeeperStore.connect({ connectString: zk.connectString });
    probe = await startCuratorProbe(zk.connectString);
  });

  afterAll(async () => {
    await probe?.close();
    await store?.close();
    await zk?.stop();
  });

  it('are returned by queryForInstances with their metadata, as Spring reads them', async () => {
    await mkdirs(store, '/services/orders');
    await store.create('/services/orders/i-7', encodeInstance(instance));
    const [read] = await probe.query('orders', { as: 'spring' });
    expect(read).toMatchObject({ id: 'i-7', name: 'orders', address: '10.0.0.7', port: 8080, enabled: true });
    expect(read?.payloadType).toBe(SPRING_PAYLOAD_CLASS);
    expect(read?.payload).toMatchObject({
      metadata: { version: '1.4.2', zone: 'eu-1', instance_status: 'UP' },
    });
    expect(read?.uri).toBe('http://10.0.0.7:8080');
  });

  it('read back what Curator registers', async () => {
    await probe.register({
      service: 'billing',
      id: 'b-1',
      address: '127.0.0.1',
      port: 9000,
      payload: { id: 'b-1', name: 'billing', metadata: { zone: 'us-2' } },
      payloadClass: 'spring',
    });
    const { data, stat } = await store.getData('/services/billing/b-1');
    expect(stat.ephemeralOwner).not.toBe(0n);
    expect(decodeInstance('billing', 'b-1', data)).toMatchObject({
      address: '127.0.0.1',
      port: 9000,
      zone: 'us-2',
    });
  });
});
