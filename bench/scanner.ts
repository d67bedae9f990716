/**
 * Active health checks: how many checks per second one gateway replica sustains against a local
 * stub fleet, and at what CPU cost, each figure against baselines measured in the same run (the
 * machine is shared and noisy, so only ratios compare across runs).
 *
 * Three child processes, compiled by tsc as `npm start` runs them, all on 127.0.0.1:
 * - the stub fleet (bench/fixtures/scanner-fleet.ts): 8 node:http servers answering
 *   `GET /health/<n>` with 200, counting each instance's probes where they land;
 * - the gateway (bench/fixtures/scanner-gateway.ts): embedded store in a temp dir, memory hot
 *   store, LOG_LEVEL=warn, ZKGATE_CHECK_CONCURRENCY=256 (the default, stated so the baselines
 *   run the same number in flight); the only replica, so it owns every check;
 * - the baseline client (bench/fixtures/scanner-client.ts), run before the gateway starts: the
 *   same requests as the HTTP probes (one undici Agent, `reset: true`, one request per
 *   connection), as a closed loop of 256 workers (the raw connect + GET rate of this machine,
 *   measured again after the gateway stopped; ratios are against the mean of the two), as a
 *   closed loop of the scanner's own `probe()`, and paced: each instance once an interval on the
 *   scanner's schedule (first at random in the interval, then an interval after the previous
 *   start less up to 10%), at each step's number of instances: what the least scanner would
 *   spend at that rate.
 *
 * Instances are registered over HTTP (`PUT /v1/services/scan-<k>/instances/i<n>`, 10 services,
 * ttl 1h) with `check: { http: { path: '/health/<n>' }, interval: '1s', timeout: '500ms',
 * rise: 1, fall: 3 }`, in four steps up to 5000 (two up to 1000 with --quick). At each step, once
 * the scanner owns them all and after a warm-up of two intervals, a window counts the probes the
 * fleet received (checks/s; the share of the target N / interval; the gaps between two probes of
 * one instance), the gateway's CPU time (% of one core, CPU-ms per 1000 checks, and that over the
 * paced client's at the same instances), event loop, memory and the scanner's queue, and
 * cross-checks `zkgate_checks_total` on /metrics. A run is sustained when at least 98% of the
 * target rate arrives, every instance is probed, and 99% of the gaps stay within the interval plus
 * 10% (the jitter alone keeps them within the interval). Prints a table; writes
 * bench/results/scanner.json. About 2 minutes (45 s with --quick).
 *
 *   npm run bench -- --only scanner [--quick]   (or: npx tsx bench/scanner.ts [--quick] [--instances N])
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../test/support/processes.js';
import type {
  ClientResult,
  ClientRun,
  Command,
  CpuFigures,
  FleetWindow,
  GatewayWindow,
  Reply,
} from './fixtures/scanner-protocol.js';
import { firstLine, forgetDir, ownDir, track } from './child-process.js';
import { MANAGEMENT, OPERATOR_ENV } from './operator.js';
import { compileBench, writeResults } from './results.js';

const quick = process.argv.includes('--quick');
const instancesArg = process.argv.indexOf('--instances');
const MAX_INSTANCES = instancesArg > 0 ? Number(process.argv[instancesArg + 1]) : quick ? 1000 : 5000;
if (!Number.isInteger(MAX_INSTANCES) || MAX_INSTANCES < 10 || MAX_INSTANCES > 20_000)
  throw new Error('--instances must be an integer from 10 to 20000');
/** Instances checked at each step, cumulative: each step registers the difference. */
const STEPS = (quick ? [0.5, 1] : [0.25, 0.5, 0.75, 1]).map((share) => Math.round(MAX_INSTANCES * share));
const WINDOW_MS = quick ? 4000 : 6000;
const INTERVAL_MS = 1000;
const WARMUP_MS = 2 * INTERVAL_MS;
const CLIENT_WARMUP_MS = 1000;
const CONCURRENCY = 256;
const FLEET_SERVERS = 8;
const SERVICES = 10;
const SETUP_IN_FLIGHT = 32;
/** Sustained: this share of the target rate at least, and 99% of gaps within interval + slack. */
const SUSTAINED_SHARE = 0.98;
const GAP_SLACK_MS = 100;
const START_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = WINDOW_MS + 30_000;
const OWNED_TIMEOUT_MS = 60_000;

