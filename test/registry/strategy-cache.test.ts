/**
 * Dispatch keeps one strategy object per service and variant (round robins keep their rotation
 * in it); services that are gone take theirs with them, and a policy change replaces rather than
 * adds, so the cache stays as large as the services dispatched to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

describe('the dispatcher strategy cache', () => {
  let gateway: EmbeddedApp;
  beforeAll(async () => {
    gateway = await startEmbeddedApp();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const register = async (service: string) => {
    const res = await gateway.inject({
      method: 'PUT',
      url: `/v1/services/${service}/instances/i-1`,
      payload: { address: '10.0.0.1', port: 8080, zone: 'z1' },
    });
    expect(res.statusCode).toBe(201);
  };
  const dispatch = async (service: string, query = '') => {
    const res = await gateway.inject(`/v1/dispatch/${service}?strategy=round_robin${query}`);
    expect(res.statusCode).toBe(200);
  };

  it('forgets the strategies of services that are gone, and replaces a variant whose policy changed', async () => {
    const registry = gateway.services.registry;
    const before = registry.provider.strategiesHeld;
    for (const service of ['s1', 's2', 's3']) {
      await register(service);
      await dispatch(service);
      await dispatch(service, '&zone=z1');
    }
    expect(registry.provider.strategiesHeld).toBe(before + 6);

    // A new zone share for s1: its zoned variant is replaced, not joined by another.
    const policy = await gateway.inject({
      method: 'PUT',
      url: '/v1/services/s1',
      payload: { zoneMinHealthyShare: 0.9 },
    });
    expect(policy.statusCode).toBe(200);
    await dispatch('s1', '&zone=z1');
    expect(registry.provider.strategiesHeld).toBe(before + 6);

    for (const service of ['s1', 's2', 's3']) {
      const res = await gateway.inject({ method: 'DELETE', url: `/v1/services/${service}/instances/i-1` });
      expect(res.statusCode).toBe(204);
    }
    await expect.poll(() => registry.provider.strategiesHeld).toBe(before);
  });
});
