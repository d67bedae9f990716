/**
 * Server processes a benchmark starts: each is killed, and each temp dir deleted, when the
 * benchmark exits without stopping them; a stop is SIGTERM with SIGKILL after a grace; a start
 * completes with the first line the server prints (its address), after which its output goes to
 * stderr with its name.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const STOP_TIMEOUT_MS = 15_000;

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Deletes `dir` on exit unless {@link forgetDir} was called for it first. */
export function ownDir(dir: string): void {
  dirs.add(dir);
}

export function forgetDir(dir: string): void {
  dirs.delete(dir);
}

/** Tracks `child` until stopped; returns its stop (SIGTERM, SIGKILL after 15 s; idempotent). */
export function track(child: ChildProcess): () => Promise<void> {
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
  };
}

/**
 * The first line `child` prints on stdout; rejects if it exits first or prints nothing within
 * `timeoutMs`. Its later lines go to stderr, prefixed with `name`.
 */
export async function firstLine(child: ChildProcess, name: string, timeoutMs: number): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    lines.once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${signal ?? code} before serving`));
    });
  });
  lines.on('line', (l) => process.stderr.write(`[${name}] ${l}\n`));
  return line;
}
