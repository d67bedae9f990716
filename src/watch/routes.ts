/**
 * `GET /v1/watch`: push over Server-Sent Events. On connect, one event per subscribed namespace
 * or service with its current state (or, with `Last-Event-ID`, only what changed or was deleted
 * since that id); then every change as it is published: `config`, `config-deleted`, and
 * `instances` (a service's whole instance list). Event ids are ZooKeeper zxids, so a client can
 * resume on any replica, whatever mix of namespaces and services it watches: both caches are
 * views of one {@link WatchedTree}, which explains why every id is a safe resume point.
 */
import { PERMISSION_KEY } from '../acl/permissions.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessControl, Need } from '../acl/access.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { isConfigChange, type ConfigChange } from '../config/cache.js';
import { parseNamespace } from '../config/namespace.js';
import type { ConfigService } from '../config/service.js';
import { isInstancesChange, type InstancesChange } from '../registry/cache.js';
import type { RegistryService } from '../registry/service.js';
import { viewOf } from '../registry/views.js';
import { ZkgError } from '../errors.js';
import type { Metrics } from '../monitor/metrics.js';
import { sendProblem } from '../http/problem.js';
import { byId } from '../coordination/watched-cache.js';
import { isZnodeName } from '../coordination/paths.js';
import type { WatcherCount } from './watchers.js';
import { ConnectionLimiter, EncodedSseEvent, SseRegistry, SseStream, type SseOptions } from '../http/sse.js';

export interface WatchRoutesOptions {
  readonly tree: WatchedTree<CacheChange>;
  readonly config: ConfigService;
  readonly registry: RegistryService;
  readonly sse: SseOptions;
  readonly limits: { readonly perClient: number; readonly total: number };
  readonly metrics: Metrics;
  readonly access: AccessControl;
  /** Whether a client can resume from an event id here (see `resumable` in long-poll.ts). */
  readonly resumable: (index: bigint) => Promise<boolean>;
  /** Counts the open streams per namespace, for the config listing. */
  readonly watchers: WatcherCount;
}

const PREFIX = /^[A-Za-z0-9._/-]{0,1100}$/;

const watchQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ns: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 1000 }],
      description: 'A namespace to watch; repeat for several',
    },
    prefix: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 100 }],
      description: 'Watch every namespace whose name starts with this; repeat for several',
    },
    service: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 1000 }],
      description: 'A service whose instance list to watch; repeat for several',
    },
    lastEventId: { type: 'string', description: 'Resume point for clients that cannot send Last-Event-ID' },
  },
} as const;

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Events are encoded once per change and shared by every stream that receives them. */
const encoded = new WeakMap<CacheChange, EncodedSseEvent>();

function encodeConfig(change: ConfigChange): EncodedSseEvent {
  return change.kind === 'config'
    ? EncodedSseEvent.of({
        id: String(change.id),
        event: 'config',
        data: JSON.stringify({
          namespace: change.entry.namespace,
          version: change.entry.version,
          index: String(change.entry.index),
          format: change.entry.format,
          content: change.entry.data.toString('utf8'),
        }),
      })
    : EncodedSseEvent.of({
        id: String(change.id),
        event: 'config-deleted',
        data: JSON.stringify({
          namespace: change.namespace,
          version: change.version,
          index: String(change.id),
        }),
      });
}

/**
 * A service's list as pushed: `healthy` reflects leases as this replica last read them; a lease
 * running out pushes nothing by itself (its eviction does).
 */
function encodeInstances(change: InstancesChange, registry: RegistryService): EncodedSseEvent {
  const snapshot = registry.leases.peek(change.service);
  return EncodedSseEvent.of({
    id: String(change.id),
    event: 'instances',
    data: JSON.stringify({
      service: change.service,
      index: String(change.id),
      instances: change.instances.map((entry) => viewOf(entry, snapshot)),
    }),
  });
}

/** What a change is about, as the key of the newest id sent for it. */
function subjectOf(change: CacheChange): string {
  if (isInstancesChange(change)) return `service:${change.service}`;
  const config = change as ConfigChange;
  return `ns:${config.kind === 'config' ? config.entry.namespace : config.namespace}`;
}

interface WatchQuery {
  ns?: string | string[];
  prefix?: string | string[];
  service?: string | string[];
}

/**
 * Every named subject must be readable; a prefix must cover something readable, and then
 * delivers only what is (each event is checked, see the handler).
 */
function watchNeeds(request: FastifyRequest): Need[] {
  const query = request.query as WatchQuery;
  return [
    ...list(query.ns).map((name): Need => ({
      resource: { kind: 'config', name: parseNamespace(name) },
      permission: 'read',
    })),
    ...list(query.prefix).map((under): Need => ({ kind: 'config', under, permission: 'read' })),
    ...list(query.service).map((name): Need => ({ resource: { kind: 'service', name }, permission: 'read' })),
  ];
}

