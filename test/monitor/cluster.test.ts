/**
 * `GET /v1/cluster` on a 3-node ZooKeeper ensemble (one leader, two followers; a new leader after
 * the old one is killed) and on the embedded store.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterView } from '../../src/monitor/cluster.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { MANAGEMENT } from '../support/tokens.js';
import { startEnsemble, type ZkEnsemble } from '../support/zookeeper.js';

const view = async (gateway: InProcessGateway): Promise<ClusterView> => {
  const res = await fetch(`${gateway.url}/v1/cluster`, { headers: MANAGEMENT });
  expect(res.status).toBe(200);
  return (await res.json()) as ClusterView;
};
const modes = (cluster: ClusterView) =>
  cluster.zookeeper.servers.map((s) => s.mode ?? 'down').sort((a, b) => a.localeCompare(b));

describe('cluster status on a ZooKeeper ensemble', () => {
  let ensemble: ZkEnsemble;
  let gateway: InProcessGateway;

  beforeAll(async () => {
    ensemble = await startEnsemble(3);
    await ensemble.leader();
    gateway = await startInProcessGateway({
      ZKGATE_ZK: ensemble.connectString,
      ZKGATE_SESSION_TIMEOUT_MS: '6000',
    });
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
    await ensemble?.stop();
  });

  it('shows one leader and two followers, and the new leader after the leader is killed', async () => {
    const before = await view(gateway);
    expect(before.zookeeper).toMatchObject({ kind: 'ensemble', state: 'connected' });
    expect(modes(before)).toEqual(['follower', 'follower', 'leader']);
    const leaderServer = before.zookeeper.servers.find((s) => s.mode === 'leader')!;
    expect(leaderServer).toMatchObject({ reachable: true, followers: 2, source: 'mntr' });
    expect(leaderServer.znodes).toBeGreaterThan(0);
    expect(before.gateways).toMatchObject({
      self: gateway.services.replicaId,
      leader: gateway.services.replicaId,
    });
    expect(before.gateways.replicas).toEqual([
      expect.objectContaining({ id: gateway.services.replicaId, leader: true, self: true }),
    ]);
    expect(before.gateways.replicas[0]!.info).toMatchObject({ pid: process.pid });
    expect(before.hotStore).toEqual({ kind: 'memory', state: 'connected' });

    const old = await ensemble.leader();
    await old.kill();
    await expect
      .poll(async () => modes(await view(gateway)), { timeout: 15_000, interval: 200 })
      .toEqual(['down', 'follower', 'leader']);
    const after = await view(gateway);
    const killed = after.zookeeper.servers.find((s) => s.address.endsWith(`:${old.port}`));
    expect(killed).toMatchObject({ reachable: false });
    const newLeader = after.zookeeper.servers.find((s) => s.mode === 'leader')!;
    expect(newLeader.address).not.toBe(killed!.address);
    expect(newLeader.followers).toBe(1);
    // The gateway rides through the election on the other servers.
    await expect
      .poll(async () => (await view(gateway)).zookeeper.state, { timeout: 15_000 })
      .toBe('connected');
  }, 60_000);
});

describe('cluster status on the embedded store', () => {
  let gateway: InProcessGateway;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-cluster-');
    gateway = await startInProcessGateway({ ZKGATE_DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await gateway?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('shows the embedded store as one standalone server and this replica as leader', async () => {
    const cluster = await view(gateway);
    expect(cluster.zookeeper).toMatchObject({
      kind: 'embedded',
      state: 'connected',
      servers: [{ address: 'embedded', reachable: true, mode: 'standalone' }],
    });
    expect(cluster.gateways.leader).toBe(gateway.services.replicaId);
    expect(cluster.scanner).toMatchObject({ active: true });
    expect(cluster.reaper).toMatchObject({ leader: true });
  });
});
