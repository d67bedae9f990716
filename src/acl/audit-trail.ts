/**
 * The audit trail as a whole: queries over its records, newest first, and its retention.
 *
 * Records are immutable, so each is read from ZooKeeper once and kept, parsed, by name; a query
 * walks the names newest first and reads only what it has not seen, and it stops once it has
 * `limit` matches or passes `since`. The listing itself (tens of thousands of names) is read
 * again only when the directory's children changed (its pzxid), which a quiet trail never does.
 * A replica that answers queries holds the records it has read: about half a KiB each, so some
 * 25 MB for a full trail at the default retention.
 *
 * Retention runs on the elected leader only, oldest first (sequence names sort by age), in
 * batches of one `multi` each, so a long backlog never holds up writes for more than one small
 * transaction at a time.
 *
 * Limitation: ZooKeeper's sequence counter is a signed 32-bit number. After 2^31 records in one
 * trail, names turn negative and no longer sort by age.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import { orAbsent } from '../coordination/recipes.js';
import type { CoordinationStore, Op, StoreLogger } from '../coordination/store.js';
import { atStoreBoundary } from '../errors.js';
import type { AuditRetention } from '../settings.js';
import { auditDirectory, parseAuditRecord, type AuditRecord } from './audit.js';

/** Whether this replica leads the singleton jobs: the gateways' `LeaderElection`. */
export interface Leadership {
  readonly isLeader: boolean;
}

export interface AuditTrailOptions {
  readonly root: string;
  readonly retention: AuditRetention;
  readonly logger: StoreLogger;
}

export interface AuditQuery {
  /** Only records whose resource starts with this. */
  readonly resource?: string;
  /** Only records of this accessor. */
  readonly accessor?: string;
  /**
   * Only records of changes after this zxid, or at or after this time (ms since the epoch). The
   * walk goes newest first and stops at the first record before it.
   */
  readonly since?: { readonly after: bigint } | { readonly from: number };
  readonly limit: number;
}

/** Records read from ZooKeeper at once by a query. */
const READ_BATCH = 100;
/** Records deleted per transaction by the retention. */
const PRUNE_BATCH = 100;
const PRUNE_INTERVAL_MS = 60_000;

export class AuditTrail {
  private readonly directory: string;
  /** Names newest first, as of the directory's pzxid. */
  private listing: { readonly pzxid: bigint; readonly names: readonly string[] } | undefined;
  /** Parsed records by name; null for a znode that holds no record. */
  private readonly records = new Map<string, AuditRecord | null>();
  private timer: NodeJS.Timeout | undefined;
  private pruning: Promise<number> | undefined;

  constructor(
    private readonly store: CoordinationStore,
    private readonly leadership: Leadership,
    private readonly options: AuditTrailOptions,
  ) {
    this.directory = auditDirectory(options.root);
  }

  /** Apply the retention every minute while this replica leads. */
  start(): void {
    this.timer = setInterval(() => {
      if (!this.leadership.isLeader) return;
      this.prune(Date.now()).catch((err: unknown) =>
        this.options.logger.warn({ err }, 'pruning the audit trail failed'),
      );
    }, PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.pruning?.catch(() => undefined);
  }

  /** Matching records, newest first. */
  query(query: AuditQuery): Promise<AuditRecord[]> {
    return atStoreBoundary('the audit trail', () => this.search(query));
  }

  private async search(query: AuditQuery): Promise<AuditRecord[]> {
    const names = await this.names();
    const found: AuditRecord[] = [];
    for (let start = 0; start < names.length; start += READ_BATCH) {
      for (const record of await this.read(names.slice(start, start + READ_BATCH))) {
        if (record === undefined) continue;
        if (query.since !== undefined && precedes(record, query.since)) return found;
        if (query.resource !== undefined && !record.resource.startsWith(query.resource)) continue;
        if (query.accessor !== undefined && record.accessor !== query.accessor) continue;
        if (found.push(record) >= query.limit) return found;
      }
    }
    return found;
  }

  /**
   * Delete the records past the retention's count and those older than its age, oldest first;
   * resolves with how many went. Stops between batches when leadership is lost. Exposed so tests
   * and operators can force a round.
   */
  prune(now: number): Promise<number> {
    this.pruning ??= this.pruneOnce(now).finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  private async pruneOnce(now: number): Promise<number> {
    const { count, maxAgeMs } = this.options.retention;
    const oldestFirst = (await this.store.getChildren(this.directory)).children.sort();
    const expired = oldestFirst.slice(0, Math.max(0, oldestFirst.length - count));
    const cutoff = now - maxAgeMs;
    // Within the count, records go by age until the first one young enough.
    aging: for (let start = expired.length; start < oldestFirst.length; start += PRUNE_BATCH) {
      const batch = oldestFirst.slice(start, start + PRUNE_BATCH);
      const stats = await Promise.all(batch.map((name) => this.store.exists(`${this.directory}/${name}`)));
      for (const [i, stat] of stats.entries()) {
        if (stat === null) continue;
        if (stat.ctime >= cutoff) break aging;
        expired.push(batch[i]!);
      }
    }
    let pruned = 0;
    for (let start = 0; start < expired.length && this.leadership.isLeader; start += PRUNE_BATCH) {
      const ops = expired
        .slice(start, start + PRUNE_BATCH)
        .map((name): Op => ({ op: 'delete', path: `${this.directory}/${name}` }));
      try {
        await this.store.multi(ops);
      } catch (err) {
        // Deleted meanwhile (by a leader that was one a moment ago): the next round lists again.
        if (isStoreError(err, ErrorCode.NO_NODE)) break;
        throw err;
      }
      pruned += ops.length;
    }
    return pruned;
  }

  /** Record names, newest first; listed again only when the directory's children changed. */
  private async names(): Promise<readonly string[]> {
    const stat = await this.store.exists(this.directory);
    if (stat === null) return [];
    if (this.listing?.pzxid === stat.pzxid) return this.listing.names;
    const listed = await this.store.getChildren(this.directory);
    const names = listed.children.sort().reverse();
    this.listing = { pzxid: listed.stat.pzxid, names };
    // Retention deletes oldest first: what sorts below the oldest name left is gone for good.
    const oldest = names.at(-1);
    for (const name of this.records.keys()) {
      if (oldest === undefined || name < oldest) this.records.delete(name);
    }
    return names;
  }

  /** The records of `names`, in order; undefined where there is none (pruned since the listing). */
  private read(names: readonly string[]): Promise<Array<AuditRecord | undefined>> {
    return Promise.all(
      names.map(async (name) => {
        const known = this.records.get(name);
        if (known !== undefined) return known ?? undefined;
        const node = await orAbsent(this.store.getData(`${this.directory}/${name}`));
        if (!node) return undefined;
        const record = parseAuditRecord(name, node.data, node.stat);
        this.records.set(name, record ?? null);
        return record;
      }),
    );
  }
}

function precedes(record: AuditRecord, since: NonNullable<AuditQuery['since']>): boolean {
  return 'after' in since ? record.index <= since.after : record.time < since.from;
}
