import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSettings, SETTINGS_ENV, SettingsError } from '../../src/settings.js';

describe('settings', () => {
  it('defaults to the embedded store on :8080', () => {
    const settings = loadSettings({});
    expect(settings).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      root: '/zkgate',
      servicesPath: '/services',
      sessionTimeoutMs: 15_000,
      snapCount: 100_000,
      snapRetainCount: 3,
      logLevel: 'info',
    });
    expect(settings.zk).toBeUndefined();
    expect(settings.redisUrl).toBeUndefined();
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('reads and coerces every variable', () => {
    const settings = loadSettings({
      PORT: '9000',
      ZKGATE_ZK: 'zk1:2181,zk2:2181,zk3:2181/chroot',
      ZKGATE_SESSION_TIMEOUT_MS: '4000',
      ZKGATE_REDIS_URL: 'redis://cache:6379/0',
      LOG_LEVEL: 'debug',
      ZKGATE_ROOT: '/tenants/a.b-c',
    });
    expect(settings).toMatchObject({
      port: 9000,
      zk: 'zk1:2181,zk2:2181,zk3:2181/chroot',
      sessionTimeoutMs: 4000,
      redisUrl: 'redis://cache:6379/0',
      logLevel: 'debug',
      root: '/tenants/a.b-c',
    });
  });

  it.each([
    ['PORT', 'eighty', 'PORT'],
    ['PORT', '70000', 'PORT'],
    ['ZKGATE_ZK', 'zk1:2181, zk2:2181', 'ZKGATE_ZK'],
    ['ZKGATE_ROOT', 'zkgate', 'ZKGATE_ROOT'],
    ['ZKGATE_ROOT', '/a//b', 'ZKGATE_ROOT'],
    ['ZKGATE_REDIS_URL', 'localhost:6379', 'ZKGATE_REDIS_URL'],
    ['ZKGATE_SESSION_TIMEOUT_MS', '10', 'ZKGATE_SESSION_TIMEOUT_MS'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL'],
  ])('refuses %s=%j naming the variable', (name, value, named) => {
    expect(() => loadSettings({ [name]: value })).toThrow(SettingsError);
    expect(() => loadSettings({ [name]: value })).toThrow(named);
  });

  it('is documented in the README, every variable with its default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const defaults = loadSettings({}) as unknown as Record<string, unknown>;
    for (const [key, env] of Object.entries(SETTINGS_ENV)) {
      const cells = readme
        .split('\n')
        .map((line) => line.split('|').map((cell) => cell.trim()))
        .find((row) => row[1] === `\`${env}\``);
      expect(cells, `README row for ${env}`).toBeDefined();
      const documented = cells![2];
      const actual = defaults[key];
      expect(documented, env).toBe(actual === undefined ? 'unset' : `\`${String(actual)}\``);
    }
  });

  it('checks ZKGATE_ZK_AUTH and ZKGATE_SERVICES_ACL, auth entries only with an identity', () => {
    for (const zkAuth of ['user:password', 'digest:user', 'digest::password', 'ip:127.0.0.1']) {
      expect(() => loadSettings({ ZKGATE_ZK_AUTH: zkAuth })).toThrow('ZKGATE_ZK_AUTH');
    }
    for (const acl of [
      'world:anyone',
      'world:anyone:x',
      'world:everyone:r',
      'digest:app:cdrwa',
      'ip:::1:r',
      'auth:me:r',
    ]) {
      expect(() => loadSettings({ ZKGATE_SERVICES_ACL: acl })).toThrow('ZKGATE_SERVICES_ACL');
    }
    expect(() => loadSettings({ ZKGATE_SERVICES_ACL: 'world:anyone:r,auth::cdrwa' })).toThrow(
      'ZKGATE_ZK_AUTH',
    );
    const settings = loadSettings({
      ZKGATE_ZK_AUTH: 'digest:zkgate:pass:word',
      ZKGATE_SERVICES_ACL:
        'world:anyone:r, auth::cdrwa,ip:10.0.0.0/8:cdrw,digest:app:uDdfb0PRRxN3xz5Gs7eIdAKprMI=:a',
    });
    expect(settings).toMatchObject({ zkAuth: 'digest:zkgate:pass:word' });
  });
});

