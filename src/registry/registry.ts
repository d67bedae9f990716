/**
 * The service registry, split along Curator's lines: the {@link RegistryCache} (what ZooKeeper
 * holds, watched), a {@link RegistryWriter} (registrations, leases, statuses, policies), a
 * {@link RegistryReadModel} (instances joined with their leases, with a revision behind ETags,
 * long-polls and watches) and an {@link InstanceProvider} (dispatch). This wires them up.
 */
import { auditDirectory } from '../acl/audit.js';
import { mkdirs } from '../coordination/recipes.js';
import type { CoordinationStore, StoreLogger } from '../coordination/store.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import type { HotStore } from '../hotstore/store.js';
import type { Metrics } from '../monitor/metrics.js';
import { RegistryCache } from './cache.js';
import type { Holds } from './holds.js';
import { LeaseGrace, LeaseView } from './leases.js';
import { InstanceProvider } from './provider.js';
import { RegistryReadModel } from './read-model.js';
import { RegistryWriter } from './writer.js';

export interface RegistryOptions {
  readonly tree: WatchedTree<CacheChange>;
  /** Services held back by self-preservation, as the elected reaper published them. */
  readonly holds: Holds;
  /** Curator's base path, `/services` by default. */
  readonly servicesPath: string;
  /** zkgate's root znode: service policies live under `<root>/policies`. */
  readonly root: string;
  readonly defaultTtlMs: number;
  /** Protection threshold of services without their own. */
  readonly protectThreshold: number;
  readonly zoneMinHealthyShare: number;
  /** How stale the lease view behind listings and dispatch may be. */
  readonly leaseRefreshMs: number;
  readonly logger: StoreLogger;
  readonly metrics: Metrics;
}

export class Registry {
  readonly cache: RegistryCache;
  readonly leases: LeaseView;
  readonly reads: RegistryReadModel;
  readonly writer: RegistryWriter;
  readonly provider: InstanceProvider;
  /** Services held back by self-preservation, as the elected reaper published them. */
  readonly holds: Holds;
  private readonly policiesPath: string;

  constructor(
    private readonly store: CoordinationStore,
    hot: HotStore,
    private readonly options: RegistryOptions,
  ) {
    this.policiesPath = `${options.root}/policies`;
    this.holds = options.holds;
    this.cache = new RegistryCache(options.tree, options.servicesPath, this.policiesPath);
    this.leases = new LeaseView(hot, options.leaseRefreshMs, new LeaseGrace(hot));
    this.reads = new RegistryReadModel(this.cache, this.leases, hot, options);
    this.writer = new RegistryWriter(store, hot, this.cache, this.leases, {
      ...options,
      policiesPath: this.policiesPath,
      stale: () => this.stale,
    });
    this.provider = new InstanceProvider(this.cache, this.reads, options);
  }

  /** Create the directories if missing; the cache loads when its tree starts. */
  async start(): Promise<void> {
    await mkdirs(this.store, this.options.servicesPath);
    await mkdirs(this.store, this.policiesPath);
    await mkdirs(this.store, auditDirectory(this.options.root));
  }

  close(): void {
    this.reads.close();
    this.provider.close();
    this.leases.grace.close();
  }

  /** True while the store is unreachable and reads come from the last known state. */
  get stale(): boolean {
    return this.store.state !== 'connected' || !this.cache.ready;
  }
}
