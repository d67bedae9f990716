/**
 * Cached config reads: `GET /v1/config/{ns}` (200 and the 304 path) against a bare fastify route
 * returning the same bytes, the ceiling for any fastify app, in one run. Servers run in a child
 * process, compiled by tsc as `npm start` runs them (tsx's transpiled output is measurably
 * slower: it wraps every closure to keep its name); autocannon drives 100 connections on loopback. Rounds alternate so both see the same
 * machine load. Prints req/s, p50/p99 latency and the ratio; writes bench/results/config-read.json.
 *
 *   npx tsx bench/config-read.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { compileBench, mean, writeResults, type Figures } from './results.js';

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 3 : 10;
const ROUNDS = quick ? 1 : 2;
const CONNECTIONS = 100;

async function load(url: string, headers: Record<string, string> = {}): Promise<Figures> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  if (result.non2xx > 0 && !headers['if-none-match'])
    throw new Error(`${url}: ${result.non2xx} non-2xx answers`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

async function main(): Promise<void> {
  compileBench();
  const fixture = new URL('../dist/bench/fixtures/read-servers.js', import.meta.url).pathname;
  const results: Record<string, unknown> = {};
  for (const size of [1024, 65536]) {
    const child = spawn(process.execPath, [fixture, String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`servers exited with ${code}`)));
      });
      const urls = JSON.parse(line) as { zkgate: string; bare: string };
      const runs: Record<'bare' | 'zkgate' | 'zkgate304', Figures[]> = {
        bare: [],
        zkgate: [],
        zkgate304: [],
      };
      await load(urls.zkgate); // warm-up, not counted
      for (let r = 0; r < ROUNDS; r++) {
        runs.bare.push(await load(urls.bare));
        runs.zkgate.push(await load(urls.zkgate));
        runs.zkgate304.push(await load(urls.zkgate, { 'if-none-match': '"1"' }));
      }
      const bare = mean(runs.bare);
      const zkgate = mean(runs.zkgate);
      const notModified = mean(runs.zkgate304);
      results[`${size}B`] = {
        bare,
        zkgate,
        zkgate304: notModified,
        ratio: zkgate.rps / bare.rps,
        ratio304: notModified.rps / bare.rps,
      };
      const row = (name: string, f: Figures) =>
        `  ${name.padEnd(22)} ${Math.round(f.rps).toString().padStart(7)} req/s  p50 ${f.p50} ms  p99 ${f.p99} ms`;
      console.log(
        `config read, ${size}-byte document, ${CONNECTIONS} connections, ${DURATION_S}s x ${ROUNDS}`,
      );
      console.log(row('bare fastify route', bare));
      console.log(row('zkgate GET (cached)', zkgate));
      console.log(row('zkgate GET -> 304', notModified));
      console.log(
        `  ratio zkgate/bare ${(zkgate.rps / bare.rps).toFixed(2)}, 304/bare ${(notModified.rps / bare.rps).toFixed(2)}`,
      );
    } finally {
      child.kill('SIGTERM');
    }
  }
  await writeResults('config-read', quick, results);
}

await main();
