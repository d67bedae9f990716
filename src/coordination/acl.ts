/**
 * ZooKeeper's ACL rules that do not depend on an adapter: which ACLs and auth requests the port
 * accepts at all, what a digest identity is, which ids a scheme's provider calls valid and how an
 * `ip` ACL matches, and zkCli's `scheme:id:perms` notation for settings. The embedded store
 * enforces ACLs with these; ZooKeeper enforces its own, which these copy rule for rule
 * (`DigestAuthenticationProvider`, `IPAuthenticationProvider`, `PrepRequestProcessor.fixupACL`).
 */
import { createHash } from 'node:crypto';
import { ErrorCode, StoreError } from './errors.js';
import { Perms, type Acl } from './store.js';

/** The schemes `addAuth` accepts: those a ZooKeeper server answers without closing the connection. */
const AUTH_SCHEMES: ReadonlySet<string> = new Set(['digest', 'ip']);

/**
 * The digest identity of `user:password`, ZooKeeper's `DigestAuthenticationProvider.generateDigest`:
 * `user:` followed by base64(sha1 of the whole string). What to put in a `digest` ACL for the
 * session that authenticates with `addAuth('digest', 'user:password')`.
 */
export function digestId(userPassword: string): string {
  const user = userPassword.split(':', 1)[0] as string;
  return `${user}:${createHash('sha1').update(userPassword, 'utf8').digest('base64')}`;
}

/**
 * Refuse an ACL no server would take, before anything is sent, with INVALID_ACL: an empty list
 * (the Java client refuses it the same way) or an entry that is not `{perms: int32, scheme, id}`.
 * Everything else is the server's to judge (an unknown scheme is INVALID_ACL there too).
 */
export function validateAcl(path: string, acl: readonly Acl[]): void {
  const wellFormed =
    Array.isArray(acl) &&
    acl.length > 0 &&
    acl.every(
      (entry: Acl | null | undefined) =>
        typeof entry === 'object' &&
        entry !== null &&
        Number.isInteger(entry.perms) &&
        (entry.perms | 0) === entry.perms &&
        typeof entry.scheme === 'string' &&
        typeof entry.id === 'string',
    );
  if (!wellFormed) throw new StoreError(ErrorCode.INVALID_ACL, path);
}

/** Refuse, before anything is sent, what `addAuth` cannot do (see the port). */
export function validateAuth(scheme: string, auth: Buffer): void {
  if (!Buffer.isBuffer(auth)) {
    throw new StoreError(ErrorCode.BAD_ARGUMENTS, undefined, 'BAD_ARGUMENTS: auth must be a Buffer');
  }
  if (!AUTH_SCHEMES.has(scheme)) {
    throw new StoreError(
      ErrorCode.AUTH_FAILED,
      undefined,
      `AUTH_FAILED: no authentication provider for scheme ${JSON.stringify(scheme)}`,
    );
  }
}

/**
 * Whether the scheme's provider calls `id` valid, as `fixupACL` asks it (`auth` is expanded
 * before this): `world` only as `world:anyone`, `digest` as `user:digest`, `ip` as an IPv4
 * address with an optional prefix length. Other schemes have no provider on a default server.
 */
export function isValidAclId(scheme: string, id: string): boolean {
  switch (scheme) {
    case 'world':
      return id === 'anyone';
    case 'digest':
      return javaSplit(id, ':').length === 2;
    case 'ip':
      return parseIpExpr(id) !== undefined;
    default:
      return false;
  }
}

/** `IPAuthenticationProvider.matches`: `address` (a client's IPv4 address) against `a.b.c.d[/bits]`. */
export function ipMatches(address: string, expr: string): boolean {
  const range = parseIpExpr(expr);
  const client = parseIpv4(address);
  if (!range || client === undefined) return false;
  const mask = range.bits === 0 ? 0 : (~0 << (32 - range.bits)) >>> 0;
  return (client & mask) >>> 0 === (range.address & mask) >>> 0;
}

/** `a.b.c.d` or `a.b.c.d/bits` the way ZooKeeper parses it (`Integer.parseInt` per part: a sign is allowed). */
function parseIpExpr(expr: string): { address: number; bits: number } | undefined {
  const slash = expr.indexOf('/');
  const address = parseIpv4(slash < 0 ? expr : expr.slice(0, slash));
  if (address === undefined) return undefined;
  if (slash < 0) return { address, bits: 32 };
  const bits = javaParseInt(expr.slice(slash + 1));
  return bits !== undefined && bits >= 0 && bits <= 32 ? { address, bits } : undefined;
}

function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    const byte = javaParseInt(part);
    if (byte === undefined || byte < 0 || byte > 255) return undefined;
    value = value * 256 + byte;
  }
  return value;
}

function javaParseInt(text: string): number | undefined {
  return /^[+-]?[0-9]+$/.test(text) ? Number(text) : undefined;
}

/** Java's `String.split(regex)` for a literal separator: trailing empty strings are dropped. */
function javaSplit(text: string, separator: string): string[] {
  const parts = text.split(separator);
  if (parts.length === 1) return parts;
  while (parts.length > 0 && parts.at(-1) === '') parts.pop();
  return parts;
}

const PERM_LETTERS: Readonly<Record<string, number>> = {
  c: Perms.CREATE,
  d: Perms.DELETE,
  r: Perms.READ,
  w: Perms.WRITE,
  a: Perms.ADMIN,
};

/**
 * zkCli's ACL notation, as `setAcl` takes it: `scheme:id:perms` entries joined by commas, perms
 * letters from `cdrwa`. The id is everything between the first and the last colon, so digest ids
 * keep theirs: `world:anyone:r,digest:app:uDdfb0PRRxN3xz5Gs7eIdAKprMI=:cdrwa,auth::cdrwa`.
 * Throws a RangeError naming the bad entry; `auth` entries are allowed, it is the caller's to
 * know whether the session will have an identity to expand them to.
 */
export function parseAcl(text: string): Acl[] {
  return text.split(',').map((raw) => {
    const entry = raw.trim();
    const first = entry.indexOf(':');
    const last = entry.lastIndexOf(':');
    const scheme = entry.slice(0, first);
    const id = entry.slice(first + 1, last);
    const letters = entry.slice(last + 1);
    const bad = (why: string): never => {
      throw new RangeError(`ACL entry ${JSON.stringify(entry)}: ${why}`);
    };
    if (first < 0 || first === last) bad('expected scheme:id:perms');
    if (!/^[cdrwa]+$/.test(letters) || new Set(letters).size !== letters.length) {
      bad('perms must be letters from cdrwa, each at most once');
    }
    if (scheme === 'auth' ? id !== '' : !isValidAclId(scheme, id)) {
      bad('expected world:anyone, digest:user:<base64 sha1>, ip:a.b.c.d[/bits] or auth: (empty id)');
    }
    const perms = [...letters].reduce((sum, letter) => sum | (PERM_LETTERS[letter] as number), 0);
    return { perms, scheme, id };
  });
}

/** The inverse of {@link parseAcl}, for logs and error messages. */
export function formatAcl(acl: readonly Acl[]): string {
  return acl
    .map(({ perms, scheme, id }) => {
      const letters = Object.entries(PERM_LETTERS)
        .filter(([, bit]) => (perms & bit) !== 0)
        .map(([letter]) => letter)
        .join('');
      return `${scheme}:${id}:${letters}`;
    })
    .join(',');
}

/** Whether two ACLs list the same entries in the same order. */
export function sameAcl(a: readonly Acl[], b: readonly Acl[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i] as Acl;
      return x.perms === y.perms && x.scheme === y.scheme && x.id === y.id;
    })
  );
}
