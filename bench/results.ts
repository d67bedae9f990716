/** What benchmarks share: throughput figures, the compile step, the results file, headlines. */
import { execFileSync, spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { createInterface } from 'node:readline';
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
 * One line of the summary `npm run bench` prints and BENCHMARKS.md tabulates: a zkgate figure,
 * the baseline it is compared with in the same run, their ratio, and the target if any.
 */
export interface Headline {
  scenario: string;
  /** What is measured, e.g. `cached GET, 1 KiB`. */
  what: string;
  unit: string;
  zkgate: number;
  baseline: { name: string; value: number };
  /** zkgate / baseline. */
  ratio: number;
  /** The target as written in the issue, and whether this run met it. */
  target?: { text: string; met: boolean };
}

/** Sets ZKGATE_BENCH_COMPILED once compiled, so the scripts `npm run bench` runs in turn skip it. */
const COMPILED_ENV = 'ZKGATE_BENCH_COMPILED';

/**
 * Compile src/ and the bench fixtures with tsc into dist/ (tsconfig.bench.json): servers under
 * test run compiled, as `npm start` runs them.
 */
export function compileBench(): void {
  if (process.env[COMPILED_ENV] === '1') return;
  execFileSync(
    process.execPath,
    [new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname, '-p', 'tsconfig.bench.json'],
    { cwd: new URL('..', import.meta.url).pathname, stdio: 'inherit' },
  );
  process.env[COMPILED_ENV] = '1';
}

/**
 * Write a benchmark's figures to bench/results/<name>.json with the date, Node version and the
 * headlines `npm run bench` summarises.
 */
export async function writeResults(
  name: string,
  quick: boolean,
  results: unknown,
  headlines: readonly Headline[] = [],
): Promise<void> {
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(
    new URL(`${name}.json`, out),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, headlines, results }, null, 2)}\n`,
  );
}

/**
 * One autocannon run (100 connections unless `options` says otherwise). Any answer other than
 * `expect` (a 2xx, or a 3xx for 304), a connection error or a timeout fails the benchmark.
 */
export async function httpLoad(options: autocannon.Options, expect: 200 | 304 = 200): Promise<Figures> {
  const result = await autocannon({ connections: 100, ...options });
  const wrong = expect === 200 ? result.non2xx : result.requests.total - result['3xx'];
  if (wrong > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${options.title ?? options.url}: ${wrong} answers other than ${expect}, ${result.errors} errors, ` +
        `${result.timeouts} timeouts`,
    );
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Percentile `p` (0..100) of `sorted`, ascending; nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/**
 * Keeps `inFlight` calls of `op` outstanding for `durationMs` and returns calls per second and
 * the p50/p99 latency in ms: the closed loop autocannon runs over HTTP, for clients that are not
 * HTTP (ZooKeeper's protocol). Any rejected call fails the run.
 */
export async function closedLoop(
  inFlight: number,
  durationMs: number,
  op: (n: number) => Promise<unknown>,
): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t = performance.now();
      await op(next++);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return { rps: latencies.length / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/**
 * Start a compiled server fixture in a process of its own (so the load generator does not share
 * its event loop); resolves with the JSON line it prints once serving, and a stop that sends
 * SIGTERM and waits for the exit.
 */
export async function startFixture<T>(
  fixture: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; nodeFlags?: readonly string[] } = {},
): Promise<{ servers: T; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), fixture, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`${fixture} exited with ${code}`)));
    });
    return { servers: JSON.parse(line) as T, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
