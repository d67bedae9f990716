/**
 * A real Apache Curator service-discovery client (Debian's curator-x-discovery 5.4) for interop
 * tests: a small Java program (`test/support/curator/CuratorProbe.java`) compiled on first use
 * and driven as a long-lived child process, so tests check zkgate against what Curator and
 * Spring Cloud Zookeeper apps actually write and read, not against a reimplementation.
 *
 * The probe runs under the same {@link ServerProcess} registry as the ZooKeeper harness, so a
 * worker that ends or crashes leaves no JVM behind. That registry spawns children with stdin
 * ignored and owns their stdout, so the probe's line protocol runs over a loopback socket
 * instead: this side listens, the probe connects once its Curator client has a session, and
 * that connection doubles as the readiness signal.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ServerProcess, launch, makeTempDir, requireExecutable, requireFile } from './processes.js';

const CURATOR_PACKAGE = 'libcurator-discovery-java';
const JDK_PACKAGE = 'default-jdk-headless';
/**
 * Named explicitly for javac and the missing-package check; the jars' manifests bring the rest
 * (guava, zookeeper-jute, netty, ...). slf4j-nop is the one logging binding: the probe's output
 * is only for diagnosing failures, and ZooKeeper's client logs a lot.
 */
const CLASSPATH = [
  '/usr/share/java/curator-x-discovery.jar',
  '/usr/share/java/curator-framework.jar',
  '/usr/share/java/curator-client.jar',
  '/usr/share/java/zookeeper.jar',
  '/usr/share/java/jackson-databind.jar',
  '/usr/share/java/jackson-core.jar',
  '/usr/share/java/jackson-annotations.jar',
  '/usr/share/java/slf4j-api.jar',
  '/usr/share/java/slf4j-nop.jar',
];
/** A client JVM needs little; C1 only and the serial collector make it start fast on two cores. */
const JVM_FLAGS = ['-Xmx64m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-XX:-UsePerfData'];
const MAIN_CLASS = 'CuratorProbe';
/** Bookworm's JDK; the probe uses records (16+). */
const JAVAC_RELEASE = '17';
/** How long a closed probe may take to exit before it is killed anyway. */
const EXIT_TIMEOUT_MS = 5_000;
const SOURCE_DIR = fileURLToPath(new URL('./curator/', import.meta.url));
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/zkgate-curator/', import.meta.url));
/** JVM start plus Curator's first session; the probe itself gives up on ZooKeeper after 15 s. */
const START_TIMEOUT_MS = 20_000;
/**
 * A reply slower than this means the probe is stuck (e.g. Curator retrying against a dead
 * server); the probe is then killed, since a late reply would be matched to the wrong request.
 */
const REQUEST_TIMEOUT_MS = 20_000;
const LOOPBACK = '127.0.0.1';

/** How Curator registers an instance: `DYNAMIC*` as ephemeral znodes, `STATIC` and `PERMANENT` as persistent ones. */
export type CuratorServiceType = 'DYNAMIC' | 'DYNAMIC_SEQUENTIAL' | 'STATIC' | 'PERMANENT';

/**
 * The Java type of the payload the probe registers:
 * - `spring`: Spring Cloud Zookeeper's `ZookeeperInstance` (`id`, `name`, `metadata`); `payload`
 *   null means `{id: <instance id>, name: <service>, metadata: {}}`;
 * - `map`: a `java.util.HashMap` of the given JSON object (null: empty map);
 * - `none`: no payload (`payload` must be null).
 */
export type CuratorPayloadClass = 'spring' | 'map' | 'none';

/**
 * The payload class of the `ServiceDiscovery` a query reads with, as an app would build it:
 * `object` accepts any payload; `spring` is a Spring Cloud Zookeeper app, whose serializer
 * casts every payload to `ZookeeperInstance` and so fails the whole query on any other one.
 */
export type CuratorQueryView = 'object' | 'spring' | 'map';

/** One `register` request. */
export interface CuratorRegistration {
  service: string;
  id: string;
  address: string;
  port: number;
  sslPort?: number;
  /** Default `DYNAMIC` (ephemeral), as Spring Cloud Zookeeper registers. */
  serviceType?: CuratorServiceType;
  /** A Curator URI template, e.g. `{scheme}://{address}:{port}` (Spring's default). */
  uriSpec?: string;
  payload: Record<string, unknown> | null;
  payloadClass: CuratorPayloadClass;
}

/** One part of Curator's parsed `UriSpec`, as it serializes it. */
export interface CuratorUriSpecPart {
  value: string;
  /** True for a `{placeholder}`. */
  variable: boolean;
}

/** An instance as Curator's `queryForInstances` returned it. */
export interface CuratorInstance {
  id: string;
  name: string;
  address: string | null;
  port: number | null;
  sslPort: number | null;
  /** The payload object Curator deserialized, rendered as plain JSON (for the Spring class: its fields). */
  payload: unknown;
  /** Java class of that payload, e.g. `org.springframework.cloud.zookeeper.discovery.ZookeeperInstance`; null without one. */
  payloadType: string | null;
  registrationTimeUTC: number;
  serviceType: CuratorServiceType | null;
  uriSpec: { parts: CuratorUriSpecPart[] } | null;
  /** `uriSpec` filled in by Curator (`buildUriSpec()`), null without a spec. */
  uri: string | null;
  /** Curator's `enabled`: true when the znode has no such field. */
  enabled: boolean;
}

