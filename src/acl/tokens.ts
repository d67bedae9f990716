/**
 * Bearer tokens: `Authorization: Bearer zkg_<secret>`. A secret is 256 random bits, shown once
 * when its token is created; the store keeps only its SHA-256 digest, so neither a read of the
 * ACL znodes nor a backup of them yields a usable secret. A token's public name is its accessor
 * id, which audit records and the API use.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ZkgError } from '../errors.js';

/** Marks zkgate secrets, so secret scanners (and people) recognize a leaked one. */
export const SECRET_PREFIX = 'zkg_';
const SECRET_BYTES = 32;
const SECRET = /^zkg_[A-Za-z0-9_-]{43}$/;

/** A token as stored: everything but the secret. */
export interface TokenRecord {
  readonly accessor: string;
  /** SHA-256 of the secret, hex. */
  readonly digest: string;
  readonly description: string;
  readonly policies: readonly string[];
  /** Milliseconds since the epoch; absent for a token that does not expire. */
  readonly expiresAt?: number;
  /** Accessor of the token that created this one (`bootstrap` for the first). */
  readonly createdBy: string;
  readonly createdAt: number;
}

/** A new secret and its digest; only the digest is ever stored. */
export function newSecret(random: (size: number) => Buffer = randomBytes): {
  secret: string;
  digest: string;
} {
  const secret = `${SECRET_PREFIX}${random(SECRET_BYTES).toString('base64url')}`;
  return { secret, digest: digestOf(secret) };
}

export function newAccessor(): string {
  return randomUUID();
}

export function digestOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether a secret is zkgate's shape (for bootstrap secrets given in the environment). */
export function isSecret(value: string): boolean {
  return SECRET.test(value);
}

/**
 * The secret of an `Authorization` header, undefined when there is none. Only the Bearer scheme
 * (case-insensitive, RFC 9110 §11.1) with a zkgate secret is accepted; anything else is refused
 * rather than ignored, so a misconfigured client learns why instead of acting anonymously.
 */
export function bearerSecret(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match || !isSecret(match[1] as string)) {
    throw new ZkgError('ZKG_UNAUTHENTICATED', 'Authorization must be "Bearer zkg_<secret>"');
  }
  return match[1];
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Whether a token may still be used at `now`. */
export function isLive(token: TokenRecord, now: number): boolean {
  return token.expiresAt === undefined || token.expiresAt > now;
}
