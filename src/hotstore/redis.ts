/**
 * The `redis` adapter: the hot-store port over Redis, shared by every gateway replica, through
 * ioredis 5. Three deployments: one server (a URL), a primary found through Sentinel, or a Redis
 * Cluster.
 *
 * Keys: see `redis/keys.ts` (a Cluster's keyspace is split into 16 hash-tagged shards, so each
 * script stays within one slot); scripts: `redis/scripts.ts`; the ioredis client and its errors:
 * `redis/client.ts`; stored values: `redis/records.ts`.
 *
 * Data loss. A marker missing means its data was lost (a restart without persistence, FLUSHALL,
 * a replica promoted before it had synced): it is created again with a new id, so the generation
 * changes and the registry grants every lease a full TTL of grace. In a Cluster every shard has
 * its marker and the generation combines them (an id from all of them, `since` the latest), so
 * losing any one node's data is seen. Not seen: writes acknowledged by a primary that died before
 * they reached the replica promoted in its place (Redis replicates asynchronously): renewals,
 * removals or check results of the last moments before a failover. A failover is a reconnect
 * (Sentinel) or a shard unreachable for a while (Cluster), followed by `connected`, and so by a
 * TTL of grace: a lost renewal evicts nothing, a lost removal leaves a lease the reaper removes as
 * an orphan, a lost check result is replaced by the next probe.
 *
 * What this adapter adds to ioredis:
 * - fail fast: commands are never queued while disconnected and never retried after a
 *   connection loss; they reject with UNAVAILABLE at once (ioredis would queue them forever);
 * - a deadline on every command (TIMEOUT) and on the first connection; reconnection with
 *   backoff, forever, asking the sentinels for the primary each time;
 * - data-loss detection through the generation markers, checked on every reconnect and by
 *   `generation()`;
 * - `connected` again after part of the data was unreachable without the connection dropping (a
 *   Cluster primary lost until its replica took over), once every shard answers;
 * - every ioredis `error` event handled (an unhandled one is printed per reconnect attempt).
 */
import { randomUUID } from 'node:crypto';
import type { StoreLogger } from '../coordination/store.js';
import { checkExpiredArgs, checkName, checkRenewals, makeLease, normalizeCheck, renewOne } from './args.js';
import { HotStoreError } from './errors.js';
import type {
  CheckResult,
  ExpiredLease,
  Generation,
  HotStore,
  HotStoreState,
  HotStoreStateEvent,
  Lease,
  LeaseRenewal,
  LoadReport,
} from './store.js';
import {
  createClient,
  describeTarget,
  reconnectDelay,
  toHotStoreError,
  type RedisTarget,
} from './redis/client.js';
import { clusterLayout, firstExpired, indexMember, singleLayout, type KeyLayout } from './redis/keys.js';
import { combine, parseCheck, parseGeneration, parseLease } from './redis/records.js';
import { withScripts, type ScriptedClient } from './redis/scripts.js';

export type RedisHotStoreOptions = RedisTarget & {
  /** The password of the data servers (a URL's own password is used when this is absent). */
  readonly password?: string;
  /** Prepended to every key; no braces, they would change the Cluster's hash tags. Default `zkgate:`. */
  readonly keyPrefix?: string;
  /** How long {@link RedisHotStore.connect} waits for the first connection. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Without a connection by that deadline, resolve anyway, disconnected, and keep trying: a
   * gateway (re)started during an outage then serves degraded like the replicas already running,
   * instead of exiting. Credentials the server refuses still reject: waiting would not fix them.
   */
  readonly degradedStart?: boolean;
  /** Deadline of one command; without a reply by then it fails with TIMEOUT. Default 2 s. */
  readonly commandTimeoutMs?: number;
  readonly logger?: StoreLogger;
};

const NOOP_LOGGER: StoreLogger = { info: () => undefined, warn: () => undefined };
/** How Redis refuses a missing or wrong password or user, wherever ioredis quotes it. */
const CREDENTIALS_REFUSED = /\b(NOAUTH|WRONGPASS)\b/;