/** Options of {@link startCuratorProbe}. */
export interface CuratorProbeOptions {
  /**
   * Session timeout the probe's Curator client asks for; default 5000 ms so a {@link
   * CuratorProbe.kill} is followed by expiry soon. The server clamps it to 2x..20x its tickTime.
   */
  sessionTimeoutMs?: number;
}

/** A running probe: one Curator client (one session) with its ServiceDiscovery instances. */
export interface CuratorProbe {
  /** `ServiceDiscovery.registerService`; resolves once the znode is written. */
  register(registration: CuratorRegistration): Promise<void>;
  /** `ServiceDiscovery.unregisterService` of an instance this probe registered. */
  unregister(service: string, id: string): Promise<void>;
  /** `ServiceDiscovery.queryForInstances(service)`, read with the given payload class (default `object`). */
  query(service: string, options?: { as?: CuratorQueryView }): Promise<CuratorInstance[]>;
  /** Closes discovery and client the way an app shuts down: its ephemeral znodes are gone when this resolves. */
  close(): Promise<void>;
  /** SIGKILL, like a crashed app: its ephemerals stay until the session times out. */
  kill(): Promise<void>;
  /** Tail of the JVM's own output (stack traces), for diagnosing failures. */
  logs(): string;
}

/** The probe answered a request with `{"ok":false}`: Curator (or the probe) threw. */
export class CuratorProbeError extends Error {
  override readonly name = 'CuratorProbeError';
}

/** The compiled probe: where its classes are and whether this call had to compile them. */
export interface CompiledProbe {
  classesDir: string;
  /** Milliseconds javac took, or undefined when the classes came from the cache. */
  compileMs: number | undefined;
}

function requireCurator(): void {
  for (const jar of CLASSPATH) requireFile(jar, `apt-get install -y ${CURATOR_PACKAGE}`);
  requireExecutable('java', `apt-get install -y ${JDK_PACKAGE}`);
  requireExecutable('javac', `apt-get install -y ${JDK_PACKAGE}`);
}

async function javaSources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.java'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function run(command: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

let compiled: Promise<CompiledProbe> | undefined;

/**
 * Compiles the probe's Java sources into `node_modules/.cache/zkgate-curator/<hash>/` unless
 * that directory exists, the hash covering sources and classpath, so javac runs once per change
 * rather than once per test file. Several vitest workers may race here: each compiles into its
 * own directory and renames it into place, and a loser simply uses the winner's classes.
 */
export function compileCuratorProbe(): Promise<CompiledProbe> {
  compiled ??= compile().catch((error: unknown) => {
    compiled = undefined;
    throw error;
  });
  return compiled;
}

