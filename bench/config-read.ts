/**
 * Cached config reads, `GET /v1/config/{ns}` (200, and the 304 path), of a 1 KiB and a 64 KiB
 * JSON document, against what an application would use instead, in one run:
 * - a bare fastify route returning the same bytes: the ceiling for any fastify app;
 * - `getData` of the same znode through node-zookeeper-client, against the same standalone
 *   ZooKeeper 3.8 the gateway runs on;
 * - etcd 3.4's HTTP/JSON `range` of a key holding the same bytes.
 * Servers run in a child process, compiled by tsc as `npm start` runs them (tsx's transpiled
 * output is measurably slower: it wraps every closure to keep its name). autocannon drives 100
 * connections on loopback; the ZooKeeper client keeps 100 requests in flight over one session.
 * Rounds alternate so every contender sees the same machine load. Prints req/s, p50/p99 latency
 * and ratios; writes bench/results/config-read.json. With --cpu-prof the gateway's process
 * writes a V8 CPU profile to bench/results/profiles/ and its hottest functions are printed.
 *
 *   npm run bench -- --only config [--quick] [--cpu-prof]
 */
import { mkdir, rm } from 'node:fs/promises';
import type autocannon from 'autocannon';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { base64, etcdPut, startEtcd } from './etcd.js';
import { connectDirect } from './fixtures/zk-direct.js';
import { MANAGEMENT, OPERATOR_ENV } from './operator.js';
import { summarizeProfiles } from './profile.js';
import {
  closedLoop,
  compileBench,
  httpLoad,
  mean,
  startFixture,
  writeResults,
  type Figures,
  type Headline,
} from './results.js';

const quick = process.argv.includes('--quick');
const cpuProf = process.argv.includes('--cpu-prof');
const DURATION_S = quick ? 3 : 8;
const ROUNDS = quick ? 1 : 2;
const CONNECTIONS = 100;
const PROFILE_DIR = new URL('./results/profiles/', import.meta.url).pathname;

type Contender = 'bare' | 'zkgate' | 'zkgate304' | 'zookeeper' | 'etcd';
const LABELS: Record<Contender, string> = {
  bare: 'bare fastify route',
  zkgate: 'zkgate GET (cached)',
  zkgate304: 'zkgate GET -> 304',
  zookeeper: 'ZooKeeper getData',
  etcd: 'etcd range (HTTP)',
};

const load = (options: autocannon.Options, expect: 200 | 304 = 200): Promise<Figures> =>
  httpLoad({ connections: CONNECTIONS, duration: DURATION_S, ...options }, expect);

interface Servers {
  zkgate: string;
  bare: string;
  znode: string;
  body: string;
}

function startServers(fixture: string, size: number, connectString: string, profile: boolean) {
  return startFixture<Servers>(fixture, [String(size)], {
    env: { ZKGATE_ZK: connectString, ...OPERATOR_ENV },
    nodeFlags: profile ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [],
  });
}

