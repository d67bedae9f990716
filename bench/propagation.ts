/**
 * Change propagation and resume, zkgate against what an application would watch instead, in one
 * run on one standalone ZooKeeper 3.8 (forceSync=yes) and one etcd 3.4:
 * - propagation: a 1 KiB JSON document is published and its delivery timed at 1, 1,000 and
 *   10,000 subscribers: zkgate SSE streams (`GET /v1/watch?ns=`, the publish a `PUT` to the
 *   gateway), ZooKeeper data watches of sessions of their own (node-zookeeper-client, the publish
 *   a direct `setData`, delivery once the re-read returns the new data) and etcd watches over its
 *   HTTP gateway (the publish a `put`). The delay runs from just before the publish is sent to the
 *   moment a subscriber holds the new document; p50/p99/max over every delivery and the count
 *   delivered against the count expected. Subscribers live in 4 client processes (1 for a single
 *   subscriber); every publish waits for the previous one to reach everybody, and one untimed
 *   publish per row warms the path up first. A single subscriber gets more publishes, as its p99
 *   is otherwise the one slowest of a handful.
 * - propagation at the open-file limit: as many zkgate SSE streams as one gateway process can hold
 *   (the hard limit of 20,000 files per process, less the gateway's own files), zkgate alone:
 *   neither ZooKeeper nor etcd could hold as many clients under the same limit. `npm run bench`
 *   raises the soft limit to the hard one (bench/run.ts).
 * - resume: SSE subscribers watching 10 namespaces drop their streams; 5 namespaces change (one
 *   twice) and each subscriber reconnects with `Last-Event-ID`. Each must get exactly the 5
 *   changed namespaces once, at their latest version: the time until all have, and the count.
 * The gateway runs on the ZooKeeper in its own process, memory hot store. Writes
 * bench/results/propagation.json.
 *
 *   npm run bench -- --only propagation [--quick] [--cpu-prof]
 *
 * With --cpu-prof the gateway writes V8 CPU profiles to bench/results/profiles/, summarized at
 * the end (bench/profile.ts).
 */
import { mkdir, rm } from 'node:fs/promises';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { base64, etcdPut, startEtcd } from './etcd.js';
import type { SubscriberTarget } from './fixtures/subscribers-protocol.js';
import { connectDirect } from './fixtures/zk-direct.js';
import { spawnGateway } from './gateway-child.js';
import { MANAGEMENT } from './operator.js';
import { summarizeProfiles } from './profile.js';
import { compileBench, percentile, writeResults, type Headline } from './results.js';
import { SubscriberFleet } from './subscribers.js';

const quick = process.argv.includes('--quick');
const cpuProf = process.argv.includes('--cpu-prof');
const PROFILE_DIR = new URL('./results/profiles/', import.meta.url).pathname;
const COUNTS = [1, 1000, 10_000];
/** The open-file limit of one process here (hard), less room for the gateway's own files. */
const AT_FILE_LIMIT = 20_000 - 100;
const PUBLISHES = quick ? 3 : 10;
const SINGLE_PUBLISHES = quick ? 20 : 50;
const RESUME_SUBSCRIBERS = quick ? 1000 : 10_000;
const RESUME_NAMESPACES = 10;
const CLIENT_PROCESSES = 4;
const OPEN_TIMEOUT_MS = 180_000;
const DELIVERY_TIMEOUT_MS = 30_000;
const DOC_BYTES = 1024;
const NAMESPACE = 'bench/prop';
const ZNODE = '/bench-watch/doc';
const ETCD_KEY = 'bench/prop';
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

type Mode = SubscriberTarget['mode'];
const LABELS: Record<Mode, string> = {
  sse: 'zkgate SSE',
  zookeeper: 'ZooKeeper data watch',
  etcd: 'etcd watch (HTTP)',
};

/** `{"seq":N,"payload":"xx…"}` of DOC_BYTES bytes. */
function documentOf(seq: number): string {
  const head = `{"seq":${seq},"payload":"`;
  return `${head}${'x'.repeat(DOC_BYTES - head.length - 2)}"}`;
}

/**
 * PUT `body`, again after Retry-After while the gateway refuses writes up front because its
 * session is away (a fresh ZooKeeper on a loaded machine can miss the gateway's liveness window).
 */
async function put(url: string, body: string): Promise<void> {
  for (;;) {
    const response = await fetch(url, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/json', ...MANAGEMENT },
    });
    if (response.ok) return;
    const text = await response.text();
    const retryAfter = Number(response.headers.get('retry-after'));
    if (response.status !== 503 || !text.includes('"the coordination store is ') || !(retryAfter > 0))
      throw new Error(`PUT ${url}: ${response.status} ${text}`);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
  }
}

interface Delays {
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  expected: number;
  duplicates: number;
  openSeconds: number;
}

