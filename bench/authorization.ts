/**
 * The cost of authorization on the hottest path, a cached config read (`GET /v1/config/{ns}`,
 * 1 KiB, 200 and 304): a gateway with auth on, read with an application's token (a prefix policy
 * among other teams' rules, a deny, the rate limiter counting), against the same gateway with
 * `ZKGATE_AUTH=off`, in one run. Both gateways live in one child process, compiled as `npm start`
 * runs; rounds alternate so both see the same machine load. Target: auth on serves at least 0.9
 * of auth off. Writes bench/results/authorization.json.
 *
 *   npm run bench -- --only auth [--quick]
 */
import type autocannon from 'autocannon';
import {
  compileBench,
  httpLoad,
  mean,
  startFixture,
  writeResults,
  type Figures,
  type Headline,
} from './results.js';

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 3 : 8;
const ROUNDS = quick ? 2 : 3;
const CONNECTIONS = 100;
const TARGET = 0.9;

interface Servers {
  on: string;
  off: string;
  token: string;
}

const load = (options: autocannon.Options, expect: 200 | 304): Promise<Figures> =>
  httpLoad({ connections: CONNECTIONS, duration: DURATION_S, ...options }, expect);

async function main(): Promise<void> {
  compileBench();
  const fixture = new URL('../dist/bench/fixtures/auth-servers.js', import.meta.url).pathname;
  const { servers, stop } = await startFixture<Servers>(fixture, []);
  const results: Record<string, unknown> = {};
  const headlines: Headline[] = [];
  try {
    const authorization = `Bearer ${servers.token}`;
    const etag = (await fetch(servers.on, { headers: { authorization } })).headers.get('etag') ?? '';
    const contenders = {
      on: () => load({ url: servers.on, headers: { authorization } }, 200),
      off: () => load({ url: servers.off }, 200),
      on304: () => load({ url: servers.on, headers: { authorization, 'if-none-match': etag } }, 304),
      off304: () => load({ url: servers.off, headers: { 'if-none-match': etag } }, 304),
    };
    type Contender = keyof typeof contenders;
    const runs: Record<Contender, Figures[]> = { on: [], off: [], on304: [], off304: [] };
    await contenders.on(); // warm-up of both code paths, not counted
    await contenders.off();
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of Object.keys(contenders) as Contender[]) runs[c].push(await contenders[c]());
    }
    const figures = Object.fromEntries(
      (Object.keys(runs) as Contender[]).map((c) => [c, mean(runs[c])]),
    ) as Record<Contender, Figures>;
    Object.assign(results, figures);
    console.log(
      `authorization cost, cached 1 KiB read, ${CONNECTIONS} in flight, ${DURATION_S}s x ${ROUNDS}`,
    );
    for (const [on, off, what] of [
      ['on', 'off', 'GET 200'],
      ['on304', 'off304', 'GET 304'],
    ] as const) {
      const ratio = figures[on].rps / figures[off].rps;
      console.log(
        `  ${what}: auth on ${Math.round(figures[on].rps)} req/s (p99 ${figures[on].p99.toFixed(1)} ms), ` +
          `off ${Math.round(figures[off].rps)} req/s (p99 ${figures[off].p99.toFixed(1)} ms): x${ratio.toFixed(2)}`,
      );
      headlines.push({
        scenario: 'authorization',
        what: `cached ${what}, 1 KiB, token with prefix rules`,
        unit: 'req/s',
        zkgate: figures[on].rps,
        baseline: { name: 'the same gateway with ZKGATE_AUTH=off', value: figures[off].rps },
        ratio,
        target: { text: `>= ${TARGET} of auth off`, met: ratio >= TARGET },
      });
    }
  } finally {
    await stop();
  }
  await writeResults('authorization', quick, results, headlines);
}

await main();
