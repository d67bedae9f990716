import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FORGET_AFTER_PICKS } from '../../src/dispatcher/details/smooth-cycle.js';
import { WeightedRoundRobinStrategy, type DispatchInstance } from '../../src/dispatcher/index.js';
import { instance, mulberry32, repeat, shuffled, tally } from './helpers.js';

const abc = [instance('a', { weight: 1 }), instance('b', { weight: 2 }), instance('c', { weight: 3 })];

function longestRun(ids: readonly string[]): Map<string, number> {
  const longest = new Map<string, number>();
  let run = 0;
  ids.forEach((id, i) => {
    run = i > 0 && ids[i - 1] === id ? run + 1 : 1;
    longest.set(id, Math.max(longest.get(id) ?? 0, run));
  });
  return longest;
}

describe('weighted_round_robin', () => {
  it('weighted_round_robin over weights 1,2,3 gives exactly 1:2:3 over 600 picks', () => {
    const wrr = new WeightedRoundRobinStrategy();
    const picks = repeat(600, () => wrr.pick(abc, {}));
    expect(Object.fromEntries(tally(picks))).toEqual({ a: 100, b: 200, c: 300 });
    // Smoothness: never the same instance three times in a row (avoidable with these weights).
    for (const run of longestRun(picks.map((p) => p?.id ?? '')).values()) expect(run).toBeLessThan(3);
  });

  it('interleaves like nginx: 1,2,3 cycles c b a c b c; 5,1,1 gives a a b a c a a', () => {
    const wrr = new WeightedRoundRobinStrategy();
    expect(repeat(12, () => wrr.pick(abc, {})?.id).join('')).toBe('cbacbccbacbc');
    const nginx = [instance('a', { weight: 5 }), instance('b', { weight: 1 }), instance('c', { weight: 1 })];
    const other = new WeightedRoundRobinStrategy();
    expect(repeat(7, () => other.pick(nginx, {})?.id).join(' ')).toBe('a a b a c a a');
  });

  it('does not depend on the order the instances are listed in', () => {
    const random = mulberry32(11);
    const sorted = new WeightedRoundRobinStrategy();
    const scrambled = new WeightedRoundRobinStrategy();
    for (let i = 0; i < 200; i++) {
      expect(scrambled.pick(shuffled(abc, random), {})?.id).toBe(sorted.pick(abc, {})?.id);
    }
  });

  it('handles the set changing between picks: departed ids are never picked, newcomers share', () => {
    // After a change the surviving credits no longer sum to zero, so a window of sum(weights) * k
    // picks may be off by one per instance; the offset is bounded and does not grow.
    const expectNear = (counts: Map<string, number>, want: Record<string, number>): void => {
      expect([...counts.keys()].sort()).toEqual(Object.keys(want).sort());
      for (const [id, n] of Object.entries(want))
        expect(Math.abs((counts.get(id) ?? 0) - n)).toBeLessThanOrEqual(1);
    };
    const wrr = new WeightedRoundRobinStrategy();
    repeat(7, () => wrr.pick(abc, {}));
    const withoutB = abc.filter((i) => i.id !== 'b');
    expectNear(tally(repeat(400, () => wrr.pick(withoutB, {}))), { a: 100, c: 300 });
    expectNear(tally(repeat(4000, () => wrr.pick(withoutB, {}))), { a: 1000, c: 3000 });

    const withD = [...withoutB, instance('d', { weight: 4 })];
    expectNear(tally(repeat(800, () => wrr.pick(withD, {}))), { a: 100, c: 300, d: 400 });
    expectNear(tally(repeat(8000, () => wrr.pick(withD, {}))), { a: 1000, c: 3000, d: 4000 });
  });

  it('does not burst when a heavy instance leaves: credits are rescaled to the new total', () => {
    const before = [
      instance('a', { weight: 1 }),
      instance('b', { weight: 2 }),
      instance('big', { weight: 1000 }),
    ];
    const after = before.filter((i) => i.id !== 'big');
    // Leave at every point of the old cycle (without rescaling, leaving after 598 picks gives one
    // instance all of the next 300 picks).
    for (let stop = 0; stop < 1003; stop++) {
      const wrr = new WeightedRoundRobinStrategy();
      repeat(stop, () => wrr.pick(before, {}));
      const ids = repeat(300, () => wrr.pick(after, {})?.id ?? '');
      const runs = longestRun(ids);
      expect(runs.get('a')).toBeLessThanOrEqual(2);
      expect(runs.get('b')).toBeLessThanOrEqual(3);
      const counts = tally(ids.map((id) => instance(id)));
      expect(Math.abs((counts.get('a') ?? 0) - 100)).toBeLessThanOrEqual(1);
      expect(Math.abs((counts.get('b') ?? 0) - 200)).toBeLessThanOrEqual(1);
    }
  });

  it('drops the state of departed ids', () => {
    const wrr = new WeightedRoundRobinStrategy();
    const many = Array.from({ length: 50 }, (_, i) => instance(`old-${i}`));
    repeat(10, () => wrr.pick(many, {}));
    expect(wrr.trackedIds).toBe(50);
    repeat(2 * FORGET_AFTER_PICKS, () => wrr.pick(abc, {}));
    expect(wrr.trackedIds).toBe(3);
    // A forgotten listing that comes back starts afresh and is tracked again.
    const first = wrr.pick(many, {});
    expect(wrr.trackedIds).toBe(53);
    const counts = tally([first, ...repeat(50 * 100 - 1, () => wrr.pick(many, {}))]);
    expect([...counts.values()]).toEqual(Array(50).fill(100));
    expect(wrr.trackedIds).toBe(50);
  });

  it('keeps each subset exact when picks alternate between subsets (zone affinity)', () => {
    const wrr = new WeightedRoundRobinStrategy();
    const zoneA = [instance('a1', { weight: 1 }), instance('a2', { weight: 3 })];
    const zoneB = [instance('b1', { weight: 2 }), instance('b2', { weight: 2 })];
    const picks: (DispatchInstance | undefined)[] = [];
    for (let i = 0; i < 400; i++) picks.push(wrr.pick(zoneA, {}), wrr.pick(zoneB, {}));
    expect(Object.fromEntries(tally(picks))).toEqual({ a1: 100, a2: 300, b1: 200, b2: 200 });
  });

  it('returns undefined for no instances', () => {
    expect(new WeightedRoundRobinStrategy().pick([], {})).toBeUndefined();
  });

  it('property: any weights give exact proportions over sum(weights) * k picks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer(),
        (weights, k, seed) => {
          const set = weights.map((weight, i) => instance(`w${i}`, { weight }));
          const total = weights.reduce((a, b) => a + b, 0);
          const wrr = new WeightedRoundRobinStrategy();
          // Listed in a different order on every pick: proportions must not care.
          const random = mulberry32(seed);
          const counts = tally(repeat(total * k, () => wrr.pick(shuffled(set, random), {})));
          set.forEach((inst) => expect(counts.get(inst.id)).toBe(inst.weight * k));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('property: after any membership changes, a settled set returns to its proportions', () => {
    const pool = Array.from({ length: 8 }, (_, i) => `p${i}`);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.subarray(pool, { minLength: 1 }), fc.integer({ min: 1, max: 50 })), {
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 8, maxLength: 8 }),
        fc.subarray(pool, { minLength: 1 }),
        (phases, weights, final) => {
          const wrr = new WeightedRoundRobinStrategy();
          const build = (ids: readonly string[]) =>
            ids.map((id) => instance(id, { weight: weights[pool.indexOf(id)] }));
          for (const [ids, picks] of phases) repeat(picks, () => wrr.pick(build(ids), {}));
          const set = build(final);
          const total = set.reduce((sum, i) => sum + i.weight, 0);
          const k = 10;
          const counts = tally(repeat(total * k, () => wrr.pick(set, {})));
          for (const inst of set)
            expect(Math.abs((counts.get(inst.id) ?? 0) - inst.weight * k)).toBeLessThanOrEqual(2);
        },
      ),
      { numRuns: 100 },
    );
  });
});
