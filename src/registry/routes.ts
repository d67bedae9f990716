/**
 * HTTP routes of the service registry and the dispatcher. Thin: validate, call the
 * {@link Registry}'s writer, read model or provider, shape the reply. (Longer than 450 lines: its
 * twelve routes each carry the OpenAPI schema the documentation is generated from, and belong
 * together as the registry's API; what is not a route lives in registration.ts and schemas.ts.)
 */
import { actorOf } from '../acl/actor.js';
import { PERMISSION_KEY } from '../acl/permissions.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl, Need } from '../acl/access.js';
import { isZnodeName } from '../coordination/paths.js';
import type { StrategyName } from '../dispatcher/types.js';
import { ZkgError } from '../errors.js';
import { noneMatchHits } from '../http/conditional.js';
import { invalidField } from '../http/strict-validation.js';
import { CompressibleBody, varyOnEncoding } from '../http/compressed-body.js';
import { LongPolls, parseWait } from '../http/long-poll.js';
import { MAX_RENEWAL_BATCH, type LoadReport } from '../hotstore/store.js';
import type { ListingView } from './views.js';
import type { InstanceStatus } from './instance.js';
import { registrationOf, type RegistrationBody } from './registration.js';
import {
  dispatchQuery,
  instanceParams,
  instancesQuery,
  NAME_PATTERN,
  renewedLease,
  serviceParams,
} from './schemas.js';
import type { Registry } from './registry.js';
import type { Heartbeat } from './writer.js';
import type { CheckTargets } from '../scanner/targets.js';

export interface RegistryRoutesOptions {
  /** Ends the long-polls of a token revoked while they wait. */
  readonly access: AccessControl;
  readonly registry: Registry;
  readonly servicesPath: string;
  readonly longPollMaxWaitMs: number;
  /** Whether a long-poll can wait for changes past an index (see `resumable` in long-poll.ts). */
  readonly resumable: (index: bigint) => Promise<boolean>;
  /** Which addresses health checks may probe: a check aimed elsewhere is refused at registration. */
  readonly checkTargets: CheckTargets;
}

/** Marks an answer given while the hot store is unreachable (accepted, lease deferred). */
const DEGRADED_HEADER = 'x-zkgate-degraded';

const NAME = new RegExp(NAME_PATTERN);

/** One heartbeat's answer in a batch (HeartbeatResults in schemas.ts). */
type HeartbeatResult =
  | { status: 200; expiresAt: string; ttlMs: number }
  | { status: 200; degraded: true }
  | { status: number; code: string; detail: string };

/** A heartbeat of a batch refused as its single heartbeat would be, with that answer's status and code. */
function refused(error: ZkgError): HeartbeatResult {
  return { status: error.status, code: error.code, detail: error.message };
}

/** A service or instance name read from a path: anything that is one znode name. */
function znodeName(value: string, field: string): string {
  if (!isZnodeName(value)) throw invalidField(field, 'is not a valid znode name');
  return value;
}

/**
 * A listing's body, written and compressed once per array of views: the read model gives the
 * same array until what it shows changes (see `Listing`), so the body lives as long as it does.
 */
const rendered = new WeakMap<readonly object[], CompressibleBody>();

/** The listing as JSON, which is what the response schema would write. */
function render(instances: readonly object[]): CompressibleBody {
  let body = rendered.get(instances);
  if (body === undefined) {
    body = new CompressibleBody(JSON.stringify(instances));
    rendered.set(instances, body);
  }
  return body;
}

