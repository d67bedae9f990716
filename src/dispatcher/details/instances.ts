/**
 * Small pure helpers shared by the strategies: weights, loads, random indices, id order.
 */
import type { DispatchContext, DispatchInstance } from '../types.js';

export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 1000;
export const DEFAULT_WEIGHT = 100;

/**
 * The weight a strategy uses: clamped to 1..1000, `DEFAULT_WEIGHT` when not a number.
 *
 * Why clamp instead of throw: instances registered by Curator/Spring apps carry whatever their
 * metadata says, and one bad registration must not make every pick of the service fail. Clamping
 * to at least 1 also keeps every instance reachable, so a weighted pick can never find nothing.
 */
export function weightOf(instance: DispatchInstance): number {
  const w = instance.weight;
  if (typeof w !== 'number' || Number.isNaN(w)) return DEFAULT_WEIGHT;
  return Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, w));
}

/** A load figure as a comparable number: missing, negative or not finite counts as 0. */
export function loadFigure(value: number | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** The random source of a context. */
export function randomOf(context: DispatchContext): () => number {
  return context.random ?? Math.random;
}

/**
 * A uniform index in [0, n). Guards against a random source that returns 1, a negative number or
 * NaN (a badly written test double), which would otherwise index past the array.
 */
export function randomIndex(random: () => number, n: number): number {
  const r = random();
  const i = Math.floor(r * n);
  return i >= 0 && i < n ? i : i >= n ? n - 1 : 0;
}

/**
 * The stable order of ids: UTF-16 code-unit order, the same on every replica and independent of
 * the locale (unlike `localeCompare`).
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
