/**
 * Active health checks end to end, on one gateway with the embedded store: a real HTTP server
 * behind each instance, HAProxy's rise and fall, dispatch following the verdict, TCP checks, the
 * global concurrency limit, no overlapping probes of one instance, and manual status winning.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/compose.js';
import type { InstanceStatus } from '../../src/registry/instance.js';
import { startHealthStub, type HealthStub } from '../support/health-stub.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { freePorts, makeTempDir } from '../support/processes.js';
import { MANAGEMENT } from '../support/tokens.js';

const INTERVAL_MS = 1000;

/** Resolves with the time the cache first shows `id` of `service` with `status`. */
function statusOf(services: Services, service: string, id: string, status: InstanceStatus): Promise<number> {
  const current = services.registry.cache.service(service)?.instances.get(id)?.instance.status;
  if (current === status) return Promise.resolve(Date.now());
  return new Promise((resolve) => {
    const off = services.registry.cache.onChange((changes) => {
      for (const change of changes) {
        if (change.service !== service || change.instanceId !== id) continue;
        if (change.entry?.instance.status === status) {
          off();
          resolve(Date.now());
        }
      }
    });
  });
}

describe('health checks', () => {
  let stub: HealthStub;
  let gateway: InProcessGateway;
  let dataDir: string;

  const put = (path: string, body: unknown) =>
    fetch(`${gateway.url}${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
      body: JSON.stringify(body),
    });
  const register = (service: string, id: string, check: Record<string, unknown>, port = stub.port) =>
    put(`/v1/services/${service}/instances/${id}`, {
      address: '127.0.0.1',
      port,
      ttl: '1h',
      check: { interval: '1s', timeout: '500ms', ...check },
    });

  beforeAll(async () => {
    stub = await startHealthStub();
    dataDir = await makeTempDir('zkgate-scanner-');
    gateway = await startInProcessGateway({ ZKGATE_DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await gateway?.close();
    await stub?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('takes an instance DOWN after fall failures, out of dispatch, and UP again after rise successes', async () => {
    const { services } = gateway;
    const [rise, fall] = [2, 3];
    expect((await register('web', 'a', { http: { path: '/health/a' }, rise, fall })).status).toBe(201);
    expect((await register('web', 'b', { http: { path: '/health/b' } })).status).toBe(201);
    await expect.poll(() => stub.count('a'), { timeout: 5_000 }).toBeGreaterThan(0);

    const failedAt = Date.now();
    stub.setStatus('a', 500);
    const downAt = await statusOf(services, 'web', 'a', 'DOWN');
    // HAProxy semantics: no verdict before `fall` failures in a row, and no later than `fall`
    // intervals after the instance began failing (plus the probe and the write).
    expect(stub.count('a', { status: 500 })).toBeGreaterThanOrEqual(fall);
    expect(downAt - failedAt).toBeLessThan(fall * INTERVAL_MS + 500);
    const listed = (await fetch(`${gateway.url}/v1/services/web/instances`, { headers: MANAGEMENT }).then(
      (r) => r.json(),
    )) as unknown[];
    expect(listed[0]).toMatchObject({ id: 'a', status: 'DOWN', checkStatus: 'DOWN', healthy: false });
    for (let i = 0; i < 8; i++) {
      const picked = (await fetch(`${gateway.url}/v1/dispatch/web`, { headers: MANAGEMENT }).then((r) =>
        r.json(),
      )) as { id: string };
      expect(picked.id).toBe('b');
    }
    const checks = (await fetch(`${gateway.url}/v1/services/web/checks`, { headers: MANAGEMENT }).then((r) =>
      r.json(),
    )) as unknown[];
    expect(checks).toEqual([
      {
        id: 'a',
        check: { http: { path: '/health/a' }, intervalMs: 1000, timeoutMs: 500, rise, fall },
        checkStatus: 'DOWN',
        last: {
          ok: false,
          at: expect.any(String),
          latencyMs: expect.any(Number),
          detail: 'HTTP 500',
          by: services.replicaId,
        },
      },
      expect.objectContaining({ id: 'b', last: expect.objectContaining({ ok: true, detail: 'HTTP 200' }) }),
    ]);

    const recoveredAt = Date.now();
    stub.setStatus('a', 200);
    const upAt = await statusOf(services, 'web', 'a', 'UP');
    expect(stub.count('a', { status: 200, after: recoveredAt })).toBeGreaterThanOrEqual(rise);
    expect(upAt - recoveredAt).toBeLessThan(rise * INTERVAL_MS + 500);
    const picks = new Set<string>();
    for (let i = 0; i < 8; i++)
      picks.add(
        (
          (await fetch(`${gateway.url}/v1/dispatch/web`, { headers: MANAGEMENT }).then((r) => r.json())) as {
            id: string;
          }
        ).id,
      );
    expect(picks).toEqual(new Set(['a', 'b']));
  });

  it('takes an instance whose TCP port is closed DOWN', async () => {
    const [closed] = await freePorts(1);
    expect((await register('tcp', 'gone', { tcp: true, fall: 2 }, closed)).status).toBe(201);
    await statusOf(gateway.services, 'tcp', 'gone', 'DOWN');
    const results = await gateway.services.hot.checkResults('tcp');
    expect(results.get('gone')).toMatchObject({ ok: false, detail: 'ECONNREFUSED' });
    const none = await fetch(`${gateway.url}/v1/dispatch/tcp`, { headers: MANAGEMENT });
    expect(none.status).toBe(503);
  });

  it('keeps a manual status over the verdict until it is cleared', async () => {
    const { services } = gateway;
    stub.setStatus('m', 503);
    await register('manual', 'm', { http: { path: '/health/m' }, fall: 1 });
    await statusOf(services, 'manual', 'm', 'DOWN');
    const forced = await put('/v1/services/manual/instances/m/status', { status: 'UP' });
    expect(forced.status).toBe(200);
    expect(await forced.json()).toMatchObject({ status: 'UP', manualStatus: 'UP', checkStatus: 'DOWN' });
    // Checks go on, and do not override it.
    const after = Date.now();
    await expect.poll(() => stub.count('m', { after }), { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    expect(services.registry.cache.service('manual')?.instances.get('m')?.instance.status).toBe('UP');
    await fetch(`${gateway.url}/v1/services/manual/instances/m/status`, {
      method: 'DELETE',
      headers: MANAGEMENT,
    });
    await statusOf(services, 'manual', 'm', 'DOWN');
  });

  it('stops probing an instance once it is deregistered', async () => {
    await register('gone', 'x', { http: { path: '/health/x' } });
    await register('gone', 'y', { http: { path: '/health/y' } });
    await expect.poll(() => stub.count('x'), { timeout: 5_000 }).toBeGreaterThan(0);
    const res = await fetch(`${gateway.url}/v1/services/gone/instances/x`, {
      method: 'DELETE',
      headers: MANAGEMENT,
    });
    expect(res.status).toBe(204);
    const after = Date.now();
    // Two probes of its sibling later, the deregistered one was probed no more.
    await expect.poll(() => stub.count('y', { after }), { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    expect(stub.count('x', { after })).toBe(0);
  });
});

describe('health checks under a concurrency limit', () => {
  let stub: HealthStub;
  let gateway: InProcessGateway;
  let dataDir: string;

  beforeAll(async () => {
    stub = await startHealthStub();
    dataDir = await makeTempDir('zkgate-scanner-limit-');
    gateway = await startInProcessGateway({ ZKGATE_DATA_DIR: dataDir, ZKGATE_CHECK_CONCURRENCY: '2' });
  });

  afterAll(async () => {
    await gateway?.close();
    await stub?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('never runs more probes at once than the limit, nor two of one instance', async () => {
    const ids = ['s1', 's2', 's3', 's4', 's5', 's6'];
    for (const id of ids) {
      // Slower than the interval allows for all six at two at a time: they queue, never overlap.
      stub.setDelay(id, 400);
      const res = await fetch(`${gateway.url}/v1/services/slow/instances/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...MANAGEMENT },
        body: JSON.stringify({
          address: '127.0.0.1',
          port: stub.port,
          check: { http: { path: `/health/${id}` }, interval: '1s', timeout: '900ms' },
        }),
      });
      expect(res.status).toBe(201);
    }
    for (const id of ids)
      await expect.poll(() => stub.count(id), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(stub.maxInFlight).toBe(2);
    expect(stub.maxInFlightPerInstance).toBe(1);
    expect(gateway.services.scanner.status()).toMatchObject({ active: true, owned: 6 });
  });
});
