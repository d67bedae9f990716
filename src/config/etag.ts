/**
 * Entity tags of configuration documents: `"<version>-<digest>"`. The version alone would let a
 * cached copy match different content: versions start again below what clients saw when a store
 * is restored from a backup, and a namespace deleted and created elsewhere can reach the same
 * number. The digest (64 bits of SHA-256 of the bytes) makes the tag a strong validator of the
 * representation, as RFC 9110 §8.8.3 asks of an ETag.
 */
import { createHash } from 'node:crypto';
import { ZkgError } from '../errors.js';

export function entityTag(version: number, data: Buffer): string {
  return `"${version}-${digestOf(data)}"`;
}

function digestOf(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

/** An `If-Match` precondition: any version (`*`), or a version and, from a full tag, its digest. */
export type VersionPrecondition = '*' | { readonly version: number; readonly digest?: string };

/** `"3"`, `3`, `W/"3"` (a version, as the X-Zkgate-Version header gives it) or a full tag; `*`. */
export function parsePrecondition(
  value: string | undefined,
  header: string,
): VersionPrecondition | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '*') return '*';
  const match = /^(?:W\/)?"?([0-9]{1,15})(?:-([0-9a-f]{16}))?"?$/.exec(trimmed);
  if (!match)
    throw new ZkgError('ZKG_VALIDATION_FAILED', `${header} must be an ETag, a version like "3", or *`);
  return match[2] === undefined
    ? { version: Number(match[1]) }
    : { version: Number(match[1]), digest: match[2] };
}

/** Whether `data` is what a precondition's digest was taken of (no digest: any content). */
export function digestMatches(precondition: { readonly digest?: string }, data: Buffer): boolean {
  return precondition.digest === undefined || precondition.digest === digestOf(data);
}

/** An `If-Match` on a namespace: its version, and a digest of its bytes when a full ETag was sent. */
export interface VersionMatch {
  readonly version: number;
  readonly digest?: string;
}

/** Throws ZKG_CONFIG_VERSION_CONFLICT unless the namespace (`current`, its bytes `data`) is what `expected` names. */
export function assertMatch(
  namespace: string,
  expected: VersionMatch,
  current: number | undefined,
  data?: Buffer,
): void {
  if (current === undefined) {
    throw new ZkgError('ZKG_CONFIG_VERSION_CONFLICT', `namespace ${namespace} does not exist`);
  }
  if (expected.version !== current) {
    throw new ZkgError(
      'ZKG_CONFIG_VERSION_CONFLICT',
      `namespace ${namespace} is at version ${current}, not ${expected.version}`,
    );
  }
  if (data !== undefined && !digestMatches(expected, data)) {
    throw new ZkgError(
      'ZKG_CONFIG_VERSION_CONFLICT',
      `namespace ${namespace} is at version ${current} with other content than the ETag given`,
    );
  }
}
