import { describe, expect, it } from 'vitest';
import { bearerSecret, digestOf, isLive, newSecret, sameDigest } from '../../src/acl/tokens.js';

describe('tokens', () => {
  it('makes 256-bit secrets with the zkg_ prefix and stores only their digest', () => {
    const { secret, digest } = newSecret();
    expect(secret).toMatch(/^zkg_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret.slice(4), 'base64url')).toHaveLength(32);
    expect(digest).toBe(digestOf(secret));
    expect(digest).not.toContain(secret.slice(4));
    expect(newSecret().secret).not.toBe(secret);
  });

  it('takes the secret from a Bearer header only', () => {
    const { secret } = newSecret(() => Buffer.alloc(32, 7));
    expect(bearerSecret(undefined)).toBeUndefined();
    expect(bearerSecret(`Bearer ${secret}`)).toBe(secret);
    expect(bearerSecret(`bearer  ${secret}`)).toBe(secret);
    for (const header of [
      `Basic ${secret}`,
      'Bearer',
      'Bearer zkg_short',
      `Bearer ${secret} extra`,
      secret,
    ]) {
      expect(() => bearerSecret(header), header).toThrow(
        expect.objectContaining({ code: 'ZKG_UNAUTHENTICATED' }),
      );
    }
  });

  it('compares digests whole', () => {
    const a = digestOf('zkg_a');
    expect(sameDigest(a, a)).toBe(true);
    expect(sameDigest(a, digestOf('zkg_b'))).toBe(false);
    expect(sameDigest(a, a.slice(0, 10))).toBe(false);
  });

  it('expires tokens at their deadline', () => {
    const token = { accessor: 'a', digest: '', description: '', policies: [], createdBy: 'x', createdAt: 0 };
    expect(isLive(token, Date.now())).toBe(true);
    expect(isLive({ ...token, expiresAt: 1000 }, 999)).toBe(true);
    expect(isLive({ ...token, expiresAt: 1000 }, 1000)).toBe(false);
  });
});
