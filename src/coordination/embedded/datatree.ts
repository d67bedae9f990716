/**
 * The committed znode tree: ZooKeeper's `DataTree`. It changes only by applying logged
 * transactions, in zxid order, so replaying the log over a snapshot rebuilds it exactly.
 */
import { basename, parentOf } from '../paths.js';
import {
  EventType,
  OPEN_ACL_UNSAFE,
  READ_ACL_UNSAFE,
  type Acl,
  type OpResult,
  type Stat,
  type WatchEvent,
} from '../store.js';
import { canonicalAcl } from './auth.js';
import { TxnType, type SingleTxn, type Txn } from './txn.js';

/** What applying a transaction answers: a multi's results, or setACL's new Stat. */
export type TxnResult = OpResult | { readonly op: 'setACL'; readonly stat: Stat };

/** One znode as the tree stores it (ZooKeeper's `DataNode` with its `StatPersisted`). */
export interface ZNode {
  data: Buffer;
  readonly czxid: bigint;
  mzxid: bigint;
  pzxid: bigint;
  readonly ctime: number;
  mtime: number;
  version: number;
  /**
   * Child creates only, as ZooKeeper persists it: the sequential suffix is this counter, and the
   * cversion clients see is derived from it (see {@link DataTree.stat}).
   */
  cversion: number;
  aversion: number;
  readonly ephemeralOwner: bigint;
  acl: readonly Acl[];
  readonly children: Set<string>;
}

/** `/zookeeper/config` is created with READ_ACL_UNSAFE (ZOOKEEPER-2014), so writes to it fail NO_AUTH. */
export const CONFIG_NODE = '/zookeeper/config';

/** The znodes ZooKeeper refuses to delete (`DataTree.isSpecialPath`), with BAD_ARGUMENTS. */
export const SPECIAL_PATHS: ReadonlySet<string> = new Set([
  '/',
  '/zookeeper',
  '/zookeeper/quota',
  CONFIG_NODE,
]);

/**
 * The ACL ZooKeeper gives the znodes it starts with, and so what they hold in a data directory
 * written before the embedded store kept ACLs (every other znode of one is open).
 */
export function initialAcl(path: string): readonly Acl[] {
  return path === CONFIG_NODE ? READ_ACL_UNSAFE : OPEN_ACL_UNSAFE;
}

/** A znode with no children yet. */
export function newZNode(fields: Omit<ZNode, 'children'>): ZNode {
  return { ...fields, acl: canonicalAcl(fields.acl), children: new Set() };
}

/** The znodes by path, the live sessions and their ephemerals, as of {@link DataTree.lastZxid}. */
export class DataTree {
  /**
   * Insertion order puts every parent before its children (a child can only be added while its
   * parent exists, and a re-created parent is re-inserted), so iterating this map is a valid
   * order to rebuild the tree from a snapshot.
   */
  readonly nodes = new Map<string, ZNode>();
  /** Sessions created and not yet closed, as ZooKeeper keeps them in its snapshots. */
  readonly sessions = new Set<bigint>();
  private readonly ephemerals = new Map<bigint, Set<string>>();
  lastZxid = 0n;

  /** The tree of a freshly started ZooKeeper 3.8 standalone server, stats included. */
  static fresh(): DataTree {
    const tree = new DataTree();
    for (const path of SPECIAL_PATHS) {
      tree.insert(
        path,
        newZNode({
          data: Buffer.alloc(0),
          czxid: 0n,
          mzxid: 0n,
          pzxid: 0n,
          ctime: 0,
          mtime: 0,
          version: 0,
          cversion: 0,
          // ZooKeeper sets the config node's ACL with version -1 when it builds the tree.
          aversion: path === CONFIG_NODE ? -1 : 0,
          ephemeralOwner: 0n,
          acl: initialAcl(path),
        }),
      );
    }
    return tree;
  }

  get(path: string): ZNode | undefined {
    return this.nodes.get(path);
  }

  /** Adds a znode under its (existing) parent without touching the parent's stat, as snapshot loading does. */
  insert(path: string, node: ZNode): void {
    if (path !== '/') {
      const parent = this.nodes.get(parentOf(path));
      if (!parent) throw new Error(`parent of ${path} is missing`);
      parent.children.add(basename(path));
    }
    this.nodes.set(path, node);
    if (node.ephemeralOwner !== 0n) this.ephemeralSet(node.ephemeralOwner).add(path);
  }

  /** The client-visible Stat. */
  stat(node: ZNode): Stat {
    const numChildren = node.children.size;
    return {
      czxid: node.czxid,
      mzxid: node.mzxid,
      pzxid: node.pzxid,
      ctime: node.ctime,
      mtime: node.mtime,
      version: node.version,
      // ZooKeeper's DataNode.copyStat: every create not matched by a live child was a delete, so
      // creates * 2 - live children counts creates and deletes (a fresh root reports -1).
      cversion: (node.cversion * 2 - numChildren) | 0,
      aversion: node.aversion,
      ephemeralOwner: node.ephemeralOwner,
      dataLength: node.data.length,
      numChildren,
    };
  }

