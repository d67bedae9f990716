/**
 * A token that may read `team-a/` learns nothing of `team-b/` through any read path (document,
 * 304, long-poll, history, listing, watch by name or prefix, resume), on two replicas of one
 * ZooKeeper; and revoking a token closes its open watch streams on both replicas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { openSse, type SseClient } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';
import { within } from '../support/within.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

type Headers = Record<string, string>;

describe('a read token on config:team-a/', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let a: InProcessGateway;
  let b: InProcessGateway;
  let reader: Headers;
  let readerAccessor: string;
  const clients: SseClient[] = [];

  const call = (g: InProcessGateway, path: string, init: RequestInit & { headers?: Headers } = {}) =>
    fetch(`${g.url}${path}`, { ...init, headers: { ...MANAGEMENT, ...init.headers } });
  const publish = async (g: InProcessGateway, ns: string, body: string) => {
    const res = await call(g, `/v1/config/${ns}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBeLessThan(300);
    return (await res.json()) as { index: string };
  };
  const watch = async (g: InProcessGateway, query: string, headers: Headers) => {
    const client = await openSse(`${g.url}/v1/watch?${query}`, headers);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    // Replicas of one registry share one hot store.
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url, ZKGATE_SSE_KEEPALIVE_MS: '200' };
    // Together, as replicas of one deployment start: the tree is bootstrapped once all the same.
    [a, b] = await Promise.all([startInProcessGateway(env), startInProcessGateway(env)]);
    await publish(a, 'team-a/app', '{"team":"a"}');
    await publish(a, 'team-b/app', '{"team":"b"}');
    const policy = await call(a, '/v1/acl/policies/team-a-read', {
      method: 'PUT',
      body: JSON.stringify({ rules: { config: { 'team-a/': ['read'] } } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(policy.status).toBe(201);
    const created = await call(a, '/v1/acl/tokens', {
      method: 'POST',
      body: JSON.stringify({ description: 'team a reader', policies: ['team-a-read'] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const token = (await created.json()) as { secret: string; accessor: string };
    reader = { authorization: `Bearer ${token.secret}` };
    readerAccessor = token.accessor;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it('was given one bootstrap token by two replicas that started together', async () => {
    for (const g of [a, b]) {
      const bootstrapped = g.services.acl.cache.tokens().filter((t) => t.createdBy === 'bootstrap');
      expect(bootstrapped).toHaveLength(1);
    }
  });

  it('reads its own namespaces, privately, on either replica', async () => {
    for (const g of [a, b]) {
      const res = await call(g, '/v1/config/team-a/app', { headers: reader });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('private');
      expect(await res.json()).toEqual({ team: 'a' });
    }
  });

  it('gets 403 for a document of team-b, naming what it lacks', async () => {
    const res = await call(b, '/v1/config/team-b/app', { headers: reader });
    expect(res.status).toBe(403);
    const problem = (await res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('ZKG_FORBIDDEN');
    expect(problem.detail).toContain('config:team-b/app read');
  });

  it("gets 403, not 304, when it presents team-b's current ETag", async () => {
    const etag = (await call(a, '/v1/config/team-b/app')).headers.get('etag') as string;
    const res = await call(a, '/v1/config/team-b/app', { headers: { ...reader, 'if-none-match': etag } });
    expect(res.status).toBe(403);
    expect(res.headers.get('etag')).toBeNull();
  });

  it('cannot long-poll, read the history or a release of team-b', async () => {
    const { index } = await publish(a, 'team-b/app', '{"team":"b","v":2}');
    for (const path of [
      `/v1/config/team-b/app?index=${BigInt(index) - 1n}&wait=1s`,
      '/v1/config/team-b/app:history',
      '/v1/config/team-b/app:history/1',
      '/v1/config/team-b/app:schema',
    ]) {
      const res = await call(a, path, { headers: reader });
      expect(res.status, path).toBe(403);
    }
  });

  it('lists only what it may read, and may not list a prefix with nothing readable', async () => {
    const all = (await (await call(a, '/v1/config', { headers: reader })).json()) as Array<{
      namespace: string;
    }>;
    expect(all.map((e) => e.namespace)).toEqual(['team-a/app']);
    expect((await call(a, '/v1/config?prefix=team-b/', { headers: reader })).status).toBe(403);
  });

  it('cannot watch a team-b namespace by name', async () => {
    const res = await call(b, '/v1/watch?ns=team-b/app', { headers: reader });
    expect(res.status).toBe(403);
  });

  it('hears only team-a over a prefix watch, live and resumed with Last-Event-ID on the other replica', async () => {
    const live = await watch(a, 'prefix=team-', reader);
    expect(live.status).toBe(200);
    const initial = await live.next();
    expect(JSON.parse(initial.data)).toMatchObject({ namespace: 'team-a/app' });
    const resumeFrom = initial.id as string;

    // team-b changes first, so an event leaking it would arrive before team-a's.
    await publish(a, 'team-b/app', '{"team":"b","v":3}');
    await publish(a, 'team-b/new', '{"team":"b"}');
    const { index } = await publish(a, 'team-a/app', '{"team":"a","v":2}');
    const next = await live.next();
    expect(next.id).toBe(index);
    expect(JSON.parse(next.data)).toMatchObject({ namespace: 'team-a/app', content: '{"team":"a","v":2}' });

    const resumed = await watch(b, 'prefix=team-', { ...reader, 'last-event-id': resumeFrom });
    expect(resumed.status).toBe(200);
    const caughtUp = await resumed.next();
    expect(caughtUp.id).toBe(index);
    expect(JSON.parse(caughtUp.data)).toMatchObject({ namespace: 'team-a/app' });

    // From the beginning: every change since, and still team-a's only.
    const replay = await watch(b, 'prefix=team-', { ...reader, 'last-event-id': '1' });
    expect(JSON.parse((await replay.next()).data)).toMatchObject({ namespace: 'team-a/app' });
    await publish(a, 'team-b/app', '{"team":"b","v":4}');
    const { index: last } = await publish(a, 'team-a/app', '{"team":"a","v":3}');
    for (const client of [live, resumed, replay]) expect((await client.next()).id).toBe(last);

    for (const client of [live, resumed, replay]) {
      expect(client.events.every((e) => !e.data.includes('team-b'))).toBe(true);
    }
  });

  it('loses its open streams and long-polls on both replicas within 2 s of its revocation', async () => {
    const onA = await watch(a, 'ns=team-a/app', reader);
    const onB = await watch(b, 'ns=team-a/app', reader);
    await Promise.all([onA.next(), onB.next()]);
    // A long-poll waiting for a change that will not come (well within its 30 s).
    const current = await call(a, '/v1/config/team-a/app', { headers: reader });
    const index = current.headers.get('x-zkgate-index') as string;
    const listening = a.services.tree.listening;
    const polling = call(a, `/v1/config/team-a/app?index=${index}&wait=30s`, { headers: reader });
    // Waiting, past its authorization: it listens for the namespace's next change.
    await expect.poll(() => a.services.tree.listening).toBeGreaterThan(listening);
    const revoked = Date.now();
    const res = await call(b, `/v1/acl/tokens/${readerAccessor}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    const closed = (client: SseClient) =>
      within(
        client.ended.then(() => Date.now() - revoked),
        'the stream of a revoked token to close',
        2_000,
      );
    const [elapsedA, elapsedB] = await Promise.all([closed(onA), closed(onB)]);
    expect(elapsedA).toBeLessThan(2_000);
    expect(elapsedB).toBeLessThan(2_000);
    for (const client of [onA, onB]) expect(client.events.at(-1)?.event).toBe('revoked');
    const poll = await polling;
    expect(poll.status).toBe(401);
    expect(Date.now() - revoked).toBeLessThan(2_000);
    expect((await call(a, '/v1/config/team-a/app', { headers: reader })).status).toBe(401);
  });
});
