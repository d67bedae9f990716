/**
 * `GET /v1/watch`: push over Server-Sent Events. On connect, one event per subscribed namespace
 * with its current state (or, with `Last-Event-ID`, only what changed or was deleted since that
 * id), and for every subscribed service its whole instance list (`instances`), on a resume too;
 * then every change as it is published: `config`, `config-deleted`, and per instance `instance`
 * (registered, changed, or its health or load changed) and `instance-removed`, so a change costs
 * the same whatever the service's size. Event ids are ZooKeeper zxids, so a client can resume on
 * any replica, whatever mix of namespaces and services it watches: both caches are views of one
 * {@link WatchedTree}, which explains why every id is a safe resume point. A lease's change has
 * no zxid and carries the tree's watermark instead (see read-model.ts for why that is safe).
 */
import { PERMISSION_KEY } from '../acl/permissions.js';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessControl, Identity, Need } from '../acl/access.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { isConfigChange, type ConfigChange } from '../config/cache.js';
import { parseNamespace } from '../config/namespace.js';
import type { ConfigService } from '../config/service.js';
import { isInstanceChange } from '../registry/cache.js';
import type { InstanceUpdate } from '../registry/read-model.js';
import type { Registry } from '../registry/registry.js';
import type { Hold } from '../registry/holds.js';
import { holdView, viewOf, type InstanceView } from '../registry/views.js';
import { ZkgError } from '../errors.js';
import type { Metrics } from '../monitor/metrics.js';
import { sendProblem } from '../http/problem.js';
import { isZnodeName } from '../coordination/paths.js';
import { covers, type WatcherCount } from './watchers.js';
import { ConnectionLimiter, EncodedSseEvent, SseRegistry, SseStream, type SseOptions } from '../http/sse.js';

