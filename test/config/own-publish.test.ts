/**
 * A replica publishes what it wrote itself from the write's own answer, without waiting for its
 * watch and the re-read (WatchedTree.publishOwn): its watchers hear the write once, in zxid order
 * with other replicas' changes, and a resume on any replica still gets every change once.
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/acl/actor.js';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import type { CoordinationStore, Watcher } from '../../src/coordination/store.js';
import { WatchedTree, type CacheChange } from '../../src/coordination/watched-cache.js';
import type { ConfigChange } from '../../src/config/cache.js';
import { ConfigService } from '../../src/config/service.js';
import { Metrics } from '../../src/monitor/metrics.js';
import { makeTempDir } from '../support/processes.js';
import { openSse, type ReceivedEvent, type SseClient } from '../support/sse-client.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const logger = pino({ level: 'silent' });
const actor = systemActor('test');
const doc = (value: unknown) => ({ body: Buffer.from(JSON.stringify(value)), format: 'json' as const });

/**
 * A session whose watch notifications are held back while `held` (delivered on `release`), and
 * whose next getData of a path can be read at once but answered only when the test says.
 */
function holdingWatches(session: CoordinationStore): {
  store: CoordinationStore;
  holdAnswer(path: string): { reached: Promise<void>; release(): void };
  hold(): void;
  release(): void;
} {
  let held = false;
  const pending: Array<() => void> = [];
  const holds = new Map<string, { reached: () => void; answered: Promise<void> }>();
  const wrap = (watcher: Watcher | undefined): Watcher | undefined =>
    watcher &&
    ((event) => {
      if (held) pending.push(() => watcher(event));
      else watcher(event);
    });
  const store = new Proxy(session, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property === 'getData' || property === 'exists' || property === 'getChildren') {
        const read = value as (path: string, watcher?: Watcher) => Promise<unknown>;
        return async (path: string, watcher?: Watcher) => {
          const answer = read.call(target, path, wrap(watcher));
          const hold = property === 'getData' ? holds.get(path) : undefined;
          if (!hold) return answer;
          // Read now, answered later: a response still on its way when other things happen.
          holds.delete(path);
          hold.reached();
          await hold.answered;
          return answer;
        };
      }
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    store,
    holdAnswer: (path: string) => {
      let reached: () => void = () => undefined;
      let release: () => void = () => undefined;
      const answered = new Promise<void>((resolve) => (release = resolve));
      holds.set(path, { reached: () => reached(), answered });
      return {
        reached: new Promise<void>((resolve) => (reached = resolve)),
        release,
      };
    },
    hold: () => (held = true),
    release: () => {
      held = false;
      for (const deliver of pending.splice(0)) deliver();
    },
  };
}