async function main(): Promise<void> {
  compileBench();
  const cleanup: Array<() => Promise<void>> = [];
  const results: Record<string, unknown> = {};
  const headlines: Headline[] = [];
  try {
    const zk = await startZooKeeper({ extraCfg: { forceSync: 'yes' } });
    cleanup.push(() => zk.stop());
    const etcd = await startEtcd();
    cleanup.push(() => etcd.stop());
    if (cpuProf) {
      await rm(PROFILE_DIR, { recursive: true, force: true });
      await mkdir(PROFILE_DIR, { recursive: true });
    }
    const gateway = await spawnGateway(
      'propagation',
      {
        ZKGATE_ZK: zk.connectString,
        ZKGATE_SSE_MAX_CLIENT_CNXNS: '20000',
        ZKGATE_SSE_MAX_CONNECTIONS: '20000',
      },
      cpuProf ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [],
    );
    cleanup.push(() => gateway.stop());
    const direct = await connectDirect(zk.connectString);
    cleanup.push(async () => direct.close());
    const port = Number(new URL(gateway.url).port);
    const etcdPort = Number(new URL(etcd.url).port);

    let seq = 0;
    const publish: Record<Mode, (body: string) => Promise<unknown>> = {
      sse: (body) => put(`${gateway.url}/v1/config/${NAMESPACE}`, body),
      zookeeper: (body) => direct.setData(ZNODE, Buffer.from(body)),
      etcd: (body) => etcdPut(etcd.url, ETCD_KEY, body),
    };
    await put(`${gateway.url}/v1/config/${NAMESPACE}`, documentOf(seq));
    await direct.put(ZNODE, Buffer.from(documentOf(seq)));
    await etcdPut(etcd.url, ETCD_KEY, documentOf(seq));
    const targets: Record<Mode, SubscriberTarget> = {
      sse: { mode: 'sse', port, path: `/v1/watch?ns=${NAMESPACE}`, headers: MANAGEMENT },
      zookeeper: { mode: 'zookeeper', connectString: zk.connectString, path: ZNODE },
      etcd: { mode: 'etcd', port: etcdPort, path: base64(ETCD_KEY) },
    };

    console.log(
      `change propagation, ${DOC_BYTES}-byte document, ${PUBLISHES} publishes per row; delay from publish to delivery`,
    );
    console.log(
      `  ${'subscribers'.padStart(11)} ${'contender'.padEnd(22)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'delivered'.padStart(17)} ${'open s'.padStart(7)}`,
    );
    /** Opens `count` subscribers of `mode`, publishes, and times every delivery. */
    const measure = async (count: number, mode: Mode): Promise<Delays> => {
      const processes = count >= CLIENT_PROCESSES ? CLIENT_PROCESSES : 1;
      const fleet = await SubscriberFleet.open(count, targets[mode], processes, OPEN_TIMEOUT_MS);
      try {
        // Not timed; a subscriber it does not reach shows in the timed publishes' count.
        await publish[mode](documentOf(++seq));
        await fleet.delivered(seq, DELIVERY_TIMEOUT_MS);
        await fleet.collect(DELIVERY_TIMEOUT_MS);
        const sentAt = new Map<number, number>();
        const publishes = count === 1 ? SINGLE_PUBLISHES : PUBLISHES;
        for (let i = 0; i < publishes; i++) {
          seq++;
          sentAt.set(seq, now());
          await publish[mode](documentOf(seq));
          await fleet.delivered(seq, DELIVERY_TIMEOUT_MS);
        }
        const { received, duplicates } = await fleet.collect(DELIVERY_TIMEOUT_MS);
        const delays: number[] = [];
        for (const [s, times] of received) {
          const t0 = sentAt.get(s);
          if (t0 !== undefined) for (const t of times) delays.push(t - t0);
        }
        const sorted = Float64Array.from(delays).sort();
        const d: Delays = {
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          max: sorted[sorted.length - 1] ?? Number.NaN,
          delivered: delays.length,
          expected: count * publishes,
          duplicates,
          openSeconds: fleet.openMs / 1000,
        };
        console.log(
          `  ${String(count).padStart(11)} ${LABELS[mode].padEnd(22)} ${d.p50.toFixed(1).padStart(8)} ${d.p99.toFixed(1).padStart(8)} ${d.max.toFixed(1).padStart(8)} ${`${d.delivered}/${d.expected}`.padStart(17)} ${d.openSeconds.toFixed(1).padStart(7)}`,
        );
        if (d.duplicates > 0) console.log(`    ${d.duplicates} deliveries of a version already held`);
        return d;
      } finally {
        await fleet.close();
      }
    };

    const propagation: Record<string, Partial<Record<Mode, Delays>>> = {};
    const everyDelivery = (d: Delays): boolean => d.delivered === d.expected;
    for (const count of COUNTS) {
      const row = {} as Record<Mode, Delays>;
      for (const mode of Object.keys(targets) as Mode[]) row[mode] = await measure(count, mode);
      propagation[String(count)] = row;
      for (const baseline of ['zookeeper', 'etcd'] as const) {
        const target =
          baseline !== 'zookeeper'
            ? undefined
            : count === 1
              ? { text: 'p99 <= 2x a ZooKeeper watch', met: row.sse.p99 <= 2 * row.zookeeper.p99 }
              : count === 10_000
                ? {
                    text: 'p99 < 100 ms, every delivery made',
                    met: row.sse.p99 < 100 && everyDelivery(row.sse),
                  }
                : undefined;
        headlines.push({
          scenario: 'propagation',
          what: `p99 delay, ${count} subscriber${count > 1 ? 's' : ''}`,
          unit: 'ms',
          zkgate: row.sse.p99,
          baseline: { name: `${LABELS[baseline]} p99`, value: row[baseline].p99 },
          ratio: row.sse.p99 / row[baseline].p99,
          ...(target ? { target } : {}),
        });
      }
    }
    const atLimit = await measure(AT_FILE_LIMIT, 'sse');
    propagation[String(AT_FILE_LIMIT)] = { sse: atLimit };
    const tenThousand = propagation['10000']!.sse!;
    headlines.push({
      scenario: 'propagation',
      what: `p99 delay, ${AT_FILE_LIMIT} subscribers (one gateway at the file limit)`,
      unit: 'ms',
      zkgate: atLimit.p99,
      baseline: { name: 'zkgate SSE p99, 10000 subscribers', value: tenThousand.p99 },
      ratio: atLimit.p99 / tenThousand.p99,
      target: {
        text: 'p99 < 250 ms at 20,000, every delivery made',
        met: atLimit.p99 < 250 && everyDelivery(atLimit),
      },
    });
    results['propagation'] = propagation;

    // Resume: subscribers watching RESUME_NAMESPACES namespaces miss changes to half of them.
    const ns = (i: number): string => `bench/resume/n${i}`;
    for (let i = 0; i < RESUME_NAMESPACES; i++)
      await put(`${gateway.url}/v1/config/${ns(i)}`, documentOf(++seq));
    const fleet = await SubscriberFleet.open(
      RESUME_SUBSCRIBERS,
      { mode: 'sse', port, path: '/v1/watch?prefix=bench/resume/', headers: MANAGEMENT },
      CLIENT_PROCESSES,
      OPEN_TIMEOUT_MS,
    );
    try {
      // A change every stream must have seen: each then holds the whole snapshot before it.
      await put(`${gateway.url}/v1/config/${ns(0)}`, documentOf(++seq));
      if (!(await fleet.delivered(seq, DELIVERY_TIMEOUT_MS))) throw new Error('resume setup: a stream lags');
      await fleet.disconnect(DELIVERY_TIMEOUT_MS);
      const latest = new Map<string, number>();
      for (const i of [1, 2, 3, 4, 5, 1]) {
        await put(`${gateway.url}/v1/config/${ns(i)}`, documentOf(++seq));
        latest.set(ns(i), seq);
      }
      const expected = [...latest].map(([n, s]) => `${n}=${s}`).sort();
      const resumed = await fleet.resume(expected.length, OPEN_TIMEOUT_MS);
      const exact = resumed.events.filter(
        (events) => events.slice().sort().join() === expected.join(),
      ).length;
      const delivered = resumed.events.reduce((sum, events) => sum + events.length, 0);
      results['resume'] = {
        subscribers: RESUME_SUBSCRIBERS,
        changedNamespaces: expected.length,
        seconds: resumed.ms / 1000,
        delivered,
        expected: expected.length * RESUME_SUBSCRIBERS,
        exactlyOnce: exact,
      };
      console.log(
        `resume: ${RESUME_SUBSCRIBERS} subscribers reconnected with Last-Event-ID after ${expected.length} namespaces changed: ` +
          `converged in ${(resumed.ms / 1000).toFixed(2)} s, ${delivered}/${expected.length * RESUME_SUBSCRIBERS} events, ` +
          `${exact}/${RESUME_SUBSCRIBERS} got exactly the missed changes once`,
      );
      headlines.push({
        scenario: 'resume',
        what: `${RESUME_SUBSCRIBERS} reconnects, subscribers with exactly the missed changes once`,
        unit: 'subscribers',
        zkgate: exact,
        baseline: { name: 'subscribers', value: RESUME_SUBSCRIBERS },
        ratio: exact / RESUME_SUBSCRIBERS,
        target: { text: 'exactly once, all', met: exact === RESUME_SUBSCRIBERS },
      });
    } finally {
      await fleet.close();
    }
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((err: unknown) => console.error('cleanup failed:', err));
  }
  await writeResults('propagation', quick, results, headlines);
  if (cpuProf) await summarizeProfiles(PROFILE_DIR);
}

await main();