export interface WatchRoutesOptions {
  readonly tree: WatchedTree<CacheChange>;
  readonly config: ConfigService;
  readonly registry: Registry;
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
const encoded = new WeakMap<ConfigChange | InstanceUpdate, EncodedSseEvent>();

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

/** One instance's change as pushed; `healthy` reflects leases as this replica last read them. */
function encodeUpdate(update: InstanceUpdate): EncodedSseEvent {
  const index = String(update.id);
  return update.entry
    ? EncodedSseEvent.of({
        id: index,
        event: 'instance',
        data: JSON.stringify({
          service: update.service,
          index,
          instance: viewOf(update.entry, update.snapshot),
        }),
      })
    : EncodedSseEvent.of({
        id: index,
        event: 'instance-removed',
        data: JSON.stringify({ service: update.service, index, id: update.instanceId }),
      });
}

/** A service's whole list, as a stream starts (or resumes) with it, with its hold if any. */
function encodeList(
  id: bigint,
  service: string,
  instances: readonly InstanceView[],
  hold: Hold | undefined,
): EncodedSseEvent {
  return EncodedSseEvent.of({
    id: String(id),
    event: 'instances',
    data: JSON.stringify({
      service,
      index: String(id),
      instances,
      ...(hold ? { selfPreservation: holdView(hold) } : {}),
    }),
  });
}

/** A self-preservation hold that began (`selfPreservation` set), changed or ended. */
function encodeHold(id: bigint, service: string, hold: Hold | undefined): EncodedSseEvent {
  return EncodedSseEvent.of({
    id: String(id),
    event: 'self-preservation',
    data: JSON.stringify({
      service,
      held: hold !== undefined,
      ...(hold ? { selfPreservation: holdView(hold) } : {}),
    }),
  });
}

/** The namespace a config change is about. */
function namespaceOf(change: ConfigChange): string {
  return change.kind === 'config' ? change.entry.namespace : change.namespace;
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

/**
 * What one stream watches, as one object: the plugin fans every change out to the subscriptions
 * from one listener per source (see {@link FanOut}). At tens of thousands of idle streams, the
 * dozen closures (and their contexts) a stream held for its matching and its listeners were a
 * good part of its heap; methods on one object cost nothing per stream.
 */
class Subscription {
  /** The newest id sent per namespace: a lagging replica must not send a client what it has. */
  readonly #sent = new Map<string, bigint>();
  /** Set once the snapshot is computed and the stream opened (see the handler). */
  stream: SseStream | undefined;

  constructor(
    /** The token's rules as they are now: a policy changed meanwhile applies to the next event. */
    public identity: Identity,
    readonly names: ReadonlySet<string>,
    readonly prefixes: readonly string[],
    readonly services: ReadonlySet<string>,
    /** Ids at or below this are not sent: the resume point, or -1 for everything. */
    public floor: bigint,
  ) {}

  readable(kind: 'config' | 'service', name: string): boolean {
    return this.identity.authority.decide({ kind, name }, 'read').allowed;
  }

  matchNs(name: string): boolean {
    return covers(this.names, this.prefixes, name) && this.readable('config', name);
  }

  matchService(name: string): boolean {
    return this.services.has(name) && this.readable('service', name);
  }

  /** Whether `change` is owed to this stream, which counts it as sent if so. */
  fresh(change: ConfigChange): boolean {
    const namespace = namespaceOf(change);
    if (
      change.id <= this.floor ||
      change.id <= (this.#sent.get(namespace) ?? -1n) ||
      !this.matchNs(namespace)
    )
      return false;
    this.#sent.set(namespace, change.id);
    return true;
  }
}

/**
 * The subscriptions one source of events (the tree's batches, lease updates, holds) reaches,
 * through a single listener on that source, held only while some subscription is in: an idle
 * replica listens to nothing. A delivery that throws is logged and does not stop the others,
 * as the source's own listeners are isolated from each other.
 */
class FanOut<E> {
  readonly #subscriptions = new Set<Subscription>();
  #stop: (() => void) | undefined;

  constructor(
    private readonly listen: (listener: (event: E) => void) => () => void,
    private readonly deliver: (subscription: Subscription, event: E) => void,
    private readonly log: FastifyBaseLogger,
  ) {}

  add(subscription: Subscription): void {
    this.#subscriptions.add(subscription);
    this.#stop ??= this.listen((event) => {
      for (const each of this.#subscriptions) {
        try {
          this.deliver(each, event);
        } catch (err) {
          this.log.warn({ err }, 'watch stream delivery failed');
        }
      }
    });
  }

  delete(subscription: Subscription): void {
    this.#subscriptions.delete(subscription);
    if (this.#subscriptions.size > 0) return;
    this.#stop?.();
    this.#stop = undefined;
  }
}

export async function watchRoutes(app: FastifyInstance, options: WatchRoutesOptions): Promise<void> {
  const { config, registry, tree } = options;
  const encode = (item: ConfigChange | InstanceUpdate): EncodedSseEvent => {
    let event = encoded.get(item);
    if (!event) {
      event = 'kind' in item ? encodeConfig(item) : encodeUpdate(item);
      encoded.set(item, event);
    }
    return event;
  };
  const limiter = new ConnectionLimiter(options.limits);
  const streams = new SseRegistry();
  const changes = new FanOut<readonly CacheChange[]>(
    (listener) => tree.onChange(listener),
    (watch, batch) => {
      watch.identity = options.access.current(watch.identity) ?? watch.identity;
      for (const change of batch) {
        if (isInstanceChange(change)) {
          if (watch.matchService(change.service)) watch.stream?.send(encode(registry.reads.updateOf(change)));
        } else if (isConfigChange(change) && watch.fresh(change)) watch.stream?.send(encode(change));
      }
    },
    app.log,
  );
  const leases = new FanOut<readonly InstanceUpdate[]>(
    (listener) => registry.reads.onUpdate(listener),
    (watch, updates) => {
      for (const update of updates) {
        if (update.cause === 'lease' && watch.matchService(update.service))
          watch.stream?.send(encode(update));
      }
    },
    app.log,
  );
  // Holds are read from their own znode, outside the tree's batches: the same id rule as leases.
  const holds = new FanOut<ReadonlySet<string>>(
    (listener) => registry.holds.onChange(listener),
    (watch, changed) => {
      for (const service of changed) {
        if (watch.matchService(service))
          watch.stream?.send(encodeHold(tree.watermark, service, registry.holds.get(service)));
      }
    },
    app.log,
  );
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
      const watch = new Subscription(request.identity, names, prefixes, services, since ?? -1n);

      // Snapshot and subscription in one synchronous step: no batch can fall between them.
      const resetting = since !== undefined && (unknownId || since < config.cache.horizon);
      const current = config.cache.changesSince(resetting ? undefined : since, (name) => watch.matchNs(name));
      const initial: EncodedSseEvent[] = [];
      if (resetting) watch.floor = -1n;
      for (const change of current) if (watch.fresh(change)) initial.push(encode(change));
      // Every service's whole list and hold, on a resume too: health changes and holds have no
      // zxid to resume from.
      // Its id covers everything this replica reflects, and nothing sent later has a lower one.
      for (const service of services) {
        if (watch.matchService(service)) {
          const instances = registry.reads.current(service);
          initial.push(encodeList(tree.watermark, service, instances, registry.holds.get(service)));
        }
      }
      if (resetting) {
        // Deletions since `since` were forgotten: the full state is sent, then `reset` naming the
        // namespaces that exist (the client drops the rest) with an id past the horizon, so that
        // the client's next resume does not need another reset.
        const mark = tree.watermark > config.cache.horizon ? tree.watermark : config.cache.horizon;
        initial.push(
          EncodedSseEvent.of({
            id: String(mark),
            event: 'reset',
            data: JSON.stringify({ namespaces: current.map(namespaceOf) }),
          }),
        );
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
      watch.stream = stream;
      streams.add(stream);
      options.metrics.sseConnections.inc();
      stream.sendSnapshot(initial);
      changes.add(watch);
      // Leases change outside the tree's batches: followed, and sent as they are read. Holds too.
      const unfollow = [...services].map((service) => registry.reads.follow(service));
      if (services.size > 0) {
        leases.add(watch);
        holds.add(watch);
      }
      const stopRevocation = options.access.onRevoked(watch.identity, () => {
        stream.send({
          event: 'revoked',
          data: JSON.stringify({ reason: 'the token was revoked or has expired' }),
        });
        stream.close();
      });
      options.watchers.add(watch);
      stream.onClose(() => {
        options.watchers.delete(watch);
        holds.delete(watch);
        stopRevocation();
        changes.delete(watch);
        leases.delete(watch);
        for (const stop of unfollow) stop();
        release();
        options.metrics.sseConnections.dec();
      });
      return reply;
    },
  );
}
