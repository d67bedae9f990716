/**
 * Strategies by name.
 */
import { DispatchError } from './errors.js';
import { ConsistentHashStrategy } from './strategies/consistent-hash.js';
import { LeastLoadedStrategy } from './strategies/least-loaded.js';
import { RandomStrategy } from './strategies/random.js';
import { RoundRobinStrategy } from './strategies/round-robin.js';
import { WeightedRandomStrategy } from './strategies/weighted-random.js';
import { WeightedRoundRobinStrategy } from './strategies/weighted-round-robin.js';
import { STRATEGY_NAMES, type Strategy, type StrategyName } from './types.js';

export { STRATEGY_NAMES };

const FACTORIES: { readonly [N in StrategyName]: () => Strategy & { readonly name: N } } = {
  round_robin: () => new RoundRobinStrategy(),
  weighted_round_robin: () => new WeightedRoundRobinStrategy(),
  random: () => new RandomStrategy(),
  weighted_random: () => new WeightedRandomStrategy(),
  consistent_hash: () => new ConsistentHashStrategy(),
  least_loaded: () => new LeastLoadedStrategy(),
};

/**
 * A new strategy object. Keep one per service: round robin and weighted round robin hold their
 * rotation in it, consistent hash its ring cache.
 *
 * @throws {@link DispatchError} `UNKNOWN_STRATEGY` for a name not in {@link STRATEGY_NAMES} (a
 * JavaScript caller or an unchecked query string; use `isStrategyName` to check first).
 *
 * @example
 * ```ts
 * const perService = new Map<string, Strategy>();
 * const strategy = perService.get('orders') ?? createStrategy('weighted_round_robin');
 * ```
 */
export function createStrategy(name: StrategyName): Strategy {
  const factory = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (factory === undefined) {
    throw new DispatchError('UNKNOWN_STRATEGY', `unknown strategy ${JSON.stringify(name)}`);
  }
  return factory();
}
