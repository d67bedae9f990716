/**
 * The state machine behind both round-robin strategies: nginx's smooth weighted round robin.
 */
import type { DispatchInstance } from '../types.js';
import { compareIds } from './instances.js';
import { ListingCache } from './listing-cache.js';

interface Slot {
  /** The credit: how far this id is owed (positive) or ahead (negative), in weight units. */
  current: number;
  /** The total weight listed when `current` was last updated: the unit `current` is measured in. */
  total: number;
  /** The pick at which this id was last listed. */
  seen: number;
  /** The pick at which `current` was last updated (duplicated ids are counted once). */
  updated: number;
}

/** Listings whose slots are kept: the healthy set, each zone's, all instances under protection. */
const LISTINGS_KEPT = 8;

/**
 * Picks after which the state of an id that is no longer listed is forgotten. Why not at once:
 * one strategy object serves a service, and zone affinity hands it different subsets in turn
 * (zone A's instances, zone B's, all of them); each subset keeps its own proportions only if the
 * others' state survives the picks it is not part of. Dropping state at once would restart zone B
 * from zero on every pick, which for equal weights means always its first instance.
 */
export const FORGET_AFTER_PICKS = 1024;

/**
 * nginx's smooth weighted round robin (`ngx_http_upstream_get_peer`): each pick adds every listed
 * instance's weight to its current weight, picks the largest current weight (ties: smaller id, so
 * the order instances are listed in does not matter) and subtracts the listed total from it.
 *
 * State is kept by id, so the listed set may change between picks: a new id starts at 0, and the
 * state of an id not listed for {@link FORGET_AFTER_PICKS} picks is dropped, so departed instances
 * do not accumulate. Picks only ever touch the state of listed ids, so disjoint subsets picked from
 * in turn (one zone's instances, another's) each keep exactly the sequence they would have alone.
 *
 * When the listed total changes (an instance joins or leaves, a weight changes, or the object is
 * handed another subset), every credit is rescaled to the new total before the pick. Why: a
 * credit is a fraction of a cycle expressed in weight units; without rescaling, a weight-1
 * instance holding a credit of 900 from a cycle of 1003 would, once the weight-1000 instance has
 * left and the cycle is 3, be picked hundreds of times in a row (measured: every one of the next
 * 300 picks). nginx avoids this by
 * resetting all state on reconfiguration, which would starve instances here whenever subsets
 * alternate. An unchanged set is never rescaled, so its proportions stay exact.
 *
 * @example
 * ```ts
 * const cycle = new SmoothCycle();
 * cycle.next(instances, weightOf); // weighted round robin
 * cycle.next(instances, () => 1); // plain round robin in id order
 * ```
 */
export class SmoothCycle {
  private readonly slots = new Map<string, Slot>();
  // The slots of recent listings by position, so a pick over a listing seen before does no Map
  // lookups (a hundred of them cost more than the whole rest of the pick).
  private readonly listings = new ListingCache<Slot[]>(LISTINGS_KEPT, false);
  private picks = 0;
  private nextSweep = FORGET_AFTER_PICKS;

  next(
    instances: readonly DispatchInstance[],
    weightOf: (i: DispatchInstance) => number,
  ): DispatchInstance | undefined {
    if (instances.length === 0) return undefined;
    const pick = ++this.picks;
    const slots = this.slotsOf(instances);
    let total = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      // A duplicated id is counted once, so the proportions stay those of the distinct ids.
      if (slot.seen === pick) continue;
      slot.seen = pick;
      total += weightOf(instances[i] as DispatchInstance);
    }
    let best = -1;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      if (slot.updated === pick) continue;
      slot.updated = pick;
      const instance = instances[i] as DispatchInstance;
      if (slot.total !== total) {
        if (slot.total !== 0) slot.current = (slot.current * total) / slot.total;
        slot.total = total;
      }
      slot.current += weightOf(instance);
      if (best < 0) {
        best = i;
        continue;
      }
      const leader = slots[best] as Slot;
      if (
        slot.current > leader.current ||
        (slot.current === leader.current &&
          compareIds(instance.id, (instances[best] as DispatchInstance).id) < 0)
      ) {
        best = i;
      }
    }
    (slots[best] as Slot).current -= total;
    if (pick >= this.nextSweep) this.sweep(pick);
    return instances[best];
  }

  /** Number of ids state is held for. */
  get size(): number {
    return this.slots.size;
  }

  // Amortised O(1) per pick: one pass every FORGET_AFTER_PICKS picks.
  private sweep(pick: number): void {
    this.nextSweep = pick + FORGET_AFTER_PICKS;
    for (const [id, slot] of this.slots) if (pick - slot.seen >= FORGET_AFTER_PICKS) this.slots.delete(id);
    // Cached listings may hold slots just forgotten; a listing seen again must get fresh ones.
    this.listings.clear();
  }

  private slotsOf(instances: readonly DispatchInstance[]): Slot[] {
    let slots = this.listings.get(instances);
    if (slots === undefined) {
      slots = instances.map((instance) => {
        let slot = this.slots.get(instance.id);
        if (slot === undefined) {
          slot = { current: 0, total: 0, seen: 0, updated: 0 };
          this.slots.set(instance.id, slot);
        }
        return slot;
      });
      this.listings.set(instances, slots);
    }
    return slots;
  }
}
