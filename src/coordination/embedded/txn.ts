/**
 * Transactions: what the embedded store logs and what its data tree applies, one per zxid, the
 * way ZooKeeper's `TxnHeader` + txn records are. A failed write is a transaction too (an error
 * txn), because ZooKeeper assigns the zxid before it checks the request.
 */
import { OPEN_ACL_UNSAFE, type Acl } from '../store.js';
import { BinaryReader, BinaryWriter } from './codec.js';

/** Transaction types; the numbers are ZooKeeper's `ZooDefs.OpCode` values. */
export const TxnType = {
  CREATE: 1,
  DELETE: 2,
  SET_DATA: 5,
  SET_ACL: 7,
  CHECK: 13,
  MULTI: 14,
  CREATE_SESSION: -10,
  CLOSE_SESSION: -11,
  ERROR: -1,
} as const;

/**
 * How transaction records are encoded, by the version in the log file's header: 2 before ACLs
 * (a create then carried none, and its znode is open to everybody), 3 since.
 */
export const TxnFormat = { NO_ACL: 2, ACL: 3 } as const;
export type TxnFormat = (typeof TxnFormat)[keyof typeof TxnFormat];

/** The transaction bodies, field for field ZooKeeper's. */
export type CreateTxn = {
  readonly type: typeof TxnType.CREATE;
  readonly path: string;
  readonly data: Buffer;
  /** The ACL as stored: `auth` entries already expanded. */
  readonly acl: readonly Acl[];
  /** The owner is the transaction's session, as in ZooKeeper's `CreateTxn`. */
  readonly ephemeral: boolean;
  /** The parent's child-create counter after this create. */
  readonly parentCVersion: number;
};
export type DeleteTxn = { readonly type: typeof TxnType.DELETE; readonly path: string };
export type SetDataTxn = {
  readonly type: typeof TxnType.SET_DATA;
  readonly path: string;
  readonly data: Buffer;
  /** The node's version after this write. */
  readonly version: number;
};
export type SetAclTxn = {
  readonly type: typeof TxnType.SET_ACL;
  readonly path: string;
  readonly acl: readonly Acl[];
  /** The node's ACL version after this change. */
  readonly version: number;
};
export type CheckTxn = {
  readonly type: typeof TxnType.CHECK;
  readonly path: string;
  readonly version: number;
};
export type ErrorTxn = { readonly type: typeof TxnType.ERROR; readonly code: number };
/** A `multi` holds one sub-transaction per operation; any error sub-transaction voids them all. */
export type SubTxn = CreateTxn | DeleteTxn | SetDataTxn | CheckTxn | ErrorTxn;
/** A request that is a transaction on its own (ZooKeeper has no setACL in a multi). */
export type SingleTxn = SubTxn | SetAclTxn;
export type MultiTxn = { readonly type: typeof TxnType.MULTI; readonly txns: readonly SubTxn[] };
export type CreateSessionTxn = { readonly type: typeof TxnType.CREATE_SESSION };
/** Lists the session's ephemerals at the time it closed, like ZooKeeper's `CloseSessionTxn`. */
export type CloseSessionTxn = {
  readonly type: typeof TxnType.CLOSE_SESSION;
  readonly paths: readonly string[];
};

export type TxnBody = SingleTxn | MultiTxn | CreateSessionTxn | CloseSessionTxn;

/** A transaction with ZooKeeper's `TxnHeader` fields (the client id is the session id). */
export interface Txn {
  readonly zxid: bigint;
  readonly sessionId: bigint;
  /** Wall-clock ms when the request was prepared: the ctime/mtime it gives znodes. */
  readonly time: number;
  readonly body: TxnBody;
}

/** The payload of a log record: header (zxid, session, time) and body. */
export function encodeTxn(txn: Txn): Buffer {
  const w = new BinaryWriter(64 + bodySize(txn.body));
  w.i64(txn.zxid).i64(txn.sessionId).time(txn.time);
  writeBody(w, txn.body);
  return w.finish();
}

/**
 * Throws on malformed input (a record whose checksum matched but which this code cannot read).
 * `format`: the version of the log file the record comes from.
 */
export function decodeTxn(payload: Buffer, format: TxnFormat = TxnFormat.ACL): Txn {
  const r = new BinaryReader(payload);
  const zxid = r.i64();
  const sessionId = r.i64();
  const time = r.time();
  const body = readBody(r, format);
  if (!r.done) throw new RangeError('trailing bytes after the transaction');
  return { zxid, sessionId, time, body };
}

