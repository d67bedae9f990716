/**
 * The hot-store contract: what the port documents, run against every adapter
 * (`memory.test.ts`, `redis.test.ts`). Each test opens its own store with its own empty data.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HotStoreError, type HotStoreErrorCode } from '../../src/hotstore/errors.js';
import {
  MAX_CHECK_TEXT_LENGTH,
  MAX_LEASE_TTL_MS,
  MAX_RENEWAL_BATCH,
  type CheckResult,
  type HotStore,
  type HotStoreStateEvent,
  type Lease,
  type LeaseRenewal,
} from '../../src/hotstore/store.js';

export interface HotStoreBackend {
  /** A new store with its own, empty data. */
  open(): Promise<HotStore>;
  /** Close every store opened here and release the backend. */
  stop(): Promise<void>;
}

/** The code a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function failureCode(promise: Promise<unknown>): Promise<HotStoreErrorCode> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HotStoreError);
    return (err as HotStoreError).code;
  }
  throw new Error('expected the operation to fail');
}

/** Expired entries of one service, as the global index holds them. */
async function indexed(
  store: HotStore,
  service: string,
): Promise<Array<{ instance: string; expiresAt: number }>> {
  const all = await store.expired(Number.MAX_SAFE_INTEGER, 1_000_000);
  return all.filter((e) => e.service === service).map(({ instance, expiresAt }) => ({ instance, expiresAt }));
}

/** A passed check by replica `gw-1`, with `overrides` applied. */
function check(overrides: Partial<CheckResult> = {}): CheckResult {
  return { ok: true, at: 1_700_000_000_000, latencyMs: 12, by: 'gw-1', ...overrides };
}

