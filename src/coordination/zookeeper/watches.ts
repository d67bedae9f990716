/**
 * Watches of the `zookeeper` adapter, with the Java client's delivery: one watcher function fires
 * once per event even when it was set through several calls (`ZKWatchManager` de-duplicates
 * across data, exist and child watches), which the library alone does not do.
 */
import { EventType, type StoreLogger, type WatchEvent, type Watcher } from '../store.js';
import type { RawWatcher } from './library.js';

/** Which call set a watch: getData, exists or getChildren. */
export type WatchKind = 'data' | 'exist' | 'child';

/** ZooKeeper's Java client de-duplicates watchers across these three tables; so do we. */
type WatchTable = Map<string, Set<Watcher>>;

export class ZooKeeperWatches {
  private readonly tables: Readonly<Record<WatchKind, WatchTable>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };
  private parked: { table: WatchTable; path: string; watcher: Watcher } | undefined;
  private readonly dispatchers = new Map<WatchTable, Map<string, RawWatcher>>();

  constructor(private readonly logger: StoreLogger) {}

  /** A session expired: its watches went with it. */
  clear(): void {
    for (const table of Object.values(this.tables)) table.clear();
  }

  /**
   * Watch registration in two steps, like the library's own: `watch` hands the library one
   * dispatcher per table and path and parks the user's watcher; `onSuccess` wraps the callback so
   * the watcher enters our table only when the server accepted the watch (a failed getData sets
   * none). The library fires one dispatcher per table it holds the path in; the first call takes
   * every watcher due from all three tables, so each user function runs once per event.
   */
  watch(kind: WatchKind, path: string, watcher: Watcher): RawWatcher {
    const table = this.tables[kind];
    this.parked = { table, path, watcher };
    let byPath = this.dispatchers.get(table);
    if (!byPath) this.dispatchers.set(table, (byPath = new Map()));
    let dispatch = byPath.get(path);
    if (!dispatch) {
      const paths = byPath;
      dispatch = (raw) => {
        paths.delete(path);
        this.deliver({ type: raw.getType() as EventType, path: raw.getPath() });
      };
      byPath.set(path, dispatch);
    }
    return dispatch;
  }

  onSuccess<A extends unknown[]>(callback: (err: Error | null, ...rest: A) => void) {
    const parked = this.parked;
    this.parked = undefined;
    return (err: Error | null, ...rest: A): void => {
      if (parked && !err) {
        let set = parked.table.get(parked.path);
        if (!set) parked.table.set(parked.path, (set = new Set()));
        set.add(parked.watcher);
      } else if (parked && !parked.table.get(parked.path)?.size) {
        // No watch was set and none is held for this path: drop its dispatcher (no leak per path).
        this.dispatchers.get(parked.table)?.delete(parked.path);
      }
      callback(err, ...rest);
    };
  }

  private deliver(event: WatchEvent): void {
    const due = new Set<Watcher>();
    const take = (table: WatchTable): void => {
      for (const w of table.get(event.path) ?? []) due.add(w);
      table.delete(event.path);
    };
    switch (event.type) {
      case EventType.NODE_CREATED:
      case EventType.NODE_DATA_CHANGED:
        take(this.tables.data);
        take(this.tables.exist);
        break;
      case EventType.NODE_CHILDREN_CHANGED:
        take(this.tables.child);
        break;
      case EventType.NODE_DELETED:
        take(this.tables.data);
        take(this.tables.exist);
        take(this.tables.child);
        break;
    }
    for (const watcher of due) {
      try {
        watcher(event);
      } catch (err) {
        this.logger.warn({ err, path: event.path }, 'watcher threw');
      }
    }
  }
}