async function compile(): Promise<CompiledProbe> {
  requireCurator();
  const sources = await javaSources(SOURCE_DIR);
  const hash = createHash('sha256');
  hash.update(`${CLASSPATH.join(':')}\0${JAVAC_RELEASE}\0`);
  for (const file of sources) hash.update(`${relative(SOURCE_DIR, file)}\0`).update(await readFile(file));
  const classesDir = join(CACHE_DIR, hash.digest('hex').slice(0, 16));
  try {
    await readdir(classesDir);
    return { classesDir, compileMs: undefined };
  } catch {
    // Not compiled yet.
  }

  await mkdir(CACHE_DIR, { recursive: true });
  const scratch = join(CACHE_DIR, `tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const started = performance.now();
  const { code, output } = await run('javac', [
    // javac is a JVM too; the same flags nearly halve its time on a cold start.
    ...JVM_FLAGS.map((flag) => `-J${flag}`),
    '--release',
    JAVAC_RELEASE,
    '-encoding',
    'UTF-8',
    // `path`: zookeeper.jar's manifest lists a jline.jar that Debian does not ship.
    '-Xlint:all,-path',
    '-d',
    scratch,
    '-cp',
    CLASSPATH.join(':'),
    ...sources,
  ]);
  const compileMs = Math.round(performance.now() - started);
  if (code !== 0) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`javac failed on ${SOURCE_DIR} (exit ${code}):\n${output}`);
  }
  try {
    await rename(scratch, classesDir);
  } catch (error) {
    // Another worker renamed its identical classes into place first.
    await rm(scratch, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  return { classesDir, compileMs };
}

/** A pending request; replies arrive strictly in request order. */
interface Pending {
  command: string;
  resolve: (reply: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** The protocol over the probe's socket: one request line out, one JSON reply line back, FIFO. */
class ProbeConnection {
  readonly #socket: Socket;
  readonly #pending: Pending[] = [];
  readonly #onStuck: () => void;
  readonly closed: Promise<void>;
  #buffer = '';
  #failure: Error | undefined;

  /** False once the socket closed or the protocol broke: every request would fail. */
  get isOpen(): boolean {
    return this.#failure === undefined;
  }

  constructor(socket: Socket, onStuck: () => void) {
    this.#socket = socket;
    this.#onStuck = onStuck;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.#receive(text));
    // An 'error' is always followed by 'close', which settles everything; listenOnce already
    // swallows it.
    const gone = new Error('the Curator probe closed its connection (it exited or was killed)');
    this.closed = new Promise((resolve) => {
      // The probe may have died between connecting and this constructor.
      if (socket.destroyed) {
        this.#fail(gone);
        resolve();
        return;
      }
      socket.once('close', () => {
        this.#fail(gone);
        resolve();
      });
    });
  }

  request(command: string, body?: unknown): Promise<Record<string, unknown>> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new Error(`the Curator probe did not answer ${command} within ${REQUEST_TIMEOUT_MS} ms`));
        this.#onStuck();
      }, REQUEST_TIMEOUT_MS);
      this.#pending.push({ command, resolve, reject, timer });
      // JSON.stringify never emits a raw line break, so one request is always one line.
      this.#socket.write(body === undefined ? `${command}\n` : `${command} ${JSON.stringify(body)}\n`);
    });
  }

  #receive(text: string): void {
    this.#buffer += text;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      const pending = this.#pending.shift();
      if (!pending) {
        this.#fail(new Error(`unexpected line from the Curator probe: ${line}`));
        this.#onStuck();
        return;
      }
      clearTimeout(pending.timer);
      let reply: Record<string, unknown>;
      try {
        reply = JSON.parse(line) as Record<string, unknown>;
      } catch {
        pending.reject(new Error(`unparsable reply to ${pending.command} from the Curator probe: ${line}`));
        continue;
      }
      if (reply['ok'] === true) pending.resolve(reply);
      else pending.reject(new CuratorProbeError(`${pending.command}: ${String(reply['error'])}`));
    }
  }

  /** Rejects everything pending and every later request with `error`. */
  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}

/** Listens on a free loopback port for exactly one connection: the probe's. */
async function listenOnce(): Promise<{
  port: number;
  accepted: () => Socket | undefined;
  close: () => void;
}> {
  let socket: Socket | undefined;
  const server: Server = createServer((incoming) => {
    if (socket) {
      incoming.destroy();
      return;
    }
    // Until ProbeConnection takes over, an unhandled 'error' (a reset) would crash the worker.
    incoming.on('error', () => undefined);
    socket = incoming;
    server.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: LOOPBACK }, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => socket,
    close: () => server.close(),
  };
}

/**
 * Compiles the probe if needed, starts it against `connectString` with Curator's discovery base
 * path `basePath`, and resolves once its Curator client has a session. Throws naming the Debian
 * package to install when the Curator jars (`libcurator-discovery-java`) or a JDK
 * (`default-jdk-headless`) are missing, and with the JVM's output when it does not start.
 *
 * @example
 * const curator = await startCuratorProbe(zk.connectString);
 * await curator.register({ service: 'orders', id: 'i-1', address: '127.0.0.1', port: 8081,
 *   payloadClass: 'spring', payload: { id: 'orders', name: 'orders', metadata: { zone: 'a' } } });
 * const [instance] = await curator.query('orders', { as: 'spring' });
 * await curator.close();
 */
export async function startCuratorProbe(
  connectString: string,
  basePath = '/services',
  options: CuratorProbeOptions = {},
): Promise<CuratorProbe> {
  const { classesDir } = await compileCuratorProbe();
  const listener = await listenOnce();
  const dir = await makeTempDir('zkgate-curator-');
  const serverProcess = new ServerProcess({
    name: `Curator probe -> ${connectString}${basePath}`,
    command: 'java',
    args: [
      ...JVM_FLAGS,
      '-cp',
      [classesDir, ...CLASSPATH].join(':'),
      MAIN_CLASS,
      connectString,
      basePath,
      String(options.sessionTimeoutMs ?? 5_000),
      String(listener.port),
    ],
    cwd: dir,
    ports: [],
    isReady: () => Promise.resolve(listener.accepted() !== undefined),
    startTimeoutMs: START_TIMEOUT_MS,
  });
  try {
    await launch(serverProcess);
  } finally {
    listener.close();
  }
  const socket = listener.accepted() as Socket;
  const connection = new ProbeConnection(socket, () => void serverProcess.stop());

  return {
    async register(registration) {
      await connection.request('register', registration);
    },
    async unregister(service, id) {
      await connection.request('unregister', { service, id });
    },
    async query(service, queryOptions = {}) {
      const reply = await connection.request('query', { service, as: queryOptions.as ?? 'object' });
      return reply['instances'] as CuratorInstance[];
    },
    async close() {
      try {
        // After kill() or a crash there is nothing left to close but the temp dir.
        if (connection.isOpen) {
          await connection.request('close');
          // The probe exits right after replying; its socket closing says it is gone.
          await Promise.race([connection.closed, delay(EXIT_TIMEOUT_MS, undefined, { ref: false })]);
        }
      } finally {
        await serverProcess.stop();
      }
    },
    async kill() {
      await serverProcess.stop();
      socket.destroy();
    },
    logs: () => serverProcess.logs(),
  };
}
