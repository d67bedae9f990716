/**
 * The coordination port: ZooKeeper's data model and semantics, independent of the transport.
 *
 * Two adapters implement it: `zookeeper` (a real ensemble through node-zookeeper-client) and
 * `embedded` (in-process, disk-persisted). One contract suite (`test/contract/`) runs against both,
 * and a differential test compares them operation by operation, so domain code may rely on every
 * detail documented here: versions, zxids, one-shot watches, multi atomicity, error codes.
 *
 * Paths are absolute ZooKeeper paths (`/a/b`), validated by {@link validatePath}.
 */
import type { MultiError, StoreError } from './errors.js';

/** How a znode is created; the numbers are ZooKeeper's wire values. */
export const CreateMode = {
  PERSISTENT: 0,
  EPHEMERAL: 1,
  PERSISTENT_SEQUENTIAL: 2,
  EPHEMERAL_SEQUENTIAL: 3,
} as const;
export type CreateMode = (typeof CreateMode)[keyof typeof CreateMode];

export function isEphemeral(mode: CreateMode): boolean {
  return mode === CreateMode.EPHEMERAL || mode === CreateMode.EPHEMERAL_SEQUENTIAL;
}

export function isSequential(mode: CreateMode): boolean {
  return mode === CreateMode.PERSISTENT_SEQUENTIAL || mode === CreateMode.EPHEMERAL_SEQUENTIAL;
}

/**
 * A znode's metadata, field for field ZooKeeper's `Stat`. zxids and session ids are 64-bit, so
 * they are bigints; times are milliseconds since the epoch.
 */
export interface Stat {
  /** zxid of the transaction that created the znode. */
  readonly czxid: bigint;
  /** zxid of the transaction that last changed the znode's data (or created it). */
  readonly mzxid: bigint;
  /** zxid of the transaction that last changed the znode's children (or created it). */
  readonly pzxid: bigint;
  readonly ctime: number;
  readonly mtime: number;
  /** Number of data changes. */
  readonly version: number;
  /** Number of child changes (creates and deletes of children). */
  readonly cversion: number;
  /** Number of ACL changes (each setACL adds one). */
  readonly aversion: number;
  /** Session id of the owner for an ephemeral znode, 0n otherwise. */
  readonly ephemeralOwner: bigint;
  readonly dataLength: number;
  readonly numChildren: number;
}

/** Permission bits of an {@link Acl}; the numbers are ZooKeeper's `ZooDefs.Perms` values. */
export const Perms = {
  READ: 1,
  WRITE: 2,
  CREATE: 4,
  DELETE: 8,
  ADMIN: 16,
  ALL: 31,
} as const;

/**
 * One entry of a znode's access control list, ZooKeeper's `ACL`: who (`scheme:id`) may do what
 * (`perms`, a bitmask of {@link Perms}). Schemes, as a ZooKeeper server with its default
 * providers knows them:
 * - `world`, id `anyone`: everybody;
 * - `digest`, id `user:base64(sha1("user:password"))` (`digestId` in `acl.ts`): a session that
 *   called `addAuth('digest', "user:password")`;
 * - `ip`, id `a.b.c.d` or `a.b.c.d/bits`: clients connecting from that IPv4 address or range;
 * - `auth`, id `''`: only on create and setACL, where it stands for every identity the session
 *   authenticated with `addAuth` (INVALID_ACL when it has none); the stored ACL lists those.
 *
 * Who can do what: create needs CREATE on the parent, delete DELETE on the parent, getData,
 * getChildren and a multi's check READ, setData WRITE, setACL ADMIN, getACL READ or ADMIN (without
 * ADMIN the digests it returns are masked, `user:x`); exists needs nothing. Failing that: NO_AUTH.
 */
export interface Acl {
  readonly perms: number;
  readonly scheme: string;
  readonly id: string;
}

/** Everybody may do everything: what a znode gets when its creator names no ACL. */
export const OPEN_ACL_UNSAFE: readonly Acl[] = Object.freeze([
  Object.freeze({ perms: Perms.ALL, scheme: 'world', id: 'anyone' }),
]);
/** Everything, for the identities of the session that creates the znode. */
export const CREATOR_ALL_ACL: readonly Acl[] = Object.freeze([
  Object.freeze({ perms: Perms.ALL, scheme: 'auth', id: '' }),
]);
/** Everybody may read, nobody may change it (ZooKeeper's `/zookeeper/config`). */
export const READ_ACL_UNSAFE: readonly Acl[] = Object.freeze([
  Object.freeze({ perms: Perms.READ, scheme: 'world', id: 'anyone' }),
]);

