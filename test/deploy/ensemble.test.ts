/**
 * The ensemble's production zoo.cfg (docker/zookeeper/zoo.cfg, the one source compose mounts and
 * the chart renders) run as a local 3-node ensemble on Debian's ZooKeeper 3.8. Substituted, and
 * only these, because the servers share one machine: dataDir, dataLogDir and clientPort (a temp
 * dir and a free port per node), clientPortAddress (added: loopback only), and the server.N lines
 * (loopback addresses and free ports for 2888/3888, same ids). With these settings (a 2 s tick)
 * the ensemble loses its leader and the adapter writes again within 5 s.
 */
import library from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { pollUntil } from '../support/processes.js';
import { startProxy } from '../support/proxy.js';
import { startEnsemble, zooCfgSettings, type ZkEnsemble } from '../support/zookeeper.js';
import { readSourceZooCfg } from './deploy-files.js';

const zookeeper = library as unknown as {
  createClient(
    connectString: string,
    options: { sessionTimeout: number },
  ): {
    connect(): void;
    close(): void;
    getSessionTimeout(): number;
    once(event: 'connected', listener: () => void): void;
  };
};

/** The session timeout the ensemble grants for a request of `requestedMs`. */
async function grantedSessionTimeout(connectString: string, requestedMs: number): Promise<number> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: requestedMs });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no session within 10 s')), 10_000);
      client.once('connected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.connect();
    });
    return client.getSessionTimeout();
  } finally {
    client.close();
  }
}

const source = readSourceZooCfg();
let ensemble: ZkEnsemble;

beforeAll(async () => {
  ensemble = await startEnsemble(source.servers.size, { cfg: source.settings });
});

afterAll(async () => {
  await ensemble?.stop();
});

describe('the production zoo.cfg as a local ensemble', () => {
  it('is rendered with only where each server lives substituted', () => {
    const where = { dataDir: '/tmp/n1/data', dataLogDir: '/tmp/n1/datalog', clientPort: 41_234 };
    const { clientPortAddress, ...rendered } = zooCfgSettings({ cfg: source.settings }, where);
    expect(clientPortAddress).toBe('127.0.0.1');
    expect(rendered).toEqual({ ...source.settings, ...where });
    expect(Object.keys(rendered)).toEqual(Object.keys(source.settings));
  });

  it('has three members, one id per server line', () => {
    expect(ensemble.nodes.map((node) => node.id)).toEqual([...source.servers.keys()]);
  });

  it('elects exactly one leader, the others follow', async () => {
    await ensemble.leader();
    const modes = await Promise.all(ensemble.nodes.map((node) => node.mode()));
    expect([...modes].sort()).toEqual(['follower', 'follower', 'leader']);
  });

  it('runs with the settings of the source, not the test defaults', async () => {
    const srvr = await ensemble.nodes[0]!.fourLetter('srvr');
    expect(srvr).toMatch(/^Mode: (leader|follower)$/m);
    // mntr (for /v1/cluster) is allowed, what the whitelist leaves out is refused.
    const mntr = await ensemble.nodes[0]!.fourLetter('mntr');
    expect(mntr).toMatch(/^zk_server_state\t(leader|follower)$/m);
    expect(await ensemble.nodes[0]!.fourLetter('conf')).toMatch(/not in the whitelist/);
    // Sessions are clamped to 2..20 ticks: the production tick (2 s), not the tests' 500 ms.
    const tick = Number(source.settings['tickTime']);
    expect(await grantedSessionTimeout(ensemble.connectString, 1_000)).toBe(2 * tick);
    expect(await grantedSessionTimeout(ensemble.connectString, 600_000)).toBe(20 * tick);
  });

  it('loses its leader (killed, or silently gone) and takes writes again within 5 s at the default session timeout', async () => {
    // test/faults/ runs this end to end at the tests' tick; here with the production tick (2 s),
    // where the session timeout the adapter asks for (15 s) is granted as it is.
    const proxies = await Promise.all(ensemble.nodes.map((node) => startProxy(node.port)));
    const clients = await Promise.all(
      [1, 2, 3].map(() => ZooKeeperStore.connect({ connectString: proxies.map((p) => p.address).join(',') })),
    );
    let running = true;
    const acked: number[][] = clients.map(() => []);
    await Promise.all(clients.map((client, i) => client.create(`/deploy-failover-${i}`)));
    const writers = clients.map(async (client, i) => {
      const path = `/deploy-failover-${i}`;
      while (running) {
        const started = Date.now();
        // Refused while reconnecting (written nothing): try again shortly.
        if (
          await client.setData(path, Buffer.from(String(started))).then(
            () => true,
            () => false,
          )
        ) {
          acked[i]!.push(started);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const firstAfter = (i: number, since: number): number | undefined => acked[i]!.find((t) => t >= since);
    try {
      for (const silent of [false, true]) {
        // Mid-write: every client has just written.
        const steady = Date.now();
        await pollUntil(
          () => (clients.every((_, i) => firstAfter(i, steady) !== undefined) ? true : undefined),
          {
            timeoutMs: 10_000,
            intervalMs: 20,
            what: 'every client writing',
          },
        );
        const leader = await ensemble.leader();
        const index = ensemble.nodes.indexOf(leader);
        const killedAt = Date.now();
        if (silent) proxies[index]!.blackhole();
        await leader.kill();
        const deadline = killedAt + 20_000;
        while (clients.some((_, i) => firstAfter(i, killedAt) === undefined) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const recovery = clients.map((_, i) => (firstAfter(i, killedAt) ?? Infinity) - killedAt);
        console.log(
          `[faults] production zoo.cfg, leader ${silent ? 'silently gone' : 'SIGKILL'}: writes back after ${recovery.join(', ')} ms`,
        );
        for (const ms of recovery) expect(ms).toBeLessThan(5_000);
        await leader.restart();
        proxies[index]!.resume();
      }
    } finally {
      running = false;
      await Promise.all(writers);
      await Promise.all(clients.map((client) => client.close()));
      await Promise.all(proxies.map((proxy) => proxy.close()));
    }
  }, 60_000);
});
