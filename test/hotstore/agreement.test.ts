/**
 * How replicas name where they keep leases: the same Redis named alike whatever the password or
 * the order of a list, the memory store never shared.
 */
import { describe, expect, it } from 'vitest';
import { hotStoreIdentity } from '../../src/hotstore/agreement.js';
import { loadSettings } from '../../src/settings.js';

const identity = (env: Record<string, string>, replica = 'r1') =>
  hotStoreIdentity(loadSettings(env), replica);

describe('hot store identity', () => {
  it('is per process for the memory store', () => {
    expect(identity({}, 'r1')).not.toBe(identity({}, 'r2'));
  });

  it('names a Redis URL without its password, with default port and database', () => {
    expect(identity({ ZKGATE_REDIS_URL: 'redis://:secret@redis:6379/0' }, 'r1')).toBe(
      identity({ ZKGATE_REDIS_URL: 'redis://redis' }, 'r2'),
    );
    expect(identity({ ZKGATE_REDIS_URL: 'redis://redis/1' })).not.toBe(
      identity({ ZKGATE_REDIS_URL: 'redis://redis/0' }),
    );
  });

  it('names sentinels and cluster nodes whatever their order', () => {
    const sentinels = { ZKGATE_REDIS_SENTINEL_NAME: 'zkgate' };
    expect(identity({ ...sentinels, ZKGATE_REDIS_SENTINELS: 's1,s2:26380' })).toBe(
      identity({ ...sentinels, ZKGATE_REDIS_SENTINELS: 's2:26380,s1:26379' }),
    );
    expect(identity({ ZKGATE_REDIS_CLUSTER: 'a:7000,b:7001' })).toBe(
      identity({ ZKGATE_REDIS_CLUSTER: 'b:7001,a:7000' }),
    );
    expect(identity({ ZKGATE_REDIS_CLUSTER: 'a:7000' })).not.toBe(
      identity({ ZKGATE_REDIS_URL: 'redis://a:7000' }),
    );
  });
});
