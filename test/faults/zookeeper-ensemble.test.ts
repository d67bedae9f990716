/**
 * Faults of a real deployment, end to end: a 3-node ZooKeeper ensemble (behind loopback proxies,
 * so a server can also die without a reset), gateway replicas as child processes, a few hundred
 * SSE subscribers split over them, and publishers writing all along.
 *
 * - The ZooKeeper leader dies mid-publish, once killed (SIGKILL: its sockets are reset) and once
 *   silently (a host gone: nothing is reset, connections and new attempts go unanswered). No
 *   acknowledged publish is lost, every subscriber converges to the final state, and writes are
 *   back within 5 s on every replica (issue 13, defect 5).
 * - A gateway is SIGKILLed: its subscribers resume on the other replica with `Last-Event-ID` and
 *   get every change they missed, exactly once, as its latest state.
 * - A gateway is paused (SIGSTOP) past its session timeout and continued: it opens a new session,
 *   re-creates its ephemeral, re-arms its watches and resyncs its caches; its subscribers converge.
 *
 * The replicas of the first two scenarios run with the default session timeout (15 s asked, 10 s
 * granted at this tick), as in production: failure detection must not wait on it. Figures are
 * printed as `[faults] ...` lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { EventType } from '../../src/coordination/store.js';
import { ready, startGateway, type GatewayProcess } from '../support/gateway-process.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { SseSwarm, type Subscriber } from '../support/sse-swarm.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startEnsemble, type ZkEnsemble } from '../support/zookeeper.js';
import { PublisherFleet, type Ack } from './publishers.js';

const SUBSCRIBERS_PER_REPLICA = 120;
const EXPIRY_SUBSCRIBERS = 40;
const WRITES_BACK_WITHIN_MS = 5_000;
const EXPIRY_SESSION_MS = 2_000;
const PREFIX = 'faults/';
const QUERY = `prefix=${PREFIX}`;
const SHARED = `${PREFIX}shared`;
const OWN = Array.from({ length: 8 }, (_, i) => `${PREFIX}ns${i}`);

/** Truth per namespace: its latest version and content, or `content: undefined` once deleted. */
type Truth = Map<string, { version: number; content: string | undefined }>;

const report = (line: string): void => console.log(`[faults] ${line}`);

let ensemble: ZkEnsemble;
let redis: RedisServer;
let proxies: TcpProxy[];
let replicas: GatewayProcess[];
/** Started with a short session, for the expiry scenario only. */
let pausable: GatewayProcess;
let probe: ZooKeeperStore;
// Subscribers, publishers and reads act as the operator: these tests are about faults.
const swarm = new SseSwarm(2 * SUBSCRIBERS_PER_REPLICA + EXPIRY_SUBSCRIBERS, { headers: MANAGEMENT });
const groups = [
  swarm.subscribers.slice(0, SUBSCRIBERS_PER_REPLICA),
  swarm.subscribers.slice(SUBSCRIBERS_PER_REPLICA, 2 * SUBSCRIBERS_PER_REPLICA),
];
const expiryGroup = swarm.subscribers.slice(2 * SUBSCRIBERS_PER_REPLICA);
/** Namespaces deleted by the scenarios (and not published since). */
const deleted = new Set<string>();
const touched = new Set<string>([SHARED, ...OWN]);

beforeAll(async () => {
  [ensemble, redis] = await Promise.all([startEnsemble(3), startRedis()]);
  proxies = await Promise.all(ensemble.nodes.map((node) => startProxy(node.port)));
  const env = {
    ZKGATE_ZK: proxies.map((p) => p.address).join(','),
    // Replicas of one registry share one hot store.
    ZKGATE_REDIS_URL: redis.url,
    ZKGATE_HISTORY_LIMIT: '10000',
    ZKGATE_SSE_MAX_CLIENT_CNXNS: '10000',
    ZKGATE_READINESS_GRACE_MS: '0',
    LOG_LEVEL: 'warn',
  };
  const started = await Promise.all([
    startGateway(env),
    startGateway(env),
    startGateway({ ...env, ZKGATE_SESSION_TIMEOUT_MS: String(EXPIRY_SESSION_MS) }),
  ]);
  replicas = started.slice(0, 2);
  pausable = started[2] as GatewayProcess;
  await Promise.all(started.map(ready));
  probe = await ZooKeeperStore.connect({ connectString: ensemble.connectString, sessionTimeoutMs: 10_000 });
}, 90_000);

