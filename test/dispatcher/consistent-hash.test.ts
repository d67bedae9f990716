import { afterEach, describe, expect, it, vi } from 'vitest';
import { murmur3 } from '../../src/dispatcher/details/murmur3.js';
import { HashRing, vnodesOf } from '../../src/dispatcher/details/ring.js';
import {
  ConsistentHashStrategy,
  DispatchError,
  dispatch,
  type DispatchInstance,
} from '../../src/dispatcher/index.js';
import { instance, instances, mulberry32, shuffled } from './helpers.js';

const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);

function owners(
  set: readonly DispatchInstance[],
  strategy = new ConsistentHashStrategy(),
): Map<string, string> {
  return new Map(keys.map((key) => [key, strategy.pick(set, { key })?.id ?? '']));
}

function retained(before: Map<string, string>, after: Map<string, string>): number {
  let same = 0;
  for (const [key, id] of before) if (after.get(key) === id) same++;
  return same / before.size;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('murmur3', () => {
  it('matches the reference MurmurHash3 x86_32 vectors', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('abc')).toBe(0xb3dd93fa);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('hashes UTF-8 bytes and long strings', () => {
    expect(murmur3('é')).toBe(murmur3('\u00e9'));
    expect(murmur3('é')).not.toBe(murmur3('e\u0301'));
    const long = 'x'.repeat(10_000);
    expect(murmur3(long)).toBe(murmur3(long));
  });
});

describe('consistent_hash', () => {
  it('throws DispatchError KEY_REQUIRED without a key, even with no instances', () => {
    const strategy = new ConsistentHashStrategy();
    for (const set of [instances(3), []]) {
      for (const context of [{}, { key: '' }]) {
        const error = (() => {
          try {
            strategy.pick(set, context);
          } catch (err) {
            return err;
          }
          return undefined;
        })();
        expect(error).toBeInstanceOf(DispatchError);
        expect((error as DispatchError).code).toBe('KEY_REQUIRED');
      }
    }
    expect(() => dispatch([], strategy, {})).toThrow(DispatchError);
  });

  it('sends the same key to the same instance across calls, strategy objects and listing orders', () => {
    const set = instances(7);
    const first = owners(set);
    expect(owners(set)).toEqual(first);
    expect(owners(set, new ConsistentHashStrategy())).toEqual(first);
    const random = mulberry32(5);
    const strategy = new ConsistentHashStrategy();
    for (const key of keys) expect(strategy.pick(shuffled(set, random), { key })?.id).toBe(first.get(key));
  });

  it('consistent_hash keeps at least 70% of 1000 keys when one of 5 instances leaves', () => {
    const five = instances(5);
    const before = owners(five);
    let worst = 1;
    for (const leaving of five) {
      const after = owners(five.filter((i) => i !== leaving));
      const share = retained(before, after);
      console.log(
        `consistent_hash: ${leaving.id} of 5 leaves, ${(share * 100).toFixed(1)}% of 1000 keys stay`,
      );
      worst = Math.min(worst, share);
      // Only the leaver's keys move.
      for (const [key, id] of before) if (id !== leaving.id) expect(after.get(key)).toBe(id);
    }
    expect(worst).toBeGreaterThanOrEqual(0.7);
  });

  it('moves about 1/N of the keys when an instance joins', () => {
    const five = instances(5);
    const before = owners(five);
    const after = owners([...five, instance('i05')]);
    const moved = 1 - retained(before, after);
    console.log(`consistent_hash: a 6th instance joins, ${(moved * 100).toFixed(1)}% of 1000 keys move`);
    expect(moved).toBeGreaterThan(0.1);
    expect(moved).toBeLessThan(0.25);
    // Every key that moved, moved to the newcomer.
    for (const [key, id] of after) if (id !== before.get(key)) expect(id).toBe('i05');
  });

  it('spreads keys evenly and in proportion to weight', () => {
    const even = owners(instances(5));
    const counts = new Map<string, number>();
    for (const id of even.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const n of counts.values()) expect(Math.abs(n - 200)).toBeLessThan(60);

    const weighted = [instance('light', { weight: 100 }), instance('heavy', { weight: 300 })];
    const many = Array.from({ length: 20_000 }, (_, i) => `k${i}`);
    const strategy = new ConsistentHashStrategy();
    const heavy = many.filter((key) => strategy.pick(weighted, { key })?.id === 'heavy').length;
    expect(Math.abs(heavy / many.length - 0.75)).toBeLessThan(0.05);
    expect(vnodesOf(weighted[1] as DispatchInstance)).toBe(480);
  });

  it('builds the ring once per instance set, not per pick', () => {
    const build = vi.spyOn(HashRing, 'build');
    const strategy = new ConsistentHashStrategy();
    const set = instances(20);
    // Fresh arrays of the same instances, as a caller filtering healthy ones would pass.
    for (const key of keys) strategy.pick([...set], { key });
    expect(build).toHaveBeenCalledTimes(1);
    // Alternating subsets (zone affinity) stay cached too.
    const half = set.slice(0, 10);
    for (const key of keys) {
      strategy.pick(set, { key });
      strategy.pick(half, { key });
    }
    expect(build).toHaveBeenCalledTimes(2);
    // A weight change is a new ring.
    strategy.pick(
      set.map((i, n) => (n === 0 ? { ...i, weight: 200 } : i)),
      { key: 'x' },
    );
    expect(build).toHaveBeenCalledTimes(3);
  });

  it('returns the object listed now, not the one the ring was built from', () => {
    const strategy = new ConsistentHashStrategy();
    const set = instances(3);
    const owner = strategy.pick(set, { key: 'k' });
    const moved = set.map((i) => ({ ...i, address: '10.9.9.9' }));
    const again = strategy.pick(moved, { key: 'k' });
    expect(again?.id).toBe(owner?.id);
    expect(again?.address).toBe('10.9.9.9');
  });

  it('handles one instance and no instances', () => {
    const strategy = new ConsistentHashStrategy();
    const one = instance('solo');
    expect(strategy.pick([one], { key: 'k' })).toBe(one);
    expect(strategy.pick([], { key: 'k' })).toBeUndefined();
  });
});
