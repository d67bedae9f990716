/**
 * The registry's shapes as clients see them (routes, the watch stream, dispatch answers): an
 * instance joined with its lease, a health check with its latest result, a service's counts.
 */
import type { CheckStatus, HealthCheck, InstanceStatus } from './instance.js';
import type { CheckResult, LoadReport } from '../hotstore/store.js';
import type { InstanceEntry, ServicePolicy } from './cache.js';
import type { Hold } from './holds.js';
import { aliveIn, type LeaseSnapshot } from './leases.js';

/** An instance as the HTTP API shows it. */
export interface InstanceView {
  readonly service: string;
  readonly id: string;
  readonly address: string;
  readonly port: number | null;
  readonly sslPort: number | null;
  readonly weight: number;
  readonly zone?: string;
  readonly status: InstanceStatus;
  /** Set by an operator; wins over the check until cleared. */
  readonly manualStatus?: InstanceStatus;
  /** The health check's latest verdict. */
  readonly checkStatus?: CheckStatus;
  /** UP, enabled and alive (lease or session): what dispatch picks from. */
  readonly healthy: boolean;
  /** `lease` for HTTP registrations, `session` for Curator/Spring ones. */
  readonly liveness: 'lease' | 'session';
  readonly metadata: Readonly<Record<string, string>>;
  readonly ttlMs?: number;
  readonly check?: HealthCheck;
  readonly lease?: { readonly expiresAt: string; readonly load?: LoadReport };
  readonly registeredAt: string;
  readonly index: string;
}

/** Whole instances, or only what dispatching to them needs (see {@link CompactInstanceView}). */
export const LISTING_VIEWS = ['full', 'compact'] as const;
export type ListingView = (typeof LISTING_VIEWS)[number];

/**
 * An instance as `?view=compact` lists it: what a client needs to pick it and call it. No lease
 * expiry (it moves with every heartbeat), so the list changes only with the revision.
 */
export interface CompactInstanceView {
  readonly id: string;
  readonly address: string;
  readonly port: number | null;
  readonly sslPort?: number;
  readonly weight: number;
  readonly zone?: string;
  readonly healthy: boolean;
}

/** An instance's health check and its latest result, as `GET .../checks` shows it. */
export interface CheckView {
  readonly id: string;
  readonly check: HealthCheck;
  /** The verdict written to the instance; absent until the first change of verdict. */
  readonly checkStatus?: CheckStatus;
  /** The latest probe; absent before the first one. */
  readonly last?: {
    readonly ok: boolean;
    readonly at: string;
    readonly latencyMs: number;
    readonly detail?: string;
    /** The gateway replica that probed. */
    readonly by: string;
  };
}

export interface ServiceSummary {
  readonly service: string;
  readonly instances: number;
  readonly healthy: number;
  readonly status: Readonly<Record<InstanceStatus, number>>;
  readonly index: string;
  /** The dispatch policy in force: the service's own settings over the gateway's defaults. */
  readonly policy: ServicePolicy;
  /** Present while self-preservation holds back the service's evictions. */
  readonly selfPreservation?: HoldView;
}

/** A self-preservation hold as clients see it. */
export interface HoldView {
  readonly since: string;
  readonly reason: string;
}

export function holdView(hold: Hold): HoldView {
  return { since: new Date(hold.since).toISOString(), reason: hold.reason };
}

export function countStatuses(
  items: Iterable<{ readonly status: InstanceStatus }>,
): Record<InstanceStatus, number> {
  const counts = { UP: 0, DOWN: 0, DRAINING: 0 };
  for (const { status } of items) counts[status]++;
  return counts;
}

/** An instance joined with what the registry knows of its lease. */
export function viewOf(entry: InstanceEntry, snapshot: LeaseSnapshot): InstanceView {
  const { instance } = entry;
  const lease = snapshot.leases?.get(instance.id);
  const session = entry.ephemeral || instance.ttlMs === undefined;
  return {
    service: instance.service,
    id: instance.id,
    address: instance.address,
    port: instance.port,
    sslPort: instance.sslPort,
    weight: instance.weight,
    ...(instance.zone === undefined ? {} : { zone: instance.zone }),
    status: instance.status,
    ...(instance.manualStatus === undefined ? {} : { manualStatus: instance.manualStatus }),
    ...(instance.checkStatus === undefined ? {} : { checkStatus: instance.checkStatus }),
    healthy: instance.status === 'UP' && instance.enabled && aliveIn(snapshot, entry),
    liveness: session ? 'session' : 'lease',
    metadata: instance.metadata,
    ...(session ? {} : { ttlMs: instance.ttlMs }),
    ...(instance.check === undefined ? {} : { check: instance.check }),
    ...(lease === undefined || session
      ? {}
      : {
          lease: {
            expiresAt: new Date(lease.expiresAt).toISOString(),
            ...(lease.load === undefined ? {} : { load: lease.load }),
          },
        }),
    registeredAt: new Date(instance.registrationTimeUTC).toISOString(),
    index: String(entry.index),
  };
}

/** The compact view of `entry`, whose health the read model judged. */
export function compactViewOf(entry: InstanceEntry, healthy: boolean): CompactInstanceView {
  const { instance } = entry;
  return {
    id: instance.id,
    address: instance.address,
    port: instance.port,
    ...(instance.sslPort === null ? {} : { sslPort: instance.sslPort }),
    weight: instance.weight,
    ...(instance.zone === undefined ? {} : { zone: instance.zone }),
    healthy,
  };
}

/** The checks of `entries` with their latest results, sorted by id; instances without a check are left out. */
export function checkViews(
  entries: Iterable<InstanceEntry>,
  results: ReadonlyMap<string, CheckResult>,
): CheckView[] {
  const views: CheckView[] = [];
  for (const { instance } of entries) {
    if (instance.check === undefined) continue;
    const result = results.get(instance.id);
    views.push({
      id: instance.id,
      check: instance.check,
      ...(instance.checkStatus === undefined ? {} : { checkStatus: instance.checkStatus }),
      ...(result === undefined
        ? {}
        : {
            last: {
              ok: result.ok,
              at: new Date(result.at).toISOString(),
              latencyMs: result.latencyMs,
              ...(result.detail === undefined ? {} : { detail: result.detail }),
              by: result.by,
            },
          }),
    });
  }
  return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
