/**
 * Dispatch over the read model: one instance of a service picked by its strategy (weighted round
 * robin by default, or what its policy or the request names), with Nacos's protection threshold.
 * Strategy objects keep state (a round robin's rotation), so they are held per service, and
 * forgotten with the service's last instance.
 */
import {
  createStrategy,
  dispatch,
  DispatchError,
  withZoneAffinity,
  type Strategy,
  type StrategyName,
  type ZoneOutcome,
} from '../dispatcher/index.js';
import { ZkgError } from '../errors.js';
import type { Metrics } from '../monitor/metrics.js';
import type { RegistryCache } from './cache.js';
import type { RegistryReadModel } from './read-model.js';
import type { InstanceView } from './views.js';

export interface DispatchRequest {
  readonly strategy?: StrategyName;
  readonly key?: string;
  readonly zone?: string;
}

export interface DispatchOutcome {
  readonly instance: InstanceView;
  readonly strategy: StrategyName;
  readonly protected: boolean;
  readonly zone: ZoneOutcome;
}

export interface ProviderOptions {
  readonly metrics: Metrics;
}

export class InstanceProvider {
  /**
   * Per service, one strategy object per strategy and zone setting (round robins keep their
   * rotation in it). A service's entry goes with its last instance, and a variant whose zone share a
   * policy changed is replaced, so the map stays as large as the services dispatched to.
   */
  private readonly strategies = new Map<string, Map<string, { share: number; strategy: Strategy }>>();
  private readonly stopPruning: () => void;

  constructor(
    private readonly cache: RegistryCache,
    private readonly reads: RegistryReadModel,
    private readonly options: ProviderOptions,
  ) {
    this.stopPruning = cache.onChange((changes) => {
      // A service left without instances has nothing to rotate over (its znode may linger, empty).
      for (const change of changes) {
        if (!this.cache.service(change.service)?.instances.size) this.strategies.delete(change.service);
      }
    });
  }

  close(): void {
    this.stopPruning();
  }

  /**
   * Pick one instance. DOWN and DRAINING instances were taken out on purpose and are never
   * eligible, not even under the protection threshold; instances whose lease ran out are
   * unhealthy, which the threshold may override.
   */
  async dispatch(service: string, request: DispatchRequest): Promise<DispatchOutcome> {
    const policy = this.reads.policy(service);
    const name = request.strategy ?? policy.strategy;
    const { registered, candidates, view } = await this.reads.dispatchable(service);
    const strategy = this.strategyFor(service, name, request.zone !== undefined, policy.zoneMinHealthyShare);
    let result;
    try {
      result = dispatch(
        candidates,
        strategy,
        {
          ...(request.key === undefined ? {} : { key: request.key }),
          ...(request.zone === undefined ? {} : { zone: request.zone }),
        },
        { protectThreshold: policy.protectThreshold },
      );
    } catch (err) {
      if (err instanceof DispatchError) throw new ZkgError('ZKG_VALIDATION_FAILED', err.message);
      throw err;
    }
    const outcome = !result ? 'none' : result.protected ? 'protected' : 'picked';
    this.options.metrics.dispatches.inc({ strategy: name, outcome });
    if (!result) {
      throw new ZkgError(
        'ZKG_NO_INSTANCE_AVAILABLE',
        `no eligible instance of ${service} (${registered} registered, ${candidates.length} UP)`,
        { retryAfter: 1 },
      );
    }
    return {
      instance: view(result.instance.id)!,
      strategy: name,
      protected: result.protected,
      zone: result.zone,
    };
  }

  private strategyFor(service: string, name: StrategyName, zoned: boolean, share: number): Strategy {
    let variants = this.strategies.get(service);
    if (!variants) {
      variants = new Map();
      this.strategies.set(service, variants);
    }
    const variant = `${name}:${zoned ? 'zoned' : 'any'}`;
    const held = variants.get(variant);
    if (held && (!zoned || held.share === share)) return held.strategy;
    const strategy = zoned
      ? withZoneAffinity(createStrategy(name), { minHealthyShare: share })
      : createStrategy(name);
    variants.set(variant, { share, strategy });
    return strategy;
  }

  /** Strategy objects held for dispatch (for tests: it must not grow with services gone). */
  get strategiesHeld(): number {
    let held = 0;
    for (const variants of this.strategies.values()) held += variants.size;
    return held;
  }
}
