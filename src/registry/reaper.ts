/**
 * Deregisters instances whose lease ran out, on one elected replica (ZooKeeper leader election:
 * every replica runs a reaper, only the leader sweeps).
 *
 * An eviction is a version-checked delete, in one `multi` with its audit record (`service.evict`
 * by the `system` actor) behind the election's fence: an instance re-registered or updated since
 * the sweep read it keeps its znode, and a replica that lost the leadership without noticing (its
 * session expired during a pause) has the whole multi refused by ZooKeeper. Its lease is read
 * again right before, so a heartbeat that landed since the sweep read the leases wins. A sweep that
 * stops partway (the hot store failing on a later service) keeps and reports what it evicted.
 * Evictions stop altogether (*self-preservation*, as Eureka calls it)
 * when the evidence is more likely about zkgate than about the instances:
 * - the HotStore is unreachable: every lease looks expired because none can be read;
 * - more than `selfPreservationRatio` of a service's leases (and more than one) have lapsed when
 *   one of them is due for eviction: more likely a partition between the instances and the HotStore than a
 *   fleet dying together. Unlike Eureka's, the hold ends on its own once the instances left have
 *   renewed for a full TTL since it began (the rest are gone, not cut off), or when an operator
 *   releases the service; holds are shared with every replica ({@link Holds}).
 * After the HotStore lost its data or came back from an outage, every lease gets one full TTL of
 * grace ({@link leaseDeadline}). The state is reported by {@link LeaseReaper.status} and logged
 * when it changes.
 */
import { systemActor } from '../acl/actor.js';
import { auditOp, auditResource } from '../acl/audit.js';
import { ErrorCode, MultiError, isStoreError } from '../coordination/errors.js';
import type { LeaderElection } from '../coordination/election.js';
import type { CoordinationStore, StoreLogger } from '../coordination/store.js';
import type { HotStore, Lease } from '../hotstore/store.js';
import type { Metrics } from '../monitor/metrics.js';
import type { InstanceEntry, RegistryCache } from './cache.js';
import type { Hold, Holds } from './holds.js';
import { isLeased, leaseDeadline, type LeaseGrace } from './leases.js';

export interface ReaperOptions {
  readonly servicesPath: string;
  /** zkgate's root znode: evictions are recorded in its audit trail. */
  readonly root: string;
  readonly intervalMs: number;
  readonly evictionGraceMs: number;
  readonly selfPreservationRatio: number;
  readonly logger: StoreLogger;
  readonly metrics: Metrics;
}

export type ReaperState = 'standby' | 'sweeping' | 'preserving' | 'paused';

export interface ReaperStatus {
  /** Whether this replica holds the reaper's leadership. */
  readonly leader: boolean;
  /**
   * `standby` (not the leader), `sweeping` (evicting what ran out), `preserving` (some services
   * held back, see `preserving`), `paused` (evicting nothing: see `reason`).
   */
  readonly state: ReaperState;
  readonly reason: string;
  /** Services whose evictions are held back by self-preservation. */
  readonly preserving: readonly string[];
  /** Instances this replica evicted since it started. */
  readonly evicted: number;
  readonly lastSweep: string | undefined;
}

/** Orphan leases (their instance is gone) removed per sweep at most. */
const ORPHANS_PER_SWEEP = 100;
const REAPER = systemActor('lease reaper');

