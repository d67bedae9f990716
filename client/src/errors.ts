/**
 * Typed errors of the SDK and the CLI. A gateway's answer becomes one class per HTTP family, carrying
 * the problem document's stable `code` (`ZKG_CONFIG_VERSION_CONFLICT`...), so callers branch on
 * the class or the code, never on a message. Transport failures are {@link UnavailableError}: the
 * one failure worth retrying (`retryable`).
 */

/** An RFC 9457 problem document as zkgate sends it. */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly code?: string;
  readonly [extension: string]: unknown;
}

export class ZkgateError extends Error {
  override readonly name: string = 'ZkgateError';
  /** The HTTP status, or 0 when no gateway answered. */
  readonly status: number;
  /** The problem document's `code`, e.g. `ZKG_CONFIG_NOT_FOUND`; `ZKG_CLIENT_*` for the SDK's own. */
  readonly code: string;
  readonly problem: Problem | undefined;
  /** Whether trying again (later, or on another replica) may succeed. */
  readonly retryable: boolean = false;

  constructor(
    message: string,
    options: { status?: number; code: string; problem?: Problem; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? 0;
    this.code = options.code;
    this.problem = options.problem;
  }
}

/** 401: no token, an unknown one, or one revoked or expired. */
export class UnauthorizedError extends ZkgateError {
  override readonly name = 'UnauthorizedError';
}

/** 403: the token's policies do not grant this. */
export class ForbiddenError extends ZkgateError {
  override readonly name = 'ForbiddenError';
}

/** 404: no such namespace, service, instance, release or token. */
export class NotFoundError extends ZkgateError {
  override readonly name = 'NotFoundError';
}

/** 409 and 412: a version or existence precondition failed. */
export class ConflictError extends ZkgateError {
  override readonly name = 'ConflictError';
}

/** No gateway answered, or one answered 502/503/504: try again later or elsewhere. */
export class UnavailableError extends ZkgateError {
  override readonly name = 'UnavailableError';
  override readonly retryable = true;
}

/**
 * A namespace's document refused by the application's own `parse` at boot, with no accepted copy on
 * disk to serve instead (`cause` is what `parse` threw).
 */
export class InvalidDocumentError extends ZkgateError {
  override readonly name = 'InvalidDocumentError';
}

/** Any other refusal (400, 413, 415, 422, 429...): the request itself is wrong. */
export class RequestError extends ZkgateError {
  override readonly name = 'RequestError';
}

type ErrorClass = new (message: string, options: ConstructorParameters<typeof ZkgateError>[1]) => ZkgateError;

const BY_STATUS: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>([
  [401, UnauthorizedError],
  [403, ForbiddenError],
  [404, NotFoundError],
  [409, ConflictError],
  [412, ConflictError],
  [502, UnavailableError],
  [503, UnavailableError],
  [504, UnavailableError],
]);

/**
 * Answers whose status says "unavailable" but whose code says the service has nothing to offer:
 * every replica would give the same answer, so none is tried again.
 */
const BY_CODE: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['ZKG_NO_INSTANCE_AVAILABLE', NotFoundError],
]);

/** Whether a status means "this replica cannot serve now", so another one should be tried. */
export function isUnavailableStatus(status: number): boolean {
  return BY_STATUS.get(status) === UnavailableError;
}

/** The typed error for a gateway's non-2xx answer (its body is read here). */
export async function errorFromResponse(response: Response, what: string): Promise<ZkgateError> {
  const text = await response.text().catch(() => '');
  let problem: Problem | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') problem = parsed as Problem;
  } catch {
    // Not a problem document (a proxy's HTML page, say): the status alone says what happened.
  }
  const Class =
    (problem?.code === undefined ? undefined : BY_CODE.get(problem.code)) ??
    BY_STATUS.get(response.status) ??
    RequestError;
  const detail = problem?.detail ?? problem?.title ?? (text.slice(0, 200) || response.statusText);
  return new Class(`${what}: ${response.status} ${detail}`, {
    status: response.status,
    code: problem?.code ?? `HTTP_${response.status}`,
    ...(problem === undefined ? {} : { problem }),
  });
}
