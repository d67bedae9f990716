import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DispatchError,
  STRATEGY_NAMES,
  createStrategy,
  dispatch,
  isStrategyName,
  withZoneAffinity,
  type DispatchInstance,
  type StrategyName,
} from '../../src/dispatcher/index.js';
import { instance, instances, mulberry32, repeat, tally } from './helpers.js';

describe('dispatch', () => {
  it('protection threshold spreads over all', () => {
    // 1 healthy of 4 is a share of 0.25, below 0.5: spread over all four, healthy or not.
    const set = [instance('up'), ...['d1', 'd2', 'd3'].map((id) => instance(id, { healthy: false }))];
    const strategy = createStrategy('round_robin');
    const results = repeat(400, () => dispatch(set, strategy, {}, { protectThreshold: 0.5 }));
    expect(results.every((r) => r?.protected === true)).toBe(true);
    expect(Object.fromEntries(tally(results.map((r) => r?.instance)))).toEqual({
      up: 100,
      d1: 100,
      d2: 100,
      d3: 100,
    });

    // At or above the threshold: healthy instances only, not protected.
    const half = [
      instance('u1'),
      instance('u2'),
      instance('d1', { healthy: false }),
      instance('d2', { healthy: false }),
    ];
    const normal = repeat(100, () => dispatch(half, strategy, {}, { protectThreshold: 0.5 }));
    expect(normal.every((r) => r?.protected === false && r.instance.healthy)).toBe(true);
  });

  it('protects even when nothing is healthy, but only with a threshold', () => {
    const down = instances(3, { healthy: false });
    const strategy = createStrategy('random');
    expect(dispatch(down, strategy, {})).toBeUndefined();
    const protectedPick = dispatch(down, strategy, {}, { protectThreshold: 0.1 });
    expect(protectedPick?.protected).toBe(true);
    expect(down).toContain(protectedPick?.instance);
  });

  it('protection and zone affinity compose: a fit zone stays local under protection', () => {
    const set = [
      instance('a0', { zone: 'a' }),
      instance('a1', { zone: 'a' }),
      ...Array.from({ length: 8 }, (_, i) => instance(`b${i}`, { zone: 'b', healthy: false })),
    ];
    const strategy = withZoneAffinity(createStrategy('round_robin'));
    const local = dispatch(set, strategy, { zone: 'a' }, { protectThreshold: 0.5 });
    expect(local).toMatchObject({ protected: true, zone: 'local' });
    expect(local?.instance.zone).toBe('a');
    const spilled = repeat(10, () => dispatch(set, strategy, { zone: 'b' }, { protectThreshold: 0.5 }));
    expect(spilled.every((r) => r?.protected && r.zone === 'spilled')).toBe(true);
    expect(new Set(spilled.map((r) => r?.instance.id)).size).toBe(10);
  });

  it('returns undefined for empty input with every strategy', () => {
    for (const name of STRATEGY_NAMES) {
      const context = { key: 'k', zone: 'a', random: mulberry32(1) };
      expect(dispatch([], createStrategy(name), context)).toBeUndefined();
      expect(
        dispatch([], withZoneAffinity(createStrategy(name)), context, { protectThreshold: 1 }),
      ).toBeUndefined();
      expect(createStrategy(name).pick([], context)).toBeUndefined();
    }
  });

  it('rejects a threshold outside [0, 1]', () => {
    for (const threshold of [-1, 1.01, Number.NaN]) {
      const error = (() => {
        try {
          dispatch(instances(2), createStrategy('random'), {}, { protectThreshold: threshold });
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(DispatchError);
      expect((error as DispatchError).code).toBe('INVALID_OPTION');
    }
  });

  it('property: any pick is one of the eligible instances', () => {
    const arbInstance = fc.record({
      id: fc.string({ minLength: 1, maxLength: 6 }),
      weight: fc.integer({ min: 1, max: 1000 }),
      zone: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
      healthy: fc.boolean(),
      load: fc.option(
        fc.record(
          { inflight: fc.nat(100), latencyMs: fc.nat(500), cpu: fc.double({ min: 0, max: 1, noNaN: true }) },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(arbInstance, { selector: (i) => i.id, maxLength: 12 }),
        fc.constantFrom(...STRATEGY_NAMES),
        fc.boolean(),
        fc.option(fc.constantFrom('a', 'b', 'c', 'z'), { nil: undefined }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer(),
        (raw, name: StrategyName, zoned, zone, threshold, share, seed) => {
          const set: DispatchInstance[] = raw.map((r) => ({ ...r, address: '10.0.0.1', port: 80 }));
          const base = createStrategy(name);
          const strategy = zoned ? withZoneAffinity(base, { minHealthyShare: share }) : base;
          const random = mulberry32(seed);
          const healthy = set.filter((i) => i.healthy);
          const isProtected = set.length > 0 && healthy.length / set.length < threshold;
          const eligible = isProtected ? set : healthy;
          for (let n = 0; n < 5; n++) {
            const result = dispatch(
              set,
              strategy,
              { key: `k${n}`, zone, random },
              { protectThreshold: threshold },
            );
            if (eligible.length === 0) {
              expect(result).toBeUndefined();
              continue;
            }
            expect(result).toBeDefined();
            expect(eligible).toContain(result?.instance);
            expect(result?.protected).toBe(isProtected);
            if (result?.zone === 'local') expect(result.instance.zone).toBe(zone);
            if (!zoned || zone === undefined) expect(result?.zone).toBe('none');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('createStrategy', () => {
  it('makes a fresh strategy of every name', () => {
    expect(STRATEGY_NAMES).toEqual([
      'round_robin',
      'weighted_round_robin',
      'random',
      'weighted_random',
      'consistent_hash',
      'least_loaded',
    ]);
    for (const name of STRATEGY_NAMES) {
      const strategy = createStrategy(name);
      expect(strategy.name).toBe(name);
      expect(createStrategy(name)).not.toBe(strategy);
    }
  });

  it('rejects unknown names with UNKNOWN_STRATEGY', () => {
    for (const name of ['sticky', 'toString', '__proto__', '']) {
      expect(isStrategyName(name)).toBe(false);
      expect(() => createStrategy(name as StrategyName)).toThrow(
        expect.objectContaining({ name: 'DispatchError', code: 'UNKNOWN_STRATEGY' }),
      );
    }
    expect(isStrategyName('least_loaded')).toBe(true);
    expect(isStrategyName(42)).toBe(false);
  });
});
