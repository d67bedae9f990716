/**
 * Request preparation: ZooKeeper's `PrepRequestProcessor`. A write is checked against the tree as
 * it will be once every write already accepted has committed (committed tree + pending change
 * records), and becomes either a transaction or an error transaction. Checks run in ZooKeeper's
 * order, so that a request failing two ways reports the same code as a real server.
 */
import { ErrorCode, MultiError, StoreError } from '../errors.js';
import { parentOf, sequenceSuffix } from '../paths.js';
import {
  ANY_VERSION,
  CreateMode,
  isEphemeral,
  isSequential,
  OPEN_ACL_UNSAFE,
  Perms,
  type Acl,
  type Op,
} from '../store.js';
import { checkAcl, fixupAcl, type AuthId } from './auth.js';
import { SPECIAL_PATHS, type DataTree } from './datatree.js';
import { TxnType, type SingleTxn, type SubTxn, type TxnBody } from './txn.js';

/** What preparation needs to know of a znode (ZooKeeper's `ChangeRecord`). */
export interface NodeRecord {
  readonly version: number;
  /** The stored child-create counter (the sequential suffix), not the client-visible cversion. */
  readonly cversion: number;
  readonly aversion: number;
  readonly ephemeralOwner: bigint;
  readonly childCount: number;
  readonly acl: readonly Acl[];
}

/**
 * A write as a session submits it. `auth` is the session's identities when it was made, as
 * ZooKeeper takes them from the connection when the request arrives.
 */
export type TxnRequest =
  | { readonly kind: 'op'; readonly op: Op; readonly auth: readonly AuthId[] }
  | { readonly kind: 'multi'; readonly ops: readonly Op[]; readonly auth: readonly AuthId[] }
  | {
      readonly kind: 'setACL';
      readonly path: string;
      readonly acl: readonly Acl[];
      readonly version: number;
      readonly auth: readonly AuthId[];
    }
  | { readonly kind: 'createSession' }
  | { readonly kind: 'closeSession' };

export interface Prepared {
  readonly body: TxnBody;
  /** Set when the request failed: the body is then an error transaction that changes nothing. */
  readonly error?: StoreError;
}

/** Change records of accepted, not yet committed writes, newest per path. */
export class PendingChanges {
  private readonly records = new Map<string, { readonly zxid: bigint; readonly record: NodeRecord | null }>();

  constructor(private readonly tree: DataTree) {}

  get(path: string): NodeRecord | null {
    const pending = this.records.get(path);
    if (pending) return pending.record;
    const node = this.tree.get(path);
    return node
      ? {
          version: node.version,
          cversion: node.cversion,
          aversion: node.aversion,
          ephemeralOwner: node.ephemeralOwner,
          childCount: node.children.size,
          acl: node.acl,
        }
      : null;
  }

  add(changes: ReadonlyMap<string, NodeRecord | null>, zxid: bigint): void {
    for (const [path, record] of changes) this.records.set(path, { zxid, record });
  }

  /** Drops the records the tree now reflects (transactions up to `zxid` are applied). */
  forget(zxid: bigint): void {
    for (const [path, pending] of this.records) if (pending.zxid <= zxid) this.records.delete(path);
  }

  /** The session's ephemerals once pending writes commit, sorted so that close txns are deterministic. */
  ephemeralsOf(sessionId: bigint): string[] {
    const paths = new Set(this.tree.ephemeralsOf(sessionId));
    for (const [path, { record }] of this.records) {
      if (record === null) paths.delete(path);
      else if (record.ephemeralOwner === sessionId) paths.add(path);
    }
    return [...paths].sort();
  }
}

/** One request's changes over the pending state; discarded when the request fails (a multi's rollback). */
export class ChangeView {
  readonly changes = new Map<string, NodeRecord | null>();

  constructor(readonly pending: PendingChanges) {}

  get(path: string): NodeRecord | null {
    const changed = this.changes.get(path);
    return changed !== undefined ? changed : this.pending.get(path);
  }

  set(path: string, record: NodeRecord | null): void {
    this.changes.set(path, record);
  }
}

export function prepare(view: ChangeView, sessionId: bigint, request: TxnRequest): Prepared {
  switch (request.kind) {
    case 'op':
      return single(() => prepareOp(view, sessionId, request.op, request.auth));
    case 'setACL':
      return single(() => prepareSetAcl(view, request));
    case 'multi':
      return prepareMulti(view, sessionId, request.ops, request.auth);
    case 'createSession':
      return { body: { type: TxnType.CREATE_SESSION } };
    case 'closeSession':
      return { body: prepareCloseSession(view, sessionId) };
  }
}

/** A request that is one transaction: a failure becomes an error transaction. */
function single(prepareTxn: () => SingleTxn): Prepared {
  try {
    return { body: prepareTxn() };
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    return { body: { type: TxnType.ERROR, code: err.code }, error: err };
  }
}

/**
 * ZooKeeper's multi: every op sees the earlier ops' changes; after the first failure the rest are
 * not tried and are reported as RUNTIME_INCONSISTENCY, the ones before it as 0.
 */
