/**
 * Service registry over HTTP, each figure as a ratio against the cached config read
 * (`GET /v1/config/{ns}`, 1 KiB JSON) of the same gateway in the same run: the machine is shared
 * and noisy, so only ratios compare across runs.
 *
 * Two gateways, both on the embedded store (temp data dirs, fsync on), each in a child process
 * compiled by tsc as `npm start` runs it:
 * - memory hot store: config read (baseline), dispatch (weighted_round_robin, the default, and
 *   consistent_hash with a varying key) on 100 instances, discovery (`GET .../instances`, 200 in
 *   the full and the compact view, each as identity, gzip and br, and 304) on 10 000 instances,
 *   each discovery row also as a ratio to the plain one (full, identity; both over their
 *   baselines), heartbeat (`{"inflight":1}`) cycling over 1000 instances, and register
 *   (`PUT .../instances/{id}`) cycling over 10 000 ids, so every request is a real registration
 *   or update written to the coordination store;
 * - Redis hot store (a throw-away redis-server on a free loopback port): config read (baseline)
 *   and heartbeat over 1000 instances.
 * Both also take batched heartbeats (`POST /v1/heartbeats`, 100 per request over the same 1000
 * instances), counted as instance renewals per second (requests times the batch).
 * Instances are registered over HTTP first, with a lease TTL of 10 minutes so nothing expires.
 * autocannon drives 100 connections on 127.0.0.1; every scenario builds each request in a
 * `setupRequest` (the baseline too, so the client's cost is the same everywhere). The baseline is
 * measured before a gateway's first scenario and after each one, and each ratio is against the
 * two baselines around the scenario; rounds go over both gateways so they see the same machine
 * load. Any answer other than the expected class (2xx, or 304 for the conditional read), and any
 * connection error or timeout, fails the run.
 * Heartbeats are also set against what ZooKeeper writes sustain on this machine: `setData` on a
 * standalone ZooKeeper 3.8 with forceSync=yes, 100 in flight through node-zookeeper-client, and
 * against lease renewals straight into each hot store (no HTTP), one by one and batched
 * (`renewLeases`, 100 per call), measured in every round.
 * Prints req/s, p50/p99 latency and the ratio; writes bench/results/registry.json.
 *
 *   npm run bench -- --only registry [--quick]
 */
import autocannon from 'autocannon';
import { startRedis } from '../test/support/redis.js';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { MemoryHotStore } from '../src/hotstore/memory.js';
import { RedisHotStore } from '../src/hotstore/redis.js';
import type { HotStore, LeaseRenewal } from '../src/hotstore/store.js';
import { connectDirect } from './fixtures/zk-direct.js';
import { spawnGateway } from './gateway-child.js';
import { MANAGEMENT } from './operator.js';
import { closedLoop, compileBench, mean, writeResults, type Figures, type Headline } from './results.js';

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 3 : 6;
const ROUNDS = quick ? 1 : 2;
const WARMUP_S = 1;
const CONNECTIONS = 100;
const LEASE_TTL_MS = 600_000;
const REGISTER_IDS = 10_000;
const HEARTBEAT_INSTANCES = 1000;
/** Heartbeats per batched request (and per `renewLeases` call): a sidecar's or an SDK's instances. */
const BATCH = 100;
/** Batched renewals kept in flight straight into a hot store: a few replicas' worth. */
const BATCHED_IN_FLIGHT = 10;
const DISPATCH_INSTANCES = 100;
const DISCOVERY_INSTANCES = 10_000;
const HASH_KEYS = 10_000;
const SETUP_IN_FLIGHT = 32;
/** Znodes the ZooKeeper write baseline cycles over, each written with setData. */
const ZK_WRITE_ZNODES = 100;

