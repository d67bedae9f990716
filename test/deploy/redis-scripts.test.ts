/**
 * docker/redis/: the start scripts of a Redis Sentinel set, shared by compose and the chart, run
 * with sh against stand-ins for `hostname`, `redis-cli` (answering as each sentinel would) and
 * `redis-server` (printing how it was started): which node starts as the primary, which as a
 * replica of whom, and what each config file holds.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './deploy-files.js';

const SCRIPTS = `${ROOT}docker/redis/`;
const SENTINELS = ['redis-0.set', 'redis-1.set', 'redis-2.set'];
const ENV = {
  REDIS_DOMAIN: 'set',
  REDIS_SENTINEL_HOSTS: SENTINELS.join(' '),
  REDIS_MASTER_NAME: 'zkgate',
  REDIS_FIRST: 'redis-0.set',
  REDIS_QUORUM: '2',
  REDIS_DOWN_AFTER_MS: '5000',
  REDIS_FAILOVER_TIMEOUT_MS: '60000',
};

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** What a script did: the config file it wrote, how it started redis-server, what redis-cli saw. */
interface Run {
  conf: string[];
  started: string;
  /** One line per redis-cli call: the host asked and the REDISCLI_AUTH it had. */
  asked: string[];
}

/**
 * Runs `script` as host `hostname`; `answers` maps a sentinel's host to what it answers (absent:
 * it refuses the connection).
 */
function run(
  script: 'redis.sh' | 'sentinel.sh',
  hostname: string,
  answers: Record<string, string>,
  env: Record<string, string> = {},
): Run {
  const dir = mkdtempSync(join(tmpdir(), 'zkgate-redis-sh-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const work = join(dir, 'work');
  const answered = join(dir, 'answers');
  for (const d of [bin, work, answered]) mkdirSync(d);
  for (const [host, answer] of Object.entries(answers)) writeFileSync(join(answered, host), answer);
  const stubs: Record<string, string> = {
    hostname: `echo ${hostname}`,
    'redis-cli': [
      'while [ $# -gt 0 ]; do case "$1" in -h) host="$2"; shift 2 ;; *) shift ;; esac; done',
      `echo "$host \${REDISCLI_AUTH:-}" >> ${join(dir, 'asked')}`,
      `[ -f "${answered}/$host" ] || { echo "Could not connect to Redis at $host:26379" >&2; exit 1; }`,
      `cat "${answered}/$host"`,
    ].join('\n'),
    'redis-server': 'echo "redis-server $*"',
  };
  for (const [name, body] of Object.entries(stubs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const started = execFileSync('sh', [join(SCRIPTS, script)], {
    cwd: work,
    env: { ...ENV, ...env, PATH: `${bin}:${process.env['PATH'] ?? ''}` },
    encoding: 'utf8',
  }).trim();
  const confFile = join(work, script === 'redis.sh' ? 'redis.conf' : 'sentinel.conf');
  const read = (file: string): string[] => {
    try {
      return readFileSync(file, 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };
  return { conf: read(confFile), started: started.replace(work, '.'), asked: read(join(dir, 'asked')) };
}

const primaryIs = (host: string): string => `${host}\n6379\n`;

describe('docker/redis/redis.sh', () => {
  it('starts the first node as the primary, the others as its replicas, when no sentinel answers yet', () => {
    const first = run('redis.sh', 'redis-0', {});
    expect(first.started).toBe('redis-server ./redis.conf');
    expect(first.asked.map((line) => line.trim())).toEqual(SENTINELS);
    expect(first.conf).toContain('replica-announce-ip redis-0.set');
    expect(first.conf.filter((line) => line.startsWith('replicaof'))).toEqual([]);
    expect(first.conf).toEqual(expect.arrayContaining(['port 6379', 'save ""', 'appendonly no']));
    expect(run('redis.sh', 'redis-2', {}).conf).toContain('replicaof redis-0.set 6379');
  });

  it('replicates the primary a sentinel names: the first node too, after a failover chose another', () => {
    const answers = { 'redis-1.set': primaryIs('redis-2.set') };
    expect(run('redis.sh', 'redis-0', answers).conf).toContain('replicaof redis-2.set 6379');
    const promoted = run('redis.sh', 'redis-2', answers).conf;
    expect(promoted.filter((line) => line.startsWith('replicaof'))).toEqual([]);
  });

  it('takes an error or a half answer for no answer', () => {
    const answers = {
      'redis-0.set': 'ERR No such master with that name\n',
      'redis-1.set': 'redis-2.set\n',
      'redis-2.set': primaryIs('redis-1.set'),
    };
    expect(run('redis.sh', 'redis-0', answers).conf).toContain('replicaof redis-1.set 6379');
  });

  it('puts the password in the config file and the sentinels query, never on a command line', () => {
    const secret = 's3cret';
    const withPassword = run('redis.sh', 'redis-1', {}, { REDIS_PASSWORD: secret });
    expect(withPassword.conf).toEqual(
      expect.arrayContaining([`requirepass ${secret}`, `masterauth ${secret}`]),
    );
    expect(withPassword.started).not.toContain(secret);
    expect(withPassword.asked).toContain(`redis-0.set ${secret}`);
    expect(run('redis.sh', 'redis-1', {}).conf.join('\n')).not.toMatch(/requirepass|masterauth/);
  });

  it('runs a Redis on its own without sentinels', () => {
    const alone = run('redis.sh', 'redis', {}, { REDIS_SENTINEL_HOSTS: '' });
    expect(alone.asked).toEqual([]);
    expect(alone.conf.join('\n')).not.toMatch(/replica/);
    expect(alone.started).toBe('redis-server ./redis.conf');
  });
});

describe('docker/redis/sentinel.sh', () => {
  it('monitors the primary the other sentinels name, or the first node, by name with its quorum', () => {
    const fresh = run('sentinel.sh', 'redis-1', {});
    expect(fresh.started).toBe('redis-server ./sentinel.conf --sentinel');
    expect(fresh.conf).toEqual([
      'port 26379',
      'sentinel resolve-hostnames yes',
      'sentinel announce-hostnames yes',
      'sentinel announce-ip redis-1.set',
      'sentinel monitor zkgate redis-0.set 6379 2',
      'sentinel down-after-milliseconds zkgate 5000',
      'sentinel failover-timeout zkgate 60000',
    ]);
    const later = run('sentinel.sh', 'redis-0', { 'redis-2.set': primaryIs('redis-1.set') });
    expect(later.conf).toContain('sentinel monitor zkgate redis-1.set 6379 2');
  });

  it('authenticates to the Redis nodes and to the other sentinels, and asks for it from clients', () => {
    const { conf } = run('sentinel.sh', 'redis-1', {}, { REDIS_PASSWORD: 'pw' });
    expect(conf).toEqual(
      expect.arrayContaining(['sentinel auth-pass zkgate pw', 'requirepass pw', 'sentinel sentinel-pass pw']),
    );
  });
});
