/**
 * The watch-backed cache of the service registry: every instance under
 * `<servicesPath>/<service>/<id>`, whoever wrote it (zkgate, Curator, Spring), kept current by
 * watches on the services directory, on each service's children and on each instance's data.
 * A view of the session's {@link WatchedTree}, which explains why every event id is a safe
 * resume point.
 *
 * Its events are per instance (`instance`): one per registration, update or removal, with the
 * zxid of the change as id: an instance's mzxid for a registration or an update, and for a
 * removal the service znode's pzxid as read by the listing that no longer holds it (no lower
 * than the deletion's zxid). Removals are only ever seen by listings: an instance's data watch
 * fires on deletion too, but carries no zxid. A service's instance map is updated in place, so a
 * change costs the same in a service of ten instances as in one of twenty thousand.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import type { Stat } from '../coordination/store.js';
import { CacheView, LowestStaged } from '../coordination/cache-view.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { isStrategyName, type StrategyName } from '../dispatcher/types.js';
import { decodeInstance, InstanceFormatError, type Instance } from './instance.js';

export interface InstanceEntry {
  readonly instance: Instance;
  /** The znode's mzxid. */
  readonly index: bigint;
  /** The znode's data version, for version-checked writes. */
  readonly version: number;
  /** The znode's mtime: when it was last registered or updated. */
  readonly modified: number;
  /** The znode's ctime: when this registration began (a re-registration after an eviction is a new one). */
  readonly created: number;
  /** Bound to a client session (Curator, Spring): no lease, gone when its session ends. */
  readonly ephemeral: boolean;
}

export interface ServiceEntry {
  readonly service: string;
  /** By instance id; updated in place as changes are published. */
  readonly instances: ReadonlyMap<string, InstanceEntry>;
  /** The zxid of the service's latest change. */
  readonly index: bigint;
}

/** One instance registered, updated (`entry`) or removed (no `entry`). */
export interface InstanceChange {
  readonly kind: 'instance';
  readonly id: bigint;
  readonly service: string;
  readonly instanceId: string;
  readonly entry?: InstanceEntry;
}

export function isInstanceChange(change: CacheChange): change is InstanceChange {
  return change.kind === 'instance';
}

interface PublishedService {
  readonly service: string;
  readonly instances: Map<string, InstanceEntry>;
  index: bigint;
}

/** How a service is dispatched, set with `PUT /v1/services/{service}`; unset fields take the defaults. */
export interface ServicePolicy {
  /** Nacos's protection threshold in [0, 1]. */
  readonly protectThreshold?: number;
  readonly strategy?: StrategyName;
  /** Zone affinity's least healthy share of the caller's zone before spilling over. */
  readonly zoneMinHealthyShare?: number;
}

/** A policy as stored; fields that are not what zkgate writes are dropped. */
export function parsePolicy(data: Buffer): ServicePolicy {
  const raw = JSON.parse(data.toString('utf8')) as Record<string, unknown> | null;
  const share = (value: unknown): number | undefined =>
    typeof value === 'number' && value >= 0 && value <= 1 ? value : undefined;
  const protectThreshold = share(raw?.protectThreshold);
  const zoneMinHealthyShare = share(raw?.zoneMinHealthyShare);
  return {
    ...(protectThreshold === undefined ? {} : { protectThreshold }),
    ...(isStrategyName(raw?.strategy) ? { strategy: raw.strategy } : {}),
    ...(zoneMinHealthyShare === undefined ? {} : { zoneMinHealthyShare }),
  };
}

type StagedInstance = { entry: InstanceEntry } | { removed: bigint } | { absent: true };

/** The zxid a staged change is published at. */
function stagedAt(staged: { entry: InstanceEntry } | { removed: bigint }): bigint {
  return 'entry' in staged ? staged.entry.index : staged.removed;
}

const SERVICES_KEY = 'registry';
const POLICIES_KEY = 'policies';

