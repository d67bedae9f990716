/**
 * Values between the port and the library: errors, ACLs, stats and transactions. Kept pure and
 * apart from the session so that what the port promises (codes, 64-bit fields, which op of a
 * multi failed) can be checked against the library in one place.
 */
import { ErrorCode, MultiError, StoreError } from '../errors.js';
import {
  ANY_VERSION,
  CreateMode,
  OPEN_ACL_UNSAFE,
  type Acl,
  type Op,
  type OpResult,
  type Stat,
} from '../store.js';
import {
  jute,
  type RawAcl,
  type RawClient,
  type RawDone,
  type RawOpResult,
  type RawStat,
} from './library.js';

/** The library's exceptions carry ZooKeeper codes; anything else (assertions) is a bad argument. */
export function toStoreError(err: unknown, path: string | undefined): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return new StoreError(code, path);
  return new StoreError(ErrorCode.BAD_ARGUMENTS, path, (err as Error).message ?? String(err));
}

/** ACL entries as the library serializes them, built from its wire records directly (see getACL). */
export function toRawAcl(acl: readonly Acl[]): RawAcl[] {
  return acl.map(({ perms, scheme, id }) => ({
    toRecord: () => new jute.data.ACL(perms, new jute.data.Id(scheme, id)),
  }));
}

/** The library hands 64-bit fields over as 8-byte buffers. */
export function toStat(raw: RawStat): Stat {
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

/** Send `ops` as one transaction; a failure comes as a {@link MultiError} naming the op at fault. */
export function commitOps(client: RawClient, ops: readonly Op[], done: RawDone<RawOpResult[]>): void {
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
}

/** The port's results, op by op, from the library's. */
export function toOpResults(ops: readonly Op[], results: readonly RawOpResult[]): OpResult[] {
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
