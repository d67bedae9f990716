/**
 * The registry's writer: registrations in ZooKeeper, in the layout Curator and Spring Cloud
 * Zookeeper use (`<servicesPath>/<service>/<id>`), and the leases of HTTP registrations in the
 * hot store.
 *
 * An HTTP registration is a persistent znode with a lease: it outlives the gateway replica that
 * wrote it, and heartbeats (hot store only) keep it alive. A Curator or Spring registration is an
 * ephemeral znode: its client's ZooKeeper session is its liveness, and zkgate never touches it
 * except to deregister it on request (or an operator sets its status).
 *
 * Every write to ZooKeeper is one `multi` with its audit record. A health check's verdict is
 * recorded too (`service.check`, by the replica's `system` actor): it changes the instance's
 * status, which dispatch and Curator readers follow, so it is a change like an operator's.
 * Heartbeats write only the hot store and are not recorded. Every write answers once this
 * replica's cache shows it, so a client reads its own writes from the same replica.
 *
 * (Longer than 450 lines: it is the registry's one writer, as Curator's ServiceDiscoveryImpl is.
 * A registration renews its lease inside its retry loop, so heartbeats share with it the one
 * policy for a hot store that is away (degraded, not down); the reads, the audit record and the
 * retry every ZooKeeper write needs are shared helpers here. Parsing, views and schemas already
 * live in registration.ts, views.ts and schemas.ts.)
 */
import type { Actor } from '../acl/actor.js';
import { auditOp, auditResource, type AuditAction, type AuditChange } from '../acl/audit.js';
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import { parentOf } from '../coordination/paths.js';
import { missingDirs, orAbsent } from '../coordination/recipes.js';
import type { CoordinationStore, NodeData, Op, OpResult, Stat, StoreLogger } from '../coordination/store.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { optimisticWrite, storeUnavailable, ZkgError } from '../errors.js';
import type { HotStore, Lease, LeaseRenewal, LoadReport } from '../hotstore/store.js';
import type { Metrics } from '../monitor/metrics.js';
import type { InstanceEntry, RegistryCache, ServicePolicy } from './cache.js';
import type { Holds } from './holds.js';
import { unreachable } from './hotstore-errors.js';
import {
  DEFAULT_WEIGHT,
  decodeInstance,
  effectiveStatus,
  encodeInstance,
  InstanceFormatError,
  type CheckStatus,
  type HealthCheck,
  type Instance,
  type InstanceStatus,
} from './instance.js';
import type { LeaseView } from './leases.js';
import { viewOf, type InstanceView } from './views.js';

export interface WriterOptions {
  readonly tree: WatchedTree<CacheChange>;
  readonly holds: Holds;
  /** Curator's base path, `/services` by default. */
  readonly servicesPath: string;
  /** Where service policies live, `<root>/policies`. */
  readonly policiesPath: string;
  /** zkgate's root znode, for audit records. */
  readonly root: string;
  readonly defaultTtlMs: number;
  readonly logger: StoreLogger;
  readonly metrics: Metrics;
  /** True while the store is unreachable or the cache incomplete: writes are refused. */
  readonly stale: () => boolean;
}

/** One heartbeat of a batch, validated by the route. */
export interface Heartbeat {
  readonly service: string;
  readonly id: string;
  readonly load?: LoadReport;
}

/** What became of one heartbeat of a batch: see {@link RegistryWriter.heartbeats}. */
export type HeartbeatOutcome = Lease | 'deferred' | ZkgError;

/** A registration over HTTP, validated by the route. */
export interface Registration {
  readonly address: string;
  readonly port: number;
  readonly sslPort?: number;
  readonly weight?: number;
  readonly zone?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly ttlMs?: number;
  readonly check?: HealthCheck;
}

export class RegistryWriter {
  constructor(
    private readonly store: CoordinationStore,
    private readonly hot: HotStore,
    private readonly cache: RegistryCache,
    private readonly leases: LeaseView,
    private readonly options: WriterOptions,
  ) {}

