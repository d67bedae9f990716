/**
 * The config center's HTTP contract, in both modes: the embedded store and a real ZooKeeper.
 */
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/acl/actor.js';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { loadSettings } from '../../src/settings.js';
import { asOperator, type OperatorInject } from '../support/embedded-app.js';
import { makeTempDir } from '../support/processes.js';
import { BOOTSTRAP_ENV } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

type App = Awaited<ReturnType<typeof buildApp>>;

interface Mode {
  name: string;
  start(): Promise<{ services: Services; plain: CoordinationStore; stop(): Promise<void> }>;
}

const logger = pino({ level: 'silent' });
const SMALL_LIMITS = { ZKGATE_CONFIG_MAX_BYTES: '4096', ZKGATE_HISTORY_LIMIT: '5' };

const modes: Mode[] = [
  {
    name: 'embedded',
    async start() {
      const dataDir = await makeTempDir('zkgate-config-');
      const services = await createServices(
        loadSettings({ ZKGATE_DATA_DIR: dataDir, ...BOOTSTRAP_ENV, ...SMALL_LIMITS }),
        logger,
      );
      return {
        services,
        // In embedded mode a "plain client" is another session on the same store.
        plain: services.store,
        async stop() {
          await services.close();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'zookeeper',
    async start() {
      const zk: ZkStandalone = await startZooKeeper();
      const services = await createServices(
        loadSettings({ ZKGATE_ZK: zk.connectString, ...BOOTSTRAP_ENV, ...SMALL_LIMITS }),
        logger,
      );
      const plain = await ZooKeeperStore.connect({ connectString: zk.connectString });
      return {
        services,
        plain,
        async stop() {
          await services.close();
          await plain.close();
          await zk.stop();
        },
      };
    },
  },
];

for (const mode of modes) {
  describe(`config API (${mode.name})`, () => {
    let app: App;
    // Requests act as the operator: these tests are about the API, not access control.
    let inject: OperatorInject;
    let env: Awaited<ReturnType<Mode['start']>>;
    let n = 0;
    const fresh = (): string => `test/ns${++n}`;

    const put = (ns: string, body: string, type = 'application/json', headers: Record<string, string> = {}) =>
      inject({
        method: 'PUT',
        url: `/v1/config/${ns}`,
        payload: body,
        headers: { 'content-type': type, ...headers },
      });
    const get = (url: string, headers: Record<string, string> = {}) =>
      inject({ method: 'GET', url, headers });

    beforeAll(async () => {
      env = await mode.start();
      app = await buildApp({ services: env.services, logger });
      await app.ready();
      inject = asOperator(app);
    });

    afterAll(async () => {
      await app?.close();
      await env?.stop();
    });

    it('publishes and reads back byte for byte with version headers', async () => {
      const ns = fresh();
      const body = '{ "limit": 10,\n  "name": "caf\u00e9" }\n';
      const created = await put(ns, body, 'application/json; charset=utf-8');
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ namespace: ns, version: 1 });
      // The ETag is the version and a digest of the bytes: a strong validator.
      expect(created.headers.etag).toMatch(/^"1-[0-9a-f]{16}"$/);
      const read = await get(`/v1/config/${ns}`);
      expect(read.statusCode).toBe(200);
      expect(read.rawPayload.equals(Buffer.from(body))).toBe(true);
      expect(read.headers['content-type']).toMatch(/^application\/json/);
      expect(read.headers.etag).toBe(created.headers.etag);
      expect(read.headers['x-zkgate-version']).toBe('1');
      expect(read.headers['x-zkgate-index']).toBe(created.json().index);
      expect(read.headers['x-zkgate-stale']).toBeUndefined();
    });

    it('answers 304 on a matching ETag and 412 on a stale If-Match', async () => {
      const ns = fresh();
      await put(ns, '{"v":1}');
      const second = await put(ns, '{"v":2}');
      expect(second.statusCode).toBe(200);
      expect(second.json().version).toBe(2);
      const etag = second.headers.etag as string;
      expect((await get(`/v1/config/${ns}`, { 'if-none-match': etag })).statusCode).toBe(304);
      expect((await get(`/v1/config/${ns}`, { 'if-none-match': `W/${etag}, "x"` })).statusCode).toBe(304);
      expect((await get(`/v1/config/${ns}`, { 'if-none-match': '"1"' })).statusCode).toBe(200);
      // A version alone is no entity tag: it does not say which content.
      expect((await get(`/v1/config/${ns}`, { 'if-none-match': '"2"' })).statusCode).toBe(200);
      const stale = await put(ns, '{"v":3}', 'application/json', { 'if-match': '"1"' });
      expect(stale.statusCode).toBe(412);
      expect(stale.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(stale.json().code).toBe('ZKG_CONFIG_VERSION_CONFLICT');
      expect((await put(ns, '{"v":3}', 'application/json', { 'if-match': '"2"' })).json().version).toBe(3);
      const exists = await put(ns, '{}', 'application/json', { 'if-none-match': '*' });
      expect(exists.statusCode).toBe(412);
      expect(exists.json().code).toBe('ZKG_CONFIG_EXISTS');
      expect((await put(fresh(), '{}', 'application/json', { 'if-none-match': '*' })).statusCode).toBe(201);
    });

    it('rejects malformed documents with the line and column', async () => {
      const json = await put(fresh(), '{\n  "a": 1,\n  "b": }\n');
      expect(json.statusCode).toBe(400);
      expect(json.json()).toMatchObject({ code: 'ZKG_CONFIG_MALFORMED', format: 'json', line: 3 });
      const yaml = await put(fresh(), 'a: 1\nb:\n  - x\n - y\n', 'application/yaml');
      expect(yaml.statusCode).toBe(400);
      expect(yaml.json()).toMatchObject({ code: 'ZKG_CONFIG_MALFORMED', format: 'yaml' });
      const duplicate = await put(fresh(), 'a: 1\nb: 2\na: 3\n', 'application/yaml');
      expect(duplicate.statusCode).toBe(400);
      expect(duplicate.json()).toMatchObject({ code: 'ZKG_CONFIG_MALFORMED', line: 3 });
      expect((await put(fresh(), 'a=1\nb: 2\n', 'text/x-java-properties')).statusCode).toBe(201);
      const unsupported = await put(fresh(), '<a/>', 'application/xml');
      expect(unsupported.statusCode).toBe(415);
    });

    it('rejects an oversize document with 413', async () => {
      const res = await put(fresh(), JSON.stringify({ big: 'x'.repeat(5000) }));
      expect(res.statusCode).toBe(413);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    });

    it('validates publishes against the namespace schema', async () => {
      const ns = fresh();
      const schema = {
        type: 'object',
        required: ['port'],
        properties: { port: { type: 'integer', maximum: 65535 } },
      };
      const set = await inject({ method: 'PUT', url: `/v1/config/${ns}:schema`, payload: schema });
      expect(set.statusCode).toBe(204);
      expect((await get(`/v1/config/${ns}:schema`)).json()).toEqual(schema);
      const bad = await put(ns, '{"port": 70000}');
      expect(bad.statusCode).toBe(422);
      expect(bad.json()).toMatchObject({ code: 'ZKG_SCHEMA_VIOLATION' });
      expect(bad.json().errors).toContainEqual(
        expect.objectContaining({ instancePath: '/port', keyword: 'maximum' }),
      );
      const badYaml = await put(ns, 'port: nope\n', 'application/yaml');
      expect(badYaml.statusCode).toBe(422);
      expect((await put(ns, 'port: 8080\n', 'application/yaml')).statusCode).toBe(201);
      const broken = await inject({
        method: 'PUT',
        url: `/v1/config/${ns}:schema`,
        payload: { type: 'object', properties: { port: { type: 'no-such-type' } } },
      });
      expect(broken.statusCode).toBe(400);
      expect(broken.json().code).toBe('ZKG_SCHEMA_INVALID');
      // The live document must satisfy a new schema.
      const violated = await inject({
        method: 'PUT',
        url: `/v1/config/${ns}:schema`,
        payload: { type: 'object', required: ['host'] },
      });
      expect(violated.statusCode).toBe(422);
    });

    it('answers 404 for unknown namespaces and 400 for invalid names', async () => {
      const missing = await get('/v1/config/no/such/namespace');
      expect(missing.statusCode).toBe(404);
      expect(missing.json().code).toBe('ZKG_CONFIG_NOT_FOUND');
      for (const bad of ['a//b', 'a/b$c', '-dash', 'a/_x', Array(9).fill('s').join('/'), 'x'.repeat(129)]) {
        const res = await put(bad, '{}');
        expect(res.statusCode, bad).toBe(400);
        expect(res.json().code, bad).toBe('ZKG_NAMESPACE_INVALID');
      }
      // HTTP clients resolve dot segments before sending (even percent-encoded ones), so these
      // reach the service only from other callers; it refuses them too.
      for (const bad of ['a/../b', 'a/./b', '..']) {
        await expect(
          env.services.config.publish(systemActor('test'), bad, { body: Buffer.from('{}'), format: 'json' }),
        ).rejects.toMatchObject({ code: 'ZKG_NAMESPACE_INVALID' });
      }
    });

    it('keeps history and rolls back as a new version', async () => {
      const ns = fresh();
      for (let v = 1; v <= 3; v++) {
        await put(ns, `{"v":${v}}`, 'application/json', {
          'x-zkgate-author': 'ana',
          'x-zkgate-comment': `release%20${v}`,
        });
      }
      const history = await get(`/v1/config/${ns}:history`);
      expect(history.statusCode).toBe(200);
      expect(history.json().map((r: { version: number }) => r.version)).toEqual([3, 2, 1]);
      // The author is the publishing token's description (the operator's here), never a header.
      expect(history.json()[0]).toMatchObject({
        author: 'bootstrap management token',
        comment: 'release 3',
        format: 'json',
        size: 7,
      });
      const first = await get(`/v1/config/${ns}:history/1`);
      expect(first.body).toBe('{"v":1}');
      expect(first.headers['x-zkgate-version']).toBe('1');
      expect((await get(`/v1/config/${ns}:history/9`)).json().code).toBe('ZKG_RELEASE_NOT_FOUND');
      // Pages go back from a version, whatever was published since.
      const versionsOf = async (query: string): Promise<number[]> =>
        (await get(`/v1/config/${ns}:history?${query}`)).json().map((r: { version: number }) => r.version);
      expect(await versionsOf('before=3')).toEqual([2, 1]);
      expect(await versionsOf('before=3&limit=1')).toEqual([2]);
      expect(await versionsOf('before=1')).toEqual([]);
      expect((await get(`/v1/config/${ns}:history?before=0`)).json().code).toBe('ZKG_VALIDATION_FAILED');
      const rollback = await inject({
        method: 'POST',
        url: `/v1/config/${ns}:rollback`,
        payload: { version: 1 },
      });
      expect(rollback.statusCode).toBe(200);
      expect(rollback.json().version).toBe(4);
      expect((await get(`/v1/config/${ns}`)).body).toBe('{"v":1}');
      expect((await get(`/v1/config/${ns}:history?limit=1`)).json()[0]).toMatchObject({
        version: 4,
        comment: 'rollback to version 1',
      });
    });

    it('bounds the history by the setting', async () => {
      const ns = fresh();
      for (let v = 1; v <= 7; v++) await put(ns, `{"v":${v}}`);
      const versions = (await get(`/v1/config/${ns}:history?limit=100`))
        .json()
        .map((r: { version: number }) => r.version);
      expect(versions).toEqual([7, 6, 5, 4, 3]);
    });

    it('deletes, then continues the version sequence on re-creation', async () => {
      const ns = fresh();
      await put(ns, '{"v":1}');
      await put(ns, '{"v":2}');
      const stale = await inject({
        method: 'DELETE',
        url: `/v1/config/${ns}`,
        headers: { 'if-match': '"1"' },
      });
      expect(stale.statusCode).toBe(412);
      const deleted = await inject({ method: 'DELETE', url: `/v1/config/${ns}` });
      expect(deleted.statusCode).toBe(200);
      expect(deleted.json()).toMatchObject({ namespace: ns, version: 2 });
      expect((await get(`/v1/config/${ns}`)).statusCode).toBe(404);
      expect((await inject({ method: 'DELETE', url: `/v1/config/${ns}` })).statusCode).toBe(404);
      const again = await put(ns, '{"v":3}');
      expect(again.statusCode).toBe(201);
      expect(again.json().version).toBe(3);
      // An ETag of the old incarnation does not match the new one.
      expect((await get(`/v1/config/${ns}`, { 'if-none-match': '"2"' })).statusCode).toBe(200);
    });

    it('takes a full ETag in If-Match and refuses one whose content is not current', async () => {
      const ns = fresh();
      const first = await put(ns, '{"v":1}');
      const etag = first.headers.etag as string;
      const forged = etag.replace(/-[0-9a-f]{16}/, '-0000000000000000');
      const refused = await put(ns, '{"v":2}', 'application/json', { 'if-match': forged });
      expect(refused.statusCode).toBe(412);
      expect(refused.json().code).toBe('ZKG_CONFIG_VERSION_CONFLICT');
      expect((await put(ns, '{"v":2}', 'application/json', { 'if-match': etag })).statusCode).toBe(200);
      const garbage = await put(ns, '{"v":3}', 'application/json', { 'if-match': '"2-zz"' });
      expect(garbage.statusCode).toBe(400);
    });

    it('lists namespaces by prefix', async () => {
      await put('list/a/one', '{}');
      await put('list/a/two', 'x', 'text/plain');
      await put('list/b', '{}');
      const res = await get('/v1/config?prefix=list/a/');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual([
        expect.objectContaining({ namespace: 'list/a/one', version: 1, format: 'json' }),
        expect.objectContaining({ namespace: 'list/a/two', version: 1, format: 'text' }),
      ]);
    });

    it('long-polls until the index passes, else 304 at the deadline', async () => {
      const ns = fresh();
      const index = (await put(ns, '{"v":1}')).json().index as string;
      const idle = await get(`/v1/config/${ns}?index=${index}&wait=100ms`);
      expect(idle.statusCode).toBe(304);
      expect(idle.headers.etag).toMatch(/^"1-[0-9a-f]{16}"$/);
      const polling = get(`/v1/config/${ns}?index=${index}&wait=20s`);
      const started = Date.now();
      await put(ns, '{"v":2}');
      const changed = await polling;
      expect(changed.statusCode).toBe(200);
      expect(changed.body).toBe('{"v":2}');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await get(`/v1/config/${ns}?index=${index}`)).body).toBe('{"v":2}');
      expect((await get(`/v1/config/${ns}?index=abc`)).statusCode).toBe(400);
    });

    it('answers a long-poll from an index no store reached with the current document', async () => {
      const ns = fresh();
      const index = (await put(ns, '{"v":1}')).json().index as string;
      const ahead = String(BigInt(index) + 1_000_000n);
      // Not held for the whole wait: the client's index cannot be trusted, so it gets the state.
      const answer = await get(`/v1/config/${ns}?index=${ahead}&wait=60s`);
      expect(answer.statusCode).toBe(200);
      expect(answer.body).toBe('{"v":1}');
    });

    it('stores the document at its znode, and serves changes made there directly', async () => {
      const ns = fresh();
      const body = 'a: 1\n# comment kept\n';
      await put(ns, body, 'application/yaml');
      const path = `/zkgate/config/${ns}`;
      const znode = await env.plain.getData(path);
      expect(znode.data.toString()).toBe(body);
      await env.plain.setData(path, Buffer.from('a: 2\n'));
      const changed = await get(`/v1/config/${ns}?index=${znode.stat.mzxid}&wait=5s`);
      expect(changed.statusCode).toBe(200);
      expect(changed.body).toBe('a: 2\n');
      expect(changed.headers['x-zkgate-version']).toBe('2');
    });
  });
}
