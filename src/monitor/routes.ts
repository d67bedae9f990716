/**
 * The monitor's HTTP side: `/metrics` (Prometheus text) and `GET /v1/cluster`, plus the hook that
 * counts every request by route pattern (never the raw URL: ids in paths would make a series per
 * instance) and status.
 */
import { PERMISSION_KEY } from '../acl/permissions.js';
import type { FastifyInstance } from 'fastify';
import type { ClusterView } from './cluster.js';
import type { Metrics } from './metrics.js';

export interface MonitorRoutesOptions {
  readonly metrics: Metrics;
  /** Serve `/metrics` without a token (`ZKGATE_METRICS_PUBLIC`). */
  readonly metricsPublic: boolean;
  readonly cluster: () => Promise<ClusterView>;
}

/**
 * Count and time every request of `app`; register on the root instance so it sees every route.
 * The labelled series are looked up once per method, route and status and kept: prom-client
 * hashes the label set on every call otherwise, which showed in profiles of cached config reads.
 * The map stays small, as methods, route patterns and status codes are all few.
 */
export function observeRequests(app: FastifyInstance, metrics: Metrics): void {
  const series = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();
  app.addHook('onResponse', (request, reply, done) => {
    const method = request.method;
    const route = request.routeOptions.url ?? '(unmatched)';
    const status = String(reply.statusCode);
    const key = `${method} ${status} ${route}`;
    let observed = series.get(key);
    if (!observed) {
      const labels = { method, route, status };
      observed = {
        count: metrics.httpRequests.labels(labels),
        duration: metrics.httpDuration.labels(labels),
      };
      series.set(key, observed);
    }
    observed.count.inc();
    observed.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}

const serverSchema = {
  type: 'object',
  required: ['address', 'reachable'],
  properties: {
    address: { type: 'string' },
    reachable: { type: 'boolean' },
    mode: { type: 'string', enum: ['leader', 'follower', 'observer', 'standalone', 'read-only', 'unknown'] },
    version: { type: 'string' },
    latencyMs: {
      type: 'object',
      properties: { min: { type: 'number' }, avg: { type: 'number' }, max: { type: 'number' } },
    },
    znodes: { type: 'integer' },
    watches: { type: 'integer' },
    ephemerals: { type: 'integer' },
    connections: { type: 'integer' },
    outstandingRequests: { type: 'integer' },
    zxid: { type: 'string' },
    followers: { type: 'integer' },
    source: { type: 'string', enum: ['mntr', 'srvr'] },
    error: { type: 'string' },
  },
} as const;

const clusterSchema = {
  type: 'object',
  required: ['zookeeper', 'gateways', 'hotStore', 'scanner', 'reaper'],
  properties: {
    zookeeper: {
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['ensemble', 'embedded'] },
        state: { type: 'string' },
        sessionId: { type: 'string' },
        servers: { type: 'array', items: serverSchema },
      },
    },
    gateways: {
      type: 'object',
      properties: {
        self: { type: 'string' },
        leader: { type: ['string', 'null'] },
        replicas: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              leader: { type: 'boolean' },
              self: { type: 'boolean' },
              info: { type: 'object', additionalProperties: true },
            },
          },
        },
      },
    },
    hotStore: { type: 'object', properties: { kind: { type: 'string' }, state: { type: 'string' } } },
    scanner: {
      type: 'object',
      properties: {
        active: { type: 'boolean' },
        owned: { type: 'integer' },
        running: { type: 'integer' },
        queued: { type: 'integer' },
      },
    },
    reaper: { type: 'object', additionalProperties: true },
  },
} as const;

export async function monitorRoutes(app: FastifyInstance, options: MonitorRoutesOptions): Promise<void> {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        [PERMISSION_KEY]: options.metricsPublic ? 'public' : 'operator:read',
        tags: ['ops'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await options.metrics.render();
      return reply.type(contentType).send(body);
    },
  );

  app.get(
    '/v1/cluster',
    {
      schema: {
        summary: 'The ZooKeeper servers (mode, latency, znodes), gateway replicas and leader, hot store',
        [PERMISSION_KEY]: 'operator:read',
        description:
          "Each ZooKeeper server is asked with its `mntr` four-letter word (`srvr` when mntr is not in the server's " +
          '`4lw.commands.whitelist`); an unreachable one is listed with the reason.',
        tags: ['ops'],
        response: { 200: clusterSchema },
      },
    },
    async (_request, reply) => {
      void reply.header('cache-control', 'no-store');
      return options.cluster();
    },
  );
}
