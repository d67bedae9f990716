/**
 * Hostile documents and schemas through the HTTP API: each is answered with a 4xx problem, in
 * time, and the gateway keeps serving. Before the bounds, the first request below aborted the
 * process (`FATAL ERROR: RegExpCompiler Allocation failed`), which would kill this test worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/compose.js';
import { ConfigLayout } from '../../src/config/namespace.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

describe('hostile documents and schemas over HTTP (embedded)', () => {
  let gateway: EmbeddedApp;
  let services: Services;
  let n = 0;
  const fresh = (): string => `hostile/ns${++n}`;

  const put = (ns: string, body: string, type = 'application/json') =>
    gateway.inject({
      method: 'PUT',
      url: `/v1/config/${ns}`,
      payload: body,
      headers: { 'content-type': type },
    });
  const putSchema = (ns: string, schema: unknown) =>
    gateway.inject({
      method: 'PUT',
      url: `/v1/config/${ns}:schema`,
      payload: typeof schema === 'string' ? schema : JSON.stringify(schema),
      headers: { 'content-type': 'application/json' },
    });

  beforeAll(async () => {
    // Default limits: a 400 KB document is accepted, so the bounds below are what refuses.
    gateway = await startEmbeddedApp();
    ({ services } = gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses 100,000 nested YAML flow sequences with a located 400, every time', async () => {
    const body = `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await put('yaml/deep1', body, 'application/yaml');
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({
        code: 'ZKG_CONFIG_MALFORMED',
        detail: 'yaml: nested deeper than 64 levels at line 1, column 67',
        format: 'yaml',
        line: 1,
        column: 67,
      });
    }
  });

  const lines = (count: number, line: (i: number) => string): string =>
    Array.from({ length: count }, (_, i) => line(i)).join('\n');
  const billionLaughs = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ...'bcdefghi'
      .split('')
      .map((name, i) => `${name}: &${name} [${Array<string>(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
  ].join('\n');

  it.each([
    [
      'JSON: 100,000 nested arrays',
      'application/json',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      'nested deeper',
    ],
    [
      'JSON: {"a": 100,000 times',
      'application/json',
      `${'{"a":'.repeat(60_000)}1${'}'.repeat(60_000)}`,
      'nested deeper',
    ],
    [
      'YAML: nested flow mappings',
      'application/yaml',
      `${'{a: '.repeat(80_000)}1${'}'.repeat(80_000)}`,
      'nested deeper',
    ],
    ['YAML: nested block sequences', 'application/yaml', `${'- '.repeat(100_000)}1\n- 2\n`, 'nested deeper'],
    [
      'YAML: indented block mappings',
      'application/yaml',
      `${lines(800, (i) => `${' '.repeat(i)}a:`)} 1\n`,
      'nested deeper',
    ],
    ['YAML: a billion laughs', 'application/yaml', billionLaughs, 'once aliases are expanded'],
    [
      'YAML: a merge-key bomb',
      'application/yaml',
      `%YAML 1.1\n---\nbase: &a {${lines(30_000, (i) => `k${i}: 0`).replace(/\n/g, ', ')}}\n${lines(50, (i) => `m${i}: {<<: *a}`)}\n`,
      'once aliases are expanded',
    ],
    ['YAML: an alias inside its own anchor', 'application/yaml', 'a: &a [*a, {b: *a}]\n', '(a cycle)'],
    [
      'YAML: 20,000 aliases',
      'application/yaml',
      `[${Array<string>(20_000).fill('&a 0, *a').join(', ')}]`,
      'more than 1000',
    ],
  ])('refuses %s with a 400', async (_what, type, body, reason) => {
    expect(Buffer.byteLength(body)).toBeLessThan(409_600);
    const res = await put(fresh(), body, type);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'ZKG_CONFIG_MALFORMED', line: expect.any(Number) });
    expect(res.json().detail).toContain(reason);
  });

  it('keeps serving after all of them', async () => {
    expect((await put(fresh(), 'a: [1, {b: 2}]\n', 'application/yaml')).statusCode).toBe(201);
    expect((await gateway.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers a ReDoS pattern quickly: ^(a+)+$ against 30 characters and a mismatch', async () => {
    const ns = fresh();
    const schema = { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } };
    expect((await putSchema(ns, schema)).statusCode).toBe(204);
    const started = performance.now();
    const res = await put(ns, `{"a":"${'a'.repeat(30)}!"}`);
    // V8's backtracking took 5 s with 27 characters, doubling with each further "a": 40 s here.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([expect.objectContaining({ instancePath: '/a', keyword: 'pattern' })]);
    expect((await put(ns, `{"a":"${'a'.repeat(100_000)}"}`)).statusCode).toBe(201);
  });

  it('refuses a pattern RE2 cannot run, naming it', async () => {
    const res = await putSchema(fresh(), { properties: { p: { type: 'string', pattern: '^(?!admin).*$' } } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ZKG_SCHEMA_INVALID');
    expect(res.json().detail).toContain('pattern "^(?!admin).*$" is not supported');
  });

  it('refuses a self-recursive schema, and the namespace keeps taking documents', async () => {
    const ns = fresh();
    for (const schema of [{ $ref: '#' }, { allOf: [{ $ref: '#/$defs/a' }], $defs: { a: { $ref: '#' } } }]) {
      const res = await putSchema(ns, schema);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('ZKG_SCHEMA_INVALID');
      expect(res.json().detail).toContain('refers back to itself');
    }
    expect((await put(ns, '{"a":1}')).statusCode).toBe(201);
    expect((await put(ns, 'a: 2\n', 'application/yaml')).statusCode).toBe(200);
  });

  it('accepts a recursive schema that descends into the instance', async () => {
    const ns = fresh();
    const tree = { type: 'object', properties: { name: { type: 'string' }, child: { $ref: '#' } } };
    expect((await putSchema(ns, tree)).statusCode).toBe(204);
    expect((await put(ns, '{"name":"a","child":{"name":"b","child":{}}}')).statusCode).toBe(201);
    const bad = await put(ns, 'name: a\nchild:\n  child:\n    name: 3\n', 'application/yaml');
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors).toEqual([expect.objectContaining({ instancePath: '/child/child/name' })]);
  });

  it('answers 400, not 500, to publishes under a looping schema stored behind its back', async () => {
    const ns = fresh();
    expect((await putSchema(ns, { type: 'object' })).statusCode).toBe(204);
    expect((await put(ns, '{"a":1}')).statusCode).toBe(201);
    // As a plain ZooKeeper client (or a gateway before this check) would store it.
    const path = new ConfigLayout('/zkgate').metaOf(ns);
    const meta = JSON.parse((await services.store.getData(path)).data.toString()) as Record<string, unknown>;
    await services.store.setData(path, Buffer.from(JSON.stringify({ ...meta, schema: { $ref: '#' } })));

    for (const [body, type] of [
      ['{"a":2}', 'application/json'],
      ['a: 2\n', 'application/yaml'],
    ] as const) {
      const res = await put(ns, body, type);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'ZKG_SCHEMA_INVALID' });
      expect(res.json().detail).toMatch(/^the namespace's schema cannot be used, replace it: /);
    }
    expect((await putSchema(ns, { type: 'object' })).statusCode).toBe(204);
    expect((await put(ns, '{"a":3}')).statusCode).toBe(200);
  });

  it('refuses a schema nested 40,000 levels deep', async () => {
    const res = await putSchema(fresh(), `${'{"not":'.repeat(40_000)}{}${'}'.repeat(40_000)}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'ZKG_SCHEMA_INVALID',
      detail: 'the schema nests deeper than 160 levels',
    });
  });

  it('answers an exponential schema with a 400 in time instead of exhausting the heap', async () => {
    const ns = fresh();
    const $defs: Record<string, unknown> = { d30: { type: 'string' } };
    for (let i = 0; i < 30; i++)
      $defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    expect((await putSchema(ns, { $defs, $ref: '#/$defs/d0' })).statusCode).toBe(204);
    const res = await put(ns, '1');
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toContain('subschema applications');
  });
});
