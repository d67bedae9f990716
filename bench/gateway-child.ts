/**
 * A zkgate gateway in a child process of a benchmark (bench/fixtures/gateway-server.ts, compiled
 * by {@link compileBench}), so the load generator does not share its event loop: started with
 * the settings a benchmark passes, its temp data dir and process removed when it stops or when
 * the benchmark exits without stopping it.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { makeTempDir } from '../test/support/processes.js';
import { firstLine, forgetDir, ownDir, track } from './child-process.js';
import { OPERATOR_ENV } from './operator.js';

const START_TIMEOUT_MS = 60_000;

export interface GatewayChild {
  /** Base URL, `http://127.0.0.1:port`. */
  url: string;
  /** The hot store a gateway runs: `memory` or `redis` (`none` for other servers). */
  hot: string;
  /** Its resident set size now, in MiB (VmRSS from /proc). */
  rssMb(): Promise<number>;
  /** CPU time it used so far, user and system, in seconds (from /proc). */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a gateway with `env` on top of a temp data dir, `LOG_LEVEL=warn` and the operator's
 * token (requests need `MANAGEMENT` from ./operator.js).
 */
export function spawnGateway(
  name: string,
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
): Promise<GatewayChild> {
  return spawnServer(name, 'gateway-server', env, nodeFlags);
}

/**
 * Starts the server of bench/fixtures/<fixture>.ts, which prints `{"url": ...}` on its first line
 * of stdout and stops on SIGTERM or when its stdin closes.
 */
export async function spawnServer(
  name: string,
  fixtureName: string,
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
): Promise<GatewayChild> {
  const fixture = new URL(`../dist/bench/fixtures/${fixtureName}.js`, import.meta.url).pathname;
  const dataDir = await makeTempDir(`zkgate-bench-${name}-`);
  ownDir(dataDir);
  const child = spawn(process.execPath, [...nodeFlags, fixture], {
    // stdin stays open: the gateway shuts down when it closes, i.e. when this process dies.
    stdio: ['pipe', 'pipe', 'inherit'],
    env: {
      PATH: process.env['PATH'] ?? '',
      ZKGATE_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ...OPERATOR_ENV,
      ...env,
    },
  });
  const stopChild = track(child);
  const stop = async (): Promise<void> => {
    await stopChild();
    await rm(dataDir, { recursive: true, force: true });
    forgetDir(dataDir);
  };
  try {
    const started = JSON.parse(await firstLine(child, `${name} gateway`, START_TIMEOUT_MS)) as {
      url: string;
      hot?: string;
    };
    const rssMb = async (): Promise<number> => {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
      if (kb === undefined) throw new Error(`no VmRSS for the ${name} gateway`);
      return Number(kb) / 1024;
    };
    const cpuSeconds = async (): Promise<number> => {
      // Fields 14 and 15 of /proc/<pid>/stat, after the command name in parentheses; clock ticks
      // of 1/100 s, as on every Linux this runs on (USER_HZ).
      const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    };
    return { url: started.url, hot: started.hot ?? 'none', rssMb, cpuSeconds, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
