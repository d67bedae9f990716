/**
 * `GET /v1/watch`: push over Server-Sent Events. On connect, one event per subscribed namespace
 * with its current state (or, with `Last-Event-ID`, only what changed or was deleted since that
 * id); then every change as it is published. Event ids are ZooKeeper zxids, so a client can
 * resume on any replica. See {@link ConfigCache} for why every id is a safe resume point.
 */
import type { FastifyInstance } from 'fastify';
import type { ConfigChange } from '../config/cache.js';
import { parseNamespace } from '../config/namespace.js';
import type { ConfigService } from '../config/service.js';
import { ZkgError } from '../errors.js';
import { sendProblem } from './problem.js';
import { ConnectionLimiter, EncodedSseEvent, SseRegistry, SseStream, type SseOptions } from './sse.js';

export interface WatchRoutesOptions {
  readonly config: ConfigService;
  readonly sse: SseOptions;
  readonly limits: { readonly perClient: number; readonly total: number };
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
    lastEventId: { type: 'string', description: 'Resume point for clients that cannot send Last-Event-ID' },
  },
} as const;

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Events are encoded once per change and shared by every stream that receives them. */
const encoded = new WeakMap<ConfigChange, EncodedSseEvent>();

function encode(change: ConfigChange): EncodedSseEvent {
  let event = encoded.get(change);
  if (!event) {
    event =
      change.kind === 'config'
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
    encoded.set(change, event);
  }
  return event;
}

function changedName(change: ConfigChange): string {
  return change.kind === 'config' ? change.entry.namespace : change.namespace;
}

export async function watchRoutes(app: FastifyInstance, options: WatchRoutesOptions): Promise<void> {
  const { config } = options;
  const limiter = new ConnectionLimiter(options.limits);
  const registry = new SseRegistry();
  // Before fastify closes the server: it waits for every connection, and streams never end alone.
  app.addHook('preClose', async () => {
    registry.closeAll();
  });

  app.get(
    '/v1/watch',
    {
      schema: {
        summary: 'Watch namespaces over Server-Sent Events',
        tags: ['watch'],
        querystring: watchQuery,
        response: { 400: { $ref: 'Problem#' }, 503: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const query = request.query as { ns?: string | string[]; prefix?: string | string[] };
      const names = new Set(list(query.ns).map(parseNamespace));
      const prefixes = list(query.prefix);
      for (const prefix of prefixes) {
        if (!PREFIX.test(prefix))
          throw new ZkgError('ZKG_VALIDATION_FAILED', `invalid prefix ${JSON.stringify(prefix)}`);
      }
      if (names.size === 0 && prefixes.length === 0) {
        throw new ZkgError('ZKG_VALIDATION_FAILED', 'watch at least one ns or prefix');
      }
      const resumeFrom = SseStream.lastEventId(request);
      if (resumeFrom !== undefined && !/^[0-9]{1,20}$/.test(resumeFrom)) {
        throw new ZkgError('ZKG_VALIDATION_FAILED', 'Last-Event-ID must be an event id (a zxid)');
      }
      const since = resumeFrom === undefined ? undefined : BigInt(resumeFrom);
      const release = limiter.acquire(request.ip);
      if (!release) {
        return sendProblem(
          reply,
          new ZkgError('ZKG_WATCH_LIMIT', 'too many watch connections', { retryAfter: 5 }),
        );
      }

      const match = (name: string): boolean => names.has(name) || prefixes.some((p) => name.startsWith(p));
      /** The newest id sent per namespace: a lagging replica must not send a client what it has. */
      const sent = new Map<string, bigint>();
      let floor = since ?? -1n;
      const fresh = (change: ConfigChange): boolean => {
        const name = changedName(change);
        if (change.id <= floor || change.id <= (sent.get(name) ?? -1n) || !match(name)) return false;
        sent.set(name, change.id);
        return true;
      };

      // Snapshot and subscription in one synchronous step: no batch can fall between them.
      const initial: EncodedSseEvent[] = [];
      if (since !== undefined && since < config.cache.horizon) {
        // Deletions since `since` were forgotten: send the full state, then `reset` naming what
        // exists (the client drops the rest) with an id past the horizon, so that the client's
        // next resume does not need another reset.
        const current = config.cache.changesSince(undefined, match);
        for (const change of current) {
          sent.set(changedName(change), change.id);
          initial.push(encode(change));
        }
        const mark =
          config.cache.watermark > config.cache.horizon ? config.cache.watermark : config.cache.horizon;
        initial.push(
          EncodedSseEvent.of({
            id: String(mark),
            event: 'reset',
            data: JSON.stringify({ namespaces: current.map(changedName) }),
          }),
        );
        floor = -1n;
      } else {
        for (const change of config.cache.changesSince(since, match))
          if (fresh(change)) initial.push(encode(change));
      }
      // The snapshot is written in one tick and counts as queued until the tick ends: allow it on
      // top of the slow-consumer bound, or a large snapshot would cut off a client reading fine.
      const snapshotBytes = initial.reduce((sum, event) => sum + event.bytes.length, 0);
      const stream = SseStream.open(request, reply, {
        ...options.sse,
        maxBufferedBytes: options.sse.maxBufferedBytes + snapshotBytes,
      });
      registry.add(stream);
      for (const event of initial) stream.send(event);
      const unsubscribe = config.cache.onChange((changes) => {
        for (const change of changes) if (fresh(change)) stream.send(encode(change));
      });
      stream.onClose(() => {
        unsubscribe();
        release();
      });
      return reply;
    },
  );
}