  ephemeralsOf(sessionId: bigint): ReadonlySet<string> {
    return this.ephemerals.get(sessionId) ?? new Set();
  }

  /**
   * Applies a logged transaction. `events` receives the watch events it triggers, in ZooKeeper's
   * order. Throws only when the transaction does not fit the tree, which means the log and the
   * tree disagree (a bug or a damaged data directory), never for an ordinary failed request: those
   * are error transactions and change nothing.
   */
  apply(txn: Txn, events: WatchEvent[] = []): TxnResult[] {
    const { body } = txn;
    let results: TxnResult[] = [];
    switch (body.type) {
      case TxnType.MULTI:
        if (!body.txns.some((sub) => sub.type === TxnType.ERROR)) {
          results = body.txns.map((sub) => this.applySub(txn, sub, events) as TxnResult);
        }
        break;
      case TxnType.CREATE_SESSION:
        this.sessions.add(txn.sessionId);
        break;
      case TxnType.CLOSE_SESSION:
        for (const path of body.paths) this.deleteNode(path, txn.zxid, events);
        this.ephemerals.delete(txn.sessionId);
        this.sessions.delete(txn.sessionId);
        break;
      default: {
        const result = this.applySub(txn, body, events);
        if (result) results = [result];
      }
    }
    this.lastZxid = txn.zxid;
    return results;
  }

  private applySub(txn: Txn, sub: SingleTxn, events: WatchEvent[]): TxnResult | undefined {
    switch (sub.type) {
      case TxnType.CREATE: {
        const owner = sub.ephemeral ? txn.sessionId : 0n;
        this.createNode(sub.path, sub.data, sub.acl, owner, sub.parentCVersion, txn, events);
        return { op: 'create', path: sub.path };
      }
      case TxnType.SET_ACL: {
        // No watch fires and neither mzxid nor pzxid moves: only the ACL and its version change.
        const node = this.existing(sub.path);
        node.acl = canonicalAcl(sub.acl);
        node.aversion = sub.version;
        return { op: 'setACL', stat: this.stat(node) };
      }
      case TxnType.DELETE:
        this.deleteNode(sub.path, txn.zxid, events);
        return { op: 'delete' };
      case TxnType.SET_DATA: {
        const node = this.existing(sub.path);
        node.data = sub.data;
        node.mtime = txn.time;
        node.mzxid = txn.zxid;
        node.version = sub.version;
        events.push({ type: EventType.NODE_DATA_CHANGED, path: sub.path });
        return { op: 'setData', stat: this.stat(node) };
      }
      case TxnType.CHECK:
        return { op: 'check' };
      case TxnType.ERROR:
        return undefined;
    }
  }

  private createNode(
    path: string,
    data: Buffer,
    acl: readonly Acl[],
    ephemeralOwner: bigint,
    parentCVersion: number,
    txn: Txn,
    events: WatchEvent[],
  ): void {
    const parentPath = parentOf(path);
    const parent = this.existing(parentPath);
    if (this.nodes.has(path)) throw new Error(`cannot apply zxid ${txn.zxid}: ${path} exists`);
    // ZooKeeper's guard: once the int32 counter wraps, the parent's cversion and pzxid stay put.
    if (parentCVersion > parent.cversion) {
      parent.cversion = parentCVersion;
      parent.pzxid = txn.zxid;
    }
    this.insert(
      path,
      newZNode({
        data,
        czxid: txn.zxid,
        mzxid: txn.zxid,
        pzxid: txn.zxid,
        ctime: txn.time,
        mtime: txn.time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeralOwner,
        acl,
      }),
    );
    events.push(
      { type: EventType.NODE_CREATED, path },
      { type: EventType.NODE_CHILDREN_CHANGED, path: parentPath },
    );
  }

  private deleteNode(path: string, zxid: bigint, events: WatchEvent[]): void {
    const parentPath = parentOf(path);
    const parent = this.existing(parentPath);
    const node = this.existing(path);
    parent.children.delete(basename(path));
    // Deletes move pzxid but not the stored cversion (DataTree.deleteNode).
    parent.pzxid = zxid;
    this.nodes.delete(path);
    if (node.ephemeralOwner !== 0n) this.ephemerals.get(node.ephemeralOwner)?.delete(path);
    events.push(
      { type: EventType.NODE_DELETED, path },
      { type: EventType.NODE_CHILDREN_CHANGED, path: parentPath },
    );
  }

  private existing(path: string): ZNode {
    const node = this.nodes.get(path);
    if (!node) throw new Error(`transaction does not fit the tree: ${path} is missing`);
    return node;
  }

  private ephemeralSet(owner: bigint): Set<string> {
    let paths = this.ephemerals.get(owner);
    if (!paths) this.ephemerals.set(owner, (paths = new Set()));
    return paths;
  }
}
