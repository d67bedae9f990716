/**
 * `/metrics` parses as Prometheus text (by the official Python client's parser, not prom-client)
 * and moves with the traffic it counts: every figure is checked as the difference between two
 * scrapes around the requests that should move it.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { freePorts, makeTempDir } from '../support/processes.js';
import { parsePrometheus, value, type Sample } from '../support/prometheus.js';
import { openSse } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';

describe('parsePrometheus (the Python client parser)', () => {
  it('reads samples, labels and non-finite values', async () => {
    const samples = await parsePrometheus(
      [
        '# HELP demo_total A counter.',
        '# TYPE demo_total counter',
        'demo_total{route="/a",method="GET"} 2',
        'demo_total{route="/b",method="GET"} 3',
        'demo_total{route="/a",method="PUT"} 5',
        '# TYPE odd gauge',
        'odd{v="nan"} NaN',
        'odd{v="inf"} +Inf',
        'odd{v="-inf"} -Inf',
        '',
      ].join('\n'),
    );
    expect(samples).toContainEqual({ name: 'demo_total', labels: { route: '/b', method: 'GET' }, value: 3 });
    expect(value(samples, 'demo_total')).toBe(10);
    expect(value(samples, 'demo_total', { method: 'GET' })).toBe(5);
    expect(value(samples, 'demo_total', { route: '/a', method: 'PUT' })).toBe(5);
    expect(value(samples, 'demo_total', { route: '/c' })).toBe(0);
    expect(value(samples, 'odd', { v: 'nan' })).toBeNaN();
    expect(value(samples, 'odd', { v: 'inf' })).toBe(Number.POSITIVE_INFINITY);
    expect(value(samples, 'odd', { v: '-inf' })).toBe(Number.NEGATIVE_INFINITY);
  });

  it('rejects broken text with the parser message', async () => {
    await expect(parsePrometheus('demo_total{route="/a} 1\n')).rejects.toThrow(/invalid Prometheus text/);
    await expect(parsePrometheus('demo_total{route="/a"} one\n')).rejects.toThrow(
      /invalid Prometheus text: .*one/,
    );
  });
});

describe('/metrics on an in-process gateway (embedded store)', () => {
  let dataDir: string;
  let gateway: InProcessGateway;
  /** Instance ids used below: none may appear in a route label. */
  const ids: string[] = [];

  // Scrapes and calls act as the operator: /metrics needs operator:read unless ZKGATE_METRICS_PUBLIC.
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${gateway.url}/metrics`, { headers: MANAGEMENT });
    expect(res.status).toBe(200);
    return parsePrometheus(await res.text());
  };

  const call = async (method: string, path: string, body?: unknown, expected?: number): Promise<Response> => {
    const res = await fetch(`${gateway.url}${path}`, {
      method,
      ...(body === undefined
        ? { headers: MANAGEMENT }
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...MANAGEMENT } }),
    });
    if (expected !== undefined) expect(res.status, `${method} ${path}`).toBe(expected);
    await res.arrayBuffer();
    return res;
  };

  const register = async (service: string, id: string, extra: Record<string, unknown> = {}) => {
    ids.push(id);
    await call(
      'PUT',
      `/v1/services/${service}/instances/${id}`,
      { address: '127.0.0.1', port: 8080, ...extra },
      201,
    );
  };

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-metrics-');
    gateway = await startInProcessGateway({ ZKGATE_DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await gateway?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('is Prometheus text, version 0.0.4, with the gauges of a lone healthy replica', async () => {
    // Not without a token: operator:read, unless ZKGATE_METRICS_PUBLIC=true.
    const anonymous = await fetch(`${gateway.url}/metrics`);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    const res = await fetch(`${gateway.url}/metrics`, { headers: MANAGEMENT });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = await parsePrometheus(await res.text());
    expect(value(samples, 'zkgate_store_state', { state: 'connected' })).toBe(1);
    expect(value(samples, 'zkgate_store_state')).toBe(1);
    expect(value(samples, 'zkgate_leader')).toBe(1);
    expect(value(samples, 'zkgate_gateway_replicas')).toBe(1);
    expect(value(samples, 'zkgate_watches')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'zkgate_sse_connections')).toBe(true);
  });

  it('counts config reads under the route pattern, one per request', async () => {
    const ns = `metrics/read-${randomUUID().slice(0, 8)}`;
    await call('PUT', `/v1/config/${ns}`, { v: 1 }, 201);
    const labels = { route: '/v1/config/*', method: 'GET', status: '200' };
    const before = await scrape();
    for (let i = 0; i < 3; i++) await call('GET', `/v1/config/${ns}`, undefined, 200);
    const after = await scrape();
    const delta = (name: string) => value(after, name, labels) - value(before, name, labels);
    expect(delta('zkgate_http_requests_total')).toBe(3);
    expect(delta('zkgate_http_request_duration_seconds_count')).toBe(3);
    expect(delta('zkgate_http_request_duration_seconds_sum')).toBeGreaterThan(0);
    // The route label is the pattern, never the namespace read.
    expect(after.some((s) => Object.values(s.labels).some((v) => v.includes(ns)))).toBe(false);
  });

  it('counts publishes, rollbacks and deletes by kind, and their store transactions', async () => {
    const ns = `metrics/write-${randomUUID().slice(0, 8)}`;
    const publishes = (s: Sample[], kind: string) => value(s, 'zkgate_config_publishes_total', { kind });
    const multis = (s: Sample[]) =>
      value(s, 'zkgate_store_operation_duration_seconds_count', { op: 'multi', result: 'ok' });

    const s0 = await scrape();
    await call('PUT', `/v1/config/${ns}`, { v: 1 }, 201);
    await call('PUT', `/v1/config/${ns}`, { v: 2 }, 200);
    const s1 = await scrape();
    expect(publishes(s1, 'publish') - publishes(s0, 'publish')).toBe(2);
    expect(publishes(s1, 'rollback') - publishes(s0, 'rollback')).toBe(0);
    expect(multis(s1) - multis(s0)).toBe(2);

    await call('POST', `/v1/config/${ns}:rollback`, { version: 1 }, 200);
    const s2 = await scrape();
    expect(publishes(s2, 'rollback') - publishes(s1, 'rollback')).toBe(1);
    expect(publishes(s2, 'publish') - publishes(s1, 'publish')).toBe(0);
    expect(multis(s2) - multis(s1)).toBe(1);

    await call('DELETE', `/v1/config/${ns}`, undefined, 200);
    const s3 = await scrape();
    expect(publishes(s3, 'delete') - publishes(s2, 'delete')).toBe(1);
    expect(publishes(s3, 'publish') - publishes(s2, 'publish')).toBe(0);
    expect(multis(s3) - multis(s2)).toBe(1);
  });

  it('shows an open SSE stream while it is open', async () => {
    const ns = `metrics/watch-${randomUUID().slice(0, 8)}`;
    await call('PUT', `/v1/config/${ns}`, { v: 1 }, 201);
    const sse = () => scrape().then((s) => value(s, 'zkgate_sse_connections'));
    expect(await sse()).toBe(0);
    const client = await openSse(`${gateway.url}/v1/watch?ns=${encodeURIComponent(ns)}`, MANAGEMENT);
    try {
      expect(client.status).toBe(200);
      expect((await client.next()).event).toBe('config');
      expect(await sse()).toBe(1);
    } finally {
      client.close();
    }
    await expect.poll(sse).toBe(0);
  });

  it('counts instances by status, and dispatches by strategy and outcome', async () => {
    const service = `metrics-svc-${randomUUID().slice(0, 8)}`;
    const [one, two] = [`inst-${randomUUID()}`, `inst-${randomUUID()}`] as const;
    const instances = (s: Sample[], status: string) => value(s, 'zkgate_instances', { service, status });

    await register(service, one);
    await register(service, two);
    const registered = await scrape();
    expect(instances(registered, 'UP')).toBe(2);
    expect(instances(registered, 'DRAINING')).toBe(0);

    await call('PUT', `/v1/services/${service}/instances/${one}/status`, { status: 'DRAINING' }, 200);
    const drained = await scrape();
    expect(instances(drained, 'UP')).toBe(1);
    expect(instances(drained, 'DRAINING')).toBe(1);

    const first = await call('GET', `/v1/dispatch/${service}`, undefined, 200);
    const strategy = first.headers.get('x-zkgate-strategy');
    expect(strategy).toBeTruthy();
    const picked = (s: Sample[]) =>
      value(s, 'zkgate_dispatches_total', { strategy: strategy!, outcome: 'picked' });
    const before = await scrape();
    await call('GET', `/v1/dispatch/${service}`, undefined, 200);
    await call('GET', `/v1/dispatch/${service}`, undefined, 200);
    const after = await scrape();
    expect(picked(after) - picked(before)).toBe(2);
    expect(picked(before)).toBeGreaterThanOrEqual(1);
  });

  it('counts failing TCP probes of an instance on a closed port', async () => {
    const service = `metrics-check-${randomUUID().slice(0, 8)}`;
    const [closedPort] = await freePorts(1);
    const tcp = (s: Sample[], result: string) => value(s, 'zkgate_checks_total', { kind: 'tcp', result });
    const before = await scrape();
    await register(service, `inst-${randomUUID()}`, {
      port: closedPort,
      check: { tcp: true, interval: '1s', timeout: '200ms' },
    });
    await expect
      .poll(async () => tcp(await scrape(), 'fail') - tcp(before, 'fail'), { timeout: 5_000 })
      .toBeGreaterThan(0);
    expect(tcp(await scrape(), 'pass') - tcp(before, 'pass')).toBe(0);
  });

  it('counts unmatched requests as (unmatched) and labels every route by its pattern', async () => {
    const stray = `stray-${randomUUID()}`;
    const labels = { route: '(unmatched)', method: 'GET', status: '404' };
    const before = await scrape();
    await call('GET', `/no/such/${stray}`, undefined, 404);
    // A matched route that answers 404 (an unknown instance) is still counted under its pattern.
    await call('GET', `/v1/dispatch/${stray}`, undefined, 404);
    const after = await scrape();
    expect(
      value(after, 'zkgate_http_requests_total', labels) -
        value(before, 'zkgate_http_requests_total', labels),
    ).toBe(1);
    const dispatch404 = { route: '/v1/dispatch/:service', method: 'GET', status: '404' };
    expect(
      value(after, 'zkgate_http_requests_total', dispatch404) -
        value(before, 'zkgate_http_requests_total', dispatch404),
    ).toBe(1);

    const routes = new Set(
      after
        .filter((s) => s.name.startsWith('zkgate_http_request'))
        .map((s) => s.labels['route'])
        .filter((r): r is string => r !== undefined),
    );
    expect(routes.size).toBeGreaterThan(1);
    for (const route of routes) {
      if (route === '(unmatched)') continue;
      expect(route).toMatch(/^\//);
      for (const id of [...ids, stray]) expect(route).not.toContain(id);
    }
  });
});
