/**
 * `GET /v1/cluster`: what this replica sees of the whole deployment. The ZooKeeper servers'
 * modes and figures come from their four-letter words (`mntr`, falling back to `srvr`), asked
 * directly, so a server this replica is not connected to is shown too; the gateway replicas from
 * the gateways group; the leader from the election; the hot store from its adapter.
 */
import type { GroupMembership } from '../coordination/membership.js';
import type { LeaderElection } from '../coordination/election.js';
import type { CoordinationStore } from '../coordination/store.js';
import type { HotStore } from '../hotstore/store.js';
import type { LeaseReaper, ReaperStatus } from '../registry/reaper.js';
import type { Scanner, ScannerStatus } from '../scanner/scanner.js';
import { probeServers, type ZooKeeperServerStatus } from './zookeeper-servers.js';

export interface GatewayReplica {
  readonly id: string;
  readonly leader: boolean;
  /** This replica, the one answering. */
  readonly self: boolean;
  /** What the replica announced: host, pid, version, start time. */
  readonly info: Readonly<Record<string, unknown>>;
}

export interface ClusterView {
  readonly zookeeper: {
    /** `ensemble` for ZooKeeper, `embedded` for the in-process store. */
    readonly kind: 'ensemble' | 'embedded';
    readonly state: string;
    readonly sessionId: string;
    readonly servers: readonly ZooKeeperServerStatus[];
  };
  readonly gateways: {
    readonly self: string;
    /** The leader's id; null while there is none (an election in progress). */
    readonly leader: string | null;
    readonly replicas: readonly GatewayReplica[];
  };
  readonly hotStore: { readonly kind: string; readonly state: string };
  readonly scanner: ScannerStatus;
  readonly reaper: ReaperStatus;
}

export interface ClusterSources {
  readonly store: CoordinationStore;
  /** The ZooKeeper connect string; undefined for the embedded store. */
  readonly connectString: string | undefined;
  readonly membership: GroupMembership;
  readonly election: LeaderElection;
  readonly hot: HotStore;
  readonly scanner: Scanner;
  readonly reaper: LeaseReaper;
  readonly replicaId: string;
}

/** Whatever is reachable is reported; a store that cannot be read leaves the gateways list empty. */
export async function clusterView(sources: ClusterSources): Promise<ClusterView> {
  const { store, connectString } = sources;
  const [servers, members, participants] = await Promise.all([
    connectString === undefined
      ? Promise.resolve([{ address: 'embedded', reachable: true, mode: 'standalone' as const }])
      : probeServers(connectString),
    sources.membership.describe().catch(() => new Map<string, Buffer>()),
    sources.election.participants().catch(() => [] as string[]),
  ]);
  const leader = participants[0] ?? null;
  return {
    zookeeper: {
      kind: connectString === undefined ? 'embedded' : 'ensemble',
      state: store.state,
      sessionId: `0x${store.sessionId.toString(16)}`,
      servers,
    },
    gateways: {
      self: sources.replicaId,
      leader,
      replicas: [...members].map(([id, data]) => ({
        id,
        leader: id === leader,
        self: id === sources.replicaId,
        info: parseInfo(data),
      })),
    },
    hotStore: { kind: sources.hot.kind, state: sources.hot.state },
    scanner: sources.scanner.status(),
    reaper: sources.reaper.status(),
  };
}

function parseInfo(data: Buffer): Record<string, unknown> {
  try {
    const info = JSON.parse(data.toString('utf8')) as unknown;
    return typeof info === 'object' && info !== null && !Array.isArray(info)
      ? (info as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
