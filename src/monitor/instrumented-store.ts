/**
 * A coordination store that times every operation into a histogram, by operation and result (ok
 * or ZooKeeper's error name, e.g. NO_NODE). It wraps the port, not an adapter, so the embedded
 * store and ZooKeeper are measured the same way, and no domain code knows it is measured.
 */
import type { Histogram } from 'prom-client';
import { isStoreError } from '../coordination/errors.js';
import type { CoordinationStore } from '../coordination/store.js';

const OPERATIONS = [
  'create',
  'getData',
  'exists',
  'getChildren',
  'setData',
  'delete',
  'multi',
  'getACL',
  'setACL',
] as const;
type Operation = (typeof OPERATIONS)[number];

export function instrumentStore(
  store: CoordinationStore,
  histogram: Histogram<'op' | 'result'>,
): CoordinationStore {
  const timed = new Map<string, unknown>();
  for (const op of OPERATIONS) {
    const call = (store[op] as (...args: unknown[]) => Promise<unknown>).bind(store);
    timed.set(op, async (...args: unknown[]) => {
      const end = histogram.startTimer({ op });
      try {
        const result = await call(...args);
        end({ result: 'ok' });
        return result;
      } catch (err) {
        end({ result: isStoreError(err) ? err.codeName : 'error' });
        throw err;
      }
    });
  }
  return new Proxy(store, {
    get(target, property) {
      if (typeof property === 'string' && timed.has(property as Operation)) return timed.get(property);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
