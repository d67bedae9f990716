/**
 * The embedded ZooKeeper: an in-process server with ZooKeeper's semantics, persisted the way
 * ZooKeeper persists (transaction log + periodic snapshots in `<dataDir>/version-2`).
 *
 * A write goes through ZooKeeper's pipeline: it is prepared against the tree plus the writes
 * still in flight (taking the next zxid whether it succeeds or fails), appended to the log,
 * group-committed with an fdatasync, then applied to the tree, its watches fired, and answered.
 * Reads are answered from the committed tree at once.
 */
import { ErrorCode, StoreError } from '../errors.js';
import type { WatchEvent } from '../store.js';
import { DataDir } from './datadir.js';
import { epochStart, follows } from './epochs.js';
import { DataTree, type TxnResult } from './datatree.js';
import { Fifo } from './fifo.js';
import { ChangeView, PendingChanges, prepare, type TxnRequest } from './prep.js';
import { EmbeddedSession, type SessionHost } from './session.js';
import { readSnapshot, serializeSnapshot } from './snapshot.js';
import { TxnType, decodeTxn, encodeTxn, type Txn, type TxnFormat } from './txn.js';
import { TxnLogWriter, readLog } from './txnlog.js';
import { WatchManager } from './watches.js';
import type { StoreLogger } from '../store.js';

export interface EmbeddedServerOptions {
  /** Directory for the transaction logs and snapshots (created if missing). */
  readonly dataDir: string;
  /** Transactions between snapshots, ZooKeeper's `snapCount`. Default 100,000. */
  readonly snapCount?: number;
  /**
   * Bytes of transaction log between snapshots (ZooKeeper's `snapSizeLimitInKb`), which also
   * bounds the size of one log file. Default 256 MiB.
   */
  readonly snapSizeLimitBytes?: number;
  /** Snapshots kept by the purge after each snapshot, ZooKeeper's `autopurge.snapRetainCount`. Default 3. */
  readonly snapRetainCount?: number;
  /**
   * How long open() waits for the data directory's lock: a process that died leaves a lease that
   * expires within 10 s, so a restart right after a crash waits it out. Default 15 s.
   */
  readonly lockWaitMs?: number;
  /**
   * fdatasync the log before acknowledging a write (ZooKeeper's `forceSync`). Default true;
   * without it a killed process still loses nothing, a power cut may.
   */
  readonly fsync?: boolean;
  /** Default: warnings go to `process.emitWarning`, info is dropped. */
  readonly logger?: StoreLogger;
  /** The clock that numbers epochs (milliseconds since 1970); injected by tests. Default Date.now. */
  readonly now?: () => number;
}

export interface EmbeddedStats {
  readonly nodeCount: number;
  /** ZooKeeper sessions alive (one per connected {@link EmbeddedSession}). */
  readonly sessionCount: number;
  readonly lastZxid: bigint;
  readonly txnsSinceSnapshot: number;
}

interface InflightTxn {
  readonly txn: Txn;
  readonly error: StoreError | undefined;
  readonly size: number;
  readonly done: (outcome: TxnResult[] | StoreError) => void;
}

const DEFAULTS = {
  snapCount: 100_000,
  snapSizeLimitBytes: 256 * 1024 * 1024,
  snapRetainCount: 3,
  fsync: true,
  lockWaitMs: 15_000,
};

const defaultLogger: StoreLogger = {
  info: () => {},
  warn: (obj, msg) => {
    const err = (obj as { err?: unknown }).err;
    process.emitWarning(err === undefined ? msg : `${msg}: ${String(err)}`, 'EmbeddedStoreWarning');
  },
};

/**
 * An embedded store on one data directory; at most one per directory (a lock file keeps other
 * processes out). Clients are {@link EmbeddedSession}s from {@link connect}.
 *
 * Opening recovers the newest valid snapshot plus the logs after it, drops a torn record at the
 * very end of the newest log (a crash during a write that was never acknowledged), refuses to
 * start on damage anywhere else, closes the sessions of the previous process (deleting their
 * ephemerals in logged close-session transactions, as ZooKeeper does once they time out) and
 * takes a snapshot.
 */