export function describeHotStoreContract(name: string, start: () => Promise<HotStoreBackend>): void {
  describe(`HotStore contract: ${name}`, () => {
    let backend: HotStoreBackend;

    beforeAll(async () => {
      backend = await start();
    });

    afterAll(async () => {
      await backend?.stop();
    });

    describe('renewLease', () => {
      it('creates a lease on the store clock', async () => {
        const store = await backend.open();
        expect(store.state).toBe('connected');
        const before = await store.now();
        const lease = await store.renewLease('billing', 'b-1', 5_000);
        const after = await store.now();
        expect(lease.renewedAt).toBeGreaterThanOrEqual(before);
        expect(lease.renewedAt).toBeLessThanOrEqual(after);
        expect(lease).toEqual({
          renewedAt: lease.renewedAt,
          expiresAt: lease.renewedAt + 5_000,
          ttlMs: 5_000,
        });
        expect('load' in lease).toBe(false);
        expect(await store.getLease('billing', 'b-1')).toEqual(lease);
      });

      it('extends the lease, and a shorter ttl shortens it', async () => {
        const store = await backend.open();
        const first = await store.renewLease('billing', 'b-1', 10_000);
        await sleep(5);
        const second = await store.renewLease('billing', 'b-1', 10_000);
        expect(second.renewedAt).toBeGreaterThan(first.renewedAt);
        expect(second.expiresAt).toBeGreaterThan(first.expiresAt);
        const third = await store.renewLease('billing', 'b-1', 1_000);
        expect(third.expiresAt).toBe(third.renewedAt + 1_000);
        expect(third.expiresAt).toBeLessThan(second.expiresAt);
        expect(await store.getLease('billing', 'b-1')).toEqual(third);
        expect(await indexed(store, 'billing')).toEqual([{ instance: 'b-1', expiresAt: third.expiresAt }]);
      });

      it('stores the load report as given, and a renewal without one drops it', async () => {
        const store = await backend.open();
        const load = { inflight: 7, cpu: 0.625, latencyMs: 12.5 };
        const lease = await store.renewLease('billing', 'b-1', 3_000, load);
        expect(lease.load).toEqual(load);
        expect((await store.getLease('billing', 'b-1'))?.load).toEqual(load);
        expect((await store.renewLease('billing', 'b-1', 3_000, { cpu: 0 })).load).toEqual({ cpu: 0 });
        expect((await store.renewLease('billing', 'b-1', 3_000, {})).load).toEqual({});
        const bare = await store.renewLease('billing', 'b-1', 3_000);
        expect(bare.load).toBeUndefined();
        expect((await store.getLease('billing', 'b-1'))?.load).toBeUndefined();
      });

      it('keeps only the known load fields and is not affected by later mutation', async () => {
        const store = await backend.open();
        const load = { inflight: 1, extra: 'ignored' } as { inflight: number };
        const lease = await store.renewLease('billing', 'b-1', 3_000, load);
        load.inflight = 99;
        expect(lease.load).toEqual({ inflight: 1 });
        expect((await store.getLease('billing', 'b-1'))?.load).toEqual({ inflight: 1 });
      });

      it('applies concurrent renewals of one instance atomically: the last wins, one index entry', async () => {
        const store = await backend.open();
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            store.renewLease('billing', 'b-1', 1_000 + i, { inflight: i }),
          ),
        );
        const last = results.at(-1) as Lease;
        expect(await store.getLease('billing', 'b-1')).toEqual(last);
        expect([...(await store.leases('billing')).keys()]).toEqual(['b-1']);
        expect(await indexed(store, 'billing')).toEqual([{ instance: 'b-1', expiresAt: last.expiresAt }]);
      });

      it('keeps services apart whose keys share a prefix, and takes any name without NUL', async () => {
        const store = await backend.open();
        await store.renewLease('a', 'b:c', 1_000);
        await store.renewLease('a:b', 'c', 2_000);
        await store.renewLease('ünï côdé', 'inst ance/1', 3_000);
        expect([...(await store.leases('a')).keys()]).toEqual(['b:c']);
        expect([...(await store.leases('a:b')).keys()]).toEqual(['c']);
        expect([...(await store.leases('ünï côdé')).keys()]).toEqual(['inst ance/1']);
        const expired = await store.expired(Number.MAX_SAFE_INTEGER, 10);
        expect(expired.map(({ service, instance }) => [service, instance])).toEqual([
          ['a', 'b:c'],
          ['a:b', 'c'],
          ['ünï côdé', 'inst ance/1'],
        ]);
      });
    });

    describe('renewLeases', () => {
      it('renews a batch across many services, each lease as renewLease makes it, in order', async () => {
        const store = await backend.open();
        // 40 services spread over every shard of a Cluster, several instances each.
        const renewals = Array.from({ length: 200 }, (_, i) => ({
          service: `svc-${i % 40}`,
          instance: `i-${i}`,
          ttlMs: 5_000 + i,
          ...(i % 3 === 0 ? {} : { load: { inflight: i, cpu: i / 100 } }),
        }));
        const before = await store.now();
        const leases = await store.renewLeases(renewals);
        const after = await store.now();
        expect(leases).toHaveLength(renewals.length);
        for (const [i, lease] of leases.entries()) {
          const { service, instance, ttlMs, load } = renewals[i] as (typeof renewals)[number];
          expect(lease.renewedAt).toBeGreaterThanOrEqual(before);
          expect(lease.renewedAt).toBeLessThanOrEqual(after);
          expect(lease).toEqual({
            renewedAt: lease.renewedAt,
            expiresAt: lease.renewedAt + ttlMs,
            ttlMs,
            ...(load && { load }),
          });
          expect('load' in lease).toBe(load !== undefined);
          expect(await store.getLease(service, instance)).toEqual(lease);
        }
        expect([...(await store.leases('svc-7')).keys()].sort()).toEqual(
          renewals
            .filter((r) => r.service === 'svc-7')
            .map((r) => r.instance)
            .sort(),
        );
        const expired = await store.expired(Number.MAX_SAFE_INTEGER, 1_000);
        expect(expired).toHaveLength(renewals.length);
        expect(new Set(expired.map((e) => `${e.service}/${e.instance}/${e.expiresAt}`))).toEqual(
          new Set(leases.map((l, i) => `${renewals[i]?.service}/${renewals[i]?.instance}/${l.expiresAt}`)),
        );
      });

      it('extends leases renewed one by one, keeps the later of an instance listed twice, takes an empty batch', async () => {
        const store = await backend.open();
        const first = await store.renewLease('billing', 'b-1', 60_000, { inflight: 1 });
        await store.renewLease('orders', 'o-1', 60_000);
        await sleep(5);
        const [renewed, , twice] = await store.renewLeases([
          { service: 'billing', instance: 'b-1', ttlMs: 60_000 },
          { service: 'orders', instance: 'o-1', ttlMs: 1_000, load: { cpu: 1 } },
          { service: 'orders', instance: 'o-1', ttlMs: 2_000, load: { cpu: 2 } },
        ]);
        expect(renewed?.expiresAt).toBeGreaterThan(first.expiresAt);
        expect(renewed?.load).toBeUndefined();
        expect(await store.getLease('billing', 'b-1')).toEqual(renewed);
        expect(twice).toMatchObject({ ttlMs: 2_000, load: { cpu: 2 } });
        expect(await store.getLease('orders', 'o-1')).toEqual(twice);
        expect(await indexed(store, 'orders')).toEqual([{ instance: 'o-1', expiresAt: twice?.expiresAt }]);
        expect(await store.renewLeases([])).toEqual([]);
      });

      it('keeps only the known load fields, whatever the caller changes later', async () => {
        const store = await backend.open();
        const load = { inflight: 1, extra: 'ignored' } as { inflight: number };
        const renewals = [{ service: 'billing', instance: 'b-1', ttlMs: 3_000, load }];
        const [lease] = await store.renewLeases(renewals);
        load.inflight = 99;
        renewals[0] = { service: 'billing', instance: 'b-2', ttlMs: 3_000, load };
        expect(lease?.load).toEqual({ inflight: 1 });
        expect((await store.getLease('billing', 'b-1'))?.load).toEqual({ inflight: 1 });
        expect(await store.getLease('billing', 'b-2')).toBeUndefined();
      });

      it('refuses a batch with any bad renewal, or too many, with BAD_ARGUMENTS and renews nothing', async () => {
        const store = await backend.open();
        const good = { service: 's', instance: 'x', ttlMs: 1_000 };
        const bad: unknown[] = [
          { ...good, service: '' },
          { ...good, instance: 'x\u0000y' },
          { ...good, ttlMs: 0 },
          { ...good, ttlMs: MAX_LEASE_TTL_MS + 1 },
          { ...good, load: { cpu: -1 } },
          { ...good, load: 'busy' },
          null,
        ];
        for (const renewal of bad) {
          const batch = [good, renewal] as LeaseRenewal[];
          expect(await failureCode(store.renewLeases(batch))).toBe('BAD_ARGUMENTS');
        }
        const tooMany = Array.from({ length: MAX_RENEWAL_BATCH + 1 }, (_, i) => ({
          ...good,
          instance: `x${i}`,
        }));
        expect(await failureCode(store.renewLeases(tooMany))).toBe('BAD_ARGUMENTS');
        expect(await failureCode(store.renewLeases('s' as unknown as LeaseRenewal[]))).toBe('BAD_ARGUMENTS');
        expect(await store.leases('s')).toEqual(new Map());
        const full = tooMany.slice(1);
        expect(await store.renewLeases(full)).toHaveLength(MAX_RENEWAL_BATCH);
        expect((await store.leases('s')).size).toBe(MAX_RENEWAL_BATCH);
      });
    });

    describe('reads and removal', () => {
      it('answers undefined and an empty map for what does not exist', async () => {
        const store = await backend.open();
        expect(await store.getLease('nothing', 'x')).toBeUndefined();
        expect(await store.leases('nothing')).toEqual(new Map());
        expect(await store.expired(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      });

      it('lists every lease of one service, expired ones included', async () => {
        const store = await backend.open();
        const a = await store.renewLease('billing', 'b-1', 1);
        const b = await store.renewLease('billing', 'b-2', 60_000, { inflight: 2 });
        await store.renewLease('orders', 'o-1', 60_000);
        await sleep(5);
        expect(await store.leases('billing')).toEqual(
          new Map([
            ['b-1', a],
            ['b-2', b],
          ]),
        );
      });

      it('removes a lease from every view; removing a missing one is a no-op', async () => {
        const store = await backend.open();
        await store.renewLease('billing', 'b-1', 1_000);
        const kept = await store.renewLease('billing', 'b-2', 1_000);
        await store.removeLease('billing', 'b-1');
        await store.removeLease('billing', 'b-1');
        await store.removeLease('nothing', 'x');
        expect(await store.getLease('billing', 'b-1')).toBeUndefined();
        expect(await store.leases('billing')).toEqual(new Map([['b-2', kept]]));
        expect(await indexed(store, 'billing')).toEqual([{ instance: 'b-2', expiresAt: kept.expiresAt }]);
        await store.removeLease('billing', 'b-2');
        expect(await store.leases('billing')).toEqual(new Map());
        expect(await store.expired(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      });
    });

    describe('check results', () => {
      it('keeps the latest result per instance, replacing the previous one', async () => {
        const store = await backend.open();
        expect(await store.checkResults('billing')).toEqual(new Map());
        const failed = check({ ok: false, at: 1_700_000_000_500, latencyMs: 2_000.5, detail: 'timed out' });
        await store.recordCheck('billing', 'b-1', check());
        await store.recordCheck('billing', 'b-2', check({ by: 'gw-2', detail: '' }));
        await store.recordCheck('billing', 'b-1', failed);
        const results = await store.checkResults('billing');
        expect(results).toEqual(
          new Map([
            ['b-1', failed],
            ['b-2', check({ by: 'gw-2', detail: '' })],
          ]),
        );
        await store.recordCheck('billing', 'b-1', check({ at: 0, latencyMs: 0 }));
        const replaced = (await store.checkResults('billing')).get('b-1');
        expect(replaced).toEqual(check({ at: 0, latencyMs: 0 }));
        expect(replaced && 'detail' in replaced).toBe(false);
      });

      it('keeps only the known fields and is not affected by later mutation', async () => {
        const store = await backend.open();
        const result = { ...check({ detail: 'HTTP 500' }), extra: 'ignored' } as {
          -readonly [K in keyof CheckResult]: CheckResult[K];
        };
        await store.recordCheck('billing', 'b-1', result);
        result.ok = false;
        result.detail = 'changed';
        expect((await store.checkResults('billing')).get('b-1')).toStrictEqual(check({ detail: 'HTTP 500' }));
      });

      it('keeps services apart, including ones whose names share a prefix, and apart from leases', async () => {
        const store = await backend.open();
        await store.recordCheck('a', 'b:c', check({ by: 'one' }));
        await store.recordCheck('a:b', 'c', check({ by: 'two' }));
        await store.recordCheck('ünï côdé', 'inst ance/1', check({ by: 'three' }));
        expect(await store.checkResults('a')).toEqual(new Map([['b:c', check({ by: 'one' })]]));
        expect(await store.checkResults('a:b')).toEqual(new Map([['c', check({ by: 'two' })]]));
        expect(await store.checkResults('ünï côdé')).toEqual(
          new Map([['inst ance/1', check({ by: 'three' })]]),
        );
        expect(await store.checkResults('orders')).toEqual(new Map());
        // A result is no lease, and a renewal leaves the result alone.
        expect(await store.leases('a')).toEqual(new Map());
        expect(await store.expired(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
        const lease = await store.renewLease('a', 'b:c', 1_000);
        expect(await store.checkResults('a')).toEqual(new Map([['b:c', check({ by: 'one' })]]));
        expect(await store.leases('a')).toEqual(new Map([['b:c', lease]]));
      });

      it('forgets the result with the lease on removeLease, also of an instance without a lease', async () => {
        const store = await backend.open();
        await store.renewLease('billing', 'b-1', 60_000);
        const kept = await store.renewLease('billing', 'b-2', 60_000);
        await store.recordCheck('billing', 'b-1', check());
        await store.recordCheck('billing', 'b-2', check({ ok: false }));
        await store.recordCheck('billing', 'b-3', check({ by: 'gw-3' }));
        await store.recordCheck('orders', 'b-1', check());
        await store.removeLease('billing', 'b-1');
        expect(await store.getLease('billing', 'b-1')).toBeUndefined();
        expect(await store.checkResults('billing')).toEqual(
          new Map([
            ['b-2', check({ ok: false })],
            ['b-3', check({ by: 'gw-3' })],
          ]),
        );
        await store.removeLease('billing', 'b-3');
        expect(await store.checkResults('billing')).toEqual(new Map([['b-2', check({ ok: false })]]));
        expect(await store.leases('billing')).toEqual(new Map([['b-2', kept]]));
        await store.removeLease('billing', 'b-2');
        expect(await store.checkResults('billing')).toEqual(new Map());
        expect(await store.checkResults('orders')).toEqual(new Map([['b-1', check()]]));
        // A service whose results were all removed takes new ones.
        await store.recordCheck('billing', 'b-1', check());
        expect(await store.checkResults('billing')).toEqual(new Map([['b-1', check()]]));
      });

      it('cuts a long detail to the limit, never through a surrogate pair, and takes the longest by', async () => {
        const store = await backend.open();
        const limit = MAX_CHECK_TEXT_LENGTH;
        const exact = 'e'.repeat(limit);
        const long = `${'x'.repeat(limit)}<html>a whole error page</html>`;
        const emoji = `${'y'.repeat(limit - 1)}\u{1F4A5} and more`;
        await store.recordCheck('billing', 'exact', check({ detail: exact }));
        await store.recordCheck('billing', 'long', check({ detail: long }));
        await store.recordCheck('billing', 'emoji', check({ detail: emoji }));
        await store.recordCheck('billing', 'by', check({ by: 'r'.repeat(limit) }));
        const results = await store.checkResults('billing');
        expect(results.get('exact')?.detail).toBe(exact);
        expect(results.get('long')?.detail).toBe('x'.repeat(limit));
        expect(results.get('emoji')?.detail).toBe('y'.repeat(limit - 1));
        expect(results.get('by')?.by).toBe('r'.repeat(limit));
      });
    });

    describe('expired', () => {
      it('lists leases expired at or before now across services, earliest first, up to limit', async () => {
        const store = await backend.open();
        const a = await store.renewLease('billing', 'b-1', 1_000);
        const c = await store.renewLease('billing', 'b-2', 3_000);
        const b = await store.renewLease('orders', 'o-1', 2_000);
        const later = await store.renewLease('orders', 'o-2', 60_000);
        const entry = (service: string, instance: string, lease: Lease) => ({
          service,
          instance,
          expiresAt: lease.expiresAt,
        });
        expect(await store.expired(a.expiresAt - 1, 10)).toEqual([]);
        expect(await store.expired(a.expiresAt, 10)).toEqual([entry('billing', 'b-1', a)]);
        expect(await store.expired(c.expiresAt, 10)).toEqual([
          entry('billing', 'b-1', a),
          entry('orders', 'o-1', b),
          entry('billing', 'b-2', c),
        ]);
        expect(await store.expired(c.expiresAt, 2)).toEqual([
          entry('billing', 'b-1', a),
          entry('orders', 'o-1', b),
        ]);
        expect(await store.expired(c.expiresAt, 0)).toEqual([]);
        // Listing removes nothing.
        expect(await store.expired(later.expiresAt, 10)).toHaveLength(4);
        expect(await store.expired(later.expiresAt, 10)).toHaveLength(4);
      });

      it('drops a renewed lease until its new expiry', async () => {
        const store = await backend.open();
        const a = await store.renewLease('billing', 'b-1', 1_000);
        const b = await store.renewLease('billing', 'b-2', 2_000);
        const renewed = await store.renewLease('billing', 'b-1', 10_000);
        expect(await store.expired(b.expiresAt, 10)).toEqual([
          { service: 'billing', instance: 'b-2', expiresAt: b.expiresAt },
        ]);
        expect(a.expiresAt).toBeLessThan(b.expiresAt);
        expect(await store.expired(renewed.expiresAt, 10)).toEqual([
          { service: 'billing', instance: 'b-2', expiresAt: b.expiresAt },
          { service: 'billing', instance: 'b-1', expiresAt: renewed.expiresAt },
        ]);
      });
    });

    describe('clock and generation', () => {
      it('tells the time in ms close to this host (same machine)', async () => {
        const store = await backend.open();
        const now = await store.now();
        expect(Number.isInteger(now)).toBe(true);
        expect(Math.abs(now - Date.now())).toBeLessThan(1_000);
        await sleep(5);
        expect(await store.now()).toBeGreaterThan(now);
      });

      it('keeps one generation across calls', async () => {
        const store = await backend.open();
        const first = await store.generation();
        expect(first.id).toMatch(/\S/);
        expect(first.since).toBeLessThanOrEqual(await store.now());
        await store.renewLease('billing', 'b-1', 1_000);
        expect(await store.generation()).toEqual(first);
      });
    });

    describe('arguments and lifecycle', () => {
      it('refuses invalid arguments with BAD_ARGUMENTS', async () => {
        const store = await backend.open();
        const cases: Array<Promise<unknown>> = [
          store.renewLease('', 'x', 1_000),
          store.renewLease('s', '', 1_000),
          store.renewLease('s\u0000t', 'x', 1_000),
          store.renewLease('s', 'x\u0000y', 1_000),
          store.renewLease('s', 'x', 0),
          store.renewLease('s', 'x', 1.5),
          store.renewLease('s', 'x', Number.NaN),
          store.renewLease('s', 'x', MAX_LEASE_TTL_MS + 1),
          store.renewLease('s', 'x', 1_000, { cpu: -1 }),
          store.renewLease('s', 'x', 1_000, { inflight: Number.POSITIVE_INFINITY }),
          store.renewLease('s', 'x', 1_000, { latencyMs: '3' as unknown as number }),
          store.getLease('', 'x'),
          store.leases(''),
          store.removeLease('s', ''),
          store.expired(Number.NaN, 10),
          store.expired(0, -1),
          store.expired(0, 1.5),
          store.recordCheck('', 'x', check()),
          store.recordCheck('s', '', check()),
          store.recordCheck('s\u0000t', 'x', check()),
          store.recordCheck('s', 'x\u0000y', check()),
          store.recordCheck('s', 'x', undefined as unknown as CheckResult),
          store.recordCheck('s', 'x', null as unknown as CheckResult),
          store.recordCheck('s', 'x', check({ ok: undefined as unknown as boolean })),
          store.recordCheck('s', 'x', check({ ok: 'true' as unknown as boolean })),
          store.recordCheck('s', 'x', check({ at: -1 })),
          store.recordCheck('s', 'x', check({ at: Number.NaN })),
          store.recordCheck('s', 'x', check({ at: Number.POSITIVE_INFINITY })),
          store.recordCheck('s', 'x', check({ at: '1' as unknown as number })),
          store.recordCheck('s', 'x', check({ latencyMs: -0.5 })),
          store.recordCheck('s', 'x', check({ latencyMs: Number.NaN })),
          store.recordCheck('s', 'x', check({ latencyMs: undefined as unknown as number })),
          store.recordCheck('s', 'x', check({ detail: 500 as unknown as string })),
          store.recordCheck('s', 'x', check({ detail: null as unknown as string })),
          store.recordCheck('s', 'x', check({ by: '' })),
          store.recordCheck('s', 'x', check({ by: 'r'.repeat(MAX_CHECK_TEXT_LENGTH + 1) })),
          store.recordCheck('s', 'x', check({ by: undefined as unknown as string })),
          store.checkResults(''),
          store.checkResults('s\u0000t'),
        ];
        for (const call of cases) expect(await failureCode(call)).toBe('BAD_ARGUMENTS');
        expect(await store.leases('s')).toEqual(new Map());
        expect(await store.checkResults('s')).toEqual(new Map());
        expect((await store.renewLease('s', 'x', MAX_LEASE_TTL_MS)).ttlMs).toBe(MAX_LEASE_TTL_MS);
      });

      it('rejects every call with CLOSED after close, which is idempotent', async () => {
        const store = await backend.open();
        await store.renewLease('billing', 'b-1', 1_000);
        await store.close();
        await store.close();
        expect(store.state).toBe('disconnected');
        expect(await failureCode(store.renewLease('billing', 'b-1', 1_000))).toBe('CLOSED');
        expect(
          await failureCode(store.renewLeases([{ service: 'billing', instance: 'b-1', ttlMs: 1_000 }])),
        ).toBe('CLOSED');
        expect(await failureCode(store.getLease('billing', 'b-1'))).toBe('CLOSED');
        expect(await failureCode(store.expired(0, 1))).toBe('CLOSED');
        expect(await failureCode(store.generation())).toBe('CLOSED');
        expect(await failureCode(store.now())).toBe('CLOSED');
        expect(await failureCode(store.recordCheck('billing', 'b-1', check()))).toBe('CLOSED');
        expect(await failureCode(store.checkResults('billing'))).toBe('CLOSED');
        expect(await failureCode(store.removeLease('billing', 'b-1'))).toBe('CLOSED');
      });
    });
  });
}

/** The next state event of `store` that matches, or a failure after `timeoutMs`. */
export function nextEvent(
  store: HotStore,
  matches: (event: HotStoreStateEvent) => boolean,
  timeoutMs = 10_000,
): Promise<HotStoreStateEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching hot-store event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = store.onStateChange((event) => {
      if (!matches(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}
