/**
 * The `zookeeper` adapter: the coordination port over a real ensemble, through
 * node-zookeeper-client 1.1.3 (patched at install, see `patches/`).
 *
 * What the library does not do and this adapter adds:
 * - a promise API with {@link StoreError}s carrying ZooKeeper's codes, never a synchronous throw;
 * - a connect deadline (the library retries forever and reports nothing);
 * - failure detection that does not scale with the session timeout: a connection silent for
 *   {@link ZooKeeperStoreOptions.livenessTimeoutMs} is dead, one server attempt (TCP connect and
 *   session handshake) gets {@link ZooKeeperStoreOptions.attemptTimeoutMs}, and a server that let
 *   either run out is tried last for a while (when all have, an attempt waits as long as the
 *   library always did, so an ensemble too loaded for the short deadline still gives a session).
 *   The library's own figures, 2/3 of the session timeout of silence and no deadline at all once
 *   TCP connected, cost 10 s (15 s sessions) per server that died without a reset, every time
 *   the rotation came back to it;
 * - a deadline on every request (a stuck request fails with OPERATION_TIMEOUT instead of hanging);
 * - reads retried across a connection loss (they are idempotent), writes failed fast while
 *   disconnected (their outcome would otherwise be unknown to the caller);
 * - session-expiry recovery: a new session is opened and every holder is told through
 *   `onStateChange` (`expired`, then `connected` with `newSession: true`) so it re-creates its
 *   ephemerals and re-arms its watches, Curator's `ConnectionState.LOST` / `RECONNECTED`;
 * - Java-client watch semantics: one watcher function fires once per event even when it was set
 *   through several calls (`ZKWatchManager` de-duplicates across data, exist and child watches);
 * - size checks before sending: an oversize packet makes the server drop the connection, which
 *   fails every other pending request with it;
 * - auth that outlives the session: the library re-sends `addAuthInfo` credentials on a
 *   reconnect, and this adapter gives them to the client of every new session;
 * - ACLs with any permission bits, read without crashing: the library's `ACL` class throws on
 *   perms outside 1..31, inside the socket handler when a getACL answer holds one.
 * The patch adds the rest: unknown error codes no longer throw inside the socket handler, the
 * int32 request id wraps instead of crashing, a read timeout fails over from a frozen server to
 * the next one while keeping the session, the attempt deadline covers the handshake, servers that
 * timed out are avoided, and version 0 in a transaction is no longer "any".
 */
import { createRequire } from 'node:module';
import library from 'node-zookeeper-client';
import { validateAcl, validateAuth } from './acl.js';
import { ErrorCode, MultiError, StoreError } from './errors.js';
import { validateOps, validatePath } from './paths.js';
import {
  ANY_VERSION,
  CreateMode,
  EventType,
  isSequential,
  OPEN_ACL_UNSAFE,
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
  type StoreLogger,
  type Watcher,
  type WatchEvent,
} from './store.js';

export interface ZooKeeperStoreOptions {
  /** `host:port,host:port[/chroot]`. */
  readonly connectString: string;
  /** Requested session timeout; the server clamps it to [2, 20] x tickTime. Default 15 s. */
  readonly sessionTimeoutMs?: number;
  /** How long {@link ZooKeeperStore.connect} waits for the first session. Default: the session timeout. */
  readonly connectTimeoutMs?: number;
  /** Deadline of one request, retries of a read included. Default: the session timeout. */
  readonly requestTimeoutMs?: number;
  /** Wait between server list passes while reconnecting (the library's spinDelay). Default 200 ms. */
  readonly spinDelayMs?: number;
  /**
   * How long one server attempt (TCP connect plus session handshake) may take before the next
   * server is tried. Default 2 s, and never more than the session timeout over the server count.
   */
  readonly attemptTimeoutMs?: number;
  /**
   * How long a connection may stay silent before it counts as dead and the next server is tried,
   * keeping the session; pings go out every third of it. Default 3 s, and never more than 2/3
   * of the session timeout (the Java client's read timeout).
   */
  readonly livenessTimeoutMs?: number;
  readonly logger?: StoreLogger;
}

/** What a holder needs to hand its session to another client; tests use it to force expiry. */
export interface SessionCredentials {
  readonly sessionId: Buffer;
  readonly password: Buffer;
  readonly timeoutMs: number;
}

