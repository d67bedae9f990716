/**
 * Round robin in id order.
 */
import { SmoothCycle } from '../details/smooth-cycle.js';
import type { DispatchContext, DispatchInstance, Strategy } from '../types.js';

const unit = (): number => 1;

/**
 * Cycles over the instances in id order: over any `n` consecutive picks of an unchanged set of
 * `n`, each instance is picked exactly once.
 *
 * Why it is smooth weighted round robin with every weight 1 rather than Curator's counter modulo
 * `n`: a counter lands on an arbitrary instance when the set changes, and when one object is handed
 * different subsets in turn (zone affinity: zone A's instances, then zone B's) a shared counter or
 * cursor starves instances. Per-id state keeps each subset's cycle intact and lets instances join
 * and leave without disturbing the others' turns.
 *
 * One object per service: the cycle is the object's state.
 *
 * @example
 * ```ts
 * const rr = new RoundRobinStrategy();
 * rr.pick([a, b, c], {}); // a, then b, then c, then a ...
 * ```
 */
export class RoundRobinStrategy implements Strategy {
  readonly name = 'round_robin' as const;
  private readonly cycle = new SmoothCycle();

  pick(instances: readonly DispatchInstance[], _context: DispatchContext): DispatchInstance | undefined {
    return this.cycle.next(instances, unit);
  }

  /** Number of ids the object holds state for (departed ids must not accumulate). */
  get trackedIds(): number {
    return this.cycle.size;
  }
}