  /**
   * Register an instance, or update its registration (the manual status, the registration time
   * and, while it keeps a check, the check's verdict are kept). The lease is renewed first, so a registration that fails half-way leaves
   * at worst a lease without an instance, which the reaper removes.
   */
  async register(
    actor: Actor,
    service: string,
    id: string,
    registration: Registration,
  ): Promise<{ view: InstanceView; created: boolean; degraded: boolean }> {
    this.assertWritable();
    const path = this.instancePath(service, id);
    const ttlMs = registration.ttlMs ?? this.options.defaultTtlMs;
    let lease: Lease | 'deferred' | undefined;
    const { index, created, instance } = await optimisticWrite(instanceOf(service, id), async () => {
      const existing = await this.readExisting(service, id);
      lease ??= (await this.renewOrDefer(service, id, ttlMs)) ?? 'deferred';
      const manualStatus = existing?.instance?.manualStatus;
      // A verdict belongs to a check: without one there is nothing left to judge by.
      const checkStatus = registration.check === undefined ? undefined : existing?.instance?.checkStatus;
      const instance: Instance = {
        service,
        id,
        address: registration.address,
        port: registration.port,
        sslPort: registration.sslPort ?? null,
        weight: registration.weight ?? DEFAULT_WEIGHT,
        zone: registration.zone,
        status: effectiveStatus(manualStatus, checkStatus),
        ...(manualStatus === undefined ? {} : { manualStatus }),
        ...(checkStatus === undefined ? {} : { checkStatus }),
        metadata: registration.metadata ?? {},
        ttlMs,
        ...(registration.check === undefined ? {} : { check: registration.check }),
        registrationTimeUTC: existing?.instance?.registrationTimeUTC ?? Date.now(),
        serviceType: 'STATIC',
        enabled: true,
      };
      const data = encodeInstance(instance);
      const change = {
        action: 'service.register',
        versionBefore: existing?.version ?? null,
        versionAfter: existing ? existing.version + 1 : 0,
      } as const;
      if (existing) {
        const [set] = await this.audited(actor, service, id, change, [
          { op: 'setData', path, data, version: existing.version },
        ]);
        return { index: setDataStat(set).mzxid, created: false, instance };
      }
      // Curator makes service znodes containers, which ZooKeeper removes once empty: a parent
      // gone since it was looked at fails the multi with NO_NODE, and the retry creates it again.
      await this.audited(actor, service, id, change, [
        ...(await missingDirs(this.store, parentOf(path))),
        { op: 'create', path, data },
      ]);
      const stat = await this.store.exists(path);
      return { index: stat?.mzxid ?? 0n, created: true, instance };
    });
    await this.options.tree.acknowledge(index);
    this.leases.invalidate(service);
    // What was written, with the lease just granted: the answer does not depend on the cache.
    if (lease === 'deferred' || lease === undefined) {
      const now = Date.now();
      const view = viewOf(
        { instance, index, version: 0, modified: now, created: now, ephemeral: false },
        { leases: undefined, now, graceStart: 0 },
      );
      return { view, created, degraded: true };
    }
    const view = viewOf(
      { instance, index, version: 0, modified: lease.renewedAt, created: lease.renewedAt, ephemeral: false },
      { leases: new Map([[id, lease]]), now: lease.renewedAt, graceStart: 0 },
    );
    return { view, created, degraded: false };
  }

