/**
 * Access control in the embedded store, as a ZooKeeper server does it: the identities a session
 * holds (ZooKeeper's `ServerCnxn.authInfo`), how `addAuth` adds one, how a requested ACL becomes
 * the stored one (`PrepRequestProcessor.fixupACL`) and how an ACL grants a permission
 * (`ZooKeeperServer.checkACL`).
 */
import { digestId, ipMatches, isValidAclId } from '../acl.js';
import { ErrorCode, StoreError } from '../errors.js';
import { OPEN_ACL_UNSAFE, Perms, type Acl } from '../store.js';

/** An identity a session holds, ZooKeeper's `Id`. */
export interface AuthId {
  readonly scheme: string;
  readonly id: string;
}

/** The address ZooKeeper would see the in-process client connect from. */
const CLIENT_ADDRESS = '127.0.0.1';

/**
 * A session's identities, listed in the order ZooKeeper lists them. ZooKeeper keeps them in a
 * `ConcurrentHashMap` key set and the `auth` scheme expands in its iteration order, which a
 * znode's stored ACL then keeps: that order is reproduced here (bins by the Java hash of the id,
 * insertion order within a bin, the table doubling at 3/4 full). Eight ids in one bin, which
 * makes Java grow its table early, are beyond what a session holds.
 */
export class AuthInfo {
  private table: AuthEntry[][] = emptyTable(16);
  private count = 0;
  private listed: readonly AuthId[] = [];

  /** Every connection starts with its client's address (`NIOServerCnxn`'s constructor). */
  constructor() {
    this.add({ scheme: 'ip', id: CLIENT_ADDRESS });
  }

  /** The identities as of now; later additions do not change a list already taken. */
  get ids(): readonly AuthId[] {
    return this.listed;
  }

  add(id: AuthId): void {
    const hash = spread(javaHash(id.scheme, id.id));
    const bin = this.table[hash & (this.table.length - 1)] as AuthEntry[];
    if (bin.some((e) => e.id.scheme === id.scheme && e.id.id === id.id)) return;
    bin.push({ hash, id });
    if (++this.count >= this.table.length - (this.table.length >>> 2)) this.table = grown(this.table);
    this.listed = Object.freeze(this.table.flat().map((e) => e.id));
  }
}

interface AuthEntry {
  readonly hash: number;
  readonly id: AuthId;
}

function emptyTable(size: number): AuthEntry[][] {
  return Array.from({ length: size }, () => []);
}

/**
 * `ConcurrentHashMap.transfer`: each bin splits into the same index and index + n. The run of
 * entries at a bin's end that all go one way keeps its order; the entries before it are
 * prepended one by one, so they end up reversed.
 */
function grown(table: AuthEntry[][]): AuthEntry[][] {
  const n = table.length;
  const next = emptyTable(2 * n);
  table.forEach((bin, i) => {
    if (bin.length === 0) return;
    let lastRun = 0;
    for (let j = 1; j < bin.length; j++) {
      if (((bin[j] as AuthEntry).hash & n) !== ((bin[j - 1] as AuthEntry).hash & n)) lastRun = j;
    }
    const tailHigh = ((bin[lastRun] as AuthEntry).hash & n) !== 0;
    const low = tailHigh ? [] : bin.slice(lastRun);
    const high = tailHigh ? bin.slice(lastRun) : [];
    for (const entry of bin.slice(0, lastRun)) ((entry.hash & n) === 0 ? low : high).unshift(entry);
    next[i] = low;
    next[i + n] = high;
  });
  return next;
}

/** The jute-generated `Id.hashCode` over Java's `String.hashCode`. */
function javaHash(scheme: string, id: string): number {
  const str = (s: string): number => {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
    return h;
  };
  return (Math.imul(37, (Math.imul(37, 17) + str(scheme)) | 0) + str(id)) | 0;
}

function spread(h: number): number {
  return (h ^ (h >>> 16)) & 0x7fffffff;
}

/** What `addAuth` adds: ZooKeeper accepts any digest (the password is not checked against anything). */
export function authenticate(scheme: string, auth: Buffer): AuthId {
  return scheme === 'digest'
    ? { scheme, id: digestId(auth.toString('utf8')) }
    : { scheme, id: CLIENT_ADDRESS };
}

/**
 * The ACL a create or setACL stores, `fixupACL`: duplicates dropped, `auth` replaced by the
 * session's authenticated identities (digest ones; an address is not an authentication), any
 * other id checked by its scheme; INVALID_ACL when anything is invalid. (An empty list never
 * gets here: the port refuses it up front, as the Java client does.)
 */
export function fixupAcl(path: string, auth: readonly AuthId[], requested: readonly Acl[]): readonly Acl[] {
  const unique = requested.filter(
    (a, i) => requested.findIndex((b) => b.perms === a.perms && b.scheme === a.scheme && b.id === a.id) === i,
  );
  const fixed: Acl[] = [];
  for (const { perms, scheme, id } of unique) {
    if (scheme === 'auth') {
      const authenticated = auth.filter((cid) => cid.scheme === 'digest');
      if (authenticated.length === 0) throw new StoreError(ErrorCode.INVALID_ACL, path);
      for (const cid of authenticated) fixed.push({ perms, scheme: cid.scheme, id: cid.id });
    } else if (isValidAclId(scheme, id)) {
      fixed.push({ perms, scheme, id });
    } else {
      throw new StoreError(ErrorCode.INVALID_ACL, path);
    }
  }
  return Object.freeze(fixed);
}

/** `acl`, or the shared {@link OPEN_ACL_UNSAFE} when equal to it: most znodes hold that one, not a copy each. */
export function canonicalAcl(acl: readonly Acl[]): readonly Acl[] {
  const [only] = acl;
  const open =
    acl.length === 1 && only?.perms === Perms.ALL && only.scheme === 'world' && only.id === 'anyone';
  return open ? OPEN_ACL_UNSAFE : acl;
}

/** `checkACL`: whether an entry granting `perm` names one of the session's identities. */
export function permits(acl: readonly Acl[], perm: number, auth: readonly AuthId[]): boolean {
  return acl.some(({ perms, scheme, id }) => {
    if ((perms & perm) === 0) return false;
    if (scheme === 'world') return id === 'anyone';
    if (scheme === 'digest') return auth.some((cid) => cid.scheme === 'digest' && cid.id === id);
    if (scheme === 'ip') return auth.some((cid) => cid.scheme === 'ip' && ipMatches(cid.id, id));
    return false;
  });
}

/** NO_AUTH unless {@link permits}. */
export function checkAcl(acl: readonly Acl[], perm: number, auth: readonly AuthId[], path: string): void {
  if (!permits(acl, perm, auth)) throw new StoreError(ErrorCode.NO_AUTH, path);
}

/** What getACL shows a session without ADMIN: digests masked, `user:x`, as ZooKeeper does. */
export function maskDigests(acl: readonly Acl[]): Acl[] {
  return acl.map((a) => (a.scheme === 'digest' ? { ...a, id: a.id.replace(/:.*/g, ':x') } : { ...a }));
}
