/**
 * A client session of the embedded store: the {@link CoordinationStore} that domain code holds.
 */
import { validateAcl, validateAuth } from '../acl.js';
import { ErrorCode, StoreError } from '../errors.js';
import { validateOps, validatePath } from '../paths.js';
import {
  ANY_VERSION,
  CreateMode,
  isSequential,
  OPEN_ACL_UNSAFE,
  Perms,
  type Acl,
  type Children,
  type ConnectionState,
  type CoordinationStore,
  type NodeAcl,
  type NodeData,
  type Op,
  type OpResult,
  type SessionEvent,
  type Stat,
  type Watcher,
} from '../store.js';
import { AuthInfo, authenticate, checkAcl, maskDigests, permits, type AuthId } from './auth.js';
import type { DataTree, TxnResult } from './datatree.js';
import { Fifo } from './fifo.js';
import type { TxnRequest } from './prep.js';
import type { WatchManager, WatchOwner } from './watches.js';

/** What a session needs from its server; the server implements it. */
export interface SessionHost {
  readonly tree: DataTree;
  readonly watches: WatchManager;
  /**
   * Prepares and logs a write; `done` runs inside the commit, right after the transaction is
   * applied and its watch events are queued, so it must not call user code synchronously.
   */
  submit(sessionId: bigint, request: TxnRequest, done: (outcome: TxnResult[] | StoreError) => void): void;
  newSessionId(): bigint;
  knowsZxid(zxid: bigint): boolean;
  /** Reports a throwing watcher or state listener. */
  warn(message: string, err: unknown): void;
  /** The session was closed; the server forgets it. */
  ended(session: EmbeddedSession): void;
}

/** A write's place in a session's request queue. */
const WRITE = Symbol('write');

/**
 * A session on an {@link EmbeddedServer}. It is connected from the start (`state` is
 * `'connected'` at once), and its `connected` event is delivered once the session's creation is
 * durable, so a listener added right after `connect()` sees it.
 *
 * Like ZooKeeper's, it answers its own requests in order, and delivers watch events in zxid order
 * and before the response to the write that caused them. Watchers and listeners run on a
 * microtask, never inside the store; one that throws is reported and does not disturb the store.
 *
 * Its client address, for `ip` ACLs, is 127.0.0.1. Identities added with {@link addAuth} belong to
 * this object and so outlive an expiry, as the `zookeeper` adapter re-adds them to a new session.
 *
 * After {@link close} (or the server's), every call rejects with SESSION_EXPIRED, as the Java
 * client does once closed. {@link EmbeddedServer.expireSession} ends the ZooKeeper session
 * underneath (`expired`) and continues under a new one (`connected`, `newSession: true`), which is
 * what the `zookeeper` adapter does after a real expiry.
 *
 * @example
 * const server = await EmbeddedServer.open({ dataDir: './data' });
 * const store = server.connect();
 * await store.create('/app', Buffer.from('v1'));
 * const { data, stat } = await store.getData('/app', (event) => console.log(event));
 */
export class EmbeddedSession implements CoordinationStore {
  readonly kind = 'embedded';
  private currentState: ConnectionState = 'connected';
  private reportedSessionId: bigint;
  /**
   * The ZooKeeper session that requests are made in; ahead of `sessionId` while an expiry is
   * being delivered.
   */
  private zk: WatchOwner;
  private closing: Promise<void> | undefined;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly auth = new AuthInfo();
  /**
   * A write is answered after its fsync; a read issued while this session has writes in flight
   * waits here and runs right after the last of them commits, so that it sees them (ZooKeeper
   * processes a session's requests in order).
   */
  private readonly queue = new Fifo<typeof WRITE | (() => void)>();

