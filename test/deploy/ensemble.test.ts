/**
 * The ensemble's production zoo.cfg (docker/zookeeper/zoo.cfg, the one source compose mounts and
 * the chart renders) run as a local 3-node ensemble on Debian's ZooKeeper 3.8. Substituted, and
 * only these, because the servers share one machine: dataDir, dataLogDir and clientPort (a temp
 * dir and a free port per node), clientPortAddress (added: loopback only), and the server.N lines
 * (loopback addresses and free ports for 2888/3888, same ids).
 */
import library from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
