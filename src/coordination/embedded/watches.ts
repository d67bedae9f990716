/**
 * One-shot watches for all sessions, with the Java client's delivery rules (`ZKWatchManager`):
 * NodeCreated and NodeDataChanged fire the path's data and exist watches, NodeDeleted fires its
 * data, exist and child watches, NodeChildrenChanged fires the child watches, and a session gets
 * one call per watcher function however many of those sets held it.
 *
 * Data and exist watches share a table: every event that fires one fires the other, so keeping
 * them apart (as the Java client does, by whether the node existed) would change nothing visible.
 */
import { EventType, type WatchEvent, type Watcher } from '../store.js';

/** A ZooKeeper session, as far as watches are concerned. */
export interface WatchOwner {
  readonly sessionId: bigint;
  /** Called inside the commit; must defer the calls to user code. */
  notify(event: WatchEvent, watchers: ReadonlySet<Watcher>): void;
}

interface SessionWatches {
  readonly owner: WatchOwner;
  readonly watchers: Set<Watcher>;
}

type Table = Map<string, Map<bigint, SessionWatches>>;

export class WatchManager {
  private readonly data: Table = new Map();
  private readonly child: Table = new Map();
  /** Per session, the paths it watches in each table: a session's end costs its own watches only. */
  private readonly bySession = new Map<bigint, Map<Table, Set<string>>>();

  /** Set by getData and by exists (whether or not the node exists). */
  addDataWatch(path: string, owner: WatchOwner, watcher: Watcher): void {
    this.add(this.data, path, owner, watcher);
  }

  addChildWatch(path: string, owner: WatchOwner, watcher: Watcher): void {
    this.add(this.child, path, owner, watcher);
  }

  /** Fires and removes the watches an event triggers. */
  trigger(event: WatchEvent): void {
    const tables =
      event.type === EventType.NODE_CHILDREN_CHANGED
        ? [this.child]
        : event.type === EventType.NODE_DELETED
          ? [this.data, this.child]
          : [this.data];
    const fired = new Map<bigint, SessionWatches>();
    for (const table of tables) {
      const sessions = table.get(event.path);
      if (!sessions) continue;
      table.delete(event.path);
      for (const [sessionId, watches] of sessions) {
        this.bySession.get(sessionId)?.get(table)?.delete(event.path);
        const union = fired.get(sessionId);
        if (union) for (const watcher of watches.watchers) union.watchers.add(watcher);
        else fired.set(sessionId, watches);
      }
    }
    for (const { owner, watchers } of fired.values()) owner.notify(event, watchers);
  }

  /** Drops a session's watches without firing them (its end, like ZooKeeper's removeCnxn). */
  removeSession(sessionId: bigint): void {
    const watched = this.bySession.get(sessionId);
    if (!watched) return;
    this.bySession.delete(sessionId);
    for (const [table, paths] of watched) {
      for (const path of paths) {
        const sessions = table.get(path);
        if (sessions?.delete(sessionId) && sessions.size === 0) table.delete(path);
      }
    }
  }

  private add(table: Table, path: string, owner: WatchOwner, watcher: Watcher): void {
    let sessions = table.get(path);
    if (!sessions) table.set(path, (sessions = new Map()));
    const watches = sessions.get(owner.sessionId);
    if (watches) watches.watchers.add(watcher);
    else sessions.set(owner.sessionId, { owner, watchers: new Set([watcher]) });
    let watched = this.bySession.get(owner.sessionId);
    if (!watched) this.bySession.set(owner.sessionId, (watched = new Map()));
    let paths = watched.get(table);
    if (!paths) watched.set(table, (paths = new Set()));
    paths.add(path);
  }
}