  /** Created by {@link EmbeddedServer.connect}. */
  constructor(private readonly host: SessionHost) {
    const sessionId = host.newSessionId();
    this.zk = this.zkSession(sessionId);
    this.reportedSessionId = sessionId;
    this.sessionTxn(sessionId, { kind: 'createSession' }, (outcome) => {
      // On a log failure the server reports `disconnected` instead.
      if (!(outcome instanceof StoreError)) this.emit('connected', sessionId, false);
    });
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  get sessionId(): bigint {
    return this.reportedSessionId;
  }

  knowsZxid(zxid: bigint): boolean {
    return this.host.knowsZxid(zxid);
  }

  onStateChange(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async create(
    path: string,
    data?: Buffer,
    mode: CreateMode = CreateMode.PERSISTENT,
    acl: readonly Acl[] = OPEN_ACL_UNSAFE,
  ): Promise<string> {
    validatePath(path, isSequential(mode));
    validateAcl(path, acl);
    const op = { op: 'create', path, data: copy(data), mode, acl } as const;
    validateOps([op]);
    const [result] = await this.write({ kind: 'op', op, auth: this.auth.ids });
    return (result as Extract<OpResult, { op: 'create' }>).path;
  }

  async getData(path: string, watcher?: Watcher): Promise<NodeData> {
    validatePath(path);
    return this.read((zk, auth) => {
      const node = this.host.tree.get(path);
      if (!node) throw new StoreError(ErrorCode.NO_NODE, path);
      checkAcl(node.acl, Perms.READ, auth, path);
      if (watcher) this.host.watches.addDataWatch(path, zk, watcher);
      return { data: Buffer.from(node.data), stat: this.host.tree.stat(node) };
    });
  }

  async exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    validatePath(path);
    return this.read((zk) => {
      const node = this.host.tree.get(path);
      if (watcher) this.host.watches.addDataWatch(path, zk, watcher);
      return node ? this.host.tree.stat(node) : null;
    });
  }

  async getChildren(path: string, watcher?: Watcher): Promise<Children> {
    validatePath(path);
    return this.read((zk, auth) => {
      const node = this.host.tree.get(path);
      if (!node) throw new StoreError(ErrorCode.NO_NODE, path);
      checkAcl(node.acl, Perms.READ, auth, path);
      if (watcher) this.host.watches.addChildWatch(path, zk, watcher);
      return { children: [...node.children], stat: this.host.tree.stat(node) };
    });
  }

  async setData(path: string, data: Buffer, version: number = ANY_VERSION): Promise<Stat> {
    validatePath(path);
    const op = { op: 'setData', path, data: Buffer.from(data), version } as const;
    validateOps([op]);
    const [result] = await this.write({ kind: 'op', op, auth: this.auth.ids });
    return (result as Extract<OpResult, { op: 'setData' }>).stat;
  }

  async delete(path: string, version: number = ANY_VERSION): Promise<void> {
    validatePath(path);
    await this.write({ kind: 'op', op: { op: 'delete', path, version }, auth: this.auth.ids });
  }

  async getACL(path: string): Promise<NodeAcl> {
    validatePath(path);
    return this.read((_zk, auth) => {
      const node = this.host.tree.get(path);
      if (!node) throw new StoreError(ErrorCode.NO_NODE, path);
      checkAcl(node.acl, Perms.READ | Perms.ADMIN, auth, path);
      const acl = permits(node.acl, Perms.ADMIN, auth)
        ? node.acl.map((a) => ({ ...a }))
        : maskDigests(node.acl);
      return { acl, stat: this.host.tree.stat(node) };
    });
  }

  async setACL(path: string, acl: readonly Acl[], version: number = ANY_VERSION): Promise<Stat> {
    validatePath(path);
    validateAcl(path, acl);
    const [result] = await this.write({ kind: 'setACL', path, acl, version, auth: this.auth.ids });
    return (result as Extract<TxnResult, { op: 'setACL' }>).stat;
  }

  /** Resolves at once: requests made from now on carry the identity, earlier ones do not. */
  async addAuth(scheme: string, auth: Buffer): Promise<void> {
    validateAuth(scheme, auth);
    if (this.closing) throw closedError();
    this.auth.add(authenticate(scheme, auth));
  }

  async multi(ops: readonly Op[]): Promise<OpResult[]> {
    for (const op of ops) {
      validatePath(op.path, op.op === 'create' && isSequential(op.mode ?? CreateMode.PERSISTENT));
      if (op.op === 'create' && op.acl) validateAcl(op.path, op.acl);
    }
    validateOps(ops);
    const copied = ops.map((op): Op => {
      if (op.op === 'create') return { ...op, data: copy(op.data) };
      return op.op === 'setData' ? { ...op, data: Buffer.from(op.data) } : op;
    });
    // A multi holds no setACL, so its results are the port's.
    return (await this.write({ kind: 'multi', ops: copied, auth: this.auth.ids })) as OpResult[];
  }

  /**
   * Ends the session: its ephemerals are deleted in one transaction, and its watches are dropped
   * unfired when that transaction applies (changes committed before it still fire them).
   */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      const { sessionId } = this.zk;
      this.sessionTxn(sessionId, { kind: 'closeSession' }, () => {
        this.host.ended(this);
        this.emit('closed', sessionId, false);
        resolve();
      });
    });
    return this.closing;
  }

  /**
   * @internal For {@link EmbeddedServer.expireSession}; resolves with the new session's id once
   * it is connected.
   */
  expire(): Promise<bigint> {
    if (this.closing) return Promise.reject(closedError());
    const expired = this.zk.sessionId;
    this.sessionTxn(expired, { kind: 'closeSession' }, (outcome) => {
      if (!(outcome instanceof StoreError)) this.emit('expired', expired, false);
    });
    const next = this.host.newSessionId();
    this.zk = this.zkSession(next);
    return new Promise((resolve, reject) => {
      this.sessionTxn(next, { kind: 'createSession' }, (outcome) => {
        if (outcome instanceof StoreError) return reject(outcome);
        this.emit('connected', next, true);
        resolve(next);
      });
    });
  }

  /** @internal The ZooKeeper session that new requests belong to. */
  get currentSessionId(): bigint {
    return this.zk.sessionId;
  }

  /**
   * @internal Called when the server stops: the session ends without a close transaction, so its
   * ephemerals remain until the next open deletes them, as a ZooKeeper restart would.
   */
  detach(): void {
    if (this.closing) return;
    this.closing = Promise.resolve();
    this.host.watches.removeSession(this.zk.sessionId);
    this.emit('closed', this.zk.sessionId, false);
  }

  /** @internal The transaction log failed: writes can no longer be made durable. */
  disconnect(): void {
    this.emit('disconnected', this.zk.sessionId, false);
  }

  /** Watches belong to the ZooKeeper session, and are dropped when its close is applied. */
  private zkSession(sessionId: bigint): WatchOwner {
    return {
      sessionId,
      notify: (event, watchers) =>
        queueMicrotask(() => {
          for (const watcher of watchers) {
            try {
              watcher(event);
            } catch (err) {
              this.host.warn(`a watcher threw on ${event.path}`, err);
            }
          }
        }),
    };
  }

  private write(request: TxnRequest): Promise<TxnResult[]> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(closedError());
      this.sessionTxn(this.zk.sessionId, request, (outcome) =>
        outcome instanceof StoreError ? reject(outcome) : resolve(outcome),
      );
    });
  }

  private sessionTxn(
    sessionId: bigint,
    request: TxnRequest,
    done: (outcome: TxnResult[] | StoreError) => void,
  ): void {
    this.queue.push(WRITE);
    this.host.submit(sessionId, request, (outcome) => {
      done(outcome);
      this.queue.shift();
      while (typeof this.queue.peek() === 'function') (this.queue.shift() as () => void)();
    });
  }

  /**
   * `run` gets the ZooKeeper session the read was issued in, for the watch it may set, and the
   * identities the session held then.
   */
  private read<T>(run: (zk: WatchOwner, auth: readonly AuthId[]) => T): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(closedError());
      const { zk } = this;
      const auth = this.auth.ids;
      const answer = () => {
        try {
          resolve(run(zk, auth));
        } catch (err) {
          reject(err);
        }
      };
      if (this.queue.length === 0) answer();
      else this.queue.push(answer);
    });
  }

  private emit(state: ConnectionState, sessionId: bigint, newSession: boolean): void {
    queueMicrotask(() => {
      this.currentState = state;
      if (state === 'connected') this.reportedSessionId = sessionId;
      for (const listener of [...this.listeners]) {
        try {
          listener({ state, sessionId, newSession });
        } catch (err) {
          this.host.warn(`a state listener threw on ${state}`, err);
        }
      }
    });
  }
}

function copy(data: Buffer | undefined): Buffer | undefined {
  return data && Buffer.from(data);
}

function closedError(): StoreError {
  return new StoreError(ErrorCode.SESSION_EXPIRED, undefined, 'SESSION_EXPIRED: the session is closed');
}
