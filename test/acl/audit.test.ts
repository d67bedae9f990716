/**
 * The audit trail over the embedded store: every mutation writes exactly one record in its own
 * transaction (the record's zxid is the change's), a refused mutation writes none, the trail is
 * served newest first with its filters, and the retention prunes oldest first on the leader only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor, type Actor } from '../../src/acl/actor.js';
import { auditDirectory, auditOp, parseAuditRecord, type AuditRecord } from '../../src/acl/audit.js';
import { AuditTrail } from '../../src/acl/audit-trail.js';
import { mkdirs } from '../../src/coordination/recipes.js';
import { loadSettings, parseAuditRetention, SettingsError } from '../../src/settings.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

const ROOT = '/zkgate';
const DAY_MS = 86_400_000;
const silent = { info: () => undefined, warn: () => undefined };

const tokenA: Actor = {
  accessor: 'tok-a',
  description: 'team a deploys',
  address: '10.1.1.1',
  requestId: 'r-1',
};
const tokenB: Actor = { accessor: 'tok-b', description: 'team b', address: '10.1.1.2', requestId: 'r-2' };

/** The records of `directory` not returned before, oldest first. */
function recordReader(store: CoordinationStore, directory: string): () => Promise<AuditRecord[]> {
  const seen = new Set<string>();
  return async () => {
    const { children } = await store.getChildren(directory);
    const fresh = children.filter((name) => !seen.has(name)).sort();
    for (const name of fresh) seen.add(name);
    return Promise.all(
      fresh.map(async (name) => {
        const node = await store.getData(`${directory}/${name}`);
        return parseAuditRecord(name, node.data, node.stat)!;
      }),
    );
  };
}

