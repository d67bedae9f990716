/**
 * A registered instance: heartbeats at a third of its TTL (so two may be lost before the lease
 * runs out), registers again when the gateway no longer knows it (404: evicted after a pause, or
 * deleted by an operator), and leaves the registry before its process exits.
 */
import { NotFoundError } from './errors.js';
import type { Instance, LoadReport } from './instances.js';
import { pathOf, type Logger, type Transport } from './transport.js';

export interface HealthCheck {
  readonly http?: { readonly path: string; readonly expectStatus?: number };
  readonly tcp?: boolean;
  readonly interval?: string;
  readonly timeout?: string;
  readonly rise?: number;
  readonly fall?: number;
}

export interface RegisterOptions {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** Lease TTL in ms, or a duration such as `30s`; default the gateway's. */
  readonly ttl?: number | string;
  readonly zone?: string;
  readonly weight?: number;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly check?: HealthCheck;
  /** Called before each heartbeat; its report feeds `least_loaded` dispatch. */
  readonly load?: () => LoadReport | undefined;
  /** Deregister on SIGTERM and SIGINT before the process exits; default true. */
  readonly deregisterOnSignal?: boolean;
}

export class Registration {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private beating: Promise<void> = Promise.resolve();
  private ttlMs: number;

  /** @internal the client makes these; see `ZkgateClient.register`. */
  constructor(
    readonly service: string,
    private readonly options: RegisterOptions,
    private readonly transport: Transport,
    private readonly logger: Logger,
    private readonly onEnd: (registration: Registration) => void,
  ) {
    this.ttlMs = 30_000;
  }

  get id(): string {
    return this.options.id;
  }

  private get path(): string {
    return `/v1/services/${pathOf(this.service)}/instances/${encodeURIComponent(this.options.id)}`;
  }

  /** @internal registers and starts heartbeating. */
  async start(): Promise<void> {
    await this.put();
    this.schedule();
  }

  /** Marks the instance DRAINING (out of dispatch, still listed), then waits `waitMs` (default one TTL) for callers' views to catch up. */
  async drain(waitMs: number = this.ttlMs): Promise<void> {
    await this.transport.request('PUT', `${this.path}/status`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'DRAINING' }),
    });
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }

  /** Stops heartbeating and removes the instance; an instance already gone is fine. */
  async deregister(): Promise<void> {
    if (this.closed) return;
    this.stopHeartbeats();
    await this.beating;
    await this.transport.request('DELETE', this.path, { accept: [404] });
  }

  /** Stops heartbeating and leaves the instance to its lease (what a crash would do). */
  stopHeartbeats(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.onEnd(this);
  }

  private async put(): Promise<void> {
    const o = this.options;
    const body = {
      address: o.address,
      port: o.port,
      ...(o.ttl === undefined ? {} : { ttl: typeof o.ttl === 'number' ? `${Math.round(o.ttl)}ms` : o.ttl }),
      ...(o.zone === undefined ? {} : { zone: o.zone }),
      ...(o.weight === undefined ? {} : { weight: o.weight }),
      ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
      ...(o.check === undefined ? {} : { check: o.check }),
    };
    const instance = await this.transport.json<Instance>('PUT', this.path, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (instance.ttlMs !== undefined) this.ttlMs = instance.ttlMs;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.beating = this.heartbeat().finally(() => this.schedule());
    }, this.ttlMs / 3);
    // Heartbeats alone must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  private async heartbeat(): Promise<void> {
    let load: LoadReport | undefined;
    try {
      load = this.options.load?.();
    } catch (err) {
      // A failing load probe must not cost the lease: the heartbeat goes without a report.
      this.logger.warn('zkgate load callback failed', {
        service: this.service,
        id: this.id,
        error: String(err),
      });
    }
    try {
      await this.transport.request('PUT', `${this.path}/heartbeat`, {
        ...(load === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(load) }),
      });
    } catch (err) {
      if (this.closed) return;
      if (err instanceof NotFoundError) {
        this.logger.warn('zkgate instance unknown to the gateway; registering again', {
          service: this.service,
          id: this.id,
        });
        await this.put().catch((e: unknown) =>
          this.logger.warn('zkgate registration failed', {
            service: this.service,
            id: this.id,
            error: String(e),
          }),
        );
        return;
      }
      this.logger.warn('zkgate heartbeat failed', { service: this.service, id: this.id, error: String(err) });
    }
  }
}
