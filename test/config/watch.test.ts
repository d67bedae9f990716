/**
 * Push over SSE: initial state, live changes, resumption with Last-Event-ID on another replica,
 * deletions, direct znode changes, limits. Gateways listen on loopback ports.
 */
import { cp, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { epochAt } from '../../src/coordination/embedded/epochs.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { makeTempDir } from '../support/processes.js';
import { openSse, type ReceivedEvent, type SseClient } from '../support/sse-client.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

type Gateway = InProcessGateway;
const gateway = startInProcessGateway;

async function publish(g: Gateway, ns: string, body: string): Promise<{ version: number; index: string }> {
  const res = await fetch(`${g.url}/v1/config/${ns}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/json', ...MANAGEMENT },
  });
  // The problem document, if any, says why (a 503's code tells a store outage from contention).
  if (res.status >= 300) expect.fail(`publish of ${ns} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { version: number; index: string };
}

const payload = (e: ReceivedEvent) => JSON.parse(e.data) as Record<string, unknown>;

describe('watch over SSE, two gateway replicas on one ZooKeeper', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;
  const clients: SseClient[] = [];
  const watch = async (g: Gateway, query: string, headers: Record<string, string> = {}) => {
    const client = await openSse(`${g.url}/v1/watch?${query}`, { ...MANAGEMENT, ...headers });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    // Replicas of one registry share one hot store.
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url, ZKGATE_SSE_KEEPALIVE_MS: '200' };
    [a, b] = await Promise.all([gateway(env), gateway(env)]);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it('sends the current state on connect and a publish in well under a second', async () => {
    await publish(a, 'live/one', '{"v":1}');
    const client = await watch(b, 'ns=live/one');
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    const initial = await client.next();
    expect(initial.event).toBe('config');
    expect(payload(initial)).toMatchObject({
      namespace: 'live/one',
      version: 1,
      format: 'json',
      content: '{"v":1}',
    });
    const started = Date.now();
    const { index } = await publish(a, 'live/one', '{"v":2}');
    const change = await client.next();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(change.id).toBe(index);
    expect(payload(change)).toMatchObject({ version: 2, content: '{"v":2}' });
  });

  it('resumes on another replica with exactly the missed changes and deletions', async () => {
    await publish(a, 'resume/changed', '{"v":1}');
    await publish(a, 'resume/deleted', '{"v":1}');
    await publish(a, 'resume/quiet', '{"v":1}');
    const first = await watch(a, 'prefix=resume/');
    const initial = [await first.next(), await first.next(), await first.next()];
    expect(initial.map((e) => payload(e).namespace).sort()).toEqual([
      'resume/changed',
      'resume/deleted',
      'resume/quiet',
    ]);
    const lastId = initial.at(-1)!.id!;
    first.close();

    for (let v = 2; v <= 4; v++) await publish(a, 'resume/changed', `{"v":${v}}`);
    const deleted = await fetch(`${a.url}/v1/config/resume/deleted`, {
      method: 'DELETE',
      headers: MANAGEMENT,
    });
    expect(deleted.status).toBe(200);
    // Something outside the subscription changes too, and must not be sent.
    await publish(a, 'other/ns', '{}');

    const resumed = await watch(b, 'prefix=resume/', { 'last-event-id': lastId });
    const got = [await resumed.next(), await resumed.next()];
    const byType = Object.fromEntries(got.map((e) => [e.event, payload(e)]));
    expect(byType.config).toMatchObject({ namespace: 'resume/changed', version: 4, content: '{"v":4}' });
    expect(byType['config-deleted']).toMatchObject({ namespace: 'resume/deleted', version: 1 });
    // Ids ascend, and nothing else arrives (a later publish is the next event).
    expect(BigInt(got[0]!.id!) < BigInt(got[1]!.id!)).toBe(true);
    await publish(a, 'resume/quiet', '{"v":2}');
    const next = await resumed.next();
    expect(payload(next)).toMatchObject({ namespace: 'resume/quiet', version: 2 });
    expect(resumed.events).toHaveLength(3);
  });

  it('pushes changes made by a plain ZooKeeper client on the znode', async () => {
    await publish(a, 'direct/ns', '{"v":1}');
    const client = await watch(a, 'ns=direct/ns');
    await client.next();
    const plain = await ZooKeeperStore.connect({ connectString: zk.connectString });
    try {
      await plain.setData('/zkgate/config/direct/ns', Buffer.from('{"v":"direct"}'));
    } finally {
      await plain.close();
    }
    expect(payload(await client.next())).toMatchObject({ version: 2, content: '{"v":"direct"}' });
  });

  it('refuses watches without a subject or with a malformed Last-Event-ID', async () => {
    const res = await fetch(`${a.url}/v1/watch`, { headers: MANAGEMENT });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('ZKG_VALIDATION_FAILED');
    const bad = await fetch(`${a.url}/v1/watch?ns=a/b`, {
      headers: { ...MANAGEMENT, 'last-event-id': 'yesterday' },
    });
    expect(bad.status).toBe(400);
  });
});

describe('watch limits and a reset after the tombstone horizon (embedded)', () => {
  let dataDir: string;
  let g: Gateway;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-watch-');
    g = await gateway({
      ZKGATE_DATA_DIR: dataDir,
      ZKGATE_SSE_MAX_CLIENT_CNXNS: '2',
      ZKGATE_TOMBSTONE_RETENTION_MS: '1000',
    });
  });

  afterAll(async () => {
    await g?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers 503 beyond the per-client limit', async () => {
    await publish(g, 'limit/ns', '{}');
    const one = await openSse(`${g.url}/v1/watch?ns=limit/ns`, MANAGEMENT);
    const two = await openSse(`${g.url}/v1/watch?ns=limit/ns`, MANAGEMENT);
    const three = await fetch(`${g.url}/v1/watch?ns=limit/ns`, { headers: MANAGEMENT });
    expect(three.status).toBe(503);
    expect(three.headers.get('retry-after')).toBe('5');
    expect(((await three.json()) as { code: string }).code).toBe('ZKG_WATCH_LIMIT');
    one.close();
    await one.ended;
    // The slot comes back once the server has seen the disconnect.
    await expect
      .poll(async () => {
        const res = await fetch(`${g.url}/v1/watch?ns=limit/ns`, { headers: MANAGEMENT });
        const ok = res.status === 200;
        await res.body?.cancel();
        return ok;
      })
      .toBe(true);
    two.close();
  });

  it('sends a reset with the full state to a client resuming from before forgotten deletions', async () => {
    await publish(g, 'reset/kept', '{"v":1}');
    const { index } = await publish(g, 'reset/gone', '{}');
    await fetch(`${g.url}/v1/config/reset/gone`, { method: 'DELETE', headers: MANAGEMENT });
    // Forget the deletion: pruning with a clock past the retention.
    expect(await g.services.config.tombstones.prune(Date.now() + 10_000)).toBeGreaterThanOrEqual(1);
    await expect.poll(() => g.services.config.cache.horizon > BigInt(index)).toBe(true);
    const client = await openSse(`${g.url}/v1/watch?prefix=reset/`, {
      ...MANAGEMENT,
      'last-event-id': index,
    });
    expect(payload(await client.next())).toMatchObject({ namespace: 'reset/kept', version: 1 });
    const reset = await client.next();
    expect(reset.event).toBe('reset');
    expect(payload(reset)).toEqual({ namespaces: ['reset/kept'] });
    // Resuming from the reset's id needs no second reset.
    expect(BigInt(reset.id!) >= g.services.config.cache.horizon).toBe(true);
    const again = await openSse(`${g.url}/v1/watch?prefix=reset/`, {
      ...MANAGEMENT,
      'last-event-id': reset.id!,
    });
    await publish(g, 'reset/kept', '{"v":2}');
    const next = await again.next();
    expect(next.event).toBe('config');
    expect(payload(next)).toMatchObject({ version: 2 });
    again.close();
    client.close();
  });
});