afterAll(async () => {
  swarm.close();
  for (const gateway of [...(replicas ?? []), pausable]) {
    if (!gateway || gateway.child.exitCode !== null || gateway.child.signalCode !== null) continue;
    gateway.child.kill('SIGCONT');
    gateway.child.kill('SIGKILL');
    await gateway.exited;
  }
  await probe?.close();
  await Promise.all((proxies ?? []).map((p) => p.close()));
  await Promise.all([ensemble?.stop(), redis?.stop()]);
});

/** Map over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

/** The newest release of `namespace` as ZooKeeper holds it (history reads go to the store). */
async function latestRelease(url: string, namespace: string): Promise<{ version: number; content: string }> {
  const res = await fetch(`${url}/v1/config/${namespace}:history?limit=1`, { headers: MANAGEMENT });
  expect(res.status, `history of ${namespace}`).toBe(200);
  const [newest] = (await res.json()) as Array<{ version: number }>;
  const release = await fetch(`${url}/v1/config/${namespace}:history/${newest!.version}`, {
    headers: MANAGEMENT,
  });
  expect(release.status).toBe(200);
  return { version: newest!.version, content: await release.text() };
}

async function truthVia(url: string): Promise<Truth> {
  const truth: Truth = new Map();
  for (const namespace of touched) {
    truth.set(
      namespace,
      deleted.has(namespace) ? { version: 0, content: undefined } : await latestRelease(url, namespace),
    );
  }
  return truth;
}

async function put(
  url: string,
  namespace: string,
  content: string,
): Promise<{ version: number; index: string }> {
  const res = await fetch(`${url}/v1/config/${namespace}`, {
    method: 'PUT',
    body: content,
    headers: { 'content-type': 'application/json', ...MANAGEMENT },
  });
  expect(res.status, `PUT ${namespace}: ${res.status}`).toBeLessThan(300);
  touched.add(namespace);
  deleted.delete(namespace);
  return (await res.json()) as { version: number; index: string };
}

async function remove(url: string, namespace: string): Promise<void> {
  const res = await fetch(`${url}/v1/config/${namespace}`, { method: 'DELETE', headers: MANAGEMENT });
  expect(res.status, `DELETE ${namespace}`).toBe(200);
  deleted.add(namespace);
}

/** Every acknowledged publish is in the history, byte for byte; no version was acknowledged twice. */
async function expectAcksDurable(url: string, acks: readonly Ack[]): Promise<void> {
  const seen = new Map<string, Ack>();
  for (const ack of acks) {
    const key = `${ack.namespace}@${ack.version}`;
    expect(seen.get(key), `version ${key} acknowledged twice`).toBeUndefined();
    seen.set(key, ack);
  }
  const missing = (
    await mapLimit(acks, 16, async (ack) => {
      const res = await fetch(`${url}/v1/config/${ack.namespace}:history/${ack.version}`, {
        headers: MANAGEMENT,
      });
      const body = Buffer.from(await res.arrayBuffer());
      return res.status === 200 && body.equals(Buffer.from(ack.content))
        ? undefined
        : `${ack.namespace}@${ack.version}`;
    })
  ).filter((m) => m !== undefined);
  expect(missing, 'acknowledged publishes missing from the history').toEqual([]);
}

