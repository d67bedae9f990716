/**
 * One big service: 20,000 instances registered over HTTP into one service (5,000 with --quick),
 * 50 registrations in flight, while one watcher follows the service over SSE (after 1,000
 * registrations into another service to warm the gateway up). The figures are
 * ratios within the run, so the noisy shared machine cancels out:
 * - the registration rate of the last tenth against the first (a registry that rebuilt the
 *   service's list with every change fell from 1,137/s to 63/s over the run: 0.06);
 * - the bytes the watcher received per registration in the last tenth against the first (a
 *   stream that pushed the whole list with every change grew linearly with the service);
 * - the gateway's resident memory at the end against the start (reported, no target).
 * On two gateways in child processes, one after the other: the embedded store with the memory
 * hot store, and ZooKeeper 3.8 (standalone, forceSync) with Redis. Any failed registration fails
 * the run. Writes bench/results/big-service.json.
 *
 * With --cpu-prof each gateway writes V8 CPU profiles, summarized at the end (bench/profile.ts).
 *
 *   npm run bench -- --only big [--quick] [--cpu-prof]
 *   node --import tsx bench/big-service.ts [--quick] [--cpu-prof] [--backend embedded|zookeeper]
 */
import { startRedis } from '../test/support/redis.js';
import { openSse } from '../test/support/sse-client.js';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { spawnGateway, type GatewayChild } from './gateway-child.js';
import { MANAGEMENT } from './operator.js';
import { summarizeProfiles } from './profile.js';
import { compileBench, writeResults, type Headline } from './results.js';

const quick = process.argv.includes('--quick');
const cpuProf = process.argv.includes('--cpu-prof');
const backendAt = process.argv.indexOf('--backend');
const backends = backendAt >= 0 ? [process.argv[backendAt + 1]] : ['embedded', 'zookeeper'];
const PROFILE_DIR = '/tmp/zkgate-big-service-profiles';
const PROFILE_FLAGS = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
const INSTANCES = quick ? 5_000 : 20_000;
const IN_FLIGHT = 50;
const TENTHS = 10;
const WARM_UP = 1_000;
const SERVICE = 'big';

interface Run {
  backend: string;
  /** Registrations per second, per tenth of the run. */
  ratePerTenth: number[];
  /** Mean bytes of the watcher's event per registration, per tenth. */
  bytesPerTenth: number[];
  rssStartMb: number;
  rssEndMb: number;
  seconds: number;
}

async function register(url: string, n: number, service = SERVICE): Promise<void> {
  const res = await fetch(`${url}/v1/services/${service}/instances/i-${n}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...MANAGEMENT },
    body: JSON.stringify({
      address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      port: 8080,
      ttl: '10m',
      metadata: { version: '1.0.0' },
    }),
  });
  if (res.status !== 201) throw new Error(`registration ${n} answered ${res.status}: ${await res.text()}`);
}

async function measure(backend: string, gateway: GatewayChild): Promise<Run> {
  // Warm-up, not counted, in another service: the first tenth is then not the JIT's cold start.
  for (let n = 0; n < WARM_UP; n += IN_FLIGHT) {
    await Promise.all(Array.from({ length: IN_FLIGHT }, (_, k) => register(gateway.url, n + k, 'warm-up')));
  }
  // The service exists before the watcher connects, so every event after the first list is one instance.
  await register(gateway.url, 0);
  const watch = await openSse(`${gateway.url}/v1/watch?service=${SERVICE}`, MANAGEMENT);
  if (watch.status !== 200) throw new Error(`watch answered ${watch.status}`);
  const rssStartMb = await gateway.rssMb();
  const done: number[] = [];
  let next = 1;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < INSTANCES) {
      await register(gateway.url, next++);
      done.push(performance.now());
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  // Every registration after the first is one `instance` event: wait for the last to arrive.
  const sizes: number[] = [];
  while (sizes.length < INSTANCES - 1) {
    const event = await watch.next(60_000);
    if (event.event === 'instance') sizes.push(event.bytes);
  }
  watch.close();
  const rssEndMb = await gateway.rssMb();
  const tenth = Math.floor(done.length / TENTHS);
  const ratePerTenth: number[] = [];
  const bytesPerTenth: number[] = [];
  for (let k = 0; k < TENTHS; k++) {
    const from = k === 0 ? started : done[k * tenth - 1]!;
    const to = done[(k + 1) * tenth - 1]!;
    ratePerTenth.push(tenth / ((to - from) / 1000));
    const slice = sizes.slice(k * tenth, (k + 1) * tenth);
    bytesPerTenth.push(slice.reduce((sum, b) => sum + b, 0) / slice.length);
  }
  const fmt = (list: number[]) => list.map((x) => Math.round(x)).join(' ');
  console.log(
    `big-service ${backend}: ${INSTANCES} registrations in ${seconds.toFixed(1)} s; per tenth: ` +
      `${fmt(ratePerTenth)} /s; watcher bytes per registration: ${fmt(bytesPerTenth)}; ` +
      `RSS ${rssStartMb.toFixed(0)} -> ${rssEndMb.toFixed(0)} MiB`,
  );
  return { backend, ratePerTenth, bytesPerTenth, rssStartMb, rssEndMb, seconds };
}

function headlines(run: Run): Headline[] {
  const first = (list: number[]) => list[0]!;
  const last = (list: number[]) => list.at(-1)!;
  const rate = last(run.ratePerTenth) / first(run.ratePerTenth);
  const bytes = last(run.bytesPerTenth) / first(run.bytesPerTenth);
  return [
    {
      scenario: 'big-service',
      what: `${run.backend}: registrations/s, last tenth of ${INSTANCES}`,
      unit: 'req/s',
      zkgate: last(run.ratePerTenth),
      baseline: { name: 'first tenth', value: first(run.ratePerTenth) },
      ratio: rate,
      target: { text: '>= 0.7', met: rate >= 0.7 },
    },
    {
      scenario: 'big-service',
      what: `${run.backend}: watcher bytes per registration, last tenth`,
      unit: 'B',
      zkgate: last(run.bytesPerTenth),
      baseline: { name: 'first tenth', value: first(run.bytesPerTenth) },
      ratio: bytes,
      target: { text: 'independent of size (<= 1.1)', met: bytes <= 1.1 },
    },
  ];
}

async function main(): Promise<void> {
  compileBench();
  const runs: Run[] = [];
  if (backends.includes('embedded')) {
    const embedded = await spawnGateway('big-embedded', {}, PROFILE_FLAGS);
    try {
      runs.push(await measure('embedded', embedded));
    } finally {
      await embedded.stop();
    }
  }
  if (backends.includes('zookeeper')) {
    const [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
    try {
      const gateway = await spawnGateway(
        'big-zookeeper',
        {
          ZKGATE_ZK: zk.connectString,
          ZKGATE_REDIS_URL: redis.url,
        },
        PROFILE_FLAGS,
      );
      try {
        runs.push(await measure('zookeeper', gateway));
      } finally {
        await gateway.stop();
      }
    } finally {
      await Promise.all([zk.stop(), redis.stop()]);
    }
  }
  if (cpuProf) await summarizeProfiles(PROFILE_DIR);
  await writeResults('big-service', quick, runs, runs.flatMap(headlines));
}

await main();
