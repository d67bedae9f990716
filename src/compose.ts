/**
 * The composition root: the only place that chooses adapters. Embedded store and in-memory hot
 * store by default; a ZooKeeper ensemble when `ZKGATE_ZK` is set, Redis when `ZKGATE_REDIS_URL` is.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { LeaderElection } from './coordination/election.js';
import { MemoryHotStore } from './hotstore/memory.js';
import { RedisHotStore } from './hotstore/redis.js';
import type { HotStore } from './hotstore/store.js';
import { LeaseReaper } from './registry/reaper.js';
import { RegistryService } from './registry/service.js';
import type { CoordinationStore } from './coordination/store.js';
import { ConfigService } from './config/service.js';
import { EmbeddedServer } from './coordination/embedded/index.js';
import { ZooKeeperStore } from './coordination/zookeeper.js';
import type { Settings } from './settings.js';
import { WatchedTree, type CacheChange } from './coordination/watched-cache.js';

export interface Readiness {
  readonly ready: boolean;
  readonly shuttingDown: boolean;
  /** Why the gateway is not ready; empty when it is. */
  readonly reason: string;
  readonly store: { readonly kind: string; readonly state: string; readonly sessionId: string };
}

export interface Services {
  readonly settings: Readonly<Settings>;
  readonly store: CoordinationStore;
  /** The watched tree behind every cache; its watermark is the id of the latest event served. */
  readonly tree: WatchedTree<CacheChange>;
  readonly config: ConfigService;
  readonly hot: HotStore;
  readonly registry: RegistryService;
  readonly reaper: LeaseReaper;
  /** This replica's id (host, pid and a random suffix), as it appears in elections. */
  readonly replicaId: string;
  readiness(): Readiness;
  /**
   * False when the process cannot recover by itself and should be restarted (the embedded store
   * lost its log or its lock and refuses writes until a restart).
   */
  alive(): { readonly alive: boolean; readonly reason: string };
  /** Refuse new work from now on: readiness fails so load balancers drain this replica. */
  beginShutdown(): void;
  /** Release everything: the store session (its ephemerals go at once) and the embedded files. */
  close(): Promise<void>;
}

export async function createServices(settings: Readonly<Settings>, logger: Logger): Promise<Services> {
  const storeLogger = logger.child({ component: 'store' });
  let store: CoordinationStore;
  let release: () => Promise<void>;
  let failed = (): boolean => false;
  if (settings.zk) {
    const zk = await ZooKeeperStore.connect({
      connectString: settings.zk,
      sessionTimeoutMs: settings.sessionTimeoutMs,
      logger: storeLogger,
    });
    store = zk;
    release = () => zk.close();
  } else {
    const server = await EmbeddedServer.open({
      dataDir: settings.dataDir,
      snapCount: settings.snapCount,
      snapRetainCount: settings.snapRetainCount,
      logger: storeLogger,
    });
    const session = server.connect();
    store = session;
    failed = () => server.failed;
    release = async () => {
      await session.close();
      await server.close();
    };
  }
  store.onStateChange((event) =>
    storeLogger.info(
      { state: event.state, sessionId: `0x${event.sessionId.toString(16)}`, newSession: event.newSession },
      'store state',
    ),
  );

  const replicaId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  let hot: HotStore;
  try {
    hot = settings.redisUrl
      ? await RedisHotStore.connect({
          url: settings.redisUrl,
          logger: logger.child({ component: 'hotstore' }),
        })
      : new MemoryHotStore();
  } catch (err) {
    await release();
    throw err;
  }
  const tree = new WatchedTree<CacheChange>(store, logger.child({ component: 'cache' }));
  const config = new ConfigService(store, {
    tree,
    root: settings.root,
    maxBytes: settings.configMaxBytes,
    historyLimit: settings.historyLimit,
    tombstoneRetentionMs: settings.tombstoneRetentionMs,
    logger: logger.child({ component: 'config' }),
  });
  const registryLogger = logger.child({ component: 'registry' });
  const registry = new RegistryService(store, hot, {
    tree,
    servicesPath: settings.servicesPath,
    root: settings.root,
    defaultTtlMs: settings.leaseTtlMs,
    protectThreshold: settings.protectThreshold,
    zoneMinHealthyShare: settings.zoneMinHealthyShare,
    leaseRefreshMs: settings.leaseRefreshMs,
    logger: registryLogger,
  });
  const election = new LeaderElection(store, {
    path: `${settings.root}/election/reaper`,
    participant: replicaId,
    logger: registryLogger,
  });
  const reaper = new LeaseReaper(store, hot, registry.cache, election, registry.leases.grace, {
    servicesPath: settings.servicesPath,
    intervalMs: settings.reaperIntervalMs,
    evictionGraceMs: settings.evictionGraceMs,
    selfPreservationRatio: settings.selfPreservationRatio,
    logger: registryLogger,
  });
  const stop = async (): Promise<void> => {
    await reaper.close();
    await election.close().catch(() => undefined);
    registry.close();
    config.close();
    tree.close();
    await hot.close();
    await release();
  };
  try {
    await config.start();
    await registry.start();
    await tree.start(Math.max(30_000, 2 * settings.sessionTimeoutMs));
    reaper.start();
    await election.start();
  } catch (err) {
    await stop();
    throw err;
  }

  let shuttingDown = false;
  let closed: Promise<void> | undefined;
  return {
    settings,
    store,
    tree,
    config,
    hot,
    registry,
    reaper,
    replicaId,
    readiness() {
      const connected = store.state === 'connected';
      const synced = tree.ready;
      const reason = shuttingDown
        ? 'shutting down'
        : !connected
          ? `coordination store is ${store.state}`
          : synced
            ? ''
            : 'caches are loading';
      return {
        ready: connected && synced && !shuttingDown,
        shuttingDown,
        reason,
        store: { kind: store.kind, state: store.state, sessionId: `0x${store.sessionId.toString(16)}` },
      };
    },
    alive() {
      return failed()
        ? { alive: false, reason: 'the embedded store cannot write any more; restart the process' }
        : { alive: true, reason: '' };
    },
    beginShutdown() {
      shuttingDown = true;
    },
    close() {
      closed ??= stop();
      return closed;
    },
  };
}