describe('faults on a 3-node ensemble with gateway replicas', () => {
  it('the ZooKeeper leader dies mid-publish: nothing acknowledged is lost, subscribers converge, writes are back within 5 s on every replica', async () => {
    const urls = replicas.map((r) => r.url);
    await Promise.all(groups.map((group, i) => swarm.open(group, urls[i] as string, QUERY)));
    // Two publishers per replica, each with its own namespaces, all of them on one shared one.
    const fleet = new PublisherFleet(
      urls,
      [0, 1, 2, 3].map((p) => ({
        replica: p % 2,
        namespaces: [OWN[2 * p] as string, SHARED, OWN[2 * p + 1] as string],
      })),
      { headers: MANAGEMENT },
    );
    fleet.start();
    const rounds: Array<{ kind: string; recovery: Map<number, number | undefined> }> = [];
    try {
      for (const kind of ['SIGKILL', 'silent death'] as const) {
        const since = Date.now();
        // Mid-publish: every publisher is writing steadily.
        await fleet.until(
          () => [0, 1, 2, 3].every((p) => fleet.acksOf(p, since) >= 10),
          20_000,
          'steady publishing',
        );
        const leader = await ensemble.leader();
        const index = ensemble.nodes.indexOf(leader);
        const killedAt = Date.now();
        if (kind === 'silent death') proxies[index]!.blackhole();
        await leader.kill();
        await fleet.until(
          () => [0, 1, 2, 3].every((p) => fleet.acksOf(p, killedAt) >= 3),
          20_000,
          `writes on every replica after the leader's ${kind}`,
        );
        const recovery = fleet.recovery(killedAt);
        rounds.push({ kind, recovery });
        report(
          `leader ${kind}: writes back after ${[...recovery].map(([r, ms]) => `replica ${r + 1}: ${ms} ms`).join(', ')}`,
        );
        // Back to three members, so the next round (and scenario) can lose one again.
        await leader.restart();
        proxies[index]!.resume();
      }
    } finally {
      await fleet.stop();
    }

    const failed = fleet.attempts.filter((a) => a.status < 200 || a.status >= 300);
    report(
      `${fleet.acks.length} publishes acknowledged, ${failed.length} refused (503 while reconnecting) or failed, ` +
        `${fleet.unanswered().length} unanswered within 10 s`,
    );
    expect(fleet.unanswered(), 'publishes left without an answer').toEqual([]);
    // Refusals are 503s while a replica reconnects; anything else (a 4xx) is a broken setup.
    expect(failed.filter((a) => a.status !== 503 && a.status !== 0).map((a) => a.status)).toEqual([]);
    for (const { kind, recovery } of rounds) {
      for (const [replica, ms] of recovery) {
        expect(ms, `replica ${replica + 1}, leader ${kind}`).toBeDefined();
        expect(ms!, `replica ${replica + 1}, leader ${kind}`).toBeLessThan(WRITES_BACK_WITHIN_MS);
      }
    }

    await expectAcksDurable(urls[0] as string, fleet.acks);
    const truth = await truthVia(urls[0] as string);
    // The newest version of each namespace is at least its newest acknowledged one (a publish
    // cut off by the kill may have been applied without an answer: it is newer, not lost).
    for (const ack of fleet.acks)
      expect(truth.get(ack.namespace)!.version).toBeGreaterThanOrEqual(ack.version);
    const took = await swarm.converge([...groups[0]!, ...groups[1]!], truth, 15_000);
    report(
      `${2 * SUBSCRIBERS_PER_REPLICA} subscribers converged on ${truth.size} namespaces ${took} ms after the last publish; ` +
        `${swarm.received} events received`,
    );
    for (const subscriber of [...groups[0]!, ...groups[1]!]) {
      expect(subscriber.endedAt, `subscriber ${subscriber.index} cut off`).toBeUndefined();
      expect(subscriber.regressions).toEqual([]);
    }
    // Reads on each replica serve the same, fresh.
    for (const url of urls) {
      for (const [namespace, want] of truth) {
        const res = await fetch(`${url}/v1/config/${namespace}`, { headers: MANAGEMENT });
        expect(res.headers.get('x-zkgate-stale')).toBeNull();
        expect({
          namespace,
          version: Number(res.headers.get('x-zkgate-version')),
          content: await res.text(),
        }).toEqual({
          namespace,
          version: want.version,
          content: want.content,
        });
      }
    }
  }, 90_000);

  it('a gateway is SIGKILLed: its subscribers resume on the other replica with Last-Event-ID and get exactly what they missed', async () => {
    const [victim, survivor] = replicas as [GatewayProcess, GatewayProcess];
    const group = groups[0] as Subscriber[];
    const before = await truthVia(survivor.url);
    await swarm.converge(group, before, 10_000);

    victim.child.kill('SIGKILL');
    await victim.exited;
    await Promise.all(group.map((s) => s.ended));

    // While they are away: updates, a deletion, a new namespace; the rest stays as it was.
    const changed = [OWN[0], OWN[3], SHARED] as string[];
    for (const namespace of changed)
      await put(survivor.url, namespace, JSON.stringify({ missed: namespace }));
    await remove(survivor.url, OWN[5] as string);
    await put(survivor.url, `${PREFIX}created/while-away`, '{"new":true}');
    const missed = new Set([...changed, OWN[5] as string, `${PREFIX}created/while-away`]);
    const truth = await truthVia(survivor.url);

    const resumedAt = Date.now();
    await swarm.open(group, survivor.url, QUERY, true);
    const took = await swarm.converge(group, truth, 10_000);
    report(
      `${group.length} subscribers of the killed replica resumed on the other and converged in ${Date.now() - resumedAt} ms (${took} ms after connecting)`,
    );

    for (const subscriber of group) {
      const names = subscriber.events.map((e) => e.namespace);
      // Every namespace that changed, once, as its latest state; nothing they already had.
      expect(new Set(names), `subscriber ${subscriber.index}`).toEqual(missed);
      expect(names).toHaveLength(missed.size);
      expect(subscriber.events.find((e) => e.event === 'reset')).toBeUndefined();
      expect(subscriber.events.find((e) => e.namespace === OWN[5])?.event).toBe('config-deleted');
      expect(subscriber.regressions).toEqual([]);
    }
  }, 60_000);

  it('a gateway paused past its session timeout comes back: new session, ephemeral re-created, watches re-armed, caches resynced', async () => {
    const survivor = replicas[1] as GatewayProcess;
    await swarm.open(expiryGroup, pausable.url, QUERY);
    await swarm.converge(expiryGroup, await truthVia(survivor.url), 10_000);

    const readyBefore = await ready(pausable);
    const oldSession = (readyBefore['store'] as { sessionId: string }).sessionId;
    const groupPath = '/zkgate/gateways';
    const member = (await probe.getChildren(groupPath)).children.find((name) =>
      name.includes(`-${pausable.child.pid}-`),
    );
    expect(member, 'the paused gateway is a member').toBeDefined();
    const memberPath = `${groupPath}/${member}`;
    const gone = new Promise<void>(
      (resolve) =>
        void probe.exists(memberPath, (event) => {
          if (event.type === EventType.NODE_DELETED) resolve();
        }),
    );

    const pausedAt = Date.now();
    pausable.child.kill('SIGSTOP');
    await gone;
    const expiredAfter = Date.now() - pausedAt;
    // While it sleeps: an update, a deletion and a new namespace it must learn of on waking.
    await put(survivor.url, OWN[1] as string, '{"while":"paused"}');
    await remove(survivor.url, OWN[6] as string);
    await put(survivor.url, `${PREFIX}created/while-paused`, '{"new":"paused"}');
    const truth = await truthVia(survivor.url);
    const back = new Promise<void>(
      (resolve) =>
        void probe.exists(memberPath, (event) => {
          if (event.type === EventType.NODE_CREATED) resolve();
        }),
    );

    const continuedAt = Date.now();
    pausable.child.kill('SIGCONT');
    await back;
    const rejoinedAfter = Date.now() - continuedAt;
    const readyAfter = await ready(pausable);
    const newSession = (readyAfter['store'] as { sessionId: string }).sessionId;
    expect(newSession).not.toBe(oldSession);
    const { stat } = await probe.getData(memberPath);
    expect(`0x${stat.ephemeralOwner.toString(16)}`).toBe(newSession);
    // Caches resynced: its subscribers (whose streams stayed open) get what changed meanwhile.
    await swarm.converge(expiryGroup, truth, 10_000);
    const resyncedAfter = Date.now() - continuedAt;
    for (const subscriber of expiryGroup) expect(subscriber.endedAt).toBeUndefined();

    // Watches re-armed: a change through the other replica reaches it, and it can write again.
    await put(survivor.url, OWN[2] as string, '{"after":"expiry"}');
    await put(pausable.url, OWN[4] as string, '{"written":"after expiry"}');
    const final = await truthVia(survivor.url);
    await swarm.converge(
      [...expiryGroup, ...(groups[1] as Subscriber[]), ...(groups[0] as Subscriber[])],
      final,
      10_000,
    );
    for (const [namespace, want] of final) {
      const res = await fetch(`${pausable.url}/v1/config/${namespace}`, { headers: MANAGEMENT });
      expect(res.status).toBe(want.content === undefined ? 404 : 200);
      if (want.content !== undefined) expect(await res.text()).toBe(want.content);
    }
    report(
      `paused gateway (session ${EXPIRY_SESSION_MS} ms): expired ${expiredAfter} ms into the pause; after SIGCONT its ` +
        `ephemeral was back in ${rejoinedAfter} ms and its ${expiryGroup.length} subscribers converged in ${resyncedAfter} ms ` +
        `(session ${oldSession} -> ${newSession})`,
    );
  }, 60_000);
});
