/**
 * Throw-away ZooKeeper servers (Debian's ZooKeeper 3.8) for tests: a standalone server or an
 * n-node quorum on loopback, each with its own temp dir and free ports.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ServerProcess,
  freePorts,
  launch,
  makeTempDir,
  pollUntil,
  requireExecutable,
  requireFile,
  tcpExchange,
} from './processes.js';

const INSTALL_COMMAND = 'apt-get install -y zookeeper';
/** The jar's manifest Class-Path brings the other dependencies; slf4j-simple is the one logging binding. */
const CLASSPATH = ['/usr/share/java/zookeeper.jar', '/usr/share/java/slf4j-simple.jar'];
const MAIN_CLASS = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';
/** Keeps an idle JVM near 60 MB and starting fast; default flags grow it to ~320 MB. */
const JVM_FLAGS = ['-Xms16m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-XX:-UsePerfData'];
const DEFAULT_HEAP_MB = 128;
const START_TIMEOUT_MS = 20_000;
/** Generous for a loaded two-core machine; a frozen server costs this much per probe. */
const FOUR_LETTER_TIMEOUT_MS = 1_000;
const LOOPBACK = '127.0.0.1';

/** Options shared by {@link startZooKeeper} and {@link startEnsemble}. */
export interface ZkOptions {
  /** The JVM's largest heap, in MiB: 128 holds a test's znodes, not a large registry's. */
  heapMb?: number;
  /**
   * ZooKeeper's tick in ms; default 500 so session-expiry tests are quick. Session timeouts the
   * server grants are clamped to 2x..20x the tick.
   */
  tickTime?: number;
  /** Java system properties passed as `-Dkey=value`, e.g. `{ 'zookeeper.enforceQuota': 'true' }`. */
  jvmProps?: Record<string, string>;
  /** Extra or overriding zoo.cfg keys. */
  extraCfg?: Record<string, string>;
  /**
   * A deployment's zoo.cfg settings to run instead of the tests' defaults (`tickTime` is then
   * ignored). Only where the server lives is substituted: `dataDir`, `dataLogDir` (when set) and
   * `clientPort` become the server's own, and `clientPortAddress` is set to loopback.
   */
  cfg?: Readonly<Record<string, string | number>>;
}

/** One `server.N=host:peerPort:electionPort` line of a quorum's zoo.cfg. */
export interface ZkServerLine {
  id: number;
  host: string;
  /** Followers connect to the leader on this port. */
  peerPort: number;
  /** Leader election traffic. */
  electionPort: number;
}

/** What `srvr` reports; `down` when the server does not answer or is not serving (e.g. during an election). */
export type ZkMode = 'leader' | 'follower' | 'observer' | 'standalone' | 'down';

/** Controls for one ZooKeeper server process. */
export interface ZkServer {
  readonly port: number;
  /** `127.0.0.1:port` of this server alone. */
  readonly connectString: string;
  readonly dataDir: string;
  /** SIGKILL; resolves once the process is dead. */
  kill(): Promise<void>;
  /** Kills the server if it runs, starts it on the same port and data dir, resolves once it serves. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing, like a frozen host. */
  pause(): Promise<void>;
  /** SIGCONT after {@link ZkServer.pause}. */
  resume(): Promise<void>;
  /** Sends a four-letter word (`ruok`, `srvr`, `mntr`, ...) and resolves with the reply; rejects after `timeoutMs` (default 1000). */
  fourLetter(command: string, timeoutMs?: number): Promise<string>;
  mode(): Promise<ZkMode>;
  /** Tail of the server's output (bounded), for diagnosing failures. */
  logs(): string;
}

/** A standalone server from {@link startZooKeeper}. */
export interface ZkStandalone extends ZkServer {
  /** Kills the server and deletes its temp dir. */
  stop(): Promise<void>;
}

/** One member of a {@link ZkEnsemble}. */
export interface ZkEnsembleNode extends ZkServer {
  /** The `myid` of this node. */
  readonly id: number;
}

