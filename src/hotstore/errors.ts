/**
 * Errors of the hot-store port. Callers switch on {@link HotStoreError.code}: a heartbeat handler
 * answers 503 to `UNAVAILABLE` and `TIMEOUT`, 400 to `BAD_ARGUMENTS`.
 */

/**
 * - `UNAVAILABLE`: not connected, or the connection was lost while the call was in flight (its
 *   outcome is then unknown). Nothing was queued; retry later.
 * - `TIMEOUT`: no reply within the command deadline (a frozen or overloaded server); the outcome
 *   is unknown.
 * - `BAD_ARGUMENTS`: invalid input, refused before anything was sent.
 * - `CLOSED`: the store was closed.
 * - `SERVER_ERROR`: the server refused the command (out of memory, a script error).
 */
export type HotStoreErrorCode = 'UNAVAILABLE' | 'TIMEOUT' | 'BAD_ARGUMENTS' | 'CLOSED' | 'SERVER_ERROR';

/** A failed hot-store operation; `cause` holds the client library's error when there was one. */
export class HotStoreError extends Error {
  readonly code: HotStoreErrorCode;

  constructor(code: HotStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HotStoreError';
    this.code = code;
  }
}
