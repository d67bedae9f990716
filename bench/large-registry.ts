/**
 * A large registry on one replica: 100,000 instances (1,000 services of 100; 20,000 with --quick)
 * on ZooKeeper 3.8 (standalone, forceSync) with Redis, served by one gateway in a child process.
 * Every figure is a ratio to the same gateway serving the first 1,000 of those instances, measured
 * in the same run, on the same ZooKeeper and Redis:
 * - cold start: from spawning the gateway until `GET /v1/services` counts every instance (the
 *   registry cache loaded from ZooKeeper, leases readable);
 * - resident memory once loaded, and CPU seconds per second while idle (the reaper's sweeps and
 *   the membership watch are the only work then);
 * - dispatch (weighted round robin over a random service) and heartbeats (a random instance),
 *   100 connections, autocannon.
 * The instances are written straight into ZooKeeper in Curator's layout (`multi` batches, as the
 * gateway itself would encode them) and their leases into Redis, so the run measures serving a
 * large registry, not building it (bench/big-service.ts measures registering).
 *
 *   npm run bench -- --only large [--quick] [--cpu-prof]
 */
import { ErrorCode, isStoreError } from '../src/coordination/errors.js';
import { ZooKeeperStore } from '../src/coordination/zookeeper.js';
import { RedisHotStore } from '../src/hotstore/redis.js';
import { encodeInstance, type Instance } from '../src/registry/instance.js';
import { startRedis } from '../test/support/redis.js';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { spawnGateway, type GatewayChild } from './gateway-child.js';
import { MANAGEMENT } from './operator.js';
import { summarizeProfiles } from './profile.js';
import { mulberry32 } from '../test/dispatcher/helpers.js';
import { compileBench, httpLoad, writeResults, type Figures, type Headline } from './results.js';

const quick = process.argv.includes('--quick');
const cpuProf = process.argv.includes('--cpu-prof');
const PROFILE_DIR = '/tmp/zkgate-large-registry-profiles';
const PROFILE_FLAGS = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
const PER_SERVICE = 100;
const SERVICES = quick ? 200 : 1_000;
const SMALL_SERVICES = 10;
const SERVICES_PATH = '/services';
const TTL_MS = 600_000;
/** Creates per ZooKeeper multi (two services): about 500 bytes each, far below jute.maxbuffer. */
const MULTI_OPS = 202;
const CONNECTIONS = 100;
const LOAD_S = quick ? 5 : 10;
const IDLE_S = quick ? 5 : 10;

interface Size {
  instances: number;
  coldStartS: number;
  rssMb: number;
  idleCpuShare: number;
  dispatch: Figures;
  heartbeat: Figures;
}

const serviceName = (s: number) => `svc-${s}`;

function instanceOf(s: number, k: number): Instance {
  const n = s * PER_SERVICE + k;
  return {
    service: serviceName(s),
    id: `i-${k}`,
    address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    port: 8080,
    sslPort: null,
    weight: 100,
    zone: `zone-${k % 3}`,
    status: 'UP',
    metadata: { version: '1.0.0' },
    ttlMs: TTL_MS,
    registrationTimeUTC: Date.now(),
    serviceType: 'STATIC',
    enabled: true,
  };
}

/** Services `from` to `to` (exclusive) with their instances in ZooKeeper, their leases in Redis. */
async function seed(connectString: string, redisUrl: string, from: number, to: number): Promise<void> {
  // Connected for the seeding only (a session left idle through a measurement, in a process busy
  // with autocannon, may not survive it). Big transactions that a busy fsyncing server may take
  // seconds to answer: the seeder is patient where a gateway would fail over.
  const zk = await ZooKeeperStore.connect({
    connectString,
    sessionTimeoutMs: 30_000,
    livenessTimeoutMs: 20_000,
  });
  const hot = await RedisHotStore.connect({ url: redisUrl });
  try {
    await write(zk, hot, from, to);
  } finally {
    await Promise.all([zk.close(), hot.close()]);
  }
}

async function write(zk: ZooKeeperStore, hot: RedisHotStore, from: number, to: number): Promise<void> {
  if (!(await zk.exists(SERVICES_PATH))) await zk.create(SERVICES_PATH, Buffer.alloc(0));
  type Create = { op: 'create'; path: string; data: Buffer };
  const batches: Create[][] = [[]];
  for (let s = from; s < to; s++) {
    const servicePath = `${SERVICES_PATH}/${serviceName(s)}`;
    const ops: Create[] = [{ op: 'create', path: servicePath, data: Buffer.alloc(0) }];
    for (let k = 0; k < PER_SERVICE; k++) {
      ops.push({ op: 'create', path: `${servicePath}/i-${k}`, data: encodeInstance(instanceOf(s, k)) });
    }
    // A service and its instances in one multi: the parent exists before its children.
    if (batches.at(-1)!.length + ops.length > MULTI_OPS) batches.push([]);
    batches.at(-1)!.push(...ops);
  }
  // A multi cut by a lost connection may or may not have been applied: its first znode says which.
  const commit = async (ops: Create[]): Promise<void> => {
    try {
      await zk.multi(ops);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.CONNECTION_LOSS)) throw err;
      if (!(await zk.exists(ops[0]!.path))) await commit(ops);
    }
  };
  const inFlight = 2;
  for (let b = 0; b < batches.length; b += inFlight) {
    await Promise.all(batches.slice(b, b + inFlight).map(commit));
  }
  const leases: Array<[string, string]> = [];
  for (let s = from; s < to; s++)
    for (let k = 0; k < PER_SERVICE; k++) leases.push([serviceName(s), `i-${k}`]);
  for (let l = 0; l < leases.length; l += 200) {
    await Promise.all(leases.slice(l, l + 200).map(([service, id]) => hot.renewLease(service, id, TTL_MS)));
  }
}

