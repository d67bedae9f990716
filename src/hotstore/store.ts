/**
 * The hot-store port: hot, frequently written, non-authoritative state of the service registry
 * (instance leases renewed by heartbeats, the load they report, the latest active health check of
 * each instance). ZooKeeper keeps registrations; heartbeats and check results land here and never
 * touch ZooKeeper.
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

/**
 * Longest `detail` and `by` of a {@link CheckResult}, in UTF-16 code units (JavaScript string
 * length): a status page shows a line, not a whole error page a probe happened to receive.
 */
export const MAX_CHECK_TEXT_LENGTH = 200;

/** The latest active health check of one instance, as the scanner recorded it. */
export interface CheckResult {
  /** Whether the probe passed. */
  readonly ok: boolean;
  /** When the probe finished, ms since the epoch on the scanning replica's clock. */
  readonly at: number;
  /** How long the probe took, ms (>= 0). */
  readonly latencyMs: number;
  /** Why it failed or what it saw, e.g. `HTTP 500`, `ECONNREFUSED`, `timed out after 2000 ms`; at most 200 characters. */
  readonly detail?: string;
  /** The gateway replica that ran it. */
  readonly by: string;
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

/** One renewal of a {@link HotStore.renewLeases} batch: the arguments of {@link HotStore.renewLease}. */
export interface LeaseRenewal {
  readonly service: string;
  readonly instance: string;
  readonly ttlMs: number;
  readonly load?: LoadReport;
}

/**
 * Most renewals one {@link HotStore.renewLeases} call takes: a Redis script runs alone on the
 * server's one thread, so a batch must stay short enough not to stall every other client.
 */
export const MAX_RENEWAL_BATCH = 1000;

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
   * connected when {@link generation} finds the data wiped without a reconnect (FLUSHALL), and
   * when part of the data was unreachable without a reconnect (a Redis Cluster primary lost
   * until its replica took over) and answers again. Renewals fail during an outage, so after any
   * `connected` leases may have expired only because of it: a sweeper should wait one TTL
   * before trusting them again.
   */
  onStateChange(listener: (event: HotStoreStateEvent) => void): () => void;

  /**
   * Create or renew the lease of `instance` of `service`: it expires `ttlMs` (1 ms to
   * {@link MAX_LEASE_TTL_MS}, an integer) from now on the store's clock and carries `load` (the
   * previous report is dropped when `load` is absent). Atomic: concurrent renewals of one
   * instance leave exactly one of them, the last applied, in every index.
   */
  renewLease(service: string, instance: string, ttlMs: number, load?: LoadReport): Promise<Lease>;
  /**
   * {@link renewLease} for each of up to {@link MAX_RENEWAL_BATCH} renewals, their leases in the
   * same order; an instance listed twice keeps its later renewal. One round trip per Redis hash
   * slot the services fall in, not one per renewal: what makes a heartbeat sidecar or an SDK with
   * many registrations cheap. Every renewal is checked before any is applied (one bad argument
   * renews nothing), but the batch is not atomic as a whole: when it rejects for an outage some
   * renewals may have landed, which a retry only renews again.
   */
  renewLeases(renewals: readonly LeaseRenewal[]): Promise<Lease[]>;
  /** The lease, expired or not; undefined when there is none. */
  getLease(service: string, instance: string): Promise<Lease | undefined>;
  /** Every lease of a service by instance, expired ones included (the caller decides). */
  leases(service: string): Promise<Map<string, Lease>>;
  /**
   * Forget the instance's lease and its check result, atomically; no-op for what there is not.
   * The registry calls it on deregistration and eviction, so nothing of a gone instance stays.
   */
  removeLease(service: string, instance: string): Promise<void>;
  /**
   * Leases with `expiresAt <= now` across all services, earliest first (ties in no promised
   * order), at most `limit`. Listing does not remove them. Take `now` from {@link now}.
   */
  expired(now: number, limit: number): Promise<ExpiredLease[]>;
  /**
   * Keep `result` as the latest check of `instance` of `service`, replacing the previous one.
   * Independent of leases: instances registered without heartbeats are checked too. `ok` is a
   * boolean, `at` and `latencyMs` finite numbers >= 0, `by` a non-empty string of at most
   * {@link MAX_CHECK_TEXT_LENGTH}; a longer `detail` is cut to that length rather than refused
   * (a probe does not control what it saw). Only the known fields are kept.
   *
   * Last write wins: a probe still in flight when {@link removeLease} ran can record a result
   * after it; readers join results with the registered instances rather than trust every entry.
   */
  recordCheck(service: string, instance: string, result: CheckResult): Promise<void>;
  /** Every recorded check result of a service by instance; empty when there is none. */
  checkResults(service: string): Promise<Map<string, CheckResult>>;
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
