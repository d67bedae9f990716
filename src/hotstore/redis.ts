/**
 * The `redis` adapter: the hot-store port over Redis, shared by every gateway replica, through
 * ioredis 5. Three deployments: one server (a URL), a primary found through Sentinel, or a Redis
 * Cluster.
 *
 * Key layout, under a prefix (default `zkgate:`) so tenants and tests can share a server. One
 * server and Sentinel (the layout of every release before Cluster support, kept so an upgrade
 * finds its leases):
 * - `<p>lease:<service>`: hash, instance -> the lease as JSON `{expiresAt, ttlMs, renewedAt, load?}`;
 * - `<p>leases`: sorted set, member `<service>\0<instance>`, score expiresAt: the expiry index;
 * - `<p>check:<service>`: hash, instance -> the latest check result as JSON
 *   `{ok, at, latencyMs, detail?, by}`;
 * - `<p>generation`: string, JSON `{id, since}`: the data generation marker.
 * A renewal updates hash and index in one Lua script that reads the server's `TIME`, so it is
 * atomic and replicas with skewed clocks agree on expiry; a removal drops lease, index entry and
 * check result in another.
 *
 * Cluster: a script may only touch keys of one hash slot, and `expired()` needs an index across
 * every service. So the keyspace is split into 16 shards, each a hash tag: a service belongs to
 * shard `fnv1a(service) mod 16`, and its lease and check hashes sit beside its shard's own expiry
 * index and generation marker (`<p>{<tag>}:lease:<service>`, `<p>{<tag>}:check:<service>`,
 * `<p>{<tag>}:leases`, `<p>{<tag>}:generation`), so both scripts stay within one slot.
 * `expired(now, limit)` asks each shard's index for its first `limit` entries (the 16 commands
 * sent at once) and merges them: the global first `limit` are among them. The tags are chosen so
 * that shard k's slot lies in the k-th sixteenth of the slot space: primaries that split the
 * slots evenly (as `redis-cli --cluster create` does) hold 16/N shards each, give or take one.
 * The layout is fixed: changing the shard count or a tag would move keys.
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
 * No key has a TTL: under an `allkeys-*` eviction policy Redis could evict leases or a marker, so
 * run it with `noeviction` (or `volatile-*`).
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
import { createHash, randomUUID } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
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

/** A server's address, for sentinels and cluster nodes. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** Where the data is: exactly one of these. */
export type RedisTarget =
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
  | { readonly url: string }
  /** Sentinels to ask for the primary monitored as `sentinelName`. */
  | {
      readonly sentinels: readonly RedisNode[];
      readonly sentinelName: string;
      /** The sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
      readonly sentinelPassword?: string;
    }
  /** Some nodes of a Redis Cluster; the others are found from them. */
  | { readonly cluster: readonly RedisNode[] };

export type RedisHotStoreOptions = RedisTarget & {
  /** The password of the data servers (a URL's own password is used when this is absent). */
  readonly password?: string;
  /** Prepended to every key; no braces, they would change the Cluster's hash tags. Default `zkgate:`. */
  readonly keyPrefix?: string;
  /** How long {@link RedisHotStore.connect} waits for the first connection. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Deadline of one command; without a reply by then it fails with TIMEOUT. Default 2 s. */
  readonly commandTimeoutMs?: number;
  readonly logger?: StoreLogger;
};

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

/**
 * KEYS: a key of the server whose clock is asked (so every replica asks the same one in a
 * Cluster, rather than a random node). Returns ms since the epoch.
 */
const NOW_LUA = `${LUA_NOW}
return now`;

/** The commands defined from the scripts above. */
interface Scripts {
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
  hotstoreNow(key: string): Promise<number>;
}

type ScriptedClient = (Redis | Cluster) & Scripts;

/** The keys of one service's data; in a Cluster all in one slot. */
interface ServiceKeys {
  readonly lease: string;
  readonly check: string;
  /** The expiry index that holds the service's leases. */
  readonly index: string;
}

/** Where each key lives; see the header. */
interface KeyLayout {
  of(service: string): ServiceKeys;
  /** Every expiry index. */
  readonly indexes: readonly string[];
  /** Every generation marker; the first one's server also tells the time. */
  readonly markers: readonly [string, ...string[]];
}

function singleLayout(prefix: string): KeyLayout {
  const index = `${prefix}leases`;
  return {
    of: (service) => ({ lease: `${prefix}lease:${service}`, check: `${prefix}check:${service}`, index }),
    indexes: [index],
    markers: [`${prefix}generation`],
  };
}

/**
 * The Cluster's shard tags: CRC16 of tag k mod 16384 (its hash slot) lies in [1024k, 1024(k+1)).
 * A test checks them against the server's `CLUSTER KEYSLOT`.
 */
export const SHARD_TAGS = [
  '0.13',
  '1.10',
  '2.3',
  '3.0',
  '4.63',
  '5.60',
  '6.43',
  '7.40',
  '8.20',
  '9.23',
  '10.40',
  '11.43',
  '12.1',
  '13.2',
  '14.23',
  '15.20',
] as const;

/**
 * The shard of a service: 32-bit FNV-1a of its UTF-16 code units, mod 16. Cheap (renewals hash
 * on every call) and the same on every replica, release and restart: it must never change.
 */
export function shardOf(service: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < service.length; i++) {
    hash = Math.imul(hash ^ service.charCodeAt(i), 0x01000193);
  }
  return (hash >>> 0) % SHARD_TAGS.length;
}