/** A capacity hint so that large payloads are not copied while the buffer grows. */
function bodySize(body: TxnBody): number {
  switch (body.type) {
    case TxnType.CREATE:
      return body.data.length + body.path.length * 3 + aclSize(body.acl);
    case TxnType.SET_DATA:
      return body.data.length + body.path.length * 3;
    case TxnType.SET_ACL:
      return body.path.length * 3 + aclSize(body.acl);
    case TxnType.MULTI:
      return body.txns.reduce((sum, sub) => sum + 16 + bodySize(sub), 0);
    default:
      return 64;
  }
}

function writeBody(w: BinaryWriter, body: TxnBody): void {
  w.i32(body.type);
  switch (body.type) {
    case TxnType.CREATE:
      w.string(body.path).bytes(body.data);
      writeAcl(w, body.acl);
      w.u32(body.ephemeral ? 1 : 0).i32(body.parentCVersion);
      break;
    case TxnType.SET_ACL:
      w.string(body.path);
      writeAcl(w, body.acl);
      w.i32(body.version);
      break;
    case TxnType.DELETE:
      w.string(body.path);
      break;
    case TxnType.SET_DATA:
      w.string(body.path).bytes(body.data).i32(body.version);
      break;
    case TxnType.CHECK:
      w.string(body.path).i32(body.version);
      break;
    case TxnType.ERROR:
      w.i32(body.code);
      break;
    case TxnType.MULTI:
      w.u32(body.txns.length);
      for (const sub of body.txns) writeBody(w, sub);
      break;
    case TxnType.CREATE_SESSION:
      break;
    case TxnType.CLOSE_SESSION:
      w.u32(body.paths.length);
      for (const path of body.paths) w.string(path);
      break;
  }
}

function readBody(r: BinaryReader, format: TxnFormat): TxnBody {
  const type = r.i32();
  switch (type) {
    case TxnType.MULTI: {
      const txns: SubTxn[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const sub = readSingleTxn(r, r.i32(), format);
        if (sub.type === TxnType.SET_ACL) throw new RangeError('setACL inside a multi');
        txns.push(sub);
      }
      return { type, txns };
    }
    case TxnType.CREATE_SESSION:
      return { type };
    case TxnType.CLOSE_SESSION: {
      const paths: string[] = [];
      for (let n = r.u32(); n > 0; n--) paths.push(r.string());
      return { type, paths };
    }
    default:
      return readSingleTxn(r, type, format);
  }
}

function readSingleTxn(r: BinaryReader, type: number, format: TxnFormat): SingleTxn {
  switch (type) {
    case TxnType.CREATE: {
      const path = r.string();
      const data = r.bytes();
      const acl = format === TxnFormat.NO_ACL ? OPEN_ACL_UNSAFE : readAcl(r);
      return { type, path, data, acl, ephemeral: r.u32() === 1, parentCVersion: r.i32() };
    }
    case TxnType.SET_ACL:
      return { type, path: r.string(), acl: readAcl(r), version: r.i32() };
    case TxnType.DELETE:
      return { type, path: r.string() };
    case TxnType.SET_DATA:
      return { type, path: r.string(), data: r.bytes(), version: r.i32() };
    case TxnType.CHECK:
      return { type, path: r.string(), version: r.i32() };
    case TxnType.ERROR:
      return { type, code: r.i32() };
    default:
      throw new RangeError(`unknown transaction type ${type}`);
  }
}

/** An ACL as ZooKeeper's jute writes one: count, then perms, scheme and id per entry. */
export function writeAcl(w: BinaryWriter, acl: readonly Acl[]): void {
  w.u32(acl.length);
  for (const { perms, scheme, id } of acl) w.i32(perms).string(scheme).string(id);
}

export function readAcl(r: BinaryReader): Acl[] {
  const acl: Acl[] = [];
  for (let n = r.u32(); n > 0; n--) acl.push({ perms: r.i32(), scheme: r.string(), id: r.string() });
  return acl;
}

/** Bytes {@link writeAcl} writes, for a capacity hint (UTF-16 lengths times 3 bound the UTF-8). */
function aclSize(acl: readonly Acl[]): number {
  return acl.reduce((sum, { scheme, id }) => sum + 12 + 3 * (scheme.length + id.length), 4);
}
