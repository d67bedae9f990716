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
 *
 * Here: the port's operations, each a translation onto the library. The session and request
 * discipline is in `zookeeper/session.ts`, watch delivery in `zookeeper/watches.ts`, the
 * library's typed surface in `zookeeper/library.ts`, value conversions in `zookeeper/translate.ts`.
 */
import { validateAcl, validateAuth } from './acl.js';
import { ErrorCode, StoreError } from './errors.js';
import { validateOps, validatePath } from './paths.js';
import {
  ANY_VERSION,
  CreateMode,
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
} from './store.js';
import {
  assertPatched,
  jute,
  type RawAclRecord,
  type RawCallback,
  type RawOpResult,
  type RawStat,
} from './zookeeper/library.js';
import {
  ZooKeeperSession,
  type SessionCredentials,
  type ZooKeeperStoreOptions,
} from './zookeeper/session.js';
import { commitOps, toOpResults, toRawAcl, toStat } from './zookeeper/translate.js';
import { ZooKeeperWatches } from './zookeeper/watches.js';

const NOOP_LOGGER: StoreLogger = { info: () => undefined, warn: () => undefined };

export class ZooKeeperStore implements CoordinationStore {
  readonly kind = 'zookeeper' as const;

  private readonly session: ZooKeeperSession;
  private readonly watches: ZooKeeperWatches;

  private constructor(options: ZooKeeperStoreOptions) {
    const logger = options.logger ?? NOOP_LOGGER;
    this.watches = new ZooKeeperWatches(logger);
    this.session = new ZooKeeperSession(options, logger, () => this.watches.clear());
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
    const deadline = options.connectTimeoutMs ?? store.session.sessionTimeoutMs;
    try {
      await store.session.waitConnected(deadline);
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
    return this.session.state;
  }

  get sessionId(): bigint {
    return this.session.sessionId;
  }

  /** An ensemble does not say where its epochs ended (see the port): every zxid may be its own. */
  knowsZxid(): boolean {
    return true;
  }

  /** `host:port` of the server this client talks to now, for status pages. */
  get connectedServer(): string | undefined {
    return this.session.connectedServer;
  }

  /** The live session's id and password (Curator's `KillSession` needs them). */
  sessionCredentials(): SessionCredentials {
    return this.session.sessionCredentials();
  }

  onStateChange(listener: (event: SessionEvent) => void): () => void {
    return this.session.onStateChange(listener);
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
    return this.session.write<string>(path, (client, done) =>
      client.create(path, data ?? null, toRawAcl(acl), mode, (err, created) => done(err, created)),
    );
  }

  async getData(path: string, watcher?: Watcher): Promise<NodeData> {
    validatePath(path);
    const [data, stat] = await this.session.read<[Buffer | null, RawStat]>(path, (client, done) => {
      const cb: RawCallback<[Buffer | null, RawStat]> = (err, d, s) => done(err, [d, s]);
      if (watcher)
        client.getData(path, this.watches.watch('data', path, watcher), this.watches.onSuccess(cb));
      else client.getData(path, undefined, cb);
    });
    return { data: data ?? Buffer.alloc(0), stat: toStat(stat) };
  }

  async exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    validatePath(path);
    const stat = await this.session.read<RawStat | null>(path, (client, done) => {
      const cb: RawCallback<[RawStat | null]> = (err, s) => done(err, s);
      if (!watcher) return client.exists(path, undefined, cb);
      // One table whether or not the node exists: events are routed to data and exist
      // watches alike, and the library registers on NO_NODE too, as ZooKeeper does.
      client.exists(path, this.watches.watch('exist', path, watcher), this.watches.onSuccess(cb));
    });
    return stat ? toStat(stat) : null;
  }

  async getChildren(path: string, watcher?: Watcher): Promise<Children> {
    validatePath(path);
    const [children, stat] = await this.session.read<[string[], RawStat]>(path, (client, done) => {
      const cb: RawCallback<[string[], RawStat]> = (err, c, s) => done(err, [c, s]);
      if (watcher)
        client.getChildren(path, this.watches.watch('child', path, watcher), this.watches.onSuccess(cb));
      else client.getChildren(path, undefined, cb);
    });
    return { children, stat: toStat(stat) };
  }

  async setData(path: string, data: Buffer, version: number = ANY_VERSION): Promise<Stat> {
    validatePath(path);
    validateOps([{ op: 'setData', path, data, version }]);
    const stat = await this.session.write<RawStat>(path, (client, done) =>
      client.setData(path, data, version, (err, s) => done(err, s)),
    );
    return toStat(stat);
  }

  async delete(path: string, version: number = ANY_VERSION): Promise<void> {
    validatePath(path);
    await this.session.write<void>(path, (client, done) => client.remove(path, version, (err) => done(err)));
  }

  async getACL(path: string): Promise<NodeAcl> {
    validatePath(path);
    // Not the library's getACL: it builds its ACL objects inside the socket handler, and they
    // throw there on permission bits outside 1..31, which another client may well have set.
    const { acl, stat } = await this.session.read<{ acl: RawAclRecord[]; stat: RawStat }>(
      path,
      (client, done) => {
        const header = new jute.protocol.RequestHeader();
        header.type = jute.OP_CODES.GET_ACL;
        const request = new jute.protocol.GetACLRequest();
        request.path = path;
        client.connectionManager.queue(new jute.Request(header, request), (err, response) =>
          done(err, response?.payload as { acl: RawAclRecord[]; stat: RawStat }),
        );
      },
    );
    return {
      acl: acl.map((r) => ({ perms: r.perms, scheme: r.id.scheme, id: r.id.id })),
      stat: toStat(stat),
    };
  }

  async setACL(path: string, acl: readonly Acl[], version: number = ANY_VERSION): Promise<Stat> {
    validatePath(path);
    validateAcl(path, acl);
    const stat = await this.session.write<RawStat>(path, (client, done) =>
      client.setACL(path, toRawAcl(acl), version, (err, s) => done(err, s)),
    );
    return toStat(stat);
  }

  async addAuth(scheme: string, auth: Buffer): Promise<void> {
    validateAuth(scheme, auth);
    this.session.authenticate(scheme, auth);
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
    const results = await this.session.write<RawOpResult[]>(undefined, (client, done) =>
      commitOps(client, ops, done),
    );
    return toOpResults(ops, results);
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
