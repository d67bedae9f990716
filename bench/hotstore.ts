/**
 * The Redis hot store on a Redis Cluster of 3 primaries beside one Redis server, in one run:
 * lease renewals per second (`renewLease` with a load report, 100 in flight, 1000 instances over
 * 100 services so every shard of the Cluster takes its share), and `generation()` one call at a
 * time (concurrent calls share one check), which reads one marker on one server and every
 * shard's (16) on a Cluster: the registry calls it with every lease read. Batched renewals
 * (`renewLeases`, 100 per call over 100 services, 10 calls in flight) count leases per second:
 * on a Cluster a batch is split into one script per shard it touches. Servers and client share
 * the machine's cores on loopback; the contenders alternate round by round so they see the same
 * load. Any rejected call fails the run. Writes bench/results/hotstore.json.
 *
 *   npm run bench -- --only hotstore [--quick]
 */
import { RedisHotStore } from '../src/hotstore/redis.js';
import { startRedis, startRedisCluster } from '../test/support/redis.js';
import { closedLoop, mean, writeResults, type Figures, type Headline } from './results.js';

const quick = process.argv.includes('--quick');
const DURATION_MS = quick ? 2_000 : 5_000;
const ROUNDS = quick ? 1 : 3;
const IN_FLIGHT = 100;
const SERVICES = 100;
const INSTANCES = 1000;
const LEASE_TTL_MS = 600_000;

type Contender = 'single' | 'cluster';
type Operation = 'renew' | 'renewBatch' | 'generation';
/** Renewals per `renewLeases` call: a batch of heartbeats as one HTTP request brings it. */
const BATCH = 100;

async function main(): Promise<void> {
  const cleanup: Array<() => Promise<void>> = [];
  try {
    const server = await startRedis();
    cleanup.push(() => server.stop());
    const cluster = await startRedisCluster({ primaries: 3 });
    cleanup.push(() => cluster.stop());
    const stores: Record<Contender, RedisHotStore> = {
      single: await RedisHotStore.connect({ url: server.url, keyPrefix: 'bench:' }),
      cluster: await RedisHotStore.connect({ cluster: cluster.nodes, keyPrefix: 'bench:' }),
    };
    cleanup.push(
      () => stores.single.close(),
      () => stores.cluster.close(),
    );

    const batches = Array.from({ length: INSTANCES / BATCH }, (_, b) =>
      Array.from({ length: BATCH }, (_, i) => {
        const n = b * BATCH + i;
        return {
          service: `svc-${n % SERVICES}`,
          instance: `i-${n}`,
          ttlMs: LEASE_TTL_MS,
          load: { inflight: 1 },
        };
      }),
    );
    const operations: Record<
      Operation,
      { inFlight: number; perCall: number; run: (store: RedisHotStore, n: number) => Promise<unknown> }
    > = {
      renew: {
        inFlight: IN_FLIGHT,
        perCall: 1,
        run: (store, n) =>
          store.renewLease(`svc-${n % SERVICES}`, `i-${n % INSTANCES}`, LEASE_TTL_MS, { inflight: 1 }),
      },
      renewBatch: {
        inFlight: 10,
        perCall: BATCH,
        run: (store, n) => store.renewLeases(batches[n % batches.length] as (typeof batches)[number]),
      },
      generation: { inFlight: 1, perCall: 1, run: (store) => store.generation() },
    };
    const runs: Record<Operation, Record<Contender, Figures[]>> = {
      renew: { single: [], cluster: [] },
      renewBatch: { single: [], cluster: [] },
      generation: { single: [], cluster: [] },
    };
    // Warm-up, not counted: scripts loaded, connections to every primary open.
    for (const store of Object.values(stores)) {
      await closedLoop(IN_FLIGHT, 500, (n) => operations.renew.run(store, n));
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const operation of Object.keys(operations) as Operation[]) {
        for (const contender of Object.keys(stores) as Contender[]) {
          const { inFlight, perCall, run } = operations[operation];
          const calls = await closedLoop(inFlight, DURATION_MS, (n) => run(stores[contender], n));
          runs[operation][contender].push({ ...calls, rps: calls.rps * perCall });
        }
      }
    }

    const results: Record<string, unknown> = { durationMs: DURATION_MS, rounds: ROUNDS };
    const headlines: Headline[] = [];
    console.log(`Redis hot store, ${DURATION_MS / 1000}s x ${ROUNDS}: a 3-primary Cluster beside one server`);
    for (const [operation, what] of [
      ['renew', `lease renewal, ${IN_FLIGHT} in flight, Redis Cluster of 3 primaries`],
      ['renewBatch', `lease renewals batched ${BATCH} per call (leases/s), Redis Cluster of 3 primaries`],
      ['generation', 'generation() one at a time, Cluster (16 shard markers)'],
    ] as const) {
      const single = mean(runs[operation].single);
      const onCluster = mean(runs[operation].cluster);
      results[operation] = { single, cluster: onCluster, runs: runs[operation] };
      const ratio = onCluster.rps / single.rps;
      console.log(
        `  ${operation.padEnd(10)} one server ${Math.round(single.rps)} /s (p50 ${single.p50.toFixed(2)}, p99 ${single.p99.toFixed(1)} ms), ` +
          `cluster ${Math.round(onCluster.rps)} /s (p50 ${onCluster.p50.toFixed(2)}, p99 ${onCluster.p99.toFixed(1)} ms): x${ratio.toFixed(2)}`,
      );
      headlines.push({
        scenario: 'hot store',
        what,
        unit: '/s',
        zkgate: onCluster.rps,
        baseline: { name: 'one Redis server', value: single.rps },
        ratio,
      });
    }
    await writeResults('hotstore', quick, results, headlines);
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

await main();
