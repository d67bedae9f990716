/**
 * The registry's read model from outside: ETags that change with health and load reports (and
 * not with a plain renewal), long-polls that return on a health change, watches that hear of a
 * lease running out on every replica long before eviction, one event per instance changed, and a
 * resume that starts from the whole list.
 */
import { rm } from 'node:fs/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { openSse, type ReceivedEvent, type SseClient } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

interface Listed {
  id: string;
  healthy: boolean;
  lease?: { expiresAt: string; load?: Record<string, number> };
}

const clients: SseClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

async function watch(url: string, service: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await openSse(`${url}/v1/watch?service=${service}`, { ...MANAGEMENT, ...headers });
  clients.push(client);
  expect(client.status).toBe(200);
  return client;
}

/** The next event of `client` that `accept` takes, skipping others. */
async function nextMatching(
  client: SseClient,
  accept: (e: ReceivedEvent) => boolean,
  timeoutMs = 10_000,
): Promise<ReceivedEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = await client.next(Math.max(1, deadline - Date.now()));
    if (accept(event)) return event;
  }
}

const instanceEvent = (id: string, healthy: boolean) => (e: ReceivedEvent) =>
  e.event === 'instance' &&
  (JSON.parse(e.data) as { instance: Listed }).instance.id === id &&
  (JSON.parse(e.data) as { instance: Listed }).instance.healthy === healthy;