/** A quorum from {@link startEnsemble}. */
export interface ZkEnsemble {
  /** All nodes, comma-joined, for clients. */
  readonly connectString: string;
  readonly nodes: readonly ZkEnsembleNode[];
  /** Resolves with the node that `srvr` reports as leader once exactly one does. */
  leader(timeoutMs?: number): Promise<ZkEnsembleNode>;
  /** Kills every node and deletes their temp dirs. */
  stop(): Promise<void>;
}

/**
 * Renders a zoo.cfg: one `key=value` line per setting in insertion order, then the quorum's
 * `server.N` lines. Kept separate so a deployment's zoo.cfg can be compared with what the tests run.
 */
export function renderZooCfg(
  settings: Readonly<Record<string, string | number>>,
  servers: readonly ZkServerLine[] = [],
): string {
  const lines = [
    ...Object.entries(settings).map(([key, value]) => `${key}=${value}`),
    ...servers.map((s) => `server.${s.id}=${s.host}:${s.peerPort}:${s.electionPort}`),
  ];
  // A newline inside a key or value would silently smuggle in another setting.
  const bad = lines.find((line) => /[\r\n]/.test(line));
  if (bad !== undefined) throw new Error(`zoo.cfg entry contains a line break: ${JSON.stringify(bad)}`);
  return `${lines.join('\n')}\n`;
}

/** The zoo.cfg settings the harness runs a server with (before the `server.N` lines). */
export function zooCfgSettings(
  options: ZkOptions,
  where: { dataDir: string; dataLogDir: string; clientPort: number },
): Record<string, string | number> {
  if (options.cfg) {
    const { cfg } = options;
    // Spreading over the deployment's settings keeps each key where the deployment has it.
    return {
      ...cfg,
      dataDir: where.dataDir,
      ...('dataLogDir' in cfg ? { dataLogDir: where.dataLogDir } : {}),
      clientPort: where.clientPort,
      clientPortAddress: LOOPBACK,
      ...options.extraCfg,
    };
  }
  return {
    tickTime: options.tickTime ?? 500,
    initLimit: 10,
    syncLimit: 5,
    dataDir: where.dataDir,
    clientPort: where.clientPort,
    clientPortAddress: LOOPBACK,
    // The default limit of 60 per IP is hit quickly when every test client is 127.0.0.1.
    maxClientCnxns: 0,
    // Jetty fails to load in Debian's build; the admin server is not needed anyway.
    'admin.enableServer': 'false',
    // The default whitelist is `srvr` only; tests use ruok, mntr, cons, ...
    '4lw.commands.whitelist': '*',
    forceSync: 'no',
    preAllocSize: 4096,
    ...options.extraCfg,
  };
}

function requireZooKeeper(): void {
  requireExecutable('java', INSTALL_COMMAND);
  for (const jar of CLASSPATH) requireFile(jar, INSTALL_COMMAND);
}

function parseMode(srvr: string): ZkMode {
  const match = /^Mode: (leader|follower|observer|standalone)$/m.exec(srvr);
  return (match?.[1] as ZkMode | undefined) ?? 'down';
}

/**
 * Creates a temp dir (owned by the server from then on) with the config of one server and
 * returns its not yet started process and its handle. `ports` lists every port the server
 * binds so a restart can wait for them to be released.
 */
