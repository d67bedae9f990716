/**
 * Writes under contention and refused writes: unconditional publishes succeed however many
 * writers race (on one replica and across two), conditional ones fail only on their condition,
 * and a refused request leaves no znode behind.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { asOperator, startEmbeddedApp, type App, type EmbeddedApp } from '../support/embedded-app.js';
import { BOOTSTRAP_ENV } from '../support/tokens.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';
import { listZnodes } from '../support/znodes.js';

const logger = pino({ level: 'silent' });
const WRITERS = 8;
const PUBLISHES_EACH = 40;

async function replica(services: Services): Promise<App> {
  const app = await buildApp({ services, logger });
  await app.ready();
  return app;
}

/** A publish as the operator: these tests are about writes, not access control. */
function publish(app: App, ns: string, body: string, headers: Record<string, string> = {}) {
  return asOperator(app)({
    method: 'PUT',
    url: `/v1/config/${ns}`,
    payload: body,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** Writers spread over the replicas, each publishing its own sequence of documents. */
async function race(apps: App[], ns: string): Promise<Array<{ status: number; code?: string }>> {
  const answers = await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const app = apps[w % apps.length] as App;
      const mine: Array<{ status: number; code?: string }> = [];
      for (let i = 0; i < PUBLISHES_EACH; i++) {
        const answer = await publish(app, ns, JSON.stringify({ writer: w, i }));
        mine.push({
          status: answer.statusCode,
          code: answer.statusCode >= 300 ? answer.json().code : undefined,
        });
      }
      return mine;
    }),
  );
  return answers.flat();
}

describe('config writes (embedded, one replica)', () => {
  let gateway: EmbeddedApp;
  let services: Services;
  let app: App;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    ({ app, services } = gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('accepts every unconditional publish of writers racing on one namespace', async () => {
    const answers = await race([app], 'race/one');
    expect(answers.filter((a) => a.status !== 200 && a.status !== 201)).toEqual([]);
    const latest = await gateway.inject({ method: 'GET', url: '/v1/config/race/one' });
    // Every publish made a version: none was lost or merged.
    expect(latest.headers['x-zkgate-version']).toBe(String(WRITERS * PUBLISHES_EACH));
  });

  it('answers a stale If-Match with 412 under contention, never a storage conflict', async () => {
    const ns = 'race/conditional';
    await publish(app, ns, '{"v":0}');
    const answers = await Promise.all(
      Array.from({ length: WRITERS }, (_, w) =>
        publish(app, ns, JSON.stringify({ w }), { 'if-match': '"1"' }),
      ),
    );
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses).toEqual([200, ...Array<number>(WRITERS - 1).fill(412)]);
    for (const refused of answers.filter((a) => a.statusCode === 412)) {
      expect(refused.json().code).toBe('ZKG_CONFIG_VERSION_CONFLICT');
      expect(refused.json().detail).not.toContain('/zkgate');
    }
  });

  it.each([
    ['a stale If-Match on a new namespace', 'gz/n1/x', { 'if-match': '"5"' }, '{"a":1}', 412],
    ['If-Match: * on a new namespace', 'gz/n3/x', { 'if-match': '*' }, '{"a":1}', 412],
    ['a malformed document', 'gz/n4/x', {}, '{"a":', 400],
  ])('writes no znode for a publish refused for %s', async (_, ns, headers, body, status) => {
    const before = await listZnodes(services.store, '/zkgate');
    const refused = await publish(app, ns, body, headers);
    expect(refused.statusCode).toBe(status);
    expect(await listZnodes(services.store, '/zkgate')).toEqual(before);
  });

  it('writes no znode for a publish refused by the schema declared ahead of it', async () => {
    const schema = await gateway.inject({
      method: 'PUT',
      url: '/v1/config/gz/n2/y:schema',
      payload: { type: 'object', required: ['limit'] },
    });
    expect(schema.statusCode).toBe(204);
    const before = await listZnodes(services.store, '/zkgate');
    const refused = await publish(app, 'gz/n2/y', '{"other":1}');
    expect(refused.statusCode).toBe(422);
    expect(await listZnodes(services.store, '/zkgate')).toEqual(before);
    // The accepted publish creates the parents it needs in the same transaction.
    expect((await publish(app, 'gz/n2/y', '{"limit":1}')).statusCode).toBe(201);
    expect((await gateway.inject({ method: 'GET', url: '/v1/config/gz/n2/y' })).body).toBe('{"limit":1}');
  });
});

describe('config writes (ZooKeeper, two replicas)', () => {
  let zk: ZkStandalone;
  let redis: RedisServer;
  let replicas: Services[];
  let apps: App[];

  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    // Replicas of one registry share one hot store.
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url, ...BOOTSTRAP_ENV };
    replicas = [
      await createServices(loadSettings(env), logger),
      await createServices(loadSettings(env), logger),
    ];
    apps = await Promise.all(replicas.map(replica));
  });

  afterAll(async () => {
    for (const app of apps ?? []) await app.close();
    for (const services of replicas ?? []) await services.close();
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it('accepts every unconditional publish of writers racing through both replicas', async () => {
    const answers = await race(apps, 'race/two');
    expect(answers.filter((a) => a.status !== 200 && a.status !== 201)).toEqual([]);
    // A replica acknowledges its own writes once it serves them; the other one follows its watch.
    for (const app of apps) {
      await vi.waitFor(
        async () => {
          const latest = await asOperator(app)({ method: 'GET', url: '/v1/config/race/two' });
          expect(latest.headers['x-zkgate-version']).toBe(String(WRITERS * PUBLISHES_EACH));
          // vitest's default of 1 s is short for a replica catching up on 320 writes on a busy machine.
        },
        { timeout: 10_000 },
      );
    }
  });
});
