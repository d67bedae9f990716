/**
 * zkgate's error catalog: every error a client can receive, with a stable `code`, its HTTP
 * status and a title. Responses are RFC 9457 problem documents
 * (`application/problem+json`: type, title, status, detail, code). Codes are public API: never
 * rename one, only add.
 */
import { ErrorCode, isStoreError, type StoreError } from './coordination/errors.js';

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
  ZKG_NODE_NOT_FOUND: { status: 404, title: 'The znode does not exist' },
  ZKG_NODE_EXISTS: { status: 409, title: 'The znode already exists' },
  ZKG_VERSION_CONFLICT: { status: 409, title: 'The znode changed since the version given' },
  ZKG_NODE_NOT_EMPTY: { status: 409, title: 'The znode has children' },
  ZKG_STORE_QUOTA_EXCEEDED: { status: 507, title: 'A ZooKeeper quota is exceeded' },
  ZKG_STORE_REJECTED: { status: 500, title: 'The coordination store refused the request' },
  ZKG_STORE_UNAVAILABLE: { status: 503, title: 'The coordination store is unreachable' },
  ZKG_NOT_READY: { status: 503, title: 'The gateway is not ready' },
  ZKG_NOT_ALIVE: { status: 503, title: 'The gateway cannot recover by itself and needs a restart' },
  ZKG_SHUTTING_DOWN: { status: 503, title: 'The gateway is shutting down' },
  ZKG_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCodeKey = keyof typeof ERRORS;

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

/**
 * ZooKeeper's codes mapped to zkgate's, in one table. Anything not listed is a refusal the
 * gateway did not expect (a bug or a misconfigured server) and maps to ZKG_STORE_REJECTED.
 */
const STORE_CODES = new Map<number, ErrorCodeKey>([
  [ErrorCode.NO_NODE, 'ZKG_NODE_NOT_FOUND'],
  [ErrorCode.NODE_EXISTS, 'ZKG_NODE_EXISTS'],
  [ErrorCode.BAD_VERSION, 'ZKG_VERSION_CONFLICT'],
  [ErrorCode.NOT_EMPTY, 'ZKG_NODE_NOT_EMPTY'],
  [ErrorCode.BAD_ARGUMENTS, 'ZKG_VALIDATION_FAILED'],
  [ErrorCode.QUOTA_EXCEEDED, 'ZKG_STORE_QUOTA_EXCEEDED'],
  [ErrorCode.CONNECTION_LOSS, 'ZKG_STORE_UNAVAILABLE'],
  [ErrorCode.SESSION_EXPIRED, 'ZKG_STORE_UNAVAILABLE'],
  [ErrorCode.OPERATION_TIMEOUT, 'ZKG_STORE_UNAVAILABLE'],
  [ErrorCode.REQUEST_TIMEOUT, 'ZKG_STORE_UNAVAILABLE'],
  [ErrorCode.SESSION_MOVED, 'ZKG_STORE_UNAVAILABLE'],
  [ErrorCode.THROTTLED_OP, 'ZKG_STORE_UNAVAILABLE'],
]);

/** Translate a coordination-store failure into the catalog. */
export function fromStoreError(err: StoreError): ZkgError {
  const code = STORE_CODES.get(err.code) ?? 'ZKG_STORE_REJECTED';
  const retryAfter = ERRORS[code].status === 503 ? STORE_RETRY_AFTER_S : undefined;
  return new ZkgError(code, err.message, { cause: err, retryAfter });
}

/** Any thrown value as a catalog error; unknown failures become ZKG_INTERNAL. */
export function toZkgError(err: unknown): ZkgError {
  if (err instanceof ZkgError) return err;
  if (isStoreError(err)) return fromStoreError(err);
  return new ZkgError('ZKG_INTERNAL', 'internal error', { cause: err });
}
