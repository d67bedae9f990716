/**
 * Service instances as the gateway shows them, and local balancing over them with the server's own
 * dispatch strategies (src/dispatcher, bundled into this package at build time: one source).
 */
import {
  createStrategy,
  dispatch,
  isStrategyName,
  withZoneAffinity,
  type DispatchInstance,
  type Strategy,
  type StrategyName,
} from '../../src/dispatcher/index.js';

export { STRATEGY_NAMES, type StrategyName } from '../../src/dispatcher/index.js';

export type InstanceStatus = 'UP' | 'DOWN' | 'DRAINING';

/** One instance, as `GET /v1/services/{service}/instances` and the watch stream send it. */
export interface Instance {
  readonly service: string;
  readonly id: string;
  readonly address: string;
  readonly port: number | null;
  readonly sslPort?: number | null;
  readonly weight: number;
  readonly zone?: string;
  readonly status: InstanceStatus;
  /** UP and alive: what dispatch picks from. */
  readonly healthy: boolean;
  readonly liveness: 'lease' | 'session';
  readonly metadata: Readonly<Record<string, string>>;
  readonly ttlMs?: number;
  readonly lease?: { readonly expiresAt?: string; readonly load?: LoadReport };
  readonly registeredAt?: string;
  readonly index: string;
}

export interface LoadReport {
  readonly inflight?: number;
  readonly cpu?: number;
  readonly latencyMs?: number;
}

export interface PickOptions {
  /** Default `round_robin`. */
  readonly strategy?: StrategyName;
  /** Affinity key; required by `consistent_hash`. */
  readonly key?: string;
}

const DISPATCHED = new WeakMap<Instance, DispatchInstance>();

function dispatchInstanceOf(instance: Instance): DispatchInstance {
  let seen = DISPATCHED.get(instance);
  if (seen === undefined) {
    seen = {
      id: instance.id,
      address: instance.address,
      port: instance.port ?? instance.sslPort ?? 0,
      weight: instance.weight,
      healthy: instance.healthy,
      ...(instance.zone === undefined ? {} : { zone: instance.zone }),
      ...(instance.lease?.load === undefined ? {} : { load: instance.lease.load }),
    };
    DISPATCHED.set(instance, seen);
  }
  return seen;
}

/**
 * Picks among instances as the gateway's `GET /v1/dispatch` would: healthy ones only, the caller's
 * zone first while it is fit. One balancer per service view: round robin keeps its rotation here.
 */
export class Balancer {
  private readonly strategies = new Map<StrategyName, Strategy>();

  constructor(private readonly zone: string | undefined) {}

  pick(instances: readonly Instance[], options: PickOptions = {}): Instance | undefined {
    const name = options.strategy ?? 'round_robin';
    if (!isStrategyName(name)) throw new TypeError(`unknown strategy ${JSON.stringify(name)}`);
    let strategy = this.strategies.get(name);
    if (strategy === undefined) {
      strategy = withZoneAffinity(createStrategy(name));
      this.strategies.set(name, strategy);
    }
    const byDispatch = new Map(instances.map((i) => [dispatchInstanceOf(i), i]));
    const result = dispatch([...byDispatch.keys()], strategy, {
      ...(options.key === undefined ? {} : { key: options.key }),
      ...(this.zone === undefined ? {} : { zone: this.zone }),
    });
    return result === undefined ? undefined : byDispatch.get(result.instance);
  }
}
