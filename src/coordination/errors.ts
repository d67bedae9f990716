/**
 * ZooKeeper's error codes (`KeeperException.Code`) as the coordination port speaks them.
 *
 * Both adapters raise {@link StoreError} with these codes, so domain code and the HTTP error
 * mapping never depend on which backend answered.
 */
export const ErrorCode = {
  SYSTEM_ERROR: -1,
  RUNTIME_INCONSISTENCY: -2,
  DATA_INCONSISTENCY: -3,
  CONNECTION_LOSS: -4,
  MARSHALLING_ERROR: -5,
  UNIMPLEMENTED: -6,
  OPERATION_TIMEOUT: -7,
  BAD_ARGUMENTS: -8,
  NEW_CONFIG_NO_QUORUM: -13,
  RECONFIG_IN_PROGRESS: -14,
  UNKNOWN_SESSION: -12,
  API_ERROR: -100,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  INVALID_CALLBACK: -113,
  INVALID_ACL: -114,
  AUTH_FAILED: -115,
  SESSION_MOVED: -118,
  NOT_READ_ONLY: -119,
  EPHEMERAL_ON_LOCAL_SESSION: -120,
  NO_WATCHER: -121,
  REQUEST_TIMEOUT: -122,
  RECONFIG_DISABLED: -123,
  SESSION_CLOSED_REQUIRE_SASL_AUTH: -124,
  QUOTA_EXCEEDED: -125,
  THROTTLED_OP: -127,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

const NAMES = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorCodeName]),
);

/** The name of a ZooKeeper error code; unknown codes (a newer server) keep their number. */
export function errorCodeName(code: number): string {
  return NAMES.get(code) ?? `UNKNOWN(${code})`;
}

/**
 * Codes after which the operation's outcome is unknown or the connection must be rebuilt.
 * A retry of an idempotent read is safe; a write must be re-checked before it is repeated.
 */
const RECOVERABLE = new Set<number>([
  ErrorCode.CONNECTION_LOSS,
  ErrorCode.OPERATION_TIMEOUT,
  ErrorCode.REQUEST_TIMEOUT,
  ErrorCode.SESSION_MOVED,
  ErrorCode.THROTTLED_OP,
]);

/** A failed coordination-store operation, carrying ZooKeeper's error code. */
export class StoreError extends Error {
  readonly code: number;
  readonly path: string | undefined;

  constructor(code: number, path?: string, message?: string) {
    super(message ?? `${errorCodeName(code)}${path === undefined ? '' : `: ${path}`}`);
    this.name = 'StoreError';
    this.code = code;
    this.path = path;
  }

  /** The ZooKeeper name of the code, e.g. `NO_NODE`. */
  get codeName(): string {
    return errorCodeName(this.code);
  }

  /** True when the failure is worth retrying on the same or a new connection. */
  get recoverable(): boolean {
    return RECOVERABLE.has(this.code);
  }
}

/**
 * A failed `multi`: nothing was applied. `index` is the first operation that failed and
 * `results` holds one code per operation the way ZooKeeper reports them: 0 before the failing
 * one, its own code, then RUNTIME_INCONSISTENCY for the ones never tried.
 */
export class MultiError extends StoreError {
  readonly index: number;
  readonly results: readonly number[];

  constructor(index: number, results: readonly number[], path?: string) {
    const code = results[index] ?? ErrorCode.SYSTEM_ERROR;
    super(code, path, `multi failed at op ${index}: ${errorCodeName(code)}${path ? `: ${path}` : ''}`);
    this.name = 'MultiError';
    this.index = index;
    this.results = results;
  }
}

/** Shorthand used by both adapters and by domain code to test a failure's kind. */
export function isStoreError(err: unknown, code?: number): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
