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

  /** Set by getData and by exists (whether or not the node exists). */
  addDataWatch(path: string, owner: WatchOwner, watcher: Watcher): void {
    add(this.data, path, owner, watcher);
  }

  addChildWatch(path: string, owner: WatchOwner, watcher: Watcher): void {
    add(this.child, path, owner, watcher);
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
        const union = fired.get(sessionId);
        if (union) for (const watcher of watches.watchers) union.watchers.add(watcher);
        else fired.set(sessionId, watches);
      }
    }
    for (const { owner, watchers } of fired.values()) owner.notify(event, watchers);
  }

  /** Drops a session's watches without firing them (its end, like ZooKeeper's removeCnxn). */
  removeSession(sessionId: bigint): void {
    for (const table of [this.data, this.child]) {
      for (const [path, sessions] of table) {
        if (sessions.delete(sessionId) && sessions.size === 0) table.delete(path);
      }
    }
  }
}

function add(table: Table, path: string, owner: WatchOwner, watcher: Watcher): void {
  let sessions = table.get(path);
  if (!sessions) table.set(path, (sessions = new Map()));
  const watches = sessions.get(owner.sessionId);
  if (watches) watches.watchers.add(watcher);
  else sessions.set(owner.sessionId, { owner, watchers: new Set([watcher]) });
}
