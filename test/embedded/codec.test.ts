import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter } from '../../src/coordination/embedded/codec.js';

describe('embedded codec', () => {
  it('writes times exactly as a 64-bit integer and reads them back', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -1e15, max: 0 }),
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          fc.nat(),
        ),
        (ms) => {
          const fast = new BinaryWriter(8).time(ms).finish();
          const exact = new BinaryWriter(8).i64(BigInt(ms)).finish();
          expect(fast.equals(exact)).toBe(true);
          expect(new BinaryReader(fast).time()).toBe(ms);
        },
      ),
    );
  });
});
