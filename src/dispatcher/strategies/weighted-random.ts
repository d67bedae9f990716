/**
 * Random choice in proportion to weight.
 */
import { randomOf, weightOf } from '../details/instances.js';
import type { DispatchContext, DispatchInstance, Strategy } from '../types.js';

/**
 * Picks an instance with probability `weight / sum(weights)`, using one draw of `context.random`.
 * Stateless, so it needs no per-service object and no coordination between gateway replicas.
 *
 * @example
 * ```ts
 * // weights 1 and 3: the second is picked about three times as often
 * new WeightedRandomStrategy().pick(instances, { random: mulberry32(7) });
 * ```
 */
export class WeightedRandomStrategy implements Strategy {
  readonly name = 'weighted_random' as const;

  pick(instances: readonly DispatchInstance[], context: DispatchContext): DispatchInstance | undefined {
    if (instances.length === 0) return undefined;
    let total = 0;
    for (const instance of instances) total += weightOf(instance);
    let point = randomOf(context)() * total;
    for (const instance of instances) {
      point -= weightOf(instance);
      if (point < 0) return instance;
    }
    // Only reached when random() returned 1 or more, NaN, or rounding left a sliver: the last
    // instance owns the top of the range.
    return instances[instances.length - 1];
  }
}
