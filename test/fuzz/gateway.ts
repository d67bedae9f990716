/**
 * The gateway under fuzz: `src/server.ts` in a child process (so a crash is the process dying,
 * not the test worker), with the embedded store in a data directory of its own, on a loopback
 * port. Settings keep background writes and waits out of the way of the fuzz property: leases
 * are never evicted during a run, deletions are remembered for the default 7 days, long-polls
 * hold at most 1 s.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ready, startGateway, type GatewayProcess } from '../support/gateway-process.js';
import { PID_DIR_ENV } from '../support/processes.js';
import { StoreLogTail, type StoreLayout } from './store-log.js';

export const LAYOUT: StoreLayout = { root: '/zkgate', servicesPath: '/services' };

const live = new Set<GatewayProcess>();
let exitHook = false;

/**
 * Lists the gateway in vitest's pid directory (the format `reapPidDir` reads), so that the global
 * teardown kills it and removes its data even if this worker dies before its own cleanup.
 */
async function listPid(pid: number, dir: string): Promise<string | undefined> {
  const pidDir = process.env[PID_DIR_ENV];
  if (!pidDir) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const file = join(pidDir, `${pid}.pid`);
    await writeFile(file, JSON.stringify({ pid, startTime, dir }));
    return file;
  } catch {
    return undefined;
  }
}

export class FuzzGateway {
  private constructor(
    private readonly process: GatewayProcess,
    readonly dataDir: string,
    readonly port: number,
    readonly tail: StoreLogTail,
    private readonly pidFile: string | undefined,
  ) {}

  static async start(): Promise<FuzzGateway> {
    const dataDir = await mkdtemp(join(tmpdir(), 'zkgate-fuzz-'));
    const gateway = await startGateway({
      ZKGATE_DATA_DIR: dataDir,
      ZKGATE_ZK: '',
      ZKGATE_REDIS_URL: '',
      ZKGATE_ROOT: LAYOUT.root,
      ZKGATE_SERVICES_PATH: LAYOUT.servicesPath,
      ZKGATE_LONGPOLL_MAX_WAIT_MS: '1000',
      ZKGATE_EVICTION_GRACE_MS: '86400000',
      ZKGATE_SHUTDOWN_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'warn',
    });
    live.add(gateway);
    const pidFile = gateway.child.pid === undefined ? undefined : await listPid(gateway.child.pid, dataDir);
    if (!exitHook) {
      exitHook = true;
      // A runner that dies must not leave a gateway behind.
      process.on('exit', () => {
        for (const g of live) g.child.kill('SIGKILL');
      });
    }
    try {
      await ready(gateway);
    } catch (err) {
      gateway.child.kill('SIGKILL');
      live.delete(gateway);
      if (pidFile) await unlink(pidFile).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
      throw err;
    }
    // Only instance znodes' data is needed (to tell health-check verdicts from other writes).
    const tail = new StoreLogTail(dataDir, (path) => path.startsWith(`${LAYOUT.servicesPath}/`));
    // What the gateway wrote while starting (layout, membership, election) is the baseline.
    await tail.poll();
    return new FuzzGateway(gateway, dataDir, Number(new URL(gateway.url).port), tail, pidFile);
  }

  get exited(): boolean {
    return this.process.child.exitCode !== null || this.process.child.signalCode !== null;
  }

  /** How it ended (exit code or signal), or undefined while it runs. */
  get exitStatus(): string | undefined {
    const { exitCode, signalCode } = this.process.child;
    return signalCode ?? (exitCode === null ? undefined : `exit code ${exitCode}`);
  }

  /** What the gateway printed from `offset` on (see {@link outputLength}): a crash's stack trace, errors logged for 5xx. */
  outputSince(offset: number): string {
    return this.process.output().slice(offset);
  }

  get outputLength(): number {
    return this.process.output().length;
  }

  /** SIGTERM, then SIGKILL if it does not exit (a frozen event loop never handles SIGTERM). */
  async stop(): Promise<void> {
    const { child } = this.process;
    if (!this.exited) {
      child.kill('SIGTERM');
      await Promise.race([this.process.exited, delay(4000)]);
      if (!this.exited) {
        child.kill('SIGKILL');
        await this.process.exited;
      }
    }
    await this.forget();
  }

  /** SIGKILL at once (the gateway is frozen), then remove its data. */
  async kill(): Promise<void> {
    if (!this.exited) {
      this.process.child.kill('SIGKILL');
      await this.process.exited;
    }
    await this.forget();
  }

  private async forget(): Promise<void> {
    live.delete(this.process);
    if (this.pidFile) await unlink(this.pidFile).catch(() => undefined);
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
