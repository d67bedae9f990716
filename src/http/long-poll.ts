/**
 * Long-polls (`?index=N&wait=30s`): hold a read until what it reads changes past `index`, the
 * wait is over, or the server shuts down. Shared by config documents and service instances.
 */
import type { FastifyReply } from 'fastify';
import { durationMs, durationQuery } from '../duration.js';
import { ZkgError } from '../errors.js';

/** Long-polls without `wait` hold this long (capped by the setting). */
const DEFAULT_WAIT_MS = 30_000;

/** The query parameters of a long-poll, as every route that offers one declares them. */
export const longPollQuery = {
  index: {
    type: 'string',
    pattern: '^[0-9]{1,20}$',
    description: 'Long-poll: answer once what is read changes past this index (a zxid, in decimal)',
  },
  wait: {
    ...durationQuery,
    description: `How long a long-poll holds at most (default 30s, capped by the server). ${durationQuery.description}`,
  },
} as const;

/** A long-poll's `wait` in ms, capped at `capMs`; its schema has checked it. */
export function parseWait(value: string | undefined, capMs: number): number {
  return Math.min(value === undefined ? DEFAULT_WAIT_MS : durationMs(value), capMs);
}

/** How long a read resuming from an index this replica has not reached waits for it. */
const RESUME_LAG_GRACE_MS = 1_000;

/**
 * Whether a client can resume from `index` (a zxid this API gave it) here: waiting for changes
 * past it, or receiving only what changed since. An index past this replica's watermark is one
 * another replica gave a moment ago (this one lags by milliseconds), or one the store never
 * reached: made up, or from before its data was restored from a backup. The store also knows
 * indexes of a history it lost (see `knowsZxid`). Past a moment's grace the client's state cannot
 * be trusted, and it should get the whole current state instead of waiting for the zxids to
 * catch up, or missing what the restore rolled back.
 */
export async function resumable(
  index: bigint,
  tree: { waitFor(zxid: bigint, timeoutMs: number): Promise<boolean> },
  store: { knowsZxid(zxid: bigint): boolean },
): Promise<boolean> {
  return (await tree.waitFor(index, RESUME_LAG_GRACE_MS)) && store.knowsZxid(index);
}

/**
 * Long-polls in flight. At shutdown they are answered at once (nothing new, connection closed),
 * or the server would wait out their `wait` before closing, past the shutdown deadline.
 */
/** Calls `revoked` once the request's credentials are revoked or expire; returns the unsubscribe function. */
export type RevocationWatch = (reply: FastifyReply, revoked: () => void) => () => void;

export class LongPolls {
  private readonly waiting = new Set<() => void>();

  /** `revocation`: a long-poll of a token revoked while it waits ends at once with 401, as a stream does. */
  constructor(private readonly revocation: RevocationWatch) {}

  /**
   * Wait for `subscribe`'s callback to be called with a value, up to `waitMs`; undefined when
   * the time is up, the server shuts down or the client goes away. `subscribe` returns its
   * unsubscribe function.
   */
  wait<T>(
    reply: FastifyReply,
    waitMs: number,
    subscribe: (done: (value: T) => void) => () => void,
  ): Promise<T | undefined> {
    if (reply.raw.destroyed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        off();
        offRevoked();
        reply.raw.off('close', onClose);
        this.waiting.delete(release);
      };
      const done = (value: T | undefined): void => {
        settle();
        resolve(value);
      };
      const release = (): void => {
        void reply.header('connection', 'close');
        done(undefined);
      };
      const onClose = (): void => done(undefined);
      const timer = setTimeout(() => done(undefined), waitMs);
      // Revocation is heard from a later event, never during this call: `off` is set by then.
      const offRevoked = this.revocation(reply, () => {
        settle();
        reject(new ZkgError('ZKG_UNAUTHENTICATED', 'the token was revoked or has expired'));
      });
      const off = subscribe(done);
      // The response's close, not the request's: that one fires once the body is read.
      reply.raw.on('close', onClose);
      this.waiting.add(release);
    });
  }

  releaseAll(): void {
    for (const release of [...this.waiting]) release();
  }
}