  /** Remove an instance, whoever registered it, and its lease. */
  async deregister(actor: Actor, service: string, id: string): Promise<void> {
    this.assertWritable();
    const path = this.instancePath(service, id);
    // Version-checked, so the record names the version that was removed.
    await optimisticWrite(instanceOf(service, id), async () => {
      const stat = await this.store.exists(path);
      if (!stat) throw instanceNotFound(service, id);
      const change = {
        action: 'service.deregister',
        versionBefore: stat.version,
        versionAfter: null,
      } as const;
      await this.audited(actor, service, id, change, [{ op: 'delete', path, version: stat.version }]).catch(
        (err: unknown) => {
          // A znode with children stays: that is no race to retry.
          if (isStoreError(err, ErrorCode.NOT_EMPTY)) {
            throw new ZkgError(
              'ZKG_INSTANCE_HAS_CHILDREN',
              `${instanceOf(service, id)} has child znodes another ZooKeeper client wrote; remove them first`,
            );
          }
          throw err;
        },
      );
    });
    // A delete returns no zxid; the parent's pzxid, read after it, is at least the delete's.
    const parent = await this.store.exists(`${this.options.servicesPath}/${service}`);
    if (parent) await this.options.tree.acknowledge(parent.pzxid);
    this.leases.invalidate(service);
    // The lease is a leftover now; the reaper removes it if this fails.
    await this.hot
      .removeLease(service, id)
      .catch((err: unknown) =>
        this.options.logger.warn({ err, service, id }, 'lease of a deregistered instance not removed'),
      );
  }

  /**
   * Renew the lease of an instance registered over HTTP. Reads only the cache and writes only
   * the HotStore. 404 when the instance is unknown (the client registers again); 409 for an
   * instance bound to a client session, which has no lease.
   */
  async heartbeat(service: string, id: string, load?: LoadReport): Promise<Lease | undefined> {
    const ttlMs = this.leaseTtl(service, id);
    if (ttlMs instanceof ZkgError) throw ttlMs;
    return this.renewOrDefer(service, id, ttlMs, load);
  }

  /**
   * {@link heartbeat} for each of a batch (at most MAX_RENEWAL_BATCH), in one HotStore call:
   * each answered on its own, in order, with its lease, `deferred` while the hot store is
   * unreachable, or the error its own heartbeat would have thrown.
   */
  async heartbeats(beats: readonly Heartbeat[]): Promise<HeartbeatOutcome[]> {
    const outcomes = new Array<HeartbeatOutcome>(beats.length);
    const renewals: LeaseRenewal[] = [];
    const positions: number[] = [];
    beats.forEach(({ service, id, load }, i) => {
      const ttlMs = this.leaseTtl(service, id);
      if (ttlMs instanceof ZkgError) {
        outcomes[i] = ttlMs;
        return;
      }
      renewals.push({ service, instance: id, ttlMs, ...(load && { load }) });
      positions.push(i);
    });
    const leases =
      renewals.length === 0 ? [] : await this.orDefer(renewals.length, () => this.hot.renewLeases(renewals));
    positions.forEach((position, j) => {
      outcomes[position] = leases?.[j] ?? 'deferred';
    });
    return outcomes;
  }

  /** The lease TTL of an instance a heartbeat may renew; else why not (returned: batches answer it per item). */
  private leaseTtl(service: string, id: string): number | ZkgError {
    const entry = this.cache.service(service)?.instances.get(id);
    if (!entry) return instanceNotFound(service, id);
    if (entry.ephemeral || entry.instance.ttlMs === undefined) {
      return new ZkgError(
        'ZKG_INSTANCE_SESSION_BOUND',
        `instance ${id} of ${service} lives as long as its client's ZooKeeper session and has no lease`,
      );
    }
    return entry.instance.ttlMs;
  }

  /**
   * Renew a lease; undefined while the hot store is unreachable. The registry stays writable
   * through a hot-store outage (degraded, not down): nothing is evicted while leases cannot be
   * read, and once the store is back every lease gets one full TTL of grace (see LeaseGrace), in
   * which the instance's next heartbeat grants it.
   */
  private renewOrDefer(
    service: string,
    id: string,
    ttlMs: number,
    load?: LoadReport,
  ): Promise<Lease | undefined> {
    return this.orDefer(1, () => this.hot.renewLease(service, id, ttlMs, load));
  }

