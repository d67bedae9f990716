/**
 * The registry's side of isolation: a token that may read `service:orders` learns nothing of
 * `billing` through the listing of services, instances, checks, dispatch or a watch, and its
 * watch of both services is refused as a whole. (Config reads are in isolation.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerFor, startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

describe('a read token on service:orders', () => {
  let gateway: EmbeddedApp;
  let reader: Record<string, string>;

  const asReader = (url: string) => gateway.app.inject({ method: 'GET', url, headers: reader });

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    for (const service of ['orders', 'billing']) {
      const res = await gateway.inject({
        method: 'PUT',
        url: `/v1/services/${service}/instances/${service}-1`,
        payload: { address: '127.0.0.1', port: 8080 },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const policy = await gateway.inject({
      method: 'PUT',
      url: '/v1/acl/policies/orders-read',
      payload: { rules: { service: { orders: ['read'] } } },
    });
    expect(policy.statusCode).toBe(201);
    reader = await bearerFor(gateway, 'orders reader', ['orders-read']);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('lists only the services it may read', async () => {
    const all = await gateway.inject('/v1/services');
    expect(all.json<Array<{ service: string }>>().map((s) => s.service)).toEqual(
      expect.arrayContaining(['orders', 'billing']),
    );
    const listed = await asReader('/v1/services');
    expect(listed.statusCode).toBe(200);
    expect(listed.headers['cache-control']).toBe('private');
    expect(listed.json<Array<{ service: string }>>().map((s) => s.service)).toEqual(['orders']);
  });

  it('reads its own service and gets 403 for every read of the other', async () => {
    for (const path of ['/services/orders/instances', '/services/orders/checks', '/dispatch/orders']) {
      expect((await asReader(`/v1${path}`)).statusCode, path).toBe(200);
    }
    for (const path of ['/services/billing/instances', '/services/billing/checks', '/dispatch/billing']) {
      const res = await asReader(`/v1${path}`);
      expect(res.statusCode, path).toBe(403);
      expect(res.json<{ detail: string }>().detail).toContain('service:billing read');
      expect(res.body).not.toContain('billing-1');
    }
  });

  it('may not watch the other service, alone or next to its own', async () => {
    for (const query of ['service=billing', 'service=orders&service=billing']) {
      const res = await asReader(`/v1/watch?${query}`);
      expect(res.statusCode, query).toBe(403);
    }
  });
});
