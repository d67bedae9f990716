/**
 * The two adapters behind one test interface, so the contract suite and the differential test
 * run the same code against an embedded store and a real ZooKeeper.
 */
import { rm } from 'node:fs/promises';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { makeTempDir } from './processes.js';
import { startProxy, type TcpProxy } from './proxy.js';
import { killSession } from './sessions.js';
import { startZooKeeper, type ZkStandalone } from './zookeeper.js';

export interface StoreBackend {
  readonly name: 'embedded' | 'zookeeper';
  /** A new session on the shared backend. */
  connect(): Promise<CoordinationStore>;
  /** Force the session of `store` to expire, as the server would after a partition. */
  expire(store: CoordinationStore): Promise<void>;
  /** Close every session opened here and stop the backend. */
  stop(): Promise<void>;
}

/** ZooKeeper sessions in tests: short enough for quick expiry, long enough for a loaded CI. */
export const TEST_SESSION_TIMEOUT_MS = 4_000;

export async function embeddedBackend(): Promise<StoreBackend> {
  const dataDir = await makeTempDir('zkgate-embedded-');
  const server = await EmbeddedServer.open({ dataDir, snapCount: 1000 });
  const sessions = new Set<CoordinationStore>();
  return {
    name: 'embedded',
    async connect() {
      const session = server.connect();
      sessions.add(session);
      return session;
    },
    async expire(store) {
      await server.expireSession(store.sessionId);
    },
    async stop() {
      await Promise.all([...sessions].map((s) => s.close()));
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function zookeeperBackend(
  existing?: ZkStandalone,
): Promise<StoreBackend & { zk: ZkStandalone }> {
  const zk = existing ?? (await startZooKeeper());
  // Each session talks through its own proxy, so one session can be cut off alone.
  const sessions = new Map<ZooKeeperStore, TcpProxy>();
  return {
    name: 'zookeeper',
    zk,
    async connect() {
      const proxy = await startProxy(zk.port);
      const store = await ZooKeeperStore.connect({
        connectString: proxy.address,
        sessionTimeoutMs: TEST_SESSION_TIMEOUT_MS,
      });
      sessions.set(store, proxy);
      return store;
    },
    async expire(store) {
      const proxy = sessions.get(store as ZooKeeperStore);
      if (!proxy) throw new Error('not a session of this backend');
      proxy.suspend();
      try {
        await killSession(zk.connectString, (store as ZooKeeperStore).sessionCredentials());
      } finally {
        proxy.resume();
      }
    },
    async stop() {
      await Promise.all([...sessions.keys()].map((s) => s.close()));
      await Promise.all([...sessions.values()].map((p) => p.close()));
      if (!existing) await zk.stop();
    },
  };
}