async function instancesServed(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/services`, { headers: MANAGEMENT });
  if (res.status !== 200) return -1;
  return ((await res.json()) as Array<{ instances: number }>).reduce((sum, s) => sum + s.instances, 0);
}

/** Requests to a new `path()` each, as fast as 100 connections go, for LOAD_S. */
function load(url: string, method: 'GET' | 'PUT', path: () => string, title: string): Promise<Figures> {
  return httpLoad({
    url,
    title,
    connections: CONNECTIONS,
    duration: LOAD_S,
    requests: [{ method, headers: MANAGEMENT, setupRequest: (request) => ({ ...request, path: path() }) }],
  });
}

/** A random integer below `n`, the same sequence on every run. */
function sequence(seed: number): (n: number) => number {
  const random = mulberry32(seed);
  return (n) => Math.floor(random() * n);
}

async function measure(services: number, env: Record<string, string>): Promise<Size> {
  const instances = services * PER_SERVICE;
  const started = performance.now();
  const gateway: GatewayChild = await spawnGateway(`large-${instances}`, env, PROFILE_FLAGS);
  try {
    const deadline = started + 300_000;
    while ((await instancesServed(gateway.url)) < instances) {
      if (performance.now() > deadline) throw new Error(`${instances} instances not served after 300 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const coldStartS = (performance.now() - started) / 1000;
    const cpuBefore = await gateway.cpuSeconds();
    const idleFrom = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000));
    const idleCpuShare = ((await gateway.cpuSeconds()) - cpuBefore) / ((performance.now() - idleFrom) / 1000);
    const pick = sequence(services);
    const dispatch = await load(
      gateway.url,
      'GET',
      () => `/v1/dispatch/${serviceName(pick(services))}`,
      `dispatch, ${instances} instances`,
    );
    const heartbeat = await load(
      gateway.url,
      'PUT',
      () => `/v1/services/${serviceName(pick(services))}/instances/i-${pick(PER_SERVICE)}/heartbeat`,
      `heartbeat, ${instances} instances`,
    );
    const size = { instances, coldStartS, rssMb: await gateway.rssMb(), idleCpuShare, dispatch, heartbeat };
    console.log(
      `large-registry ${instances} instances: served ${coldStartS.toFixed(1)} s after spawn, ` +
        `RSS ${size.rssMb.toFixed(0)} MiB, idle CPU ${(idleCpuShare * 100).toFixed(1)}%, ` +
        `dispatch ${Math.round(dispatch.rps)} req/s, heartbeat ${Math.round(heartbeat.rps)} req/s`,
    );
    return size;
  } finally {
    await gateway.stop();
  }
}

function headlines(small: Size, large: Size): Headline[] {
  const count = large.instances.toLocaleString('en');
  const baseline = (value: number) => ({ name: `${small.instances.toLocaleString('en')} instances`, value });
  const row = (what: string, unit: string, pick: (s: Size) => number, target?: Headline['target']) => ({
    scenario: 'large-registry',
    what: `${what}, ${count} instances`,
    unit,
    zkgate: pick(large),
    baseline: baseline(pick(small)),
    ratio: pick(large) / pick(small),
    ...(target ? { target } : {}),
  });
  const dispatch = large.dispatch.rps / small.dispatch.rps;
  const heartbeat = large.heartbeat.rps / small.heartbeat.rps;
  return [
    row('cold start until every instance is served', 's', (s) => s.coldStartS),
    row('resident memory once loaded', 'MiB', (s) => s.rssMb),
    row('idle CPU (share of one core)', '%', (s) => s.idleCpuShare * 100),
    row('dispatch (wrr, random service)', 'req/s', (s) => s.dispatch.rps, {
      text: 'served by one replica (>= 0.7 of 1,000)',
      met: dispatch >= 0.7,
    }),
    row('heartbeat (random instance)', 'req/s', (s) => s.heartbeat.rps, {
      text: 'served by one replica (>= 0.7 of 1,000)',
      met: heartbeat >= 0.7,
    }),
  ];
}

async function main(): Promise<void> {
  compileBench();
  // Production's tick (sessions up to 40 s) and a heap for 100,000 znodes.
  const [zk, redis] = await Promise.all([startZooKeeper({ tickTime: 2_000, heapMb: 1_024 }), startRedis()]);
  try {
    const env = { ZKGATE_ZK: zk.connectString, ZKGATE_REDIS_URL: redis.url };
    await seed(zk.connectString, redis.url, 0, SMALL_SERVICES);
    const small = await measure(SMALL_SERVICES, env);
    const seeding = performance.now();
    await seed(zk.connectString, redis.url, SMALL_SERVICES, SERVICES);
    console.log(
      `large-registry: ${SERVICES - SMALL_SERVICES} services seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
    );
    const large = await measure(SERVICES, env);
    if (cpuProf) await summarizeProfiles(PROFILE_DIR);
    await writeResults('large-registry', quick, { small, large }, headlines(small, large));
  } finally {
    await Promise.all([zk.stop(), redis.stop()]);
  }
}

await main();
