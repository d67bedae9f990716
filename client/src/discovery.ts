/**
 * A live view of one service's instances, kept current by the client's watch stream: the whole
 * list (`instances`, on connect, resume and reset), one instance added or changed (`instance`), one
 * removed (`instance-removed`). Events at or below the index already held are repeats and dropped.
 */
import { EventEmitter } from 'node:events';
import { Balancer, type Instance, type PickOptions } from './instances.js';

export interface DiscoverOptions {
  /** The caller's zone: picks stay in it while it is fit (the server's zone affinity). */
  readonly zone?: string;
}

export interface ServiceViewEvents {
  change: [instances: readonly Instance[]];
}

export class ServiceView extends EventEmitter<ServiceViewEvents> {
  private list: readonly Instance[];
  private held: bigint;
  private readonly balancer: Balancer;

  /** @internal the client makes these; see `ZkgateClient.discover`. */
  constructor(
    readonly service: string,
    instances: readonly Instance[],
    index: bigint,
    options: DiscoverOptions,
  ) {
    super();
    this.list = instances;
    this.held = index;
    this.balancer = new Balancer(options.zone);
  }

  /** Every instance, whatever its status (see `healthy`). */
  get instances(): readonly Instance[] {
    return this.list;
  }

  /** The registry index (a zxid) of the list held. */
  get index(): bigint {
    return this.held;
  }

  /** One healthy instance, by the server's strategies; `undefined` when none is healthy. */
  pick(options: PickOptions = {}): Instance | undefined {
    return this.balancer.pick(this.list, options);
  }

  /** @internal */
  replace(index: bigint, instances: readonly Instance[]): void {
    if (index <= this.held) return;
    this.update(index, instances);
  }

  /** @internal */
  upsert(index: bigint, instance: Instance): void {
    if (index <= this.held) return;
    const others = this.list.filter((i) => i.id !== instance.id);
    this.update(
      index,
      [...others, instance].sort((a, b) => a.id.localeCompare(b.id)),
    );
  }

  /** @internal */
  remove(index: bigint, id: string): void {
    if (index <= this.held) return;
    this.update(
      index,
      this.list.filter((i) => i.id !== id),
    );
  }

  private update(index: bigint, instances: readonly Instance[]): void {
    this.held = index;
    this.list = instances;
    this.emit('change', instances);
  }
}
