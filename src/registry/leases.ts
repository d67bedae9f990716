/**
 * Leases of instances registered over HTTP, as the registry judges them. The lease lives in the
 * HotStore (renewed by heartbeats, never written to ZooKeeper); the registration lives in
 * ZooKeeper. An instance is alive until its deadline and evicted a grace period after it.
 *
 * The deadline is never earlier than one full TTL after the HotStore last lost its data or came
 * back from an outage (the *grace start*): heartbeats could not land meanwhile, so a lease that
 * ran out then says nothing about the instance. That is what keeps a restarted Redis from
 * deregistering every instance at once.
 */
import type { Generation, HotStore, Lease } from '../hotstore/store.js';
import type { InstanceEntry } from './cache.js';

/**
 * When a leased instance stops counting as alive, on the HotStore's clock: its lease's expiry
 * (its last registration's time plus the TTL when the lease is missing), but never before one TTL
 * after `graceStart`. A lease that ran out before the instance's znode was created belongs to an
 * earlier registration (evicted, then registered again, which renewed a lease not yet read): it
 * counts as missing. The two clocks differ (ZooKeeper's and the HotStore's), but an eviction
 * comes a grace period after the expiry, far more than they drift apart.
 */
export function leaseDeadline(entry: InstanceEntry, lease: Lease | undefined, graceStart: number): number {
  const ttl = entry.instance.ttlMs ?? 0;
  const current = lease !== undefined && lease.expiresAt >= entry.created ? lease : undefined;
  const expiry = current?.expiresAt ?? entry.modified + ttl;
  return Math.max(expiry, graceStart + ttl);
}

/** Whether the instance's liveness is a lease (registered over HTTP with a TTL). */
export function isLeased(entry: InstanceEntry): boolean {
  return !entry.ephemeral && entry.instance.ttlMs !== undefined;
}

/** What the registry knows of a service's leases at one moment. */
export interface LeaseSnapshot {
  /** By instance id; undefined when the HotStore could not be read (liveness unknown). */
  readonly leases: ReadonlyMap<string, Lease> | undefined;
  /** The HotStore's clock when read. */
  readonly now: number;
  readonly graceStart: number;
}

/**
 * Per-service lease snapshots for the read path (listing, dispatch): at most one HotStore read
 * per service per `refreshMs`, so dispatches rarely cost a round trip. Liveness seen here lags
 * heartbeats by at most `refreshMs`.
 */
export class LeaseView {
  private readonly snapshots = new Map<string, { at: number; snapshot: LeaseSnapshot }>();
  private readonly reading = new Map<string, Promise<LeaseSnapshot>>();
  /** HotStore clock minus the local clock, from the latest read. */
  private offset = 0;

  constructor(
    private readonly hot: HotStore,
    private readonly refreshMs: number,
    /** Shared with the reaper: both judge leases from one grace start. */
    readonly grace: LeaseGrace,
  ) {}

  /** The service's snapshot, at most `refreshMs` old; concurrent callers share one read. */
  async get(service: string): Promise<LeaseSnapshot> {
    const held = this.snapshots.get(service);
    if (held && Date.now() - held.at < this.refreshMs) return held.snapshot;
    return this.refresh(service);
  }

  /** A snapshot read now (sharing a read already running), whatever the age of the last one. */
  refresh(service: string): Promise<LeaseSnapshot> {
    let reading = this.reading.get(service);
    if (!reading) {
      reading = this.read(service).finally(() => this.reading.delete(service));
      this.reading.set(service, reading);
    }
    return reading;
  }

  /** The service's latest snapshot without reading the HotStore; liveness unknown when there is none. */
  peek(service: string): LeaseSnapshot {
    return this.snapshots.get(service)?.snapshot ?? this.unknown();
  }

  /** Forget a service's snapshot (after a registration or deregistration this replica handled). */
  invalidate(service: string): void {
    this.snapshots.delete(service);
  }

  private async read(service: string): Promise<LeaseSnapshot> {
    let snapshot: LeaseSnapshot;
    try {
      const [leases, now, generation] = await Promise.all([
        this.hot.leases(service),
        this.hot.now(),
        this.hot.generation(),
      ]);
      this.offset = now - Date.now();
      snapshot = { leases, now, graceStart: this.grace.observe(now, generation) };
    } catch {
      snapshot = this.unknown();
    }
    this.snapshots.set(service, { at: Date.now(), snapshot });
    return snapshot;
  }

  private unknown(): LeaseSnapshot {
    return { leases: undefined, now: Date.now() + this.offset, graceStart: this.grace.start };
  }
}

/**
 * When leases can be trusted again: one TTL after the HotStore's data generation began (a lost or
 * restarted Redis) or after it came back from an outage (renewals failed meanwhile), whichever is
 * later. The reconnect counts from the first successful read of the HotStore's clock after it.
 */
export class LeaseGrace {
  private startMs = 0;
  private reconnected = false;
  private generation: string | undefined;
  private readonly stopState: () => void;

  constructor(hot: HotStore) {
    this.stopState = hot.onStateChange((event) => {
      if (event.state === 'connected') this.reconnected = true;
    });
  }

  /** The grace start, on the HotStore's clock. */
  get start(): number {
    return this.startMs;
  }

  /** Take in a successful read of the HotStore's clock and generation; returns the grace start. */
  observe(now: number, generation: Generation): number {
    if (generation.id !== this.generation) {
      this.generation = generation.id;
      if (generation.since > this.startMs) this.startMs = generation.since;
    }
    if (this.reconnected) {
      this.reconnected = false;
      if (now > this.startMs) this.startMs = now;
    }
    return this.startMs;
  }

  close(): void {
    this.stopState();
  }
}

/** Alive by its lease (or not leased at all); unknown leases count as alive. */
export function aliveIn(snapshot: LeaseSnapshot, entry: InstanceEntry): boolean {
  if (!isLeased(entry) || snapshot.leases === undefined) return true;
  return snapshot.now < leaseDeadline(entry, snapshot.leases.get(entry.instance.id), snapshot.graceStart);
}