describe('read model on the embedded store', () => {
  let g: EmbeddedApp;
  let inject: EmbeddedApp['inject'];

  beforeAll(async () => {
    g = await startEmbeddedApp({ ZKGATE_LEASE_REFRESH_MS: '0', ZKGATE_EVICTION_GRACE_MS: '60000' });
    inject = g.inject;
  });
  afterAll(async () => g?.close());

  const register = (service: string, id: string, ttl = '30s') =>
    inject({
      method: 'PUT',
      url: `/v1/services/${service}/instances/${id}`,
      payload: { address: '10.0.0.1', port: 8080, ttl },
    });
  const heartbeat = (service: string, id: string, load?: Record<string, number>) =>
    inject({
      method: 'PUT',
      url: `/v1/services/${service}/instances/${id}/heartbeat`,
      ...(load ? { payload: load } : {}),
    });
  const list = (service: string, headers: Record<string, string> = {}, query = '') =>
    inject({ url: `/v1/services/${service}/instances${query}`, headers });

  it('gives a new weak ETag for a new load report, and keeps it through a plain renewal', async () => {
    expect((await register('loaded', 'l-1')).statusCode).toBe(201);
    const first = await list('loaded');
    const tag = first.headers.etag as string;
    expect(tag).toMatch(/^W\/"/);

    // A renewal moves the lease's expiry, which the ETag leaves out: same meaning, 304.
    expect((await heartbeat('loaded', 'l-1')).statusCode).toBe(200);
    const renewed = await list('loaded', { 'if-none-match': tag });
    expect(renewed.statusCode).toBe(304);

    expect((await heartbeat('loaded', 'l-1', { inflight: 7 })).statusCode).toBe(200);
    const reported = await list('loaded', { 'if-none-match': tag });
    expect(reported.statusCode).toBe(200);
    expect(reported.headers.etag).not.toBe(tag);
    expect((reported.json() as Listed[])[0]!.lease!.load).toEqual({ inflight: 7 });
    expect((await list('loaded', { 'if-none-match': reported.headers.etag as string })).statusCode).toBe(304);
  });

  it('gives every replica state the same ETag whatever the order it was reached in', async () => {
    for (const id of ['b', 'a', 'c']) expect((await register('order-1', id)).statusCode).toBe(201);
    for (const id of ['c', 'a', 'b']) expect((await register('order-2', id)).statusCode).toBe(201);
    const tags = await Promise.all(['order-1', 'order-2'].map(async (s) => (await list(s)).headers.etag));
    // Different services, different registrations (zxids): different tags; same counts.
    expect(tags[0]).not.toBe(tags[1]);
    expect(String(tags[0]).split('-')[0]).toBe(String(tags[1]).split('-')[0]);
    // Filtered listings have their own tag.
    const filtered = await list('order-1', {}, '?zone=nowhere');
    expect(filtered.json()).toEqual([]);
    expect(filtered.headers.etag).not.toBe(tags[0]);
  });

  it('ends a long-poll on an ETag when the lease runs out, and on an index too', async () => {
    expect((await register('expiring', 'e-1', '1s')).statusCode).toBe(201);
    const before = await list('expiring');
    expect((before.json() as Listed[])[0]!.healthy).toBe(true);
    const started = Date.now();
    const [byTag, byIndex] = await Promise.all([
      list('expiring', { 'if-none-match': before.headers.etag as string }, '?wait=20s'),
      list('expiring', {}, `?index=${before.headers['x-zkgate-index'] as string}&wait=20s`),
    ]);
    for (const answer of [byTag, byIndex]) {
      expect(answer.statusCode).toBe(200);
      expect((answer.json() as Listed[])[0]).toMatchObject({ id: 'e-1', healthy: false });
    }
    // Woken by the lease's end (1 s) and the next lease read (at most 250 ms later), not the wait.
    expect(Date.now() - started).toBeLessThan(10_000);
    // Nothing changed since: a long-poll on the new tag waits it out and answers 304.
    const settled = await list('expiring', { 'if-none-match': byTag.headers.etag as string }, '?wait=300ms');
    expect(settled.statusCode).toBe(304);
  });

  it('pushes one event per instance changed, its removal, and the whole list on a resume', async () => {
    const url = await g.app.listen({ port: 0, host: '127.0.0.1' });
    expect((await register('events', 'ev-1')).statusCode).toBe(201);
    const client = await watch(url, 'events');
    const initial = await client.next();
    expect(initial.event).toBe('instances');
    expect((JSON.parse(initial.data) as { instances: Listed[] }).instances.map((i) => i.id)).toEqual([
      'ev-1',
    ]);

    expect((await register('events', 'ev-2')).statusCode).toBe(201);
    const added = await client.next();
    expect(added.event).toBe('instance');
    expect(JSON.parse(added.data)).toMatchObject({ service: 'events', instance: { id: 'ev-2' } });

    expect((await heartbeat('events', 'ev-2', { cpu: 0.5 })).statusCode).toBe(200);
    const reported = await nextMatching(client, (e) => e.event === 'instance');
    expect(JSON.parse(reported.data)).toMatchObject({
      instance: { id: 'ev-2', lease: { load: { cpu: 0.5 } } },
    });
    expect(BigInt(reported.id!)).toBeGreaterThanOrEqual(BigInt(added.id!));

    expect((await inject({ method: 'DELETE', url: '/v1/services/events/instances/ev-1' })).statusCode).toBe(
      204,
    );
    const removed = await nextMatching(client, (e) => e.event === 'instance-removed');
    expect(JSON.parse(removed.data)).toMatchObject({ service: 'events', id: 'ev-1' });
    client.close();

    // Resumed from the latest id: the whole current list first, whatever changed since.
    const resumed = await watch(url, 'events', { 'last-event-id': removed.id! });
    const list = await resumed.next();
    expect(list.event).toBe('instances');
    expect((JSON.parse(list.data) as { instances: Listed[] }).instances.map((i) => i.id)).toEqual(['ev-2']);
    expect(BigInt(list.id!)).toBeGreaterThanOrEqual(BigInt(removed.id!));
  });

  it('sends a big listing compressed as the client accepts, the same list in every coding', async () => {
    const metadata = { notes: 'x'.repeat(400) };
    for (let i = 0; i < 30; i++) {
      const res = await inject({
        method: 'PUT',
        url: `/v1/services/big-list/instances/b-${i}`,
        payload: { address: '10.0.0.1', port: 8080, ttl: '30s', metadata },
      });
      expect(res.statusCode).toBe(201);
    }
    const plain = await list('big-list');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    expect(plain.rawPayload.length).toBeGreaterThan(8 * 1024);
    const expected = plain.json() as Listed[];
    const decoded: Record<string, (b: Buffer) => Buffer> = { gzip: gunzipSync, br: brotliDecompressSync };
    for (const [accept, coding] of [
      ['gzip', 'gzip'],
      ['gzip, deflate, br', 'br'],
      ['br;q=0.5, gzip', 'gzip'],
      ['identity', undefined],
      ['gzip;q=0', undefined],
    ] as const) {
      const res = await list('big-list', { 'accept-encoding': accept });
      expect(res.headers['content-encoding'], accept).toBe(coding);
      const body = coding ? decoded[coding]!(res.rawPayload) : res.rawPayload;
      expect(JSON.parse(body.toString('utf8')), accept).toEqual(expected);
      if (coding) expect(res.rawPayload.length).toBeLessThan(plain.rawPayload.length / 4);
    }
    // Small lists go as they are; a compressed answer's ETag still gets 304.
    expect((await list('loaded', { 'accept-encoding': 'gzip' })).headers['content-encoding']).toBeUndefined();
    const tag = plain.headers.etag as string;
    expect((await list('big-list', { 'accept-encoding': 'br', 'if-none-match': tag })).statusCode).toBe(304);
  });

  it('lists compact views: the fields dispatch needs, filtered like full ones, and refuses unknown views', async () => {
    const put = (id: string, payload: Record<string, unknown>) =>
      inject({ method: 'PUT', url: `/v1/services/compact/instances/${id}`, payload });
    expect(
      (await put('k-2', { address: '10.0.0.2', port: 80, sslPort: 443, zone: 'z1', weight: 5 })).statusCode,
    ).toBe(201);
    expect((await put('k-1', { address: 'k1.local', port: 8080, metadata: { team: 'a' } })).statusCode).toBe(
      201,
    );
    const compact = await list('compact', {}, '?view=compact');
    expect(compact.statusCode).toBe(200);
    expect(compact.json()).toEqual([
      { id: 'k-1', address: 'k1.local', port: 8080, weight: 100, healthy: true },
      { id: 'k-2', address: '10.0.0.2', port: 80, sslPort: 443, weight: 5, zone: 'z1', healthy: true },
    ]);
    // Same instances, same revision: the ETag of the full listing, and 304 for it.
    const full = await list('compact', {}, '?view=full');
    expect(compact.headers.etag).toBe(full.headers.etag);
    expect((full.json() as Listed[]).map((i) => i.id)).toEqual(['k-1', 'k-2']);
    expect(
      (await list('compact', { 'if-none-match': full.headers.etag as string }, '?view=compact')).statusCode,
    ).toBe(304);
    const zoned = await list('compact', {}, '?view=compact&zone=z1');
    expect((zoned.json() as Listed[]).map((i) => i.id)).toEqual(['k-2']);
    expect(zoned.headers.etag).toBe((await list('compact', {}, '?zone=z1')).headers.etag);
    for (const query of ['?view=small', '?view=', '?fields=id']) {
      const refused = await list('compact', {}, query);
      expect(refused.statusCode, query).toBe(400);
      expect(refused.json(), query).toMatchObject({ code: 'ZKG_VALIDATION_FAILED' });
    }
  });

  it('never serves a cached listing past a change, in any view or coding', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => `c-${String(i).padStart(3, '0')}`);
    for (const id of ids) expect((await register('cached', id)).statusCode).toBe(201);
    const decode = (res: Awaited<ReturnType<typeof list>>): unknown => {
      const coding = res.headers['content-encoding'];
      const raw =
        coding === 'br'
          ? brotliDecompressSync(res.rawPayload)
          : coding === 'gzip'
            ? gunzipSync(res.rawPayload)
            : res.rawPayload;
      return JSON.parse(raw.toString('utf8'));
    };
    /** Every view in every coding: one body per view, whatever the coding, and one ETag. */
    const read = async () => {
      const answers: Record<string, { tag: string; body: unknown }> = {};
      for (const view of ['full', 'compact']) {
        const bodies = [];
        for (const accept of ['identity', 'gzip', 'br']) {
          const res = await list('cached', { 'accept-encoding': accept }, `?view=${view}`);
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-encoding'] ?? 'identity').toBe(accept);
          bodies.push({ tag: res.headers.etag as string, body: decode(res) });
        }
        for (const other of bodies.slice(1)) expect(other).toEqual(bodies[0]);
        answers[view] = bodies[0]!;
      }
      return answers as Record<'full' | 'compact', { tag: string; body: unknown }>;
    };
    const before = await read();
    expect((before.compact.body as Listed[]).every((i) => i.healthy)).toBe(true);

    // A plain renewal: the same ETag, the compact list as it was, the new expiry in the full one.
    const renewal = await heartbeat('cached', 'c-001');
    expect(renewal.statusCode).toBe(200);
    const renewed = await read();
    expect(renewed.full.tag).toBe(before.full.tag);
    expect(renewed.compact).toEqual(before.compact);
    const renewedOne = (renewed.full.body as Listed[]).find((i) => i.id === 'c-001')!;
    expect(renewedOne.lease!.expiresAt).toBe((renewal.json() as { expiresAt: string }).expiresAt);

    // A load report: a new revision, shown in the full list.
    expect((await heartbeat('cached', 'c-000', { inflight: 3 })).statusCode).toBe(200);
    const loaded = await read();
    expect(loaded.full.tag).not.toBe(renewed.full.tag);
    expect(loaded.compact.tag).toBe(loaded.full.tag);
    expect((loaded.full.body as Listed[])[0]!.lease!.load).toEqual({ inflight: 3 });

    // A health change: the instance is unhealthy in both views, and gone from `status=UP`.
    const down = await inject({
      method: 'PUT',
      url: '/v1/services/cached/instances/c-002/status',
      payload: { status: 'DOWN' },
    });
    expect(down.statusCode).toBe(200);
    const changed = await read();
    expect(changed.compact.tag).not.toBe(loaded.compact.tag);
    for (const view of ['full', 'compact'] as const) {
      const listed = changed[view].body as Listed[];
      expect(listed.find((i) => i.id === 'c-002')!.healthy, view).toBe(false);
      expect(
        listed.filter((i) => !i.healthy),
        view,
      ).toHaveLength(1);
    }
    const up = await list('cached', { 'accept-encoding': 'gzip' }, '?view=compact&status=UP');
    expect((decode(up) as Listed[]).map((i) => i.id)).toEqual(ids.filter((id) => id !== 'c-002'));
  });

  it('forgets the state of services gone and no longer followed', async () => {
    expect((await register('ephemeral-svc', 'x-1')).statusCode).toBe(201);
    expect((await list('ephemeral-svc')).statusCode).toBe(200);
    const held = g.services.registry.reads.servicesHeld;
    expect(
      (await inject({ method: 'DELETE', url: '/v1/services/ephemeral-svc/instances/x-1' })).statusCode,
    ).toBe(204);
    // Emptied, the service still exists (Curator's container znode lingers); gone, it is forgotten.
    expect(g.services.registry.reads.servicesHeld).toBe(held);
    await g.services.store.delete('/services/ephemeral-svc');
    await expect.poll(() => g.services.registry.cache.service('ephemeral-svc')).toBeUndefined();
    expect(g.services.registry.reads.servicesHeld).toBe(held - 1);
  });
});