/**
 * The part of node-zookeeper-client this adapter uses, typed here: the published typings are
 * incomplete (transactions, connection manager) and wrong in places (callback error types).
 */
interface RawModule {
  createClient(
    connectString: string,
    options: {
      sessionTimeout: number;
      spinDelay: number;
      retries: number;
      /** Patched: deadline of one attempt (connect and handshake). */
      connectTimeout: number;
      /** Patched: silence after which a connection is dead. */
      readTimeout: number;
    },
  ): RawClient;
  State: Record<'SYNC_CONNECTED' | 'DISCONNECTED' | 'EXPIRED', RawState>;
}

/** The library's wire records, for ACLs its own classes would refuse and for a raw getACL. */
interface RawJute {
  data: {
    ACL: new (perms: number, id: unknown) => unknown;
    Id: new (scheme: string, id: string) => unknown;
  };
  protocol: {
    RequestHeader: new () => { type: number };
    GetACLRequest: new () => { path: string };
  };
  Request: new (header: unknown, payload: unknown) => unknown;
  OP_CODES: { GET_ACL: number };
}

/** What the library serializes an ACL entry from. */
interface RawAcl {
  toRecord(): unknown;
}

interface RawAclRecord {
  perms: number;
  id: { scheme: string; id: string };
}

interface RawState {
  getCode(): number;
}

interface RawEvent {
  getType(): number;
  getPath(): string;
}

type RawCallback<T extends unknown[]> = (err: Error | null, ...result: T) => void;
type RawWatcher = (event: RawEvent) => void;

interface RawStat {
  czxid: Buffer;
  mzxid: Buffer;
  pzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
}

interface RawTransaction {
  create(path: string, data: Buffer | null, acls: RawAcl[], mode: number): RawTransaction;
  setData(path: string, data: Buffer, version: number): RawTransaction;
  remove(path: string, version: number): RawTransaction;
  check(path: string, version: number): RawTransaction;
  commit(callback: RawCallback<[RawOpResult[] | undefined]>): void;
}

interface RawClient {
  connect(): void;
  close(): void;
  on(event: 'state', listener: (state: RawState) => void): void;
  once(event: 'disconnected', listener: () => void): void;
  removeAllListeners(event: 'state'): void;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
  getSessionTimeout(): number;
  addAuthInfo(scheme: string, auth: Buffer): void;
  create(path: string, data: Buffer | null, acls: RawAcl[], mode: number, cb: RawCallback<[string]>): void;
  getData(path: string, watcher: RawWatcher | undefined, cb: RawCallback<[Buffer | null, RawStat]>): void;
  exists(path: string, watcher: RawWatcher | undefined, cb: RawCallback<[RawStat | null]>): void;
  getChildren(path: string, watcher: RawWatcher | undefined, cb: RawCallback<[string[], RawStat]>): void;
  setData(path: string, data: Buffer, version: number, cb: RawCallback<[RawStat]>): void;
  remove(path: string, version: number, cb: RawCallback<[]>): void;
  setACL(path: string, acls: RawAcl[], version: number, cb: RawCallback<[RawStat]>): void;
  transaction(): RawTransaction;
  connectionManager: {
    socket?: { remoteAddress?: string; remotePort?: number };
    zxid: Buffer;
    queue(request: unknown, cb: (err: Error | null, response?: { payload: unknown }) => void): void;
  };
}

const zookeeper = library as unknown as RawModule;
const requireCjs = createRequire(import.meta.url);
const jute = requireCjs('node-zookeeper-client/lib/jute/index.js') as RawJute;

/**
 * The guards above rely on `patches/node-zookeeper-client+1.1.3.patch`, applied by patch-package
 * at install. Without it a frozen server hangs requests and unknown error codes kill the process,
 * so refuse to run rather than run unguarded.
 */
function assertPatched(): void {
  const manager = requireCjs('node-zookeeper-client/lib/ConnectionManager.js') as {
    prototype: Record<string, unknown>;
  };
  if (
    typeof manager.prototype.startLivenessWatchdog !== 'function' ||
    typeof manager.prototype.pickServerIndex !== 'function'
  ) {
    throw new Error(
      'node-zookeeper-client is not patched (patches/node-zookeeper-client+1.1.3.patch); reinstall with `npm ci`',
    );
  }
}

const NOOP_LOGGER: StoreLogger = { info: () => undefined, warn: () => undefined };