describe('settings of the Redis hot store', () => {
  it('reads sentinels or cluster nodes as lists, with their name and passwords', () => {
    expect(
      loadSettings({
        ZKGATE_REDIS_SENTINELS: 's1:26379, s2 ,[::1]:26380',
        ZKGATE_REDIS_SENTINEL_NAME: 'zkgate',
        ZKGATE_REDIS_SENTINEL_PASSWORD: 'sentinel secret',
        ZKGATE_REDIS_PASSWORD: 'data secret',
      }),
    ).toMatchObject({
      redisSentinels: ['s1:26379', 's2', '[::1]:26380'],
      redisSentinelName: 'zkgate',
      redisSentinelPassword: 'sentinel secret',
      redisPassword: 'data secret',
    });
    expect(loadSettings({ ZKGATE_REDIS_CLUSTER: 'r1:7000,r2:7001,r3' })).toMatchObject({
      redisCluster: ['r1:7000', 'r2:7001', 'r3'],
    });
    expect(
      loadSettings({ ZKGATE_REDIS_URL: 'rediss://cache:6380', ZKGATE_REDIS_PASSWORD: 'p' }),
    ).toMatchObject({
      redisUrl: 'rediss://cache:6380',
      redisPassword: 'p',
    });
  });

  it.each([
    [
      { ZKGATE_REDIS_URL: 'redis://a', ZKGATE_REDIS_SENTINELS: 's1', ZKGATE_REDIS_SENTINEL_NAME: 'z' },
      /ZKGATE_REDIS_URL and ZKGATE_REDIS_SENTINELS exclude each other/,
    ],
    [
      { ZKGATE_REDIS_URL: 'redis://a', ZKGATE_REDIS_CLUSTER: 'r1' },
      /ZKGATE_REDIS_URL and ZKGATE_REDIS_CLUSTER exclude each other/,
    ],
    [
      { ZKGATE_REDIS_SENTINELS: 's1', ZKGATE_REDIS_SENTINEL_NAME: 'z', ZKGATE_REDIS_CLUSTER: 'r1' },
      /ZKGATE_REDIS_SENTINELS and ZKGATE_REDIS_CLUSTER exclude/,
    ],
    [{ ZKGATE_REDIS_SENTINELS: 's1' }, /ZKGATE_REDIS_SENTINELS and ZKGATE_REDIS_SENTINEL_NAME go together/],
    [
      { ZKGATE_REDIS_SENTINEL_NAME: 'z' },
      /ZKGATE_REDIS_SENTINELS and ZKGATE_REDIS_SENTINEL_NAME go together/,
    ],
    [
      { ZKGATE_REDIS_CLUSTER: 'r1', ZKGATE_REDIS_SENTINEL_PASSWORD: 'p' },
      /ZKGATE_REDIS_SENTINEL_PASSWORD needs ZKGATE_REDIS_SENTINELS/,
    ],
    [{ ZKGATE_REDIS_PASSWORD: 'p' }, /ZKGATE_REDIS_PASSWORD needs/],
    [
      { ZKGATE_REDIS_URL: 'redis://:inline@a', ZKGATE_REDIS_PASSWORD: 'p' },
      /ZKGATE_REDIS_URL has a password already/,
    ],
    [{ ZKGATE_REDIS_CLUSTER: 'r1:port' }, /ZKGATE_REDIS_CLUSTER item 1/],
    [{ ZKGATE_REDIS_CLUSTER: 'r1,,r2' }, /ZKGATE_REDIS_CLUSTER item 2/],
    [
      { ZKGATE_REDIS_SENTINELS: '::1:26379', ZKGATE_REDIS_SENTINEL_NAME: 'z' },
      /ZKGATE_REDIS_SENTINELS item 1/,
    ],
    [{ ZKGATE_REDIS_SENTINELS: 's1', ZKGATE_REDIS_SENTINEL_NAME: 'my master' }, /ZKGATE_REDIS_SENTINEL_NAME/],
  ])('refuses %j naming the variables', (env, message) => {
    expect(() => loadSettings(env)).toThrow(SettingsError);
    expect(() => loadSettings(env)).toThrow(message);
  });
});