describe('audit trail', () => {
  let gateway: EmbeddedApp;
  // Requests act as the operator: the bootstrap management token.
  let app: Pick<EmbeddedApp, 'inject'>;
  let operator: { accessor: string; description: string; address: string };
  let newRecords: () => Promise<AuditRecord[]>;

  beforeAll(async () => {
    // A fast reaper, so an eviction happens within the test; other instances keep 30 s leases.
    gateway = await startEmbeddedApp({
      ZKGATE_EVICTION_GRACE_MS: '0',
      ZKGATE_REAPER_INTERVAL_MS: '100',
      ZKGATE_LEASE_REFRESH_MS: '0',
    });
    app = gateway;
    const [bootstrap] = gateway.services.acl.cache.tokens();
    operator = { accessor: bootstrap!.accessor, description: bootstrap!.description, address: '127.0.0.1' };
    newRecords = recordReader(gateway.services.store, auditDirectory(ROOT));
  });

  afterAll(async () => {
    await gateway?.close();
  });

  const publish = (ns: string, body: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'PUT',
      url: `/v1/config/${ns}`,
      payload: body,
      headers: { 'content-type': 'application/json', ...headers },
    });
  const put = (url: string, payload: unknown) =>
    app.inject({ method: 'PUT', url, payload: payload as Record<string, unknown> });

  it('records the bootstrap token, and every token and policy change once', async () => {
    expect(await newRecords()).toEqual([
      expect.objectContaining({
        accessor: 'system',
        description: 'bootstrap',
        action: 'acl.token.create',
        resource: `acl:token/${operator.accessor}`,
      }),
    ]);
    const rules = { rules: { config: { 'audit/': ['read'] } } };
    expect((await put('/v1/acl/policies/auditors', rules)).statusCode).toBe(201);
    expect((await put('/v1/acl/policies/auditors', rules)).statusCode).toBe(200);
    const token = await app.inject({
      method: 'POST',
      url: '/v1/acl/tokens',
      payload: { description: 'auditor', policies: ['auditors'] },
    });
    const { accessor } = token.json<{ accessor: string }>();
    expect((await app.inject({ method: 'DELETE', url: `/v1/acl/tokens/${accessor}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/v1/acl/policies/auditors' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/v1/acl/policies/auditors' })).statusCode).toBe(404);
    const records = await newRecords();
    expect(
      records.map(({ action, resource, versionBefore, versionAfter }) => ({
        action,
        resource,
        versionBefore,
        versionAfter,
      })),
    ).toEqual([
      { action: 'acl.policy.put', resource: 'acl:policy/auditors', versionBefore: null, versionAfter: 0 },
      { action: 'acl.policy.put', resource: 'acl:policy/auditors', versionBefore: 0, versionAfter: 1 },
      { action: 'acl.token.create', resource: `acl:token/${accessor}`, versionBefore: null, versionAfter: 0 },
      { action: 'acl.token.delete', resource: `acl:token/${accessor}`, versionBefore: 0, versionAfter: null },
      { action: 'acl.policy.delete', resource: 'acl:policy/auditors', versionBefore: 1, versionAfter: null },
    ]);
    for (const record of records) expect(record).toMatchObject(operator);
  });

  it('records every config mutation once, in the transaction of the change', async () => {
    const created = await publish('audit/orders', '{"v":1}');
    expect(created.statusCode).toBe(201);
    const [record, ...more] = await newRecords();
    expect(more).toEqual([]);
    expect(record).toMatchObject({
      ...operator,
      action: 'config.publish',
      resource: 'config:audit/orders',
      versionBefore: null,
      versionAfter: 1,
      requestId: expect.stringMatching(/.+/),
    });
    // One transaction: the record's zxid is the publish's.
    expect(String(record!.index)).toBe(created.headers['x-zkgate-index']);

    const updated = await publish('audit/orders', '{"v":2}');
    expect(await newRecords()).toEqual([
      expect.objectContaining({ action: 'config.publish', versionBefore: 1, versionAfter: 2 }),
    ]);
    expect(updated.headers['x-zkgate-index']).toBeDefined();

    const schema = await app.inject({
      method: 'PUT',
      url: '/v1/config/audit/orders:schema',
      payload: { type: 'object' },
    });
    expect(schema.statusCode).toBe(204);
    expect(await newRecords()).toEqual([
      expect.objectContaining({ action: 'config.schema', versionBefore: 2, versionAfter: 2 }),
    ]);

    const rolledBack = await app.inject({
      method: 'POST',
      url: '/v1/config/audit/orders:rollback',
      payload: { version: 1 },
    });
    expect(rolledBack.statusCode).toBe(200);
    const [rollback] = await newRecords();
    expect(rollback).toMatchObject({ action: 'config.rollback', versionBefore: 2, versionAfter: 3 });
    expect(String(rollback!.index)).toBe(rolledBack.headers['x-zkgate-index']);

    const deleted = await app.inject({ method: 'DELETE', url: '/v1/config/audit/orders' });
    expect(deleted.statusCode).toBe(200);
    const [deletion, ...others] = await newRecords();
    expect(others).toEqual([]);
    expect(deletion).toMatchObject({ action: 'config.delete', versionBefore: 3, versionAfter: null });
    expect(String(deletion!.index)).toBe(deleted.headers['x-zkgate-index']);

    // A schema declared ahead of the namespace: there is no version yet.
    await gateway.services.config.setSchema(tokenA, 'audit/declared', { type: 'object' });
    expect(await newRecords()).toEqual([
      expect.objectContaining({
        accessor: 'tok-a',
        description: 'team a deploys',
        address: '10.1.1.1',
        requestId: 'r-1',
        action: 'config.schema',
        resource: 'config:audit/declared',
        versionBefore: null,
        versionAfter: null,
      }),
    ]);
  });

  it("takes a release's author from the actor, never from a header", async () => {
    await gateway.services.config.publish(tokenA, 'audit/authored', {
      body: Buffer.from('{}'),
      format: 'json',
    });
    await publish('audit/authored', '{"v":2}', { 'x-zkgate-author': 'someone-else' });
    await newRecords();
    const history = await app.inject({ method: 'GET', url: '/v1/config/audit/authored:history' });
    expect(history.json().map((r: { author: string }) => r.author)).toEqual([
      operator.description,
      tokenA.description,
    ]);
  });

  it('records every registry mutation once, heartbeats none', async () => {
    const registered = await put('/v1/services/audited/instances/i-1', { address: '10.0.0.7', port: 8080 });
    expect(registered.statusCode).toBe(201);
    const [record, ...more] = await newRecords();
    expect(more).toEqual([]);
    expect(record).toMatchObject({
      ...operator,
      action: 'service.register',
      resource: 'service:audited/i-1',
      versionBefore: null,
      versionAfter: 0,
    });
    expect(String(record!.index)).toBe(registered.headers['x-zkgate-index']);

    const check = { address: '10.0.0.7', port: 8080, check: { tcp: true, interval: '1h', timeout: '2s' } };
    expect((await put('/v1/services/audited/instances/i-1', check)).statusCode).toBe(200);
    expect(await newRecords()).toEqual([
      expect.objectContaining({ action: 'service.register', versionBefore: 0, versionAfter: 1 }),
    ]);

    expect((await put('/v1/services/audited/instances/i-1/heartbeat', {})).statusCode).toBe(200);
    expect(await newRecords()).toEqual([]);

    expect((await put('/v1/services/audited/instances/i-1/status', { status: 'DRAINING' })).statusCode).toBe(
      200,
    );
    const clear = () => app.inject({ method: 'DELETE', url: '/v1/services/audited/instances/i-1/status' });
    expect((await clear()).statusCode).toBe(200);
    expect(await newRecords()).toEqual([
      expect.objectContaining({ action: 'service.status', versionBefore: 1, versionAfter: 2 }),
      expect.objectContaining({ action: 'service.status', versionBefore: 2, versionAfter: 3 }),
    ]);
    // Nothing left to clear: nothing written, nothing recorded.
    expect((await clear()).statusCode).toBe(200);
    expect(await newRecords()).toEqual([]);

    const checker = systemActor('health check on replica-1');
    const verdict = await gateway.services.registry.writer.setCheckStatus(checker, 'audited', 'i-1', 'DOWN', {
      verdict: undefined,
      owned: () => true,
    });
    expect(verdict).toBe(true);
    expect(await newRecords()).toEqual([
      expect.objectContaining({
        accessor: 'system',
        description: 'health check on replica-1',
        address: '',
        requestId: '',
        action: 'service.check',
        versionBefore: 3,
        versionAfter: 4,
      }),
    ]);

    expect((await put('/v1/services/audited', { protectThreshold: 0.5 })).statusCode).toBe(200);
    expect((await put('/v1/services/audited', { strategy: 'random' })).statusCode).toBe(200);
    expect(await newRecords()).toEqual([
      expect.objectContaining({
        action: 'service.policy',
        resource: 'service:audited',
        versionBefore: null,
        versionAfter: 0,
      }),
      expect.objectContaining({ action: 'service.policy', versionBefore: 0, versionAfter: 1 }),
    ]);

    const deregistered = await app.inject({ method: 'DELETE', url: '/v1/services/audited/instances/i-1' });
    expect(deregistered.statusCode).toBe(204);
    expect(await newRecords()).toEqual([
      expect.objectContaining({
        ...operator,
        action: 'service.deregister',
        resource: 'service:audited/i-1',
        versionBefore: 4,
        versionAfter: null,
      }),
    ]);
  });

  it('records an eviction by the lease reaper, in the transaction of the delete', async () => {
    const { registry } = gateway.services;
    let seen = false;
    const evicted = new Promise<void>((resolve) => {
      const stop = registry.cache.onChange(() => {
        const present = registry.cache.service('leased')?.instances.has('quiet') === true;
        seen ||= present;
        if (seen && !present) {
          stop();
          resolve();
        }
      });
    });
    expect(
      (await put('/v1/services/leased/instances/quiet', { address: '10.0.0.8', port: 80, ttl: '1s' }))
        .statusCode,
    ).toBe(201);
    await evicted;
    const [registration, eviction, ...more] = await newRecords();
    expect(more).toEqual([]);
    expect(registration).toMatchObject({ action: 'service.register' });
    expect(eviction).toMatchObject({
      accessor: 'system',
      description: 'lease reaper',
      action: 'service.evict',
      resource: 'service:leased/quiet',
      versionBefore: 0,
      versionAfter: null,
    });
  });

  it('writes no record for a refused mutation', async () => {
    const { config, registry } = gateway.services;
    expect((await publish('audit/refused', '{"v":1}')).statusCode).toBe(201);
    await app.inject({ method: 'PUT', url: '/v1/config/audit/refused:schema', payload: { type: 'object' } });
    await newRecords();

    const refusals = [
      await publish('audit/refused', '{"v":2}', { 'if-match': '"7"' }),
      await publish('audit/refused', '{"v":2}', { 'if-none-match': '*' }),
      await publish('audit/refused', '{"v":'),
      await publish('audit/refused', '[1, 2]'),
      await publish('audit/refused/..x', '{}'),
      await app.inject({ method: 'DELETE', url: '/v1/config/audit/refused', headers: { 'if-match': '"7"' } }),
      await app.inject({ method: 'DELETE', url: '/v1/config/audit/missing' }),
      await app.inject({ method: 'POST', url: '/v1/config/audit/refused:rollback', payload: { version: 9 } }),
      await app.inject({
        method: 'PUT',
        url: '/v1/config/audit/refused:schema',
        payload: { type: 'nonsense' },
      }),
      await put('/v1/services/audited/instances/i-9', { address: '10.0.0.7', port: 0 }),
      await put('/v1/services/audited/instances/missing/status', { status: 'DOWN' }),
      await app.inject({ method: 'DELETE', url: '/v1/services/audited/instances/missing' }),
      await put('/v1/services/audited', { protectThreshold: 2 }),
    ];
    expect(refusals.map((r) => r.statusCode)).toEqual([
      412, 412, 400, 422, 400, 412, 404, 404, 400, 400, 404, 404, 400,
    ]);
    await expect(
      config.delete(tokenA, 'audit/refused', { version: 1, digest: 'nope' }),
    ).rejects.toMatchObject({
      code: 'ZKG_CONFIG_VERSION_CONFLICT',
    });
    await expect(registry.writer.deregister(tokenA, 'audited', 'missing')).rejects.toMatchObject({
      code: 'ZKG_INSTANCE_NOT_FOUND',
    });
    expect(await newRecords()).toEqual([]);
  });

  it('keeps a record under 2 KiB for the longest names zkgate accepts', () => {
    const namespace = Array.from({ length: 8 }, () => 'n'.repeat(128)).join('/');
    const verbose: Actor = {
      accessor: 'a'.repeat(500),
      description: 'd'.repeat(5_000),
      address: 'f'.repeat(500),
      requestId: 'r'.repeat(500),
    };
    const op = auditOp(ROOT, verbose, {
      action: 'config.publish',
      resource: `config:${namespace}`,
      versionBefore: 2 ** 31,
      versionAfter: 2 ** 31 + 1,
    });
    expect(op.op === 'create' && op.data!.length).toBeLessThan(2048);
  });

  describe('GET /v1/audit', () => {
    let first: AuditRecord;

    beforeAll(async () => {
      const { config, registry } = gateway.services;
      await newRecords();
      await config.publish(tokenA, 'query/a', { body: Buffer.from('{}'), format: 'json' });
      first = (await newRecords())[0]!;
      await config.publish(tokenB, 'query/b', { body: Buffer.from('{}'), format: 'json' });
      await registry.writer.register(tokenA, 'query', 'i-1', { address: '10.0.0.9', port: 80 });
      await config.publish(tokenA, 'query/a', { body: Buffer.from('{"v":2}'), format: 'json' });
    });

    const audit = async (query: string) => {
      const res = await app.inject({ method: 'GET', url: `/v1/audit${query}` });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as Array<Record<string, unknown>>;
    };

    it('serves records newest first, with their time and zxid', async () => {
      const records = await audit('?resource=config:query/');
      expect(records.map((r) => [r.resource, r.versionAfter])).toEqual([
        ['config:query/a', 2],
        ['config:query/b', 1],
        ['config:query/a', 1],
      ]);
      expect(records[2]).toEqual({
        id: first.id,
        index: String(first.index),
        time: new Date(first.time).toISOString(),
        accessor: 'tok-a',
        description: 'team a deploys',
        action: 'config.publish',
        resource: 'config:query/a',
        versionBefore: null,
        versionAfter: 1,
        address: '10.1.1.1',
        requestId: 'r-1',
      });
      const { children } = await gateway.services.store.getChildren(auditDirectory(ROOT));
      expect(await audit('')).toHaveLength(Math.min(100, children.length));
      expect(await audit('?limit=2')).toHaveLength(2);
    });

    it('filters by resource prefix, accessor and starting point', async () => {
      expect((await audit('?resource=config:query/a')).map((r) => r.versionAfter)).toEqual([2, 1]);
      expect((await audit('?resource=service:query/')).map((r) => r.action)).toEqual(['service.register']);
      expect((await audit('?accessor=tok-b')).map((r) => r.resource)).toEqual(['config:query/b']);
      expect(
        (await audit('?accessor=tok-a&resource=config:query/&limit=1')).map((r) => r.versionAfter),
      ).toEqual([2]);
      // A zxid: the changes after it.
      expect((await audit(`?since=${first.index}`)).map((r) => r.resource)).toEqual([
        'config:query/a',
        'service:query/i-1',
        'config:query/b',
      ]);
      // A time: the changes at or after it.
      const since = new Date(first.time).toISOString();
      expect((await audit(`?since=${since}&resource=config:query/`)).length).toBe(3);
      expect(await audit(`?since=${new Date(Date.now() + DAY_MS).toISOString()}`)).toEqual([]);
    });

    it.each([
      ['limit=0', 'querystring.limit'],
      ['limit=1001', 'querystring.limit'],
      ['limit=many', 'querystring.limit'],
      ['since=yesterday', 'querystring.since'],
      ['since=2025-06-01', 'querystring.since'],
      ['since=123456789012345678901', 'querystring.since'],
      ['resurce=config:', 'querystring.resurce'],
    ])('refuses %s with a problem naming %s', async (query, field) => {
      const res = await app.inject({ method: 'GET', url: `/v1/audit?${query}` });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'ZKG_VALIDATION_FAILED' });
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    });
  });

  describe('retention', () => {
    const root = '/retention';
    const directory = auditDirectory(root);
    const written = async (count: number) => {
      const ops = Array.from({ length: count }, (_, i) =>
        auditOp(root, tokenA, {
          action: 'config.publish',
          resource: `config:retention/${i}`,
          versionBefore: null,
          versionAfter: 1,
        }),
      );
      await gateway.services.store.multi(ops);
    };
    const left = async () => (await gateway.services.store.getChildren(directory)).children.sort();

    beforeAll(async () => {
      await mkdirs(gateway.services.store, directory);
    });

    it('is read from ZKGATE_AUDIT_RETENTION as COUNT,AGE', () => {
      const retention = (value?: string) =>
        parseAuditRetention(
          loadSettings(value === undefined ? {} : { ZKGATE_AUDIT_RETENTION: value }).auditRetention,
        );
      expect(retention()).toEqual({ count: 50_000, maxAgeMs: 90 * DAY_MS });
      expect(retention('1000,12h')).toEqual({ count: 1000, maxAgeMs: 12 * 3_600_000 });
      for (const bad of ['90d', '1000', '0,1d', '1000,0d', '1000,1y', '1000, 1d', '-1,1d']) {
        expect(() => retention(bad), bad).toThrow(SettingsError);
        expect(() => retention(bad), bad).toThrow(/ZKGATE_AUDIT_RETENTION/);
      }
    });

    it('prunes past the count, oldest first, in batches', async () => {
      await written(250);
      const before = await left();
      const trail = new AuditTrail(
        gateway.services.store,
        { isLeader: true },
        {
          root,
          retention: { count: 10, maxAgeMs: DAY_MS },
          logger: silent,
        },
      );
      // Read before pruning: the trail must forget what went.
      expect(await trail.query({ limit: 1000 })).toHaveLength(250);
      expect(await trail.prune(Date.now())).toBe(240);
      expect(await left()).toEqual(before.slice(-10));
      const kept = await trail.query({ limit: 1000 });
      expect(kept.map((r) => r.id)).toEqual(before.slice(-10).reverse());
      expect(await trail.prune(Date.now())).toBe(0);
    });

    it('prunes records past the age', async () => {
      const trail = new AuditTrail(
        gateway.services.store,
        { isLeader: true },
        {
          root,
          retention: { count: 1000, maxAgeMs: DAY_MS },
          logger: silent,
        },
      );
      expect(await trail.prune(Date.now())).toBe(0);
      const all = (await left()).length;
      expect(await trail.prune(Date.now() + 2 * DAY_MS)).toBe(all);
      expect(await left()).toEqual([]);
    });

    it('prunes nothing on a replica that does not lead', async () => {
      await written(5);
      const trail = new AuditTrail(
        gateway.services.store,
        { isLeader: false },
        {
          root,
          retention: { count: 1, maxAgeMs: DAY_MS },
          logger: silent,
        },
      );
      expect(await trail.prune(Date.now())).toBe(0);
      expect(await left()).toHaveLength(5);
    });
  });
});