const REGISTRATION = JSON.stringify({ address: '10.0.0.1', port: 8080 });
const LOAD_REPORT = JSON.stringify({ inflight: 1 });
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Every request goes as the operator, with the scenario's own headers. */
const headersOf = (scenario: Scenario): Record<string, string> => ({ ...MANAGEMENT, ...scenario.headers });
const CONFIG_PATH = '/v1/config/bench/doc';
const SERVICE = { register: 'bench-register', heartbeat: 'bench-heartbeat', dispatch: 'bench-dispatch' };
const DISCOVERY_SERVICE = 'bench-discovery';

interface Scenario {
  name: string;
  method: 'GET' | 'PUT' | 'POST';
  /** Path of the n-th request. */
  path: (n: number) => string;
  body?: string;
  /** Body of the n-th request, when it varies. */
  bodyOf?: (n: number) => string;
  /** Instance renewals one request makes, when more than one (batched heartbeats). */
  renewals?: number;
  /**
   * Renews leases: an answer given while the hot store did not keep up (a command timed out) is
   * still a 200, marked `X-Zkgate-Degraded`, and must fail the run rather than count.
   */
  renews?: boolean;
  headers?: Record<string, string>;
  /** 304 for conditional reads; every other scenario must answer 2xx only. */
  expect304?: boolean;
  /** Writes registrations (201 created, 200 updated): not warmed up, it would only grow the store. */
  registers?: boolean;
  /** A discovery listing: also set against the plain one, the figure issue 18 asks 10x of. */
  discovery?: true;
  /** Checks one answer before the load, so a broken route fails with a readable message. */
  check?: (response: Response, body: string) => string | undefined;
}

interface Gateway {
  name: 'memory' | 'redis';
  url: string;
  scenarios: Scenario[];
  stop(): Promise<void>;
}

/** Registers `count` instances `<prefix><i>` over HTTP; each must be new (201). */
async function registerAll(base: string, service: string, count: number, prefix: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const id = `${prefix}${next++}`;
      const response = await fetch(`${base}/v1/services/${service}/instances/${id}`, {
        method: 'PUT',
        headers: { ...JSON_HEADERS, ...MANAGEMENT },
        body: REGISTRATION,
      });
      const text = await response.text();
      if (response.status !== 201)
        throw new Error(`setup: PUT ${service}/${id} answered ${response.status}: ${text}`);
    }
  };
  await Promise.all(Array.from({ length: SETUP_IN_FLIGHT }, worker));
}

const expectHeader = (response: Response, name: string, value: string): string | undefined =>
  response.headers.get(name) === value ? undefined : `${name} is ${response.headers.get(name)}, not ${value}`;

function baseline(): Scenario {
  return {
    name: 'config read 1 KiB (baseline)',
    method: 'GET',
    path: () => CONFIG_PATH,
    check: (_response, body) => (body.length === 1024 ? undefined : `${body.length}-byte document`),
  };
}

/**
 * The discovery listing in a view and a content coding. fetch decodes what it accepts (gzip, br),
 * so the check sees the JSON whatever the coding; the load sends the coded bytes, as a client
 * that decodes them would receive them.
 */
function discovery(view: 'full' | 'compact', coding: 'identity' | 'gzip' | 'br'): Scenario {
  return {
    name: `discovery${view === 'full' ? '' : ` ${view}`}${coding === 'identity' ? '' : ` ${coding}`}, ${DISCOVERY_INSTANCES} inst.`,
    method: 'GET',
    path: () => `/v1/services/${DISCOVERY_SERVICE}/instances${view === 'full' ? '' : `?view=${view}`}`,
    headers: { 'accept-encoding': coding },
    discovery: true,
    check: (response, body) => {
      const listed = JSON.parse(body) as Array<{ healthy: boolean; metadata?: unknown }>;
      const encoding = response.headers.get('content-encoding') ?? 'identity';
      if (encoding !== coding) return `content-encoding ${encoding}`;
      if (listed.length !== DISCOVERY_INSTANCES) return `${listed.length} instances`;
      return (view === 'compact') === (listed[0]?.metadata === undefined) ? undefined : `not a ${view} view`;
    },
  };
}