  /** `count` renewals made by `renew`, or undefined (counted as deferred) while the hot store is unreachable. */
  private async orDefer<T>(count: number, renew: () => Promise<T>): Promise<T | undefined> {
    try {
      return await renew();
    } catch (err) {
      if (!unreachable(err)) throw err;
      this.options.metrics.deferredRenewals.inc(count);
      return undefined;
    }
  }

  /**
   * Set the operator's status of an instance, or clear it (`undefined`): DOWN and DRAINING take it
   * out of dispatch, UP forces it in; health checks do not override it until it is cleared. Works
   * on Curator and Spring instances too, though their client writes its own data again when it
   * re-registers (after a new session).
   */
  async setStatus(
    actor: Actor,
    service: string,
    id: string,
    status: InstanceStatus | undefined,
  ): Promise<InstanceView> {
    this.assertWritable();
    const entry = await this.rewrite(actor, 'service.status', service, id, (instance) => {
      // Nothing to clear: leave the instance as its writer made it (a Spring app's own
      // OUT_OF_SERVICE must not turn UP because an operator cleared nothing).
      if (status === undefined && instance.manualStatus === undefined) return undefined;
      const { manualStatus: _previous, ...rest } = instance;
      return {
        ...rest,
        status: effectiveStatus(status, instance.checkStatus),
        ...(status === undefined ? {} : { manualStatus: status }),
      };
    });
    if (!entry) throw instanceNotFound(service, id);
    return viewOf(entry, await this.leases.get(service));
  }

  /**
   * Write a health check's verdict (the scanner calls it when an instance crosses its rise or fall
   * count), so every replica and every Curator reader sees it. Returns false when the instance is
   * gone, has no check any more, holds another verdict than `from.verdict`, or is no longer owned.
   */
  async setCheckStatus(
    actor: Actor,
    service: string,
    id: string,
    verdict: CheckStatus,
    from: { readonly verdict: CheckStatus | undefined; readonly owned: () => boolean },
  ): Promise<boolean> {
    this.assertWritable();
    let written = false;
    await this.rewrite(actor, 'service.check', service, id, (instance) => {
      written = false;
      // Only over the verdict the scanner judged from, and only while it still owns the check: a
      // replica that lost the instance (and whose write waited out a reconnect) must not
      // overwrite what the new owner wrote meanwhile.
      if (instance.check === undefined || instance.checkStatus !== from.verdict || !from.owned())
        return undefined;
      written = true;
      return { ...instance, checkStatus: verdict, status: effectiveStatus(instance.manualStatus, verdict) };
    });
    return written;
  }

  /** Set how a service is dispatched; stored in ZooKeeper, so every replica applies it. */
  async setPolicy(actor: Actor, service: string, policy: ServicePolicy): Promise<void> {
    this.assertWritable();
    const path = `${this.options.policiesPath}/${service}`;
    const data = Buffer.from(JSON.stringify(policy), 'utf8');
    // Set it, or create it; two first writers race on the create, and the loser sets it. The
    // set is version-checked so that the record names the version it replaced.
    const index = await optimisticWrite(`the dispatch policy of service ${service}`, async () => {
      const stat = await this.store.exists(path);
      const [set] = await this.store.multi([
        stat ? { op: 'setData', path, data, version: stat.version } : { op: 'create', path, data },
        auditOp(this.options.root, actor, {
          action: 'service.policy',
          resource: auditResource.service(service),
          versionBefore: stat?.version ?? null,
          versionAfter: stat ? stat.version + 1 : 0,
        }),
      ]);
      return set?.op === 'setData' ? set.stat.mzxid : ((await this.store.exists(path))?.mzxid ?? 0n);
    });
    await this.options.tree.acknowledge(index);
  }

  /**
   * Ask the elected reaper to release a service held back by self-preservation: its next sweep
   * evicts what ran out there. 404 for a service nobody registered.
   */
  async release(actor: Actor, service: string): Promise<void> {
    this.assertWritable();
    if (!this.cache.service(service)) throw new ZkgError('ZKG_SERVICE_NOT_FOUND', `no service ${service}`);
    await this.options.holds.requestRelease(actor, service);
  }

