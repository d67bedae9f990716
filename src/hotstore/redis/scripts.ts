/**
 * The Lua scripts of the `redis` hot store. A batch of renewals updates lease hashes and expiry
 * index in one script that reads the server's `TIME`, so each renewal is atomic and replicas with
 * skewed clocks agree on expiry; a removal drops lease, index entry and check result in another; a missing generation
 * marker is created, with the server's time, in a third. Each touches keys of one hash slot only
 * (see `keys.ts`), as a Cluster requires.
 */
import type { Cluster, Redis } from 'ioredis';

/** Milliseconds from Redis `TIME` (seconds, microseconds); shared by the scripts below. */
const LUA_NOW = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

/**
 * KEYS: the expiry index, then the lease hashes of the batch's services (all in one slot). ARGV:
 * five per renewal: the KEYS position of its lease hash, instance, ttlMs, load JSON or '', index
 * member. One clock reading for the batch; returns it, from which the caller knows every lease
 * (renewedAt is it, expiresAt it plus the TTL) without a copy of each coming back. The script
 * runs alone on Redis's one thread, so it spends as little per renewal as it can: a lease's
 * JSON up to its load is made once per TTL (a batch mostly has one), and the writes go as one
 * HSET per hash and one ZADD (a later renewal of the same instance still wins, as both apply
 * their arguments in order). Numbers go through %.0f: Lua's tostring would switch to exponent
 * notation past 14 digits.
 */
const RENEW_LUA = `${LUA_NOW}
local renewedAt = string.format('%.0f', now)
local heads, expiries, hashes, index = {}, {}, {}, {}
for i = 1, #ARGV, 5 do
  local ttl = ARGV[i + 2]
  local head = heads[ttl]
  if not head then
    expiries[ttl] = now + tonumber(ttl)
    head = '{"expiresAt":' .. string.format('%.0f', expiries[ttl]) .. ',"ttlMs":' .. ttl
      .. ',"renewedAt":' .. renewedAt
    heads[ttl] = head
  end
  local lease
  if ARGV[i + 3] == '' then lease = head .. '}' else lease = head .. ',"load":' .. ARGV[i + 3] .. '}' end
  local key = tonumber(ARGV[i])
  local hash = hashes[key]
  if not hash then
    hash = {}
    hashes[key] = hash
  end
  hash[#hash + 1] = ARGV[i + 1]
  hash[#hash + 1] = lease
  index[#index + 1] = expiries[ttl]
  index[#index + 1] = ARGV[i + 4]
end
for key, hash in pairs(hashes) do redis.call('HSET', KEYS[key], unpack(hash)) end
redis.call('ZADD', KEYS[1], unpack(index))
return now`;

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
  /** `numberOfKeys`, the keys, then the arguments, as RENEW_LUA reads them. */
  hotstoreRenew(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number>;
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
  // A batch names as many lease hashes as it has services: the key count comes with each call.
  client.defineCommand('hotstoreRenew', { lua: RENEW_LUA });
  client.defineCommand('hotstoreRemove', { numberOfKeys: 3, lua: REMOVE_LUA });
  client.defineCommand('hotstoreGeneration', { numberOfKeys: 1, lua: GENERATION_LUA });
  client.defineCommand('hotstoreNow', { numberOfKeys: 1, lua: NOW_LUA });
  return client as ScriptedClient;
}
