/**
 * Zone affinity: prefer the caller's zone while it is healthy enough.
 */
import { DispatchError } from './errors.js';
import type { DispatchContext, DispatchInstance, Strategy, ZoneAwareStrategy, ZonePick } from './types.js';

export interface ZoneAffinityOptions {
  /**
   * The least share of the caller's zone that must be healthy (healthy in zone / all in zone) for
   * picks to stay in the zone; below it, picks spill over to every eligible instance. Default 0.5.
   */
  readonly minHealthyShare?: number;
}

/**
 * Wraps a strategy so that a caller with a zone is served from that zone while the zone is fit:
 * at least one healthy instance in it, and a healthy share of at least `minHealthyShare`. Otherwise
 * the pick spills over to every eligible instance. Why a share and not just "any healthy
 * instance": a zone whose instances are mostly failing would pour all its callers onto the few
 * survivors; spilling over spreads them across zones instead.
 *
 * `dispatch` calls {@link ZoneAffinityStrategy.pickWithZone}, which judges the zone on the whole
 * service and picks among the eligible instances (the healthy ones, or all of them under the
 * protection threshold), and reports whether the pick was `local` or `spilled` (`none` when the
 * caller gave no zone). Used directly, {@link ZoneAffinityStrategy.pick} treats its argument as the
 * whole service and picks among its healthy instances.
 *
 * The inner strategy's state is shared by the local and spilled picks; the stateful strategies keep
 * state per instance id, so each zone's rotation stays intact.
 *
 * @example
 * ```ts
 * const strategy = withZoneAffinity(createStrategy('round_robin'), { minHealthyShare: 0.5 });
 * dispatch(instances, strategy, { zone: 'eu-west-1a' }); // { instance, zone: 'local', ... }
 * ```
 */
export class ZoneAffinityStrategy implements ZoneAwareStrategy {
  readonly name: Strategy['name'];
  readonly minHealthyShare: number;

  constructor(
    readonly inner: Strategy,
    options: ZoneAffinityOptions = {},
  ) {
    const share = options.minHealthyShare ?? 0.5;
    if (!(share >= 0 && share <= 1)) {
      throw new DispatchError('INVALID_OPTION', `minHealthyShare must be within [0, 1], got ${share}`);
    }
    this.name = inner.name;
    this.minHealthyShare = share;
  }

  pick(instances: readonly DispatchInstance[], context: DispatchContext): DispatchInstance | undefined {
    return this.pickWithZone(
      instances,
      instances.filter((i) => i.healthy),
      context,
    )?.instance;
  }

  /**
   * @param instances the whole service, healthy or not: the zone's health is judged on it.
   * @param eligible the instances a pick may return (a subset of `instances`).
   */
  pickWithZone(
    instances: readonly DispatchInstance[],
    eligible: readonly DispatchInstance[],
    context: DispatchContext,
  ): ZonePick | undefined {
    const zone = context.zone;
    if (zone === undefined || zone === '') return withOutcome(this.inner.pick(eligible, context), 'none');
    if (this.zoneIsFit(instances, zone)) {
      const local = eligible.filter((i) => i.zone === zone);
      // Empty only when the caller's eligible set leaves out the zone's healthy instances.
      if (local.length > 0) return withOutcome(this.inner.pick(local, context), 'local');
    }
    return withOutcome(this.inner.pick(eligible, context), 'spilled');
  }

  private zoneIsFit(instances: readonly DispatchInstance[], zone: string): boolean {
    let inZone = 0;
    let healthy = 0;
    for (const instance of instances) {
      if (instance.zone !== zone) continue;
      inZone++;
      if (instance.healthy) healthy++;
    }
    return healthy > 0 && healthy / inZone >= this.minHealthyShare;
  }
}

/**
 * `strategy` with zone affinity; see {@link ZoneAffinityStrategy}.
 *
 * @example
 * ```ts
 * const strategy = withZoneAffinity(createStrategy('weighted_random'));
 * ```
 */
export function withZoneAffinity(
  strategy: Strategy,
  options: ZoneAffinityOptions = {},
): ZoneAffinityStrategy {
  return new ZoneAffinityStrategy(strategy, options);
}

function withOutcome(instance: DispatchInstance | undefined, zone: ZonePick['zone']): ZonePick | undefined {
  return instance === undefined ? undefined : { instance, zone };
}
