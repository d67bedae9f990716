/**
 * Consistent hashing by an affinity key.
 */
import { DispatchError } from '../errors.js';
import { murmur3 } from '../details/murmur3.js';
import { ListingCache } from '../details/listing-cache.js';
import { HashRing } from '../details/ring.js';
import type { DispatchContext, DispatchInstance, Strategy } from '../types.js';

/**
 * Rings kept per strategy object. More than one because zone affinity hands the same object
 * different subsets in turn (each zone's instances, all of them); one slot would rebuild on
 * every alternation.
 */
const RING_CACHE_SIZE = 8;

/**
 * Maps `context.key` to an instance on a hash ring with weight-proportional virtual nodes
 * (160 per 100 of weight, MurmurHash3 x86_32): the same key goes to the same instance for as long
 * as that instance is listed, on every gateway replica and across restarts. When an instance
 * leaves, only its keys move (spread over the others); when one joins, it takes about 1/N of the
 * keys.
 *
 * The ring depends only on the ids and weights listed. It is cached for the few most recent
 * listings, so picks do not rebuild it; a pick costs one pass comparing the listing with the
 * cached one, one hash of the key and a binary search. The same set listed in another order is a
 * cache miss (owners are positions in the listing), which costs a rebuild but gives the same
 * owners: the ring itself does not depend on the order.
 *
 * @throws {@link DispatchError} `KEY_REQUIRED` when `context.key` is missing or empty, even when
 * there are no instances, so a caller's mistake is reported as one whatever the registry holds.
 *
 * @example
 * ```ts
 * const ch = new ConsistentHashStrategy();
 * ch.pick(instances, { key: 'user-42' }); // the same instance every time while the set is unchanged
 * ```
 */
export class ConsistentHashStrategy implements Strategy {
  readonly name = 'consistent_hash' as const;
  private readonly rings = new ListingCache<HashRing>(RING_CACHE_SIZE, true);

  pick(instances: readonly DispatchInstance[], context: DispatchContext): DispatchInstance | undefined {
    const key = context.key;
    if (key === undefined || key === '') {
      throw new DispatchError('KEY_REQUIRED', 'consistent_hash needs a key to hash');
    }
    if (instances.length === 0) return undefined;
    if (instances.length === 1) return instances[0];
    const ring = this.ringOf(instances);
    return instances[ring.ownerOf(murmur3(key))];
  }

  private ringOf(instances: readonly DispatchInstance[]): HashRing {
    let ring = this.rings.get(instances);
    if (ring === undefined) {
      ring = HashRing.build(instances);
      this.rings.set(instances, ring);
    }
    return ring;
  }
}
