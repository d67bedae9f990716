/**
 * The ioredis client under the `redis` hot store, for each deployment (one server, Sentinel,
 * Cluster), and the reading of its failures as {@link HotStoreError}s. Apart from the store
 * because ioredis's defaults are the opposite of what the port needs: it would queue and retry
 * commands forever, where the store must fail fast (see the header of `../redis.ts`).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { HotStoreError } from '../errors.js';

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

/** Reconnect delays: 50 ms doubling to 2 s, plus jitter so replicas do not reconnect in lockstep. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** (attempt - 1), 2_000) + Math.floor(Math.random() * 50);
}

const nodeList = (nodes: readonly RedisNode[]): string => nodes.map((n) => `${n.host}:${n.port}`).join(',');

/** Where the target is, without credentials, for messages. */
export function describeTarget(target: RedisTarget): string {
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
export function createClient(
  options: RedisTarget & { readonly password?: string },
  commandTimeout: number,
): Redis | Cluster {
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

/**
 * What ioredis rejected a command with, as the port's error. `address` names the target in the
 * message (without credentials); a store that is `closed` reports CLOSED whatever the cause.
 */
export function toHotStoreError(err: unknown, address: string, closed: boolean): HotStoreError {
  const message = err instanceof Error ? err.message : String(err);
  if (message === 'Command timed out') {
    return new HotStoreError('TIMEOUT', `redis ${address} did not answer in time`, { cause: err });
  }
  if (err instanceof Error && err.name === 'ReplyError') {
    const code = UNAVAILABLE_REPLIES.has(message.split(' ', 1)[0] ?? '') ? 'UNAVAILABLE' : 'SERVER_ERROR';
    return new HotStoreError(code, `redis ${address}: ${message}`, { cause: err });
  }
  // Anything else is ioredis giving up on the connection: refused while not writable, aborted
  // by a connection loss (the outcome is then unknown), or a Cluster node still unreachable
  // after its retries.
  if (closed) return new HotStoreError('CLOSED', 'the hot store is closed', { cause: err });
  return new HotStoreError('UNAVAILABLE', `redis ${address}: ${message}`, { cause: err });
}
