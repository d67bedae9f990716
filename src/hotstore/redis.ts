/**
 * The `redis` adapter: the hot-store port over one Redis server (or a Sentinel-managed primary)
 * shared by every gateway replica, through ioredis 5.
 *
 * Key layout, under a prefix (default `zkgate:`) so tenants and tests can share a server:
 * - `<p>lease:<service>`: hash, instance -> the lease as JSON `{expiresAt, ttlMs, renewedAt, load?}`;
 * - `<p>leases`: sorted set, member `<service>\0<instance>`, score expiresAt: the expiry index;
 * - `<p>check:<service>`: hash, instance -> the latest check result as JSON
 *   `{ok, at, latencyMs, detail?, by}`;
 * - `<p>generation`: string, JSON `{id, since}`: the data generation marker.
 * A renewal updates hash and index in one Lua script that reads the server's `TIME`, so it is
 * atomic and replicas with skewed clocks agree on expiry; a removal drops lease, index entry and
 * check result in another. The scripts touch keys of several hash slots, so Redis Cluster is not
 * supported. No key has a TTL: under an `allkeys-*` eviction policy Redis could evict leases or
 * the marker, so run it with `noeviction` (or `volatile-*`).
 *
 * What this adapter adds to ioredis:
 * - fail fast: commands are never queued while disconnected and never retried after a
 *   connection loss; they reject with UNAVAILABLE at once (ioredis would queue them forever);
 * - a deadline on every command (TIMEOUT) and on the first connection; reconnection with
 *   backoff, forever;
 * - data-loss detection through the generation marker, checked on every reconnect and by
 *   `generation()`;
 * - every ioredis `error` event handled (an unhandled one is printed per reconnect attempt).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { StoreLogger } from '../coordination/store.js';
import { checkExpiredArgs, checkName, checkTtl, makeLease, normalizeCheck, normalizeLoad } from './args.js';
import { HotStoreError } from './errors.js';
import type {
  CheckResult,
  ExpiredLease,
  Generation,
  HotStore,
  HotStoreState,
  HotStoreStateEvent,
  Lease,
  LoadReport,
} from './store.js';

export interface RedisHotStoreOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** Prepended to every key. Default `zkgate:`. */
  readonly keyPrefix?: string;
  /** How long {@link RedisHotStore.connect} waits for the first connection. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Deadline of one command; without a reply by then it fails with TIMEOUT. Default 2 s. */
  readonly commandTimeoutMs?: number;
  readonly logger?: StoreLogger;
}

/** Milliseconds from Redis `TIME` (seconds, microseconds); shared by the scripts below. */
const LUA_NOW = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

/**
 * KEYS: lease hash, expiry index. ARGV: instance, ttlMs, load JSON or '', index member.
 * Returns the lease JSON. Numbers go through %.0f: Lua's tostring would switch to exponent
 * notation past 14 digits.
 */
const RENEW_LUA = `${LUA_NOW}
local expiresAt = now + tonumber(ARGV[2])
local lease = '{"expiresAt":' .. string.format('%.0f', expiresAt) .. ',"ttlMs":' .. ARGV[2]
  .. ',"renewedAt":' .. string.format('%.0f', now)
if ARGV[3] ~= '' then lease = lease .. ',"load":' .. ARGV[3] end
lease = lease .. '}'
redis.call('HSET', KEYS[1], ARGV[1], lease)
redis.call('ZADD', KEYS[2], expiresAt, ARGV[4])
return lease`;

/** KEYS: lease hash, expiry index, check hash. ARGV: instance, index member. */
const REMOVE_LUA = `redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
return 0`;

/** KEYS: generation marker. ARGV: an id for a new generation. Returns the marker's JSON. */
const GENERATION_LUA = `local current = redis.call('GET', KEYS[1])
if current then return current end
${LUA_NOW}
local marker = '{"id":"' .. ARGV[1] .. '","since":' .. string.format('%.0f', now) .. '}'
redis.call('SET', KEYS[1], marker)
return marker`;

/** The client with the commands defined from the scripts above. */
interface ScriptedRedis extends Redis {
  hotstoreRenew(
    lease: string,
    index: string,
    instance: string,
    ttlMs: number,
    load: string,
    member: string,
  ): Promise<string>;
  hotstoreRemove(
    lease: string,
    index: string,
    check: string,
    instance: string,
    member: string,
  ): Promise<number>;
  hotstoreGeneration(marker: string, id: string): Promise<string>;
}

