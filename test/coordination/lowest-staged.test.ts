import { describe, expect, it } from 'vitest';
import { LowestStaged } from '../../src/coordination/cache-view.js';

const below = (bound: bigint) => (id: bigint) => id <= bound;

describe('LowestStaged', () => {
  it('skips the scan while the bound is below everything staged, and scans once it is not', () => {
    const lowest = new LowestStaged();
    expect(lowest.scan(below(100n), false)).toBe(false); // nothing staged
    lowest.staged(50n);
    lowest.staged(20n);
    lowest.staged(30n);
    expect(lowest.scan(below(10n), false)).toBe(false);
    expect(lowest.scan(below(19n), false)).toBe(false);
    expect(lowest.scan(below(20n), false)).toBe(true);
    // The scan forgot it: only what the scan stages again counts.
    expect(lowest.scan(below(1_000n), false)).toBe(false);
    lowest.staged(40n);
    expect(lowest.scan(below(39n), false)).toBe(false);
    expect(lowest.scan(below(40n), false)).toBe(true);
  });

  it('always scans a settled batch: unreadable items without an id are dropped then', () => {
    const lowest = new LowestStaged();
    expect(lowest.scan(below(0n), true)).toBe(true);
    lowest.staged(5n);
    expect(lowest.scan(below(0n), true)).toBe(true);
  });
});
