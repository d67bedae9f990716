/**
 * The dispatcher's vocabulary: what a strategy sees of an instance, what a caller tells it, and the
 * strategy contract itself (Curator's `ProviderStrategy`, made pure: `pick(instances, context)`).
 *
 * Strategies pick among the instances they are given and never look at `healthy`: which instances
 * are eligible (health, the protection threshold) is decided once, by `dispatch`, so a
 * strategy behaves the same whether it is spreading over healthy instances or, under protection,
 * over all of them.
 */
/** One registered instance as the dispatcher sees it. */
export interface DispatchInstance {
  /** Unique within the service. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** 1..1000, default 100. Out-of-range values are clamped (see `weightOf`). */
  readonly weight: number;
  readonly zone?: string;
  /** UP and lease alive; DRAINING/DOWN instances are not healthy. */
  readonly healthy: boolean;
  /** Last reported load; anything missing counts as 0. */
  readonly load?: { inflight?: number; cpu?: number; latencyMs?: number };
}

/** What the caller of one dispatch tells the strategy. */
export interface DispatchContext {
  /** Affinity key for `consistent_hash` (required there). */
  readonly key?: string;
  /** The caller's zone, for zone affinity. */
  readonly zone?: string;
  /** Uniform in [0, 1); default `Math.random`. Tests inject a seeded one. */
  readonly random?: () => number;
}

export const STRATEGY_NAMES = [
  'round_robin',
  'weighted_round_robin',
  'random',
  'weighted_random',
  'consistent_hash',
  'least_loaded',
] as const;

export type StrategyName = (typeof STRATEGY_NAMES)[number];

/**
 * A load-balancing strategy. Stateful strategies (round robin, weighted round robin) keep their
 * state in the object, so the caller keeps one object per service.
 */
export interface Strategy {
  readonly name: StrategyName;
  /** One of `instances`, or `undefined` when `instances` is empty. */
  pick(instances: readonly DispatchInstance[], context: DispatchContext): DispatchInstance | undefined;
}

/**
 * Where a pick came from: among the caller's zone (`local`), among every eligible instance because
 * the caller's zone was unfit (`spilled`), or with no zone affinity at all (`none`).
 */
export type ZoneOutcome = 'local' | 'spilled' | 'none';

export interface ZonePick {
  readonly instance: DispatchInstance;
  readonly zone: ZoneOutcome;
}

/**
 * A strategy that needs the whole service (to judge a zone's health) as well as the eligible set
 * (to pick from). `dispatch` calls {@link ZoneAwareStrategy.pickWithZone} when a strategy has it.
 */
export interface ZoneAwareStrategy extends Strategy {
  pickWithZone(
    instances: readonly DispatchInstance[],
    eligible: readonly DispatchInstance[],
    context: DispatchContext,
  ): ZonePick | undefined;
}

/** Whether `strategy` can report where its pick came from. */
export function isZoneAware(strategy: Strategy): strategy is ZoneAwareStrategy {
  return typeof (strategy as Partial<ZoneAwareStrategy>).pickWithZone === 'function';
}

/** Whether `name` is one of {@link STRATEGY_NAMES} (for names arriving in a query string). */
export function isStrategyName(name: unknown): name is StrategyName {
  return typeof name === 'string' && (STRATEGY_NAMES as readonly string[]).includes(name);
}
