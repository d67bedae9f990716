import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeastLoadedStrategy, compareLoad, type DispatchInstance } from '../../src/dispatcher/index.js';
import { instance, mulberry32, repeat, tally } from './helpers.js';

describe('least_loaded', () => {
  it('prefers the lower load: of two instances, always the less loaded', () => {
    const set = [instance('busy', { load: { inflight: 9 } }), instance('idle', { load: { inflight: 1 } })];
    const random = mulberry32(1);
    const counts = tally(repeat(1000, () => new LeastLoadedStrategy().pick(set, { random })));
    expect(Object.fromEntries(counts)).toEqual({ idle: 1000 });
  });

  it('compares inflight, then latency, then cpu, then weight; missing load counts as 0', () => {
    const at = (load: DispatchInstance['load'], weight = 100) => instance('x', { load, weight });
    expect(compareLoad(at({ inflight: 1, latencyMs: 1 }), at({ inflight: 2 }))).toBeLessThan(0);
    expect(compareLoad(at({ inflight: 1, latencyMs: 5 }), at({ inflight: 1, latencyMs: 9 }))).toBeLessThan(0);
    expect(
      compareLoad(at({ inflight: 1, latencyMs: 5, cpu: 0.9 }), at({ inflight: 1, latencyMs: 5, cpu: 0.1 })),
    ).toBeGreaterThan(0);
    expect(compareLoad(at({ inflight: 1 }, 300), at({ inflight: 1 }, 100))).toBeLessThan(0);
    expect(compareLoad(at(undefined), at({ inflight: 1 }))).toBeLessThan(0);
    expect(compareLoad(at({ inflight: Number.NaN }), at({ inflight: 0 }))).toBe(0);
    expect(compareLoad(at(undefined), at({}))).toBe(0);
  });

  it('spreads picks over the less loaded instances rather than herding onto one', () => {
    const set = Array.from({ length: 10 }, (_, i) => instance(`n${i}`, { load: { inflight: i } }));
    const random = mulberry32(9);
    const counts = tally(repeat(10_000, () => new LeastLoadedStrategy().pick(set, { random })));
    // Instance of rank r (0 best) wins with probability 2(n-1-r)/(n(n-1)): 20% for n0, 0 for n9.
    expect(Math.abs((counts.get('n0') ?? 0) / 10_000 - 0.2)).toBeLessThan(0.02);
    expect(counts.get('n9')).toBeUndefined();
    expect(counts.size).toBe(9);
  });

  it('property: never picks the single worst of N > 2 (power of two choices)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 10_000 }), { minLength: 3, maxLength: 30 }),
        fc.integer(),
        (loads, seed) => {
          const set = loads.map((inflight, i) => instance(`n${i}`, { load: { inflight } }));
          const worst = set[loads.indexOf(Math.max(...loads))];
          const random = mulberry32(seed);
          const strategy = new LeastLoadedStrategy();
          for (let i = 0; i < 50; i++) expect(strategy.pick(set, { random })).not.toBe(worst);
        },
      ),
    );
  });

  it('samples two distinct instances even when random() keeps returning the same value', () => {
    const set = [instance('a', { load: { inflight: 5 } }), instance('b', { load: { inflight: 1 } })];
    for (const value of [0, 0.5, 0.999]) {
      expect(new LeastLoadedStrategy().pick(set, { random: () => value })?.id).toBe('b');
    }
  });

  it('returns the only instance, or undefined for none', () => {
    const solo = instance('solo', { load: { inflight: 99 } });
    expect(new LeastLoadedStrategy().pick([solo], {})).toBe(solo);
    expect(new LeastLoadedStrategy().pick([], {})).toBeUndefined();
  });
});