function heartbeat(): Scenario {
  return {
    name: `heartbeat, ${HEARTBEAT_INSTANCES} inst.`,
    method: 'PUT',
    path: (n) => `/v1/services/${SERVICE.heartbeat}/instances/h${n % HEARTBEAT_INSTANCES}/heartbeat`,
    body: LOAD_REPORT,
    headers: JSON_HEADERS,
    renews: true,
    check: (_response, body) => {
      const lease = JSON.parse(body) as { ttlMs?: number };
      return lease.ttlMs === LEASE_TTL_MS ? undefined : `lease TTL ${lease.ttlMs}`;
    },
  };
}

/** The instances of the n-th batch: the heartbeat instances, {@link BATCH} at a time, in turn. */
function batchOf(n: number): Array<{ service: string; id: string; load: { inflight: number } }> {
  const first = (n * BATCH) % HEARTBEAT_INSTANCES;
  return Array.from({ length: BATCH }, (_, i) => ({
    service: SERVICE.heartbeat,
    id: `h${(first + i) % HEARTBEAT_INSTANCES}`,
    load: { inflight: 1 },
  }));
}

function batchedHeartbeats(): Scenario {
  const bodies = Array.from({ length: HEARTBEAT_INSTANCES / BATCH }, (_, n) =>
    JSON.stringify({ heartbeats: batchOf(n) }),
  );
  return {
    name: `heartbeats batched ${BATCH}/req, ${HEARTBEAT_INSTANCES} inst.`,
    method: 'POST',
    path: () => '/v1/heartbeats',
    bodyOf: (n) => bodies[n % bodies.length] as string,
    headers: JSON_HEADERS,
    renewals: BATCH,
    renews: true,
    check: (_response, body) => {
      const { results } = JSON.parse(body) as { results: Array<{ status: number; ttlMs?: number }> };
      return results.length === BATCH && results.every((r) => r.status === 200 && r.ttlMs === LEASE_TTL_MS)
        ? undefined
        : `answers ${body.slice(0, 200)}`;
    },
  };
}

async function memoryScenarios(base: string): Promise<Scenario[]> {
  const listing = await fetch(`${base}/v1/services/${DISCOVERY_SERVICE}/instances`, { headers: MANAGEMENT });
  const instances = (await listing.json()) as Array<{ healthy: boolean }>;
  const etag = listing.headers.get('etag');
  if (listing.status !== 200 || etag === null)
    throw new Error(`setup: listing ${DISCOVERY_SERVICE} answered ${listing.status} with ETag ${etag}`);
  const discoveryPath = `/v1/services/${DISCOVERY_SERVICE}/instances`;
  return [
    baseline(),
    {
      name: `dispatch wrr, ${DISPATCH_INSTANCES} inst.`,
      method: 'GET',
      path: () => `/v1/dispatch/${SERVICE.dispatch}`,
      check: (response) => expectHeader(response, 'x-zkgate-strategy', 'weighted_round_robin'),
    },
    {
      name: `dispatch consistent_hash, ${DISPATCH_INSTANCES}`,
      method: 'GET',
      path: (n) => `/v1/dispatch/${SERVICE.dispatch}?strategy=consistent_hash&key=k${n % HASH_KEYS}`,
      check: (response) => expectHeader(response, 'x-zkgate-strategy', 'consistent_hash'),
    },
    {
      ...discovery('full', 'identity'),
      check: () =>
        instances.length === DISCOVERY_INSTANCES && instances.every((i) => i.healthy)
          ? undefined
          : `${instances.length} instances, ${instances.filter((i) => i.healthy).length} healthy`,
    },
    discovery('full', 'gzip'),
    discovery('full', 'br'),
    discovery('compact', 'identity'),
    discovery('compact', 'gzip'),
    discovery('compact', 'br'),
    {
      name: `discovery -> 304, ${DISCOVERY_INSTANCES} inst.`,
      method: 'GET',
      path: () => discoveryPath,
      headers: { 'if-none-match': etag },
      expect304: true,
    },
    heartbeat(),
    batchedHeartbeats(),
    {
      name: `register, ${REGISTER_IDS} ids`,
      method: 'PUT',
      path: (n) => `/v1/services/${SERVICE.register}/instances/r${n % REGISTER_IDS}`,
      body: REGISTRATION,
      headers: JSON_HEADERS,
      registers: true,
    },
  ];
}