describe('own publishes, embedded store', () => {
  let dataDir: string;
  let server: EmbeddedServer;
  const closing: Array<{ close(): void }> = [];

  async function replica(
    session: CoordinationStore,
  ): Promise<{ service: ConfigService; tree: WatchedTree<CacheChange> }> {
    const tree = new WatchedTree<CacheChange>(session, logger);
    const service = new ConfigService(session, {
      tree,
      leadership: { isLeader: false, onChange: () => () => undefined },
      root: '/zkgate',
      maxBytes: 100_000,
      historyLimit: 10,
      tombstoneRetentionMs: 60_000,
      logger,
      metrics: new Metrics(),
    });
    closing.push(service, tree);
    await service.start();
    await tree.start(10_000);
    return { service, tree };
  }

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-own-publish-');
    server = await EmbeddedServer.open({ dataDir });
  });

  afterAll(async () => {
    for (const c of closing) c.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('publishes a write before its own watch fires, and once when the watch re-reads it', async () => {
    const session = holdingWatches(server.connect());
    const writer = await replica(session.store);
    const other = await replica(server.connect());
    await writer.service.publish(actor, 'own/x', doc({ v: 1 }));
    await writer.service.publish(actor, 'own/create', doc({ v: 1 }));
    const heard: ConfigChange[] = [];
    writer.service.cache.onChange((changes) => heard.push(...changes));

    session.hold();
    // Without its watch the write could only be acknowledged after ACK_WAIT_MS, and unpublished.
    const started = Date.now();
    const { index, version } = await writer.service.publish(actor, 'own/x', doc({ v: 2 }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(writer.tree.watermark).toBeGreaterThanOrEqual(index);
    expect(writer.service.get('own/x')).toMatchObject({ version, index, data: Buffer.from('{"v":2}') });
    expect(heard).toEqual([expect.objectContaining({ kind: 'config', id: index })]);

    session.release();
    // Another replica's later change is published here only once the watch's re-read of own/x is
    // done (its load holds the bound below this change): then nothing else may have been sent.
    const later = await other.service.publish(actor, 'own/y', doc({ v: 1 }));
    await writer.tree.waitFor(later.index, 5_000);
    expect(heard.map((c) => c.id)).toEqual([index, later.index]);
    expect(writer.service.get('own/x')).toMatchObject({ version, index });
  });

  it('keeps its own publish when a load that read before it answers after it', async () => {
    const session = holdingWatches(server.connect());
    const writer = await replica(session.store);
    const other = await replica(server.connect());
    const ns = 'race/x';
    await writer.service.publish(actor, ns, doc({ v: 1 }));
    const heard: ConfigChange[] = [];
    writer.service.cache.onChange((changes) => heard.push(...changes));

    // Another replica deletes the namespace; the writer's load of it reads the tombstone, and that
    // answer is held back.
    const tombstone = session.holdAnswer(writer.service.layout.tombstoneOf(ns));
    await other.service.delete(actor, ns);
    await tombstone.reached;
    // The writer creates it again: published at once, while that load is still in flight.
    const own = await writer.service.publish(actor, ns, doc({ v: 2 }));
    expect(writer.service.get(ns)).toMatchObject({ index: own.index });

    // The stale answer arrives; the load reads again, and that read is held back too, so that a
    // batch (the next own publish) falls between the stale answer and the fresh one.
    const reread = session.holdAnswer(writer.service.layout.metaOf(ns));
    let flushed: () => void = () => undefined;
    const batch = new Promise<void>((resolve) => (flushed = resolve));
    const publishOwn = writer.tree.publishOwn.bind(writer.tree);
    writer.tree.publishOwn = (key, zxid, stage) => {
      publishOwn(key, zxid, stage);
      flushed();
    };
    tombstone.release();
    await reread.reached;
    const next = writer.service.publish(actor, 'race/y', doc({ v: 1 }));
    await batch;
    expect(writer.service.get(ns)).toMatchObject({ index: own.index });
    reread.release();
    await next;

    expect(writer.service.get(ns)).toMatchObject({ index: own.index, data: Buffer.from('{"v":2}') });
    expect(heard.filter((c) => c.kind === 'deleted' || c.entry.namespace === ns)).toEqual([
      expect.objectContaining({ kind: 'config', id: own.index }),
    ]);
  });
});

describe('own publishes, two gateway replicas on one ZooKeeper', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let a: InProcessGateway;
  let b: InProcessGateway;
  const clients: SseClient[] = [];
  const watch = async (g: InProcessGateway, query: string, headers: Record<string, string> = {}) => {
    const client = await openSse(`${g.url}/v1/watch?${query}`, { ...MANAGEMENT, ...headers });
    clients.push(client);
    return client;
  };
  /** Resolves once `g`'s session is connected (a loaded machine can drop it for a moment). */
  const connected = (g: InProcessGateway): Promise<void> =>
    g.services.store.state === 'connected'
      ? Promise.resolve()
      : new Promise((resolve) => {
          const off = g.services.store.onStateChange((event) => {
            if (event.state !== 'connected') return;
            off();
            resolve();
          });
        });
  const publish = async (g: InProcessGateway, ns: string, body: string): Promise<string> => {
    for (;;) {
      await connected(g);
      const res = await fetch(`${g.url}/v1/config/${ns}`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/json', ...MANAGEMENT },
      });
      const answer = (await res.json()) as { index: string; code?: string; detail?: string };
      // Refused up front while the session was away (not "did not answer", which may have
      // written): the same write again.
      if (answer.code === 'ZKG_STORE_UNAVAILABLE' && answer.detail?.startsWith('the coordination store is '))
        continue;
      if (res.status >= 300)
        expect.fail(`publish of ${ns} answered ${res.status}: ${JSON.stringify(answer)}`);
      return answer.index;
    }
  };
  const namespaceOf = (e: ReceivedEvent) => (JSON.parse(e.data) as { namespace: string }).namespace;
  /** Events until (and with) the first about `namespace`. */
  const until = async (client: SseClient, namespace: string): Promise<ReceivedEvent[]> => {
    const got: ReceivedEvent[] = [];
    for (;;) {
      const event = await client.next();
      got.push(event);
      if (namespaceOf(event) === namespace) return got;
    }
  };

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    // Replicas of one registry share one hot store.
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url };
    [a, b] = await Promise.all([startInProcessGateway(env), startInProcessGateway(env)]);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it("sends the writer's own changes once, in zxid order with another replica's, and resumes exactly once", async () => {
    await publish(a, 'own/x', '{"v":0}');
    await publish(b, 'own/y', '{"v":0}');
    const onWriter = await watch(a, 'prefix=own/');
    const onOther = await watch(b, 'prefix=own/');
    await Promise.all([onWriter.next(), onWriter.next(), onOther.next(), onOther.next()]);

    // Both replicas write at once: each one's own changes race the other's notifications.
    const ownIndexes: string[] = [];
    const otherIndexes: string[] = [];
    for (let v = 1; v <= 15; v++) {
      const [own, other] = await Promise.all([
        publish(a, 'own/x', `{"v":${v}}`),
        publish(b, 'own/y', `{"v":${v}}`),
      ]);
      ownIndexes.push(own);
      otherIndexes.push(other);
    }
    const end = await publish(b, 'own/end', '{}');

    for (const [client, writer, others] of [
      [onWriter, ownIndexes, otherIndexes],
      [onOther, otherIndexes, ownIndexes],
    ] as const) {
      const events = await until(client, 'own/end');
      const ids = events.map((e) => BigInt(e.id!));
      // Strictly ascending: in zxid order, and nothing twice.
      expect(ids).toEqual([...ids].sort((p, q) => (p < q ? -1 : 1)));
      expect(new Set(ids).size).toBe(ids.length);
      // Each replica sends every one of its own writes; the other's may coalesce, never the last.
      const sent = events.map((e) => e.id!);
      expect(sent.filter((id) => writer.includes(id))).toEqual(writer);
      expect(sent.filter((id) => others.includes(id))).toContain(others.at(-1));
      expect(sent.every((id) => writer.includes(id) || others.includes(id) || id === end)).toBe(true);
    }

    // A resume on either replica from an id the writer sent gets each later change once, latest.
    const mid = ownIndexes[7]!;
    const resumed = [
      await watch(a, 'prefix=own/', { 'last-event-id': mid }),
      await watch(b, 'prefix=own/', { 'last-event-id': mid }),
    ];
    for (const client of resumed) {
      const got = [await client.next(), await client.next(), await client.next()];
      const ids = got.map((e) => BigInt(e.id!));
      expect(ids[0]! < ids[1]! && ids[1]! < ids[2]!).toBe(true);
      expect(
        got.map((e) => [namespaceOf(e), (JSON.parse(e.data) as { content: string }).content]).sort(),
      ).toEqual([
        ['own/end', '{}'],
        ['own/x', '{"v":15}'],
        ['own/y', '{"v":15}'],
      ]);
    }
    const marker = await publish(a, 'own/marker', '{}');
    for (const client of resumed) {
      expect((await client.next()).id).toBe(marker);
      expect(client.events).toHaveLength(4);
    }
  });
});
