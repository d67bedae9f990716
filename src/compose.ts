/**
 * The composition root: the only place that chooses adapters. Embedded store and in-memory hot
 * store by default; a ZooKeeper ensemble when `ZKGATE_ZK` is set, Redis when `ZKGATE_REDIS_URL` is.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AccessControl } from './acl/access.js';
import { bootstrapManagementToken } from './acl/bootstrap.js';
import { AclService } from './acl/store.js';
import { HotStoreAgreement, hotStoreIdentity } from './hotstore/agreement.js';
import { AuditTrail } from './acl/audit-trail.js';
import { LeaderElection } from './coordination/election.js';
import { MemoryHotStore } from './hotstore/memory.js';
import { redisTarget } from './hotstore/target.js';
import type { HotStore } from './hotstore/store.js';
import { Holds } from './registry/holds.js';
import { LeaseReaper } from './registry/reaper.js';
import { Registry } from './registry/registry.js';
import type { CoordinationStore } from './coordination/store.js';
import { ConfigService } from './config/service.js';
import { parseAuditRetention, type Settings } from './settings.js';
import { protectTree } from './coordination/tree-acl.js';
import { WatchedTree, type CacheChange } from './coordination/watched-cache.js';
import { GroupMembership } from './coordination/membership.js';
import { clusterView, type ClusterView } from './monitor/cluster.js';
import { instrumentStore } from './monitor/instrumented-store.js';
import { Metrics } from './monitor/metrics.js';
import { Scanner } from './scanner/scanner.js';
import { CheckTargets } from './scanner/targets.js';
import { VERSION } from './version.js';

/** How long one cluster view is served to every request. */
const CLUSTER_VIEW_TTL_MS = 1_000;

export interface Readiness {
  readonly ready: boolean;
  readonly shuttingDown: boolean;
  /** Why the gateway is not ready; empty when it is. */
  readonly reason: string;
  readonly store: { readonly kind: string; readonly state: string; readonly sessionId: string };
  readonly hotStore: { readonly kind: string; readonly state: string; readonly degraded: boolean };
}

export interface Services {
  readonly settings: Readonly<Settings>;
  readonly store: CoordinationStore;
  /** The watched tree behind every cache; its watermark is the id of the latest event served. */
  readonly tree: WatchedTree<CacheChange>;
  readonly config: ConfigService;
  readonly hot: HotStore;
  readonly registry: Registry;
  readonly reaper: LeaseReaper;
  readonly scanner: Scanner;
  /** Which addresses health checks may probe. */
  readonly checkTargets: CheckTargets;
  /** The gateways group: live replicas, each an ephemeral znode under `<root>/gateways`. */
  readonly membership: GroupMembership;
  /** Who runs the singleton jobs (lease reaping). */
  readonly election: LeaderElection;
  readonly metrics: Metrics;
  /** Tokens and policies. */
  readonly acl: AclService;
  /** Who each request is and what it may do. */
  readonly access: AccessControl;
  /** This replica's id (host, pid and a random suffix): its name in the gateways group and the election. */
  readonly replicaId: string;
  /** Every change's record: queries, and the retention (on the leader). */
  readonly audit: AuditTrail;
  /** What this replica sees of the deployment, for `GET /v1/cluster`. */
  cluster(): Promise<ClusterView>;
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
  const metrics = new Metrics();
  let raw: CoordinationStore;
  let release: () => Promise<void>;
  let failed = (): boolean => false;
  // How long a replica that finds another hot store in the group waits before refusing (see
  // HotStoreAgreement.start); the embedded store's data directory is locked to one process, so
  // there is no other replica to wait for.
  let agreementPatienceMs: number | undefined;
  // Each adapter, and the client library behind it, is loaded only when chosen: the others would
  // sit in every replica's heap unused (ioredis and node-zookeeper-client are most of a MiB each).
  if (settings.zk) {
    const { ZooKeeperStore } = await import('./coordination/zookeeper.js');
    const zk = await ZooKeeperStore.connect({
      connectString: settings.zk,
      sessionTimeoutMs: settings.sessionTimeoutMs,
      logger: storeLogger,
    });
    raw = zk;
    release = () => zk.close();
    // A crashed predecessor stays in the group until the session the server granted it expires:
    // possibly longer than the one asked for (ZooKeeper grants 2 to 20 ticks), and checked on
    // tick boundaries, a tick being at most half of any timeout it grants.
    agreementPatienceMs = Math.ceil(1.5 * zk.sessionCredentials().timeoutMs);
  } else {
    const { EmbeddedServer } = await import('./coordination/embedded/index.js');
    const server = await EmbeddedServer.open({
      dataDir: settings.dataDir,
      snapCount: settings.snapCount,
      snapRetainCount: settings.snapRetainCount,
      logger: storeLogger,
    });
    const session = server.connect();
    raw = session;
    failed = () => server.failed;
    release = async () => {
      await session.close();
      await server.close();
    };
  }
  let guarded: CoordinationStore;
  try {
    guarded = await protectTree(raw, settings, storeLogger);
  } catch (err) {
    await release();
    throw err;
  }
  const store = instrumentStore(guarded, metrics.storeOperations);
  const replicaId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  let hot: HotStore;
  try {
    const redis = redisTarget(settings);
    if (redis) {
      const { RedisHotStore } = await import('./hotstore/redis.js');
      hot = await RedisHotStore.connect({
        ...redis,
        degradedStart: true,
        logger: logger.child({ component: 'hotstore' }),
      });
    } else {
      hot = new MemoryHotStore();
    }
  } catch (err) {
    await release();
    throw err;
  }
  const tree = new WatchedTree<CacheChange>(store, logger.child({ component: 'cache' }));
  // Since when the gateway has been unable to serve fresh reads (disconnected, or caches
  // reloading after a new session); undefined while it can.
  let unreadySince: number | undefined;
  store.onStateChange((event) => {
    metrics.storeSessionEvents.inc({ state: event.state });
    if (event.state !== 'connected') unreadySince ??= Date.now();
    else if (tree.ready) unreadySince = undefined;
    storeLogger.info(
      { state: event.state, sessionId: `0x${event.sessionId.toString(16)}`, newSession: event.newSession },
      'store state',
    );
  });

