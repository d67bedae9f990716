import { ErrorCode, StoreError } from './errors.js';
import { MAX_REQUEST_BYTES, type Op } from './store.js';

/**
 * ZooKeeper's `PathUtils.validatePath`, ported rule for rule (UTF-16 code units, as Java sees
 * them), so that both adapters refuse exactly the same paths with BAD_ARGUMENTS before anything
 * is sent. A sequential create is checked with the counter appended, as the Java client does,
 * which allows a trailing `/` (`/queue/` becomes `/queue/0000000000`).
 */
export function validatePath(path: string, sequential = false): void {
  if (typeof path !== 'string' || path.length === 0) invalid(path, 'path cannot be empty');
  const p = sequential ? `${path}1` : path;
  if (p[0] !== '/') invalid(path, 'path must start with / character');
  if (p.length === 1) return;
  if (p.endsWith('/')) invalid(path, 'path must not end with / character');
  let last = '/';
  for (let i = 1; i < p.length; i++) {
    const ch = p[i] as string;
    const c = p.charCodeAt(i);
    const segmentEnds = i + 1 === p.length || p[i + 1] === '/';
    if (c === 0) invalid(path, `null character not allowed @${i}`);
    else if (ch === '/' && last === '/') invalid(path, `empty node name specified @${i}`);
    else if (ch === '.' && last === '.' && p[i - 2] === '/' && segmentEnds) {
      invalid(path, `relative paths not allowed @${i}`);
    } else if (ch === '.' && p[i - 1] === '/' && segmentEnds) {
      invalid(path, `relative paths not allowed @${i}`);
    } else if (
      (c > 0x00 && c <= 0x1f) ||
      (c >= 0x7f && c <= 0x9f) ||
      (c >= 0xd800 && c <= 0xf8ff) ||
      (c >= 0xfff0 && c <= 0xffff)
    ) {
      invalid(path, `invalid character @${i}`);
    }
    last = ch;
  }
}

function invalid(path: string, why: string): never {
  throw new StoreError(ErrorCode.BAD_ARGUMENTS, path, `invalid path ${JSON.stringify(path)}: ${why}`);
}

/**
 * Refuse a request ZooKeeper would answer by dropping the connection (failing every other pending
 * request with it): the paths, data and named ACLs of all its operations, with a fixed allowance
 * per operation for headers (and the open ACL of a create that names none), must fit in
 * {@link MAX_REQUEST_BYTES}.
 */
export function validateOps(ops: readonly Op[]): void {
  let bytes = 0;
  for (const op of ops) {
    const data = op.op === 'create' || op.op === 'setData' ? op.data : undefined;
    const acl = op.op === 'create' ? (op.acl ?? []) : [];
    bytes += OP_OVERHEAD_BYTES + Buffer.byteLength(op.path) + (data?.length ?? 0);
    for (const entry of acl) bytes += 12 + Buffer.byteLength(entry.scheme) + Buffer.byteLength(entry.id);
  }
  if (bytes > MAX_REQUEST_BYTES) {
    const path = ops.length === 1 ? ops[0]?.path : undefined;
    throw new StoreError(
      ErrorCode.BAD_ARGUMENTS,
      path,
      `request of ${bytes} bytes exceeds the ${MAX_REQUEST_BYTES}-byte limit${path ? `: ${path}` : ''}`,
    );
  }
}

/** Request header, op header, version, flags and an open ACL, rounded up. */
const OP_OVERHEAD_BYTES = 64;

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** ZooKeeper's sequential suffix: the parent's cversion, zero-padded to ten digits. */
export function sequenceSuffix(cversion: number): string {
  // ZooKeeper formats the signed 32-bit counter with %010d; it wraps after 2^31 - 1.
  const n = cversion | 0;
  return n < 0 ? `-${String(-n).padStart(9, '0')}` : String(n).padStart(10, '0');
}

/** Whether `name` can be one path segment (a service or instance name read from a URL). */
export function isZnodeName(name: string): boolean {
  if (name.includes('/')) return false;
  try {
    validatePath(`/${name}`);
    return true;
  } catch {
    return false;
  }
}
