/**
 * Every replica of one registry must keep leases in the same hot store. Two replicas each with
 * its own memory store (or two Redis deployments) split the leases: a heartbeat answered by one
 * renews a lease the leader never reads, and the leader evicts an instance that is alive. So each
 * replica announces where it keeps leases in its membership znode, and a replica that finds the
 * group keeping them elsewhere refuses to start (exit 2); until it is gone, the replicas already
 * running report themselves unready rather than serve a registry that is splitting.
 *
 * The identity is where the settings point, not something read from the store: it must hold
 * before the store is reachable, and survive the store losing its data. Replicas name their Redis
 * the same way (the same `ZKGATE_REDIS_URL`, passwords aside).
 */
import type { GroupMembership } from '../coordination/membership.js';
import type { StoreLogger } from '../coordination/store.js';
import type { RedisNode } from './redis/client.js';
import { redisTarget } from './target.js';

/**
 * Where a replica keeps leases: the memory store is this process's alone; a Redis is named by its
 * settings (passwords aside, lists sorted), so replicas must be configured alike.
 */
export function hotStoreIdentity(settings: Parameters<typeof redisTarget>[0], replicaId: string): string {
  const target = redisTarget(settings);
  if (target === undefined) return `memory:${replicaId}`;
  const nodes = (list: readonly RedisNode[]) =>
    list
      .map((n) => `${n.host}:${n.port}`)
      .sort()
      .join(',');
  if ('sentinels' in target) return `sentinel:${target.sentinelName}@${nodes(target.sentinels)}`;
  if ('cluster' in target) return `cluster:${nodes(target.cluster)}`;
  const url = new URL(target.url);
  const db = url.pathname.replace(/^\//, '') || '0';
  return `${url.protocol}//${url.hostname}:${url.port || '6379'}/${db}`;
}

/** A replica that would split the registry's leases; the process exits 2. */
export class HotStoreMismatch extends Error {
  override readonly name = 'HotStoreMismatch';
}

export class HotStoreAgreement {
  private disagreeing: ReadonlyMap<string, string> = new Map();
  private stopWatching: (() => void) | undefined;
  private checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly membership: GroupMembership,
    private readonly own: string,
    private readonly logger: StoreLogger,
  ) {}

  /**
   * Check the group (this replica has joined it) and refuse if it keeps leases elsewhere; then
   * follow the group, so a replica joining with another hot store makes this one unready. A
   * disagreeing member may be this replica's own predecessor, killed before it could leave: its
   * znode lasts until its session expires, so the verdict waits up to `patienceMs` (the session
   * timeout the server granted, and a tick) for the group to change before refusing.
   */
  async start(patienceMs: number): Promise<void> {
    const deadline = Date.now() + patienceMs;
    await this.check();
    while (this.disagreeing.size > 0 && Date.now() < deadline) {
      await this.groupChange(deadline - Date.now());
      await this.check();
    }
    if (this.disagreeing.size > 0) throw new HotStoreMismatch(this.reason());
    this.stopWatching = this.membership.onChange(() => {
      this.checking = this.checking
        .then(() => this.check())
        .catch((err: unknown) => {
          this.logger.warn({ err }, 'hot store agreement check failed; keeping the last verdict');
        });
    });
  }

  close(): void {
    this.stopWatching?.();
  }

  /** Why the registry is splitting, or undefined while every replica agrees. */
  get conflict(): string | undefined {
    return this.disagreeing.size === 0 ? undefined : this.reason();
  }

  private groupChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const off = this.membership.onChange(done);
      function done(): void {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }

  private async check(): Promise<void> {
    const disagreeing = new Map<string, string>();
    for (const [member, data] of await this.membership.describe()) {
      const theirs = announced(data);
      // Replicas of versions before the announcement say nothing: nothing to judge them by.
      if (theirs !== undefined && theirs !== this.own) disagreeing.set(member, theirs);
    }
    if (disagreeing.size > 0 && this.disagreeing.size === 0) {
      this.logger.warn(
        { replicas: Object.fromEntries(disagreeing), own: this.own },
        'replicas keep leases in other hot stores',
      );
    }
    this.disagreeing = disagreeing;
  }

  private reason(): string {
    const others = [...this.disagreeing].map(([member, identity]) => `${member} (${identity})`).join(', ');
    return (
      `replicas keep leases in another hot store than this one (${this.own}): ${others}. ` +
      'Replicas of one registry must share one Redis: set the same ZKGATE_REDIS_URL (or sentinels, or cluster nodes) on every replica'
    );
  }
}

function announced(data: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(data.toString('utf8')) as { hotStore?: unknown };
    return typeof parsed.hotStore === 'string' ? parsed.hotStore : undefined;
  } catch {
    return undefined;
  }
}