  const clusterLogger = logger.child({ component: 'cluster' });
  const election = new LeaderElection(store, {
    path: `${settings.root}/election/leader`,
    participant: replicaId,
    logger: clusterLogger,
  });
  const config = new ConfigService(store, {
    tree,
    leadership: election,
    root: settings.root,
    maxBytes: settings.configMaxBytes,
    historyLimit: settings.historyLimit,
    tombstoneRetentionMs: settings.tombstoneRetentionMs,
    logger: logger.child({ component: 'config' }),
    metrics,
  });
  const acl = new AclService(tree, settings.root);
  const registryLogger = logger.child({ component: 'registry' });
  const holds = new Holds(store, settings.root, registryLogger);
  const registry = new Registry(store, hot, {
    tree,
    holds,
    servicesPath: settings.servicesPath,
    root: settings.root,
    defaultTtlMs: settings.leaseTtlMs,
    protectThreshold: settings.protectThreshold,
    zoneMinHealthyShare: settings.zoneMinHealthyShare,
    leaseRefreshMs: settings.leaseRefreshMs,
    logger: registryLogger,
    metrics,
  });
  const hotStore = hotStoreIdentity(settings, replicaId);
  const membership = new GroupMembership(store, {
    path: `${settings.root}/gateways`,
    id: replicaId,
    data: Buffer.from(
      JSON.stringify({
        host: hostname(),
        pid: process.pid,
        version: VERSION,
        startedAt: new Date().toISOString(),
        hotStore,
      }),
    ),
    logger: clusterLogger,
  });
  const agreement = new HotStoreAgreement(membership, hotStore, clusterLogger);
  membership.onChange((view) =>
    clusterLogger.info({ replicas: view.members, joined: view.joined }, 'gateway replicas'),
  );
  election.onChange((leading) =>
    clusterLogger.info({ leading }, leading ? 'leading singleton jobs' : 'not leading'),
  );
  const checkTargets = new CheckTargets({
    deny: settings.checkDenyCidrs ?? [],
    allow: settings.checkAllowCidrs ?? [],
  });
  const scanner = new Scanner(registry, hot, membership, {
    replicaId,
    concurrency: settings.checkConcurrency,
    targets: checkTargets,
    logger: logger.child({ component: 'scanner' }),
    metrics,
  });
  const reaper = new LeaseReaper(store, hot, registry.cache, election, registry.leases.grace, holds, {
    servicesPath: settings.servicesPath,
    root: settings.root,
    intervalMs: settings.reaperIntervalMs,
    evictionGraceMs: settings.evictionGraceMs,
    selfPreservationRatio: settings.selfPreservationRatio,
    logger: registryLogger,
    metrics,
  });
  const audit = new AuditTrail(store, election, {
    root: settings.root,
    retention: parseAuditRetention(settings.auditRetention),
    logger: logger.child({ component: 'audit' }),
  });
  metrics.bind({
    storeState: () => store.state,
    watches: () => tree.watches,
    instances: () => registry.reads.statusCounts(),
    reaper: () => {
      const status = reaper.status();
      return { state: status.state, preserving: status.preserving.length > 0 };
    },
    leader: () => election.isLeader,
    replicas: () => membership.current.members.length,
    hotStoreState: () => hot.state,
    probes: () => scanner.status(),
  });
  const accessLogger = logger.child({ component: 'access' });
  const access = new AccessControl(acl.cache, { enabled: settings.auth === 'on', logger: accessLogger });
  if (settings.auth === 'off') {
    accessLogger.warn(
      {},
      'ZKGATE_AUTH=off: every request is served without a token; never expose this gateway',
    );
  }
  let stopStanding = (): void => undefined;
  const stop = async (): Promise<void> => {
    stopStanding();
    agreement.close();
    access.close();
    await scanner.close();
    await reaper.close();
    await audit.close();
    await election.close().catch(() => undefined);
    await membership.close().catch(() => undefined);
    registry.close();
    holds.close();
    config.close();
    tree.close();
    await hot.close();
    await release();
  };
  try {
    await config.start();
    await registry.start();
    await holds.start();
    await acl.start();
    await tree.start(Math.max(30_000, 2 * settings.sessionTimeoutMs));
    await bootstrapManagementToken(acl, settings, accessLogger);
    reaper.start();
    audit.start();
    await membership.start();
    if (agreementPatienceMs !== undefined) await agreement.start(agreementPatienceMs);
    // Only a replica that shares the others' hot store, and reaches it, stands for leader:
    // elected otherwise, its reaper would read no lease and evictions would stop for everyone.
    if (hot.state === 'connected') await election.start();
    else stopStanding = standOnceConnected(election, hot, clusterLogger);
    scanner.start();
  } catch (err) {
    await stop();
    throw err;
  }

