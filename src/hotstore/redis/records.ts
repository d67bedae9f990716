/**
 * The JSON values the `redis` hot store keeps (leases, check results, generation markers), read
 * back defensively: anything under the prefix may have been written by someone else, and a
 * malformed value must be a clear SERVER_ERROR, not a crash deep in the registry.
 */
import { createHash } from 'node:crypto';
import { makeLease } from '../args.js';
import { HotStoreError } from '../errors.js';
import type { CheckResult, Generation, Lease, LoadReport } from '../store.js';

/** JSON this adapter wrote; anything else under its prefix was written by someone else. */
function parseStored<T>(json: string, what: string): T {
  try {
    return JSON.parse(json) as T;
  } catch (err) {
    throw new HotStoreError('SERVER_ERROR', `malformed ${what} in redis: ${json.slice(0, 100)}`, {
      cause: err,
    });
  }
}

export function parseLease(json: string): Lease {
  const raw = parseStored<{ ttlMs: number; renewedAt: number; load?: LoadReport }>(json, 'lease');
  return makeLease(raw.renewedAt, raw.ttlMs, raw.load && Object.freeze(raw.load));
}

export function parseCheck(json: string): CheckResult {
  const raw = parseStored<CheckResult>(json, 'check result');
  const result: CheckResult = {
    ok: raw.ok,
    at: raw.at,
    latencyMs: raw.latencyMs,
    ...(raw.detail !== undefined && { detail: raw.detail }),
    by: raw.by,
  };
  return Object.freeze(result);
}

export function parseGeneration(json: string): Generation {
  const raw = parseStored<Generation>(json, 'generation marker');
  return { id: raw.id, since: raw.since };
}

/**
 * One generation from the markers of every shard: a marker's own when there is one, else an id
 * that changes when any of them does, beginning when the latest began.
 */
export function combine(markers: readonly Generation[]): Generation {
  if (markers.length === 1) return Object.freeze({ ...(markers[0] as Generation) });
  const id = createHash('sha256')
    .update(markers.map((m) => m.id).join(','))
    .digest('base64url')
    .slice(0, 22);
  return Object.freeze({ id, since: Math.max(...markers.map((m) => m.since)) });
}
