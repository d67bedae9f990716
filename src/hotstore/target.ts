/** Where the Redis hot store is, from the settings: a URL, sentinels or cluster nodes. */
import type { Settings } from '../settings.js';
import type { RedisHotStoreOptions } from './redis.js';
import type { RedisNode, RedisTarget } from './redis/client.js';

type RedisSettings = Pick<
  Settings,
  | 'redisUrl'
  | 'redisSentinels'
  | 'redisSentinelName'
  | 'redisSentinelPassword'
  | 'redisCluster'
  | 'redisPassword'
>;

/** `host[:port]` or `[v6]:port`, as validated by the settings; `port` when it has none. */
export function parseNode(item: string, port: number): RedisNode {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(item);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined) throw new Error(`not host[:port]: ${item}`);
  return { host, port: match?.[3] === undefined ? port : Number(match[3]) };
}

/** The hot store's Redis and its password; undefined when the settings name none (memory). */
export function redisTarget(
  settings: RedisSettings,
): (RedisTarget & Pick<RedisHotStoreOptions, 'password'>) | undefined {
  const password = settings.redisPassword === undefined ? {} : { password: settings.redisPassword };
  if (settings.redisSentinels !== undefined && settings.redisSentinelName !== undefined) {
    return {
      sentinels: settings.redisSentinels.map((item) => parseNode(item, 26379)),
      sentinelName: settings.redisSentinelName,
      ...(settings.redisSentinelPassword !== undefined && {
        sentinelPassword: settings.redisSentinelPassword,
      }),
      ...password,
    };
  }
  if (settings.redisCluster !== undefined) {
    return { cluster: settings.redisCluster.map((item) => parseNode(item, 6379)), ...password };
  }
  if (settings.redisUrl !== undefined) return { url: settings.redisUrl, ...password };
  return undefined;
}
