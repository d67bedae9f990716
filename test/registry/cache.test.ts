/**
 * The registry cache under what a shared registry does to it: znodes nobody can read, services
 * removed by hand, a session expiry. Embedded store: a second session is the "plain client".
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import { mkdirs } from '../../src/coordination/recipes.js';
import { CreateMode, type CoordinationStore } from '../../src/coordination/store.js';
import { WatchedTree, type CacheChange } from '../../src/coordination/watched-cache.js';
import { RegistryCache, type InstanceChange } from '../../src/registry/cache.js';
import { encodeInstance, type Instance } from '../../src/registry/instance.js';
import { makeTempDir } from '../support/processes.js';

const logger = pino({ level: 'silent' });
const BASE = '/services';

const instance = (service: string, id: string): Instance => ({
  service,
  id,
  address: '10.0.0.1',
  port: 80,
  sslPort: null,
  weight: 100,
  zone: undefined,
  status: 'UP',
  metadata: {},
  ttlMs: undefined,
  registrationTimeUTC: 0,
  serviceType: 'DYNAMIC',
  enabled: true,
});

describe('registry cache', () => {
  let dataDir: string;
  let server: EmbeddedServer;
  let plain: CoordinationStore;
  const trees: Array<WatchedTree<CacheChange>> = [];

  async function replica(wrap: (session: CoordinationStore) => CoordinationStore = (s) => s): Promise<{
    cache: RegistryCache;
    session: CoordinationStore;
    changes: InstanceChange[];
  }> {
    const session = wrap(server.connect());
    const tree = new WatchedTree<CacheChange>(session, logger);
    trees.push(tree);
    const cache = new RegistryCache(tree, BASE, '/zkgate/policies');
    const changes: InstanceChange[] = [];
    cache.onChange((batch) => changes.push(...batch));
    await tree.start(10_000);
    return { cache, session, changes };
  }

  const ids = (cache: RegistryCache, service: string) =>
    [...(cache.service(service)?.instances.keys() ?? [])].sort();

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-registry-cache-');
    server = await EmbeddedServer.open({ dataDir });
    plain = server.connect();
    await mkdirs(plain, BASE);
  });

  afterAll(async () => {
    for (const tree of trees) tree.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('skips instance znodes it cannot read and keeps serving the rest', async () => {
    const { cache } = await replica();
    await mkdirs(plain, `${BASE}/odd`);
    await plain.create(`${BASE}/odd/not-json`, Buffer.from('hello'));
    await plain.create(`${BASE}/odd/no-address`, Buffer.from('{"name":"odd"}'));
    await plain.create(`${BASE}/odd/fine`, encodeInstance(instance('odd', 'fine')));
    await expect.poll(() => ids(cache, 'odd')).toEqual(['fine']);

    // Made readable later: it appears; made unreadable again: it goes, with an event.
    await plain.setData(`${BASE}/odd/not-json`, encodeInstance(instance('odd', 'not-json')));
    await expect.poll(() => ids(cache, 'odd')).toEqual(['fine', 'not-json']);
    await plain.setData(`${BASE}/odd/not-json`, Buffer.from('broken again'));
    await expect.poll(() => ids(cache, 'odd')).toEqual(['fine']);
  });

  it('publishes every change once per instance, in zxid order, down to the removal of the service', async () => {
    const { cache, changes } = await replica();
    await mkdirs(plain, `${BASE}/orders`);
    await plain.create(`${BASE}/orders/a`, encodeInstance(instance('orders', 'a')), CreateMode.EPHEMERAL);
    await plain.create(`${BASE}/orders/b`, encodeInstance(instance('orders', 'b')));
    await expect.poll(() => ids(cache, 'orders')).toEqual(['a', 'b']);
    await plain.setData(`${BASE}/orders/b`, encodeInstance({ ...instance('orders', 'b'), weight: 7 }));
    await expect.poll(() => cache.service('orders')?.instances.get('b')?.instance.weight).toBe(7);
    await plain.delete(`${BASE}/orders/a`);
    await plain.delete(`${BASE}/orders/b`);
    await plain.delete(`${BASE}/orders`);
    await expect.poll(() => cache.service('orders')).toBeUndefined();

    const orders = changes.filter((c) => c.service === 'orders');
    // Each instance's registration, b's update, then both removals: no whole lists.
    expect(orders.map((c) => [c.instanceId, c.entry?.instance.weight ?? 'removed'])).toEqual([
      ['a', 100],
      ['b', 100],
      ['b', 7],
      ['a', 'removed'],
      ['b', 'removed'],
    ]);
    const zxids = orders.map((c) => c.id);
    expect([...zxids].sort((x, y) => (x < y ? -1 : 1))).toEqual(zxids);
    expect(cache.service('orders')).toBeUndefined();
  });

  it('loads a large registry whole with a bounded number of reads in flight', async () => {
    const services = ['bulk-a', 'bulk-b', 'bulk-c'];
    for (const service of services) {
      await mkdirs(plain, `${BASE}/${service}`);
      const ops = Array.from({ length: 400 }, (_, k) => ({
        op: 'create' as const,
        path: `${BASE}/${service}/i-${k}`,
        data: encodeInstance(instance(service, `i-${k}`)),
      }));
      await plain.multi(ops);
    }
    // A session that counts the reads it has in flight at once.
    const session = server.connect();
    let inFlight = 0;
    let most = 0;
    const counted = new Proxy(session, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (property !== 'getData' || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          most = Math.max(most, ++inFlight);
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            inFlight--;
          }
        };
      },
    });
    const tree = new WatchedTree<CacheChange>(counted, logger);
    trees.push(tree);
    const cache = new RegistryCache(tree, BASE, '/zkgate/policies');
    await tree.start(30_000);
    for (const service of services) expect(cache.service(service)?.instances.size).toBe(400);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(256);
  });

  it('reads everything again after its session expires, missing nothing that changed meanwhile', async () => {
    const { cache, session } = await replica();
    await mkdirs(plain, `${BASE}/expiry`);
    await plain.create(`${BASE}/expiry/before`, encodeInstance(instance('expiry', 'before')));
    await expect.poll(() => ids(cache, 'expiry')).toEqual(['before']);

    await server.expireSession(session.sessionId);
    await plain.create(`${BASE}/expiry/during`, encodeInstance(instance('expiry', 'during')));
    await plain.delete(`${BASE}/expiry/before`);
    await expect.poll(() => ids(cache, 'expiry'), { timeout: 10_000 }).toEqual(['during']);
    await expect.poll(() => cache.ready).toBe(true);
  });

  it('publishes no instance that was read, then deleted while its session expired, before it was published', async () => {
    // The read of one instance is held, and with it the publication of everything read after it.
    const held = `${BASE}/ghost/slow`;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let readHeld = false;
    let fastRead = false;
    const { cache, session, changes } = await replica(
      (store) =>
        new Proxy(store, {
          get(target, key, receiver) {
            if (key !== 'getData') return Reflect.get(target, key, receiver) as unknown;
            return async (path: string, watcher?: Parameters<CoordinationStore['getData']>[1]) => {
              if (path === held) {
                readHeld = true;
                await gate;
              }
              const node = await target.getData(path, watcher);
              if (path === `${BASE}/ghost/fast`) fastRead = true;
              return node;
            };
          },
        }),
    );
    await mkdirs(plain, `${BASE}/ghost`);
    await plain.create(`${BASE}/ghost/a`, encodeInstance(instance('ghost', 'a')));
    await expect.poll(() => ids(cache, 'ghost')).toEqual(['a']);
    await plain.create(held, encodeInstance(instance('ghost', 'slow')));
    await plain.create(`${BASE}/ghost/fast`, encodeInstance(instance('ghost', 'fast')));
    await expect.poll(() => readHeld).toBe(true);
    // `fast` read (its getData is not held) and staged, unpublished behind `slow`'s read.
    await expect.poll(() => fastRead).toBe(true);
    expect(ids(cache, 'ghost')).toEqual(['a']);

    // Deleted while the session is expired: its watches are gone, and the first listing to miss
    // it is the one after the resync.
    const expired = server.expireSession(session.sessionId);
    await plain.delete(`${BASE}/ghost/fast`);
    await expired;
    release();
    await expect.poll(() => ids(cache, 'ghost'), { timeout: 10_000 }).toEqual(['a', 'slow']);
    await expect.poll(() => cache.ready).toBe(true);
    expect(changes.filter((c) => c.service === 'ghost' && c.instanceId === 'fast' && c.entry)).toEqual([]);
  });
});