/** Defaults of {@link ZooKeeperStoreOptions.attemptTimeoutMs} and `livenessTimeoutMs`. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 2_000;
export const DEFAULT_LIVENESS_TIMEOUT_MS = 3_000;

/** ZooKeeper's Java client de-duplicates watchers across these three tables; so do we. */
type WatchTable = Map<string, Set<Watcher>>;

export class ZooKeeperStore implements CoordinationStore {
  readonly kind = 'zookeeper' as const;

  private client: RawClient;
  private currentState: ConnectionState = 'connecting';
  private currentSessionId = 0n;
  private expiredBefore = false;
  private closing = false;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  /** Readers waiting for the connection to come back, resolved on `connected`. */
  private readonly reconnectWaiters = new Set<() => void>();
  private readonly dataWatches: WatchTable = new Map();
  private readonly existWatches: WatchTable = new Map();
  private readonly childWatches: WatchTable = new Map();
  /** What {@link addAuth} was given, for the client of each new session. */
  private readonly credentials: { readonly scheme: string; readonly auth: Buffer }[] = [];
  private readonly sessionTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly logger: StoreLogger;

  private constructor(private readonly options: ZooKeeperStoreOptions) {
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 15_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? this.sessionTimeoutMs;
    this.logger = options.logger ?? NOOP_LOGGER;
    this.client = this.newClient();
  }