  private instancePath(service: string, id: string): string {
    return `${this.options.servicesPath}/${service}/${id}`;
  }

  /**
   * Read-modify-write of an instance znode, whoever registered it, version-checked and retried
   * when another writer got there first. `change` returns undefined to leave it alone. Resolves
   * with the entry as written (or as found when unchanged), once the cache has it; undefined when
   * there is no readable instance.
   */
  private async rewrite(
    actor: Actor,
    action: AuditAction,
    service: string,
    id: string,
    change: (instance: Instance) => Instance | undefined,
  ): Promise<InstanceEntry | undefined> {
    const path = this.instancePath(service, id);
    const resource = instanceOf(service, id);
    const entry = await optimisticWrite(resource, async (): Promise<InstanceEntry | undefined> => {
      const read = await this.readInstance(service, id);
      if (!read?.instance) return undefined;
      const { node, instance } = read;
      const next = change(instance) ?? instance;
      const data = next === instance ? node.data : encodeInstance(next);
      let stat = node.stat;
      if (!data.equals(node.data)) {
        const { version } = node.stat;
        const change = { action, versionBefore: version, versionAfter: version + 1 };
        const [set] = await this.audited(actor, service, id, change, [
          { op: 'setData', path, data, version },
        ]);
        stat = setDataStat(set);
      }
      return {
        instance: next,
        index: stat.mzxid,
        version: stat.version,
        modified: stat.mtime,
        created: stat.ctime,
        ephemeral: stat.ephemeralOwner !== 0n,
      };
    });
    if (entry === undefined) return undefined;
    await this.options.tree.acknowledge(entry.index);
    return entry;
  }

  /** The current registration, read from ZooKeeper (not the cache) for a version-checked write. */
  private async readExisting(
    service: string,
    id: string,
  ): Promise<{ version: number; instance: Instance | undefined } | undefined> {
    const read = await this.readInstance(service, id);
    if (!read) return undefined;
    if (read.node.stat.ephemeralOwner !== 0n) {
      throw new ZkgError(
        'ZKG_INSTANCE_SESSION_BOUND',
        `instance ${id} of ${service} is registered by a client session (Curator or Spring); ` +
          'register under another id',
      );
    }
    return { version: read.node.stat.version, instance: read.instance };
  }

  /** An instance znode as stored and as decoded (undefined when unreadable); undefined when there is none. */
  private async readInstance(
    service: string,
    id: string,
  ): Promise<{ node: NodeData; instance: Instance | undefined } | undefined> {
    const node = await orAbsent(this.store.getData(this.instancePath(service, id)));
    if (!node) return undefined;
    try {
      return { node, instance: decodeInstance(service, id, node.data) };
    } catch (err) {
      if (err instanceof InstanceFormatError) return { node, instance: undefined };
      throw err;
    }
  }

  /** `ops` changing an instance, in one `multi` with the change's audit record. */
  private audited(
    actor: Actor,
    service: string,
    id: string,
    change: Omit<AuditChange, 'resource'>,
    ops: readonly Op[],
  ): Promise<OpResult[]> {
    return this.store.multi([
      ...ops,
      auditOp(this.options.root, actor, { ...change, resource: auditResource.instance(service, id) }),
    ]);
  }

  private assertWritable(): void {
    if (this.options.stale()) throw storeUnavailable(this.store.state);
  }
}

/** The Stat a `setData` in a multi answered with. */
function setDataStat(result: OpResult | undefined): Stat {
  if (result?.op !== 'setData') throw new Error(`expected a setData result, got ${result?.op}`);
  return result.stat;
}

/** An instance as errors name it. */
function instanceOf(service: string, id: string): string {
  return `instance ${id} of service ${service}`;
}

function instanceNotFound(service: string, id: string): ZkgError {
  return new ZkgError('ZKG_INSTANCE_NOT_FOUND', `no ${instanceOf(service, id)}`);
}
