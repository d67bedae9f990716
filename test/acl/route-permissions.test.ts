/**
 * Every route declares what it requires: the OpenAPI document shows it on each operation, and a
 * route registered without a declaration stops the gateway at boot.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_KEY, parseRequirements } from '../../src/acl/permissions.js';
import { buildApp } from '../../src/app.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

describe('route permissions', () => {
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('are declared on every documented operation', async () => {
    const document = (await gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, Record<string, unknown>>>;
      components: { securitySchemes: Record<string, unknown> };
    }>();
    expect(document.components.securitySchemes).toMatchObject({ bearer: { type: 'http', scheme: 'bearer' } });
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ at: `${method} ${path}`, operation })),
    );
    expect(operations.length).toBeGreaterThan(20);
    for (const { at, operation } of operations) {
      expect(() => parseRequirements(operation[PERMISSION_KEY]), at).not.toThrow();
      // Clients (and Swagger UI) learn from the document which operations need the token.
      expect(operation['security'], at).toEqual(
        operation[PERMISSION_KEY] === 'public' ? undefined : [{ bearer: [] }],
      );
    }
    const declared = (at: string) => operations.find((o) => o.at === at)?.operation[PERMISSION_KEY];
    expect(declared('put /v1/config/{namespace}')).toBe('config:create|write');
    expect(declared('put /v1/config/{namespace}:schema')).toBe('config:admin');
    expect(declared('delete /v1/services/{service}/instances/{id}')).toBe('service:delete');
    expect(declared('get /healthz')).toBe('public');
  });

  it('refuse to register a route that declares none', async () => {
    const app = await buildApp({ services: gateway.services, logger: pino({ level: 'silent' }) });
    expect(() => app.get('/v1/undeclared', async () => 'open')).toThrow(
      /\/v1\/undeclared: no permission declared/,
    );
    expect(() =>
      app.get(
        '/v1/misdeclared',
        { schema: { [PERMISSION_KEY]: 'config:fly' } as object },
        async () => 'open',
      ),
    ).toThrow(/config:fly/);
    await app.close();
  });

  it('parse into resource kinds and alternatives', () => {
    expect(parseRequirements('public')).toEqual([]);
    expect(parseRequirements('authenticated')).toEqual([[]]);
    expect(parseRequirements('config:create|write')).toEqual([
      [{ kind: 'config', anyOf: ['create', 'write'] }],
    ]);
    expect(parseRequirements('config:read, service:read')).toEqual([
      [{ kind: 'config', anyOf: ['read'] }],
      [{ kind: 'service', anyOf: ['read'] }],
    ]);
    expect(parseRequirements('operator:read or acl:read')).toEqual([
      [
        { kind: 'operator', anyOf: ['read'] },
        { kind: 'acl', anyOf: ['read'] },
      ],
    ]);
    for (const bad of [
      undefined,
      '',
      'config',
      'config:',
      'cluster:read',
      'config:read,service:read',
      'operator:read or',
    ]) {
      expect(() => parseRequirements(bad), String(bad)).toThrow(TypeError);
    }
  });
});
