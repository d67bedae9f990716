/**
 * Tombstones: the records of namespace deletions (`<root>/config/tombstones/<ns>`) that let a
 * watcher resuming on any replica, later, hear of a deletion it missed. A delete writes its own in
 * its transaction; for a deletion zkgate did not make (a plain ZooKeeper client removed the
 * znodes), the elected replica writes one once its cache saw the namespace gone, so that replicas
 * starting later know of it. Tombstones older than the retention are pruned, and the pruning
 * moves a horizon: resuming from before it gets a `reset` instead of a deletion.
 */
import type { LeaderElection } from '../coordination/election.js';
import { MultiError } from '../coordination/errors.js';
import { isRace, orAbsent } from '../coordination/recipes.js';
import { Rerun } from '../coordination/rerun.js';
import type { CoordinationStore, Op, StoreLogger } from '../coordination/store.js';
import { encodeTombstone, parseMeta, type ConfigCache } from './cache.js';
import type { ConfigLayout } from './namespace.js';

export interface TombstoneOptions {
  readonly leadership: Pick<LeaderElection, 'isLeader' | 'onChange'>;
  /** How long deletions are remembered. */
  readonly retentionMs: number;
  readonly logger: StoreLogger;
}

export class Tombstones {
  private readonly recorder: Rerun;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly store: CoordinationStore,
    private readonly layout: ConfigLayout,
    private readonly cache: ConfigCache,
    private readonly options: TombstoneOptions,
  ) {
    this.recorder = new Rerun(
      () => this.recordDeletions(),
      () => this.running && options.leadership.isLeader,
      (err) => options.logger.warn({ err }, 'recording deletions failed'),
    );
  }

  /**
   * Prune old tombstones every quarter of the retention and, while leading, record the deletions
   * zkgate did not make: at once, and again with each pruning round after a failure.
   */
  start(): void {
    this.running = true;
    this.unsubscribe.push(
      this.cache.onChange((changes) => {
        if (changes.some((c) => c.kind === 'deleted')) this.recorder.request();
      }),
      this.options.leadership.onChange((leading) => {
        if (leading) this.recorder.request();
      }),
    );
    const every = Math.min(Math.max(this.options.retentionMs / 4, 1_000), 600_000);
    this.timer = setInterval(() => {
      this.recorder.request();
      this.prune(Date.now()).catch((err: unknown) =>
        this.options.logger.warn({ err }, 'pruning config tombstones failed'),
      );
    }, every);
    this.timer.unref();
  }

  close(): void {
    this.running = false;
    clearInterval(this.timer);
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Forget deletions older than the retention; resumes from before them get a `reset`. */
  async prune(now: number): Promise<number> {
    const cutoff = now - this.options.retentionMs;
    let pruned = 0;
    for (const { namespace } of this.cache.deletions().filter((d) => d.ctime < cutoff)) {
      // Decide on the tombstone as it is now: it may have been replaced by a newer deletion.
      const tombstone = await orAbsent(this.store.getData(this.layout.tombstoneOf(namespace)));
      if (!tombstone || tombstone.stat.ctime >= cutoff) continue;
      const zxid = tombstone.stat.czxid;
      const dir = await this.store.getData(this.layout.tombstones);
      const text = dir.data.toString('utf8');
      const horizon = /^[0-9]{1,20}$/.test(text) ? BigInt(text) : 0n;
      try {
        await this.store.multi([
          { op: 'delete', path: this.layout.tombstoneOf(namespace), version: tombstone.stat.version },
          {
            op: 'setData',
            path: this.layout.tombstones,
            data: Buffer.from(String(zxid > horizon ? zxid : horizon)),
            version: dir.stat.version,
          },
        ]);
        pruned++;
      } catch (err) {
        // Another replica pruned it, or moved the horizon first: the next round sees that.
        if (!(err instanceof MultiError)) throw err;
      }
    }
    return pruned;
  }

  /**
   * Record the deletions this replica's cache saw without a tombstone. One that cannot be recorded
   * (no access, a read-only server) is tried again by the next pruning round; its watchers got it
   * anyway.
   */
  private async recordDeletions(): Promise<void> {
    for (const { namespace, version } of this.cache.unrecordedDeletions()) {
      try {
        await this.recordDeletion(namespace, version);
      } catch (err) {
        this.options.logger.warn(
          { err, namespace },
          'deletion of a namespace not recorded; replicas starting now will not report it',
        );
      }
    }
  }

  /**
   * Write the tombstone of a deletion made outside zkgate, unless the namespace is back or the
   * deletion recorded. The transaction is fenced on the meta znode as read here (every publish
   * creates or sets it; a missing one is created and deleted again, which fails if it exists): a
   * publish in between fails it, rather than leave a tombstone beside a live namespace that a
   * later deletion would be taken for. It is no audited change: it records one already made.
   * A replica that lost the leadership meanwhile may write it too, which changes nothing.
   */
  private async recordDeletion(namespace: string, version: number): Promise<void> {
    const metaPath = this.layout.metaOf(namespace);
    const tombstone = this.layout.tombstoneOf(namespace);
    // The meta first: a publish writes both at once, so one before the meta read shows in the
    // document read too, and one after it fails the fence.
    const meta = await orAbsent(this.store.getData(metaPath));
    const doc = await this.store.exists(this.layout.document(namespace));
    if (doc && meta && isLive(meta.data)) return;
    const fence: Op[] = meta
      ? [{ op: 'check', path: metaPath, version: meta.stat.version }]
      : [
          { op: 'create', path: metaPath },
          { op: 'delete', path: metaPath },
        ];
    try {
      await this.store.multi([...fence, { op: 'create', path: tombstone, data: encodeTombstone(version) }]);
    } catch (err) {
      // Published, deleted or recorded meanwhile: the cache says again if it is still unrecorded.
      if (!isRace(err)) throw err;
    }
  }
}

/** Whether a meta znode's data makes its namespace live; one zkgate did not write does not. */
function isLive(data: Buffer): boolean {
  try {
    return parseMeta(data).live;
  } catch {
    return false;
  }
}