export class LeaseReaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private stopElection: (() => void) | undefined;
  /**
   * When each service's leases need reading again, in the hot store's clock: the earliest
   * deadline found by the last read, when none had lapsed. Renewals and grace only move
   * deadlines later, so nothing can run out before; a change to the service's instances (one
   * registered without a lease yet, a new TTL) forgets it. A large, healthy registry is then read
   * about once per TTL rather than every sweep.
   */
  private readonly recheckAt = new Map<string, number>();
  private stopCache: (() => void) | undefined;
  private current: Omit<ReaperStatus, 'leader'> = {
    state: 'standby',
    reason: 'not the leader',
    preserving: [],
    evicted: 0,
    lastSweep: undefined,
  };

  constructor(
    private readonly store: CoordinationStore,
    private readonly hot: HotStore,
    private readonly cache: RegistryCache,
    private readonly election: LeaderElection,
    private readonly grace: LeaseGrace,
    private readonly holds: Holds,
    private readonly options: ReaperOptions,
  ) {}

  /** Follow the election: sweep on a timer while leading. */
  start(): void {
    this.stopCache = this.cache.onChange((changes) => {
      for (const change of changes) this.recheckAt.delete(change.service);
    });
    this.stopElection = this.election.onChange((leading) => (leading ? this.schedule() : this.standby()));
    if (this.election.isLeader) this.schedule();
  }

  async close(): Promise<void> {
    this.stopCache?.();
    this.stopElection?.();
    this.standby();
    await this.sweeping;
  }

  status(): ReaperStatus {
    return { leader: this.election.isLeader, ...this.current };
  }

  /** One sweep, as the timer runs it; exposed so tests and operators can force one. */
  async sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private schedule(): void {
    if (this.timer) return;
    const tick = (): void => {
      const timer = setTimeout(() => {
        void this.sweep()
          .catch((err: unknown) => this.options.logger.warn({ err }, 'lease sweep failed'))
          .finally(() => {
            // Only the chain still current goes on: leadership lost and regained meanwhile started another.
            if (this.timer === timer) tick();
          });
      }, this.options.intervalMs);
      timer.unref();
      this.timer = timer;
    };
    tick();
  }

  private standby(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.recheckAt.clear();
    this.report({ state: 'standby', reason: 'not the leader', preserving: [] });
  }

  private async sweepOnce(): Promise<void> {
    if (!this.election.isLeader) return;
    if (this.store.state !== 'connected' || !this.cache.ready) {
      return this.report({
        state: 'paused',
        reason: `coordination store is ${this.store.state}`,
        preserving: [],
      });
    }
    let now: number;
    let graceStart: number;
    try {
      now = await this.hot.now();
      // A reconnect stays pending until a sweep can read the clock: its grace starts then.
      graceStart = this.grace.observe(now, await this.hot.generation());
    } catch (err) {
      return this.paused(err);
    }

    const previous = this.holds.all();
    const holds = new Map<string, Hold>();
    let releases: Set<string>;
    try {
      releases = await this.holds.releases();
    } catch (err) {
      this.options.logger.warn({ err }, 'operator releases not read; none applied this sweep');
      releases = new Set();
    }
    let evicted = 0;
    for (const service of this.cache.services()) {
      // Before walking the instances: a service not due is skipped at the cost of a lookup.
      const recheckAt = this.recheckAt.get(service.service);
      const attended = previous.has(service.service) || releases.has(service.service);
      if (recheckAt !== undefined && now < recheckAt && !attended) continue;
      this.recheckAt.delete(service.service);
      const leased = [...service.instances.values()].filter(isLeased);
      if (leased.length === 0) continue;
      let leases;
      try {
        leases = await this.hot.leases(service.service);
      } catch (err) {
        return this.paused(err, evicted);
      }
      // The hold weighs every lapsed lease, not only those past the eviction grace: instances
      // heartbeat at different phases, so the leases a partition cuts off lapse over up to a
      // heartbeat interval, and counting only the evictable ones would evict them one by one.
      const deadlines = new Map(
        leased.map((entry) => [entry, leaseDeadline(entry, leases.get(entry.instance.id), graceStart)]),
      );
      const lapsed = leased.filter((entry) => now > deadlines.get(entry)!);
      const expired = lapsed.filter((entry) => now > deadlines.get(entry)! + this.options.evictionGraceMs);
      if (lapsed.length === 0) {
        this.recheckAt.set(
          service.service,
          [...deadlines.values()].reduce((a, b) => Math.min(a, b)),
        );
      }
      if (expired.length === 0) continue;
      if (lapsed.length > 1 && lapsed.length / leased.length > this.options.selfPreservationRatio) {
        const held = previous.get(service.service);
        const release = releases.has(service.service)
          ? 'released by an operator'
          : held && this.recovered(held, leased, leases, now, graceStart)
            ? 'released on its own: the instances left renewed for a full TTL since the hold began'
            : undefined;
        if (release === undefined) {
          holds.set(
            service.service,
            held ?? { since: now, reason: this.holdReason(lapsed.length, leased.length) },
          );
          continue;
        }
        this.options.logger.info({ service: service.service, expired: expired.length }, release);
      }
      for (const entry of expired) {
        const outcome = await this.evict(entry, now, graceStart);
        if (outcome === 'evicted') evicted++;
        if (outcome === 'deposed') {
          this.election.recheck();
          return this.report({
            state: 'standby',
            reason: `no longer the leader (after evicting ${evicted})`,
            preserving: [],
          });
        }
        if (outcome === 'unreachable')
          return this.paused(new Error('lease not readable before eviction'), evicted);
      }
    }
    await this.removeOrphans(now);
    const fence = this.election.fence();
    if (fence) {
      for (const service of releases) await this.holds.released(service, fence).catch(() => undefined);
      await this.holds
        .publish(holds, fence)
        .catch((err: unknown) => this.options.logger.warn({ err }, 'self-preservation holds not published'));
    }
    const preserving = [...holds.keys()];
    this.report({
      state: preserving.length > 0 ? 'preserving' : 'sweeping',
      reason: preserving.map((service) => `${service}: ${holds.get(service)?.reason}`).join('; '),
      preserving,
    });
  }

  private holdReason(expired: number, leased: number): string {
    return (
      `${expired} of ${leased} leases ran out at once (more than ${this.options.selfPreservationRatio * 100}%): ` +
      'more likely a partition than a fleet dying together; released once the instances left renew ' +
      'for a full TTL, or by an operator'
    );
  }

  /**
   * Whether a held service proved the partition theory wrong: a full TTL (the longest of its
   * instances) has passed since the hold began, and some of its instances renewed since then
   * and are alive. What ran out and never came back is then gone, not cut off.
   */
  private recovered(
    held: Hold,
    leased: readonly InstanceEntry[],
    leases: ReadonlyMap<string, Lease>,
    now: number,
    graceStart: number,
  ): boolean {
    const ttl = Math.max(...leased.map((entry) => entry.instance.ttlMs ?? 0));
    if (now - held.since < ttl) return false;
    return leased.some((entry) => {
      const lease = leases.get(entry.instance.id);
      return (
        lease !== undefined && lease.renewedAt > held.since && now < leaseDeadline(entry, lease, graceStart)
      );
    });
  }

  private async evict(
    entry: InstanceEntry,
    now: number,
    graceStart: number,
  ): Promise<'evicted' | 'kept' | 'deposed' | 'unreachable'> {
    const { service, id } = entry.instance;
    const fence = this.election.fence();
    if (!fence) return 'deposed';
    let lease;
    try {
      lease = await this.hot.getLease(service, id);
    } catch {
      return 'unreachable';
    }
    if (now <= leaseDeadline(entry, lease, graceStart) + this.options.evictionGraceMs) return 'kept';
    try {
      await this.store.multi([
        fence,
        { op: 'delete', path: `${this.options.servicesPath}/${service}/${id}`, version: entry.version },
        auditOp(this.options.root, REAPER, {
          action: 'service.evict',
          resource: auditResource.instance(service, id),
          versionBefore: entry.version,
          versionAfter: null,
        }),
      ]);
    } catch (err) {
      if (err instanceof MultiError && err.index === 0) {
        this.options.logger.warn({ service, id }, 'eviction refused: this replica no longer leads');
        return 'deposed';
      }
      // Re-registered or updated since it was read, or already gone: not ours to delete.
      if (isStoreError(err, ErrorCode.BAD_VERSION) || isStoreError(err, ErrorCode.NO_NODE)) return 'kept';
      // Anything else (no access, a child under it) must not stop the evictions after it.
      this.options.logger.warn({ err, service, id }, 'expired instance could not be evicted');
      return 'kept';
    }
    this.options.logger.info({ service, id }, 'instance evicted: its lease ran out');
    this.options.metrics.evictions.inc();
    this.current = { ...this.current, evicted: this.current.evicted + 1 };
    await this.hot.removeLease(service, id).catch(() => undefined);
    return 'evicted';
  }

  /** Leases whose instance is gone (a registration that failed half-way, a deregistration that could not remove its lease). */
  private async removeOrphans(now: number): Promise<void> {
    let expired;
    try {
      expired = await this.hot.expired(now - this.options.evictionGraceMs, ORPHANS_PER_SWEEP);
    } catch {
      return;
    }
    for (const lease of expired) {
      if (!this.cache.service(lease.service)?.instances.has(lease.instance)) {
        await this.hot.removeLease(lease.service, lease.instance).catch(() => undefined);
      }
    }
  }

  private paused(err: unknown, evicted = 0): void {
    const why = err instanceof Error ? err.message : String(err);
    this.report({
      state: 'paused',
      reason:
        evicted === 0
          ? `hot store unreachable (${why}): evicting nothing`
          : `hot store unreachable (${why}) after evicting ${evicted} this sweep: evicting nothing more`,
      preserving: [],
    });
  }

  private report(next: Pick<ReaperStatus, 'state' | 'reason' | 'preserving'>): void {
    const changed =
      next.state !== this.current.state || next.preserving.join() !== this.current.preserving.join();
    this.current = { ...this.current, ...next, lastSweep: new Date().toISOString() };
    if (!changed) return;
    const log = next.state === 'paused' || next.state === 'preserving' ? 'warn' : 'info';
    this.options.logger[log](
      { state: next.state, reason: next.reason, preserving: next.preserving },
      'lease reaper state',
    );
  }
}
