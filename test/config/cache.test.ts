/**
 * The watch-backed cache under what real deployments do to it: znodes zkgate did not write,
 * deletions by plain clients, delete and re-create races, session expiry, sustained writes,
 * shutdown with long-polls in flight. Embedded store: a second session is the "plain client".
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/acl/actor.js';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import { Perms, type CoordinationStore } from '../../src/coordination/store.js';
import { WatchedTree, type CacheChange } from '../../src/coordination/watched-cache.js';
import type { ConfigChange } from '../../src/config/cache.js';
import { Metrics } from '../../src/monitor/metrics.js';
import { ConfigService } from '../../src/config/service.js';
import { loadSettings } from '../../src/settings.js';
import { makeTempDir } from '../support/processes.js';
import { BOOTSTRAP_ENV, MANAGEMENT } from '../support/tokens.js';

const logger = pino({ level: 'silent' });
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const actor = systemActor('test');

/** The part of the gateways' election a config service follows, elected by the test. */
class Leadership {
  private readonly listeners = new Set<(leading: boolean) => void>();

  constructor(public isLeader: boolean) {}

  onChange(listener: (leading: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  elect(): void {
    this.isLeader = true;
    for (const listener of this.listeners) listener(true);
  }
}

describe('config cache', () => {
  let dataDir: string;
  let server: EmbeddedServer;
  let plain: CoordinationStore;
  const services: Array<{ close(): void }> = [];

  /** A gateway replica's config service on its own session of the shared store. */
  async function replica(
    session: CoordinationStore = server.connect(),
    { root = '/zkgate', leadership = new Leadership(false) } = {},
  ): Promise<ConfigService> {
    const tree = new WatchedTree<CacheChange>(session, logger);
    const service = new ConfigService(session, {
      tree,
      leadership,
      root,
      maxBytes: 100_000,
      historyLimit: 10,
      tombstoneRetentionMs: 60_000,
      logger,
      metrics: new Metrics(),
    });
    services.push(service, tree);
    await service.start();
    await tree.start(10_000);
    return service;
  }

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-cache-');
    server = await EmbeddedServer.open({ dataDir });
    plain = server.connect();
  });

  afterAll(async () => {
    for (const s of services) s.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('ignores znodes zkgate did not write instead of freezing', async () => {
    const a = await replica();
    await plain.create('/zkgate/meta/config/stray');
    await plain.create('/zkgate/meta/config/bad::name', json({ format: 'json', base: 0 }));
    await plain.create('/zkgate/tombstones/config/junk', Buffer.from('not json'));
    await a.publish(actor, 'poison/after', { body: json({ v: 1 }), format: 'json' });
    // Read-your-write holds only if batches still flush.
    expect(a.get('poison/after').version).toBe(1);
    // A replica starting now loads past them.
    const b = await replica();
    expect(b.get('poison/after').data.toString()).toBe('{"v":1}');
    expect(b.cache.ready).toBe(true);
  });

  it('does not turn a schema on a parent znode into a namespace', async () => {
    const a = await replica();
    await a.publish(actor, 'parent/child', { body: json({}), format: 'json' });
    await a.setSchema(actor, 'parent', { type: 'object' });
    expect(a.cache.get('parent')).toBeUndefined();
    const created = await a.publish(actor, 'parent', {
      body: json({ x: 1 }),
      format: 'json',
      createOnly: true,
    });
    expect(created).toMatchObject({ created: true, version: 1 });
    expect(a.get('parent').data.toString()).toBe('{"x":1}');
  });

  it('remembers the newest deletion after delete, re-create, delete', async () => {
    const a = await replica();
    const b = await replica();
    await a.publish(actor, 'flap/x', { body: json({ v: 1 }), format: 'json' });
    await a.delete(actor, 'flap/x');
    const again = await a.publish(actor, 'flap/x', { body: json({ v: 2 }), format: 'json' });
    const gone = await a.delete(actor, 'flap/x');
    await b.cache.waitFor(gone.index, 5_000);
    const missed = b.cache.changesSince(again.index, (ns) => ns === 'flap/x');
    expect(missed).toEqual([{ kind: 'deleted', id: gone.index, namespace: 'flap/x', version: gone.version }]);
  });

  it('reports a deletion by a plain client with an id above what was sent, writing nothing', async () => {
    const leadership = new Leadership(false);
    const a = await replica(server.connect(), { leadership });
    const published = await a.publish(actor, 'oob/doc', { body: json({}), format: 'json' });
    const seen: ConfigChange[] = [];
    const off = a.cache.onChange((changes) => seen.push(...changes));
    // As zkCli's deleteall would.
    await plain.delete('/zkgate/config/oob/doc');
    await plain.delete('/zkgate/meta/config/oob:doc');
    await expect
      .poll(() => seen.find((c) => c.kind === 'deleted' && c.namespace === 'oob/doc'))
      .toBeDefined();
    off();
    const deletion = seen.find((c) => c.kind === 'deleted')!;
    expect(deletion.id > published.index).toBe(true);
    expect(a.cache.get('oob/doc')).toBeUndefined();
    // A watcher resuming from before it gets it, with the same id.
    expect(a.cache.changesSince(published.index, (ns) => ns === 'oob/doc')).toEqual([deletion]);
    // The cache wrote no tombstone; this replica is no writer of them until it is elected.
    expect(await plain.exists('/zkgate/tombstones/config/oob:doc')).toBeNull();
    expect(a.cache.unrecordedDeletions()).toEqual([{ namespace: 'oob/doc', version: 1 }]);

    leadership.elect();
    await expect.poll(() => a.cache.unrecordedDeletions()).toEqual([]);
    const tombstone = await plain.getData('/zkgate/tombstones/config/oob:doc');
    expect(JSON.parse(tombstone.data.toString())).toEqual({ version: 1 });
    // Durable now: a replica starting later knows of it too.
    const b = await replica();
    expect(b.cache.changesSince(published.index, (ns) => ns === 'oob/doc')).toMatchObject([
      { kind: 'deleted', namespace: 'oob/doc', version: 1 },
    ]);
    // Published again, it continues the versions from the deletion.
    expect((await b.publish(actor, 'oob/doc', { body: json({}), format: 'json' })).version).toBe(2);
  });

  it('publishes a deletion by a plain client to watchers where no tombstone can be written', async () => {
    // Tombstones are read-only to every client, zkgate included (as a ZooKeeper ACL could make them).
    await replica(server.connect(), { root: '/readonly' });
    await plain.setACL('/readonly/tombstones/config', [{ perms: Perms.READ, scheme: 'world', id: 'anyone' }]);
    const a = await replica(server.connect(), { root: '/readonly', leadership: new Leadership(true) });
    const published = await a.publish(actor, 'ro/doc', { body: json({ v: 1 }), format: 'json' });
    const seen: ConfigChange[] = [];
    const off = a.cache.onChange((changes) => seen.push(...changes));
    await plain.delete('/readonly/config/ro/doc');
    await expect
      .poll(() => seen.find((c) => c.kind === 'deleted' && c.namespace === 'ro/doc'))
      .toMatchObject({ kind: 'deleted', namespace: 'ro/doc', version: 1 });
    off();
    const deletion = seen.find((c) => c.kind === 'deleted')!;
    expect(deletion.id > published.index).toBe(true);
    expect(a.cache.changesSince(published.index, (ns) => ns === 'ro/doc')).toEqual([deletion]);
    // Nothing could record it: it is kept to be recorded later.
    expect(await plain.exists('/readonly/tombstones/config/ro:doc')).toBeNull();
    expect(a.cache.unrecordedDeletions()).toEqual([{ namespace: 'ro/doc', version: 1 }]);
  });

  it('forgets nothing and keeps no ghost across a session expiry', async () => {
    const session = server.connect();
    const a = await replica(session);
    const writer = await replica();
    await writer.publish(actor, 'expiry/kept', { body: json({ v: 1 }), format: 'json' });
    await writer.publish(actor, 'expiry/gone', { body: json({ v: 1 }), format: 'json' });
    await expect.poll(() => a.cache.get('expiry/gone')?.version).toBe(1);
    const renewed = new Promise<void>((resolve) =>
      session.onStateChange((e) => e.state === 'connected' && e.newSession && resolve()),
    );
    const expiring = server.expireSession(session.sessionId);
    // While the session is gone, the world moves on.
    await writer.delete(actor, 'expiry/gone');
    await writer.publish(actor, 'expiry/kept', { body: json({ v: 2 }), format: 'json' });
    await expiring;
    await renewed;
    await expect.poll(() => a.cache.ready && a.cache.get('expiry/kept')?.version).toBe(2);
    expect(a.cache.get('expiry/gone')).toBeUndefined();
  });

  it('keeps publishing batches under sustained writes', async () => {
    const a = await replica();
    for (let i = 0; i < 10; i++) await a.publish(actor, `busy/ns${i}`, { body: json({ i }), format: 'json' });
    let batches = 0;
    const off = a.cache.onChange((changes) => {
      if (changes.length > 0) batches++;
    });
    let writing = true;
    const writers = Array.from({ length: 10 }, async (_, i) => {
      while (writing) await plain.setData(`/zkgate/config/busy/ns${i}`, json({ at: Date.now() }));
    });
    await expect.poll(() => batches, { timeout: 5_000 }).toBeGreaterThan(20);
    // A publish in the middle of it reads its own write.
    await a.publish(actor, 'busy/mine', { body: json({ mine: true }), format: 'json' });
    expect(a.get('busy/mine').version).toBe(1);
    writing = false;
    await Promise.all(writers);
    off();
  });
});

describe('shutdown with a long-poll in flight', () => {
  let dataDir: string;
  let services: Services;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-shutdown-');
    services = await createServices(loadSettings({ ZKGATE_DATA_DIR: dataDir, ...BOOTSTRAP_ENV }), logger);
  });

  afterAll(async () => {
    await services?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers the poll and closes without waiting out its wait', async () => {
    const app = await buildApp({ services, logger });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const { index } = await services.config.publish(actor, 'poll/ns', { body: json({}), format: 'json' });
    const listening = services.tree.listening;
    const poll = fetch(`${url}/v1/config/poll/ns?index=${index}&wait=60s`, { headers: MANAGEMENT });
    await expect.poll(() => services.tree.listening).toBeGreaterThan(listening);
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await poll).status).toBe(304);
  });
});