  let clusterCache: { at: number; view: Promise<ClusterView> } | undefined;
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
    scanner,
    checkTargets,
    membership,
    election,
    metrics,
    acl,
    access,
    replicaId,
    audit,
    cluster() {
      // Every view asks each ZooKeeper server over a new connection: a burst of requests (or a
      // dashboard per operator) shares one round per second.
      if (!clusterCache || Date.now() - clusterCache.at > CLUSTER_VIEW_TTL_MS) {
        clusterCache = {
          at: Date.now(),
          view: clusterView({
            store,
            connectString: settings.zk,
            membership,
            election,
            hot,
            scanner,
            reaper,
            replicaId,
          }),
        };
      }
      return clusterCache.view;
    },
    readiness() {
      const connected = store.state === 'connected';
      const synced = tree.ready;
      if (connected && synced) unreadySince = undefined;
      else unreadySince ??= Date.now();
      // Reads are served stale while the store is away: a short outage (an ensemble electing a
      // leader) must not pull every replica out of its load balancer at once.
      const withinGrace = unreadySince !== undefined && Date.now() - unreadySince < settings.readinessGraceMs;
      const split = agreement.conflict;
      const reason = shuttingDown
        ? 'shutting down'
        : (split ??
          (!connected ? `coordination store is ${store.state}` : synced ? '' : 'caches are loading'));
      return {
        ready: ((connected && synced) || withinGrace) && !shuttingDown && split === undefined,
        shuttingDown,
        reason,
        store: { kind: store.kind, state: store.state, sessionId: `0x${store.sessionId.toString(16)}` },
        // Degraded, not down: registrations and heartbeats are still answered (see RegistryWriter).
        hotStore: { kind: hot.kind, state: hot.state, degraded: hot.state !== 'connected' },
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

/**
 * Stand for leader once a hot store that has not answered yet does (a gateway started during an
 * outage), trying again while the candidacy fails. Returns what gives up on it.
 */
function standOnceConnected(election: LeaderElection, hot: HotStore, logger: Logger): () => void {
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const stand = (): void => {
    election.start().catch(async (err: unknown) => {
      await election.close().catch(() => undefined);
      if (stopped) return;
      logger.warn({ err }, 'could not stand for leader; trying again');
      retry = setTimeout(stand, 1_000).unref();
    });
  };
  const stopWaiting = hot.onStateChange((event) => {
    if (event.state !== 'connected') return;
    stopWaiting();
    stand();
  });
  return () => {
    stopped = true;
    stopWaiting();
    clearTimeout(retry);
  };
}
