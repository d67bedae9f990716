/**
 * Throw-away Redis deployments (Debian's redis-server 7) for tests, on free loopback ports, each
 * server with its own temp dir: a single server, a primary with replicas watched by Sentinels,
 * or a Redis Cluster of several primaries. Sentinels are `redis-server <conf> --sentinel` (Debian
 * ships no separate redis-sentinel binary); clusters are formed by `redis-cli --cluster create`.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import {
  ServerProcess,
  freePorts,
  launch,
  makeTempDir,
  pollUntil,
  requireExecutable,
  tcpExchange,
} from './processes.js';

const LOOPBACK = '127.0.0.1';
const PING = '*1\r\n$4\r\nPING\r\n';
const INSTALL_COMMAND = 'apt-get install -y redis-server';
const START_TIMEOUT_MS = 10_000;
/** Sentinels meet through hello messages every 2 s and read the primary's INFO every 10 s. */
const SETTLE_TIMEOUT_MS = 20_000;

/** A Redis server from {@link startRedis} (or one of a Sentinel set or a cluster). */
export interface RedisServer {
  /** `redis://127.0.0.1:port` (without the password). */
  readonly url: string;
  readonly port: number;
  /** SIGKILL; resolves once the process is dead. */
  kill(): Promise<void>;
  /** Kills the server if it runs and starts it on the same port; it comes back empty (no persistence). */
  restart(): Promise<void>;
  /** Kills the server and deletes its temp dir. */
  stop(): Promise<void>;
  /** Tail of the server's output (bounded), for diagnosing failures. */
  logs(): string;
}

/** host and port of a server, as ioredis takes them for sentinels and cluster nodes. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Starts one redis-server on `port` with `args` before the common ones (loopback, its own dir;
 * no persistence unless it is a sentinel, which refuses those directives), resolves once it
 * answers PING. A server with a password answers NOAUTH: serving.
 */
async function startServer(
  name: string,
  port: number,
  args: readonly string[],
  { sentinelDir, busPort }: { sentinelDir?: string; busPort?: number } = {},
): Promise<RedisServer> {
  requireExecutable('redis-server', INSTALL_COMMAND);
  const cwd = sentinelDir ?? (await makeTempDir('zkgate-redis-'));
  const persistence = sentinelDir === undefined ? ['--save', '', '--appendonly', 'no'] : [];
  const serverProcess = new ServerProcess({
    name: `${name} ${LOOPBACK}:${port}`,
    command: 'redis-server',
    args: [...args, '--port', String(port), '--bind', LOOPBACK, ...persistence, '--dir', cwd],
    cwd,
    ports: busPort === undefined ? [port] : [port, busPort],
    isReady: async () => {
      try {
        const reply = await tcpExchange(port, PING, {
          timeoutMs: 500,
          isComplete: (r) => r.endsWith('\r\n'),
        });
        return reply.startsWith('+PONG') || reply.startsWith('-NOAUTH');
      } catch {
        return false;
      }
    },
    startTimeoutMs: START_TIMEOUT_MS,
  });
  await launch(serverProcess);
  return {
    url: `redis://${LOOPBACK}:${port}`,
    port,
    kill: () => serverProcess.kill(),
    restart: () => serverProcess.restart(),
    stop: () => serverProcess.stop(),
    logs: () => serverProcess.logs(),
  };
}

/**
 * Starts redis-server on a free loopback port without persistence and resolves once it answers
 * PING. Throws (with install instructions) when redis-server is missing.
 */
export async function startRedis(): Promise<RedisServer> {
  const [port] = (await freePorts(1)) as [number];
  return startServer('Redis', port, []);
}

/** Runs `use` with a short-lived client of the server on `port`; every failure rejects. */
async function withClient<T>(
  port: number,
  password: string | undefined,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host: LOOPBACK,
    port,
    ...(password !== undefined && { password }),
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** `use`'s answer, or undefined when the server could not be asked: a probe for {@link pollUntil}. */
async function probe<T>(
  port: number,
  password: string | undefined,
  use: (client: Redis) => Promise<T | undefined>,
): Promise<T | undefined> {
  try {
    return await withClient(port, password, use);
  } catch {
    return undefined;
  }
}

/**
 * Resolves once every replica of the primary on `port` has acknowledged all the primary has
 * written (Redis replicates asynchronously: a primary killed before that loses the rest).
 */
export async function replicasInSync(port: number, password?: string): Promise<void> {
  await pollUntil(
    () =>
      probe(port, password, async (client) => {
        const info = await client.info('replication');
        const primary = Number(/^master_repl_offset:(\d+)/m.exec(info)?.[1]);
        const replicas = [...info.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((m) => Number(m[1]));
        return replicas.length > 0 && replicas.every((offset) => offset === primary) ? true : undefined;
      }),
    { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 20, what: `the replicas of ${port} to be in sync` },
  );
}

/** A RESP array of flat field/value pairs (SENTINEL REPLICAS, SENTINELS) as objects. */
function records(reply: unknown): Array<Record<string, string>> {
  return (reply as string[][]).map((flat) => {
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i] as string] = flat[i + 1] as string;
    return record;
  });
}