export class EmbeddedServer {
  private readonly pending: PendingChanges;
  private readonly watches = new WatchManager();
  private readonly sessions = new Set<EmbeddedSession>();
  /** Logged, not yet durable transactions, in zxid order. */
  private readonly inflight = new Fifo<InflightTxn>();
  private readonly log: TxnLogWriter;
  private readonly host: SessionHost;
  private preparedZxid: bigint;
  /** The last zxid before this open: everything the store did before is at or below it. */
  private readonly openedAfter: bigint;
  /** This open's epoch, as the zxid its transactions count up from. */
  private readonly epochStart: bigint;
  private nextSessionId: bigint;
  private txnsSinceSnapshot = 0;
  private bytesSinceSnapshot = 0;
  private snapshotting: Promise<void> | undefined;
  private failure: StoreError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly options: Required<Omit<EmbeddedServerOptions, 'logger' | 'now'>>,
    private readonly logger: StoreLogger,
    private readonly dataDir: DataDir,
    private readonly tree: DataTree,
    now: () => number,
  ) {
    this.pending = new PendingChanges(tree);
    // A new epoch per open (see epochs.ts).
    this.openedAfter = tree.lastZxid;
    this.epochStart = epochStart(tree.lastZxid, now());
    this.preparedZxid = this.epochStart;
    // ZooKeeper's SessionTrackerImpl.initializeNextSessionId: the server id (1) in the top byte,
    // then the clock in ms, so that ids do not repeat across restarts.
    const fromClock = (1n << 56n) | (((BigInt(Date.now()) << 24n) & 0xffff_ffff_ffff_ffffn) >> 8n);
    this.nextSessionId = [...tree.sessions].reduce((max, id) => (id >= max ? id + 1n : max), fromClock);
    this.log = new TxnLogWriter(dataDir, options.fsync, {
      onDurable: (lastZxid) => this.commit(lastZxid),
      onError: (err) => this.fail(err),
    });
    dataDir.onLockLost((err) => this.fail(err));
    this.host = {
      tree,
      watches: this.watches,
      submit: (sessionId, request, done) => this.submit(sessionId, request, done),
      newSessionId: () => this.nextSessionId++,
      knowsZxid: (zxid) => this.knowsZxid(zxid),
      warn: (message, err) => this.logger.warn({ err }, message),
      ended: (session) => this.sessions.delete(session),
    };
  }

  static async open(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
    const resolved = resolveOptions(options);
    const logger = options.logger ?? defaultLogger;
    const warn = (message: string) => logger.warn({ dataDir: resolved.dataDir }, message);
    const dataDir = await DataDir.open(resolved.dataDir, warn, resolved.lockWaitMs);
    let server: EmbeddedServer | undefined;
    try {
      const { tree, snapshotZxid } = await recover(dataDir, warn);
      server = new EmbeddedServer(resolved, logger, dataDir, tree, options.now ?? Date.now);
      await server.closeOrphanSessions();
      if (snapshotZxid !== tree.lastZxid) await server.takeSnapshot();
    } catch (err) {
      await (server ? server.close() : dataDir.unlock());
      throw err;
    }
    logger.info(
      {
        dataDir: resolved.dataDir,
        zxid: `0x${server.lastZxid.toString(16)}`,
        znodes: server.tree.nodes.size,
      },
      'embedded store opened',
    );
    return server;
  }

  /** zxid of the last durable, applied transaction. */
  /**
   * True once the store can no longer make writes durable (the log failed, or the data directory's
   * lock was lost): it stays read-only until the process restarts, so liveness should fail.
   */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  get lastZxid(): bigint {
    return this.tree.lastZxid;
  }

  /**
   * Whether `zxid` is one this store has committed: up to where it stood when it opened, or in
   * this open's epoch up to its last transaction. A zxid of an earlier epoch past where that epoch
   * ended comes from a history this store does not have.
   */
  knowsZxid(zxid: bigint): boolean {
    return zxid <= this.openedAfter || (zxid > this.epochStart && zxid <= this.tree.lastZxid);
  }

  /** A new client session, connected at once (see {@link EmbeddedSession}). */
  connect(): EmbeddedSession {
    if (this.closing || this.failure) {
      throw (
        this.failure ?? new StoreError(ErrorCode.CONNECTION_LOSS, undefined, 'the embedded server is closed')
      );
    }
    const session = new EmbeddedSession(this.host);
    this.sessions.add(session);
    return session;
  }

  /**
   * Test hook: expires a session as ZooKeeper would after its timeout. Its ephemerals are deleted
   * in one logged transaction, its watches dropped without firing; its listeners get `expired`,
   * then `connected` with `newSession: true` as it continues under a new session id, which this
   * resolves with.
   */
  expireSession(sessionId: bigint): Promise<bigint> {
    for (const session of this.sessions) {
      if (session.currentSessionId === sessionId) return session.expire();
    }
    return Promise.reject(
      new StoreError(ErrorCode.SESSION_EXPIRED, undefined, `no live session 0x${sessionId.toString(16)}`),
    );
  }

  stats(): EmbeddedStats {
    return {
      nodeCount: this.tree.nodes.size,
      sessionCount: this.tree.sessions.size,
      lastZxid: this.tree.lastZxid,
      txnsSinceSnapshot: this.txnsSinceSnapshot,
    };
  }

  /**
   * Waits for every accepted write to be durable and answered, then closes the files and the lock.
   * Sessions still open end without closing their ZooKeeper sessions: their ephemerals are
   * deleted at the next open, as after a ZooKeeper restart.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const session of this.sessions) session.detach();
      try {
        await this.log.close();
        await this.snapshotting;
      } finally {
        await this.dataDir.unlock();
      }
    })();
    return this.closing;
  }

  private submit(sessionId: bigint, request: TxnRequest, done: InflightTxn['done']): void {
    if (this.failure) return done(this.failure);
    const view = new ChangeView(this.pending);
    const { body, error } = prepare(view, sessionId, request);
    const zxid = ++this.preparedZxid;
    if (!error) this.pending.add(view.changes, zxid);
    const txn: Txn = { zxid, sessionId, time: Date.now(), body };
    const payload = encodeTxn(txn);
    this.inflight.push({ txn, error, size: payload.length, done });
    this.log.append(zxid, payload);
  }

  /** Applies and answers every transaction the last fdatasync covered, in zxid order. */
  private commit(lastZxid: bigint): void {
    for (let next = this.inflight.peek(); next && next.txn.zxid <= lastZxid; next = this.inflight.peek()) {
      const events: WatchEvent[] = [];
      let results: TxnResult[];
      // A closing session's watches go first, so that deleting its ephemerals does not fire them.
      if (next.txn.body.type === TxnType.CLOSE_SESSION) this.watches.removeSession(next.txn.sessionId);
      try {
        results = this.tree.apply(next.txn, events);
      } catch (err) {
        // The tree refused a transaction it was prepared for: a bug, not a request error. The
        // transaction is still queued, so it fails with the rest.
        this.fail(err);
        return;
      }
      this.inflight.shift();
      for (const event of events) this.watches.trigger(event);
      this.txnsSinceSnapshot++;
      this.bytesSinceSnapshot += next.size;
      next.done(next.error ?? results);
    }
    this.pending.forget(lastZxid);
    const due =
      this.txnsSinceSnapshot >= this.options.snapCount ||
      this.bytesSinceSnapshot >= this.options.snapSizeLimitBytes;
    if (due && !this.snapshotting) {
      this.takeSnapshot().catch((err: unknown) =>
        this.logger.warn(
          { err },
          'embedded store: snapshot failed; the next one is due after snapCount more transactions',
        ),
      );
    }
  }

  /** Rolls the log and writes the tree as of now; later writes go on meanwhile. */
  private takeSnapshot(): Promise<void> {
    this.log.roll();
    const zxid = this.tree.lastZxid;
    const image = serializeSnapshot(this.tree);
    this.txnsSinceSnapshot = 0;
    this.bytesSinceSnapshot = 0;
    const written = (async () => {
      await this.dataDir.writeAtomically(this.dataDir.snapshotPath(zxid), image);
      await this.dataDir.purge(this.options.snapRetainCount);
    })();
    // Failures are the caller's to report; this only tracks that a snapshot is being written.
    this.snapshotting = written
      .catch(() => undefined)
      .then(() => {
        this.snapshotting = undefined;
      });
    return written;
  }

  /** The log can no longer make writes durable: fail what is in flight and refuse further writes. */
  private fail(err: unknown): void {
    if (this.failure) return;
    const reason = err instanceof Error ? err.message : String(err);
    this.failure = new StoreError(ErrorCode.CONNECTION_LOSS, undefined, `CONNECTION_LOSS: ${reason}`);
    this.logger.warn(
      { err },
      'embedded store: the transaction log failed; writes are refused until a restart',
    );
    for (let entry = this.inflight.shift(); entry; entry = this.inflight.shift()) entry.done(this.failure);
    for (const session of this.sessions) session.disconnect();
  }

  /** The previous process's sessions are dead: close them, deleting their ephemerals. */
  private async closeOrphanSessions(): Promise<void> {
    const orphans = [...this.tree.sessions].sort((a, b) => (a < b ? -1 : 1));
    await Promise.all(
      orphans.map(
        (sessionId) =>
          new Promise<void>((resolve, reject) =>
            this.submit(sessionId, { kind: 'closeSession' }, (outcome) =>
              outcome instanceof StoreError ? reject(outcome) : resolve(),
            ),
          ),
      ),
    );
    if (orphans.length > 0) {
      this.logger.info(
        { sessions: orphans.length },
        'embedded store: closed the sessions of the previous process',
      );
    }
  }
}

