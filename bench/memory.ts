/**
 * Gateway memory: resident set size (VmRSS) of a zkgate process on a standalone ZooKeeper 3.8
 * with 10,000 idle SSE streams open (4 client processes, one namespace each stream watches), and
 * of a fresh one with 10,000 namespaces of 1 KiB published and so cached; each against the same
 * process idle before (its baseline). Then as many idle streams as one process may hold open
 * files (20,000 less a reserve for the server's own descriptors, 8 client processes), beside the
 * bare node:http SSE server holding as many, each extrapolated to 50,000 streams. Writes
 * bench/results/memory.json.
 *
 *   npm run bench -- --only memory [--quick]
 */
import { readFile } from 'node:fs/promises';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { spawnGateway, spawnServer, type GatewayChild } from './gateway-child.js';
import { MANAGEMENT } from './operator.js';
import { compileBench, writeResults, type Headline } from './results.js';
import { SubscriberFleet } from './subscribers.js';

const quick = process.argv.includes('--quick');
const STREAMS = 10_000;
const NAMESPACES = 10_000;
const PUBLISH_IN_FLIGHT = 32;
const DOC_BYTES = 1024;
const RSS_TARGET_MB = 150;
const TIMEOUT_MS = 180_000;
/** Streams one replica is asked to hold at most; the open-file limit may allow fewer. */
const MANY_STREAMS = 20_000;
/** Descriptors a server keeps for itself (listener, store session, epoll, stdio, files). */
const FD_RESERVE = 200;
const EXTRAPOLATE_TO = 50_000;

/**
 * The soft open-file limit children of this process inherit (scripts/bench.sh raises it to the
 * hard limit): a server holds one descriptor per stream, so it bounds the streams it can hold.
 */
async function openFileLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

async function withServer<T>(started: Promise<GatewayChild>, use: (server: GatewayChild) => Promise<T>) {
  const server = await started;
  try {
    return await use(server);
  } finally {
    await server.stop();
  }
}

/** RSS of `server` idle, then holding `streams` SSE streams opened from `clients` processes. */
async function holdStreams(server: GatewayChild, path: string, streams = STREAMS, clients = 4) {
  const idleMb = await server.rssMb();
  const port = Number(new URL(server.url).port);
  // The bare server gets the operator's header too: the same request bytes as the gateway.
  const target = { mode: 'sse', port, path, headers: MANAGEMENT } as const;
  const fleet = await SubscriberFleet.open(streams, target, clients, TIMEOUT_MS);
  try {
    const loadedMb = await server.rssMb();
    return { idleMb, loadedMb, perItemKb: ((loadedMb - idleMb) * 1024) / streams };
  } finally {
    await fleet.close();
  }
}

async function publishAll(base: string, count: number): Promise<void> {
  const body = JSON.stringify({ payload: 'x'.repeat(DOC_BYTES - 14) });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const ns = `bench/many/n${next++}`;
      const response = await fetch(`${base}/v1/config/${ns}`, { method: 'PUT', body, headers: MANAGEMENT });
      if (response.status !== 201) throw new Error(`PUT ${ns}: ${response.status} ${await response.text()}`);
    }
  };
  await Promise.all(Array.from({ length: PUBLISH_IN_FLIGHT }, worker));
}

