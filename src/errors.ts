/**
 * zkgate's error catalog: every error a client can receive, with a stable `code`, its HTTP
 * status and a title. Responses are RFC 9457 problem documents
 * (`application/problem+json`: type, title, status, detail, code). Codes are public API: never
 * renamed; one nothing returns any more leaves the catalog with a breaking entry in the
 * CHANGELOG.
 *
 * The catalog holds what the API promises, not what the storage says: each slice states a store
 * failure in its own terms at its boundary ({@link atStoreBoundary}, {@link optimisticWrite}),
 * naming the resource the client asked about, never a znode path.
 */
import { ErrorCode, isStoreError, type StoreError } from './coordination/errors.js';
import { isRace, retryOnRace } from './coordination/recipes.js';

export const ERRORS = {
  ZKG_VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  ZKG_MALFORMED_REQUEST: { status: 400, title: 'The request is not valid HTTP' },
  ZKG_REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  ZKG_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  ZKG_EXPECTATION_FAILED: { status: 417, title: 'The Expect header cannot be met' },
  ZKG_UNAUTHENTICATED: { status: 401, title: 'A valid bearer token is required' },
  ZKG_FORBIDDEN: { status: 403, title: 'The token lacks a permission this request needs' },
  ZKG_TOKEN_NOT_FOUND: { status: 404, title: 'No such token' },
  ZKG_POLICY_NOT_FOUND: { status: 404, title: 'No such policy' },
  ZKG_POLICY_BUILT_IN: { status: 409, title: 'Built-in policies cannot change' },
  ZKG_RATE_LIMITED: { status: 429, title: 'Too many requests; retry after Retry-After' },
  ZKG_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  ZKG_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route' },
  ZKG_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  ZKG_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  ZKG_NAMESPACE_INVALID: { status: 400, title: 'The namespace name is not valid' },
  ZKG_CONFIG_MALFORMED: { status: 400, title: 'The document does not parse in its format' },
  ZKG_CONFIG_NOT_FOUND: { status: 404, title: 'No such configuration namespace' },
  ZKG_CONFIG_VERSION_CONFLICT: { status: 412, title: 'The namespace is not at the version given' },
  ZKG_CONFIG_EXISTS: { status: 412, title: 'The namespace already exists' },
  ZKG_CONFIG_TOO_LARGE: { status: 413, title: 'The document is larger than the limit' },
  ZKG_SCHEMA_INVALID: { status: 400, title: 'The JSON Schema does not compile' },
  ZKG_SCHEMA_VIOLATION: { status: 422, title: 'The document violates the namespace schema' },
  ZKG_RELEASE_NOT_FOUND: { status: 404, title: 'No such release in the namespace history' },
  ZKG_SERVICE_NOT_FOUND: { status: 404, title: 'No such service' },
  ZKG_INSTANCE_NOT_FOUND: { status: 404, title: 'No such instance' },
  ZKG_INSTANCE_SESSION_BOUND: {
    status: 409,
    title: 'The instance belongs to a client session and has no lease',
  },
  ZKG_BATCH_TOO_LARGE: { status: 413, title: 'The batch holds more items than one request may' },
  ZKG_INSTANCE_HAS_CHILDREN: {
    status: 409,
    title: 'The instance has child znodes another client wrote and cannot be deregistered',
  },
  ZKG_CHECK_TARGET_DENIED: {
    status: 400,
    title: 'Health checks may not probe this address',
  },
  ZKG_NO_INSTANCE_AVAILABLE: { status: 503, title: 'No instance of the service is eligible' },
  ZKG_HOTSTORE_UNAVAILABLE: { status: 503, title: 'The hot store is unreachable' },
  ZKG_WATCH_LIMIT: { status: 503, title: 'Too many watch connections' },
  ZKG_WRITE_CONTENDED: {
    status: 503,
    title: 'Concurrent writers kept changing the resource; retry after Retry-After',
  },
  ZKG_STORE_QUOTA_EXCEEDED: { status: 507, title: 'A ZooKeeper quota is exceeded' },
  ZKG_STORE_REJECTED: {
    status: 500,
    title: "The gateway's ZooKeeper identity is refused access to its data",
  },
  ZKG_STORE_UNAVAILABLE: { status: 503, title: 'The coordination store is unreachable' },
  ZKG_NOT_READY: { status: 503, title: 'The gateway is not ready' },
  ZKG_NOT_ALIVE: { status: 503, title: 'The gateway cannot recover by itself and needs a restart' },
  ZKG_SHUTTING_DOWN: { status: 503, title: 'The gateway is shutting down' },
  ZKG_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCodeKey = keyof typeof ERRORS;

/**
 * Failed rules a problem document lists at most. Validation collects every failure (a client
 * fixes them all at once), but a body of a megabyte of unknown keys, or a document breaking a rule
 * once per item, must not get an answer many times its size.
 */
export const MAX_REPORTED_ERRORS = 20;

/** Base of every problem `type` URI; the fragment is the code. */
export const PROBLEM_TYPE_BASE = 'https://zkgate.dev/errors#';

/** An error the HTTP layer turns into a problem document. Domain services throw these. */
export class ZkgError extends Error {
  override readonly name = 'ZkgError';
  readonly code: ErrorCodeKey;
  readonly status: number;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  readonly retryAfter: number | undefined;
  /** Extra members of the problem document (e.g. validation errors). */
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCodeKey,
    detail: string,
    options: { cause?: unknown; retryAfter?: number; extensions?: Record<string, unknown> } = {},
  ) {
    super(detail, { cause: options.cause });
    this.code = code;
    this.status = ERRORS[code].status;
    this.retryAfter = options.retryAfter;
    this.extensions = options.extensions;
  }
}

