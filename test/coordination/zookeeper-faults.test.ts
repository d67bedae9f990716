/**
 * node-zookeeper-client 1.1.3's failure modes, each reproduced against a real ZooKeeper 3.8 and
 * shown harmless through the adapter (see the header of src/coordination/zookeeper.ts and
 * patches/node-zookeeper-client+1.1.3.patch).
 */
import library from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, StoreError } from '../../src/coordination/errors.js';
import { MAX_REQUEST_BYTES, type SessionEvent } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { DEFAULT_LIVENESS_TIMEOUT_MS } from '../../src/coordination/zookeeper/session.js';
import { failure } from '../contract/contract.js';
import { freePorts } from '../support/processes.js';
import { startProxy } from '../support/proxy.js';
import { startEnsemble, startZooKeeper, type ZkEnsemble, type ZkStandalone } from '../support/zookeeper.js';

const SESSION_MS = 4_000;

/** The library's own client, unguarded, to show a failure mode exists. */
interface RawClient {
  connect(): void;
  close(): void;
  once(event: 'connected', listener: () => void): void;
  getData(path: string, cb: (err: { code?: number } | null) => void): void;
  setData(path: string, data: Buffer, cb: (err: { code?: number } | null) => void): void;
  create(path: string, cb: (err: { code?: number } | null) => void): void;
}
const raw = library as unknown as { createClient(c: string, o: { sessionTimeout: number }): RawClient };

/** Resolves with the next state event matching `match`. */
function nextState(store: ZooKeeperStore, match: (e: SessionEvent) => boolean): Promise<SessionEvent> {
  return new Promise((resolve) => {
    const off = store.onStateChange((event) => {
      if (match(event)) {
        off();
        resolve(event);
      }
    });
  });
}

