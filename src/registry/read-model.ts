/**
 * The registry's read model: per service, what clients see of it. The instances ZooKeeper holds
 * (the {@link RegistryCache}) joined with their leases (the hot store), check verdicts and load
 * reports, with a *revision* that changes with every visible change: membership, status (check
 * verdicts and operators' statuses are znode writes), health (a lease running out, or renewed in
 * time again) and a new load report. Listings' ETags, long-polls and the watch stream all derive
 * from it.
 *
 * The revision is a digest over what is visible of each instance (see revision.ts): replicas that
 * see the same state give the same one, so a client behind a load balancer can send any replica
 * the ETag another gave it. A lease's expiry time moves with every heartbeat and is left out:
 * listings carry a weak ETag (RFC 9110 §8.8.1: the bodies differ, their meaning does not).
 *
 * Health changes are not ZooKeeper writes and have no zxid. The leases of a service somebody
 * follows (a watch stream, a long-poll) are read again every lease refresh, and each instance
 * whose health or load changed is announced with the tree's watermark as its id. Everything up to
 * the watermark is reflected in what this replica serves and every later change of the tree gets
 * a higher id, so a stream's ids never go back. Resuming from such an id, on any replica, misses
 * nothing: a resumed stream starts with the whole list of every service it watches, so at worst
 * a client hears of an instance's health twice.
 *
 * The listings kept per revision, full and compact, by filter, are in listings.ts.
 */
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import type { DispatchInstance, StrategyName } from '../dispatcher/index.js';
import { ZkgError } from '../errors.js';
import type { HotStore } from '../hotstore/store.js';
import type { InstanceChange, InstanceEntry, RegistryCache, ServiceEntry, ServicePolicy } from './cache.js';
import type { Holds } from './holds.js';
import { hotCall } from './hotstore-errors.js';
import { INSTANCE_STATUSES, type InstanceStatus } from './instance.js';
import { aliveIn, type LeaseSnapshot, type LeaseView } from './leases.js';
import { matches, ServiceListings, unfiltered, type InstanceFilter } from './listings.js';
import { judge, VisibleInstances } from './revision.js';
import {
  checkViews,
  countStatuses,
  holdView,
  viewOf,
  type CheckView,
  type CompactInstanceView,
  type InstanceView,
  type ListingView,
  type ServiceSummary,
} from './views.js';

/**
 * One instance as a client sees it now (`entry` with the leases of `snapshot`, see
 * {@link viewOf}), or its removal (no `entry`). The view is left to whoever sends it: a change
 * nobody watches costs no view.
 */
export interface InstanceUpdate {
  /** The event id: the change's zxid, or the tree's watermark for a lease's change (see the header). */
  readonly id: bigint;
  readonly service: string;
  readonly instanceId: string;
  readonly entry?: InstanceEntry;
  readonly snapshot: LeaseSnapshot;
  /** A write to ZooKeeper, or what the hot store's leases say. */
  readonly cause: 'registry' | 'lease';
}

export interface Listing {
  /** The zxid of the service's latest change. */
  readonly index: bigint;
  /** The weak ETag of the instances listed. */
  readonly tag: string;
  /**
   * Sorted by id. The same array for as long as what it shows is the same, so that whoever
   * encodes it can keep the encoding with it.
   */
  readonly instances: readonly InstanceView[] | readonly CompactInstanceView[];
}

/** What dispatch picks from: candidates rebuilt when the revision changes, views as picked. */
export interface Dispatchable {
  /** How many instances are registered. */
  readonly registered: number;
  /** UP, enabled instances with a port, healthy or not. */
  readonly candidates: readonly DispatchInstance[];
  /** The view of a candidate, made once per lease snapshot. */
  view(id: string): InstanceView | undefined;
}

interface ServiceState {
  snapshot: LeaseSnapshot;
  readonly visible: VisibleInstances;
  /** Advances with every visible change; what the listings and dispatch candidates are keyed on. */
  revision: number;
  readonly listings: ServiceListings;
  dispatchable: { revision: number; snapshot: LeaseSnapshot; built: Dispatchable } | undefined;
  followers: number;
}

/** Followed services have their leases read at most this often, even with a lease refresh of 0. */
const MIN_FOLLOW_INTERVAL_MS = 250;

export interface ReadModelOptions {
  readonly tree: WatchedTree<CacheChange>;
  readonly holds: Holds;
  readonly leaseRefreshMs: number;
  /** Protection threshold of services without their own. */
  readonly protectThreshold: number;
  readonly zoneMinHealthyShare: number;
}

/** A service's dispatch policy in force: its own settings over the gateway's defaults. */
export type EffectivePolicy = Required<Omit<ServicePolicy, 'strategy'>> & { strategy: StrategyName };

const DEFAULT_STRATEGY: StrategyName = 'weighted_round_robin';

export class RegistryReadModel {
  private readonly states = new Map<string, ServiceState>();
  private readonly updates = new WeakMap<InstanceChange, InstanceUpdate>();
  private readonly listeners = new Set<(updates: readonly InstanceUpdate[]) => void>();
  private readonly stopCache: () => void;
  private timer: NodeJS.Timeout | undefined;
  private removalsSeen = 0;

