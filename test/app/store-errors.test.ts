/**
 * Storage failures reach clients in the API's terms: a domain code, and a detail naming what the
 * client asked about, never a znode path or a ZooKeeper conflict code. Over HTTP where the store
 * can be made to refuse (a child znode, an ACL); at the service where a writer must race (a store
 * wrapper plays the concurrent writer).
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemActor } from '../../src/acl/actor.js';
import { AclService } from '../../src/acl/store.js';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import { Perms, type CoordinationStore, type Op } from '../../src/coordination/store.js';
import { WatchedTree, type CacheChange } from '../../src/coordination/watched-cache.js';
import { toZkgError } from '../../src/errors.js';
import { MemoryHotStore } from '../../src/hotstore/memory.js';
import { Metrics } from '../../src/monitor/metrics.js';
import { Holds } from '../../src/registry/holds.js';
import { Registry } from '../../src/registry/registry.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { makeTempDir } from '../support/processes.js';

const logger = pino({ level: 'silent' });
const actor = systemActor('store errors test');
/** Anything that looks like a znode path of zkgate's or Curator's trees. */
const ZNODE_PATH = /\/(zkgate|services)\b/;

describe('storage failures over HTTP', () => {
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('answers a deregistration of an instance with child znodes with an instance code', async () => {
    const url = '/v1/services/orders/instances/orders-1';
    const registered = await gateway.inject({
      method: 'PUT',
      url,
      payload: { address: '10.0.0.1', port: 8080 },
    });
    expect(registered.statusCode).toBe(201);
    // What some other ZooKeeper client keeps under the instance.
    await gateway.services.store.create('/services/orders/orders-1/lock');

    const res = await gateway.inject({ method: 'DELETE', url });
    expect(res.statusCode).toBe(409);
    const problem = res.json() as { code: string; detail: string };
    expect(problem.code).toBe('ZKG_INSTANCE_HAS_CHILDREN');
    expect(problem.detail).toContain('instance orders-1 of service orders');
    expect(problem.detail).not.toMatch(ZNODE_PATH);
  });

  it("says the gateway's ZooKeeper identity lacks access, naming the namespace and no znode", async () => {
    const url = '/v1/config/team/app';
    const put = (limit: number) =>
      gateway.inject({
        method: 'PUT',
        url,
        payload: JSON.stringify({ limit }),
        headers: { 'content-type': 'application/json' },
      });
    expect((await put(1)).statusCode).toBe(201);
    // An operator's ACL leaves the document readable only.
    await gateway.services.store.setACL('/zkgate/config/team/app', [
      { perms: Perms.READ, scheme: 'world', id: 'anyone' },
    ]);

    const res = await put(2);
    expect(res.statusCode).toBe(500);
    const problem = res.json() as { code: string; detail: string };
    expect(problem.code).toBe('ZKG_STORE_REJECTED');
    expect(problem.detail).toContain("refuses the gateway's identity access to namespace team/app");
    expect(problem.detail).not.toMatch(ZNODE_PATH);
  });
});

describe('storage races at the service boundary', () => {
  let dataDir: string;
  let server: EmbeddedServer;
  let raw: CoordinationStore;
  const trees: WatchedTree<CacheChange>[] = [];
  /** Run before each `multi` of the wrapped session: the concurrent writer. */
  let beforeMulti: ((ops: readonly Op[]) => Promise<void>) | undefined;

  /** A session whose every `multi` runs after `beforeMulti`. */
  function racedSession(): CoordinationStore {
    const session = server.connect();
    return new Proxy(session, {
      get(target, prop) {
        if (prop === 'multi') {
          return async (ops: readonly Op[]) => {
            await beforeMulti?.(ops);
            return target.multi(ops);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  async function started(tree: WatchedTree<CacheChange>): Promise<void> {
    trees.push(tree);
    await tree.start(10_000);
  }

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-store-errors-');
    server = await EmbeddedServer.open({ dataDir });
    raw = server.connect();
  });

  afterEach(() => {
    beforeMulti = undefined;
    vi.useRealTimers();
  });

  afterAll(async () => {
    for (const tree of trees) tree.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('a registry write contended past its retry budget', () => {
    let registry: Registry;

    beforeAll(async () => {
      const session = racedSession();
      const tree = new WatchedTree<CacheChange>(session, logger);
      registry = new Registry(session, new MemoryHotStore(), {
        tree,
        holds: new Holds(session, '/zkgate', logger),
        servicesPath: '/services',
        root: '/zkgate',
        defaultTtlMs: 30_000,
        protectThreshold: 0,
        zoneMinHealthyShare: 0,
        leaseRefreshMs: 0,
        logger,
        metrics: new Metrics(),
      });
      await registry.start();
      await started(tree);
      await registry.writer.register(actor, 'orders', 'orders-1', { address: '10.0.0.1', port: 8080 });
      await registry.writer.setPolicy(actor, 'orders', { strategy: 'random' });
    });

    beforeEach(() => {
      // Every attempt loses to another writer of the same znode, and outlasts the whole budget.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      beforeMulti = async (ops) => {
        const { path } = ops[0]!;
        await raw.setData(path, (await raw.getData(path)).data);
        vi.setSystemTime(Date.now() + 11_000);
      };
    });

    it.each([
      [
        'register',
        'instance orders-1 of service orders',
        () => registry.writer.register(actor, 'orders', 'orders-1', { address: '10.0.0.2', port: 8080 }),
      ],
      [
        'set a status',
        'instance orders-1 of service orders',
        () => registry.writer.setStatus(actor, 'orders', 'orders-1', 'DOWN'),
      ],
      [
        'deregister',
        'instance orders-1 of service orders',
        () => registry.writer.deregister(actor, 'orders', 'orders-1'),
      ],
      [
        'set a policy',
        'the dispatch policy of service orders',
        () => registry.writer.setPolicy(actor, 'orders', { strategy: 'round_robin' }),
      ],
    ])('%s: 503 ZKG_WRITE_CONTENDED with Retry-After', async (_write, resource, write) => {
      const error = toZkgError(
        await write().then(
          () => undefined,
          (err: unknown) => err,
        ),
      );
      expect(error).toMatchObject({ code: 'ZKG_WRITE_CONTENDED', status: 503, retryAfter: 1 });
      expect(error.message).toBe(`${resource} kept changing under this write`);
    });
  });

  it('deletes a policy that changed between its read and its delete, not answering a version conflict', async () => {
    const session = racedSession();
    const tree = new WatchedTree<CacheChange>(session, logger);
    const acl = new AclService(tree, '/zkgate');
    await acl.start();
    await started(tree);
    await acl.putPolicy(actor, { name: 'deployers', rules: { config: { 'prod/': ['read'] } } });
    let raced = false;
    beforeMulti = async (ops) => {
      if (raced || ops[0]?.op !== 'delete') return;
      raced = true;
      // Another replica replaces it after this one read its version.
      await raw.setData(ops[0].path, Buffer.from(JSON.stringify({ name: 'deployers', rules: {} })));
    };

    await acl.deletePolicy(actor, 'deployers');
    expect(raced).toBe(true);
    expect(await raw.exists('/zkgate/acl/policies/deployers')).toBeNull();
    expect(acl.cache.policy('deployers')).toBeUndefined();
  });
});
