import { describe, expect, it } from 'vitest';
import { RandomStrategy, WeightedRandomStrategy } from '../../src/dispatcher/index.js';
import { instance, instances, mulberry32, repeat, tally } from './helpers.js';

describe('random', () => {
  it('picks uniformly, ignoring weights (seeded)', () => {
    const set = instances(5).map((inst, i) => ({ ...inst, weight: 1 + i * 200 }));
    const random = mulberry32(1);
    const counts = tally(repeat(50_000, () => new RandomStrategy().pick(set, { random })));
    for (const n of counts.values()) expect(Math.abs(n / 50_000 - 0.2)).toBeLessThan(0.01);
  });

  it('is reproducible with the same seed', () => {
    const set = instances(10);
    const a = mulberry32(42);
    const b = mulberry32(42);
    const strategy = new RandomStrategy();
    expect(repeat(100, () => strategy.pick(set, { random: a })?.id)).toEqual(
      repeat(100, () => strategy.pick(set, { random: b })?.id),
    );
  });

  it('stays in range when the random source misbehaves (returns 1, negative, NaN)', () => {
    const set = instances(3);
    for (const value of [1, 1.5, -0.1, Number.NaN, 0.9999999999999999]) {
      expect(set).toContain(new RandomStrategy().pick(set, { random: () => value }));
      expect(set).toContain(new WeightedRandomStrategy().pick(set, { random: () => value }));
    }
  });

  it('returns undefined for no instances', () => {
    expect(new RandomStrategy().pick([], {})).toBeUndefined();
    expect(new WeightedRandomStrategy().pick([], {})).toBeUndefined();
  });
});

describe('weighted_random', () => {
  it('picks in proportion to weight within 1% over 100k seeded picks', () => {
    const set = [1, 2, 3, 4].map((w) => instance(`w${w}`, { weight: w * 100 }));
    const random = mulberry32(7);
    const strategy = new WeightedRandomStrategy();
    const picks = 100_000;
    const counts = tally(repeat(picks, () => strategy.pick(set, { random })));
    for (const inst of set) {
      const share = (counts.get(inst.id) ?? 0) / picks;
      expect(Math.abs(share - inst.weight / 1000)).toBeLessThan(0.01);
    }
  });

  it('maps the random draw onto cumulative weights', () => {
    const set = [instance('a', { weight: 1 }), instance('b', { weight: 3 })];
    const strategy = new WeightedRandomStrategy();
    expect(strategy.pick(set, { random: () => 0 })?.id).toBe('a');
    expect(strategy.pick(set, { random: () => 0.2499 })?.id).toBe('a');
    expect(strategy.pick(set, { random: () => 0.25 })?.id).toBe('b');
    expect(strategy.pick(set, { random: () => 0.9999 })?.id).toBe('b');
  });

  it('clamps out-of-range weights so every instance stays reachable', () => {
    const set = [
      instance('zero', { weight: 0 }),
      instance('huge', { weight: 1e9 }),
      instance('nan', { weight: NaN }),
    ];
    const random = mulberry32(3);
    const counts = tally(repeat(20_000, () => new WeightedRandomStrategy().pick(set, { random })));
    // Clamped to 1, 1000 and the default 100.
    expect(((counts.get('zero') ?? 0) / 20_000) * 1101).toBeCloseTo(1, 0);
    expect(Math.abs((counts.get('huge') ?? 0) / 20_000 - 1000 / 1101)).toBeLessThan(0.01);
    expect(Math.abs((counts.get('nan') ?? 0) / 20_000 - 100 / 1101)).toBeLessThan(0.01);
  });
});