async function main(): Promise<void> {
  compileBench();
  const zk = await startZooKeeper({ extraCfg: { forceSync: 'yes' } });
  const results: Record<string, { idleMb: number; loadedMb: number; perItemKb: number }> = {};
  const many = Math.min(MANY_STREAMS, (await openFileLimit()) - FD_RESERVE);
  try {
    const env = {
      ZKGATE_ZK: zk.connectString,
      ZKGATE_SSE_MAX_CLIENT_CNXNS: String(MANY_STREAMS),
      ZKGATE_SSE_MAX_CONNECTIONS: String(MANY_STREAMS),
    };
    results['sse'] = await withServer(spawnGateway('memory-sse', env), (gateway) =>
      holdStreams(gateway, '/v1/watch?ns=bench/doc'),
    );
    results['bareSse'] = await withServer(spawnServer('memory-bare-sse', 'bare-sse', {}), (server) =>
      holdStreams(server, '/'),
    );
    results['manySse'] = await withServer(spawnGateway('memory-many-sse', env), (gateway) =>
      holdStreams(gateway, '/v1/watch?ns=bench/doc', many, 8),
    );
    results['manyBareSse'] = await withServer(spawnServer('memory-many-bare-sse', 'bare-sse', {}), (server) =>
      holdStreams(server, '/', many, 8),
    );
    results['namespaces'] = await withServer(
      spawnGateway('memory-ns', { ZKGATE_ZK: zk.connectString }),
      async (gateway) => {
        const idleMb = await gateway.rssMb();
        await publishAll(gateway.url, NAMESPACES);
        const listed = (await (
          await fetch(`${gateway.url}/v1/config?prefix=bench/many/`, { headers: MANAGEMENT })
        ).json()) as unknown[];
        if (listed.length !== NAMESPACES)
          throw new Error(`${listed.length} namespaces cached, not ${NAMESPACES}`);
        const loadedMb = await gateway.rssMb();
        return { idleMb, loadedMb, perItemKb: ((loadedMb - idleMb) * 1024) / NAMESPACES };
      },
    );
  } finally {
    await zk.stop();
  }
  const { sse, bareSse, namespaces, manySse, manyBareSse } = results as Record<
    'sse' | 'bareSse' | 'namespaces' | 'manySse' | 'manyBareSse',
    (typeof results)[string]
  >;
  // Idle RSS plus the cost per stream measured at `many`, for EXTRAPOLATE_TO streams.
  const extrapolate = (r: (typeof results)[string]) => r.idleMb + (r.perItemKb * EXTRAPOLATE_TO) / 1024;
  console.log(`gateway RSS (MiB), idle and loaded`);
  console.log(
    `  ${STREAMS} idle SSE streams:     idle ${sse.idleMb.toFixed(1)}  loaded ${sse.loadedMb.toFixed(1)}  (${sse.perItemKb.toFixed(1)} KiB per stream)`,
  );
  console.log(
    `  bare node:http, ${STREAMS} streams: idle ${bareSse.idleMb.toFixed(1)}  loaded ${bareSse.loadedMb.toFixed(1)}  (${bareSse.perItemKb.toFixed(1)} KiB per stream)`,
  );
  console.log(
    `  ${NAMESPACES} namespaces cached: idle ${namespaces.idleMb.toFixed(1)}  loaded ${namespaces.loadedMb.toFixed(1)}  (${namespaces.perItemKb.toFixed(1)} KiB per 1 KiB namespace)`,
  );
  console.log(`  ${many} idle SSE streams (the open-file limit less ${FD_RESERVE}), 8 client processes:`);
  for (const [name, r] of [
    ['gateway', manySse],
    ['bare node:http', manyBareSse],
  ] as const)
    console.log(
      `    ${name.padEnd(15)} idle ${r.idleMb.toFixed(1)}  loaded ${r.loadedMb.toFixed(1)}  (${r.perItemKb.toFixed(1)} KiB per stream; ${extrapolate(r).toFixed(0)} MiB at ${EXTRAPOLATE_TO})`,
    );
  const headlines: Headline[] = [
    {
      scenario: 'memory',
      what: `RSS with ${STREAMS} idle SSE streams`,
      unit: 'MiB',
      zkgate: sse.loadedMb,
      baseline: { name: 'same gateway idle', value: sse.idleMb },
      ratio: sse.loadedMb / sse.idleMb,
      target: { text: `< ${RSS_TARGET_MB} MB`, met: sse.loadedMb * 1.048576 < RSS_TARGET_MB },
    },
    {
      scenario: 'memory',
      what: `memory per idle SSE stream`,
      unit: 'KiB',
      zkgate: sse.perItemKb,
      baseline: { name: 'bare node:http SSE server', value: bareSse.perItemKb },
      ratio: sse.perItemKb / bareSse.perItemKb,
    },
    {
      scenario: 'memory',
      what: `RSS with ${NAMESPACES} namespaces (1 KiB) cached`,
      unit: 'MiB',
      zkgate: namespaces.loadedMb,
      baseline: { name: 'same gateway idle', value: namespaces.idleMb },
      ratio: namespaces.loadedMb / namespaces.idleMb,
    },
    {
      scenario: 'memory',
      what: `RSS with ${many} idle SSE streams (one process)`,
      unit: 'MiB',
      zkgate: manySse.loadedMb,
      baseline: { name: `bare node:http SSE server, ${many} streams`, value: manyBareSse.loadedMb },
      ratio: manySse.loadedMb / manyBareSse.loadedMb,
    },
    {
      scenario: 'memory',
      what: `memory per idle SSE stream at ${many}`,
      unit: 'KiB',
      zkgate: manySse.perItemKb,
      baseline: { name: 'bare node:http SSE server', value: manyBareSse.perItemKb },
      ratio: manySse.perItemKb / manyBareSse.perItemKb,
    },
    {
      scenario: 'memory',
      what: `RSS extrapolated to ${EXTRAPOLATE_TO} idle SSE streams`,
      unit: 'MiB',
      zkgate: extrapolate(manySse),
      baseline: { name: 'bare node:http SSE server, extrapolated', value: extrapolate(manyBareSse) },
      ratio: extrapolate(manySse) / extrapolate(manyBareSse),
    },
  ];
  await writeResults('memory', quick, results, headlines);
}

await main();