export async function watchRoutes(app: FastifyInstance, options: WatchRoutesOptions): Promise<void> {
  const { config, registry, tree } = options;
  const encode = (change: CacheChange): EncodedSseEvent => {
    let event = encoded.get(change);
    if (!event) {
      event = isInstancesChange(change)
        ? encodeInstances(change, registry)
        : encodeConfig(change as ConfigChange);
      encoded.set(change, event);
    }
    return event;
  };
  const limiter = new ConnectionLimiter(options.limits);
  const streams = new SseRegistry();
  // Before fastify closes the server: it waits for every connection, and streams never end alone.
  app.addHook('preClose', async () => {
    streams.closeAll();
  });

  app.get(
    '/v1/watch',
    {
      config: { access: watchNeeds },
      schema: {
        summary: 'Watch namespaces over Server-Sent Events',
        [PERMISSION_KEY]: 'config:read, service:read',
        tags: ['watch'],
        querystring: watchQuery,
        response: { 400: { $ref: 'Problem#' }, 503: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const query = request.query as WatchQuery;
      const names = new Set(list(query.ns).map(parseNamespace));
      const services = new Set(list(query.service));
      for (const service of services) {
        if (!isZnodeName(service))
          throw new ZkgError('ZKG_VALIDATION_FAILED', `invalid service ${JSON.stringify(service)}`);
      }
      const prefixes = list(query.prefix);
      for (const prefix of prefixes) {
        if (!PREFIX.test(prefix))
          throw new ZkgError('ZKG_VALIDATION_FAILED', `invalid prefix ${JSON.stringify(prefix)}`);
      }
      if (names.size === 0 && prefixes.length === 0 && services.size === 0) {
        throw new ZkgError('ZKG_VALIDATION_FAILED', 'watch at least one ns, prefix or service');
      }
      const resumeFrom = SseStream.lastEventId(request);
      if (resumeFrom !== undefined && !/^[0-9]{1,20}$/.test(resumeFrom)) {
        throw new ZkgError('ZKG_VALIDATION_FAILED', 'Last-Event-ID must be an event id (a zxid)');
      }
      const since = resumeFrom === undefined ? undefined : BigInt(resumeFrom);
      const unknownId = since !== undefined && !(await options.resumable(since));
      // The token's rules as they are now: a policy changed meanwhile applies to the next event.
      let identity = request.identity;
      const readable = (kind: 'config' | 'service', name: string): boolean =>
        identity.authority.decide({ kind, name }, 'read').allowed;
      const matchNs = (name: string): boolean =>
        (names.has(name) || prefixes.some((p) => name.startsWith(p))) && readable('config', name);
      const matchService = (name: string): boolean => services.has(name) && readable('service', name);
      const matches = (change: CacheChange): boolean =>
        isInstancesChange(change)
          ? matchService(change.service)
          : isConfigChange(change) &&
            matchNs(change.kind === 'config' ? change.entry.namespace : change.namespace);
      /** The newest id sent per subject: a lagging replica must not send a client what it has. */
      const sent = new Map<string, bigint>();
      let floor = since ?? -1n;
      const fresh = (change: CacheChange): boolean => {
        const subject = subjectOf(change);
        if (change.id <= floor || change.id <= (sent.get(subject) ?? -1n) || !matches(change)) return false;
        sent.set(subject, change.id);
        return true;
      };

      // Snapshot and subscription in one synchronous step: no batch can fall between them.
      const resetting = since !== undefined && (unknownId || since < config.cache.horizon);
      const from = resetting ? undefined : since;
      const current: CacheChange[] = [
        ...config.cache.changesSince(from, matchNs),
        ...registry.cache.changesSince(from, matchService),
      ];
      // A watched service this replica does not know: an empty list, when the client may not
      // have seen that yet (a first connect, or a resume from before what this replica remembers).
      if (from === undefined || from < registry.cache.horizon) {
        for (const service of services) {
          if (!registry.cache.service(service) && !current.some((c) => subjectOf(c) === `service:${service}`))
            current.push({
              kind: 'instances',
              id: tree.watermark,
              service,
              instances: [],
            } as InstancesChange);
        }
      }
      current.sort(byId);
      const initial: EncodedSseEvent[] = [];
      if (resetting) {
        // Deletions since `since` were forgotten: send the full state, then `reset` naming the
        // namespaces that exist (the client drops the rest) with an id past the horizon, so that
        // the client's next resume does not need another reset.
        floor = -1n;
        for (const change of current) if (fresh(change)) initial.push(encode(change));
        const mark = tree.watermark > config.cache.horizon ? tree.watermark : config.cache.horizon;
        initial.push(
          EncodedSseEvent.of({
            id: String(mark),
            event: 'reset',
            data: JSON.stringify({
              namespaces: current.filter(isConfigChange).map((c) => subjectOf(c).slice('ns:'.length)),
            }),
          }),
        );
      } else {
        for (const change of current) if (fresh(change)) initial.push(encode(change));
      }
      // Taken once nothing can throw any more: a slot is released only when its stream closes.
      const release = limiter.acquire(request.ip);
      if (!release) {
        return sendProblem(
          reply,
          new ZkgError('ZKG_WATCH_LIMIT', 'too many watch connections', { retryAfter: 5 }),
        );
      }
      const stream = SseStream.open(request, reply, options.sse);
      streams.add(stream);
      options.metrics.sseConnections.inc();
      stream.sendSnapshot(initial);
      const unsubscribe = tree.onChange((changes) => {
        identity = options.access.current(identity) ?? identity;
        for (const change of changes) if (fresh(change)) stream.send(encode(change));
      });
      const stopRevocation = options.access.onRevoked(identity, () => {
        stream.send({
          event: 'revoked',
          data: JSON.stringify({ reason: 'the token was revoked or has expired' }),
        });
        stream.close();
      });
      const uncount = options.watchers.add(names, prefixes);
      stream.onClose(() => {
        uncount();
        stopRevocation();
        unsubscribe();
        release();
        options.metrics.sseConnections.dec();
      });
      return reply;
    },
  );
}