async function prepareServer(
  options: ZkOptions,
  clientPort: number,
  ports: readonly number[],
  servers: readonly ZkServerLine[] = [],
  myid?: number,
): Promise<{ serverProcess: ServerProcess; server: ZkServer }> {
  const dir = await makeTempDir(myid === undefined ? 'zkgate-zk-' : `zkgate-zk-node${myid}-`);
  const dataDir = join(dir, 'data');
  const dataLogDir = join(dir, 'datalog');
  await mkdir(dataDir, { recursive: true });
  await mkdir(dataLogDir, { recursive: true });
  if (myid !== undefined) await writeFile(join(dataDir, 'myid'), `${myid}\n`);
  const cfgPath = join(dir, 'zoo.cfg');
  await writeFile(
    cfgPath,
    renderZooCfg(zooCfgSettings(options, { dataDir, dataLogDir, clientPort }), servers),
  );

  const fourLetter = (command: string, timeoutMs = FOUR_LETTER_TIMEOUT_MS): Promise<string> =>
    tcpExchange(clientPort, command, { timeoutMs });
  const mode = async (): Promise<ZkMode> => {
    try {
      return parseMode(await fourLetter('srvr'));
    } catch {
      return 'down';
    }
  };
  const props = Object.entries(options.jvmProps ?? {}).map(([key, value]) => `-D${key}=${value}`);
  const serverProcess = new ServerProcess({
    name: `ZooKeeper ${LOOPBACK}:${clientPort}`,
    command: 'java',
    args: [
      ...JVM_FLAGS,
      `-Xmx${options.heapMb ?? DEFAULT_HEAP_MB}m`,
      ...props,
      '-cp',
      CLASSPATH.join(':'),
      MAIN_CLASS,
      cfgPath,
    ],
    cwd: dir,
    ports,
    // `ruok` answers before the server serves (and during elections); `srvr` reports a Mode only once it does.
    isReady: async () => (await mode()) !== 'down',
    startTimeoutMs: START_TIMEOUT_MS,
  });
  const server: ZkServer = {
    port: clientPort,
    connectString: `${LOOPBACK}:${clientPort}`,
    dataDir,
    kill: () => serverProcess.kill(),
    restart: () => serverProcess.restart(),
    pause: () => serverProcess.pause(),
    resume: () => serverProcess.resume(),
    fourLetter,
    mode,
    logs: () => serverProcess.logs(),
  };
  return { serverProcess, server };
}

/**
 * Starts a standalone ZooKeeper on a free loopback port in its own temp dir and resolves once it
 * serves. Throws (with install instructions) when Java or the ZooKeeper jars are missing, and
 * with the server's output tail when it does not serve within 20 s.
 */
export async function startZooKeeper(options: ZkOptions = {}): Promise<ZkStandalone> {
  requireZooKeeper();
  const [port] = (await freePorts(1)) as [number];
  const { serverProcess, server } = await prepareServer(options, port, [port]);
  await launch(serverProcess);
  return { ...server, stop: () => serverProcess.stop() };
}

/**
 * Starts an `n`-node quorum on loopback (each node with its own dir, `myid`, client, peer and
 * election port) and resolves once every node serves and exactly one is leader.
 */
export async function startEnsemble(n = 3, options: ZkOptions = {}): Promise<ZkEnsemble> {
  if (!Number.isInteger(n) || n < 2) throw new Error(`an ensemble needs at least 2 nodes, got ${n}`);
  requireZooKeeper();
  const ports = await freePorts(3 * n);
  const lines: ZkServerLine[] = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    host: LOOPBACK,
    peerPort: ports[3 * i + 1] as number,
    electionPort: ports[3 * i + 2] as number,
  }));
  const prepared = await Promise.all(
    lines.map(async (line, i) => {
      const clientPort = ports[3 * i] as number;
      const ownPorts = [clientPort, line.peerPort, line.electionPort];
      const { serverProcess, server } = await prepareServer(options, clientPort, ownPorts, lines, line.id);
      const node: ZkEnsembleNode = { ...server, id: line.id };
      return { serverProcess, node };
    }),
  );
  const nodes = prepared.map((p) => p.node);

  const leader = (timeoutMs = 10_000): Promise<ZkEnsembleNode> =>
    pollUntil(
      async () => {
        const modes = await Promise.all(nodes.map((node) => node.mode()));
        const leaders = nodes.filter((_, i) => modes[i] === 'leader');
        return leaders.length === 1 ? leaders[0] : undefined;
      },
      { timeoutMs, what: 'exactly one ZooKeeper leader' },
    );
  const stop = async (): Promise<void> => {
    await Promise.all(prepared.map((p) => p.serverProcess.stop()));
  };

  try {
    // Nodes must start together: none serves until a quorum of them runs. All starts settle
    // before cleanup so none spawns a JVM after stop() has run.
    const started = await Promise.allSettled(prepared.map((p) => p.serverProcess.start()));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    await leader();
  } catch (error) {
    await stop();
    throw error;
  }
  return { connectString: nodes.map((node) => node.connectString).join(','), nodes, leader, stop };
}
