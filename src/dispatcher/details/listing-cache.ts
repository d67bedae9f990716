/**
 * A small most-recently-used cache keyed by an instance listing.
 */
import type { DispatchInstance } from '../types.js';
import { weightOf } from './instances.js';

interface Entry<T> {
  readonly ids: readonly string[];
  readonly weights: readonly number[] | undefined;
  readonly value: T;
}

/**
 * Values derived from a listing of instances (a hash ring, the per-position state of a rotation),
 * kept for the few listings a strategy object sees in turn: the healthy instances, each zone's,
 * all of them under protection.
 *
 * Why compare the listing element by element rather than key a Map by a signature string: the
 * caller hands in a fresh array on every pick (dispatch filters the healthy instances), so any
 * key has to be rebuilt per pick, and building and hashing a string of a hundred ids costs about
 * ten microseconds; comparing ids that are usually the very same string objects costs a few
 * hundred nanoseconds and allocates nothing. A listing matches only in the same order: owners and
 * slots are positional.
 *
 * @example
 * ```ts
 * const rings = new ListingCache<HashRing>(8, true);
 * const ring = rings.get(instances) ?? HashRing.build(instances);
 * ```
 */
export class ListingCache<T> {
  // Most recently used first.
  private entries: Entry<T>[] = [];

  /**
   * @param capacity listings kept.
   * @param byWeight whether a weight change makes a different listing (a ring does depend on the
   *   weights; a rotation's per-id state does not).
   */
  constructor(
    private readonly capacity: number,
    private readonly byWeight: boolean,
  ) {}

  get(instances: readonly DispatchInstance[]): T | undefined {
    const entries = this.entries;
    for (let e = 0; e < entries.length; e++) {
      const entry = entries[e] as Entry<T>;
      if (!this.matches(entry, instances)) continue;
      if (e > 0) {
        entries.splice(e, 1);
        entries.unshift(entry);
      }
      return entry.value;
    }
    return undefined;
  }

  set(instances: readonly DispatchInstance[], value: T): void {
    const ids = instances.map((i) => i.id);
    const weights = this.byWeight ? instances.map(weightOf) : undefined;
    this.entries.unshift({ ids, weights, value });
    if (this.entries.length > this.capacity) this.entries.length = this.capacity;
  }

  clear(): void {
    this.entries = [];
  }

  private matches(entry: Entry<T>, instances: readonly DispatchInstance[]): boolean {
    const { ids, weights } = entry;
    if (ids.length !== instances.length) return false;
    for (let i = 0; i < ids.length; i++) {
      const instance = instances[i] as DispatchInstance;
      if (instance.id !== ids[i]) return false;
      if (weights !== undefined && weightOf(instance) !== weights[i]) return false;
    }
    return true;
  }
}