async function stopAll(servers: readonly RedisServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}

/** A primary, its replicas and the Sentinels watching them, from {@link startRedisSentinels}. */
export interface RedisSentinelSet {
  /** The name the sentinels monitor the primary under. */
  readonly name: string;
  readonly sentinels: readonly RedisAddress[];
  /** The data servers, the first primary at start, then the replicas. */
  readonly servers: readonly RedisServer[];
  /** The password of the data servers and of the sentinels, when given. */
  readonly password: string | undefined;
  readonly sentinelPassword: string | undefined;
  /** The data server the sentinels name as primary now. */
  primary(): Promise<RedisServer>;
  /**
   * Subscribes to the first sentinel's `+switch-master`; once subscribed, resolves with a promise
   * of the next failover: the new primary's port and when it was announced (rejects after
   * `timeoutMs`, default 20 s).
   */
  watchPromotion(timeoutMs?: number): Promise<{ promoted: Promise<{ port: number; at: number }> }>;
  /** Asks the first sentinel for a failover (`SENTINEL FAILOVER`): the primary stays up, as a replica. */
  failover(): Promise<void>;
  /** Stops every server and sentinel and deletes their dirs. */
  stop(): Promise<void>;
  /** Output tails of every server and sentinel. */
  logs(): string;
}

export interface RedisSentinelOptions {
  /** Replicas of the primary; default 1. */
  readonly replicas?: number;
  /** Sentinels; default 3, with a quorum of 2. */
  readonly sentinels?: number;
  /** `requirepass` of the data servers (and `masterauth`, so replicas sync). */
  readonly password?: string;
  /** `requirepass` of the sentinels (and `sentinel sentinel-pass`, so they talk to each other). */
  readonly sentinelPassword?: string;
  /** How long the primary may be silent before a sentinel thinks it down; default 1000 ms. */
  readonly downAfterMs?: number;
}

/**
 * Starts a primary and its replicas, waits until every replica is in sync, then starts the
 * sentinels and waits until each knows every replica and every other sentinel, so that a
 * failover can start the moment the primary dies.
 */