export async function registryRoutes(app: FastifyInstance, options: RegistryRoutesOptions): Promise<void> {
  const { registry } = options;
  const longPolls = new LongPolls((reply, revoked) =>
    options.access.onRevoked(reply.request.identity, revoked),
  );
  app.addHook('preClose', async () => longPolls.releaseAll());

  const stale = (reply: FastifyReply): void => {
    if (registry.stale) void reply.header('x-zkgate-stale', 'true');
  };

  // What a request needs, from the same path parameters the handler reads.
  const on =
    (permission: Need['permission']) =>
    (request: FastifyRequest): Need[] => [
      { resource: { kind: 'service', name: (request.params as { service: string }).service }, permission },
    ];
  // Registering an instance this replica knows is an update of it.
  const registration = (request: FastifyRequest): Need[] => {
    const { service, id } = request.params as { service: string; id: string };
    const known = registry.cache.service(service)?.instances.has(id) ?? false;
    return on(known ? 'write' : 'create')(request);
  };

  app.get(
    '/v1/services',
    {
      config: { access: () => [{ kind: 'service', under: '', permission: 'read' }] },
      schema: {
        summary: 'Services with their instance counts',
        [PERMISSION_KEY]: 'service:read',
        tags: ['registry'],
        response: { 200: { type: 'array', items: { $ref: 'ServiceSummary#' } } },
      },
    },
    async (request, reply) => {
      stale(reply);
      const { authority } = request.identity;
      return (await registry.reads.services()).filter(
        (summary) => authority.decide({ kind: 'service', name: summary.service }, 'read').allowed,
      );
    },
  );

  app.put(
    '/v1/services/:service',
    {
      schema: {
        summary: "Set a service's dispatch policy (protection threshold, default strategy)",
        [PERMISSION_KEY]: 'operator:write',
        tags: ['registry'],
        params: serviceParams,
        body: { $ref: 'ServicePolicy#' },
        response: { 200: { $ref: 'ServicePolicy#' }, 400: { $ref: 'Problem#' }, 503: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const { service } = request.params as { service: string };
      znodeName(service, 'service');
      const policy = request.body as { protectThreshold?: number; strategy?: StrategyName };
      await registry.writer.setPolicy(actorOf(request), service, policy);
      return registry.reads.policy(service);
    },
  );

  app.post(
    // A literal colon after the name: `:release` is an action on the service, as config's `:rollback`.
    '/v1/services/:service(^[^:/]+)::release',
    {
      schema: {
        summary: 'Release a service held back by self-preservation: its expired instances are evicted',
        description:
          "The elected replica's next sweep evicts the instances whose lease ran out, whatever their share. " +
          '202: requested; 404: no such service.',
        [PERMISSION_KEY]: 'operator:write',
        tags: ['registry'],
        params: serviceParams,
        response: {
          202: { type: 'object', properties: { service: { type: 'string' }, release: { type: 'string' } } },
          404: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { service } = request.params as { service: string };
      znodeName(service, 'service');
      await registry.writer.release(actorOf(request), service);
      return reply.code(202).send({ service, release: 'requested' });
    },
  );

  app.get(
    '/v1/services/:service/instances',
    {
      config: { access: on('read') },
      schema: {
        summary: "A service's instances (ETag; long-poll with index and wait)",
        [PERMISSION_KEY]: 'service:read',
        tags: ['registry'],
        params: serviceParams,
        querystring: instancesQuery,
        response: {
          200: {
            type: 'array',
            description: 'Whole instances, or with `view=compact` only what dispatching to them needs',
            items: { anyOf: [{ $ref: 'Instance#' }, { $ref: 'CompactInstance#' }] },
          },
          304: { type: 'null', description: 'Not modified' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { service } = request.params as { service: string };
      znodeName(service, 'service');
      const query = request.query as {
        status?: InstanceStatus;
        zone?: string;
        view?: ListingView;
        index?: string;
        wait?: string;
      };
      const filter = {
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.zone === undefined ? {} : { zone: query.zone }),
      };
      const after = query.index === undefined ? undefined : BigInt(query.index);
      const noneMatch = request.headers['if-none-match'];
      let woken = false;
      // A long-poll: `wait` with an index or an ETag to wait past. The index counts ZooKeeper's
      // changes only; the ETag covers health and load too, so it misses nothing between polls.
      if (after !== undefined || (query.wait !== undefined && noneMatch !== undefined)) {
        const waitMs = parseWait(query.wait, options.longPollMaxWaitMs);
        // An index the store cannot resume from gets the current list at once.
        const known = after === undefined || (await options.resumable(after));
        await registry.reads.refresh(service);
        const current = registry.cache.service(service);
        const pending =
          known &&
          current !== undefined &&
          (after === undefined || current.index <= after) &&
          (noneMatch === undefined || noneMatchHits(noneMatch, registry.reads.tag(service, filter)));
        // Checked and subscribed in one synchronous step: no update can fall between them.
        if (pending) {
          const unfollow = registry.reads.follow(service);
          try {
            woken =
              (await longPolls.wait<true>(reply, waitMs, (done) =>
                registry.reads.onUpdate((updates) => {
                  if (updates.some((u) => u.service === service)) done(true);
                }),
              )) === true;
          } finally {
            unfollow();
          }
        }
      }
      const listing = await registry.reads.listing(service, filter, query.view);
      const tag = `W/${listing.tag}`;
      void reply.header('etag', tag).header('x-zkgate-index', String(listing.index));
      varyOnEncoding(reply);
      stale(reply);
      // The ETag when one is sent (exact); else an index nothing moved past while waiting.
      const unchanged =
        noneMatch !== undefined
          ? noneMatchHits(noneMatch, listing.tag)
          : after !== undefined && !woken && listing.index <= after;
      if (unchanged) return reply.code(304).send();
      const { body, coding } = await render(listing.instances).encodedFor(request.headers['accept-encoding']);
      if (coding) void reply.header('content-encoding', coding);
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get(
    '/v1/services/:service/checks',
    {
      config: { access: on('read') },
      schema: {
        summary: "The health checks of a service's instances and their latest results",
        [PERMISSION_KEY]: 'service:read',
        description:
          'Each probe result comes from the hot store (written by the replica that checks the instance); the ' +
          'verdict (checkStatus) is what the rise and fall counts wrote to the instance.',
        tags: ['registry'],
        params: serviceParams,
        response: {
          200: { type: 'array', items: { $ref: 'CheckView#' } },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { service } = request.params as { service: string };
      return registry.reads.checks(znodeName(service, 'service'));
    },
  );

  app.put(
    '/v1/services/:service/instances/:id',
    {
      config: { access: registration },
      schema: {
        summary: 'Register an instance, or update its registration',
        [PERMISSION_KEY]: 'service:create|write',
        description:
          'Creates a persistent znode in the Curator / Spring Cloud Zookeeper layout and a lease in the hot store; ' +
          'heartbeats keep the lease alive. 201 when created, 200 when updated. While the hot store is unreachable: ' +
          'written all the same, with `X-Zkgate-Degraded: hotstore`; the first heartbeat once it is back grants the lease.',
        tags: ['registry'],
        params: instanceParams,
        body: { $ref: 'Registration#' },
        response: {
          200: { $ref: 'Instance#' },
          201: { $ref: 'Instance#' },
          400: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { service, id } = request.params as { service: string; id: string };
      if (!NAME.test(service)) throw invalidField('service', `must match ${NAME_PATTERN}`);
      if (!NAME.test(id)) throw invalidField('id', `must match ${NAME_PATTERN}`);
      const registration = registrationOf(request.body as RegistrationBody);
      const refusal =
        registration.check === undefined ? undefined : options.checkTargets.refusal(registration.address);
      if (refusal !== undefined) {
        throw new ZkgError('ZKG_CHECK_TARGET_DENIED', refusal, {
          extensions: { errors: [{ field: 'body.address', message: 'may not be probed by a health check' }] },
        });
      }
      const { view, created, degraded } = await registry.writer.register(
        actorOf(request),
        service,
        id,
        registration,
      );
      void reply.header('x-zkgate-index', view.index);
      if (degraded) void reply.header(DEGRADED_HEADER, 'hotstore');
      return reply.code(created ? 201 : 200).send(view);
    },
  );

  app.put(
    '/v1/services/:service/instances/:id/heartbeat',
    {
      config: { access: on('write') },
      schema: {
        summary: "Renew an instance's lease, optionally with a load report",
        [PERMISSION_KEY]: 'service:write',
        description:
          'Writes only the hot store, never ZooKeeper. 404 when the instance is unknown: register it again. ' +
          'While the hot store is unreachable: 200 with `X-Zkgate-Degraded: hotstore` and `degraded: true`.',
        tags: ['registry'],
        params: instanceParams,
        body: { anyOf: [{ $ref: 'LoadReport#' }, { type: 'null' }] },
        response: {
          200: {
            type: 'object',
            properties: renewedLease,
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { service, id } = request.params as { service: string; id: string };
      znodeName(service, 'service');
      znodeName(id, 'id');
      const load = (request.body ?? undefined) as LoadReport | undefined;
      const lease = await registry.writer.heartbeat(service, id, load);
      if (!lease) {
        // Accepted, not recorded: the hot store is away (see RegistryWriter.heartbeat).
        void reply.header(DEGRADED_HEADER, 'hotstore');
        return { degraded: true };
      }
      return { expiresAt: new Date(lease.expiresAt).toISOString(), ttlMs: lease.ttlMs };
    },
  );

  app.post(
    '/v1/heartbeats',
    {
      // Any write on services lets a token in; each heartbeat is then held to its own service.
      config: { access: () => [{ kind: 'service', under: '', permission: 'write' }] },
      // Before the schema walks every item: the one error that tells a client to split the batch.
      preValidation: async (request) => {
        const beats = (request.body as { heartbeats?: unknown } | null)?.heartbeats;
        if (Array.isArray(beats) && beats.length > MAX_RENEWAL_BATCH) {
          throw new ZkgError(
            'ZKG_BATCH_TOO_LARGE',
            `${beats.length} heartbeats in one request; at most ${MAX_RENEWAL_BATCH}`,
          );
        }
      },
      schema: {
        summary:
          'Renew the leases of many instances in one request (a sidecar, an SDK with several registrations)',
        [PERMISSION_KEY]: 'service:write',
        description:
          'Each heartbeat is answered on its own, in order, as its single heartbeat would be (200, 403 without ' +
          '`write` on its service, 404, 409), in a 200 for the whole. One hot-store round trip for the batch. ' +
          'While the hot store is unreachable: `X-Zkgate-Degraded: hotstore`, and renewals answered `degraded`.',
        tags: ['registry'],
        body: { $ref: 'HeartbeatBatch#' },
        response: {
          200: { $ref: 'HeartbeatResults#' },
          400: { $ref: 'Problem#' },
          413: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { heartbeats } = request.body as { heartbeats: Heartbeat[] };
      const { authority } = request.identity;
      const mayWrite = new Map<string, boolean>();
      const results = new Array<HeartbeatResult>(heartbeats.length);
      const permitted: Heartbeat[] = [];
      const positions: number[] = [];
      heartbeats.forEach((beat, i) => {
        znodeName(beat.service, `body.heartbeats.${i}.service`);
        znodeName(beat.id, `body.heartbeats.${i}.id`);
        let may = mayWrite.get(beat.service);
        if (may === undefined) {
          may = authority.decide({ kind: 'service', name: beat.service }, 'write').allowed;
          mayWrite.set(beat.service, may);
        }
        if (may) {
          permitted.push(beat);
          positions.push(i);
        } else {
          results[i] = refused(
            new ZkgError('ZKG_FORBIDDEN', `the token lacks service:${beat.service} write`),
          );
        }
      });
      const denied = [...mayWrite].filter(([, may]) => !may).map(([service]) => service);
      if (denied.length > 0) {
        request.log.warn(
          { accessor: request.identity.accessor, services: denied.slice(0, 20) },
          'heartbeats denied',
        );
      }
      let degraded = false;
      const outcomes = await registry.writer.heartbeats(permitted);
      outcomes.forEach((outcome, j) => {
        const position = positions[j] as number;
        if (outcome === 'deferred') {
          degraded = true;
          results[position] = { status: 200, degraded: true };
        } else if (outcome instanceof ZkgError) {
          results[position] = refused(outcome);
        } else {
          results[position] = {
            status: 200,
            expiresAt: new Date(outcome.expiresAt).toISOString(),
            ttlMs: outcome.ttlMs,
          };
        }
      });
      if (degraded) void reply.header(DEGRADED_HEADER, 'hotstore');
      return degraded ? { results, degraded } : { results };
    },
  );

  app.put(
    '/v1/services/:service/instances/:id/status',
    {
      schema: {
        summary: "Set an instance's status by hand (UP, DOWN or DRAINING)",
        [PERMISSION_KEY]: 'operator:write',
        description:
          'Written to the instance znode, so every replica and Curator reader sees it. Health checks keep running ' +
          'but do not change the status until it is cleared with DELETE.',
        tags: ['registry'],
        params: instanceParams,
        body: { $ref: 'StatusChange#' },
        response: {
          200: { $ref: 'Instance#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { service, id } = request.params as { service: string; id: string };
      const { status } = request.body as { status: InstanceStatus };
      return registry.writer.setStatus(
        actorOf(request),
        znodeName(service, 'service'),
        znodeName(id, 'id'),
        status,
      );
    },
  );

  app.delete(
    '/v1/services/:service/instances/:id/status',
    {
      schema: {
        summary: "Clear an instance's manual status: its health check decides again",
        [PERMISSION_KEY]: 'operator:write',
        tags: ['registry'],
        params: instanceParams,
        response: {
          200: { $ref: 'Instance#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { service, id } = request.params as { service: string; id: string };
      return registry.writer.setStatus(
        actorOf(request),
        znodeName(service, 'service'),
        znodeName(id, 'id'),
        undefined,
      );
    },
  );

  app.delete(
    '/v1/services/:service/instances/:id',
    {
      config: { access: on('delete') },
      schema: {
        summary: 'Deregister an instance (any instance, Curator and Spring ones included)',
        description:
          '409 `ZKG_INSTANCE_HAS_CHILDREN` while another ZooKeeper client keeps child znodes under it.',
        [PERMISSION_KEY]: 'service:delete',
        tags: ['registry'],
        params: instanceParams,
        response: {
          204: { type: 'null' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { service, id } = request.params as { service: string; id: string };
      await registry.writer.deregister(actorOf(request), znodeName(service, 'service'), znodeName(id, 'id'));
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/dispatch/:service',
    {
      config: { access: on('read') },
      schema: {
        summary: 'Pick one healthy instance (soft load balancing)',
        [PERMISSION_KEY]: 'service:read',
        description:
          'DOWN and DRAINING instances are never picked. Below the protection threshold, the pick spreads over ' +
          'every UP instance and the reply says so in X-Zkgate-Protected.',
        tags: ['dispatch'],
        params: serviceParams,
        querystring: dispatchQuery,
        response: {
          200: { $ref: 'Instance#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { service } = request.params as { service: string };
      znodeName(service, 'service');
      const query = request.query as { strategy?: StrategyName; key?: string; zone?: string };
      const outcome = await registry.provider.dispatch(service, query);
      void reply
        .header('x-zkgate-strategy', outcome.strategy)
        .header('x-zkgate-protected', String(outcome.protected))
        .header('x-zkgate-zone', outcome.zone)
        .header('cache-control', 'no-store');
      stale(reply);
      return outcome.instance;
    },
  );
}
