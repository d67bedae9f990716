/**
 * Child-process plumbing shared by the real-server test harnesses (ZooKeeper, Redis):
 * spawning with a bounded log tail, readiness polling, free loopback ports, and a
 * process-wide registry that SIGKILLs leftovers even when a test or worker dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Environment variable naming a directory where every spawned server leaves a pid file, so
 * the vitest global teardown can kill servers of a worker that crashed before its own
 * `exit` hook ran.
 */
export const PID_DIR_ENV = 'ZKGATE_TEST_PIDDIR';

const LOOPBACK = '127.0.0.1';
const LOG_LIMIT_CHARS = 64 * 1024;
const ERROR_TAIL_LINES = 40;

/**
 * Throws unless `name` is an executable on PATH; the message tells how to install it, because
 * the real-server tests must fail loudly rather than be skipped.
 */
export function requireExecutable(name: string, installCommand: string): void {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const found = dirs.some((dir) => {
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) {
    throw new Error(`${name} not found on PATH; install it with: ${installCommand}`);
  }
}

/** Throws unless `path` is readable; the message tells how to install it. */
export function requireFile(path: string, installCommand: string): void {
  try {
    accessSync(path, fsConstants.R_OK);
  } catch {
    throw new Error(`${path} not found; install it with: ${installCommand}`);
  }
}

/** Creates a fresh directory under the OS temp dir. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: LOOPBACK }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Returns `count` distinct free loopback ports. All are held open until every one is picked,
 * so the kernel cannot hand out the same port twice within one call.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0));
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('unexpected address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

async function portIsFree(port: number): Promise<boolean> {
  try {
    await close(await listen(port));
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls `probe` until it returns something other than `undefined`, or throws once `timeoutMs`
 * has passed. For conditions that have no event to await (a port answering, a leader elected).
 * An exception thrown by `probe` ends the polling.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    }
    await delay(options.intervalMs ?? 50);
  }
}

/**
 * Sends `request` to 127.0.0.1:`port` and resolves with everything received until the server
 * closes the connection or `isComplete` accepts the reply. Rejects on connection errors and
 * when the whole exchange takes longer than `timeoutMs` — a frozen server still completes the
 * TCP handshake (the kernel does it), so only a reply timeout detects it.
 */
export function tcpExchange(
  port: number,
  request: string,
  options: { timeoutMs: number; isComplete?: (reply: string) => boolean },
): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = createConnection({ host: LOOPBACK, port });
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply);
    };
    const timer = setTimeout(
      () =>
        settle(
          new Error(`no reply to ${JSON.stringify(request)} on port ${port} within ${options.timeoutMs} ms`),
        ),
      options.timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (options.isComplete?.(reply)) settle();
    });
    socket.on('end', () => settle());
    socket.on('error', (error) => settle(error));
  });
}

interface ProcStat {
  state: string;
  startTime: string;
}

/** Reads state and start time (clock ticks since boot) of `pid`, or `undefined` if it is gone. */
function readProcStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses, so fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  return state === undefined || startTime === undefined ? undefined : { state, startTime };
}

/**
 * True when `pid` no longer runs the process that started at `startTime`. A zombie (state Z)
 * counts as dead: a SIGKILLed JVM can sit in Z for seconds before it is reaped, yet it no
 * longer serves anything.
 */
function isDead(pid: number, startTime: string): boolean {
  const stat = readProcStat(pid);
  return stat === undefined || stat.startTime !== startTime || stat.state === 'Z';
}

/** SIGKILLs `pid` only if it is still the process that started at `startTime`, never a reused pid. */
function killIfSame(pid: number, startTime: string): void {
  if (isDead(pid, startTime)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Exited between the check and the kill: nothing left to do.
  }
}

/** A live server process and the temp dir it owns; also the JSON content of its pid file. */
interface Owned {
  pid: number;
  startTime: string;
  dir: string;
}

const registry = new Map<number, { owned: Owned; pidFile: string | undefined }>();
let hooksInstalled = false;

function removePidFile(pidFile: string | undefined): void {
  if (pidFile === undefined) return;
  try {
    unlinkSync(pidFile);
  } catch {
    // Already reaped by the global teardown.
  }
}

/** Kills the server unless its pid has been reused, and deletes its dir. */
function killAndRemove(owned: Owned): void {
  killIfSame(owned.pid, owned.startTime);
  rmSync(owned.dir, { recursive: true, force: true });
}

/** Synchronous: it runs from the 'exit' hook, where no further event-loop turn happens. */
function killRegistered(): void {
  for (const { owned, pidFile } of registry.values()) {
    killAndRemove(owned);
    removePidFile(pidFile);
  }
  registry.clear();
}

/** Records a just-spawned server (and a pid file, so a crashed worker's servers can be found); returns its start time. */
function register(pid: number, dir: string): string {
  const stat = readProcStat(pid);
  if (stat === undefined) throw new Error(`process ${pid} vanished right after spawn`);
  const owned: Owned = { pid, startTime: stat.startTime, dir };
  const pidDir = process.env[PID_DIR_ENV];
  let pidFile: string | undefined;
  if (pidDir) {
    mkdirSync(pidDir, { recursive: true });
    pidFile = join(pidDir, `${pid}.pid`);
    writeFileSync(pidFile, JSON.stringify(owned));
  }
  registry.set(pid, { owned, pidFile });
  if (!hooksInstalled) {
    installHooks();
    hooksInstalled = true;
  }
  return owned.startTime;
}

/**
 * Kills registered servers when this process ends without afterAll having run. 'exit' alone is
 * not enough: vitest ends its fork workers with SIGTERM, and a signal death skips 'exit'
 * listeners. After cleanup the signal is re-raised so the process still dies of it, unless
 * someone else listens for it.
 */