function prepareMulti(
  view: ChangeView,
  sessionId: bigint,
  ops: readonly Op[],
  auth: readonly AuthId[],
): Prepared {
  const txns: SubTxn[] = [];
  let failure: { index: number; error: StoreError } | undefined;
  for (const [index, op] of ops.entries()) {
    if (failure) {
      txns.push({ type: TxnType.ERROR, code: ErrorCode.RUNTIME_INCONSISTENCY });
      continue;
    }
    try {
      txns.push(prepareOp(view, sessionId, op, auth));
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      failure = { index, error: err };
      txns.push({ type: TxnType.ERROR, code: err.code });
    }
  }
  const body: TxnBody = { type: TxnType.MULTI, txns };
  if (!failure) return { body };
  const codes = txns.map((txn) => (txn.type === TxnType.ERROR ? txn.code : 0));
  return { body, error: new MultiError(failure.index, codes, ops[failure.index]?.path) };
}

function prepareOp(view: ChangeView, sessionId: bigint, op: Op, auth: readonly AuthId[]): SubTxn {
  switch (op.op) {
    case 'create':
      return prepareCreate(view, sessionId, op, auth);
    case 'delete':
      return prepareDelete(view, op.path, op.version ?? ANY_VERSION, auth);
    case 'setData': {
      const node = existing(view, op.path, op.path);
      checkAcl(node.acl, Perms.WRITE, auth, op.path);
      const version = nextVersion(node.version, op.version ?? ANY_VERSION, op.path);
      view.set(op.path, { ...node, version });
      return { type: TxnType.SET_DATA, path: op.path, data: op.data, version };
    }
    case 'check': {
      const node = existing(view, op.path, op.path);
      checkAcl(node.acl, Perms.READ, auth, op.path);
      nextVersion(node.version, op.version, op.path);
      return { type: TxnType.CHECK, path: op.path, version: op.version };
    }
  }
}

/** ZooKeeper's order: the ACL is fixed up before the parent is even looked for. */
function prepareCreate(
  view: ChangeView,
  sessionId: bigint,
  op: Extract<Op, { op: 'create' }>,
  auth: readonly AuthId[],
): SubTxn {
  const requested = op.path;
  const mode = op.mode ?? CreateMode.PERSISTENT;
  const acl = fixupAcl(requested, auth, op.acl ?? OPEN_ACL_UNSAFE);
  const parentPath = parentOf(requested);
  const parent = existing(view, parentPath, requested);
  checkAcl(parent.acl, Perms.CREATE, auth, requested);
  const path = isSequential(mode) ? requested + sequenceSuffix(parent.cversion) : requested;
  if (view.get(path)) throw new StoreError(ErrorCode.NODE_EXISTS, requested);
  if (parent.ephemeralOwner !== 0n) throw new StoreError(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS, requested);
  const parentCVersion = (parent.cversion + 1) | 0;
  const ephemeral = isEphemeral(mode);
  view.set(parentPath, { ...parent, cversion: parentCVersion, childCount: parent.childCount + 1 });
  view.set(path, {
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: ephemeral ? sessionId : 0n,
    childCount: 0,
    acl,
  });
  return { type: TxnType.CREATE, path, data: op.data ?? Buffer.alloc(0), acl, ephemeral, parentCVersion };
}

function prepareDelete(view: ChangeView, path: string, version: number, auth: readonly AuthId[]): SubTxn {
  if (SPECIAL_PATHS.has(path)) {
    throw new StoreError(ErrorCode.BAD_ARGUMENTS, path, `BAD_ARGUMENTS: ${path} cannot be deleted`);
  }
  const parentPath = parentOf(path);
  const parent = existing(view, parentPath, path);
  checkAcl(parent.acl, Perms.DELETE, auth, path);
  const node = existing(view, path, path);
  nextVersion(node.version, version, path);
  if (node.childCount > 0) throw new StoreError(ErrorCode.NOT_EMPTY, path);
  view.set(parentPath, { ...parent, childCount: parent.childCount - 1 });
  view.set(path, null);
  return { type: TxnType.DELETE, path };
}

/** ZooKeeper's order: the ACL is fixed up first, then the node, ADMIN and the ACL version. */
function prepareSetAcl(view: ChangeView, request: Extract<TxnRequest, { kind: 'setACL' }>): SingleTxn {
  const { path, auth } = request;
  const acl = fixupAcl(path, auth, request.acl);
  const node = existing(view, path, path);
  checkAcl(node.acl, Perms.ADMIN, auth, path);
  const version = nextVersion(node.aversion, request.version, path);
  view.set(path, { ...node, aversion: version, acl });
  return { type: TxnType.SET_ACL, path, acl, version };
}

function prepareCloseSession(view: ChangeView, sessionId: bigint): TxnBody {
  const paths = view.pending.ephemeralsOf(sessionId);
  for (const path of paths) {
    const parentPath = parentOf(path);
    const parent = view.get(parentPath);
    if (parent) view.set(parentPath, { ...parent, childCount: parent.childCount - 1 });
    view.set(path, null);
  }
  return { type: TxnType.CLOSE_SESSION, paths };
}

/** Errors name the path the caller asked for, as the Java client reports them. */
function existing(view: ChangeView, path: string, requested: string): NodeRecord {
  const record = view.get(path);
  if (!record) throw new StoreError(ErrorCode.NO_NODE, requested);
  return record;
}

/** ZooKeeper's `checkAndIncVersion`: the version after a write, which wraps like Java's int. */
function nextVersion(current: number, expected: number, path: string): number {
  if (expected !== ANY_VERSION && expected !== current) throw new StoreError(ErrorCode.BAD_VERSION, path);
  return (current + 1) | 0;
}