describe('resuming from an id this store never reached (embedded)', () => {
  let dataDir: string;
  let backup: string;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-restore-');
    backup = await makeTempDir('zkgate-backup-');
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
    await rm(backup, { recursive: true, force: true });
  });

  it('answers an id from the future with the full state and a reset, then goes on', async () => {
    const g = await gateway({ ZKGATE_DATA_DIR: dataDir });
    try {
      const { index } = await publish(g, 'future/a', '{"v":1}');
      const ahead = String(BigInt(index) + 1_000_000n);
      const client = await openSse(`${g.url}/v1/watch?prefix=future/`, {
        ...MANAGEMENT,
        'last-event-id': ahead,
      });
      expect(payload(await client.next())).toMatchObject({ namespace: 'future/a', version: 1 });
      const reset = await client.next();
      expect(reset.event).toBe('reset');
      expect(payload(reset)).toEqual({ namespaces: ['future/a'] });
      expect(BigInt(reset.id!)).toBeLessThan(BigInt(ahead));
      await publish(g, 'future/a', '{"v":2}');
      expect(payload(await client.next())).toMatchObject({ namespace: 'future/a', version: 2 });
      client.close();
    } finally {
      await g.close();
    }
  });

  it('resets a watcher and does not match old ETags after the data directory is restored from a backup', async () => {
    let g = await gateway({ ZKGATE_DATA_DIR: dataDir });
    await publish(g, 'restore/a', '{"v":"backed up"}');
    await g.close();
    await cp(dataDir, backup, { recursive: true });

    g = await gateway({ ZKGATE_DATA_DIR: dataDir });
    const watcher = await openSse(`${g.url}/v1/watch?ns=restore/a`, MANAGEMENT);
    await watcher.next();
    await publish(g, 'restore/a', '{"v":"lost 2"}');
    await publish(g, 'restore/a', '{"v":"lost 3"}');
    const seen = (await watcher.next(), await watcher.next());
    expect(payload(seen)).toMatchObject({ version: 3 });
    const oldTag = (await fetch(`${g.url}/v1/config/restore/a`, { headers: MANAGEMENT })).headers.get(
      'etag',
    )!;
    watcher.close();
    await g.close();

    await rm(dataDir, { recursive: true, force: true });
    await cp(backup, dataDir, { recursive: true });
    // The store numbers each run's epoch by the second it opens in: a restore comes later than
    // the run it replaces, which this test must make sure of by waiting for the clock.
    const lostEpoch = BigInt(seen.id!) >> 32n;
    await vi.waitUntil(() => epochAt(Date.now()) > lostEpoch, { timeout: 5_000, interval: 20 });
    g = await gateway({ ZKGATE_DATA_DIR: dataDir });
    try {
      // The restored store passes the watcher's id before it comes back: ids alone look fine.
      for (let i = 0; i < 5; i++) await publish(g, 'restore/other', `{"i":${i}}`);
      expect(g.services.tree.watermark).toBeGreaterThan(BigInt(seen.id!));
      const resumed = await openSse(`${g.url}/v1/watch?ns=restore/a`, {
        ...MANAGEMENT,
        'last-event-id': seen.id!,
      });
      expect(payload(await resumed.next())).toMatchObject({ version: 1, content: '{"v":"backed up"}' });
      expect((await resumed.next()).event).toBe('reset');
      await publish(g, 'restore/a', '{"v":"new 2"}');
      await publish(g, 'restore/a', '{"v":"new 3"}');
      expect(payload(await resumed.next())).toMatchObject({ version: 2, content: '{"v":"new 2"}' });
      expect(payload(await resumed.next())).toMatchObject({ version: 3, content: '{"v":"new 3"}' });
      resumed.close();
      // Version 3 again, with other content: the ETag from before the restore must not match it.
      const read = await fetch(`${g.url}/v1/config/restore/a`, {
        headers: { ...MANAGEMENT, 'if-none-match': oldTag },
      });
      expect(read.status).toBe(200);
      expect(await read.text()).toBe('{"v":"new 3"}');
    } finally {
      await g.close();
    }
  });
});