function resolveOptions(
  options: EmbeddedServerOptions,
): Required<Omit<EmbeddedServerOptions, 'logger' | 'now'>> {
  const resolved = {
    dataDir: options.dataDir,
    snapCount: options.snapCount ?? DEFAULTS.snapCount,
    snapSizeLimitBytes: options.snapSizeLimitBytes ?? DEFAULTS.snapSizeLimitBytes,
    snapRetainCount: options.snapRetainCount ?? DEFAULTS.snapRetainCount,
    fsync: options.fsync ?? DEFAULTS.fsync,
    lockWaitMs: options.lockWaitMs ?? DEFAULTS.lockWaitMs,
  };
  if (typeof resolved.dataDir !== 'string' || resolved.dataDir === '')
    throw new TypeError('dataDir is required');
  for (const key of ['snapCount', 'snapSizeLimitBytes', 'snapRetainCount'] as const) {
    if (!Number.isSafeInteger(resolved[key]) || resolved[key] < 1) {
      throw new RangeError(`${key} must be a positive integer, not ${resolved[key]}`);
    }
  }
  return resolved;
}

/** The newest snapshot that reads back intact, then every logged transaction after it. */
async function recover(
  dataDir: DataDir,
  warn: (message: string) => void,
): Promise<{ tree: DataTree; snapshotZxid: bigint | undefined }> {
  let tree: DataTree | undefined;
  for (const snapshot of await dataDir.snapshots()) {
    try {
      tree = await readSnapshot(snapshot.path);
      break;
    } catch (err) {
      warn(`skipping snapshot ${snapshot.path}: ${(err as Error).message}; trying an older one`);
    }
  }
  const snapshotZxid = tree?.lastZxid;
  tree ??= DataTree.fresh();
  const logs = await dataDir.logs();
  const lastZxid = tree.lastZxid;
  const first = Math.max(
    logs.findLastIndex((log) => log.zxid <= lastZxid),
    0,
  );
  for (let i = first; i < logs.length; i++) {
    const log = logs[i] as (typeof logs)[number];
    const { format, payloads } = await readLog(log, i === logs.length - 1, warn);
    for (const payload of payloads) {
      const txn = decodeOrThrow(payload, format, log.path);
      if (txn.zxid <= tree.lastZxid) continue;
      // The next transaction, or the first of a later epoch (the store was opened again).
      if (!follows(tree.lastZxid, txn.zxid)) {
        throw new Error(
          `transaction log ${log.path} continues at zxid 0x${txn.zxid.toString(16)} after ` +
            `0x${tree.lastZxid.toString(16)}: transactions are missing (a deleted log or snapshot?)`,
        );
      }
      try {
        tree.apply(txn);
      } catch (err) {
        throw new Error(
          `transaction log ${log.path}: zxid 0x${txn.zxid.toString(16)} does not apply: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  }
  return { tree, snapshotZxid };
}

function decodeOrThrow(payload: Buffer, format: TxnFormat, path: string): Txn {
  try {
    return decodeTxn(payload, format);
  } catch (err) {
    throw new Error(`transaction log ${path} holds an unreadable record: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
