/**
 * The listings of one service the read model keeps, full and compact, by filter: built once per
 * revision (a full listing also once per lease read that moves an expiry, which it shows) and
 * shared by every request until the next, so that whoever encodes a listing can keep the
 * encoding with it. What a revision is, and when it advances, is the read model's (read-model.ts).
 */
import type { InstanceEntry } from './cache.js';
import type { InstanceStatus } from './instance.js';
import type { LeaseSnapshot } from './leases.js';
import type { VisibleInstances } from './revision.js';
import { compactViewOf, viewOf, type CompactInstanceView, type InstanceView } from './views.js';

export interface InstanceFilter {
  readonly status?: InstanceStatus;
  readonly zone?: string;
}

/** One filter's listing at one revision, with its tag. */
export interface Listed<T> {
  readonly tag: string;
  readonly instances: readonly T[];
}

/** What a listing is made from: the service's revision, its leases as last read, what each instance shows. */
export interface ListingSource {
  readonly revision: number;
  readonly snapshot: LeaseSnapshot;
  readonly visible: VisibleInstances;
}

/**
 * A view's listings at one revision, by filter. A client can name any zone, so only the first few
 * filters asked for are kept; others are built per request, as they were before any cache.
 */
interface Listings<T> {
  readonly revision: number;
  readonly byFilter: Map<string, Listed<T>>;
}

const MAX_FILTERS_KEPT = 16;

export class ServiceListings {
  /** Ids sorted, until the membership changes. */
  private sorted: string[] | undefined;
  /**
   * Full views show lease expiries, which move without a new revision: they are kept while the
   * leases read since expire when they did (`snapshot` is the latest they hold for).
   */
  private listed: (Listings<InstanceView> & { snapshot: LeaseSnapshot }) | undefined;
  private compactListed: Listings<CompactInstanceView> | undefined;

  /** An id came or went: the order is made again. */
  membershipChanged(): void {
    this.sorted = undefined;
  }

  full(
    source: ListingSource,
    entries: ReadonlyMap<string, InstanceEntry>,
    filter: InstanceFilter,
  ): Listed<InstanceView> {
    let { listed } = this;
    if (listed?.revision === source.revision && listed.snapshot !== source.snapshot) {
      // Leases read again every lease refresh: most reads move no expiry, and keep the listing.
      if (sameExpiries(entries, listed.snapshot, source.snapshot)) listed.snapshot = source.snapshot;
      else listed = undefined;
    }
    if (listed?.revision !== source.revision) {
      const views: InstanceView[] = [];
      for (const id of this.sortedIds(entries)) {
        const entry = entries.get(id);
        if (entry) views.push(viewOf(entry, source.snapshot));
      }
      const all = { tag: source.visible.tag(), instances: views };
      listed = { revision: source.revision, snapshot: source.snapshot, byFilter: new Map([['', all]]) };
      this.listed = listed;
    }
    const { instances } = listed.byFilter.get('')!;
    return kept(listed.byFilter, filter, () =>
      filtered(
        source.visible,
        instances,
        filter,
        (view) => view,
        (view) => view,
      ),
    );
  }

  compact(
    source: ListingSource,
    entries: ReadonlyMap<string, InstanceEntry>,
    filter: InstanceFilter,
  ): Listed<CompactInstanceView> {
    if (this.compactListed?.revision !== source.revision)
      this.compactListed = { revision: source.revision, byFilter: new Map() };
    return kept(this.compactListed.byFilter, filter, () => {
      const sorted: InstanceEntry[] = [];
      for (const id of this.sortedIds(entries)) {
        const e = entries.get(id);
        if (e) sorted.push(e);
      }
      return filtered(
        source.visible,
        sorted,
        filter,
        (e) => e.instance,
        (e) => compactViewOf(e, source.visible.get(e.instance.id)?.healthy ?? false),
      );
    });
  }

  private sortedIds(entries: ReadonlyMap<string, InstanceEntry>): string[] {
    this.sorted ??= [...entries.keys()].sort();
    return this.sorted;
  }
}

export function unfiltered(filter: InstanceFilter): boolean {
  return filter.status === undefined && filter.zone === undefined;
}

/** Whether an instance (as stored or as viewed) passes a listing's filter. */
export function matches(
  filter: InstanceFilter,
  instance: { status: InstanceStatus; zone?: string | undefined },
): boolean {
  return (
    (filter.status === undefined || instance.status === filter.status) &&
    (filter.zone === undefined || instance.zone === filter.zone)
  );
}

/** The items of `sorted` whose instance passes `filter`, as `view` shows them, and their tag. */
function filtered<S, T>(
  visible: VisibleInstances,
  sorted: readonly S[],
  filter: InstanceFilter,
  instanceOf: (item: S) => { id: string; status: InstanceStatus; zone?: string | undefined },
  view: (item: S) => T,
): Listed<T> {
  const ids: string[] = [];
  const instances: T[] = [];
  for (const item of sorted) {
    const instance = instanceOf(item);
    if (!matches(filter, instance)) continue;
    ids.push(instance.id);
    instances.push(view(item));
  }
  return { tag: unfiltered(filter) ? visible.tag() : visible.tag(ids), instances };
}

/** The listing of `filter` from `byFilter`, built and kept there unless too many filters are. */
function kept<T>(
  byFilter: Map<string, Listed<T>>,
  filter: InstanceFilter,
  build: () => Listed<T>,
): Listed<T> {
  const key = unfiltered(filter) ? '' : `${filter.status ?? ''}\n${filter.zone ?? ''}`;
  let listed = byFilter.get(key);
  if (!listed) {
    listed = build();
    if (byFilter.size < MAX_FILTERS_KEPT) byFilter.set(key, listed);
  }
  return listed;
}

/** Whether every instance's lease expires in `after` when it did in `before` (what full views show of it). */
function sameExpiries(
  entries: ReadonlyMap<string, InstanceEntry>,
  before: LeaseSnapshot,
  after: LeaseSnapshot,
): boolean {
  for (const id of entries.keys()) {
    if (before.leases?.get(id)?.expiresAt !== after.leases?.get(id)?.expiresAt) return false;
  }
  return true;
}
