/**
 * Errors the dispatcher raises. They are caller mistakes (a missing key, an option out of range),
 * never a statement about the registry: "no instance available" is an `undefined` pick, not an
 * error, so the HTTP layer can tell 400 from 503.
 */

export type DispatchErrorCode = 'KEY_REQUIRED' | 'UNKNOWN_STRATEGY' | 'INVALID_OPTION';

/**
 * A dispatch the caller asked for wrongly.
 *
 * @example
 * ```ts
 * try {
 *   createStrategy('consistent_hash').pick(instances, {});
 * } catch (err) {
 *   if (err instanceof DispatchError && err.code === 'KEY_REQUIRED') reply400(err.message);
 * }
 * ```
 */
export class DispatchError extends Error {
  override readonly name = 'DispatchError';
  readonly code: DispatchErrorCode;

  constructor(code: DispatchErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
