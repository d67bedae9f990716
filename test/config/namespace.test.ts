/**
 * Namespace names: the one-regex test of the read path takes exactly the names the rule
 * segment by segment takes (1 to 8 segments of `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`), and a
 * refused name says why.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SEGMENTS, parseNamespace } from '../../src/config/namespace.js';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The rule as documented, one segment at a time. */
function valid(name: string): boolean {
  const segments = name.split('/');
  return segments.length <= MAX_SEGMENTS && segments.every((s) => SEGMENT.test(s));
}

function accepted(name: string): boolean {
  try {
    return parseNamespace(name) === name;
  } catch (err) {
    expect((err as { code?: string }).code).toBe('ZKG_NAMESPACE_INVALID');
    return false;
  }
}

/** Names near the edges: segment characters, separators and characters of neither. */
const names = fc
  .array(fc.constantFrom('a', 'Z', '9', '.', '_', '-', '/', ':', ' ', 'é', '\n'), { maxLength: 40 })
  .map((chars) => chars.join(''));

describe('namespace names', () => {
  it('accepts exactly the names the segment rule accepts', () => {
    fc.assert(
      fc.property(names, (name) => accepted(name) === valid(name)),
      { numRuns: 5000 },
    );
  });

  it('takes 8 segments of 128 characters, refuses a 9th segment or a 129th character', () => {
    const long = 'a'.repeat(128);
    expect(accepted(Array(MAX_SEGMENTS).fill(long).join('/'))).toBe(true);
    expect(
      accepted(
        Array(MAX_SEGMENTS + 1)
          .fill('a')
          .join('/'),
      ),
    ).toBe(false);
    expect(accepted(`ok/${'a'.repeat(129)}`)).toBe(false);
    expect(() => parseNamespace('a//b')).toThrow(/empty segment/);
    expect(() => parseNamespace('a/-b')).toThrow(/segment "-b" must match/);
  });
});
