/**
 * The Lua scripts of the `redis` hot store. A renewal updates lease hash and expiry index in one
 * script that reads the server's `TIME`, so it is atomic and replicas with skewed clocks agree on
 * expiry; a removal drops lease, index entry and check result in another; a missing generation
 * marker is created, with the server's time, in a third. Each touches keys of one hash slot only
 * (see `keys.ts`), as a Cluster requires.
 */
import type { Cluster, Redis } from 'ioredis';

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

export type ScriptedClient = (Redis | Cluster) & Scripts;

/** `client`, with the scripts above defined as its commands. */
export function withScripts(client: Redis | Cluster): ScriptedClient {
  client.defineCommand('hotstoreRenew', { numberOfKeys: 2, lua: RENEW_LUA });
  client.defineCommand('hotstoreRemove', { numberOfKeys: 3, lua: REMOVE_LUA });
  client.defineCommand('hotstoreGeneration', { numberOfKeys: 1, lua: GENERATION_LUA });
  client.defineCommand('hotstoreNow', { numberOfKeys: 1, lua: NOW_LUA });
  return client as ScriptedClient;
}
