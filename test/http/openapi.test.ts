/**
 * The OpenAPI document cannot drift: the committed openapi/openapi.json is what the gateway
 * generates from its route schemas, every route is documented, and every documented operation is
 * served. Regenerate with `npm run openapi`.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors.js';
import { startEmbeddedApp, type App, type EmbeddedApp } from '../support/embedded-app.js';

type Document = {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
};

describe('OpenAPI document', () => {
  let gateway: EmbeddedApp;
  let app: App;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    app = gateway.app;
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('is committed exactly as the gateway generates it', async () => {
    const committed = JSON.parse(
      await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'),
    );
    expect(committed, 'openapi/openapi.json is stale: run `npm run openapi`').toEqual(app.swagger());
  });

  it('is served at /openapi.json, with Swagger UI at /docs', async () => {
    const spec = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.json()).toEqual(app.swagger());
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });

  it('names every error code of the catalog in the Problem schema', () => {
    const doc = app.swagger() as unknown as Document;
    const problem = doc.components.schemas.Problem as { properties: { code: { enum: string[] } } };
    expect(problem.properties.code.enum).toEqual(Object.keys(ERRORS));
  });

  it('documents operations that are all served', async () => {
    const doc = app.swagger() as unknown as Document;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations)) {
        const url = path.replace('{namespace}', 'docs/probe').replace('{version}', '1');
        const body =
          method === 'get' ? {} : { payload: '{}', headers: { 'content-type': 'application/json' } };
        // As the operator: an answer of the route itself, not a 401 of any route.
        const res = await gateway.inject({ method: method.toUpperCase() as 'GET', url, ...body });
        expect(res.statusCode, `${method} ${path}`).not.toBe(401);
        const code = String(res.headers['content-type'] ?? '').includes('problem')
          ? (res.json() as { code: string }).code
          : undefined;
        expect([code, res.statusCode], `${method} ${path}`).not.toEqual(['ZKG_ROUTE_NOT_FOUND', 404]);
        expect(code, `${method} ${path}`).not.toBe('ZKG_METHOD_NOT_ALLOWED');
      }
    }
  });
});