export async function startRedisSentinels(options: RedisSentinelOptions = {}): Promise<RedisSentinelSet> {
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const { password, sentinelPassword } = options;
  const name = 'zkgate-test';
  const ports = await freePorts(1 + replicaCount + sentinelCount);
  const dataPorts = ports.slice(0, 1 + replicaCount);
  const sentinelPorts = ports.slice(1 + replicaCount);
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const servers: RedisServer[] = [];
  const sentinelServers: RedisServer[] = [];
  try {
    const [primaryPort, ...replicaPorts] = dataPorts as [number, ...number[]];
    // Replicas sync at once rather than after the default 5 s wait for more of them.
    servers.push(
      await startServer('Redis primary', primaryPort, [...auth, '--repl-diskless-sync-delay', '0']),
    );
    for (const port of replicaPorts) {
      servers.push(
        await startServer('Redis replica', port, [...auth, '--replicaof', LOOPBACK, String(primaryPort)]),
      );
    }
    await pollUntil(
      () =>
        probe(primaryPort, password, async (client) => {
          const info = await client.info('replication');
          const online = info.split('\n').filter((line) => /^slave\d+:.*state=online/.test(line));
          return online.length === replicaCount ? true : undefined;
        }),
      { timeoutMs: SETTLE_TIMEOUT_MS, what: `${replicaCount} replica(s) in sync` },
    );
    const quorum = Math.floor(sentinelCount / 2) + 1;
    for (const port of sentinelPorts) {
      const dir = await makeTempDir('zkgate-sentinel-');
      // Sentinels rewrite their config file, so it is one of their own, in their dir.
      const conf = [
        `sentinel monitor ${name} ${LOOPBACK} ${primaryPort} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1_000}`,
        `sentinel failover-timeout ${name} 10000`,
        ...(password === undefined ? [] : [`sentinel auth-pass ${name} ${password}`]),
        ...(sentinelPassword === undefined
          ? []
          : [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`]),
      ];
      await writeFile(join(dir, 'sentinel.conf'), `${conf.join('\n')}\n`);
      sentinelServers.push(
        await startServer('Sentinel', port, [join(dir, 'sentinel.conf'), '--sentinel'], { sentinelDir: dir }),
      );
    }
    for (const port of sentinelPorts) {
      await pollUntil(
        () =>
          probe(port, sentinelPassword, async (client) => {
            const replicas = records(await client.call('SENTINEL', 'REPLICAS', name));
            const peers = records(await client.call('SENTINEL', 'SENTINELS', name));
            const replicasUp = replicas.filter((r) => r['flags'] === 'slave').length === replicaCount;
            return replicasUp && peers.length === sentinelCount - 1 ? true : undefined;
          }),
        { timeoutMs: SETTLE_TIMEOUT_MS, what: `sentinel ${port} to know every replica and sentinel` },
      );
    }
  } catch (err) {
    await stopAll([...servers, ...sentinelServers]);
    throw err;
  }
  const firstSentinel = sentinelPorts[0] as number;
  return {
    name,
    sentinels: sentinelPorts.map((port) => ({ host: LOOPBACK, port })),
    servers,
    password,
    sentinelPassword,
    async primary() {
      const [, port] = (await withClient(firstSentinel, sentinelPassword, (client) =>
        client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name),
      )) as [string, string];
      const server = servers.find((s) => s.port === Number(port));
      if (!server) throw new Error(`sentinels name ${port} as primary, which is none of the servers`);
      return server;
    },
    async watchPromotion(timeoutMs = 20_000) {
      const subscriber = new Redis({
        host: LOOPBACK,
        port: firstSentinel,
        ...(sentinelPassword !== undefined && { password: sentinelPassword }),
        lazyConnect: true,
        retryStrategy: () => null,
      });
      subscriber.on('error', () => undefined);
      await subscriber.connect();
      await subscriber.subscribe('+switch-master');
      const promoted = new Promise<{ port: number; at: number }>((resolve, reject) => {
        const timer = setTimeout(() => {
          subscriber.disconnect();
          reject(new Error(`no failover of ${name} within ${timeoutMs} ms`));
        }, timeoutMs);
        subscriber.on('message', (_channel: string, message: string) => {
          // `<name> <old ip> <old port> <new ip> <new port>`
          const [master, , , , port] = message.split(' ');
          if (master !== name) return;
          clearTimeout(timer);
          subscriber.disconnect();
          resolve({ port: Number(port), at: Date.now() });
        });
      });
      return { promoted };
    },
    async failover() {
      await withClient(firstSentinel, sentinelPassword, (client) =>
        client.call('SENTINEL', 'FAILOVER', name),
      );
    },
    stop: () => stopAll([...servers, ...sentinelServers]),
    logs: () => [...servers, ...sentinelServers].map((s) => s.logs()).join('\n'),
  };
}

/** A Redis Cluster from {@link startRedisCluster}. */
export interface RedisClusterSet {
  /** Every node, primaries first. */
  readonly nodes: readonly RedisAddress[];
  readonly servers: readonly RedisServer[];
  readonly password: string | undefined;
  /** Stops every node and deletes their dirs. */
  stop(): Promise<void>;
  logs(): string;
}

export interface RedisClusterOptions {
  /** Primaries, which split the 16384 slots evenly; default 3. */
  readonly primaries?: number;
  /** Replicas per primary; default 0. */
  readonly replicasPerPrimary?: number;
  /** `requirepass` and `masterauth` of every node. */
  readonly password?: string;
}

/**
 * Starts cluster-enabled servers, joins them with `redis-cli --cluster create` and resolves once
 * every node reports `cluster_state:ok` and every replica is in sync. Node timeout 1 s, so a lost
 * primary fails over fast.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterSet> {
  requireExecutable('redis-cli', INSTALL_COMMAND);
  const primaries = options.primaries ?? 3;
  const replicas = options.replicasPerPrimary ?? 0;
  const { password } = options;
  const nodes = primaries * (1 + replicas);
  // The cluster bus would listen on port + 10000, which may be taken (or past 65535): a free
  // port of its own instead.
  const allPorts = await freePorts(2 * nodes);
  const ports = allPorts.slice(0, nodes);
  const servers: RedisServer[] = [];
  try {
    for (const [i, port] of ports.entries()) {
      const busPort = allPorts[nodes + i] as number;
      servers.push(
        await startServer(
          'Redis cluster node',
          port,
          [
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
            '--repl-diskless-sync-delay',
            '0',
            ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
          ],
          { busPort },
        ),
      );
    }
    await promisify(execFile)(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((port) => `${LOOPBACK}:${port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      // The password through the environment: with -a, redis-cli warns on every run.
      {
        env: { ...process.env, ...(password !== undefined && { REDISCLI_AUTH: password }) },
        timeout: 30_000,
      },
    );
    for (const port of ports) {
      await pollUntil(
        () =>
          probe(port, password, async (client) => {
            const info = String(await client.call('CLUSTER', 'INFO'));
            const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]);
            // A replica that never synced cannot take over: its data would be too old.
            const replication = await client.info('replication');
            const synced =
              replication.includes('role:master') || replication.includes('master_link_status:up');
            return info.includes('cluster_state:ok') && known === ports.length && synced ? true : undefined;
          }),
        { timeoutMs: SETTLE_TIMEOUT_MS, what: `cluster node ${port} to report cluster_state:ok` },
      );
    }
  } catch (err) {
    await stopAll(servers);
    throw err;
  }
  return {
    nodes: ports.map((port) => ({ host: LOOPBACK, port })),
    servers,
    password,
    stop: () => stopAll(servers),
    logs: () => servers.map((s) => s.logs()).join('\n'),
  };
}
