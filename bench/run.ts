/**
 * `npm run bench [-- --quick] [--only config,propagation,...] [--cpu-prof]`: every side-by-side
 * benchmark in turn, each in a process of its own, then one summary of the headline ratios,
 * written with the machine and versions to bench/results/summary.json and summary.md (the table
 * BENCHMARKS.md quotes). `scanner` (the health-check capacity bench) runs only when named.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { compileBench, type Headline } from './results.js';

const SCENARIOS = {
  config: { file: 'config-read.ts', results: 'config-read' },
  propagation: { file: 'propagation.ts', results: 'propagation' },
  registry: { file: 'registry.ts', results: 'registry' },
  memory: { file: 'memory.ts', results: 'memory' },
  store: { file: 'coordination-store.ts', results: 'coordination-store' },
  scanner: { file: 'scanner.ts', results: 'scanner' },
  auth: { file: 'authorization.ts', results: 'authorization' },
  hotstore: { file: 'hotstore.ts', results: 'hotstore' },
  big: { file: 'big-service.ts', results: 'big-service' },
  large: { file: 'large-registry.ts', results: 'large-registry' },
} as const;
type Name = keyof typeof SCENARIOS;
const DEFAULT: readonly Name[] = [
  'config',
  'propagation',
  'registry',
  'memory',
  'store',
  'auth',
  'hotstore',
  'big',
  'large',
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : [...DEFAULT];
const unknown = only.filter((n) => !(n in SCENARIOS));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}
const passed = args.filter((a) => a === '--quick' || a === '--cpu-prof');
const results = new URL('./results/', import.meta.url);

function version(command: string, args: string[], pattern: RegExp): string {
  try {
    return (
      pattern.exec(
        execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      )?.[1] ?? '?'
    );
  } catch {
    return 'not installed';
  }
}

function machine(): Record<string, string> {
  return {
    cpu: `${cpus()[0]?.model ?? '?'} x ${cpus().length}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    zookeeper: version('dpkg-query', ['-W', '-f', '${Version}', 'zookeeper'], /^(.+)$/),
    etcd: version('etcd', ['--version'], /etcd Version: (\S+)/),
    redis: version('redis-server', ['--version'], /v=(\S+)/),
    kernel: version('uname', ['-r'], /^(\S+)/),
  };
}

function run(name: Name): Promise<number> {
  const file = new URL(SCENARIOS[name].file, import.meta.url).pathname;
  // The soft open-file limit raised to the hard one for the scenario and every process it starts
  // (propagation holds a gateway's worth of streams); the product itself never touches it.
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'ulimit -n "$(ulimit -Hn)" && exec "$@"',
      'sh',
      process.execPath,
      '--import',
      'tsx',
      file,
      ...passed,
    ],
    { stdio: 'inherit' },
  );
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1))));
}

const fmt = (n: number): string => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(1));

function table(headlines: readonly Headline[]): string {
  const rows = headlines.map(
    (h) =>
      `| ${h.scenario} | ${h.what} | ${fmt(h.zkgate)} ${h.unit} | ${h.baseline.name}: ${fmt(h.baseline.value)} | ${h.ratio.toFixed(2)} | ${h.target ? `${h.target.text}: ${h.target.met ? 'met' : '**not met**'}` : ''} |`,
  );
  return [
    '| scenario | zkgate figure | zkgate | baseline | ratio | target |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  compileBench();
  const failed: string[] = [];
  const headlines: Headline[] = [];
  const seconds: Record<string, number> = {};
  for (const name of only as Name[]) {
    console.log(`\n=== ${name} ===`);
    const t = Date.now();
    const code = await run(name);
    seconds[name] = Math.round((Date.now() - t) / 1000);
    if (code !== 0) {
      failed.push(name);
      continue;
    }
    const written = JSON.parse(
      await readFile(new URL(`${SCENARIOS[name].results}.json`, results), 'utf8'),
    ) as {
      headlines?: Headline[];
    };
    headlines.push(...(written.headlines ?? []));
  }
  const summary = {
    date: new Date().toISOString(),
    quick,
    machine: machine(),
    seconds: { ...seconds, total: Math.round((Date.now() - started) / 1000) },
    failed,
    headlines,
  };
  await writeFile(new URL('summary.json', results), `${JSON.stringify(summary, null, 2)}\n`);
  const md = `${table(headlines)}\n\n${Object.entries(summary.machine)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')}; ${quick ? 'quick' : 'full'} run of ${summary.date}, ${summary.seconds.total} s\n`;
  await writeFile(new URL('summary.md', results), md);
  console.log(`\n=== summary (${summary.seconds.total} s; bench/results/summary.md) ===`);
  for (const h of headlines)
    console.log(
      `  ${h.scenario.padEnd(12)} ${h.what.padEnd(58)} ${fmt(h.zkgate).padStart(9)} ${h.unit.padEnd(6)} vs ${h.baseline.name} ${fmt(h.baseline.value)}: x${h.ratio.toFixed(2)}${h.target ? `  [${h.target.text}: ${h.target.met ? 'met' : 'NOT MET'}]` : ''}`,
    );
  if (failed.length > 0) {
    console.error(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
