/**
 * A zkgate gateway in a child process of a benchmark (bench/fixtures/gateway-server.ts, compiled
 * by {@link compileBench}), so the load generator does not share its event loop: started with
 * the settings a benchmark passes, its temp data dir and process removed when it stops or when
 * the benchmark exits without stopping it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { makeTempDir } from '../test/support/processes.js';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** Children and data dirs still alive; killed and deleted on exit if the normal cleanup never ran. */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

export interface GatewayChild {
  /** Base URL, `http://127.0.0.1:port`. */
  url: string;
  /** The hot store a gateway runs: `memory` or `redis` (`none` for other servers). */
  hot: string;
  /** Its resident set size now, in MiB (VmRSS from /proc). */
  rssMb(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts a gateway with `env` on top of a temp data dir and `LOG_LEVEL=warn`. */
export function spawnGateway(name: string, env: Record<string, string>): Promise<GatewayChild> {
  return spawnServer(name, 'gateway-server', env);
}

/**
 * Starts the server of bench/fixtures/<fixture>.ts, which prints `{"url": ...}` on its first line
 * of stdout and stops on SIGTERM or when its stdin closes.
 */
export async function spawnServer(
  name: string,
  fixtureName: string,
  env: Record<string, string>,
): Promise<GatewayChild> {
  const fixture = new URL(`../dist/bench/fixtures/${fixtureName}.js`, import.meta.url).pathname;
  const dataDir = await makeTempDir(`zkgate-bench-${name}-`);
  dirs.add(dataDir);
  const child = spawn(process.execPath, [fixture], {
    // stdin stays open: the gateway shuts down when it closes, i.e. when this process dies.
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { PATH: process.env['PATH'] ?? '', ZKGATE_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
    await rm(dataDir, { recursive: true, force: true });
    dirs.delete(dataDir);
  };
  const lines = createInterface({ input: child.stdout! });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} gateway did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      lines.once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} gateway exited with ${signal ?? code} before serving`));
      });
    });
    const started = JSON.parse(line) as { url: string; hot?: string };
    lines.on('line', (l) => process.stderr.write(`[${name} gateway] ${l}\n`));
    const rssMb = async (): Promise<number> => {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
      if (kb === undefined) throw new Error(`no VmRSS for the ${name} gateway`);
      return Number(kb) / 1024;
    };
    return { url: started.url, hot: started.hot ?? 'none', rssMb, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