const bodyOf = (scenario: Scenario, n: number): string | undefined => scenario.bodyOf?.(n) ?? scenario.body;

const statusClassOk = (scenario: Scenario, status: number): boolean =>
  scenario.expect304 ? status === 304 : status >= 200 && status < 300;

/** One request as the load will send it, checked with a readable failure. */
async function probe(gateway: Gateway, scenario: Scenario): Promise<void> {
  const sent = bodyOf(scenario, 0);
  const response = await fetch(`${gateway.url}${scenario.path(0)}`, {
    method: scenario.method,
    headers: headersOf(scenario),
    ...(sent === undefined ? {} : { body: sent }),
  });
  const body = await response.text();
  const problem = !statusClassOk(scenario, response.status)
    ? `status ${response.status}`
    : scenario.check?.(response, body);
  if (problem !== undefined)
    throw new Error(`${gateway.name} gateway, ${scenario.name}: ${problem}; ${body.slice(0, 500)}`);
}

interface Measured {
  figures: Figures;
  statusCodes: Record<string, number>;
}

async function load(gateway: Gateway, scenario: Scenario, durationS: number): Promise<Measured> {
  let n = 0;
  let degraded = 0;
  const result = await autocannon({
    url: gateway.url,
    connections: CONNECTIONS,
    duration: durationS,
    requests: [
      {
        method: scenario.method,
        headers: headersOf(scenario),
        setupRequest: (request) => {
          const body = bodyOf(scenario, n);
          if (body !== undefined) request.body = body;
          request.path = scenario.path(n++);
          return request;
        },
        ...(scenario.renews && {
          onResponse: (_status, _body, _context, headers) => {
            if (headers?.['x-zkgate-degraded'] !== undefined) degraded++;
          },
        }),
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = count ?? 0;
  const unexpected = Object.entries(statusCodes).filter(([code]) => !statusClassOk(scenario, Number(code)));
  const answered = Object.values(statusCodes).reduce((s, c) => s + c, 0);
  if (unexpected.length > 0 || result.errors > 0 || result.timeouts > 0 || answered === 0 || degraded > 0) {
    throw new Error(
      `${gateway.name} gateway, ${scenario.name}: ${answered} answers by status ${JSON.stringify(statusCodes)}, ` +
        `${result.errors} connection errors, ${result.timeouts} timeouts, ${degraded} degraded` +
        ` (expected ${scenario.expect304 ? '304' : '2xx'} only)`,
    );
  }
  return {
    figures: { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 },
    statusCodes,
  };
}

async function startGateway(
  name: Gateway['name'],
  env: Record<string, string>,
): Promise<Omit<Gateway, 'scenarios'>> {
  const gateway = await spawnGateway(`registry-${name}`, {
    ZKGATE_LEASE_TTL_MS: String(LEASE_TTL_MS),
    ...env,
  });
  if (gateway.hot !== name) {
    await gateway.stop();
    throw new Error(`${name} gateway runs a ${gateway.hot} hot store`);
  }
  return { name, url: gateway.url, stop: gateway.stop };
}

/**
 * Each scenario against the config read of its gateway, and heartbeats also against what
 * ZooKeeper writes sustain (the issue's target: at least 10 times as many).
 */
function headlines(
  gateways: readonly Gateway[],
  runs: ReadonlyMap<Scenario, { measured: Measured[]; around: Figures[] }>,
  zkWrite: Figures,
  renewal: Record<Gateway['name'], Figures>,
  batchedRenewal: Record<Gateway['name'], Figures>,
): Headline[] {
  const lines: Headline[] = [];
  const againstZooKeeper = (what: string, rps: number, unit = 'req/s', times = 10): Headline => ({
    scenario: 'registry',
    what,
    unit,
    zkgate: rps,
    baseline: { name: 'ZooKeeper setData', value: zkWrite.rps },
    ratio: rps / zkWrite.rps,
    target: { text: `>= ${times}x ZooKeeper writes`, met: rps >= times * zkWrite.rps },
  });
  // Over the config read measured around it: scenarios run one after another, and the load of the
  // machine drifts between them more than between a scenario and its baselines.
  const relative = (scenario: Scenario): number => {
    const { measured, around } = runs.get(scenario)!;
    return mean(measured.map((m) => m.figures)).rps / mean(around).rps;
  };
  for (const gateway of gateways) {
    const plainDiscovery = gateway.scenarios.find((s) => s.discovery);
    for (const scenario of gateway.scenarios.slice(1)) {
      const { measured, around } = runs.get(scenario)!;
      const rps = mean(measured.map((m) => m.figures)).rps;
      const base = mean(around).rps;
      const what = `${scenario.name} (${gateway.name} hot store)`;
      lines.push({
        scenario: 'registry',
        what,
        unit: 'req/s',
        zkgate: rps,
        baseline: { name: 'cached config read', value: base },
        ratio: rps / base,
      });
      if (scenario.discovery && plainDiscovery && scenario !== plainDiscovery) {
        const plain = mean(runs.get(plainDiscovery)!.measured.map((m) => m.figures)).rps;
        const ratio = relative(scenario) / relative(plainDiscovery);
        lines.push({
          scenario: 'registry',
          what,
          unit: 'req/s',
          zkgate: rps,
          baseline: { name: `${plainDiscovery.name} (both over the config read around them)`, value: plain },
          ratio,
          target: { text: '>= 10x plain discovery', met: ratio >= 10 },
        });
      }
      if (scenario.renewals !== undefined) {
        lines.push(againstZooKeeper(what, rps * scenario.renewals, 'renewals/s'));
      } else if (scenario.name.startsWith('heartbeat')) {
        lines.push(againstZooKeeper(what, rps));
        lines.push(
          againstZooKeeper(
            `lease renewal in the ${gateway.name} hot store (no HTTP)`,
            renewal[gateway.name].rps,
          ),
        );
      }
    }
  }
  lines.push(
    againstZooKeeper(
      `lease renewals in Redis, batched ${BATCH} per call (no HTTP)`,
      batchedRenewal.redis.rps,
      'renewals/s',
      20,
    ),
  );
  return lines;
}

async function main(): Promise<void> {
  compileBench();
  const cleanup: Array<() => Promise<void>> = [];
  try {
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const memory = await startGateway('memory', {});
    cleanup.push(() => memory.stop());
    const viaRedis = await startGateway('redis', { ZKGATE_REDIS_URL: redis.url });
    cleanup.push(() => viaRedis.stop());
    // What ZooKeeper writes sustain on this machine, durable as in production (forceSync=yes):
    // the yardstick for heartbeats, which a hot store exists to keep out of ZooKeeper.
    // Production's tick, so sessions may last as long as an application's would.
    const zk = await startZooKeeper({ tickTime: 2_000, extraCfg: { forceSync: 'yes' } });
    cleanup.push(() => zk.stop());
    const payload = Buffer.from(LOAD_REPORT);
    const seeding = await connectDirect(zk.connectString);
    for (let i = 0; i < ZK_WRITE_ZNODES; i++) await seeding.put(`/bench/hb${i}`, payload);
    seeding.close();
    const zkWrites: Figures[] = [];
    // Lease renewals straight into each hot store, without HTTP: what the store itself sustains.
    const hotStores: Record<Gateway['name'], HotStore> = {
      memory: new MemoryHotStore(),
      redis: await RedisHotStore.connect({ url: redis.url, keyPrefix: 'bench-direct:' }),
    };
    cleanup.push(() => hotStores.redis.close());
    const renewals: Record<Gateway['name'], Figures[]> = { memory: [], redis: [] };
    const batchedRenewals: Record<Gateway['name'], Figures[]> = { memory: [], redis: [] };
    const batches = Array.from({ length: HEARTBEAT_INSTANCES / BATCH }, (_, n) =>
      batchOf(n).map(({ service, id, load }) => ({ service, instance: id, ttlMs: LEASE_TTL_MS, load })),
    );

    const setupStarted = Date.now();
    await registerAll(memory.url, SERVICE.dispatch, DISPATCH_INSTANCES, 'd');
    await registerAll(memory.url, SERVICE.heartbeat, HEARTBEAT_INSTANCES, 'h');
    await registerAll(memory.url, DISCOVERY_SERVICE, DISCOVERY_INSTANCES, 'l');
    await registerAll(viaRedis.url, SERVICE.heartbeat, HEARTBEAT_INSTANCES, 'h');
    const setupCount = DISPATCH_INSTANCES + HEARTBEAT_INSTANCES + DISCOVERY_INSTANCES + HEARTBEAT_INSTANCES;
    const setupSeconds = (Date.now() - setupStarted) / 1000;
    console.log(
      `setup: ${setupCount} registrations over HTTP (${SETUP_IN_FLIGHT} in flight) in ${setupSeconds.toFixed(1)} s`,
    );

    const gateways: Gateway[] = [
      { ...memory, scenarios: await memoryScenarios(memory.url) },
      { ...viaRedis, scenarios: [baseline(), heartbeat(), batchedHeartbeats()] },
    ];
    for (const gateway of gateways) for (const scenario of gateway.scenarios) await probe(gateway, scenario);
    // Warm-up, not counted; the register route is warm from the setup.
    for (const gateway of gateways)
      for (const scenario of gateway.scenarios)
        if (!scenario.registers) await load(gateway, scenario, WARMUP_S);

    // The baseline runs before the first scenario and after each one: a scenario's ratio is
    // against the two baselines around it, so a burst of load from elsewhere skews it less.
    const runs = new Map<Scenario, { measured: Measured[]; around: Figures[] }>();
    const record = (scenario: Scenario, measured: Measured, around: Figures[]): void => {
      const run = runs.get(scenario) ?? { measured: [], around: [] };
      run.measured.push(measured);
      run.around.push(...around);
      runs.set(scenario, run);
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const gateway of gateways) {
        const [base, ...others] = gateway.scenarios as [Scenario, ...Scenario[]];
        let before = await load(gateway, base, DURATION_S);
        record(base, before, [before.figures]);
        for (const scenario of others) {
          const measured = await load(gateway, scenario, DURATION_S);
          const after = await load(gateway, base, DURATION_S);
          record(base, after, [after.figures]);
          record(scenario, measured, [before.figures, after.figures]);
          before = after;
        }
      }
      // A session of its own per round: one left idle through minutes of HTTP load in this
      // process did not always survive them.
      const direct = await connectDirect(zk.connectString);
      zkWrites.push(
        await closedLoop(CONNECTIONS, DURATION_S * 1000, (n) =>
          direct.setData(`/bench/hb${n % ZK_WRITE_ZNODES}`, payload),
        ),
      );
      direct.close();
      for (const [name, store] of Object.entries(hotStores) as [Gateway['name'], HotStore][]) {
        renewals[name].push(
          await closedLoop(CONNECTIONS, DURATION_S * 1000, (n) =>
            store.renewLease(SERVICE.heartbeat, `h${n % HEARTBEAT_INSTANCES}`, LEASE_TTL_MS, { inflight: 1 }),
          ),
        );
        // Calls per second times the batch: leases renewed per second.
        const calls = await closedLoop(BATCHED_IN_FLIGHT, DURATION_S * 1000, (n) =>
          store.renewLeases(batches[n % batches.length] as LeaseRenewal[]),
        );
        batchedRenewals[name].push({ ...calls, rps: calls.rps * BATCH });
      }
    }

    const results: Record<string, unknown> = {
      connections: CONNECTIONS,
      durationS: DURATION_S,
      rounds: ROUNDS,
      leaseTtlMs: LEASE_TTL_MS,
      setup: { registrations: setupCount, seconds: setupSeconds },
    };
    console.log(
      `registry over HTTP, ${CONNECTIONS} connections, ${DURATION_S}s x ${ROUNDS} round(s) per scenario; ` +
        'ratio = req/s over the config-read baseline of the same gateway measured around it',
    );
    console.log(
      `  ${'hot store'.padEnd(9)} ${'scenario'.padEnd(34)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'ratio'.padStart(6)}`,
    );
    const notes: string[] = [];
    for (const gateway of gateways) {
      const rows: Record<string, unknown> = {};
      for (const scenario of gateway.scenarios) {
        const { measured, around } = runs.get(scenario)!;
        const figures = mean(measured.map((m) => m.figures));
        const statusCodes: Record<string, number> = {};
        for (const m of measured)
          for (const [code, count] of Object.entries(m.statusCodes))
            statusCodes[code] = (statusCodes[code] ?? 0) + count;
        const baselineRps = mean(around).rps;
        const ratio = figures.rps / baselineRps;
        rows[scenario.name] = {
          ...figures,
          ratio,
          baselineRps,
          statusCodes,
          runs: measured.map((m) => m.figures),
        };
        console.log(
          `  ${gateway.name.padEnd(9)} ${scenario.name.padEnd(34)} ${Math.round(figures.rps).toString().padStart(7)} ${figures.p50.toFixed(1).padStart(7)} ${figures.p99.toFixed(1).padStart(7)} ${ratio.toFixed(3).padStart(6)}`,
        );
        if (scenario === gateway.scenarios[0]) {
          const rps = measured.map((m) => Math.round(m.figures.rps));
          notes.push(
            `  ${gateway.name} baseline over ${rps.length} measurements: ${Math.min(...rps)} to ${Math.max(...rps)} req/s`,
          );
        }
        if (scenario.renewals !== undefined) {
          notes.push(
            `  ${gateway.name} ${scenario.name}: ${Math.round(figures.rps * scenario.renewals)} instance renewals/s, ` +
              `x${((figures.rps * scenario.renewals) / mean(zkWrites).rps).toFixed(1)} ZooKeeper setData`,
          );
        }
        if (scenario.registers) {
          notes.push(
            `  ${gateway.name} ${scenario.name}: ${statusCodes['201'] ?? 0} created (201), ${statusCodes['200'] ?? 0} updated (200)`,
          );
        }
      }
      results[gateway.name] = rows;
    }
    const zkWrite = mean(zkWrites);
    results['zookeeperSetData'] = { ...zkWrite, runs: zkWrites };
    console.log(
      `  ${'-'.padEnd(9)} ${'ZooKeeper setData (direct)'.padEnd(34)} ${Math.round(zkWrite.rps).toString().padStart(7)} ${zkWrite.p50.toFixed(1).padStart(7)} ${zkWrite.p99.toFixed(1).padStart(7)}`,
    );
    const renewal = { memory: mean(renewals.memory), redis: mean(renewals.redis) };
    results['hotStoreRenewLease'] = renewal;
    const batchedRenewal = { memory: mean(batchedRenewals.memory), redis: mean(batchedRenewals.redis) };
    results['hotStoreRenewLeases'] = { batch: BATCH, inFlight: BATCHED_IN_FLIGHT, ...batchedRenewal };
    for (const name of ['memory', 'redis'] as const)
      for (const [what, figures] of [
        ['renewLease, in process (no HTTP)', renewal[name]],
        [`renewLeases x${BATCH}, leases/s (no HTTP)`, batchedRenewal[name]],
      ] as const)
        console.log(
          `  ${name.padEnd(9)} ${what.padEnd(34)} ${Math.round(figures.rps).toString().padStart(7)} ${figures.p50.toFixed(1).padStart(7)} ${figures.p99.toFixed(1).padStart(7)}`,
        );
    for (const note of notes) console.log(note);
    await writeResults(
      'registry',
      quick,
      results,
      headlines(gateways, runs, zkWrite, renewal, batchedRenewal),
    );
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

await main();
