/**
 * How the registry answers when the hot store is away: reads that need it fail with a 503 and a
 * Retry-After, while lease renewals are deferred (see RegistryWriter.heartbeat).
 */
import { ZkgError } from '../errors.js';
import { HotStoreError } from '../hotstore/errors.js';

/** Seconds clients wait before retrying when the hot store is unreachable. */
const HOTSTORE_RETRY_AFTER_S = 2;

/** A hot-store failure that says the store is away, not that the request was wrong. */
export function unreachable(err: unknown): err is HotStoreError {
  return err instanceof HotStoreError && (err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT');
}

/** A hot-store call; its outages become 503s with Retry-After. */
export async function hotCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (unreachable(err)) {
      throw new ZkgError('ZKG_HOTSTORE_UNAVAILABLE', `the hot store is unreachable: ${err.message}`, {
        cause: err,
        retryAfter: HOTSTORE_RETRY_AFTER_S,
      });
    }
    throw err;
  }
}