  /**
   * Open a session; rejects with CONNECTION_LOSS when no server gives one before the deadline
   * (the library alone would retry forever without a word).
   *
   * @example
   * const store = await ZooKeeperStore.connect({ connectString: 'zk1:2181,zk2:2181,zk3:2181' });
   * await store.create('/app', Buffer.from('hello'));
   */
  static async connect(options: ZooKeeperStoreOptions): Promise<ZooKeeperStore> {
    assertPatched();
    const store = new ZooKeeperStore(options);
    const deadline = options.connectTimeoutMs ?? store.sessionTimeoutMs;
    try {
      await store.waitConnected(deadline);
    } catch {
      await store.close();
      throw new StoreError(
        ErrorCode.CONNECTION_LOSS,
        undefined,
        `no ZooKeeper session from ${options.connectString} within ${deadline} ms`,
      );
    }
    return store;
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  get sessionId(): bigint {
    return this.currentSessionId;
  }

  /** An ensemble does not say where its epochs ended (see the port): every zxid may be its own. */
  knowsZxid(): boolean {
    return true;
  }

  /** `host:port` of the server this client talks to now, for status pages. */
  get connectedServer(): string | undefined {
    const socket = this.client.connectionManager.socket;
    return this.currentState === 'connected' && socket?.remoteAddress
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : undefined;
  }

  /** The live session's id and password (Curator's `KillSession` needs them). */
  sessionCredentials(): SessionCredentials {
    return {
      sessionId: this.client.getSessionId(),
      password: this.client.getSessionPassword(),
      timeoutMs: this.client.getSessionTimeout(),
    };
  }

  onStateChange(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async create(
    path: string,
    data?: Buffer,
    mode: CreateMode = CreateMode.PERSISTENT,
    acl: readonly Acl[] = OPEN_ACL_UNSAFE,
  ): Promise<string> {
    validatePath(path, isSequential(mode));
    validateAcl(path, acl);
    validateOps([{ op: 'create', path, data, mode, acl }]);
    return this.write<string>(path, (client, done) =>
      client.create(path, data ?? null, toRawAcl(acl), mode, (err, created) => done(err, created)),
    );
  }

  async getData(path: string, watcher?: Watcher): Promise<NodeData> {
    validatePath(path);
    const [data, stat] = await this.read<[Buffer | null, RawStat]>(path, (client, done) => {
      const cb: RawCallback<[Buffer | null, RawStat]> = (err, d, s) => done(err, [d, s]);
      if (watcher) client.getData(path, this.watch(this.dataWatches, path, watcher), this.onSuccess(cb));
      else client.getData(path, undefined, cb);
    });
    return { data: data ?? Buffer.alloc(0), stat: toStat(stat) };
  }

  async exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    validatePath(path);
    const stat = await this.read<RawStat | null>(path, (client, done) => {
      const cb: RawCallback<[RawStat | null]> = (err, s) => done(err, s);
      if (!watcher) return client.exists(path, undefined, cb);
      // One table whether or not the node exists: events are routed to data and exist
      // watches alike, and the library registers on NO_NODE too, as ZooKeeper does.
      client.exists(path, this.watch(this.existWatches, path, watcher), this.onSuccess(cb));
    });
    return stat ? toStat(stat) : null;
  }

  async getChildren(path: string, watcher?: Watcher): Promise<Children> {
    validatePath(path);
    const [children, stat] = await this.read<[string[], RawStat]>(path, (client, done) => {
      const cb: RawCallback<[string[], RawStat]> = (err, c, s) => done(err, [c, s]);
      if (watcher) client.getChildren(path, this.watch(this.childWatches, path, watcher), this.onSuccess(cb));
      else client.getChildren(path, undefined, cb);
    });
    return { children, stat: toStat(stat) };
  }

  async setData(path: string, data: Buffer, version: number = ANY_VERSION): Promise<Stat> {
    validatePath(path);
    validateOps([{ op: 'setData', path, data, version }]);
    const stat = await this.write<RawStat>(path, (client, done) =>
      client.setData(path, data, version, (err, s) => done(err, s)),
    );
    return toStat(stat);
  }

  async delete(path: string, version: number = ANY_VERSION): Promise<void> {
    validatePath(path);
    await this.write<void>(path, (client, done) => client.remove(path, version, (err) => done(err)));
  }

  async getACL(path: string): Promise<NodeAcl> {
    validatePath(path);
    // Not the library's getACL: it builds its ACL objects inside the socket handler, and they
    // throw there on permission bits outside 1..31, which another client may well have set.
    const { acl, stat } = await this.read<{ acl: RawAclRecord[]; stat: RawStat }>(path, (client, done) => {
      const header = new jute.protocol.RequestHeader();
      header.type = jute.OP_CODES.GET_ACL;
      const request = new jute.protocol.GetACLRequest();
      request.path = path;
      client.connectionManager.queue(new jute.Request(header, request), (err, response) =>
        done(err, response?.payload as { acl: RawAclRecord[]; stat: RawStat }),
      );
    });
    return {
      acl: acl.map((r) => ({ perms: r.perms, scheme: r.id.scheme, id: r.id.id })),
      stat: toStat(stat),
    };
  }

  async setACL(path: string, acl: readonly Acl[], version: number = ANY_VERSION): Promise<Stat> {
    validatePath(path);
    validateAcl(path, acl);
    const stat = await this.write<RawStat>(path, (client, done) =>
      client.setACL(path, toRawAcl(acl), version, (err, s) => done(err, s)),
    );
    return toStat(stat);
  }

  async addAuth(scheme: string, auth: Buffer): Promise<void> {
    validateAuth(scheme, auth);
    const credential = { scheme, auth: Buffer.from(auth) };
    this.credentials.push(credential);
    this.client.addAuthInfo(credential.scheme, credential.auth);
    // ZooKeeper answers an auth packet with nothing the library passes on, but it handles a
    // connection's packets in order: once a request sent after it is answered, it holds.
    await this.exists('/');
  }

  async multi(ops: readonly Op[]): Promise<OpResult[]> {
    for (const op of ops) {
      validatePath(op.path, op.op === 'create' && isSequential(op.mode ?? 0));
      if (op.op === 'create' && op.acl) validateAcl(op.path, op.acl);
    }
    validateOps(ops);
    const results = await this.write<RawOpResult[]>(undefined, (client, done) => {
      const tx = client.transaction();
      for (const op of ops) {
        switch (op.op) {
          case 'create':
            tx.create(
              op.path,
              op.data ?? null,
              toRawAcl(op.acl ?? OPEN_ACL_UNSAFE),
              op.mode ?? CreateMode.PERSISTENT,
            );
            break;
          case 'setData':
            tx.setData(op.path, op.data, op.version ?? ANY_VERSION);
            break;
          case 'delete':
            tx.remove(op.path, op.version ?? ANY_VERSION);
            break;
          case 'check':
            tx.check(op.path, op.version);
            break;
        }
      }
      tx.commit((err, raw) => {
        // The library reports a failed transaction as the first op's error plus per-op results.
        if (err && raw && raw.length === ops.length) {
          const codes = raw.map((r) => (r.err === undefined ? 0 : r.err));
          const index = codes.findIndex((c) => c !== 0);
          done(new MultiError(index, codes, ops[index]?.path));
        } else {
          done(err, raw);
        }
      });
    });
    return results.map((r, i): OpResult => {
      const op = ops[i] as Op;
      switch (op.op) {
        case 'create':
          return { op: 'create', path: r.path as string };
        case 'setData':
          return { op: 'setData', stat: toStat(r.stat as RawStat) };
        case 'delete':
          return { op: 'delete' };
        case 'check':
          return { op: 'check' };
      }
    });
  }

  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.closing = true;
    const client = this.client;
    const wasConnected = this.currentState === 'connected';
    this.setState('closed', this.currentSessionId, false);
    this.wakeReaders();
    if (!wasConnected) {
      // Not connected: there is no session to end; stop the reconnect loop.
      client.close();
      return;
    }
    // closeSession ends the session at once (its ephemerals go with it); the library reports
    // completion only as a disconnect, so wait for that, bounded.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(2_000, this.requestTimeoutMs));
      timer.unref();
      client.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.close();
    });
  }

  /**
   * A client, connecting. `lastZxid` carries the newest zxid the previous session saw: ZooKeeper
   * refuses a connection from a client that has seen more than the server has, so a new session
   * cannot land on a follower that lags behind what holders already read.
   */
  private newClient(lastZxid?: Buffer): RawClient {
    const client = zookeeper.createClient(this.options.connectString, {
      sessionTimeout: this.sessionTimeoutMs,
      spinDelay: this.options.spinDelayMs ?? 200,
      retries: 0,
      connectTimeout: this.options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
      readTimeout: this.options.livenessTimeoutMs ?? DEFAULT_LIVENESS_TIMEOUT_MS,
    });
    if (lastZxid) client.connectionManager.zxid = Buffer.from(lastZxid);
    // Sent right after the session handshake, before anything else.
    for (const { scheme, auth } of this.credentials) client.addAuthInfo(scheme, auth);
    client.on('state', (state) => this.onClientState(client, state));
    client.connect();
    return client;
  }

  private onClientState(client: RawClient, state: RawState): void {
    if (client !== this.client || this.closing) return;
    const code = state.getCode();
    if (code === zookeeper.State.SYNC_CONNECTED.getCode()) {
      const sessionId = client.getSessionId().readBigInt64BE(0);
      const newSession = this.expiredBefore && sessionId !== this.currentSessionId;
      this.expiredBefore = false;
      this.setState('connected', sessionId, newSession);
      this.wakeReaders();
    } else if (code === zookeeper.State.DISCONNECTED.getCode()) {
      if (this.currentState === 'connected') this.setState('disconnected', this.currentSessionId, false);
    } else if (code === zookeeper.State.EXPIRED.getCode()) {
      this.onSessionExpired(client);
    }
  }

  /**
   * The session is gone, and with it every ephemeral and watch it held. Start a fresh session at
   * once; holders hear `expired` now and `connected` (newSession) when it is up.
   */
  private onSessionExpired(client: RawClient): void {
    const lost = this.currentSessionId;
    this.logger.warn({ sessionId: `0x${lost.toString(16)}` }, 'zookeeper session expired; opening a new one');
    this.dataWatches.clear();
    this.existWatches.clear();
    this.childWatches.clear();
    this.expiredBefore = true;
    this.setState('expired', lost, false);
    client.removeAllListeners('state');
    client.close();
    this.client = this.newClient(client.connectionManager.zxid);
  }

  private setState(state: ConnectionState, sessionId: bigint, newSession: boolean): void {
    this.currentState = state;
    this.currentSessionId = sessionId;
    const event: SessionEvent = { state, sessionId, newSession };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'connection-state listener threw');
      }
    }
  }

  private wakeReaders(): void {
    const waiters = [...this.reconnectWaiters];
    this.reconnectWaiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolve once connected; reject after `timeoutMs` or when the store is closed. */
  private waitConnected(timeoutMs: number): Promise<void> {
    if (this.currentState === 'connected') return Promise.resolve();
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reconnectWaiters.delete(wake);
        reject(new StoreError(ErrorCode.CONNECTION_LOSS, undefined, 'not connected to ZooKeeper'));
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        if (this.currentState === 'connected') resolve();
        else reject(this.closedError());
      };
      this.reconnectWaiters.add(wake);
    });
  }

  private closedError(): StoreError {
    return new StoreError(ErrorCode.SESSION_EXPIRED, undefined, 'the coordination store is closed');
  }

  /**
   * An idempotent read: on connection loss or timeout it waits for the connection and tries
   * again, all within one request deadline.
   */
  private async read<T>(path: string, call: RawCall<T>): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      try {
        await this.waitConnected(Math.max(0, left));
        return await this.send(path, call, Math.max(1, deadline - Date.now()));
      } catch (err) {
        const retry =
          err instanceof StoreError &&
          (err.code === ErrorCode.CONNECTION_LOSS || err.code === ErrorCode.SESSION_EXPIRED) &&
          this.currentState !== 'closed' &&
          Date.now() < deadline;
        if (!retry) throw err;
      }
    }
  }

  /** A write: refused at once while disconnected, so callers can answer 503 without waiting. */
  private async write<T>(path: string | undefined, call: RawCall<T>): Promise<T> {
    if (this.currentState !== 'connected') {
      throw this.currentState === 'closed'
        ? this.closedError()
        : new StoreError(
            ErrorCode.CONNECTION_LOSS,
            path,
            `not connected to ZooKeeper (${this.currentState})`,
          );
    }
    return this.send(path, call, this.requestTimeoutMs);
  }

  /** One request on the current client, with a deadline; library throws become rejections. */
  private send<T>(path: string | undefined, call: RawCall<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new StoreError(ErrorCode.OPERATION_TIMEOUT, path, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (err: unknown, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(toStoreError(err, path));
        else resolve(value as T);
      };
      try {
        call(this.client, done as RawDone<T>);
      } catch (err) {
        done(err);
      }
    });
  }

  /**
   * Watch registration in two steps, like the library's own: `watch` hands the library one
   * dispatcher per table and path and parks the user's watcher; `onSuccess` wraps the callback so
   * the watcher enters our table only when the server accepted the watch (a failed getData sets
   * none). The library fires one dispatcher per table it holds the path in; the first call takes
   * every watcher due from all three tables, so each user function runs once per event.
   */
  private watch(table: WatchTable, path: string, watcher: Watcher): RawWatcher {
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

  private onSuccess<A extends unknown[]>(callback: (err: Error | null, ...rest: A) => void) {
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

  private parked: { table: WatchTable; path: string; watcher: Watcher } | undefined;
  private readonly dispatchers = new Map<WatchTable, Map<string, RawWatcher>>();

  private deliver(event: WatchEvent): void {
    const due = new Set<Watcher>();
    const take = (table: WatchTable): void => {
      for (const w of table.get(event.path) ?? []) due.add(w);
      table.delete(event.path);
    };
    switch (event.type) {
      case EventType.NODE_CREATED:
      case EventType.NODE_DATA_CHANGED:
        take(this.dataWatches);
        take(this.existWatches);
        break;
      case EventType.NODE_CHILDREN_CHANGED:
        take(this.childWatches);
        break;
      case EventType.NODE_DELETED:
        take(this.dataWatches);
        take(this.existWatches);
        take(this.childWatches);
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

type RawDone<T> = (err: Error | null, value?: T) => void;
type RawCall<T> = (client: RawClient, done: RawDone<T>) => void;

interface RawOpResult {
  type: number;
  path?: string;
  stat?: RawStat;
  err?: number;
}

/** The library's exceptions carry ZooKeeper codes; anything else (assertions) is a bad argument. */
function toStoreError(err: unknown, path: string | undefined): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return new StoreError(code, path);
  return new StoreError(ErrorCode.BAD_ARGUMENTS, path, (err as Error).message ?? String(err));
}

/** ACL entries as the library serializes them, built from its wire records directly (see getACL). */
function toRawAcl(acl: readonly Acl[]): RawAcl[] {
  return acl.map(({ perms, scheme, id }) => ({
    toRecord: () => new jute.data.ACL(perms, new jute.data.Id(scheme, id)),
  }));
}

/** The library hands 64-bit fields over as 8-byte buffers. */
function toStat(raw: RawStat): Stat {
  return {
    czxid: raw.czxid.readBigInt64BE(0),
    mzxid: raw.mzxid.readBigInt64BE(0),
    pzxid: raw.pzxid.readBigInt64BE(0),
    ctime: Number(raw.ctime.readBigInt64BE(0)),
    mtime: Number(raw.mtime.readBigInt64BE(0)),
    version: raw.version,
    cversion: raw.cversion,
    aversion: raw.aversion,
    ephemeralOwner: raw.ephemeralOwner.readBigInt64BE(0),
    dataLength: raw.dataLength,
    numChildren: raw.numChildren,
  };
}
