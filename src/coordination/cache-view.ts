/**
 * The side of a watch-backed cache its readers see: what every view of a {@link WatchedTree}
 * implements ({@link TreeView}), the base class of the config, registry and access-control
 * caches ({@link CacheView}), and the bookkeeping that spares a batch from scanning what a view
 * staged ({@link LowestStaged}). The tree's mechanism and the argument that makes every event id
 * a safe resume point are in watched-cache.ts.
 */
import type { CoordinationStore, StoreLogger } from './store.js';
import type { CacheChange, WatchedTree } from './watched-cache.js';

/**
 * One cache over a subtree: its loads (run through {@link WatchedTree.load}) stage what they read,
 * and {@link TreeView.collect} hands over the staged changes the bound covers.
 */
export interface TreeView<C extends CacheChange> {
  /** Read everything again and re-arm every watch (at start and after a session expiry). */
  resync(): void;
  /**
   * Apply the staged changes `covered` accepts and return the ones to publish. `settled` is true
   * when no load is running: everything staged is covered, and leftovers can be forgotten.
   */
  collect(covered: (id: bigint) => boolean, settled: boolean): C[];
}

/**
 * The smallest id a view staged and has not published: a batch whose bound is below it has
 * nothing to take. A cold start stages every znode of the tree while the listing that found them
 * holds the bound down, so without it every batch would scan everything staged so far.
 */
export class LowestStaged {
  private id: bigint | undefined;

  staged(id: bigint): void {
    if (this.id === undefined || id < this.id) this.id = id;
  }

  /**
   * Whether a batch must scan what is staged: when `settled`, or when the lowest id is covered.
   * A scan starts afresh: it stages again ({@link staged}) every id it leaves.
   */
  scan(covered: (id: bigint) => boolean, settled: boolean): boolean {
    if (!settled && (this.id === undefined || !covered(this.id))) return false;
    this.id = undefined;
    return true;
  }
}

/**
 * A cache over one subtree, as a {@link TreeView} of a session's tree: what every cache offers
 * its readers, with the changes of this view only.
 */
export abstract class CacheView<C extends CacheChange> implements TreeView<C> {
  protected readonly store: CoordinationStore;
  protected readonly logger: StoreLogger;

  protected constructor(
    protected readonly tree: WatchedTree<CacheChange>,
    private readonly owns: (change: CacheChange) => change is C,
  ) {
    this.store = tree.store;
    this.logger = tree.logger;
    tree.attach(this);
  }

  abstract resync(): void;
  abstract collect(covered: (id: bigint) => boolean, settled: boolean): C[];

  /** True while the cache holds a complete view (false until loaded, and while resyncing). */
  get ready(): boolean {
    return this.tree.ready;
  }

  /** Every change with a zxid at or below this is reflected in what the cache serves. */
  get watermark(): bigint {
    return this.tree.watermark;
  }

  /** Called with this view's changes in every published batch, in order; returns the unsubscribe function. */
  onChange(listener: (changes: readonly C[]) => void): () => void {
    return this.tree.onChange((changes) => listener(changes.filter(this.owns)));
  }

  /** Resolves true once the watermark reaches `zxid` (a write this replica made), false after `timeoutMs`. */
  waitFor(zxid: bigint, timeoutMs: number): Promise<boolean> {
    return this.tree.waitFor(zxid, timeoutMs);
  }
}
