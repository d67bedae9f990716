/** Throw-away Redis servers (Debian's redis-server 7) for tests. */
import {
  ServerProcess,
  freePorts,
  launch,
  makeTempDir,
  requireExecutable,
  tcpExchange,
} from './processes.js';

const LOOPBACK = '127.0.0.1';
const PING = '*1\r\n$4\r\nPING\r\n';

/** A Redis server from {@link startRedis}. */
export interface RedisServer {
  /** `redis://127.0.0.1:port` */
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

/**
 * Starts redis-server on a free loopback port without persistence and resolves once it answers
 * PING. Throws (with install instructions) when redis-server is missing.
 */
export async function startRedis(): Promise<RedisServer> {
  requireExecutable('redis-server', 'apt-get install -y redis-server');
  const dir = await makeTempDir('zkgate-redis-');
  const [port] = (await freePorts(1)) as [number];
  const serverProcess = new ServerProcess({
    name: `Redis ${LOOPBACK}:${port}`,
    command: 'redis-server',
    // Config goes on the command line so no redis.conf has to be written.
    args: ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir],
    cwd: dir,
    ports: [port],
    isReady: async () => {
      try {
        const reply = await tcpExchange(port, PING, {
          timeoutMs: 500,
          isComplete: (r) => r.endsWith('\r\n'),
        });
        return reply.startsWith('+PONG');
      } catch {
        return false;
      }
    },
    startTimeoutMs: 10_000,
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