/**
 * The hot store in Redis, shared by every gateway replica.
 *
 * @example
 * const store = await RedisHotStore.connect({ url: 'redis://cache:6379/0' });
 * // or { sentinels: [{ host: 'sentinel-1', port: 26379 }], sentinelName: 'zkgate', password }
 * // or { cluster: [{ host: 'redis-1', port: 6379 }], password }
 * store.onStateChange(({ state, dataLost }) => log.info({ state, dataLost }, 'hot store'));
 * await store.renewLease('billing', 'billing-1', 10_000, { inflight: 3 });
 * const late = await store.expired(await store.now(), 100);
 */
export class RedisHotStore implements HotStore {
  readonly kind = 'redis' as const;

  private readonly redis: ScriptedClient;
  private readonly keys: KeyLayout;
  private readonly address: string;
  private readonly logger: StoreLogger;
  private readonly listeners = new Set<(event: HotStoreStateEvent) => void>();
  private currentState: HotStoreState = 'disconnected';
  private closed = false;
  /** The generation last seen; a different one means the data was wiped meanwhile. */
  private knownGeneration: Generation | undefined;
  /** Bumped per connection, so a generation check that outlives its connection is ignored. */
  private connectionEpoch = 0;
  /** Whether a generation check is retried until every shard answers (see {@link recover}). */
  private recovering = false;
  /** The generation check {@link generation} callers share while it runs. */
  private checking: Promise<Generation> | undefined;
  /** ioredis reports every failed reconnect attempt; one warning per outage and message. */
  private lastErrorMessage: string | undefined;

  private constructor(options: RedisHotStoreOptions) {
    const prefix = options.keyPrefix ?? 'zkgate:';
    if (/[{}]/.test(prefix)) {
      throw new HotStoreError('BAD_ARGUMENTS', `keyPrefix must not contain braces, got ${prefix}`);
    }
    this.keys = 'cluster' in options ? clusterLayout(prefix) : singleLayout(prefix);
    this.address = describeTarget(options);
    this.logger = options.logger ?? NOOP_LOGGER;
    this.redis = withScripts(createClient(options, options.commandTimeoutMs ?? 2_000));
    this.redis.on('error', (err: Error) => this.onError(err));
    this.redis.on('close', () => this.onClose());
    this.redis.on('ready', () => this.onReady());
    // A Cluster node gone (a primary lost, or dropped from the slot map by a failover).
    this.redis.on('-node', () => this.recover());
  }

