/**
 * The dispatcher: pure load-balancing strategies over a service's instances. No I/O: the caller
 * supplies the instances (from the registry cache) and keeps one strategy object per service.
 */
export { dispatch, type DispatchOptions, type DispatchResult } from './dispatch.js';
export { DispatchError, type DispatchErrorCode } from './errors.js';
export { createStrategy } from './factory.js';
export { ConsistentHashStrategy } from './strategies/consistent-hash.js';
export { LeastLoadedStrategy, compareLoad } from './strategies/least-loaded.js';
export { RandomStrategy } from './strategies/random.js';
export { RoundRobinStrategy } from './strategies/round-robin.js';
export { WeightedRandomStrategy } from './strategies/weighted-random.js';
export { WeightedRoundRobinStrategy } from './strategies/weighted-round-robin.js';
export {
  STRATEGY_NAMES,
  isStrategyName,
  isZoneAware,
  type DispatchContext,
  type DispatchInstance,
  type Strategy,
  type StrategyName,
  type ZoneAwareStrategy,
  type ZoneOutcome,
  type ZonePick,
} from './types.js';
export { ZoneAffinityStrategy, withZoneAffinity, type ZoneAffinityOptions } from './zone-affinity.js';
