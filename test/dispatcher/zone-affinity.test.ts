import { describe, expect, it } from 'vitest';
import {
  DispatchError,
  RoundRobinStrategy,
  createStrategy,
  dispatch,
  withZoneAffinity,
  type DispatchInstance,
} from '../../src/dispatcher/index.js';
import { instance, mulberry32, repeat, tally } from './helpers.js';

/** Zone `a` with `healthyInA` of 4 healthy, zone `b` with 4 healthy. */
function service(healthyInA: number): DispatchInstance[] {
  return [
    ...Array.from({ length: 4 }, (_, i) => instance(`a${i}`, { zone: 'a', healthy: i < healthyInA })),
    ...Array.from({ length: 4 }, (_, i) => instance(`b${i}`, { zone: 'b' })),
  ];
}

describe('zone affinity', () => {
  it('zone affinity prefers the zone and spills over below the threshold', () => {
    const strategy = withZoneAffinity(createStrategy('round_robin'), { minHealthyShare: 0.5 });
    const random = mulberry32(1);

    // 3 of 4 healthy in zone a: every pick is a healthy instance of zone a.
    const fit = service(3);
    const local = repeat(300, () => dispatch(fit, strategy, { zone: 'a', random }));
    expect(local.every((r) => r?.zone === 'local' && r.instance.zone === 'a' && r.instance.healthy)).toBe(
      true,
    );
    expect(Object.fromEntries(tally(local.map((r) => r?.instance)))).toEqual({ a0: 100, a1: 100, a2: 100 });

    // Exactly at the threshold (2 of 4) still stays local.
    expect(dispatch(service(2), strategy, { zone: 'a', random })?.zone).toBe('local');

    // 1 of 4 healthy is below 0.5: picks spill over to every healthy instance, both zones.
    const unfit = service(1);
    const spilled = repeat(500, () => dispatch(unfit, strategy, { zone: 'a', random }));
    expect(spilled.every((r) => r?.zone === 'spilled' && r.instance.healthy)).toBe(true);
    expect(Object.fromEntries(tally(spilled.map((r) => r?.instance)))).toEqual({
      a0: 100,
      b0: 100,
      b1: 100,
      b2: 100,
      b3: 100,
    });
  });

  it('spills over when the zone has no healthy instance, or no instance at all', () => {
    const strategy = withZoneAffinity(createStrategy('random'), { minHealthyShare: 0 });
    const random = mulberry32(2);
    const none = dispatch(service(0), strategy, { zone: 'a', random });
    expect(none?.zone).toBe('spilled');
    expect(none?.instance.zone).toBe('b');
    expect(dispatch(service(4), strategy, { zone: 'nowhere', random })?.zone).toBe('spilled');
  });

  it("reports 'none' when the caller gives no zone, or the strategy has no affinity", () => {
    const random = mulberry32(3);
    expect(dispatch(service(4), withZoneAffinity(createStrategy('random')), { random })?.zone).toBe('none');
    expect(dispatch(service(4), createStrategy('random'), { zone: 'a', random })?.zone).toBe('none');
  });

  it('used directly, picks among the healthy instances of the whole service it is given', () => {
    const strategy = withZoneAffinity(new RoundRobinStrategy());
    const fit = service(3);
    expect(
      repeat(30, () => strategy.pick(fit, { zone: 'a' })?.id).every((id) =>
        ['a0', 'a1', 'a2'].includes(id ?? ''),
      ),
    );
    const unfit = service(1);
    for (const pick of repeat(30, () => strategy.pick(unfit, { zone: 'a' })))
      expect(pick?.healthy).toBe(true);
    expect(strategy.pick([instance('x', { healthy: false })], {})).toBeUndefined();
    expect(strategy.name).toBe('round_robin');
  });

  it('keeps each zone rotating when callers from different zones share one strategy object', () => {
    const strategy = withZoneAffinity(createStrategy('round_robin'));
    const set = service(4);
    const picks = [];
    for (let i = 0; i < 40; i++) {
      picks.push(
        dispatch(set, strategy, { zone: 'a' })?.instance,
        dispatch(set, strategy, { zone: 'b' })?.instance,
      );
    }
    expect([...tally(picks).values()]).toEqual(Array(8).fill(10));
  });

  it('rejects a share outside [0, 1]', () => {
    for (const share of [-0.1, 1.1, Number.NaN]) {
      expect(() => withZoneAffinity(createStrategy('random'), { minHealthyShare: share })).toThrow(
        DispatchError,
      );
    }
  });
});
