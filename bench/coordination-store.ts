/**
 * Coordination-store throughput: the embedded adapter against the ZooKeeper adapter on a local
 * standalone ZooKeeper 3.8, both durable (the embedded log fsynced before acknowledging,
 * ZooKeeper with its default forceSync=yes), in one run. Prints ops/s and the ratio
 * embedded / zookeeper per scenario and writes bench/results/coordination-store.json.
 *
 *   npm run bench -- --only store [--quick]
 */
import { rm } from 'node:fs/promises';
import { EmbeddedServer } from '../src/coordination/embedded/index.js';
import type { CoordinationStore } from '../src/coordination/store.js';
import { ZooKeeperStore } from '../src/coordination/zookeeper.js';
import { makeTempDir } from '../test/support/processes.js';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { writeResults } from './results.js';

const quick = process.argv.includes('--quick');
const N = quick ? 1_000 : 5_000;
const IN_FLIGHT = 100;

interface Scenario {
  name: string;
  ops: number;
  inFlight: number;
  run: (store: CoordinationStore, base: string, i: number) => Promise<unknown>;
}

const payload = Buffer.alloc(256, 'x');
const scenarios: Scenario[] = [
  { name: 'create, 1 in flight', ops: N / 5, inFlight: 1, run: (s, b, i) => s.create(`${b}/c${i}`, payload) },
  {
    name: 'setData, 1 in flight',
    ops: N / 5,
    inFlight: 1,
    run: (s, b, i) => s.setData(`${b}/c${i % 100}`, payload),
  },
  {
    name: 'setData, 100 in flight',
    ops: N,
    inFlight: IN_FLIGHT,
    run: (s, b, i) => s.setData(`${b}/c${i % 100}`, payload),
  },
  { name: 'getData, 1 in flight', ops: N, inFlight: 1, run: (s, b, i) => s.getData(`${b}/c${i % 100}`) },
  {
    name: 'getData, 100 in flight',
    ops: N * 4,
    inFlight: IN_FLIGHT,
    run: (s, b, i) => s.getData(`${b}/c${i % 100}`),
  },
];

/** Runs `ops` operations keeping `inFlight` outstanding; returns ops per second. */
async function measure(store: CoordinationStore, base: string, s: Scenario): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < s.ops) await s.run(store, base, next++);
  };
  await Promise.all(Array.from({ length: s.inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return s.ops / seconds;
}

async function main(): Promise<void> {
  const zk = await startZooKeeper({ extraCfg: { forceSync: 'yes' } });
  const dataDir = await makeTempDir('zkgate-bench-');
  const server = await EmbeddedServer.open({ dataDir });
  const stores: Record<'embedded' | 'zookeeper', CoordinationStore> = {
    embedded: server.connect(),
    zookeeper: await ZooKeeperStore.connect({ connectString: zk.connectString }),
  };
  const results: Record<string, Record<string, number>> = {};
  try {
    const bases = {
      embedded: await stores.embedded.create(`/bench-${Date.now()}`),
      zookeeper: await stores.zookeeper.create(`/bench-${Date.now()}`),
    };
    // Interleaved per scenario so both see the same machine load.
    for (const s of scenarios) {
      const zkOps = await measure(stores.zookeeper, bases.zookeeper, s);
      const embeddedOps = await measure(stores.embedded, bases.embedded, s);
      results[s.name] = {
        embedded: Math.round(embeddedOps),
        zookeeper: Math.round(zkOps),
        ratio: embeddedOps / zkOps,
      };
      console.log(
        `${s.name.padEnd(24)} embedded ${Math.round(embeddedOps).toString().padStart(7)}/s  zookeeper ${Math.round(zkOps).toString().padStart(7)}/s  ratio ${(embeddedOps / zkOps).toFixed(2)}`,
      );
    }
  } finally {
    await stores.zookeeper.close();
    await stores.embedded.close();
    await server.close();
    await zk.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  await writeResults('coordination-store', quick, results);
}

await main();
