/**
 * Where the `redis` hot store keeps what, under a prefix (default `zkgate:`) so tenants and tests
 * can share a server. One server and Sentinel (the layout of every release before Cluster
 * support, kept so an upgrade finds its leases):
 * - `<p>lease:<service>`: hash, instance -> the lease as JSON `{expiresAt, ttlMs, renewedAt, load?}`;
 * - `<p>leases`: sorted set, member `<service>\0<instance>`, score expiresAt: the expiry index;
 * - `<p>check:<service>`: hash, instance -> the latest check result as JSON
 *   `{ok, at, latencyMs, detail?, by}`;
 * - `<p>generation`: string, JSON `{id, since}`: the data generation marker.
 *
 * Cluster: a script may only touch keys of one hash slot, and `expired()` needs an index across
 * every service. So the keyspace is split into 16 shards, each a hash tag: a service belongs to
 * shard `fnv1a(service) mod 16`, and its lease and check hashes sit beside its shard's own expiry
 * index and generation marker (`<p>{<tag>}:lease:<service>`, `<p>{<tag>}:check:<service>`,
 * `<p>{<tag>}:leases`, `<p>{<tag>}:generation`), so each script (`scripts.ts`) stays within
 * one slot. `expired(now, limit)` asks each shard's index for its first `limit` entries (the 16
 * commands sent at once) and merges them: the global first `limit` are among them. The tags are
 * chosen so that shard k's slot lies in the k-th sixteenth of the slot space: primaries that
 * split the slots evenly (as `redis-cli --cluster create` does) hold 16/N shards each, give or
 * take one.
 * The layout is fixed: changing the shard count or a tag would move keys.
 *
 * No key has a TTL: under an `allkeys-*` eviction policy Redis could evict leases or a marker, so
 * run it with `noeviction` (or `volatile-*`).
 */
import type { ExpiredLease } from '../store.js';

/** The keys of one service's data; in a Cluster all in one slot. */
export interface ServiceKeys {
  readonly lease: string;
  readonly check: string;
  /** The expiry index that holds the service's leases. */
  readonly index: string;
}

/** Where each key lives; see the header. */
export interface KeyLayout {
  of(service: string): ServiceKeys;
  /** Every expiry index. */
  readonly indexes: readonly string[];
  /** Every generation marker; the first one's server also tells the time. */
  readonly markers: readonly [string, ...string[]];
}

export function singleLayout(prefix: string): KeyLayout {
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

export function clusterLayout(prefix: string): KeyLayout {
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

/** An expiry index's member: which lease expires (`checkName` refuses NUL in names). */
export function indexMember(service: string, instance: string): string {
  return `${service}\u0000${instance}`;
}

/**
 * The first `limit` expired leases from each index's first `limit` entries (`ZRANGEBYSCORE …
 * WITHSCORES`, flat): across shards the global first `limit` are among them.
 */
export function firstExpired(pages: readonly (readonly string[])[], limit: number): ExpiredLease[] {
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

/** Earlier expiry first, then by member, as a sorted set orders ties. */
function byExpiry(
  a: { member: string; expiresAt: number },
  b: { member: string; expiresAt: number },
): number {
  return a.expiresAt - b.expiresAt || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0);
}