describe('zookeeper adapter: failure modes of node-zookeeper-client', () => {
  let zk: ZkStandalone;
  let store: ZooKeeperStore;

  beforeAll(async () => {
    zk = await startZooKeeper({ jvmProps: { 'zookeeper.enforceQuota': 'true' } });
    store = await ZooKeeperStore.connect({ connectString: zk.connectString, sessionTimeoutMs: SESSION_MS });
  });

  afterAll(async () => {
    await store?.close();
    await zk?.stop();
  });

  it('turns an error code the library predates (-125 quota exceeded) into a StoreError', async () => {
    const base = `/quota-${Date.now()}`;
    await store.create(base);
    // A hard quota of two znodes (the base node counts as one), enforced by the server.
    await store.create(`/zookeeper/quota${base}`);
    await store.create(
      `/zookeeper/quota${base}/zookeeper_limits`,
      Buffer.from('count=-1,bytes=-1,countHardLimit=2,byteHardLimit=-1'),
    );
    await store.create(`/zookeeper/quota${base}/zookeeper_stats`, Buffer.from('count=1,bytes=0'));
    await store.create(`${base}/first`);
    const err = await failure(store.create(`${base}/second`));
    expect(err.code).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(err.codeName).toBe('QUOTA_EXCEEDED');
    // The connection survived (unpatched, the throw in the socket handler killed the process).
    expect((await store.getChildren(base)).children).toEqual(['first']);
  });

  it('wraps the int32 request id instead of crashing after 2^31 requests', async () => {
    const manager = (store as unknown as { session: { client: { connectionManager: { xid: number } } } })
      .session.client.connectionManager;
    manager.xid = 0x7fffffff - 3;
    for (let i = 0; i < 8; i++) expect(await store.exists('/')).not.toBeNull();
    expect(manager.xid).toBeGreaterThan(0);
    expect(manager.xid).toBeLessThan(16);
  });

  it('refuses near-1 MiB data up front, where the raw library loses every pending request', async () => {
    const path = `/big-${Date.now()}`;
    await store.create(path);
    // The most the library itself lets through; with the request header it exceeds jute.maxbuffer.
    const nearLimit = Buffer.alloc(1024 * 1024, 7);

    // The failure mode: the server drops the connection and takes the innocent read with it.
    const client = raw.createClient(zk.connectString, { sessionTimeout: SESSION_MS });
    await new Promise<void>((resolve) => {
      client.once('connected', resolve);
      client.connect();
    });
    const innocent = new Promise<number | undefined>((resolve) =>
      client.getData(path, (e) => resolve(e?.code)),
    );
    const oversize = new Promise<number | undefined>((resolve) =>
      client.setData(path, nearLimit, (e) => resolve(e?.code)),
    );
    const after = new Promise<number | undefined>((resolve) => client.getData(path, (e) => resolve(e?.code)));
    const codes = await Promise.all([innocent, oversize, after]);
    client.close();
    expect(codes[1]).toBe(ErrorCode.CONNECTION_LOSS);
    expect(codes[2]).toBe(ErrorCode.CONNECTION_LOSS);

    // Through the adapter: refused before sending, and the reads beside it succeed.
    const results = await Promise.allSettled([
      store.getData(path),
      store.setData(path, nearLimit),
      store.getData(path),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const refused = (results[1] as PromiseRejectedResult).reason as StoreError;
    expect(refused.code).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(refused.message).toContain(String(MAX_REQUEST_BYTES));
  });

  it('gives up connecting at the deadline instead of retrying silently forever', async () => {
    const [closedPort] = await freePorts(1);
    const started = Date.now();
    const err = await failure(
      ZooKeeperStore.connect({ connectString: `127.0.0.1:${closedPort}`, connectTimeoutMs: 800 }),
    );
    expect(err.code).toBe(ErrorCode.CONNECTION_LOSS);
    expect(err.message).toContain('within 800 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives a server that accepts connections but never answers one attempt deadline, not the read timeout', async () => {
    // Three silent servers and one that serves: the first attempt most likely lands on a silent
    // one. The library used to clear its connect timer once TCP connected, leaving a silent
    // handshake to the read timeout (2/3 of the session timeout, 10 s here) per silent server.
    const silent = await Promise.all([1, 2, 3].map(() => startProxy(zk.port)));
    for (const proxy of silent) proxy.blackhole();
    const started = Date.now();
    try {
      const store = await ZooKeeperStore.connect({
        connectString: [...silent.map((p) => p.address), zk.connectString].join(','),
        sessionTimeoutMs: 15_000,
        attemptTimeoutMs: 500,
      });
      expect(Date.now() - started).toBeLessThan(3 * 500 + 1_000);
      expect(store.connectedServer).toBe(zk.connectString);
      await store.close();
    } finally {
      await Promise.all(silent.map((p) => p.close()));
    }
  });

  it('still gets a session from servers slower than the attempt deadline: once all timed out, it waits longer', async () => {
    // 800 ms each way: every handshake takes 1.6 s, past the 1 s attempt deadline. The first
    // attempt times out; the next one, with every server timed out lately, waits the library's
    // own deadline (the session timeout over the server count) instead of failing forever.
    const slow = await startProxy(zk.port);
    slow.latency(800);
    try {
      const started = Date.now();
      const store = await ZooKeeperStore.connect({
        connectString: slow.address,
        sessionTimeoutMs: 15_000,
        attemptTimeoutMs: 1_000,
      });
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(await store.exists('/')).not.toBeNull();
      await store.close();
    } finally {
      await slow.close();
    }
  });

  it('fails requests to a frozen server at the deadline instead of hanging, then recovers', async () => {
    const frozen = await ZooKeeperStore.connect({
      connectString: zk.connectString,
      sessionTimeoutMs: SESSION_MS,
      requestTimeoutMs: 1_500,
    });
    await zk.pause();
    try {
      const started = Date.now();
      const err = await failure(frozen.getData('/'));
      expect([ErrorCode.OPERATION_TIMEOUT, ErrorCode.CONNECTION_LOSS]).toContain(err.code);
      expect(Date.now() - started).toBeLessThan(4_000);
      // Writes do not queue behind a dead connection once it is known to be dead.
    } finally {
      await zk.resume();
    }
    expect(await frozen.exists('/')).not.toBeNull();
    await frozen.close();
  });

  it('retries reads across a connection loss and fails writes fast while disconnected', async () => {
    const proxy = await startProxy(zk.port);
    const flaky = await ZooKeeperStore.connect({
      connectString: proxy.address,
      sessionTimeoutMs: SESSION_MS,
    });
    const session = flaky.sessionId;
    try {
      const down = nextState(flaky, (e) => e.state === 'disconnected');
      proxy.suspend();
      await down;
      const write = await failure(flaky.create(`/while-down-${Date.now()}`));
      expect(write.code).toBe(ErrorCode.CONNECTION_LOSS);
      const read = flaky.exists('/');
      const up = nextState(flaky, (e) => e.state === 'connected');
      proxy.resume();
      expect((await up).newSession).toBe(false);
      expect(await read).not.toBeNull();
      expect(flaky.sessionId).toBe(session);
    } finally {
      await flaky.close();
      await proxy.close();
    }
  });
});

describe('zookeeper adapter: a frozen ensemble member', () => {
  let ensemble: ZkEnsemble;

  beforeAll(async () => {
    ensemble = await startEnsemble(3);
  });

  afterAll(async () => {
    await ensemble?.stop();
  });

  it('fails over to another server within the liveness timeout, whatever the session timeout, keeping the session', async () => {
    // Two followers only: freezing the leader would add an election to what is measured.
    const leader = await ensemble.leader();
    const followers = ensemble.nodes.filter((n) => n !== leader);
    // The default session timeout (10 s granted at this tick): the library alone waited 2/3 of it.
    const store = await ZooKeeperStore.connect({
      connectString: followers.map((n) => n.connectString).join(','),
      sessionTimeoutMs: 15_000,
    });
    try {
      const path = `/failover-${Date.now()}`;
      await store.create(path, Buffer.from('kept'), 1 /* EPHEMERAL */);
      const session = store.sessionId;
      const server = store.connectedServer;
      const node = followers.find((n) => n.connectString === server);
      expect(node, `connected to ${server}`).toBeDefined();
      await node!.pause();
      try {
        // Without the read timeout this hung until the session expired, and the session with it.
        const started = Date.now();
        const { data } = await store.getData(path);
        expect(data.toString()).toBe('kept');
        expect(Date.now() - started).toBeLessThan(DEFAULT_LIVENESS_TIMEOUT_MS + 1_500);
        expect(store.sessionId).toBe(session);
        expect(store.connectedServer).not.toBe(server);
      } finally {
        await node!.resume();
      }
    } finally {
      await store.close();
    }
  });
});