const fixtures = new URL('../dist/bench/fixtures/', import.meta.url);

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => {
    console.error(`${signal}: stopping`);
    process.exit(code);
  });

interface Child<T> {
  /** The first line the child printed, parsed. */
  readonly ready: T;
  ask<R>(request: Command): Promise<R>;
  stop(): Promise<void>;
}

async function startChild<T>(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<Child<T>> {
  const child = spawn(process.execPath, [new URL(script, fixtures).pathname, ...args], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
  const stop = track(child);
  const pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  let seq = 0;
  child.on('message', (reply: Reply) => {
    const waiting = pending.get(reply.seq);
    pending.delete(reply.seq);
    if (reply.ok) waiting?.resolve(reply.value);
    else waiting?.reject(new Error(`${name}: ${reply.error}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiting of pending.values())
      waiting.reject(new Error(`${name} exited with ${signal ?? code}`));
    pending.clear();
  });
  try {
    const line = await firstLine(child, name, START_TIMEOUT_MS);
    return {
      ready: JSON.parse(line) as T,
      ask<R>(request: Command): Promise<R> {
        return new Promise<R>((resolve, reject) => {
          const n = ++seq;
          const timer = setTimeout(() => {
            pending.delete(n);
            reject(new Error(`${name}: no answer to ${request.cmd} within ${REQUEST_TIMEOUT_MS} ms`));
          }, REQUEST_TIMEOUT_MS);
          pending.set(n, {
            resolve: (value) => {
              clearTimeout(timer);
              resolve(value as R);
            },
            reject: (err) => {
              clearTimeout(timer);
              reject(err);
            },
          });
          child.send({ ...request, seq: n });
        });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** CPU time over the window as a share of one core. */
const cpuShare = (cpu: CpuFigures): number => (cpu.userMs + cpu.systemMs) / cpu.elapsedMs;
/** CPU-ms per 1000 requests. */
const cpuPer1000 = (cpu: CpuFigures, count: number): number =>
  count > 0 ? ((cpu.userMs + cpu.systemMs) * 1000) / count : Number.NaN;

interface CheckMetrics {
  pass: number;
  fail: number;
  durationSum: number;
  durationCount: number;
  transitions: number;
}

/** The scanner's counters from `GET /metrics`. */
async function checkMetrics(base: string): Promise<CheckMetrics> {
  const text = await (await fetch(`${base}/metrics`, { headers: MANAGEMENT })).text();
  const figures: CheckMetrics = { pass: 0, fail: 0, durationSum: 0, durationCount: 0, transitions: 0 };
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ') as [string, string | undefined];
    const n = Number(value);
    if (name.startsWith('zkgate_checks_total{')) {
      if (name.includes('result="pass"')) figures.pass += n;
      else figures.fail += n;
    } else if (name === 'zkgate_check_duration_seconds_sum') figures.durationSum = n;
    else if (name === 'zkgate_check_duration_seconds_count') figures.durationCount = n;
    else if (name.startsWith('zkgate_check_transitions_total{')) figures.transitions += n;
  }
  return figures;
}

/** Registers instances `from .. to-1` over HTTP, each new (201). */
async function register(base: string, ports: readonly number[], from: number, to: number): Promise<void> {
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const n = next++;
      const service = `scan-${n % SERVICES}`;
      const response = await fetch(`${base}/v1/services/${service}/instances/i${n}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...MANAGEMENT },
        body: JSON.stringify({
          address: '127.0.0.1',
          port: ports[n % ports.length],
          ttl: '1h',
          check: { http: { path: `/health/${n}` }, interval: '1s', timeout: '500ms', rise: 1, fall: 3 },
        }),
      });
      const text = await response.text();
      if (response.status !== 201)
        throw new Error(`setup: PUT ${service}/i${n} answered ${response.status}: ${text}`);
    }
  };
  await Promise.all(Array.from({ length: SETUP_IN_FLIGHT }, worker));
}

interface Baseline {
  mode: ClientRun['mode'];
  instances: number;
  /** Requests per second the client completed in its measured time. */
  perS: number;
  /** Requests per second the fleet received in its window, and the window's other figures. */
  fleetPerS: number;
  share: number;
  sustained: boolean;
  missed: number;
  gapMs: FleetWindow['gapMs'];
  failures: number;
  firstFailure: string | undefined;
  cpuShare: number;
  cpuMsPer1000: number;
  elu: number;
  fleetCpuShare: number;
}

const targetOf = (instances: number): number => instances / (INTERVAL_MS / 1000);
const isSustained = (share: number, window: FleetWindow): boolean =>
  share >= SUSTAINED_SHARE && window.missed === 0 && window.gapMs.p99 <= INTERVAL_MS + GAP_SLACK_MS;

/** One client run, the fleet counting over the client's measured time. */
async function baseline(client: Child<unknown>, fleet: Child<unknown>, run: ClientRun): Promise<Baseline> {
  const answer = client.ask<ClientResult>({ cmd: 'run', run });
  await sleep(run.warmupMs);
  await fleet.ask({ cmd: 'start', n: run.n });
  await sleep(run.durationMs);
  const window = await fleet.ask<FleetWindow>({ cmd: 'stop' });
  const result = await answer;
  if (result.failures > result.requests * 0.001)
    console.error(`warning: ${run.mode} client: ${result.failures} failures, first ${result.firstFailure}`);
  const fleetPerS = window.requests / (window.cpu.elapsedMs / 1000);
  const share = fleetPerS / targetOf(run.n);
  return {
    mode: run.mode,
    instances: run.n,
    perS: result.requests / (result.cpu.elapsedMs / 1000),
    fleetPerS,
    share,
    sustained: isSustained(share, window),
    missed: window.missed,
    gapMs: window.gapMs,
    failures: result.failures,
    firstFailure: result.firstFailure,
    cpuShare: cpuShare(result.cpu),
    cpuMsPer1000: cpuPer1000(result.cpu, result.requests),
    elu: result.elu,
    fleetCpuShare: cpuShare(window.cpu),
  };
}

interface Step {
  instances: number;
  targetPerS: number;
  setupS: number;
  checksPerS: number;
  share: number;
  sustained: boolean;
  /** checks/s over the closed undici loop's req/s. */
  vsLoop: number;
  /** The paced undici client at the same number of instances. */
  paced: Baseline;
  metricsPerS: number;
  metricsFailures: number;
  transitions: number;
  probeMeanMs: number;
  missed: number;
  unknown: number;
  gapMs: FleetWindow['gapMs'];
  cpuShare: number;
  cpuMsPer1000: number;
  /** CPU-ms per check over the paced client's CPU-ms per request at the same instances. */
  cpuVsPaced: number;
  /** CPU-ms per check over the closed undici loop's CPU-ms per request. */
  cpuVsLoop: number;
  elu: number;
  loopDelayMs: GatewayWindow['loopDelayMs'];
  scanner: GatewayWindow['scanner'];
  rssMb: number;
  heapUsedMb: number;
  fleetCpuShare: number;
}

async function waitOwned(gateway: Child<unknown>, count: number): Promise<void> {
  const deadline = Date.now() + OWNED_TIMEOUT_MS;
  for (;;) {
    const status = await gateway.ask<{ owned: number; active: boolean }>({ cmd: 'status' });
    if (status.owned === count) return;
    if (Date.now() > deadline)
      throw new Error(`the scanner owns ${status.owned} of ${count} checks (active: ${status.active})`);
    await sleep(100);
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

async function main(): Promise<void> {
  compileBench();
  const cleanup: Array<() => Promise<void>> = [];
  try {
    const fleet = await startChild<{ ports: number[] }>(
      'fleet',
      'scanner-fleet.js',
      [String(FLEET_SERVERS), String(MAX_INSTANCES)],
      {},
    );
    cleanup.push(() => fleet.stop());
    const { ports } = fleet.ready;
    const client = await startChild<unknown>('client', 'scanner-client.js', [], {});
    cleanup.push(() => client.stop());

    const run = (mode: ClientRun['mode'], n: number, warmupMs: number): ClientRun => ({
      mode,
      n,
      ports,
      concurrency: CONCURRENCY,
      intervalMs: INTERVAL_MS,
      warmupMs,
      durationMs: WINDOW_MS,
    });
    // Baselines first, with no gateway running: the closed loops (raw rate, and probe() alone),
    // then the paced client at each step's number of instances.
    const before = await baseline(client, fleet, run('undici', MAX_INSTANCES, CLIENT_WARMUP_MS));
    const probeLoop = await baseline(client, fleet, run('probe', MAX_INSTANCES, CLIENT_WARMUP_MS));
    const paced = new Map<number, Baseline>();
    for (const instances of STEPS) {
      const b = await baseline(client, fleet, run('paced', instances, WARMUP_MS));
      paced.set(instances, b);
      console.log(
        `  paced client, ${instances} instances: ${Math.round(b.fleetPerS)} req/s of ${targetOf(instances)} ` +
          `(${(b.share * 100).toFixed(1)}%), client CPU ${pct(b.cpuShare)}`,
      );
    }

    const dataDir = await makeTempDir('zkgate-bench-scanner-');
    ownDir(dataDir);
    const gateway = await startChild<{ url: string; hot: string; pid: number }>(
      'gateway',
      'scanner-gateway.js',
      [],
      {
        ZKGATE_DATA_DIR: dataDir,
        ZKGATE_CHECK_CONCURRENCY: String(CONCURRENCY),
        LOG_LEVEL: 'warn',
        ...OPERATOR_ENV,
      },
    );
    const stopGateway = async (): Promise<void> => {
      await gateway.stop();
      await rm(dataDir, { recursive: true, force: true });
      forgetDir(dataDir);
    };
    cleanup.push(stopGateway);
    const { url } = gateway.ready;
    if (gateway.ready.hot !== 'memory') throw new Error(`the gateway runs a ${gateway.ready.hot} hot store`);

    const measured: Array<Omit<Step, 'vsLoop' | 'cpuVsLoop'>> = [];
    let registered = 0;
    for (const instances of STEPS) {
      const setupStarted = Date.now();
      await register(url, ports, registered, instances);
      registered = instances;
      await waitOwned(gateway, instances);
      const setupS = (Date.now() - setupStarted) / 1000;
      await sleep(WARMUP_MS);

      const m0 = await checkMetrics(url);
      await fleet.ask({ cmd: 'start', n: instances });
      await gateway.ask({ cmd: 'start' });
      await sleep(WINDOW_MS);
      const gw = await gateway.ask<GatewayWindow>({ cmd: 'stop' });
      const window = await fleet.ask<FleetWindow>({ cmd: 'stop' });
      const m1 = await checkMetrics(url);

      const targetPerS = targetOf(instances);
      const checksPerS = window.requests / (window.cpu.elapsedMs / 1000);
      const share = checksPerS / targetPerS;
      const metricsChecks = m1.pass + m1.fail - m0.pass - m0.fail;
      const durationCount = m1.durationCount - m0.durationCount;
      const cpuMsPer1000 = cpuPer1000(gw.cpu, window.requests);
      const pacedRun = paced.get(instances)!;
      const step = {
        instances,
        targetPerS,
        setupS,
        checksPerS,
        share,
        sustained: isSustained(share, window),
        paced: pacedRun,
        metricsPerS: metricsChecks / (gw.cpu.elapsedMs / 1000),
        metricsFailures: m1.fail - m0.fail,
        transitions: m1.transitions - m0.transitions,
        probeMeanMs: durationCount > 0 ? ((m1.durationSum - m0.durationSum) * 1000) / durationCount : 0,
        missed: window.missed,
        unknown: window.unknown,
        gapMs: window.gapMs,
        cpuShare: cpuShare(gw.cpu),
        cpuMsPer1000,
        cpuVsPaced: cpuMsPer1000 / pacedRun.cpuMsPer1000,
        elu: gw.elu,
        loopDelayMs: gw.loopDelayMs,
        scanner: gw.scanner,
        rssMb: gw.rssMb,
        heapUsedMb: gw.heapUsedMb,
        fleetCpuShare: cpuShare(window.cpu),
      };
      measured.push(step);
      console.log(
        `  scanner, ${instances} instances: ${Math.round(checksPerS)} checks/s of ${targetPerS} ` +
          `(${(share * 100).toFixed(1)}%), gateway CPU ${pct(step.cpuShare)}, queued max ${gw.scanner.queuedMax}, ` +
          `setup ${setupS.toFixed(1)} s`,
      );
    }
    await stopGateway();
    cleanup.pop();

    const after = await baseline(client, fleet, run('undici', MAX_INSTANCES, CLIENT_WARMUP_MS));
    const loopRate = (before.perS + after.perS) / 2;
    const loopCpu = (before.cpuMsPer1000 + after.cpuMsPer1000) / 2;
    const steps: Step[] = measured.map((step) => ({
      ...step,
      vsLoop: step.checksPerS / loopRate,
      cpuVsLoop: step.cpuMsPer1000 / loopCpu,
    }));
    const sustained = steps.filter((s) => s.sustained);
    const maxSustained = sustained.length > 0 ? sustained[sustained.length - 1]! : undefined;
    const capacity = Math.max(...steps.map((s) => s.checksPerS));

    console.log(
      `\nactive health checks, one replica: ${CONCURRENCY} probes in flight at most, interval ${INTERVAL_MS} ms, ` +
        `${FLEET_SERVERS} stub servers, ${WINDOW_MS / 1000} s windows; gateway, fleet and client share ${cpus().length} cores`,
    );
    console.log(
      `closed loops of ${CONCURRENCY} workers, one request per connection, on the same fleet (ratio: of the undici loops' mean)`,
    );
    for (const [name, b] of [
      ['undici loop (before)', before],
      ['probe() loop', probeLoop],
      ['undici loop (after)', after],
    ] as const)
      console.log(
        `  ${name.padEnd(21)} ${Math.round(b.perS).toString().padStart(6)} req/s  ratio ${(b.perS / loopRate).toFixed(2)}` +
          `  client CPU ${pct(b.cpuShare).padStart(4)}, ${b.cpuMsPer1000.toFixed(0).padStart(4)} CPU-ms/1000` +
          `  fleet CPU ${pct(b.fleetCpuShare)}`,
      );
    console.log(
      'scanner vs the paced client (raw undici requests on the same schedule, same instances), counted at the fleet:\n' +
        "  share = of N/interval; vs loop = of the undici loops' req/s; CPU = % of one core; ms/1k = CPU-ms per 1000\n" +
        "  checks; cpu x = over the paced client's ms/1k; gap = between two probes of one instance; queued = max",
    );
    console.log(
      `  ${'N'.padStart(5)} ${'target'.padStart(6)} | ${'paced'.padStart(6)} ${'share'.padStart(5)} ${'CPU'.padStart(4)}` +
        ` ${'ms/1k'.padStart(5)} | ${'chk/s'.padStart(6)} ${'share'.padStart(5)} ${'vs loop'.padStart(7)}` +
        ` ${'gap p99'.padStart(7)} ${'max'.padStart(5)} ${'queued'.padStart(6)} ${'probe ms'.padStart(8)}` +
        ` ${'lag p99'.padStart(7)} ${'CPU'.padStart(4)} ${'ms/1k'.padStart(5)} ${'cpu x'.padStart(5)}` +
        ` ${'RSS MB'.padStart(6)} ${'fails'.padStart(5)} sustained`,
    );
    for (const s of steps)
      console.log(
        `  ${String(s.instances).padStart(5)} ${String(s.targetPerS).padStart(6)} |` +
          ` ${Math.round(s.paced.fleetPerS).toString().padStart(6)} ${s.paced.share.toFixed(2).padStart(5)}` +
          ` ${pct(s.paced.cpuShare).padStart(4)} ${s.paced.cpuMsPer1000.toFixed(0).padStart(5)} |` +
          ` ${Math.round(s.checksPerS).toString().padStart(6)} ${s.share.toFixed(2).padStart(5)} ${s.vsLoop.toFixed(2).padStart(7)}` +
          ` ${Math.round(s.gapMs.p99).toString().padStart(7)} ${Math.round(s.gapMs.max).toString().padStart(5)}` +
          ` ${String(s.scanner.queuedMax).padStart(6)} ${s.probeMeanMs.toFixed(1).padStart(8)}` +
          ` ${s.loopDelayMs.p99.toFixed(0).padStart(7)} ${pct(s.cpuShare).padStart(4)} ${s.cpuMsPer1000.toFixed(0).padStart(5)}` +
          ` ${s.cpuVsPaced.toFixed(2).padStart(5)} ${s.rssMb.toFixed(0).padStart(6)}` +
          ` ${String(s.metricsFailures).padStart(5)} ${s.sustained ? 'yes' : 'no'}${s.paced.sustained ? '' : ' (paced: no)'}`,
      );
    const top = steps[steps.length - 1]!;
    console.log(
      top.sustained
        ? `${top.instances} instances at ${INTERVAL_MS} ms sustained: ${Math.round(top.checksPerS)} checks/s, ` +
            `${pct(top.vsLoop)} of the raw loop's rate, ${pct(top.cpuShare)} of a core`
        : `${top.instances} instances at ${INTERVAL_MS} ms NOT sustained (${Math.round(top.checksPerS)} of ${top.targetPerS} checks/s` +
            `${top.paced.sustained ? '' : '; the paced client did not sustain it either'}); ` +
            (maxSustained
              ? `largest step sustained: ${maxSustained.instances} instances (${Math.round(maxSustained.checksPerS)} checks/s); `
              : 'no step sustained; ') +
            `most checks/s seen: ${Math.round(capacity)} (${pct(capacity / loopRate)} of the raw loop's rate)`,
    );
    for (const s of steps) {
      const crossCheck = s.metricsPerS / s.checksPerS;
      if (Math.abs(crossCheck - 1) > 0.05 || s.unknown > 0)
        console.log(
          `  note: ${s.instances} instances: zkgate_checks_total says ${Math.round(s.metricsPerS)}/s, the fleet ` +
            `${Math.round(s.checksPerS)}/s (${s.unknown} requests for unknown paths)`,
        );
    }

    await writeResults('scanner', quick, {
      cores: cpus().length,
      concurrency: CONCURRENCY,
      intervalMs: INTERVAL_MS,
      windowMs: WINDOW_MS,
      warmupMs: WARMUP_MS,
      fleetServers: FLEET_SERVERS,
      services: SERVICES,
      sustainedWhen: { share: SUSTAINED_SHARE, gapP99Ms: INTERVAL_MS + GAP_SLACK_MS, missed: 0 },
      loop: { before, after, perS: loopRate, cpuMsPer1000: loopCpu },
      probeLoop: {
        ...probeLoop,
        ratio: probeLoop.perS / loopRate,
        cpuRatio: probeLoop.cpuMsPer1000 / loopCpu,
      },
      steps,
      maxSustained: maxSustained
        ? { instances: maxSustained.instances, checksPerS: maxSustained.checksPerS }
        : null,
      capacity: { checksPerS: capacity, ratio: capacity / loopRate },
    });
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

await main();