/** Watch event types; the numbers are ZooKeeper's `Watcher.Event.EventType` values. */
export const EventType = {
  NODE_CREATED: 1,
  NODE_DELETED: 2,
  NODE_DATA_CHANGED: 3,
  NODE_CHILDREN_CHANGED: 4,
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export interface WatchEvent {
  readonly type: EventType;
  readonly path: string;
}

/**
 * A one-shot watch, as in ZooKeeper: it fires at most once, for the first matching change after
 * it was set. The same function set twice on one path fires once. Watches survive a reconnect
 * within the session and are lost with it on session expiry (holders learn of that through
 * {@link CoordinationStore.onStateChange} and re-arm).
 */
export type Watcher = (event: WatchEvent) => void;

/**
 * - `connecting`: no session yet.
 * - `connected`: a live session; `newSession` says whether it replaced an expired one.
 * - `disconnected`: the connection dropped; the session (and its ephemerals and watches) may
 *   still be alive on the server. Reads are retried, writes fail with CONNECTION_LOSS.
 * - `expired`: the session is gone with its ephemerals and watches. A new session follows.
 * - `closed`: closed by {@link CoordinationStore.close}; final.
 */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

export interface SessionEvent {
  readonly state: ConnectionState;
  /** The session the event is about (for `expired`, the one that ended). */
  readonly sessionId: bigint;
  /** On `connected`: true when this session replaces an expired one, so holders must re-create. */
  readonly newSession: boolean;
}

export type Op =
  | {
      readonly op: 'create';
      readonly path: string;
      readonly data?: Buffer;
      readonly mode?: CreateMode;
      /** Default {@link OPEN_ACL_UNSAFE}. */
      readonly acl?: readonly Acl[];
    }
  | { readonly op: 'setData'; readonly path: string; readonly data: Buffer; readonly version?: number }
  | { readonly op: 'delete'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type OpResult =
  | { readonly op: 'create'; readonly path: string }
  | { readonly op: 'setData'; readonly stat: Stat }
  | { readonly op: 'delete' }
  | { readonly op: 'check' };

export interface NodeData {
  readonly data: Buffer;
  readonly stat: Stat;
}

export interface NodeAcl {
  readonly acl: Acl[];
  readonly stat: Stat;
}

export interface Children {
  /** Child names (not paths), in no particular order, as ZooKeeper returns them. */
  readonly children: string[];
  readonly stat: Stat;
}

/**
 * The largest request accepted: ZooKeeper refuses a packet above `jute.maxbuffer` (1 MiB - 1) by
 * closing the connection, which fails every pending request with it. Both adapters refuse an
 * oversize request up front with BAD_ARGUMENTS instead, keeping 1 KiB in reserve; a znode's data
 * can be this size less its path and 64 bytes of overhead.
 */
export const MAX_REQUEST_BYTES = 1024 * 1024 - 1024;

/** The part of a pino logger the adapters use. */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Any version; ZooKeeper's -1. */
export const ANY_VERSION = -1;

export interface CoordinationStore {
  /** Which adapter this is, for status pages and logs. */
  readonly kind: 'zookeeper' | 'embedded';
  readonly state: ConnectionState;
  /** The current session's id, 0n before the first session. */
  readonly sessionId: bigint;

  /**
   * False when `zxid` is surely not from this store's history: the embedded store begins a new
   * epoch (the zxid's high 32 bits) each time it opens and knows where the previous one ended, so
   * it recognizes zxids of a run it lost (its data directory restored from a backup) and zxids it
   * has not reached. A ZooKeeper ensemble does not tell where its epochs ended: always true there.
   */
  knowsZxid(zxid: bigint): boolean;

  /** Subscribe to connection-state changes; returns the unsubscribe function. */
  onStateChange(listener: (event: SessionEvent) => void): () => void;

  /**
   * Create a znode with `acl` (default {@link OPEN_ACL_UNSAFE}); resolves with its path (with the
   * sequence suffix for sequential modes). An empty or malformed ACL fails with INVALID_ACL.
   */
  create(path: string, data?: Buffer, mode?: CreateMode, acl?: readonly Acl[]): Promise<string>;
  /** Data and Stat; NO_NODE when missing (and then no watch is set). */
  getData(path: string, watcher?: Watcher): Promise<NodeData>;
  /** Stat or null; the watch is set either way (it then fires on creation). */
  exists(path: string, watcher?: Watcher): Promise<Stat | null>;
  getChildren(path: string, watcher?: Watcher): Promise<Children>;
  /** Replace the data when the version matches (or is -1); BAD_VERSION otherwise. */
  setData(path: string, data: Buffer, version?: number): Promise<Stat>;
  /** Delete when the version matches (or is -1); NOT_EMPTY when it has children. */
  delete(path: string, version?: number): Promise<void>;
  /** The znode's ACL, in the order it was set, and its Stat; NO_NODE when missing. */
  getACL(path: string): Promise<NodeAcl>;
  /**
   * Replace the ACL when the ACL version (`aversion`) matches (or is -1); BAD_VERSION otherwise.
   * Resolves with the new Stat, `aversion` one up. Fires no watch.
   */
  setACL(path: string, acl: readonly Acl[], version?: number): Promise<Stat>;
  /**
   * Authenticate this store's sessions, ZooKeeper's `addAuthInfo`: `digest` with
   * `user:password` (any such pair is accepted; the identity is `digest:user:<digest>`), or `ip`
   * (the client's address, which every session holds anyway). It holds for every later request
   * and every session this store opens after a reconnect or an expiry. Other schemes fail with
   * AUTH_FAILED before anything is sent: ZooKeeper would close the connection for good.
   */
  addAuth(scheme: string, auth: Buffer): Promise<void>;
  /**
   * All operations or none, in one transaction with one zxid. Rejects with {@link MultiError}
   * (a {@link StoreError}) naming the first failing operation.
   */
  multi(ops: readonly Op[]): Promise<OpResult[]>;
  /** End the session (its ephemerals are deleted at once) and release every resource. */
  close(): Promise<void>;
}

export type { MultiError, StoreError };
