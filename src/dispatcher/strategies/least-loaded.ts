/**
 * Least loaded of two random choices.
 */
import { loadFigure, randomIndex, randomOf, weightOf } from '../details/instances.js';
import type { DispatchContext, DispatchInstance, Strategy } from '../types.js';

/**
 * The power of two choices: samples two distinct instances with `context.random` and picks the
 * less loaded, comparing reported inflight requests, then latency, then CPU (anything not reported
 * counts as 0), and on a tie the higher weight; on a full tie the first sampled.
 *
 * Why two random choices rather than the global minimum: load reports are stale by up to a
 * heartbeat, and every gateway replica sees the same reports, so "always the least loaded" sends
 * every replica's traffic to the same instance until its next report (herding). Two choices keep
 * almost all of the benefit (the maximum load drops exponentially compared with random) while
 * spreading the picks; and the single most loaded instance can never win a comparison.
 *
 * @example
 * ```ts
 * new LeastLoadedStrategy().pick(instances, { random: mulberry32(7) });
 * ```
 */
export class LeastLoadedStrategy implements Strategy {
  readonly name = 'least_loaded' as const;

  pick(instances: readonly DispatchInstance[], context: DispatchContext): DispatchInstance | undefined {
    const n = instances.length;
    if (n <= 1) return instances[0];
    const random = randomOf(context);
    const i = randomIndex(random, n);
    // Draw the second from the n - 1 others and skip over the first: distinct, and still uniform.
    let j = randomIndex(random, n - 1);
    if (j >= i) j++;
    const a = instances[i] as DispatchInstance;
    const b = instances[j] as DispatchInstance;
    return compareLoad(a, b) <= 0 ? a : b;
  }
}

/** Negative when `a` is the better choice, positive when `b` is, 0 on a full tie. */
export function compareLoad(a: DispatchInstance, b: DispatchInstance): number {
  return (
    loadFigure(a.load?.inflight) - loadFigure(b.load?.inflight) ||
    loadFigure(a.load?.latencyMs) - loadFigure(b.load?.latencyMs) ||
    loadFigure(a.load?.cpu) - loadFigure(b.load?.cpu) ||
    weightOf(b) - weightOf(a)
  );
}
