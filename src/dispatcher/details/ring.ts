/**
 * A consistent-hash ring with weight-proportional virtual nodes.
 */
import type { DispatchInstance } from '../types.js';
import { DEFAULT_WEIGHT, compareIds, weightOf } from './instances.js';
import { murmur3 } from './murmur3.js';

/** Virtual nodes of an instance at the default weight (100): Dubbo's and ketama's 160. */
export const VNODES_PER_DEFAULT_WEIGHT = 160;

// Points are packed as hash * 2^21 + rank into one float64 (exact below 2^53), so the whole ring
// sorts as a Float64Array, natively, with ties broken by the owner's id rank rather than by input
// order: every replica builds the same ring whatever order its registry cache lists instances in.
const RANK_BITS = 21;
const RANK_SPAN = 2 ** RANK_BITS;

/** The virtual nodes an instance gets: proportional to its weight, at least one. */
export function vnodesOf(instance: DispatchInstance): number {
  return Math.max(1, Math.round((weightOf(instance) * VNODES_PER_DEFAULT_WEIGHT) / DEFAULT_WEIGHT));
}

/**
 * Points on a 32-bit ring, each owned by an instance (by its index in the array the ring was built
 * from). A key belongs to the owner of the first point at or after the key's hash, wrapping.
 *
 * Virtual node `k` of instance `id` sits at `murmur3("id#k")`: it depends on nothing but the id,
 * so adding or removing an instance moves only the keys of that instance's arcs, and changing a
 * weight moves only the keys of the added or removed virtual nodes.
 *
 * @example
 * ```ts
 * const ring = HashRing.build(instances);
 * const owner = instances[ring.ownerOf(murmur3('user-42'))];
 * ```
 */
export class HashRing {
  private constructor(
    private readonly points: Uint32Array,
    private readonly owners: Uint32Array,
  ) {}

  /** Builds the ring of `instances`; owners are indices into `instances`. */
  static build(instances: readonly DispatchInstance[]): HashRing {
    if (instances.length >= RANK_SPAN) {
      throw new RangeError(`a hash ring holds at most ${RANK_SPAN - 1} instances`);
    }
    const byId = instances.map((_, index) => index);
    byId.sort((a, b) =>
      compareIds((instances[a] as DispatchInstance).id, (instances[b] as DispatchInstance).id),
    );
    let total = 0;
    for (const instance of instances) total += vnodesOf(instance);
    const packed = new Float64Array(total);
    let n = 0;
    for (let rank = 0; rank < byId.length; rank++) {
      const instance = instances[byId[rank] as number] as DispatchInstance;
      const vnodes = vnodesOf(instance);
      for (let k = 0; k < vnodes; k++) packed[n++] = murmur3(`${instance.id}#${k}`) * RANK_SPAN + rank;
    }
    packed.sort();
    const points = new Uint32Array(total);
    const owners = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      const p = packed[i] as number;
      const rank = p % RANK_SPAN;
      points[i] = (p - rank) / RANK_SPAN;
      owners[i] = byId[rank] as number;
    }
    return new HashRing(points, owners);
  }

  /** Number of virtual nodes on the ring. */
  get size(): number {
    return this.points.length;
  }

  /** Index (into the array the ring was built from) of the owner of `hash`; -1 on an empty ring. */
  ownerOf(hash: number): number {
    const points = this.points;
    if (points.length === 0) return -1;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === points.length ? 0 : lo] as number;
  }
}