export class RegistryCache extends CacheView<InstanceChange> {
  private readonly published = new Map<string, PublishedService>();
  private servicesRemoved = 0;
  /** By service, then instance id. */
  private readonly staged = new Map<string, Map<string, StagedInstance>>();
  private readonly lowestStaged = new LowestStaged();
  /** Services no longer listed, with the pzxid of the listing that dropped them. */
  private readonly stagedRemovals = new Map<string, bigint>();
  /** Services listed without instances, with the pzxid of that listing. */
  private readonly stagedEmpty = new Map<string, bigint>();
  private listedServices = new Set<string>();
  private readonly listedInstances = new Map<string, Set<string>>();
  /** Policies are settings, not events: applied with the batch that covers them, sending nothing. */
  private readonly policies = new Map<string, ServicePolicy>();
  private readonly stagedPolicies = new Map<string, { policy: ServicePolicy; id: bigint }>();
  private listedPolicies = new Set<string>();

  constructor(
    tree: WatchedTree<CacheChange>,
    /** The services directory, `/services` by default. */
    private readonly basePath: string,
    /** Where service policies live, `<root>/policies`. */
    private readonly policiesPath: string,
  ) {
    super(tree, isInstanceChange);
  }

  service(name: string): ServiceEntry | undefined {
    return this.published.get(name);
  }

  /** How many services were removed so far: readers keeping state per service prune when it moves. */
  get removals(): number {
    return this.servicesRemoved;
  }

  policy(service: string): ServicePolicy {
    return this.policies.get(service) ?? {};
  }

  /** Every service, sorted by name. */
  services(): ServiceEntry[] {
    return [...this.published.values()].sort((a, b) =>
      a.service < b.service ? -1 : a.service > b.service ? 1 : 0,
    );
  }

  resync(): void {
    this.listedServices = new Set();
    this.listedInstances.clear();
    this.listedPolicies = new Set();
    this.tree.load(SERVICES_KEY, () => this.loadServices());
    this.tree.load(POLICIES_KEY, () => this.loadPolicies());
    for (const service of new Set([...this.published.keys(), ...this.staged.keys()]))
      this.loadService(service);
  }

  private async loadServices(): Promise<void> {
    const watch = this.tree.watcherFor(SERVICES_KEY, () => this.loadServices());
    let children: string[];
    let pzxid: bigint;
    try {
      const listing = await this.store.getChildren(this.basePath, watch);
      this.tree.observe(listing.stat);
      children = listing.children;
      pzxid = listing.stat.pzxid;
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      // No registry yet (or removed by hand): watch for it to appear.
      const stat = await this.store.exists(this.basePath, watch);
      if (stat) return this.loadServices();
      children = [];
      pzxid = this.tree.watermark;
    }
    const names = new Set(children);
    for (const service of names) {
      if (!this.listedServices.has(service)) this.loadService(service, SERVICES_KEY);
      this.stagedRemovals.delete(service);
    }
    for (const service of this.listedServices)
      if (!names.has(service)) this.stagedRemovals.set(service, pzxid);
    for (const service of this.published.keys())
      if (!names.has(service) && !this.stagedRemovals.has(service)) this.stagedRemovals.set(service, pzxid);
    this.listedServices = names;
  }

  private async loadPolicies(): Promise<void> {
    const watch = this.tree.watcherFor(POLICIES_KEY, () => this.loadPolicies());
    const names = new Set(await this.tree.childrenOrCreate(this.policiesPath, watch));
    for (const service of this.policies.keys()) if (!names.has(service)) this.policies.delete(service);
    for (const service of names) {
      if (!this.listedPolicies.has(service))
        this.tree.load(`policy:${service}`, () => this.readPolicy(service), POLICIES_KEY);
    }
    this.listedPolicies = names;
  }