  /**
   * Connect and read (or start) the data generation; rejects with UNAVAILABLE when that does not
   * happen within `connectTimeoutMs`, unless `degradedStart` (see there).
   */
  static async connect(options: RedisHotStoreOptions): Promise<RedisHotStore> {
    const store = new RedisHotStore(options);
    const deadline = options.connectTimeoutMs ?? 10_000;
    const connected = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), deadline);
      const off = store.onStateChange(() => {
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
    // A failed first attempt rejects here and is retried by the retry strategy; 'error' logs it.
    store.redis.connect().catch(() => undefined);
    if (await connected) return store;
    const reason = store.lastErrorMessage === undefined ? '' : ` (last error: ${store.lastErrorMessage})`;
    const refused = store.lastErrorMessage !== undefined && CREDENTIALS_REFUSED.test(store.lastErrorMessage);
    if (options.degradedStart && !refused) {
      store.logger.warn(
        { redis: store.address },
        `no connection to redis within ${deadline} ms${reason}; starting degraded until it answers`,
      );
      return store;
    }
    await store.close();
    throw new HotStoreError(
      'UNAVAILABLE',
      `no connection to redis ${store.address} within ${deadline} ms${reason}`,
    );
  }

  get state(): HotStoreState {
    return this.currentState;
  }

  onStateChange(listener: (event: HotStoreStateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async renewLease(service: string, instance: string, ttlMs: number, load?: LoadReport): Promise<Lease> {
    return renewOne(this, service, instance, ttlMs, load);
  }

  async renewLeases(renewals: readonly LeaseRenewal[]): Promise<Lease[]> {
    const loads = checkRenewals(renewals);
    // One script per expiry index (its services share its slot, see keys.ts), its renewals
    // grouped by service as the script reads them: the service once, then each renewal.
    const batches = new Map<string, { services: Map<string, Array<string | number>>; at: number[] }>();
    renewals.forEach(({ service, instance, ttlMs }, i) => {
      const { index } = this.keys.of(service);
      let batch = batches.get(index);
      if (!batch) {
        batch = { services: new Map(), at: [] };
        batches.set(index, batch);
      }
      let args = batch.services.get(service);
      if (!args) {
        args = [];
        batch.services.set(service, args);
      }
      const load = loads[i];
      args.push(instance, ttlMs, load ? JSON.stringify(load) : '');
      batch.at.push(i);
    });
    const leases = new Array<Lease>(renewals.length);
    await this.call(() =>
      Promise.all(
        [...batches].map(async ([index, { services, at }]) => {
          const keys = [index];
          const args: Array<string | number> = [];
          for (const [service, renewed] of services) {
            keys.push(this.keys.of(service).lease);
            args.push(service, renewed.length / 3, ...renewed);
          }
          const now = Number(await this.redis.hotstoreRenew(keys.length, ...keys, ...args));
          for (const i of at) leases[i] = makeLease(now, (renewals[i] as LeaseRenewal).ttlMs, loads[i]);
        }),
      ),
    );
    return leases;
  }

  async getLease(service: string, instance: string): Promise<Lease | undefined> {
    checkName('service', service);
    checkName('instance', instance);
    const json = await this.call(() => this.redis.hget(this.keys.of(service).lease, instance));
    return json === null ? undefined : parseLease(json);
  }

  async leases(service: string): Promise<Map<string, Lease>> {
    checkName('service', service);
    const all = await this.call(() => this.redis.hgetall(this.keys.of(service).lease));
    return new Map(Object.entries(all).map(([instance, json]) => [instance, parseLease(json)]));
  }

  async removeLease(service: string, instance: string): Promise<void> {
    checkName('service', service);
    checkName('instance', instance);
    const keys = this.keys.of(service);
    await this.call(() =>
      this.redis.hotstoreRemove(keys.lease, keys.index, keys.check, instance, indexMember(service, instance)),
    );
  }

  async expired(now: number, limit: number): Promise<ExpiredLease[]> {
    checkExpiredArgs(now, limit);
    if (limit === 0) return [];
    const pages = await this.call(() =>
      Promise.all(
        this.keys.indexes.map((index) =>
          this.redis.zrangebyscore(index, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit),
        ),
      ),
    );
    return firstExpired(pages, limit);
  }

  async recordCheck(service: string, instance: string, result: CheckResult): Promise<void> {
    checkName('service', service);
    checkName('instance', instance);
    const json = JSON.stringify(normalizeCheck(result));
    await this.call(() => this.redis.hset(this.keys.of(service).check, instance, json));
  }

  async checkResults(service: string): Promise<Map<string, CheckResult>> {
    checkName('service', service);
    const all = await this.call(() => this.redis.hgetall(this.keys.of(service).check));
    return new Map(Object.entries(all).map(([instance, json]) => [instance, parseCheck(json)]));
  }

  async now(): Promise<number> {
    return this.call(() => this.redis.hotstoreNow(this.keys.markers[0]));
  }

  /**
   * Calls made while a check is under way share it: the registry asks with every lease read, and
   * on a Cluster one check is a command per shard.
   */
  async generation(): Promise<Generation> {
    this.checking ??= this.call(() => this.readGeneration()).finally(() => (this.checking = undefined));
    const generation = await this.checking;
    if (this.adopt(generation) && !this.closed) this.emit({ state: 'connected', dataLost: true });
    return generation;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.currentState = 'disconnected';
    // QUIT lets commands in flight finish; disconnect() also stops a pending reconnect.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }

  /** Every marker, each created with its server's time when missing (first start, or data lost). */
  private async readGeneration(): Promise<Generation> {
    const markers = await Promise.all(
      this.keys.markers.map(async (marker) =>
        parseGeneration(await this.redis.hotstoreGeneration(marker, randomUUID())),
      ),
    );
    return combine(markers);
  }

  /** Record a generation just read; true when it replaces a different one (data was lost). */
  private adopt(generation: Generation): boolean {
    const lost = this.knownGeneration !== undefined && this.knownGeneration.id !== generation.id;
    this.knownGeneration = generation;
    return lost;
  }

  /**
   * A (re)connection is usable; check the generation before reporting `connected`, so the event
   * says whether the data survived.
   */
  private onReady(): void {
    const epoch = ++this.connectionEpoch;
    this.recovering = false;
    this.readGeneration().then(
      (generation) => {
        if (epoch !== this.connectionEpoch || this.closed) return;
        this.setConnected(this.adopt(generation));
      },
      (err: unknown) => {
        if (epoch !== this.connectionEpoch || this.closed) return;
        // The connection works but the check failed (say, out of memory): serve anyway;
        // generation() checks again and reports a loss then.
        this.logger.warn({ err }, 'could not check the redis data generation');
        this.setConnected(false);
      },
    );
  }

  /**
   * Part of the data could not be reached while the connection stayed up: a Cluster primary
   * lost until its replica takes over, a server answering LOADING or CLUSTERDOWN. Renewals
   * failed meanwhile, so once every shard answers the generation check again, `connected` comes
   * as after a reconnect and the registry gives leases their grace. Checks are retried with the
   * reconnect backoff; a reconnect (which checks by itself) or close ends them.
   */
  private recover(): void {
    if (this.recovering || this.closed || this.currentState !== 'connected') return;
    this.recovering = true;
    const epoch = this.connectionEpoch;
    const attempt = (n: number): void => {
      this.readGeneration().then(
        (generation) => {
          if (epoch !== this.connectionEpoch || this.closed || !this.recovering) return;
          this.recovering = false;
          this.setConnected(this.adopt(generation));
        },
        () => {
          if (epoch !== this.connectionEpoch || this.closed || !this.recovering) return;
          setTimeout(() => attempt(n + 1), reconnectDelay(n)).unref();
        },
      );
    };
    attempt(1);
  }

  private setConnected(dataLost: boolean): void {
    this.lastErrorMessage = undefined;
    this.currentState = 'connected';
    if (dataLost) this.logger.warn({ redis: this.address }, 'redis lost its data; a new generation began');
    else this.logger.info({ redis: this.address }, 'redis connected');
    this.emit({ state: 'connected', dataLost });
  }

  private onClose(): void {
    this.connectionEpoch++;
    if (this.closed || this.currentState === 'disconnected') return;
    this.currentState = 'disconnected';
    this.logger.warn({ redis: this.address }, 'redis connection lost; reconnecting');
    this.emit({ state: 'disconnected', dataLost: false });
  }

  private onError(err: Error): void {
    // A Cluster says "Failed to refresh slots cache." and keeps the cause aside; Sentinel's
    // retry message carries a jittered delay. What is compared and kept is the cause, undated.
    const cause = (err as { lastNodeError?: Error }).lastNodeError ?? err;
    const message = cause.message.replace(/ after \d+ms/, '');
    if (this.closed || message === this.lastErrorMessage) return;
    this.lastErrorMessage = message;
    this.logger.warn({ err: cause, redis: this.address }, 'redis connection error');
  }

  private emit(event: HotStoreStateEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'hot-store state listener threw');
      }
    }
  }

  /** Run a command when connected; map whatever ioredis rejects with to a {@link HotStoreError}. */
  private async call<T>(command: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HotStoreError('CLOSED', 'the hot store is closed');
    if (this.currentState !== 'connected') {
      throw new HotStoreError('UNAVAILABLE', `redis ${this.address} is not connected`);
    }
    try {
      return await command();
    } catch (err) {
      const error = toHotStoreError(err, this.address, this.closed);
      if (error.code === 'UNAVAILABLE') this.recover();
      throw error;
    }
  }
}