/** Server replies that mean "not now" rather than "never": the server is there but cannot serve. */
const UNAVAILABLE_REPLIES = new Set(['LOADING', 'READONLY', 'MASTERDOWN', 'BUSY']);

const NOOP_LOGGER: StoreLogger = { info: () => undefined, warn: () => undefined };

/** Reconnect delays: 50 ms doubling to 2 s, plus jitter so replicas do not reconnect in lockstep. */
function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** (attempt - 1), 2_000) + Math.floor(Math.random() * 50);
}

/** `host:port` of a URL, without credentials, for messages. */
function address(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return '(invalid url)';
  }
}

/** JSON this adapter wrote; anything else under its prefix was written by someone else. */
function parseStored<T>(json: string, what: string): T {
  try {
    return JSON.parse(json) as T;
  } catch (err) {
    throw new HotStoreError('SERVER_ERROR', `malformed ${what} in redis: ${json.slice(0, 100)}`, {
      cause: err,
    });
  }
}

function parseLease(json: string): Lease {
  const raw = parseStored<{ ttlMs: number; renewedAt: number; load?: LoadReport }>(json, 'lease');
  return makeLease(raw.renewedAt, raw.ttlMs, raw.load && Object.freeze(raw.load));
}

function parseCheck(json: string): CheckResult {
  const raw = parseStored<CheckResult>(json, 'check result');
  const result: CheckResult = {
    ok: raw.ok,
    at: raw.at,
    latencyMs: raw.latencyMs,
    ...(raw.detail !== undefined && { detail: raw.detail }),
    by: raw.by,
  };
  return Object.freeze(result);
}

function parseGeneration(json: string): Generation {
  const raw = parseStored<Generation>(json, 'generation marker');
  return Object.freeze({ id: raw.id, since: raw.since });
}

/**
 * The hot store in Redis, shared by every gateway replica.
 *
 * @example
 * const store = await RedisHotStore.connect({ url: 'redis://cache:6379/0' });
 * store.onStateChange(({ state, dataLost }) => log.info({ state, dataLost }, 'hot store'));
 * await store.renewLease('billing', 'billing-1', 10_000, { inflight: 3 });
 * const late = await store.expired(await store.now(), 100);
 */
export class RedisHotStore implements HotStore {
  readonly kind = 'redis' as const;

  private readonly redis: ScriptedRedis;
  private readonly prefix: string;
  private readonly indexKey: string;
  private readonly generationKey: string;
  private readonly address: string;
  private readonly logger: StoreLogger;
  private readonly listeners = new Set<(event: HotStoreStateEvent) => void>();
  private currentState: HotStoreState = 'disconnected';
  private closed = false;
  /** The generation last seen; a different one means the data was wiped meanwhile. */
  private knownGeneration: Generation | undefined;
  /** Bumped per connection, so a generation check that outlives its connection is ignored. */
  private connectionEpoch = 0;
  /** ioredis reports every failed reconnect attempt; one warning per outage and message. */
  private lastErrorMessage: string | undefined;