describe('read model on two replicas sharing ZooKeeper and Redis', () => {
  const REFRESH_MS = 500;
  let zk: ZkStandalone;
  let redis: RedisServer;
  let dataDir: string;
  let a: InProcessGateway;
  let b: InProcessGateway;

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    dataDir = await makeTempDir('zkgate-read-model-');
    const env = {
      ZKGATE_ZK: zk.connectString,
      ZKGATE_REDIS_URL: redis.url,
      ZKGATE_LEASE_REFRESH_MS: String(REFRESH_MS),
      // Eviction far away: what the watchers hear is the lease running out, not the reaper.
      ZKGATE_EVICTION_GRACE_MS: '60000',
      ZKGATE_DATA_DIR: dataDir,
    };
    a = await startInProcessGateway(env);
    b = await startInProcessGateway(env);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([zk?.stop(), redis?.stop()]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('tells watchers on both replicas that a lease ran out within a lease refresh and a second', async () => {
    const watchers = [await watch(a.url, 'fading'), await watch(b.url, 'fading')];
    for (const w of watchers) expect((await w.next()).event).toBe('instances');
    const registered = await fetch(`${a.url}/v1/services/fading/instances/f-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
      body: JSON.stringify({ address: '10.0.0.2', port: 8080, ttl: '1s' }),
    });
    expect(registered.status).toBe(201);
    const expiresAt = Date.parse(((await registered.json()) as Listed).lease!.expiresAt);

    const heard = await Promise.all(
      watchers.map(async (w) => {
        await nextMatching(w, instanceEvent('f-1', false));
        return Date.now();
      }),
    );
    for (const at of heard) expect(at - expiresAt).toBeLessThanOrEqual(REFRESH_MS + 1_000);

    // Renewed again: healthy again on both, with no registration in between.
    const renewed = await fetch(`${b.url}/v1/services/fading/instances/f-1/heartbeat`, {
      method: 'PUT',
      headers: MANAGEMENT,
    });
    expect(renewed.status).toBe(200);
    await Promise.all(watchers.map((w) => nextMatching(w, instanceEvent('f-1', true))));
  });
});
