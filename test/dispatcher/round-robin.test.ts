import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoundRobinStrategy, type DispatchInstance } from '../../src/dispatcher/index.js';
import { instance, instances, mulberry32, repeat, shuffled, tally } from './helpers.js';

describe('round_robin', () => {
  it('cycles over the instances in id order, whatever order they are listed in', () => {
    const rr = new RoundRobinStrategy();
    const set = [instance('c'), instance('a'), instance('b')];
    expect(repeat(7, () => rr.pick(set, {})?.id).join('')).toBe('abcabca');
  });

  it('is fair: k * n picks give every instance exactly k, ignoring weights', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        (n, k, seed) => {
          const set = instances(n).map((inst, i) => ({ ...inst, weight: 1 + ((i * 37) % 1000) }));
          const rr = new RoundRobinStrategy();
          const random = mulberry32(seed);
          const counts = tally(repeat(n * k, () => rr.pick(shuffled(set, random), {})));
          expect([...counts.values()]).toEqual(Array(n).fill(k));
        },
      ),
    );
  });

  it('lets instances join and leave without starving anyone', () => {
    const rr = new RoundRobinStrategy();
    const set = instances(4);
    repeat(5, () => rr.pick(set, {}));
    const without = set.filter((i) => i.id !== 'i01');
    // After a change, a window of k * n picks may be off by one per instance (the surviving turns
    // no longer sum to zero); the offset is bounded, so it never grows into starvation.
    const afterLeave = tally(repeat(300, () => rr.pick(without, {})));
    expect([...afterLeave.keys()].sort()).toEqual(['i00', 'i02', 'i03']);
    for (const n of afterLeave.values()) expect(Math.abs(n - 100)).toBeLessThanOrEqual(1);
    const joined = [...set, instance('i04')];
    const afterJoin = tally(repeat(500, () => rr.pick(joined, {})));
    expect(afterJoin.size).toBe(5);
    for (const n of afterJoin.values()) expect(Math.abs(n - 100)).toBeLessThanOrEqual(1);
  });

  it('keeps each subset cycling when picks alternate between subsets (zone affinity)', () => {
    const rr = new RoundRobinStrategy();
    const zoneA = [instance('a1'), instance('a2'), instance('a3')];
    const zoneB = [instance('b1'), instance('b2')];
    const picks: (DispatchInstance | undefined)[] = [];
    for (let i = 0; i < 30; i++) picks.push(rr.pick(zoneA, {}), rr.pick(zoneB, {}));
    expect(Object.fromEntries(tally(picks))).toEqual({ a1: 10, a2: 10, a3: 10, b1: 15, b2: 15 });
  });

  it('returns undefined for no instances', () => {
    expect(new RoundRobinStrategy().pick([], {})).toBeUndefined();
  });
});