  private async readPolicy(service: string): Promise<void> {
    const watch = this.tree.watcherFor(`policy:${service}`, () => this.readPolicy(service));
    try {
      const node = await this.store.getData(`${this.policiesPath}/${service}`, watch);
      this.tree.observe(node.stat);
      let policy: ServicePolicy = {};
      try {
        policy = parsePolicy(node.data);
      } catch {
        this.logger.warn({ service }, 'ignoring a service policy that is not JSON');
      }
      this.stagedPolicies.set(service, { policy, id: node.stat.mzxid });
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      this.stagedPolicies.delete(service);
      this.policies.delete(service);
    }
  }

  private loadService(service: string, parent?: string): void {
    this.tree.load(`svc:${service}`, () => this.readService(service), parent);
  }

  private async readService(service: string): Promise<void> {
    const watch = this.tree.watcherFor(`svc:${service}`, () => this.readService(service));
    const path = `${this.basePath}/${service}`;
    let listing;
    try {
      listing = await this.store.getChildren(path, watch);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      // Gone: the services listing stages the removal, with a zxid. A failed read arms no
      // watch: arm one, or a service re-created meanwhile would never be watched again.
      this.listedInstances.delete(service);
      if (await this.store.exists(path, watch)) return this.readService(service);
      return;
    }
    this.tree.observe(listing.stat);
    const { children } = listing;
    // What the previous listing held; after a resync, what is published. A big service is
    // listed with every batch of changes, so the common case (only additions) is one pass over
    // the listing that adds to the previous set in place; a second pass and a new set only when
    // something went.
    const listed = this.listedInstances.get(service);
    const before: ReadonlySet<string> | ReadonlyMap<string, unknown> =
      listed ?? this.published.get(service)?.instances ?? new Set<string>();
    const added = children.filter((id) => !before.has(id));
    let ids: Set<string>;
    if (listed && before.size === children.length - added.length) {
      ids = listed;
      for (const id of added) ids.add(id);
    } else {
      ids = new Set(children);
      const removed = { removed: listing.stat.pzxid };
      for (const id of before.keys()) if (!ids.has(id)) this.stage(service, id, removed);
      // The first listing after a resync: an instance read before it but not published yet, and
      // gone since (deleted while the session expired, its watches with it), is dropped unheard.
      if (!listed) {
        for (const [id, staged] of this.staged.get(service) ?? []) {
          if ('entry' in staged && !ids.has(id) && !before.has(id)) this.stage(service, id, { absent: true });
        }
      }
    }
    for (const id of added) this.loadInstance(service, id);
    if (ids.size === 0) this.stagedEmpty.set(service, listing.stat.pzxid);
    this.listedInstances.set(service, ids);
  }

  private loadInstance(service: string, id: string): void {
    this.tree.load(`inst:${service}/${id}`, () => this.readInstance(service, id), `svc:${service}`);
  }

  private async readInstance(service: string, id: string): Promise<void> {
    const watch = this.tree.watcherFor(`inst:${service}/${id}`, () => this.readInstance(service, id));
    const path = `${this.basePath}/${service}/${id}`;
    let node: { data: Buffer; stat: Stat };
    try {
      node = await this.store.getData(path, watch);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      // Gone: the service's listing stages the removal, with a zxid. Arm a watch for its
      // return: re-created before the listing ran, it would stay listed but unwatched.
      if (await this.store.exists(path, watch)) return this.readInstance(service, id);
      return;
    }
    this.tree.observe(node.stat);
    try {
      const instance = decodeInstance(service, id, node.data);
      this.stage(service, id, {
        entry: {
          instance,
          index: node.stat.mzxid,
          version: node.stat.version,
          modified: node.stat.mtime,
          created: node.stat.ctime,
          ephemeral: node.stat.ephemeralOwner !== 0n,
        },
      });
    } catch (err) {
      if (!(err instanceof InstanceFormatError)) throw err;
      this.logger.warn({ service, id, reason: err.message }, 'ignoring an instance znode zkgate cannot read');
      // Unreadable now: as good as removed, at the zxid of the write that made it so.
      const known = this.published.get(service)?.instances.has(id);
      this.stage(service, id, known ? { removed: node.stat.mzxid } : { absent: true });
    }
  }

