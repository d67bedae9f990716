/**
 * Uniform random choice.
 */
import { randomIndex, randomOf } from '../details/instances.js';
import type { DispatchContext, DispatchInstance, Strategy } from '../types.js';

/**
 * Picks an instance uniformly at random with `context.random`, ignoring weights. Stateless.
 *
 * @example
 * ```ts
 * new RandomStrategy().pick(instances, { random: mulberry32(7) });
 * ```
 */
export class RandomStrategy implements Strategy {
  readonly name = 'random' as const;

  pick(instances: readonly DispatchInstance[], context: DispatchContext): DispatchInstance | undefined {
    if (instances.length === 0) return undefined;
    return instances[randomIndex(randomOf(context), instances.length)];
  }
}
