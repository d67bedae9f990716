/** What benchmarks share: throughput figures, the compile step, the results file. */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';

/** One load run: requests per second and latency percentiles in ms. */
export interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

export function mean(list: readonly Figures[]): Figures {
  const avg = (k: keyof Figures) => list.reduce((s, f) => s + f[k], 0) / list.length;
  return { rps: avg('rps'), p50: avg('p50'), p99: avg('p99') };
}

/**
 * Compile src/ and the bench fixtures with tsc into dist/ (tsconfig.bench.json): servers under
 * test run compiled, as `npm start` runs them.
 */
export function compileBench(): void {
  execFileSync(
    process.execPath,
    [new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname, '-p', 'tsconfig.bench.json'],
    { cwd: new URL('..', import.meta.url).pathname, stdio: 'inherit' },
  );
}

/** Write a benchmark's figures to bench/results/<name>.json with the date and Node version. */
export async function writeResults(name: string, quick: boolean, results: unknown): Promise<void> {
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(
    new URL(`${name}.json`, out),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, results }, null, 2)}\n`,
  );
}
