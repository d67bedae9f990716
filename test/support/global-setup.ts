/**
 * Vitest globalSetup: gives workers a pid-file directory so servers left behind by a crashed
 * worker (whose own exit hook never ran) are killed when the run ends, and builds the web
 * console (about a second) so the gateways the tests start serve the current one.
 */
import { rm } from 'node:fs/promises';
import { buildConsole } from '../../scripts/build-console.js';
import { PID_DIR_ENV, makeTempDir, reapPidDir } from './processes.js';

/** Creates the pid-file directory, publishes it to workers through the environment, builds the console. */
export async function setup(): Promise<void> {
  process.env[PID_DIR_ENV] = await makeTempDir('zkgate-pids-');
  await buildConsole();
}

/** SIGKILLs every server still listed (if it is still the same process) and removes the directory. */
export async function teardown(): Promise<void> {
  const dir = process.env[PID_DIR_ENV];
  if (!dir) return;
  reapPidDir(dir);
  await rm(dir, { recursive: true, force: true });
  delete process.env[PID_DIR_ENV];
}
