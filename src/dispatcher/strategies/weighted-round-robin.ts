/**
 * nginx's smooth weighted round robin.
 */
import { weightOf } from '../details/instances.js';
import { SmoothCycle } from '../details/smooth-cycle.js';
import type { DispatchContext, DispatchInstance, Strategy } from '../types.js';

/**
 * Smooth weighted round robin, as nginx does it: over any `sum(weights)` consecutive picks of an
 * unchanged set, from a fresh object, each instance is picked exactly `weight` times, and the picks
 * are interleaved rather than bunched (weights 5,1,1 give `a a b a c a a`, not `a a a a a b c`).
 *
 * The state is kept by id, so the set may change between picks; state of departed ids is dropped
 * after `FORGET_AFTER_PICKS` picks (see `SmoothCycle` for why not at once).
 *
 * One object per service: the current weights are the object's state.
 *
 * @example
 * ```ts
 * const wrr = new WeightedRoundRobinStrategy();
 * // weights a=1, b=2, c=3 give c b a c b c, then the same again
 * const next = wrr.pick(instances, {});
 * ```
 */
export class WeightedRoundRobinStrategy implements Strategy {
  readonly name = 'weighted_round_robin' as const;
  private readonly cycle = new SmoothCycle();

  pick(instances: readonly DispatchInstance[], _context: DispatchContext): DispatchInstance | undefined {
    return this.cycle.next(instances, weightOf);
  }

  /** Number of ids the object holds state for (departed ids must not accumulate). */
  get trackedIds(): number {
    return this.cycle.size;
  }
}
