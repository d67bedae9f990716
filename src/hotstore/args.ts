/** Argument checks and helpers shared by the adapters, so both refuse the same input with the same error. */
import { HotStoreError } from './errors.js';
import {
  MAX_CHECK_TEXT_LENGTH,
  MAX_LEASE_TTL_MS,
  MAX_RENEWAL_BATCH,
  type CheckResult,
  type HotStore,
  type Lease,
  type LeaseRenewal,
  type LoadReport,
} from './store.js';

const LOAD_FIELDS = ['inflight', 'cpu', 'latencyMs'] as const;

function bad(message: string): HotStoreError {
  return new HotStoreError('BAD_ARGUMENTS', message);
}

/** NUL is refused because the Redis adapter joins service and instance with it. */
export function checkName(what: 'service' | 'instance', name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\u0000')) {
    throw bad(`${what} must be a non-empty string without NUL characters`);
  }
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_LEASE_TTL_MS) {
    throw bad(`ttlMs must be an integer from 1 to ${MAX_LEASE_TTL_MS}, got ${String(ttlMs)}`);
  }
}

/**
 * A batch of renewals checked as {@link renewLease} checks one; returns each one's normalized
 * load, in order, so nothing is applied before every renewal has passed.
 */
export function checkRenewals(renewals: readonly LeaseRenewal[]): Array<LoadReport | undefined> {
  if (!Array.isArray(renewals) || renewals.length > MAX_RENEWAL_BATCH) {
    throw bad(`renewals must be an array of at most ${MAX_RENEWAL_BATCH}`);
  }
  return renewals.map((renewal) => {
    if (typeof renewal !== 'object' || renewal === null) throw bad('a renewal must be an object');
    checkName('service', renewal.service);
    checkName('instance', renewal.instance);
    checkTtl(renewal.ttlMs);
    return normalizeLoad(renewal.load);
  });
}

/** {@link HotStore.renewLease} as a batch of one, so each store has one code path for renewals. */
export async function renewOne(
  store: Pick<HotStore, 'renewLeases'>,
  service: string,
  instance: string,
  ttlMs: number,
  load?: LoadReport,
): Promise<Lease> {
  const [lease] = await store.renewLeases([
    { service, instance, ttlMs, ...(load !== undefined && { load }) },
  ]);
  return lease as Lease;
}

export function checkExpiredArgs(now: number, limit: number): void {
  if (!Number.isFinite(now)) throw bad(`now must be a finite number, got ${String(now)}`);
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw bad(`limit must be a non-negative integer, got ${String(limit)}`);
  }
}

/**
 * A frozen copy holding only the known fields, so a caller's later mutation (or extra fields of
 * a request body) never reaches the store; undefined stays undefined.
 */
export function normalizeLoad(load: LoadReport | undefined): LoadReport | undefined {
  if (load === undefined) return undefined;
  if (typeof load !== 'object' || load === null) throw bad('load must be an object');
  const copy: { -readonly [K in keyof LoadReport]: number } = {};
  for (const field of LOAD_FIELDS) {
    const value = load[field];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw bad(`load.${field} must be a finite number >= 0, got ${String(value)}`);
    }
    copy[field] = value;
  }
  return Object.freeze(copy);
}

/** A frozen lease; `load` is left out rather than set to undefined. */
export function makeLease(renewedAt: number, ttlMs: number, load: LoadReport | undefined): Lease {
  const lease: Lease = { expiresAt: renewedAt + ttlMs, ttlMs, renewedAt, ...(load && { load }) };
  return Object.freeze(lease);
}

/**
 * A frozen copy of a check result holding only the known fields, `detail` cut to
 * {@link MAX_CHECK_TEXT_LENGTH}; `detail` is left out rather than set to undefined.
 */
export function normalizeCheck(result: CheckResult): CheckResult {
  if (typeof result !== 'object' || result === null) throw bad('result must be an object');
  const { ok, at, latencyMs, detail, by } = result;
  if (typeof ok !== 'boolean') throw bad(`result.ok must be a boolean, got ${String(ok)}`);
  for (const [field, value] of [
    ['at', at],
    ['latencyMs', latencyMs],
  ] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw bad(`result.${field} must be a finite number >= 0, got ${String(value)}`);
    }
  }
  if (detail !== undefined && typeof detail !== 'string') {
    throw bad(`result.detail must be a string, got ${String(detail)}`);
  }
  if (typeof by !== 'string' || by.length === 0 || by.length > MAX_CHECK_TEXT_LENGTH) {
    throw bad(`result.by must be a non-empty string of at most ${MAX_CHECK_TEXT_LENGTH} characters`);
  }
  const copy: CheckResult = { ok, at, latencyMs, ...(detail !== undefined && { detail: cut(detail) }), by };
  return Object.freeze(copy);
}

/** The first {@link MAX_CHECK_TEXT_LENGTH} code units, without splitting a surrogate pair. */
function cut(text: string): string {
  if (text.length <= MAX_CHECK_TEXT_LENGTH) return text;
  const code = text.charCodeAt(MAX_CHECK_TEXT_LENGTH - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? MAX_CHECK_TEXT_LENGTH - 1 : MAX_CHECK_TEXT_LENGTH;
  return text.slice(0, end);
}
