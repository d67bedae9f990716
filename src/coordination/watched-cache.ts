/**
 * The mechanism under the watch-backed caches (config namespaces, service instances): reads are
 * served from memory, kept current by one-shot watches that are re-armed after every event, and
 * everything is read again after a session expiry. One {@link WatchedTree} serves every cache of
 * a session as a {@link TreeView}, so they share one bound and one watermark: a stream that
 * mixes their events (config and instances on one `/v1/watch`) resumes from any of its ids.
 *
 * Changes are published in batches, and only up to a *bound* that makes every event id a safe
 * resume point. The argument: ZooKeeper delivers a session's notifications in zxid order and
 * before any response reflecting a later state. So a change with zxid z triggers its re-read
 * after every response we had seen with a zxid below z; recording, when a re-read is triggered,
 * the largest zxid seen so far (its floor) gives floor < z. Hence every change at or below the
 * smallest floor of the re-reads still running has already been read, and a batch publishes
 * exactly the staged changes at or below that bound, in zxid order (all of them when nothing
 * runs). The {@link WatchedTree.watermark} is the largest id published: every change at or below
 * it is reflected in what the views serve. A client that has seen id L therefore holds the latest
 * state of every item whose last change is at or below L, which is what `Last-Event-ID`
 * resumption, on any replica, relies on.
 */
import fastq from 'fastq';
import { ErrorCode, isStoreError, StoreError } from './errors.js';
import { parentOf } from './paths.js';
import { mkdirs } from './recipes.js';
import type { CoordinationStore, Stat, StoreLogger, Watcher } from './store.js';
import type { TreeView } from './cache-view.js';

/** Anything a cache publishes: its id is the zxid of the change. */
export interface CacheChange {
  readonly id: bigint;
  /** Which view published it ("config", "instances", ...); views pick their own by it. */
  readonly kind: string;
}

/** Zxid order, for `sort`. */
export function byId(a: CacheChange, b: CacheChange): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const RETRY_MS = 250;
/**
 * Loads reading the store at once. A cold start of 100,000 znodes issued every read together:
 * the last answers came after the request timeout, and every retry queued behind the others.
 */
const LOADS_IN_FLIGHT = 256;
/** How long a write waits for this replica's cache to show it before answering anyway. */
const ACK_WAIT_MS = 5_000;

interface Load {
  again: boolean;
  /**
   * The largest zxid seen when the first event behind this load arrived (see the header), raised
   * by {@link WatchedTree.publishOwn} to a write of its subject that was staged meanwhile.
   */
  floor: bigint;
}

export class WatchedTree<C extends CacheChange> {
  private readonly views: Array<TreeView<C>> = [];
  private readonly loading = new Map<string, Load>();
  /**
   * How many running loads hold each floor: the bound is the smallest. A cold start runs a load
   * per znode (100,000 for a large registry), nearly all with a floor inherited from a listing,
   * so scanning the few distinct floors keeps every batch O(1) where scanning the loads was
   * quadratic over the start.
   */
  private readonly floors = new Map<bigint, number>();
  /** Runs load tasks, {@link LOADS_IN_FLIGHT} at once, the others waiting in line, oldest first. */
  private readonly reads = fastq.promise((task: () => Promise<void>) => task(), LOADS_IN_FLIGHT);
  /** Loads a (re)sync waits for before the cache counts as whole again. */
  private readonly syncing = new Set<string>();
  private readonly listeners = new Set<(changes: readonly C[]) => void>();
  private readonly watchers = new Map<string, Watcher>();
  private readonly stopSession: () => void;
  private observed = 0n;
  private mark = 0n;
  private synced = false;
  private closed = false;
  private onSynced: (() => void) | undefined;

  constructor(
    readonly store: CoordinationStore,
    readonly logger: StoreLogger,
  ) {
    this.stopSession = store.onStateChange((event) => {
      // A new session has none of the old one's watches: read everything again.
      if (event.state === 'connected' && event.newSession) {
        this.synced = false;
        this.resync();
      }
    });
  }

  /** Add a view; every view is attached before {@link start}. */
  attach(view: TreeView<C>): void {
    this.views.push(view);
  }

