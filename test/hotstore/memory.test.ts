import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryHotStore } from '../../src/hotstore/memory.js';
import type { ExpiredLease } from '../../src/hotstore/store.js';
import { describeHotStoreContract } from './contract.js';

describeHotStoreContract('memory adapter', async () => {
  const stores: MemoryHotStore[] = [];
  return {
    async open() {
      const store = new MemoryHotStore();
      stores.push(store);
      return store;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
});

/** A store on a clock the test moves. */
function clocked(start = 1_000_000): { store: MemoryHotStore; advance(ms: number): void } {
  let now = start;
  return { store: new MemoryHotStore({ now: () => now }), advance: (ms) => void (now += ms) };
}

/** What expired() must answer, by sorting every lease: the definition the heap must match. */
function naiveExpired(leases: Map<string, number>, now: number, limit: number): ExpiredLease[] {
  return [...leases]
    .map(([key, expiresAt]) => {
      const [service, instance] = key.split('\u0000') as [string, string];
      return { service, instance, expiresAt };
    })
    .filter((e) => e.expiresAt <= now)
    .sort(
      (a, b) =>
        a.expiresAt - b.expiresAt ||
        (a.service < b.service ? -1 : a.service > b.service ? 1 : a.instance < b.instance ? -1 : 1),
    )
    .slice(0, limit);
}

const serviceName: fc.Arbitrary<string> = fc.constantFrom('a', 'b', 'ab');
const instanceName: fc.Arbitrary<string> = fc.constantFrom('1', '2', '3', '10');
const renewOp = fc.record({
  kind: fc.constant('renew' as const),
  service: serviceName,
  instance: instanceName,
  ttlMs: fc.integer({ min: 1, max: 50 }),
});
const removeOp = fc.record({
  kind: fc.constant('remove' as const),
  service: serviceName,
  instance: instanceName,
});
const advanceOp = fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 20 }) });
const op = fc.oneof(
  renewOp,
  removeOp,
  advanceOp,
  fc.record({
    kind: fc.constant('expired' as const),
    ahead: fc.integer({ min: -10, max: 60 }),
    limit: fc.integer({ min: 0, max: 15 }),
  }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

describe('MemoryHotStore', () => {
  it('runs on the injected clock', async () => {
    const { store, advance } = clocked();
    expect(await store.now()).toBe(1_000_000);
    expect(await store.generation()).toMatchObject({ since: 1_000_000 });
    const lease = await store.renewLease('billing', 'b-1', 500);
    expect(lease).toEqual({ renewedAt: 1_000_000, expiresAt: 1_000_500, ttlMs: 500 });
    advance(499);
    expect(await store.expired(await store.now(), 10)).toEqual([]);
    advance(1);
    expect(await store.expired(await store.now(), 10)).toEqual([
      { service: 'billing', instance: 'b-1', expiresAt: 1_000_500 },
    ]);
  });

  it('never emits state changes and stays connected until closed', async () => {
    const store = new MemoryHotStore();
    const events: unknown[] = [];
    const off = store.onStateChange((e) => events.push(e));
    await store.renewLease('billing', 'b-1', 500);
    off();
    expect(events).toEqual([]);
    expect(store.state).toBe('connected');
  });

  /** Random operations on a clocked store, checked against {@link naiveExpired} after each listing. */
  async function checkAgainstModel(ops: Op[]): Promise<void> {
    const { store, advance } = clocked();
    const model = new Map<string, number>();
    for (const o of ops) {
      if (o.kind === 'renew') {
        const lease = await store.renewLease(o.service, o.instance, o.ttlMs);
        model.set(`${o.service}\u0000${o.instance}`, lease.expiresAt);
      } else if (o.kind === 'remove') {
        await store.removeLease(o.service, o.instance);
        model.delete(`${o.service}\u0000${o.instance}`);
      } else if (o.kind === 'advance') {
        advance(o.ms);
      } else {
        const now = (await store.now()) + o.ahead;
        expect(await store.expired(now, o.limit)).toEqual(naiveExpired(model, now, o.limit));
      }
    }
    const last = await store.now();
    for (const now of [last - 10, last, last + 25, Number.MAX_SAFE_INTEGER]) {
      expect(await store.expired(now, 1_000)).toEqual(naiveExpired(model, now, 1_000));
    }
  }

  it('answers expired() as sorting every lease would, through renewals and removals', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op), checkAgainstModel), { numRuns: 200 });
  });

  it('still does after thousands of renewals, when the index compacts its outdated entries', async () => {
    // Compaction starts at 1024 index entries; listings drop outdated ones, so only a long run
    // without listings gets there. Cold leases, renewed once up front in an order unlike their
    // expiry, are only found afterwards if compaction keeps every live lease in heap order.
    const cold: Op[] = Array.from({ length: 20 }, (_, i) => ({
      kind: 'renew',
      service: 'cold',
      instance: `c${i}`,
      ttlMs: 40 + ((i * 7) % 20),
    }));
    const renewHeavy = fc.oneof(
      { arbitrary: renewOp, weight: 20 },
      { arbitrary: removeOp, weight: 1 },
      advanceOp,
    );
    await fc.assert(
      fc.asyncProperty(fc.array(renewHeavy, { minLength: 3_000, maxLength: 4_000 }), (ops) =>
        checkAgainstModel([...cold, ...ops]),
      ),
      { numRuns: 10 },
    );
  });

  it('serves expired() at 100k leases without sorting them per call', async () => {
    const { store, advance } = clocked();
    for (let i = 0; i < 100_000; i++) await store.renewLease(`s${i % 100}`, `i${i}`, 10_000 + (i % 5_000));
    // Renew half of them past everything else, leaving outdated entries in the index.
    advance(1_000);
    for (let i = 0; i < 100_000; i += 2) await store.renewLease(`s${i % 100}`, `i${i}`, 60_000);
    const now = (await store.now()) + 20_000;
    const started = performance.now();
    let first: ExpiredLease[] = [];
    for (let call = 0; call < 200; call++) first = await store.expired(now, 100);
    const perCallMs = (performance.now() - started) / 200;
    expect(first).toHaveLength(100);
    expect(first.every((e) => Number(e.instance.slice(1)) % 2 === 1)).toBe(true);
    expect(first.map((e) => e.expiresAt)).toEqual([...first.map((e) => e.expiresAt)].sort((a, b) => a - b));
    // Sorting 100k leases takes tens of ms; a heap walk of 100 entries well under one.
    expect(perCallMs).toBeLessThan(5);
  });
});