function installHooks(): void {
  process.on('exit', killRegistered);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killRegistered();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** The server exited while its owner still runs: its dir stays for a restart. */
function unregister(pid: number): void {
  removePidFile(registry.get(pid)?.pidFile);
  registry.delete(pid);
}

/**
 * For pid files under `dir` (written by a worker that may have crashed): SIGKILLs each listed
 * process whose start time still matches, deletes its temp dir and the pid file.
 */
export function reapPidDir(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.endsWith('.pid'))) {
    const file = join(dir, name);
    let owned: Owned | undefined;
    try {
      owned = JSON.parse(readFileSync(file, 'utf8')) as Owned;
    } catch {
      // Torn write from a worker killed mid-register: nothing trustworthy to act on.
    }
    if (owned) killAndRemove(owned);
    removePidFile(file);
  }
}

/** How to launch one server and tell when it serves. */
export interface ServerProcessSpec {
  /** Used in error messages, e.g. `ZooKeeper 127.0.0.1:40123`. */
  name: string;
  command: string;
  args: readonly string[];
  /** Working directory, owned by this server: {@link ServerProcess.stop} deletes it. */
  cwd: string;
  /**
   * Every port the server binds. `start()` waits until they are bindable, so a restart does
   * not lose a race against the sockets of the process it replaces.
   */
  ports: readonly number[];
  /** Resolves true once the server answers requests; must resolve false (not throw) before that. */
  isReady: () => Promise<boolean>;
  /** Budget for `start()`: waiting for free ports plus waiting for readiness. */
  startTimeoutMs: number;
}

/**
 * One restartable server process. Output (stdout and stderr interleaved) is kept as a bounded
 * tail across restarts so failures can show what the server said.
 */
export class ServerProcess {
  readonly #spec: ServerProcessSpec;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #startTime = '';
  #log = '';

  constructor(spec: ServerProcessSpec) {
    this.#spec = spec;
  }

  /** Output tail, bounded to the last 64 KiB. */
  logs(): string {
    return this.#log;
  }

  #append(text: string): void {
    this.#log = (this.#log + text).slice(-LOG_LIMIT_CHARS);
  }

  #failure(message: string): Error {
    const tail = this.#log.split('\n').slice(-ERROR_TAIL_LINES).join('\n');
    return new Error(`${this.#spec.name}: ${message}\n--- last output ---\n${tail}`);
  }

  /** Spawns the server and resolves once it serves; on failure kills it and rejects with its output tail. */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`${this.#spec.name} is already running`);
    const { command, args, cwd, ports, isReady, startTimeoutMs } = this.#spec;
    const deadline = Date.now() + startTimeoutMs;
    const remaining = (): number => Math.max(0, deadline - Date.now());

    try {
      await pollUntil(
        async () => ((await Promise.all(ports.map(portIsFree))).every(Boolean) ? true : undefined),
        {
          timeoutMs: remaining(),
          what: `ports ${ports.join(', ')} to be free`,
        },
      );
    } catch (error) {
      throw this.#failure((error as Error).message);
    }

    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) {
      // Spawn failed (e.g. ENOENT); the reason arrives as an 'error' event.
      const reason = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw this.#failure(`could not spawn ${command}: ${reason.message}`);
    }
    const pid = child.pid;
    this.#child = child;
    this.#startTime = register(pid, cwd);
    this.#append(`[harness] started ${command} pid ${pid}\n`);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => this.#append(text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => this.#append(text));
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        unregister(pid);
        this.#append(`[harness] pid ${pid} exited (${signal ?? `code ${code}`})\n`);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });

    try {
      await pollUntil(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`exited before serving (${child.signalCode ?? `code ${child.exitCode}`})`);
          }
          return (await isReady()) ? true : undefined;
        },
        { timeoutMs: remaining(), what: 'it to serve' },
      );
    } catch (error) {
      await this.kill();
      throw this.#failure((error as Error).message);
    }
  }

  /** SIGKILLs the server and resolves once it is dead (exited, or a zombie). No-op when not running. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child?.pid) return;
    const pid = child.pid;
    const startTime = this.#startTime;
    child.kill('SIGKILL');
    await Promise.race([
      this.#exited,
      pollUntil(() => (isDead(pid, startTime) ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 10,
        what: `pid ${pid} to die`,
      }),
    ]);
    // A zombie is not reaped yet, but the next start() must be able to spawn a successor.
    if (this.#child === child) this.#child = undefined;
  }

  /** Kills the server and deletes its working directory. */
  async stop(): Promise<void> {
    await this.kill();
    await rm(this.#spec.cwd, { recursive: true, force: true });
  }

  /** Kills the server if it runs, then starts it again with the same command line. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Freezes the server with SIGSTOP; resolves once the kernel reports it stopped. */
  pause(): Promise<void> {
    return this.#signalAndAwaitState('SIGSTOP', (state) => state === 'T');
  }

  /** Thaws a paused server with SIGCONT; resolves once it runs again. */
  resume(): Promise<void> {
    return this.#signalAndAwaitState('SIGCONT', (state) => state !== 'T');
  }

  async #signalAndAwaitState(signal: NodeJS.Signals, reached: (state: string) => boolean): Promise<void> {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error(`${this.#spec.name} is not running`);
    process.kill(pid, signal);
    await pollUntil(() => (reached(readProcStat(pid)?.state ?? 'gone') ? true : undefined), {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: `${this.#spec.name} to handle ${signal}`,
    });
  }
}

/**
 * First start of a fresh server: on failure it is also stopped, so nothing (process or temp
 * dir) is left behind for a caller that never got a handle.
 */
export async function launch(server: ServerProcess): Promise<void> {
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    throw error;
  }
}
