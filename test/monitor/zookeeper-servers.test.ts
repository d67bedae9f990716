/**
 * The ensemble view of the monitor: connect-string parsing, the probe against fake servers
 * that misbehave in the ways a real deployment can, and against real ZooKeeper 3.8 servers.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  parseConnectString,
  probeServers,
  type ZooKeeperServerStatus,
} from '../../src/monitor/zookeeper-servers.js';
import { freePorts, pollUntil } from '../support/processes.js';
import { startEnsemble, startZooKeeper, type ZkEnsemble, type ZkStandalone } from '../support/zookeeper.js';

describe('parseConnectString', () => {
  it('defaults the port to 2181 and drops the chroot', () => {
    expect(parseConnectString('h1:2181,h2,h3:2182/chroot/app')).toEqual([
      { host: 'h1', port: 2181 },
      { host: 'h2', port: 2181 },
      { host: 'h3', port: 2182 },
    ]);
  });

  it('reads bracketed IPv6 hosts, with or without a port', () => {
    expect(parseConnectString('[::1]:2182,[fe80::1%eth0]')).toEqual([
      { host: '::1', port: 2182 },
      { host: 'fe80::1%eth0', port: 2181 },
    ]);
  });

  it('drops duplicates (an omitted port equals 2181), blanks and surrounding spaces', () => {
    expect(parseConnectString(' a:2181 , ,a, [::1] ,[::1]:2181,b:1,')).toEqual([
      { host: 'a', port: 2181 },
      { host: '::1', port: 2181 },
      { host: 'b', port: 1 },
    ]);
    expect(parseConnectString('')).toEqual([]);
    expect(parseConnectString('/chroot')).toEqual([]);
  });

  it.each(['h1:abc', 'h1:0', 'h1:65536', 'h1:', '::1:2181', '[::1', 'h1:2181:2182'])(
    'rejects the invalid address %j',
    (entry) => {
      expect(() => parseConnectString(`ok:2181,${entry}`)).toThrow(/invalid server address/);
    },
  );
});

interface FakeServer {
  readonly port: number;
  readonly address: string;
  /** Four-letter words received, in order. */
  readonly commands: string[];
}

const fakes: { close(): Promise<void> }[] = [];

/**
 * A loopback server that hands each received four-letter word to `respond`; sockets it leaves
 * open stay open until the test ends.
 */
