/**
 * The gateway as a child process (`src/server.ts` through tsx), for tests of process behaviour:
 * signals, crashes, restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePorts, pollUntil } from './processes.js';
import { BOOTSTRAP_ENV } from './tokens.js';

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

const SERVER = new URL('../../src/server.ts', import.meta.url).pathname;

/** Start `src/server.ts` as `npm start` would, on a free loopback port, with `env` added. */
export async function startGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const [port] = await freePorts(1);
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      ...BOOTSTRAP_ENV,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/** Poll `/readyz` until 200 (its body) or fail with the process output. */
export async function ready(gateway: GatewayProcess): Promise<Record<string, unknown>> {
  return pollUntil(
    async () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited:\n${gateway.output()}`);
      const res = await fetch(`${gateway.url}/readyz`).catch(() => undefined);
      return res?.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
    },
    // A restart after kill -9 first waits out the dead process's lock lease (up to 10 s).
    { timeoutMs: 30_000, what: 'gateway /readyz' },
  );
}