/** Seconds clients are told to wait when the store is unreachable. */
export const STORE_RETRY_AFTER_S = 2;

/** Writes fail fast while the store is unreachable (or the cache is resyncing after it was). */
export function storeUnavailable(state: string): ZkgError {
  return new ZkgError('ZKG_STORE_UNAVAILABLE', `the coordination store is ${state}`, {
    retryAfter: STORE_RETRY_AFTER_S,
  });
}

/** What the store failing to answer says: the same whatever the operation. */
const UNREACHABLE = {
  code: 'ZKG_STORE_UNAVAILABLE',
  detail: (what: string) => `the coordination store did not answer for ${what}`,
} as const;

/**
 * ZooKeeper's codes mapped to zkgate's, in one table: the failures that are the store's or the
 * deployment's (unreachable, refusing zkgate's identity, a quota) and a name or size ZooKeeper
 * refuses. Any other code reaching a client (a race its slice should have retried, a refusal the
 * gateway did not expect) is a bug: ZKG_INTERNAL.
 */
const STORE_CODES = new Map<number, { code: ErrorCodeKey; detail: (what: string) => string }>([
  [ErrorCode.CONNECTION_LOSS, UNREACHABLE],
  [ErrorCode.SESSION_EXPIRED, UNREACHABLE],
  [ErrorCode.OPERATION_TIMEOUT, UNREACHABLE],
  [ErrorCode.REQUEST_TIMEOUT, UNREACHABLE],
  [ErrorCode.SESSION_MOVED, UNREACHABLE],
  [ErrorCode.THROTTLED_OP, UNREACHABLE],
  [
    ErrorCode.NO_AUTH,
    {
      code: 'ZKG_STORE_REJECTED',
      detail: (what) =>
        `ZooKeeper refuses the gateway's identity access to ${what}: grant it in the ACLs of ` +
        "zkgate's tree, or set ZKGATE_ZK_AUTH to an identity that has it",
    },
  ],
  [
    ErrorCode.AUTH_FAILED,
    {
      code: 'ZKG_STORE_REJECTED',
      detail: (what) => `ZooKeeper refuses the gateway's credentials (ZKGATE_ZK_AUTH), serving ${what}`,
    },
  ],
  [
    ErrorCode.QUOTA_EXCEEDED,
    { code: 'ZKG_STORE_QUOTA_EXCEEDED', detail: (what) => `a ZooKeeper quota does not let ${what} grow` },
  ],
  [
    ErrorCode.BAD_ARGUMENTS,
    { code: 'ZKG_VALIDATION_FAILED', detail: (what) => `ZooKeeper refuses the name or the size of ${what}` },
  ],
]);

/**
 * A coordination-store failure in the catalog's terms, about `resource` (what the client named:
 * "namespace a/b", "instance i of service s"); past every slice, about the request. The detail
 * names the resource and ZooKeeper's code, never the znode.
 */
export function fromStoreError(err: StoreError, resource = 'this request'): ZkgError {
  const known = STORE_CODES.get(err.code);
  if (!known)
    return new ZkgError('ZKG_INTERNAL', `unexpected ${err.codeName} for ${resource}`, { cause: err });
  const retryAfter = ERRORS[known.code].status === 503 ? STORE_RETRY_AFTER_S : undefined;
  return new ZkgError(known.code, `${known.detail(resource)} (${err.codeName})`, { cause: err, retryAfter });
}

/** Run a slice's store work on `resource`, stating the store failures it lets through as {@link fromStoreError} does. */
export async function atStoreBoundary<T>(resource: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw isStoreError(err) ? fromStoreError(err, resource) : err;
  }
}

/**
 * An optimistic write of `resource` at its slice's boundary: retried while concurrent writers
 * change what it read ({@link retryOnRace}); one that stays contended for the whole budget
 * answers ZKG_WRITE_CONTENDED (503, Retry-After), not a storage conflict.
 */
export function optimisticWrite<T>(resource: string, attempt: () => Promise<T>): Promise<T> {
  return atStoreBoundary(resource, () =>
    retryOnRace(attempt).catch((err: unknown) => {
      if (!isRace(err)) throw err;
      throw new ZkgError('ZKG_WRITE_CONTENDED', `${resource} kept changing under this write`, {
        cause: err,
        retryAfter: 1,
      });
    }),
  );
}

/** Any thrown value as a catalog error; unknown failures become ZKG_INTERNAL. */
export function toZkgError(err: unknown): ZkgError {
  if (err instanceof ZkgError) return err;
  if (isStoreError(err)) return fromStoreError(err);
  return new ZkgError('ZKG_INTERNAL', 'internal error', { cause: err });
}
