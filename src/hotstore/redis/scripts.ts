/**
 * The Lua scripts of the `redis` hot store. A batch of renewals updates lease hashes and expiry
 * index in one script that reads the server's `TIME`, so each renewal is atomic and replicas with
 * skewed clocks agree on expiry; a removal drops lease, index entry and check result in another;
 * a missing generation marker is created, with the server's time, in a third. Each touches keys
 * of one hash slot only (see `keys.ts`), as a Cluster requires.
 */
import type { Cluster, Redis } from 'ioredis';

/** Milliseconds from Redis `TIME` (seconds, microseconds); shared by the scripts below. */
const LUA_NOW = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

/**
 * KEYS: the expiry index, then the lease hash of each service of the batch (all in one slot).
 * ARGV: for each of those services in turn, its name and how many renewals follow, then three
 * per renewal: instance, ttlMs, load JSON or ''. One clock reading for the batch; returns it,
 * from which the caller knows every lease (renewedAt is it, expiresAt it plus the TTL) without a
 * copy of each coming back. The script runs alone on Redis's one thread, so it spends as little
 * per renewal as it can: a lease's JSON up to its load is made once per TTL (a batch mostly has
 * one), and the writes go as one HSET per service and one ZADD (a later renewal of the same
 * instance still wins: both apply their arguments in order). Index members are `indexMember`'s
 * (keys.ts). Numbers go through %.0f: Lua's tostring would switch to exponent notation past 14
 * digits.
 */
const RENEW_LUA = `${LUA_NOW}
local renewedAt = string.format('%.0f', now)
local heads, expiries, index = {}, {}, {}
local a = 1
for k = 2, #KEYS do
  local service, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local hash = {}
  for _ = 1, count do
    local instance, ttl, load = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    a = a + 3
    local head = heads[ttl]
    if not head then
      expiries[ttl] = now + tonumber(ttl)
      head = '{"expiresAt":' .. string.format('%.0f', expiries[ttl]) .. ',"ttlMs":' .. ttl
        .. ',"renewedAt":' .. renewedAt
      heads[ttl] = head
    end
    hash[#hash + 1] = instance
    if load == '' then hash[#hash + 1] = head .. '}' else hash[#hash + 1] = head .. ',"load":' .. load .. '}' end
    index[#index + 1] = expiries[ttl]
    index[#index + 1] = service .. '\\0' .. instance
  end
  redis.call('HSET', KEYS[k], unpack(hash))
end
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