async function fakeServer(respond: (command: string, socket: Socket) => void): Promise<FakeServer> {
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // The probe destroys sockets it gives up on; the resulting EPIPE/ECONNRESET is expected.
    socket.on('error', () => undefined);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length !== 4) return;
      commands.push(received);
      respond(received, socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fakes.push({
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
  const { port } = server.address() as AddressInfo;
  return { port, address: `127.0.0.1:${port}`, commands };
}

/** Replies with `replies[command]` and closes, as ZooKeeper does. */
function replying(replies: Record<string, string>): (command: string, socket: Socket) => void {
  return (command, socket) => socket.end(replies[command] ?? '');
}

const NOT_WHITELISTED = (command: string): string =>
  `${command} is not executed because it is not in the whitelist.\n`;

const LEADER_MNTR = [
  'zk_version\t3.8.0-abc, built on 2024-12-29 17:54 UTC',
  'zk_server_state\tleader',
  'zk_avg_latency\t0.5',
  'zk_min_latency\t0',
  'zk_max_latency\t12',
  'zk_avg_readlatency\t99.0',
  'zk_znode_count\t42',
  'zk_watch_count\t7',
  'zk_ephemerals_count\t3',
  'zk_num_alive_connections\t5',
  'zk_outstanding_requests\t0',
  'zk_synced_followers\t2',
  'zk_learners\t3',
  '',
].join('\n');

const FOLLOWER_SRVR = [
  'Zookeeper version: 3.8.0-abc, built on 2024-12-29 17:54 UTC',
  'Latency min/avg/max: 1/2.25/30',
  'Received: 100',
  'Sent: 101',
  'Connections: 4',
  'Outstanding: 1',
  'Zxid: 0x1A00000003',
  'Mode: follower',
  'Node count: 9',
  '',
].join('\n');

describe('probeServers against fake servers', () => {
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });

  it('parses an mntr reply', async () => {
    const fake = await fakeServer(replying({ mntr: LEADER_MNTR }));
    expect(await probeServers(fake.address)).toEqual([
      {
        address: fake.address,
        reachable: true,
        mode: 'leader',
        version: '3.8.0-abc, built on 2024-12-29 17:54 UTC',
        latencyMs: { min: 0, avg: 0.5, max: 12 },
        znodes: 42,
        watches: 7,
        ephemerals: 3,
        connections: 5,
        outstandingRequests: 0,
        followers: 2,
        source: 'mntr',
      },
    ]);
    expect(fake.commands).toEqual(['mntr']);
  });

  it("reads ZooKeeper 3.4's zk_followers, and reports followers only for a leader", async () => {
    const leader = await fakeServer(
      replying({ mntr: 'zk_server_state\tleader\nzk_followers\t4\nzk_znode_count\t1\n' }),
    );
    const follower = await fakeServer(
      replying({ mntr: 'zk_server_state\tfollower\nzk_synced_followers\t4\n' }),
    );
    const [fromLeader, fromFollower] = await probeServers(`${leader.address},${follower.address}`);
    expect(fromLeader).toEqual({
      address: leader.address,
      reachable: true,
      mode: 'leader',
      znodes: 1,
      followers: 4,
      source: 'mntr',
    });
    expect(fromFollower).toEqual({
      address: follower.address,
      reachable: true,
      mode: 'follower',
      source: 'mntr',
    });
  });

  it('falls back to srvr when mntr is not whitelisted', async () => {
    const fake = await fakeServer(replying({ mntr: NOT_WHITELISTED('mntr'), srvr: FOLLOWER_SRVR }));
    expect(await probeServers(fake.address)).toEqual([
      {
        address: fake.address,
        reachable: true,
        mode: 'follower',
        version: '3.8.0-abc, built on 2024-12-29 17:54 UTC',
        latencyMs: { min: 1, avg: 2.25, max: 30 },
        znodes: 9,
        connections: 4,
        outstandingRequests: 1,
        zxid: '0x1a00000003',
        source: 'srvr',
      },
    ]);
    expect(fake.commands).toEqual(['mntr', 'srvr']);
  });

  it('reports a server that is not serving as reachable, without a mode', async () => {
    const fake = await fakeServer(
      replying({ mntr: 'This ZooKeeper instance is not currently serving requests\n' }),
    );
    expect(await probeServers(fake.address)).toEqual([
      { address: fake.address, reachable: true, source: 'mntr', error: 'not serving requests' },
    ]);
  });

  it('also notices "not serving" after the srvr fallback', async () => {
    const fake = await fakeServer(
      replying({
        mntr: NOT_WHITELISTED('mntr'),
        srvr: 'This ZooKeeper instance is not currently serving requests\n',
      }),
    );
    expect(await probeServers(fake.address)).toEqual([
      { address: fake.address, reachable: true, source: 'srvr', error: 'not serving requests' },
    ]);
  });

  it('says so when srvr is not whitelisted either', async () => {
    const fake = await fakeServer(replying({ mntr: NOT_WHITELISTED('mntr'), srvr: NOT_WHITELISTED('srvr') }));
    expect(await probeServers(fake.address)).toEqual([
      {
        address: fake.address,
        reachable: true,
        source: 'srvr',
        error: 'neither mntr nor srvr is whitelisted',
      },
    ]);
  });

  it('survives garbage: an unknown mode, non-numeric numbers, an unrecognized or empty reply', async () => {
    const odd = await fakeServer(
      replying({
        mntr: 'zk_server_state\tbanana\nzk_znode_count\tlots\nzk_watch_count\t\nzk_min_latency\t1\nzk_avg_latency\tNaN\nzk_max_latency\t3\n',
      }),
    );
    const oddSrvr = await fakeServer(
      replying({
        mntr: NOT_WHITELISTED('mntr'),
        srvr: 'Mode: leader\nZxid: zzz\nLatency min/avg/max: 1/2\n',
      }),
    );
    const garbage = await fakeServer(replying({ mntr: 'HTTP/1.1 400 Bad Request\r\n\r\n' }));
    const empty = await fakeServer(replying({}));
    expect(await probeServers([odd, oddSrvr, garbage, empty].map((fake) => fake.address).join(','))).toEqual([
      { address: odd.address, reachable: true, mode: 'unknown', source: 'mntr' },
      { address: oddSrvr.address, reachable: true, mode: 'leader', source: 'srvr' },
      {
        address: garbage.address,
        reachable: true,
        mode: 'unknown',
        source: 'mntr',
        error: 'unrecognized mntr reply',
      },
      {
        address: empty.address,
        reachable: true,
        mode: 'unknown',
        source: 'mntr',
        error: 'unrecognized mntr reply',
      },
    ]);
  });

  it('gives up on a server that accepts but never replies, within the timeout', async () => {
    const fake = await fakeServer(() => undefined);
    const started = performance.now();
    const statuses = await probeServers(fake.address, { timeoutMs: 300 });
    const elapsed = performance.now() - started;
    expect(statuses).toEqual([{ address: fake.address, reachable: false, error: 'timed out after 300 ms' }]);
    expect(fake.commands).toEqual(['mntr']);
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('counts the srvr fallback against the same timeout', async () => {
    const fake = await fakeServer((command, socket) => {
      if (command === 'mntr') socket.end(NOT_WHITELISTED('mntr'));
    });
    const started = performance.now();
    const statuses = await probeServers(fake.address, { timeoutMs: 300 });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(statuses).toEqual([{ address: fake.address, reachable: false, error: 'timed out after 300 ms' }]);
    expect(fake.commands).toEqual(['mntr', 'srvr']);
  });

  it('stops reading and fails when the reply exceeds 64 KiB', async () => {
    let hungUp: Promise<void> | undefined;
    const fake = await fakeServer((_command, socket) => {
      hungUp = new Promise((resolve) => socket.once('close', () => resolve()));
      // Never closes: only the size bound ends the exchange before the (long) timeout.
      socket.write(Buffer.alloc(1024 * 1024, 'zk_x\t1\n'));
    });
    const statuses = await probeServers(fake.address, { timeoutMs: 20_000 });
    expect(statuses).toEqual([
      { address: fake.address, reachable: false, error: 'reply larger than 65536 bytes' },
    ]);
    // The probe hung up rather than draining the rest of the megabyte.
    expect(hungUp).toBeDefined();
    await hungUp;
  });

  it('reports a closed port as ECONNREFUSED', async () => {
    const [port] = (await freePorts(1)) as [number];
    expect(await probeServers(`127.0.0.1:${port}`)).toEqual([
      { address: `127.0.0.1:${port}`, reachable: false, error: 'ECONNREFUSED' },
    ]);
  });

  it('probes all servers at once and answers in connect-string order', async () => {
    // Each server replies only once all three probes are connected: a sequential probe would
    // time out on the first one.
    const waiting: Socket[] = [];
    const barrier = (_command: string, socket: Socket): void => {
      waiting.push(socket);
      if (waiting.length === 3) for (const s of waiting) s.end('zk_server_state\tfollower\n');
    };
    const a = await fakeServer(barrier);
    const b = await fakeServer(barrier);
    const c = await fakeServer(barrier);
    const [closed] = (await freePorts(1)) as [number];
    const connect = `${c.address},127.0.0.1:${closed},${a.address},${b.address}`;
    const statuses = await probeServers(connect, { timeoutMs: 5_000 });
    expect(statuses.map((s) => [s.address, s.mode ?? s.error])).toEqual([
      [c.address, 'follower'],
      [`127.0.0.1:${closed}`, 'ECONNREFUSED'],
      [a.address, 'follower'],
      [b.address, 'follower'],
    ]);
  });

  it('formats IPv6 addresses in brackets', async () => {
    const [port] = (await freePorts(1)) as [number];
    const [status] = await probeServers(`[::1]:${port}/app`, { timeoutMs: 500 });
    // Nothing listens on ::1 there (or IPv6 is off): either way the server is unreachable.
    expect(status?.address).toBe(`[::1]:${port}`);
    expect(status?.reachable).toBe(false);
  });
});

function modesOf(statuses: readonly ZooKeeperServerStatus[]): (string | undefined)[] {
  return statuses.map((s) => s.mode).sort();
}

describe('probeServers against a real ZooKeeper ensemble', () => {
  let ensemble: ZkEnsemble;

  beforeAll(async () => {
    ensemble = await startEnsemble(3);
  });

  afterAll(async () => {
    await ensemble?.stop();
  });

  it('shows one leader and two followers, then a new leader once the old one is killed', async () => {
    const statuses = await probeServers(ensemble.connectString);
    expect(statuses.map((s) => s.address)).toEqual(ensemble.nodes.map((n) => n.connectString));
    expect(modesOf(statuses)).toEqual(['follower', 'follower', 'leader']);
    for (const status of statuses) {
      expect(status).toMatchObject({ reachable: true, source: 'mntr' });
      expect(status.error).toBeUndefined();
      expect(status.version).toMatch(/^3\.8\./);
      expect(status.znodes).toBeGreaterThan(0);
      expect(status.latencyMs).toBeDefined();
    }
    const leader = statuses.find((s) => s.mode === 'leader');
    expect(leader?.followers).toBe(2);
    expect(statuses.filter((s) => s.followers !== undefined)).toHaveLength(1);

    const killed = await ensemble.leader();
    await killed.kill();
    const after = await pollUntil(
      async () => {
        const current = await probeServers(ensemble.connectString);
        const survivors = current.filter((s) => s.address !== killed.connectString);
        return modesOf(survivors).join() === 'follower,leader' ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'a new leader among the survivors' },
    );
    expect(after.find((s) => s.address === killed.connectString)).toEqual({
      address: killed.connectString,
      reachable: false,
      error: 'ECONNREFUSED',
    });
    expect(after.find((s) => s.mode === 'leader')?.followers).toBe(1);
  }, 60_000);
});

describe('probeServers against real standalone ZooKeepers', () => {
  let standalone: ZkStandalone;
  let srvrOnly: ZkStandalone;

  beforeAll(async () => {
    [standalone, srvrOnly] = await Promise.all([
      startZooKeeper(),
      startZooKeeper({ extraCfg: { '4lw.commands.whitelist': 'srvr' } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([standalone?.stop(), srvrOnly?.stop()]);
  });

  it('reports a standalone server from mntr', async () => {
    const [status] = await probeServers(standalone.connectString);
    expect(status).toMatchObject({
      address: standalone.connectString,
      reachable: true,
      mode: 'standalone',
      source: 'mntr',
    });
    expect(status?.error).toBeUndefined();
    expect(status?.version).toMatch(/^3\.8\./);
    expect(status?.znodes).toBeGreaterThan(0);
    expect(status?.watches).toBe(0);
    expect(status?.connections).toBeGreaterThanOrEqual(1);
    expect(status?.followers).toBeUndefined();
    expect(status?.zxid).toBeUndefined();
  });

  it('falls back to srvr on a server that whitelists only srvr', async () => {
    const [status] = await probeServers(srvrOnly.connectString);
    expect(status).toMatchObject({
      address: srvrOnly.connectString,
      reachable: true,
      mode: 'standalone',
      source: 'srvr',
    });
    expect(status?.error).toBeUndefined();
    expect(status?.version).toMatch(/^3\.8\./);
    expect(status?.znodes).toBeGreaterThan(0);
    expect(status?.zxid).toMatch(/^0x[0-9a-f]+$/);
    expect(status?.watches).toBeUndefined();
  });
});