function clusterLayout(prefix: string): KeyLayout {
  const shards = SHARD_TAGS.map((tag) => `${prefix}{${tag}}:`);
  const [first, ...others] = shards.map((shard) => `${shard}generation`) as [string, ...string[]];
  return {
    of: (service) => {
      const shard = shards[shardOf(service)] as string;
      return {
        lease: `${shard}lease:${service}`,
        check: `${shard}check:${service}`,
        index: `${shard}leases`,
      };
    },
    indexes: shards.map((shard) => `${shard}leases`),
    markers: [first, ...others],
  };
}

/**
 * Server replies that mean "not now" rather than "never": the server is there but cannot serve,
 * or (the Cluster's) the slot is moving or its primary is being replaced, past ioredis's retries.
 */
const UNAVAILABLE_REPLIES = new Set([
  'LOADING',
  'READONLY',
  'MASTERDOWN',
  'BUSY',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'MOVED',
  'ASK',
]);

const NOOP_LOGGER: StoreLogger = { info: () => undefined, warn: () => undefined };

/** Reconnect delays: 50 ms doubling to 2 s, plus jitter so replicas do not reconnect in lockstep. */
function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** (attempt - 1), 2_000) + Math.floor(Math.random() * 50);
}

const nodeList = (nodes: readonly RedisNode[]): string => nodes.map((n) => `${n.host}:${n.port}`).join(',');

