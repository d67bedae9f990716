/**
 * The hot-store port: hot, frequently written, non-authoritative state of the service registry
 * (instance leases renewed by heartbeats, the load they report). ZooKeeper keeps registrations;
 * heartbeats land here and never touch ZooKeeper.
 *
 * Two adapters implement it: `redis` (shared by every gateway replica) and `memory` (embedded,
 * one process). One contract suite (`test/hotstore/`) runs against both.
 *
 * Nothing here is authoritative: the data can be lost (a Redis restarted without persistence, a
 * FLUSHALL). {@link HotStore.generation} tells the registry when that happened, so it can give
 * every instance a grace period instead of deregistering all of them at once.
 */
import type { HotStoreError } from './errors.js';

/** What an instance reports about its load with a heartbeat; every field optional, all >= 0. */
export interface LoadReport {
  readonly inflight?: number;
  readonly cpu?: number;
  readonly latencyMs?: number;
}

/** One instance's lease, as written by its latest renewal. Times are the store's clock, in ms. */
export interface Lease {
  /** `renewedAt + ttlMs`. */
  readonly expiresAt: number;
  readonly ttlMs: number;
  /** The load reported with the latest renewal; absent when that renewal carried none. */
  readonly load?: LoadReport;
  readonly renewedAt: number;
}

/** An expired lease, as {@link HotStore.expired} lists it. */
export interface ExpiredLease {
  readonly service: string;
  readonly instance: string;
  readonly expiresAt: number;
}

/** The data a store holds now: replaced by a new one when the data was lost. */
export interface Generation {
  readonly id: string;
  /** When this generation began, on the store's clock. */
  readonly since: number;
}

export type HotStoreState = 'connected' | 'disconnected';

export interface HotStoreStateEvent {
  readonly state: HotStoreState;
  /** On `connected`: the server's data was wiped; a new {@link Generation} has begun. */
  readonly dataLost: boolean;
}

/** Longest lease accepted: a heartbeat lease, not a registration. */
export const MAX_LEASE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Service and instance names are non-empty and contain no NUL character. Every method rejects
 * (never throws) with a {@link HotStoreError}; `BAD_ARGUMENTS` for invalid input, `CLOSED` after
 * {@link HotStore.close}, `UNAVAILABLE` while disconnected (at once, calls are not queued).
 */
export interface HotStore {
  /** Which adapter this is, for status pages and logs. */
  readonly kind: 'memory' | 'redis';
  readonly state: HotStoreState;

  /**
   * Subscribe to connection changes; returns the unsubscribe function. `connected` comes after
   * every reconnect, with `dataLost` when the data was wiped meanwhile; it also comes while
   * connected when {@link generation} finds the data wiped without a reconnect (FLUSHALL).
   * Renewals fail during an outage, so after any reconnect leases may have expired only
   * because of it: a sweeper should wait one TTL before trusting them again.
   */
  onStateChange(listener: (event: HotStoreStateEvent) => void): () => void;

  /**
   * Create or renew the lease of `instance` of `service`: it expires `ttlMs` (1 ms to
   * {@link MAX_LEASE_TTL_MS}, an integer) from now on the store's clock and carries `load` (the
   * previous report is dropped when `load` is absent). Atomic: concurrent renewals of one
   * instance leave exactly one of them, the last applied, in every index.
   */
  renewLease(service: string, instance: string, ttlMs: number, load?: LoadReport): Promise<Lease>;
  /** The lease, expired or not; undefined when there is none. */
  getLease(service: string, instance: string): Promise<Lease | undefined>;
  /** Every lease of a service by instance, expired ones included (the caller decides). */
  leases(service: string): Promise<Map<string, Lease>>;
  /** Remove a lease; no-op when there is none. */
  removeLease(service: string, instance: string): Promise<void>;
  /**
   * Leases with `expiresAt <= now` across all services, earliest first (ties in no promised
   * order), at most `limit`. Listing does not remove them. Take `now` from {@link now}.
   */
  expired(now: number, limit: number): Promise<ExpiredLease[]>;
  /** The store's clock in ms; for Redis the server's TIME, so replicas with skewed clocks agree. */
  now(): Promise<number>;
  /**
   * The current data generation. A Redis that lost its data gets a new one, starting when a
   * replica noticed (on reconnect, or here: this call checks and emits `dataLost` itself).
   * A registry calls it before judging instances without a lease and gives every instance one
   * full TTL of grace after `since`, so a lost Redis never causes mass deregistration.
   */
  generation(): Promise<Generation>;
  /** Release every resource; later calls reject with CLOSED and listeners hear nothing more. */
  close(): Promise<void>;
}

export type { HotStoreError };
