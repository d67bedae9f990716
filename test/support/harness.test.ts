import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PID_DIR_ENV,
  makeTempDir,
  pollUntil,
  reapPidDir,
  requireExecutable,
  tcpExchange,
} from './processes.js';
import { startRedis, type RedisServer } from './redis.js';
import {
  renderZooCfg,
  startEnsemble,
  startZooKeeper,
  type ZkEnsemble,
  type ZkStandalone,
} from './zookeeper.js';

const PING = '*1\r\n$4\r\nPING\r\n';

function ping(port: number): Promise<string> {
  return tcpExchange(port, PING, { timeoutMs: 500, isComplete: (reply) => reply.endsWith('\r\n') });
}

/** Resolves once nothing listens on `port` any more. */
function untilRefused(port: number): Promise<true> {
  return pollUntil(
    () =>
      ping(port).then(
        () => undefined,
        () => true as const,
      ),
    {
      timeoutMs: 5_000,
      what: `port ${port} to stop answering`,
    },
  );
}

describe('renderZooCfg', () => {
  it('renders settings in order, then server lines', () => {
    expect(
      renderZooCfg({ tickTime: 500, clientPort: 2181 }, [
        { id: 1, host: '127.0.0.1', peerPort: 2888, electionPort: 3888 },
      ]),
    ).toBe('tickTime=500\nclientPort=2181\nserver.1=127.0.0.1:2888:3888\n');
  });

  it('rejects values that would inject extra lines', () => {
    expect(() => renderZooCfg({ dataDir: '/tmp\nclientPort=1' })).toThrow(/line break/);
  });
});

describe('missing servers', () => {
  it('fail with the install command instead of skipping', () => {
    expect(() => requireExecutable('zkgate-no-such-binary', 'apt-get install -y zookeeper')).toThrow(
      'install it with: apt-get install -y zookeeper',
    );
  });
});

describe('standalone ZooKeeper', () => {
  let zk: ZkStandalone;
  beforeAll(async () => {
    zk = await startZooKeeper();
  }, 30_000);
  afterAll(async () => {
    await zk?.stop();
  });

  it('serves srvr with Mode standalone', async () => {
    expect(zk.connectString).toBe(`127.0.0.1:${zk.port}`);
    expect(await zk.fourLetter('srvr')).toMatch(/^Mode: standalone$/m);
    expect(await zk.mode()).toBe('standalone');
  });

  it('serves again on the same port after kill and restart', async () => {
    await zk.kill();
    expect(await zk.mode()).toBe('down');
    await zk.restart();
    expect(zk.connectString).toBe(`127.0.0.1:${zk.port}`);
    expect(await zk.fourLetter('ruok')).toBe('imok');
  }, 30_000);

  it('stops answering while paused and answers again after resume', async () => {
    await zk.pause();
    try {
      await expect(zk.fourLetter('ruok', 500)).rejects.toThrow(/no reply/);
    } finally {
      await zk.resume();
    }
    expect(await zk.fourLetter('ruok')).toBe('imok');
  });
});

describe('ZooKeeper ensemble', () => {
  let ensemble: ZkEnsemble;
  beforeAll(async () => {
    ensemble = await startEnsemble(3);
  }, 30_000);
  afterAll(async () => {
    await ensemble?.stop();
  });

  it('elects exactly one leader, re-elects when it dies, and the old leader rejoins as follower', async () => {
    expect(ensemble.connectString.split(',')).toEqual(ensemble.nodes.map((n) => n.connectString));
    const modes = await Promise.all(ensemble.nodes.map((n) => n.mode()));
    expect(modes.filter((m) => m === 'leader')).toHaveLength(1);
    expect(modes.filter((m) => m === 'follower')).toHaveLength(2);

    const oldLeader = await ensemble.leader();
    await oldLeader.kill();
    expect(await oldLeader.mode()).toBe('down');
    const newLeader = await ensemble.leader();
    expect(newLeader.id).not.toBe(oldLeader.id);

    await oldLeader.restart();
    expect(await oldLeader.mode()).toBe('follower');
    expect((await ensemble.leader()).id).toBe(newLeader.id);
  }, 30_000);
});

describe('Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    await redis?.stop();
  });

  it('answers PING, goes away on kill and comes back on the same port', async () => {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await ping(redis.port)).toBe('+PONG\r\n');
    await redis.kill();
    await expect(ping(redis.port)).rejects.toThrow();
    await redis.restart();
    expect(await ping(redis.port)).toBe('+PONG\r\n');
  });
});

describe('cleanup without afterAll', () => {
  const redisModule = fileURLToPath(new URL('./redis.ts', import.meta.url));
  let pidDir: string;
  beforeAll(async () => {
    pidDir = await makeTempDir('zkgate-harness-test-');
  });
  afterAll(async () => {
    reapPidDir(pidDir);
    await rm(pidDir, { recursive: true, force: true });
  });

  /** Runs a Node process that starts Redis and then does `then`; resolves with the Redis port once it is up. */
  async function childWithRedis(then: 'exit' | 'hang') {
    const script = `
      const { startRedis } = await import(${JSON.stringify(redisModule)});
      const redis = await startRedis();
      console.log(redis.port);
      if (${JSON.stringify(then)} === 'exit') process.exit(0);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      env: { ...process.env, [PID_DIR_ENV]: pidDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    return { child, port: Number(line.toString().trim()) };
  }

  it('kills servers when the worker process exits', async () => {
    const { child, port } = await childWithRedis('exit');
    await once(child, 'exit');
    await untilRefused(port);
    expect(await readdir(pidDir)).toEqual([]);
  }, 20_000);

  // vitest ends fork workers with SIGTERM, which skips 'exit' listeners.
  it('kills servers when the worker process is terminated, and still dies of the signal', async () => {
    const { child, port } = await childWithRedis('hang');
    child.kill('SIGTERM');
    const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    expect(signal).toBe('SIGTERM');
    await untilRefused(port);
    expect(await readdir(pidDir)).toEqual([]);
  }, 20_000);

  it('lets the global teardown kill servers of a crashed worker via pid files', async () => {
    const { child, port } = await childWithRedis('hang');
    const pidFiles = await readdir(pidDir);
    expect(pidFiles).toHaveLength(1);
    const { dir } = JSON.parse(await readFile(join(pidDir, pidFiles[0] as string), 'utf8')) as {
      dir: string;
    };
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(await ping(port)).toBe('+PONG\r\n');
    reapPidDir(pidDir);
    await untilRefused(port);
    expect(await readdir(pidDir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 20_000);
});