/** Where the target is, without credentials, for messages. */
function describeTarget(target: RedisTarget): string {
  if ('sentinels' in target) return `${target.sentinelName} via sentinels ${nodeList(target.sentinels)}`;
  if ('cluster' in target) return `cluster ${nodeList(target.cluster)}`;
  try {
    const parsed = new URL(target.url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return '(invalid url)';
  }
}

/** The ioredis client for the target, every connection failing fast (see the header). */
function createClient(options: RedisHotStoreOptions, commandTimeout: number): Redis | Cluster {
  const password = options.password === undefined ? {} : { password: options.password };
  const connection: RedisOptions = {
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
    ...password,
  };
  if ('cluster' in options) {
    return new Cluster(
      options.cluster.map(({ host, port }) => ({ host, port })),
      {
        lazyConnect: true,
        enableOfflineQueue: false,
        redisOptions: connection,
        clusterRetryStrategy: reconnectDelay,
        slotsRefreshTimeout: commandTimeout,
        // A command to a lost primary is retried after a refresh of the slot map, every 100 ms
        // up to 6 times, so it fails within a second while the replica has not taken over yet.
        retryDelayOnFailover: 100,
        maxRedirections: 6,
        // Not enableAutoPipelining: with it, commands to a primary that died could stay pending
        // forever (seen with ioredis 5.11 under load), past every deadline.
      },
    );
  }
  // A server that turned replica (a failover it did not see) refuses writes with READONLY: a new
  // connection asks the sentinels, or the URL's name, for the primary again.
  const followPrimary: RedisOptions = { reconnectOnError: (err) => err.message.startsWith('READONLY') };
  if ('sentinels' in options) {
    return new Redis({
      ...connection,
      ...followPrimary,
      sentinels: options.sentinels.map(({ host, port }) => ({ host, port })),
      name: options.sentinelName,
      ...(options.sentinelPassword !== undefined && { sentinelPassword: options.sentinelPassword }),
      sentinelCommandTimeout: commandTimeout,
      sentinelRetryStrategy: reconnectDelay,
      // Subscribes to the sentinels' +switch-master and reconnects on it: an old primary still
      // up (a switchover, a partition) accepts writes until the sentinels demote it, up to 10 s
      // later, and loses them then.
      failoverDetector: true,
    });
  }
  return new Redis(options.url, { ...connection, ...followPrimary });
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
  return { id: raw.id, since: raw.since };
}

/**
 * One generation from the markers of every shard: a marker's own when there is one, else an id
 * that changes when any of them does, beginning when the latest began.
 */
function combine(markers: readonly Generation[]): Generation {
  if (markers.length === 1) return Object.freeze({ ...(markers[0] as Generation) });
  const id = createHash('sha256')
    .update(markers.map((m) => m.id).join(','))
    .digest('base64url')
    .slice(0, 22);
  return Object.freeze({ id, since: Math.max(...markers.map((m) => m.since)) });
}

/** Earlier expiry first, then by member, as a sorted set orders ties. */
function byExpiry(
  a: { member: string; expiresAt: number },
  b: { member: string; expiresAt: number },
): number {
  return a.expiresAt - b.expiresAt || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0);
}

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
    this.redis = createClient(options, options.commandTimeoutMs ?? 2_000) as ScriptedClient;
    this.redis.defineCommand('hotstoreRenew', { numberOfKeys: 2, lua: RENEW_LUA });
    this.redis.defineCommand('hotstoreRemove', { numberOfKeys: 3, lua: REMOVE_LUA });
    this.redis.defineCommand('hotstoreGeneration', { numberOfKeys: 1, lua: GENERATION_LUA });
    this.redis.defineCommand('hotstoreNow', { numberOfKeys: 1, lua: NOW_LUA });
    this.redis.on('error', (err: Error) => this.onError(err));
    this.redis.on('close', () => this.onClose());
    this.redis.on('ready', () => this.onReady());
    // A Cluster node gone (a primary lost, or dropped from the slot map by a failover).
    this.redis.on('-node', () => this.recover());
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
    const keys = this.keys.of(service);
    const json = await this.call(() =>
      this.redis.hotstoreRenew(
        keys.lease,
        keys.index,
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
      this.redis.hotstoreRemove(keys.lease, keys.index, keys.check, instance, `${service}\u0000${instance}`),
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
    const entries: Array<{ member: string; expiresAt: number }> = [];
    for (const flat of pages) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        entries.push({ member: flat[i] as string, expiresAt: Number(flat[i + 1]) });
      }
    }
    if (pages.length > 1) entries.sort(byExpiry);
    return entries.slice(0, limit).map(({ member, expiresAt }) => {
      const split = member.indexOf('\u0000');
      return { service: member.slice(0, split), instance: member.slice(split + 1), expiresAt };
    });
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
      const error = this.toError(err);
      if (error.code === 'UNAVAILABLE') this.recover();
      throw error;
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
    // Anything else is ioredis giving up on the connection: refused while not writable, aborted
    // by a connection loss (the outcome is then unknown), or a Cluster node still unreachable
    // after its retries.
    if (this.closed) return new HotStoreError('CLOSED', 'the hot store is closed', { cause: err });
    return new HotStoreError('UNAVAILABLE', `redis ${this.address}: ${message}`, { cause: err });
  }
}