  /** Load everything and arm the watches; resolves once the first full batch is published. */
  async start(timeoutMs: number): Promise<void> {
    const first = new Promise<void>((resolve) => (this.onSynced = resolve));
    this.resync();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`caches not loaded within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([first, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    this.stopSession();
    this.listeners.clear();
  }

  /** True while the cache holds a complete view (false until loaded, and while resyncing). */
  get ready(): boolean {
    return this.synced;
  }

  /** Every change with a zxid at or below this is reflected in what the cache serves. */
  get watermark(): bigint {
    return this.mark;
  }

  /** How many listeners are subscribed (streams, long-polls, writes awaiting their ack). */
  get listening(): number {
    return this.listeners.size;
  }

  /** Watchers the views hold on the store (one per watched znode). */
  get watches(): number {
    return this.watchers.size;
  }

  /** Called with every published batch, in order. Returns the unsubscribe function. */
  onChange(listener: (changes: readonly C[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves true once the watermark reaches `zxid` (a write this replica made), false after `timeoutMs`. */
  waitFor(zxid: bigint, timeoutMs: number): Promise<boolean> {
    return this.reach(zxid, timeoutMs, false);
  }

  /**
   * Answer a write once this replica serves it, so a read after a write sees the write. Gives up
   * (with a warning) after `timeoutMs`, and as soon as the connection is lost: the cache cannot
   * catch up before it is back, reads here are marked stale meanwhile, and the write itself
   * succeeded. Waiting on would only hold the answer of a write that is done.
   */
  async acknowledge(zxid: bigint, timeoutMs = ACK_WAIT_MS): Promise<void> {
    if (!(await this.reach(zxid, timeoutMs, true))) {
      this.logger.warn(
        { index: String(zxid), state: this.store.state },
        'write acknowledged before the cache caught up',
      );
    }
  }

  /** True once the watermark reaches `zxid`; false after `timeoutMs`, or (`whileConnected`) on leaving `connected`. */
  private reach(zxid: bigint, timeoutMs: number, whileConnected: boolean): Promise<boolean> {
    if (this.mark >= zxid) return Promise.resolve(true);
    if (whileConnected && this.store.state !== 'connected') return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (reached: boolean): void => {
        clearTimeout(timer);
        off();
        offState();
        resolve(reached);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      const off = this.onChange(() => {
        if (this.mark >= zxid) settle(true);
      });
      const offState = whileConnected
        ? this.store.onStateChange((event) => {
            if (event.state !== 'connected') settle(false);
          })
        : () => undefined;
    });
  }

  /**
   * Publish a write this replica made from what the write itself returned, without waiting for
   * its own watch to fire and the re-read that follows: `stage` stages the whole state of the
   * subject of load `key` as of `zxid` (the write's zxid, read from its response), and the batch
   * is flushed at once. Why every event id stays a safe resume point (see the header):
   * - Other writers' changes: the write's response has zxid `zxid`, so ZooKeeper delivered every
   *   notification of a change below it first, and the loads those started hold the bound below
   *   their change as ever; the write is published only in a batch that also holds all of them,
   *   in zxid order. Recording `zxid` as observed makes every load started by a later event
   *   floor at or above it, as the response came before that event.
   * - Its own watch: the write's notification (delivered before its response) started, or marked
   *   again, the load of `key`, whose floor is below `zxid`. Every change of that subject at or
   *   below `zxid` is what was just staged (the write was version-checked, so it is the latest
   *   state at `zxid`), so that load's floor is raised to `zxid`: it still holds back anything
   *   above, which is all it may still be reading (a later change by someone else). The run in
   *   flight may have read before the write, so the load runs once more, reading after it; what
   *   the stale run stages meanwhile is at or below `zxid` (a view keeps the newer state), or is
   *   held back by that floor until the next run replaces it.
   * - Duplicates: when that load re-reads the same state, its id is not above what was published,
   *   and views publish no event for it (the id of an item only moves forward).
   * - Resume across replicas: ids are the zxids every replica publishes the change at, and this
   *   replica's watermark still covers only what it reflects, so a client resuming anywhere with
   *   an id from here gets every later change once, as before.
   */
  publishOwn(key: string, zxid: bigint, stage: () => void): void {
    if (this.closed) return;
    if (zxid > this.observed) this.observed = zxid;
    const running = this.loading.get(key);
    if (running) {
      running.again = true;
      if (running.floor < zxid) {
        this.holdFloor(zxid);
        this.releaseFloor(running.floor);
        running.floor = zxid;
      }
    }
    stage();
    this.flush();
  }

  /** Record the zxids a response carried (see the header: they set the floors of later loads). */
  observe(stat: Stat): void {
    for (const zxid of [stat.mzxid, stat.pzxid, stat.czxid]) if (zxid > this.observed) this.observed = zxid;
  }

  /**
   * An id for the removal of `path`, just read as missing: the pzxid of its nearest existing
   * ancestor, read now. It is no lower than the removal of that ancestor's child on the way to
   * `path` (which came after `path`'s own), and it is a zxid this replica has read, so the bound
   * (see the header) holds it back until every change at or below it has been read. Should `path`
   * come back before this answer, the watch on it (or on a listing that held it) fired first, and
   * the load that started keeps the bound below this id until its read of `path` replaces what
   * was staged with it.
   */
  async absence(path: string): Promise<bigint> {
    for (let dir = parentOf(path); ; dir = parentOf(dir)) {
      const stat = await this.store.exists(dir);
      if (stat) {
        this.observe(stat);
        return stat.pzxid;
      }
      // Only a chroot removed from under the session gets here.
      if (dir === '/') throw new StoreError(ErrorCode.NO_NODE, dir);
    }
  }

  /** Move the watermark without an event (a change that is reflected but has nothing to send). */
  advance(id: bigint): void {
    if (id > this.mark) this.mark = id;
  }

  /**
   * Run `task` for `key` with at most one run in flight; an event during a run schedules one
   * more run after it, so the last run starts after the last event and re-arms its watch. A run
   * failed by the connection is retried: its floor holds back the batches until it succeeds. A
   * load started by the `parent` load's task takes that load's floor.
   */
  load(key: string, task: () => Promise<void>, parent?: string): void {
    if (!this.synced) this.syncing.add(key);
    const running = this.loading.get(key);
    if (running) {
      running.again = true;
      return;
    }
    // A load started by another one (a listing that found a new child) was not started by a
    // watch event: the change it reads may be older than everything observed since. The floor
    // of the load that found it is below that change.
    const inherited = parent === undefined ? undefined : this.loading.get(parent)?.floor;
    const floor = inherited !== undefined && inherited < this.observed ? inherited : this.observed;
    const state: Load = { again: false, floor };
    this.loading.set(key, state);
    this.holdFloor(floor);
    const run = async (): Promise<void> => {
      for (;;) {
        if (this.closed) return;
        try {
          state.again = false;
          await this.reads.push(task);
          if (!state.again) return;
        } catch (err) {
          if (this.closed || this.store.state === 'closed') return;
          if (!isStoreError(err) || !(err.recoverable || err.code === ErrorCode.SESSION_EXPIRED)) {
            // Not the connection (no access to a znode, a bug): retrying would hold back every
            // batch forever. Skip this read; the next event on it reads it again.
            this.logger.warn({ err, key }, 'cache load failed; skipping it');
            return;
          }
          this.logger.warn({ err, key }, 'cache load failed; retrying');
          await new Promise((r) => setTimeout(r, RETRY_MS).unref());
        }
      }
    };
    void run().finally(() => {
      this.loading.delete(key);
      this.releaseFloor(state.floor);
      this.syncing.delete(key);
      this.flush();
    });
  }

  private holdFloor(floor: bigint): void {
    this.floors.set(floor, (this.floors.get(floor) ?? 0) + 1);
  }

  private releaseFloor(floor: bigint): void {
    const holding = (this.floors.get(floor) ?? 1) - 1;
    if (holding === 0) this.floors.delete(floor);
    else this.floors.set(floor, holding);
  }

  /** The one watcher of `key`: every watch it arms re-runs `task` under that key. */
  watcherFor(key: string, task: () => Promise<void>): Watcher {
    let watcher = this.watchers.get(key);
    if (!watcher) {
      watcher = () => this.load(key, task);
      this.watchers.set(key, watcher);
    }
    return watcher;
  }

  /** Drop the watcher of an item that is gone, so the map does not grow with every item ever seen. */
  forgetWatcher(key: string): void {
    this.watchers.delete(key);
  }

  /** A directory's children; a missing directory (removed by hand) is created again. */
  async childrenOrCreate(path: string, watch: Watcher): Promise<string[]> {
    try {
      const { children, stat } = await this.store.getChildren(path, watch);
      this.observe(stat);
      return children;
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      this.logger.warn({ path }, 'watched directory missing; creating it again');
      await mkdirs(this.store, path);
      return this.childrenOrCreate(path, watch);
    }
  }

  private resync(): void {
    for (const view of this.views) view.resync();
  }

  /** Publish the staged changes up to the bound (see the file header), in zxid order. */
  private flush(): void {
    if (this.closed) return;
    let bound: bigint | undefined;
    for (const floor of this.floors.keys()) if (bound === undefined || floor < bound) bound = floor;
    const markBefore = this.mark;
    const covered = (id: bigint): boolean => bound === undefined || id <= bound;
    const changes = this.views.flatMap((view) => view.collect(covered, bound === undefined));
    changes.sort(byId);
    for (const change of changes) this.advance(change.id);
    if (!this.synced && this.syncing.size === 0 && bound === undefined) {
      this.synced = true;
      this.onSynced?.();
    }
    // Listeners also hear of a watermark that moved without a change to send (waitFor).
    if (changes.length > 0 || this.mark > markBefore) this.notify(changes);
  }

  private notify(changes: readonly C[]): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch (err) {
        this.logger.warn({ err }, 'cache change listener threw');
      }
    }
  }
}
