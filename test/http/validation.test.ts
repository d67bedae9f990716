/**
 * One validation policy for every route, read off the OpenAPI document where it can be: an
 * unknown query parameter or body field is a 400 naming it; a rollback's body is checked by its
 * schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed, startEmbeddedApp, type EmbeddedApp, sendJson } from '../support/embedded-app.js';

interface Problem {
  code: string;
  detail: string;
  errors?: Array<{ field: string; message: string }>;
}

interface Schema {
  $ref?: string;
  properties?: Record<string, unknown>;
  anyOf?: Schema[];
}

interface Operation {
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

const NS = 'policy/ns';
const SERVICE = 'policy-svc';
const ID = 'i-1';

describe('one validation policy', () => {
  let gateway: EmbeddedApp;
  let doc: Document;
  let accessor: string;

  const json = (method: 'PUT' | 'POST', url: string, body: unknown) => sendJson(gateway, method, url, body);

  /** A documented path with every parameter filled in with something that exists. */
  const concrete = (path: string): string =>
    path
      .replace('{namespace}', NS)
      .replace('{version}', '1')
      .replace('{service}', SERVICE)
      .replace('{id}', ID)
      .replace('{accessor}', accessor)
      .replace('{name}', 'management');

  const problemOf = (res: { statusCode: number; json(): unknown }): Problem => {
    expect(res.statusCode).toBe(400);
    return res.json() as Problem;
  };

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    doc = gateway.app.swagger() as unknown as Document;
    await seed(gateway, { namespace: NS, service: SERVICE, id: ID });
    accessor = ((await gateway.inject('/v1/acl/tokens')).json() as Array<{ accessor: string }>)[0]!.accessor;
  });

  afterAll(async () => {
    await gateway?.close();
  });

  describe('unknown parameters and fields', () => {
    it('refuses an unknown query parameter on every GET route, naming it', async () => {
      const gets = Object.entries(doc.paths).filter(([, operations]) => operations.get);
      expect(gets.length).toBeGreaterThan(15);
      for (const [path] of gets) {
        const res = await gateway.inject(`${concrete(path)}?prefx=zzz`);
        const problem = problemOf(res);
        expect(problem.code, path).toBe('ZKG_VALIDATION_FAILED');
        expect(problem.errors, path).toContainEqual({
          field: 'querystring.prefx',
          message: 'is not a known field',
        });
        expect(problem.detail, path).toContain('querystring.prefx is not a known field');
      }
    });

    it('takes on a config sub-resource its own parameters, not those of another one', async () => {
      // A query string is text: `limit`, declared an integer, is read as one.
      const page = await gateway.inject(`/v1/config/${NS}:history?limit=1`);
      expect(page.statusCode).toBe(200);
      expect(page.json()).toHaveLength(1);
      expect(problemOf(await gateway.inject(`/v1/config/${NS}:history?limit=one`)).errors).toContainEqual({
        field: 'querystring.limit',
        message: 'must be integer',
      });
      for (const [url, name] of [
        [`/v1/config/${NS}:history?index=1`, 'index'],
        [`/v1/config/${NS}:history?wait=1s`, 'wait'],
        [`/v1/config/${NS}?limit=1`, 'limit'],
        [`/v1/config/${NS}:schema?limit=1`, 'limit'],
        [`/v1/config/${NS}:history/1?index=1`, 'index'],
      ] as const) {
        expect(problemOf(await gateway.inject(url)).errors, url).toContainEqual({
          field: `querystring.${name}`,
          message: 'is not a known field',
        });
      }
    });

    it('refuses a query parameter on a route that takes none, whatever the method', async () => {
      const publish = await gateway.inject({
        method: 'PUT',
        url: `/v1/config/${NS}?comment=x`,
        payload: '{"v":2}',
        headers: { 'content-type': 'application/json' },
      });
      expect(problemOf(publish).errors).toContainEqual({
        field: 'querystring.comment',
        message: 'is not a known field',
      });
      const head = await gateway.inject({ method: 'HEAD', url: '/v1/services?status=UP' });
      expect(head.statusCode).toBe(400);
    });

    it('refuses an unknown field in every JSON body that declares its fields, naming it', async () => {
      const resolve = (schema: Schema): Schema =>
        schema.$ref
          ? resolve(doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]!)
          : schema;
      const declaresFields = (schema: Schema): boolean =>
        schema.properties !== undefined ||
        (schema.anyOf ?? []).some((branch) => declaresFields(resolve(branch)));
      const bodies = Object.entries(doc.paths).flatMap(([path, operations]) =>
        Object.entries(operations).flatMap(([method, operation]) => {
          const schema = operation.requestBody?.content?.['application/json']?.schema;
          return schema && declaresFields(resolve(schema))
            ? [[method.toUpperCase() as 'PUT' | 'POST', path] as const]
            : [];
        }),
      );
      expect(bodies.map(([method, path]) => `${method} ${path}`)).toContain(
        'POST /v1/config/{namespace}:rollback',
      );
      for (const [method, path] of bodies) {
        const problem = problemOf(await json(method, concrete(path), { wieght: 1 }));
        expect(problem.errors, `${method} ${path}`).toContainEqual({
          field: 'body.wieght',
          message: 'is not a known field',
        });
      }
    });
  });

  describe('the rollback body', () => {
    const rollback = (payload: string | undefined, contentType = 'application/json') =>
      gateway.inject({
        method: 'POST',
        url: `/v1/config/${NS}:rollback`,
        ...(payload === undefined ? {} : { payload, headers: { 'content-type': contentType } }),
      });

    it('is checked by its schema field by field, must be JSON, and is read only for a rollback', async () => {
      for (const [payload, field, message] of [
        ['{"version": 1, "comment": "x"}', 'body.comment', 'is not a known field'],
        ['{"version": "1"}', 'body.version', 'must be integer'],
        ['{"version": 0}', 'body.version', 'must be >= 1'],
        ['{"version": 1.5}', 'body.version', 'must be integer'],
        ['{}', 'body.version', "must have required property 'version'"],
        ['[1]', 'body', 'must be object'],
      ] as const) {
        const problem = problemOf(await rollback(payload));
        expect(problem.code, payload).toBe('ZKG_VALIDATION_FAILED');
        expect(problem.errors, payload).toContainEqual({ field, message });
      }
      expect(problemOf(await rollback(undefined)).code).toBe('ZKG_VALIDATION_FAILED');
      expect(problemOf(await rollback('{"version":')).code).toBe('ZKG_VALIDATION_FAILED');

      const plain = await rollback('{"version": 1}', 'text/plain');
      expect(plain.statusCode).toBe(415);
      expect((plain.json() as Problem).code).toBe('ZKG_UNSUPPORTED_MEDIA_TYPE');
      const elsewhere = await gateway.inject({
        method: 'POST',
        url: `/v1/config/${NS}`,
        payload: 'not even JSON',
        headers: { 'content-type': 'text/plain' },
      });
      expect(elsewhere.statusCode).toBe(405);

      const valid = await rollback('{"version": 1}', 'application/json; charset=utf-8');
      expect(valid.statusCode).toBe(200);
      expect(valid.json()).toMatchObject({ namespace: NS });
      expect((await gateway.inject(`/v1/config/${NS}`)).body).toBe('{"v":1}');
    });
  });
});