async function main(): Promise<void> {
  compileBench();
  const fixture = new URL('../dist/bench/fixtures/read-servers.js', import.meta.url).pathname;
  const zk = await startZooKeeper({ extraCfg: { forceSync: 'yes' } });
  const etcd = await startEtcd();
  const direct = await connectDirect(zk.connectString);
  const results: Record<string, unknown> = {};
  const headlines: Headline[] = [];
  if (cpuProf) {
    await rm(PROFILE_DIR, { recursive: true, force: true });
    await mkdir(PROFILE_DIR, { recursive: true });
  }
  try {
    for (const size of [1024, 65536]) {
      const { servers, stop } = await startServers(fixture, size, zk.connectString, false);
      try {
        const etcdKey = servers.znode;
        await etcdPut(etcd.url, etcdKey, servers.body);
        const read = await direct.getData(servers.znode);
        if (read?.toString('utf8') !== servers.body) throw new Error('ZooKeeper holds other bytes');
        const etcdRange = {
          url: `${etcd.url}/v3/kv/range`,
          method: 'POST' as const,
          body: JSON.stringify({ key: base64(etcdKey) }),
        };
        const etcdAnswer = (await (await fetch(etcdRange.url, etcdRange)).json()) as {
          kvs?: { value: string }[];
        };
        if (etcdAnswer.kvs?.[0]?.value !== base64(servers.body)) throw new Error('etcd holds other bytes');

        const etag = (await fetch(servers.zkgate, { headers: MANAGEMENT })).headers.get('etag') ?? '';
        const runs: Record<Contender, Figures[]> = {
          bare: [],
          zkgate: [],
          zkgate304: [],
          zookeeper: [],
          etcd: [],
        };
        const measure: Record<Contender, () => Promise<Figures>> = {
          bare: () => load({ url: servers.bare }),
          zkgate: () => load({ url: servers.zkgate, headers: MANAGEMENT }),
          zkgate304: () =>
            load({ url: servers.zkgate, headers: { ...MANAGEMENT, 'if-none-match': etag } }, 304),
          zookeeper: () => closedLoop(CONNECTIONS, DURATION_S * 1000, () => direct.getData(servers.znode)),
          etcd: () => load(etcdRange),
        };
        await load({ url: servers.zkgate, headers: MANAGEMENT, duration: 1 }); // warm-up, not counted
        for (let r = 0; r < ROUNDS; r++) {
          for (const contender of Object.keys(runs) as Contender[])
            runs[contender].push(await measure[contender]());
        }
        const figures = Object.fromEntries(
          (Object.keys(runs) as Contender[]).map((c) => [c, mean(runs[c])]),
        ) as Record<Contender, Figures>;
        results[`${size}B`] = figures;
        console.log(
          `config read, ${size}-byte document, ${CONNECTIONS} in flight, ${DURATION_S}s x ${ROUNDS}`,
        );
        for (const c of Object.keys(figures) as Contender[]) {
          const f = figures[c];
          console.log(
            `  ${LABELS[c].padEnd(22)} ${Math.round(f.rps).toString().padStart(7)} req/s  p50 ${f.p50.toFixed(1)} ms  p99 ${f.p99.toFixed(1)} ms  ${c === 'bare' ? '' : `x${(f.rps / figures.bare.rps).toFixed(2)} of bare`}`,
          );
        }
        const what = `cached GET, ${size / 1024} KiB`;
        const line = (baseline: Contender, target?: { text: string; min: number }): Headline => {
          const ratio = figures.zkgate.rps / figures[baseline].rps;
          return {
            scenario: 'config read',
            what,
            unit: 'req/s',
            zkgate: figures.zkgate.rps,
            baseline: { name: LABELS[baseline], value: figures[baseline].rps },
            ratio,
            ...(target ? { target: { text: target.text, met: ratio >= target.min } } : {}),
          };
        };
        headlines.push(
          line('bare', { text: '>= 0.85 of bare fastify', min: 0.85 }),
          line('zookeeper', { text: 'above ZooKeeper getData', min: 1 }),
          line('etcd'),
          {
            ...line('bare'),
            what: `304, ${size / 1024} KiB`,
            zkgate: figures.zkgate304.rps,
            ratio: figures.zkgate304.rps / figures.bare.rps,
          },
        );
      } finally {
        await stop();
      }
      if (cpuProf) {
        // A process of its own, serving only zkgate's load: the measured one serves every contender.
        const profiled = await startServers(fixture, size, zk.connectString, true);
        await load({ url: profiled.servers.zkgate, headers: MANAGEMENT }).finally(profiled.stop);
      }
    }
  } finally {
    direct.close();
    await etcd.stop();
    await zk.stop();
  }
  await writeResults('config-read', quick, results, headlines);
  if (cpuProf) await summarizeProfiles(PROFILE_DIR);
}

await main();
