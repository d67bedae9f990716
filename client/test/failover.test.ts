/**
 * Two gateway replicas on one ZooKeeper (and one Redis, the replicas' shared hot store). A client
 * watching three namespaces and a service loses its stream when its replica is killed (SIGKILL)
 * while ten publishes happen on the other; it resumes there and emits exactly the changes it
 * missed, each once, in order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ready, startGateway, type GatewayProcess } from '../../test/support/gateway-process.js';
import { startProxy, type TcpProxy } from '../../test/support/proxy.js';
import { startRedis, type RedisServer } from '../../test/support/redis.js';
import { MANAGEMENT_SECRET } from '../../test/support/tokens.js';
import { within } from '../../test/support/within.js';
import { startZooKeeper, type ZkStandalone } from '../../test/support/zookeeper.js';
import { createClient, type ZkgateClient } from '../src/index.js';
import { operator, publish } from './support.js';

let zk: ZkStandalone;
let redis: RedisServer;
let replicas: GatewayProcess[] = [];
let client: ZkgateClient | undefined;
let proxy: TcpProxy | undefined;

beforeAll(async () => {
  [zk, redis] = await Promise.all([startZooKeeper(), startRedis()]);
  const env = {
    ZKGATE_ZK: zk.connectString,
    ZKGATE_REDIS_URL: redis.url,
    ZKGATE_READINESS_GRACE_MS: '0',
    LOG_LEVEL: 'warn',
  };
  replicas = await Promise.all([startGateway(env), startGateway(env)]);
  await Promise.all(replicas.map(ready));
}, 90_000);

afterAll(async () => {
  await client?.close();
  await proxy?.close();
  for (const replica of replicas) {
    if (replica.child.exitCode === null && replica.child.signalCode === null) {
      replica.child.kill('SIGKILL');
      await replica.exited;
    }
  }
  await Promise.all([zk?.stop(), redis?.stop()]);
});

it('resumes on the other replica with every missed change, once, in order', async () => {
  const [first, second] = replicas as [GatewayProcess, GatewayProcess];
  const namespaces = ['fo/a', 'fo/b', 'fo/c'];
  // Through the replica the client reads from: replicas' caches catch up with each other only eventually.
  for (const ns of namespaces) await publish(first.url, ns, { n: 0 });
  await operator(first.url, 'PUT', '/v1/services/fo-svc/instances/i0', {
    address: '127.0.0.1',
    port: 9400,
    ttl: '60s',
  });

  // The client reaches the second replica through a proxy, suspended from the kill until the ten
  // publishes are done: they all fall inside the outage, so the resume must bring back changes
  // the stream never carried (each namespace's older ones), however slow the machine.
  proxy = await startProxy(Number(new URL(second.url).port));
  const secondThroughProxy = `http://${proxy.address}`;
  client = createClient({
    urls: [first.url, secondThroughProxy],
    token: MANAGEMENT_SECRET,
    watch: { backoffBaseMs: 100, backoffMaxMs: 400, random: () => 1 },
  });
  const seen = new Map<string, number[]>(namespaces.map((ns) => [ns, []]));
  const handles = await Promise.all(namespaces.map((ns) => client!.config<{ n: number }>(ns)));
  handles.forEach((h, i) =>
    h.on('change', ({ value, version }) => seen.get(namespaces[i]!)!.push(value.n * 100 + version)),
  );
  const view = await client.discover('fo-svc');
  expect(view.instances.map((i) => i.id)).toEqual(['i0']);
  // One change through the stream that carries the service too: it is up, on the first replica.
  const settled = new Promise<void>((resolve) => handles[0]!.on('change', () => resolve()));
  await publish(first.url, 'fo/a', { n: 0 });
  await within(settled, 'the stream to carry a change');
  expect(client.transport.url).toBe(first.url);
  seen.get('fo/a')!.length = 0;

  const killedAt = performance.now();
  proxy.suspend();
  first.child.kill('SIGKILL');
  await first.exited;
  const published: Record<string, number[]> = { 'fo/a': [], 'fo/b': [], 'fo/c': [] };
  for (let n = 1; n <= 10; n++) {
    const ns = namespaces[(n - 1) % 3]!;
    const version = await publish(second.url, ns, { n });
    published[ns]!.push(n * 100 + version);
  }
  await operator(second.url, 'PUT', '/v1/services/fo-svc/instances/i1', {
    address: '127.0.0.1',
    port: 9401,
    ttl: '60s',
  });
  // Still inside the outage: nothing has arrived yet.
  expect([...seen.values()].flat()).toEqual([]);
  proxy.resume();

  // A marker published last: the stream is ordered, so once it arrives every repeat would have too.
  const marker = new Promise<void>((resolve) =>
    handles[0]!.on('change', ({ value }) => value.n === 99 && resolve()),
  );
  const bothInstances = new Promise<void>((resolve) => {
    if (view.instances.length === 2) resolve();
    view.on('change', (list) => list.length === 2 && resolve());
  });
  await publish(second.url, 'fo/a', { n: 99 });
  await within(marker, 'the marker', 20_000);
  console.log(
    `failover: every change back ${Math.round(performance.now() - killedAt)} ms after SIGKILL ` +
      '(10 publishes and 1 registration while unreachable, then a marker)',
  );
  await within(bothInstances, 'the instance registered during the outage', 5_000);

  expect(client.transport.url).toBe(secondThroughProxy);
  expect(seen.get('fo/a')!.slice(0, -1)).toEqual(published['fo/a']);
  expect(seen.get('fo/b')).toEqual(published['fo/b']);
  expect(seen.get('fo/c')).toEqual(published['fo/c']);
  expect([...seen.values()].flat()).toHaveLength(11);
  expect(view.instances.map((i) => i.id)).toEqual(['i0', 'i1']);
});
