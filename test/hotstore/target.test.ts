import { describe, expect, it } from 'vitest';
import { parseNode, redisTarget } from '../../src/hotstore/target.js';
import { loadSettings } from '../../src/settings.js';

describe('the Redis target from the settings', () => {
  it('is none without Redis settings: the memory hot store', () => {
    expect(redisTarget(loadSettings({}))).toBeUndefined();
  });

  it('is the URL, with the password given beside it', () => {
    expect(redisTarget(loadSettings({ ZKGATE_REDIS_URL: 'redis://cache:6379/2' }))).toEqual({
      url: 'redis://cache:6379/2',
    });
    expect(
      redisTarget(loadSettings({ ZKGATE_REDIS_URL: 'rediss://cache', ZKGATE_REDIS_PASSWORD: 'p:w@d' })),
    ).toEqual({ url: 'rediss://cache', password: 'p:w@d' });
  });

  it("is the sentinels, by default on Sentinel's port, with the primary's name and both passwords", () => {
    expect(
      redisTarget(
        loadSettings({
          ZKGATE_REDIS_SENTINELS: 's1,s2:26380,[fd00::1]:26381',
          ZKGATE_REDIS_SENTINEL_NAME: 'zkgate',
          ZKGATE_REDIS_SENTINEL_PASSWORD: 'sp',
          ZKGATE_REDIS_PASSWORD: 'dp',
        }),
      ),
    ).toEqual({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: 'fd00::1', port: 26381 },
      ],
      sentinelName: 'zkgate',
      sentinelPassword: 'sp',
      password: 'dp',
    });
  });

  it("is the cluster's nodes, by default on Redis's port", () => {
    expect(redisTarget(loadSettings({ ZKGATE_REDIS_CLUSTER: 'r1,r2:7001' }))).toEqual({
      cluster: [
        { host: 'r1', port: 6379 },
        { host: 'r2', port: 7001 },
      ],
    });
  });

  it('refuses what is no host[:port]', () => {
    expect(() => parseNode('a:b:c', 1)).toThrow('not host[:port]');
  });
});
