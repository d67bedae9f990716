/**
 * Test helpers for the dispatcher: a seeded PRNG and instance builders.
 */
import type { DispatchInstance } from '../../src/dispatcher/index.js';

/**
 * mulberry32: a tiny seeded PRNG, uniform in [0, 1). Good enough for sampling tests and fully
 * reproducible, so a proportion test that passes once passes always.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An instance with sensible defaults; `id` doubles as the address's last octet source. */
export function instance(id: string, overrides: Partial<DispatchInstance> = {}): DispatchInstance {
  return { id, address: `10.0.0.${id.length}`, port: 8080, weight: 100, healthy: true, ...overrides };
}

/** `n` healthy instances `i00`, `i01`, ... with default weight. */
export function instances(n: number, overrides: Partial<DispatchInstance> = {}): DispatchInstance[] {
  return Array.from({ length: n }, (_, i) => instance(`i${String(i).padStart(2, '0')}`, overrides));
}

/** How many times each id was picked. */
export function tally(picks: readonly (DispatchInstance | undefined)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const pick of picks) {
    const id = pick?.id ?? '<none>';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** `count` picks from `pick`. */
export function repeat<T>(count: number, pick: () => T): T[] {
  return Array.from({ length: count }, pick);
}

/** A copy of `items` in a seeded random order. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
