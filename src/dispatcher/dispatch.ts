/**
 * One dispatch: eligibility (health, protection threshold), then the strategy's pick.
 */
import { DispatchError } from './errors.js';
import {
  isZoneAware,
  type DispatchContext,
  type DispatchInstance,
  type Strategy,
  type ZoneOutcome,
} from './types.js';

export interface DispatchOptions {
  /**
   * Nacos's protection threshold, in [0, 1]: when the healthy share of the service falls below it,
   * picks spread over all instances, healthy or not. Default 0 (never).
   */
  readonly protectThreshold?: number;
}

export interface DispatchResult {
  readonly instance: DispatchInstance;
  /** The healthy share was below the protection threshold: the pick may be an unhealthy instance. */
  readonly protected: boolean;
  /** Where a zone-affine strategy picked from; `none` without zone affinity or a caller zone. */
  readonly zone: ZoneOutcome;
}

/**
 * Picks one instance of a service: among the healthy instances, or, when the healthy share
 * (healthy / total) is below `protectThreshold`, among all of them (`protected: true`).
 *
 * Why protection: when most instances fail their checks at once, the cause is more often the
 * checks, the network or the registry than the instances, and sending every request to the few
 * still marked healthy would crush them too. Spreading over all keeps the load where capacity
 * probably still is; the callers' retries handle the instances that are really down.
 *
 * Pass only instances the operator has not taken out of rotation on purpose: `DispatchInstance`
 * has just `healthy`, so under protection a DRAINING or administratively DOWN instance in the list
 * would be picked like any failing one.
 *
 * The strategy is always called, even with nothing eligible, so a caller's mistake (a
 * `consistent_hash` pick without a key) throws {@link DispatchError} whatever the registry holds.
 *
 * @returns the pick, or `undefined` when nothing is eligible (no instances, or none healthy and
 * not protected).
 * @throws {@link DispatchError} `INVALID_OPTION` for a threshold outside [0, 1]; whatever the
 * strategy throws (`KEY_REQUIRED`).
 *
 * @example
 * ```ts
 * const strategy = withZoneAffinity(createStrategy('weighted_round_robin'));
 * const result = dispatch(instances, strategy, { zone: 'eu-west-1a' }, { protectThreshold: 0.3 });
 * if (result === undefined) reply503();
 * else forward(result.instance.address, result.instance.port);
 * ```
 */
export function dispatch(
  instances: readonly DispatchInstance[],
  strategy: Strategy,
  context: DispatchContext = {},
  options: DispatchOptions = {},
): DispatchResult | undefined {
  const threshold = options.protectThreshold ?? 0;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new DispatchError('INVALID_OPTION', `protectThreshold must be within [0, 1], got ${threshold}`);
  }
  const healthy = instances.filter((i) => i.healthy);
  const isProtected = instances.length > 0 && healthy.length / instances.length < threshold;
  const eligible = isProtected ? instances : healthy;
  if (isZoneAware(strategy)) {
    const pick = strategy.pickWithZone(instances, eligible, context);
    return pick === undefined
      ? undefined
      : { instance: pick.instance, protected: isProtected, zone: pick.zone };
  }
  const instance = strategy.pick(eligible, context);
  return instance === undefined ? undefined : { instance, protected: isProtected, zone: 'none' };
}