  private constructor(options: RedisHotStoreOptions) {
    this.prefix = options.keyPrefix ?? 'zkgate:';
    this.indexKey = `${this.prefix}leases`;
    this.generationKey = `${this.prefix}generation`;
    this.address = address(options.url);
    this.logger = options.logger ?? NOOP_LOGGER;
    const commandTimeout = options.commandTimeoutMs ?? 2_000;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      // Fail fast: no queue while disconnected, no resend after a reconnect, and commands in
      // flight when the connection drops are rejected at once (retry count 0).
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout,
      // One connection attempt gets as long as one command: both mean "the server is not there".
      connectTimeout: commandTimeout,
      retryStrategy: reconnectDelay,
      connectionName: 'zkgate-hotstore',
    }) as ScriptedRedis;
    this.redis.defineCommand('hotstoreRenew', { numberOfKeys: 2, lua: RENEW_LUA });
    this.redis.defineCommand('hotstoreRemove', { numberOfKeys: 3, lua: REMOVE_LUA });
    this.redis.defineCommand('hotstoreGeneration', { numberOfKeys: 1, lua: GENERATION_LUA });
    this.redis.on('error', (err: Error) => this.onError(err));
    this.redis.on('close', () => this.onClose());
    this.redis.on('ready', () => this.onReady());
  }

  /**
   * Connect and read (or start) the data generation; rejects with UNAVAILABLE when that does not
   * happen within `connectTimeoutMs`.
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
    if (!(await connected)) {
      const reason = store.lastErrorMessage === undefined ? '' : ` (last error: ${store.lastErrorMessage})`;
      await store.close();
      throw new HotStoreError(
        'UNAVAILABLE',
        `no connection to redis ${store.address} within ${deadline} ms${reason}`,
      );
    }
    return store;
  }

  get state(): HotStoreState {
    return this.currentState;
  }

  onStateChange(listener: (event: HotStoreStateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async renewLease(service: string, instance: string, ttlMs: number, load?: LoadReport): Promise<Lease> {
    checkName('service', service);
    checkName('instance', instance);
    checkTtl(ttlMs);
    const report = normalizeLoad(load);
    const json = await this.call(() =>
      this.redis.hotstoreRenew(
        this.leaseKey(service),
        this.indexKey,
        instance,
        ttlMs,
        report ? JSON.stringify(report) : '',
        `${service}\u0000${instance}`,
      ),
    );
    return parseLease(json);
  }

  async getLease(service: string, instance: string): Promise<Lease | undefined> {
    checkName('service', service);
    checkName('instance', instance);
    const json = await this.call(() => this.redis.hget(this.leaseKey(service), instance));
    return json === null ? undefined : parseLease(json);
  }

  async leases(service: string): Promise<Map<string, Lease>> {
    checkName('service', service);
    const all = await this.call(() => this.redis.hgetall(this.leaseKey(service)));
    return new Map(Object.entries(all).map(([instance, json]) => [instance, parseLease(json)]));
  }

  async removeLease(service: string, instance: string): Promise<void> {
    checkName('service', service);
    checkName('instance', instance);
    await this.call(() =>
      this.redis.hotstoreRemove(
        this.leaseKey(service),
        this.indexKey,
        this.checkKey(service),
        instance,
        `${service}\u0000${instance}`,
      ),
    );
  }

  async expired(now: number, limit: number): Promise<ExpiredLease[]> {
    checkExpiredArgs(now, limit);
    if (limit === 0) return [];
    const flat = await this.call(() =>
      this.redis.zrangebyscore(this.indexKey, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit),
    );
    const result: ExpiredLease[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i] as string;
      const split = member.indexOf('\u0000');
      result.push({
        service: member.slice(0, split),
        instance: member.slice(split + 1),
        expiresAt: Number(flat[i + 1]),
      });
    }
    return result;
  }

  async recordCheck(service: string, instance: string, result: CheckResult): Promise<void> {
    checkName('service', service);
    checkName('instance', instance);
    const json = JSON.stringify(normalizeCheck(result));
    await this.call(() => this.redis.hset(this.checkKey(service), instance, json));
  }

  async checkResults(service: string): Promise<Map<string, CheckResult>> {
    checkName('service', service);
    const all = await this.call(() => this.redis.hgetall(this.checkKey(service)));
    return new Map(Object.entries(all).map(([instance, json]) => [instance, parseCheck(json)]));
  }

  async now(): Promise<number> {
    const [seconds, micros] = await this.call(() => this.redis.time());
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  async generation(): Promise<Generation> {
    const generation = await this.call(() => this.readGeneration());
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

  private leaseKey(service: string): string {
    return `${this.prefix}lease:${service}`;
  }

  private checkKey(service: string): string {
    return `${this.prefix}check:${service}`;
  }

  /** The marker, created with the server's time when missing (first start, or data lost). */
  private async readGeneration(): Promise<Generation> {
    return parseGeneration(await this.redis.hotstoreGeneration(this.generationKey, randomUUID()));
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
    if (this.closed || err.message === this.lastErrorMessage) return;
    this.lastErrorMessage = err.message;
    this.logger.warn({ err, redis: this.address }, 'redis connection error');
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
      throw this.toError(err);
    }
  }

  private toError(err: unknown): HotStoreError {
    const message = err instanceof Error ? err.message : String(err);
    if (message === 'Command timed out') {
      return new HotStoreError('TIMEOUT', `redis ${this.address} did not answer in time`, { cause: err });
    }
    if (err instanceof Error && err.name === 'ReplyError') {
      const code = UNAVAILABLE_REPLIES.has(message.split(' ', 1)[0] ?? '') ? 'UNAVAILABLE' : 'SERVER_ERROR';
      return new HotStoreError(code, `redis ${this.address}: ${message}`, { cause: err });
    }
    // Anything else is ioredis giving up on the connection: refused while not writable, or
    // aborted by a connection loss (the outcome is then unknown).
    if (this.closed) return new HotStoreError('CLOSED', 'the hot store is closed', { cause: err });
    return new HotStoreError('UNAVAILABLE', `redis ${this.address}: ${message}`, { cause: err });
  }
}