  constructor(
    readonly cache: RegistryCache,
    readonly leases: LeaseView,
    private readonly hot: HotStore,
    private readonly options: ReadModelOptions,
  ) {
    // Subscribed before any stream: a stream reading `updateOf` in the same batch finds it applied.
    this.stopCache = cache.onChange((changes) => {
      if (changes.length > 0) this.notify(changes.map((change) => this.updateOf(change)));
      // A service removed once empty publishes no change: states that outlived theirs go here.
      if (this.cache.removals !== this.removalsSeen) {
        this.removalsSeen = this.cache.removals;
        for (const service of this.states.keys()) this.forgetIfGone(service);
      }
    });
  }

  close(): void {
    this.stopCache();
    clearInterval(this.timer);
    this.listeners.clear();
  }

  /** Every update, from ZooKeeper and from leases, in the order they happen. */
  onUpdate(listener: (updates: readonly InstanceUpdate[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A change of the registry cache as clients see it, applied to the model; the same object for
   * the same change, so a stream can encode it once for every subscriber.
   */
  updateOf(change: InstanceChange): InstanceUpdate {
    let update = this.updates.get(change);
    if (update) return update;
    const { service, instanceId, entry } = change;
    const state = this.states.get(service);
    const snapshot = state?.snapshot ?? this.leases.peek(service);
    if (state) {
      const before = state.visible.get(instanceId);
      state.visible.put(instanceId, entry, entry && judge(entry, snapshot));
      // Only a new or removed id changes the order.
      if (!entry || !before) state.listings.membershipChanged();
      state.revision++;
    }
    update = { id: change.id, service, instanceId, ...(entry ? { entry } : {}), snapshot, cause: 'registry' };
    this.updates.set(change, update);
    return update;
  }

  /**
   * Keep the service's health current while somebody waits on it: its leases are read every lease
   * refresh, and a change is announced. Returns the function that stops following.
   */
  follow(service: string): () => void {
    const state = this.stateOf(service);
    state.followers++;
    this.timer ??= setInterval(
      () => this.refreshFollowed(),
      Math.max(this.options.leaseRefreshMs, MIN_FOLLOW_INTERVAL_MS),
    ).unref();
    let followed = true;
    return () => {
      if (!followed) return;
      followed = false;
      state.followers--;
      this.forgetIfGone(service);
      if (![...this.states.values()].some((s) => s.followers > 0)) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /**
   * The ETag of a listing with the leases as last read (see {@link refresh}); the service must
   * exist. Synchronous, so that a long-poll can compare it and subscribe in one step.
   */
  tag(service: string, filter: InstanceFilter = {}): string {
    const entry = this.entryOf(service);
    const state = this.stateOf(service);
    if (unfiltered(filter)) return state.visible.tag();
    const listed: string[] = [];
    for (const [id, e] of entry.instances) if (matches(filter, e.instance)) listed.push(id);
    return state.visible.tag(listed);
  }

  /** A service's instances with the current leases, sorted by id, and their ETag. */
  async listing(service: string, filter: InstanceFilter = {}, view: ListingView = 'full'): Promise<Listing> {
    await this.refresh(service);
    const entry = this.entryOf(service);
    const state = this.stateOf(service);
    const listed =
      view === 'full'
        ? state.listings.full(state, entry.instances, filter)
        : state.listings.compact(state, entry.instances, filter);
    return { index: entry.index, ...listed };
  }

  /** The whole list as this replica holds it now, without reading leases (a stream's first event). */
  current(service: string): readonly InstanceView[] {
    const entry = this.cache.service(service);
    if (!entry) return [];
    const state = this.stateOf(service);
    return state.listings.full(state, entry.instances, {}).instances;
  }

  /** What dispatch needs of a service: nothing is rebuilt while neither the revision nor the leases change. */
  async dispatchable(service: string): Promise<Dispatchable> {
    await this.refresh(service);
    const entries = this.entryOf(service).instances;
    const state = this.stateOf(service);
    const { snapshot } = state;
    const held = state.dispatchable;
    if (held?.revision === state.revision && held.snapshot === snapshot) return held.built;
    const candidates =
      held?.revision === state.revision ? held.built.candidates : candidatesOf(entries, snapshot);
    const views = new Map<string, InstanceView>();
    const built: Dispatchable = {
      registered: entries.size,
      candidates,
      view(id) {
        let view = views.get(id);
        const entry = view ? undefined : entries.get(id);
        if (entry) views.set(id, (view = viewOf(entry, snapshot)));
        return view;
      },
    };
    state.dispatchable = { revision: state.revision, snapshot, built };
    return built;
  }

  /** How the service is dispatched (set with `PUT /v1/services/{service}`). */
  policy(service: string): EffectivePolicy {
    const own = this.cache.policy(service);
    return {
      protectThreshold: own.protectThreshold ?? this.options.protectThreshold,
      strategy: own.strategy ?? DEFAULT_STRATEGY,
      zoneMinHealthyShare: own.zoneMinHealthyShare ?? this.options.zoneMinHealthyShare,
    };
  }

  /** Every service with its counts (health as of the lease view). */
  async services(): Promise<ServiceSummary[]> {
    return Promise.all(
      this.cache.services().map(async (entry) => {
        await this.refresh(entry.service);
        const state = this.stateOf(entry.service);
        const { healthy } = state.visible;
        const hold = this.options.holds.get(entry.service);
        this.forgetIfGone(entry.service);
        return {
          service: entry.service,
          instances: entry.instances.size,
          healthy,
          status: statusesOf(entry),
          index: String(entry.index),
          policy: this.policy(entry.service),
          ...(hold ? { selfPreservation: holdView(hold) } : {}),
        };
      }),
    );
  }

  /**
   * The health checks of a service's instances with their latest results (from the hot store),
   * sorted by id; instances without a check are left out, results of instances gone are ignored.
   */
  async checks(service: string): Promise<CheckView[]> {
    const entry = this.entryOf(service);
    return checkViews(entry.instances.values(), await hotCall(() => this.hot.checkResults(service)));
  }

  /** Instances by service and effective status, from the cache alone (for metrics). */
  *statusCounts(): Iterable<{ service: string; status: InstanceStatus; count: number }> {
    for (const entry of this.cache.services()) {
      const counts = statusesOf(entry);
      for (const status of INSTANCE_STATUSES) yield { service: entry.service, status, count: counts[status] };
    }
  }

  /** Services whose state the model keeps (for tests: it must not grow with services gone). */
  get servicesHeld(): number {
    return this.states.size;
  }

  private entryOf(service: string) {
    const entry = this.cache.service(service);
    if (!entry) throw new ZkgError('ZKG_SERVICE_NOT_FOUND', `no service ${service}`);
    return entry;
  }

  /** The service's state, built from the cache on first use. */
  private stateOf(service: string): ServiceState {
    let state = this.states.get(service);
    if (!state) {
      const snapshot = this.leases.peek(service);
      state = {
        snapshot,
        visible: new VisibleInstances(),
        revision: 0,
        listings: new ServiceListings(),
        dispatchable: undefined,
        followers: 0,
      };
      for (const [id, entry] of this.cache.service(service)?.instances ?? [])
        state.visible.put(id, entry, judge(entry, snapshot));
      this.states.set(service, state);
    }
    return state;
  }

  /** A service that is gone and that nobody follows is forgotten (built again if it comes back). */
  private forgetIfGone(service: string): void {
    const state = this.states.get(service);
    if (state && state.followers === 0 && !this.cache.service(service)) this.states.delete(service);
  }

  /** Read the service's leases (at most once per lease refresh unless `force`d) and apply them. */
  async refresh(service: string, force = false): Promise<void> {
    const snapshot = await (force ? this.leases.refresh(service) : this.leases.get(service));
    this.applySnapshot(service, snapshot);
  }

  private refreshFollowed(): void {
    for (const [service, state] of this.states) {
      if (state.followers > 0) void this.refresh(service, true);
    }
  }

  /** Take in a lease snapshot: every instance whose health or load it changes is an update. */
  private applySnapshot(service: string, snapshot: LeaseSnapshot): void {
    const entry = this.cache.service(service);
    const state = this.states.get(service);
    if (!entry || !state || state.snapshot === snapshot) return;
    state.snapshot = snapshot;
    const updates: InstanceUpdate[] = [];
    for (const [id, e] of entry.instances) {
      const before = state.visible.get(id);
      const now = judge(e, snapshot);
      if (before && before.healthy === now.healthy && before.load === now.load) continue;
      state.visible.put(id, e, now);
      updates.push({
        id: this.options.tree.watermark,
        service,
        instanceId: id,
        entry: e,
        snapshot,
        cause: 'lease',
      });
    }
    if (updates.length === 0) return;
    state.revision++;
    this.notify(updates);
  }

  private notify(updates: readonly InstanceUpdate[]): void {
    for (const listener of [...this.listeners]) listener(updates);
  }
}

/** A service's instances counted by effective status. */
function statusesOf(entry: ServiceEntry): Record<InstanceStatus, number> {
  return countStatuses([...entry.instances.values()].map((e) => e.instance));
}

/** UP, enabled instances with a port: what dispatch may pick, healthy or not. */
function candidatesOf(
  entries: ReadonlyMap<string, InstanceEntry>,
  snapshot: LeaseSnapshot,
): DispatchInstance[] {
  const candidates: DispatchInstance[] = [];
  for (const entry of entries.values()) {
    const { instance } = entry;
    const port = instance.port ?? instance.sslPort;
    if (instance.status !== 'UP' || !instance.enabled || port === null) continue;
    const load = snapshot.leases?.get(instance.id)?.load;
    candidates.push({
      id: instance.id,
      address: instance.address,
      port,
      weight: instance.weight,
      ...(instance.zone === undefined ? {} : { zone: instance.zone }),
      healthy: aliveIn(snapshot, entry),
      ...(load === undefined ? {} : { load }),
    });
  }
  return candidates;
}