  private stage(service: string, id: string, staged: StagedInstance): void {
    let instances = this.staged.get(service);
    if (!instances) {
      instances = new Map();
      this.staged.set(service, instances);
    }
    instances.set(id, staged);
    if (!('absent' in staged)) this.lowestStaged.staged(stagedAt(staged));
  }

  collect(covered: (id: bigint) => boolean, settled: boolean): InstanceChange[] {
    // `settled` only matters for unreadable instances (`absent`), dropped once nothing runs.
    const changes: InstanceChange[] = [];
    const touch = (entry: PublishedService, id: bigint): void => {
      if (id > entry.index) entry.index = id;
    };
    /** Services whose last instance may have gone: dropped at the end unless still listed. */
    const emptied = new Set<string>();

    const scan = this.lowestStaged.scan(covered, settled);
    for (const [service, instances] of scan ? this.staged : []) {
      for (const [id, staged] of instances) {
        if ('absent' in staged) {
          if (settled) instances.delete(id);
          continue;
        }
        const at = stagedAt(staged);
        if (!covered(at)) {
          this.lowestStaged.staged(at);
          continue;
        }
        instances.delete(id);
        if ('entry' in staged) {
          const published = this.publishedOf(service, at);
          const before = published.instances.get(id);
          if (before && before.index >= staged.entry.index) continue;
          published.instances.set(id, staged.entry);
          touch(published, at);
          changes.push({ kind: 'instance', id: at, service, instanceId: id, entry: staged.entry });
        } else {
          const published = this.published.get(service);
          const before = published?.instances.get(id);
          if (!published || !before || before.index >= staged.removed) continue;
          this.remove(published, id, at, changes);
          emptied.add(service);
        }
      }
      if (instances.size === 0) this.staged.delete(service);
    }
    for (const [service, at] of this.stagedRemovals) {
      if (!covered(at)) continue;
      this.stagedRemovals.delete(service);
      // Reflected now, even with nothing to send: readers waiting for it hear of it.
      this.tree.advance(at);
      const published = this.published.get(service);
      if (!published) continue;
      // Only what the removal covers: a service re-created since keeps its newer instances.
      for (const [id, entry] of published.instances)
        if (entry.index < at) this.remove(published, id, at, changes);
      emptied.add(service);
    }

    for (const [service, { policy, id }] of this.stagedPolicies) {
      if (!covered(id)) continue;
      this.stagedPolicies.delete(service);
      this.policies.set(service, policy);
      this.tree.advance(id);
    }
    for (const [service, at] of this.stagedEmpty) {
      if (!covered(at)) continue;
      this.stagedEmpty.delete(service);
      // A service known without instances is an empty list, not an absent service.
      this.publishedOf(service, at);
      this.tree.advance(at);
    }
    for (const service of emptied) {
      const published = this.published.get(service);
      if (!published || published.instances.size > 0) continue;
      if (this.listedServices.has(service) || this.staged.has(service)) continue;
      this.published.delete(service);
      this.servicesRemoved++;
      this.tree.forgetWatcher(`svc:${service}`);
      this.listedInstances.delete(service);
    }
    return changes;
  }

  /** The service as published, created (empty, at `at`) when it is new. */
  private publishedOf(service: string, at: bigint): PublishedService {
    let published = this.published.get(service);
    if (!published) {
      published = { service, instances: new Map(), index: at };
      this.published.set(service, published);
    }
    return published;
  }

  private remove(published: PublishedService, id: string, at: bigint, changes: InstanceChange[]): void {
    published.instances.delete(id);
    if (at > published.index) published.index = at;
    this.tree.forgetWatcher(`inst:${published.service}/${id}`);
    changes.push({ kind: 'instance', id: at, service: published.service, instanceId: id });
  }
}
