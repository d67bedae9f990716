/**
 * A gateway on a Sentinel-managed Redis through a failover: the primary is SIGKILLed while
 * instances heartbeat over HTTP; heartbeats succeed again within 10 s of the promotion, and the
 * reaper evicts nobody although every lease ran out during the outage. Leases are 1 s, the grace
 * 300 ms, and self-preservation is off, so an eviction would not be held back by it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReapingApp, type EmbeddedApp } from '../support/embedded-app.js';
import { pollUntil } from '../support/processes.js';
import { startRedisSentinels, type RedisSentinelSet } from '../support/redis.js';

const TTL_MS = 1_000;
const GRACE_MS = 300;
const INSTANCES = Array.from({ length: 10 }, (_, i) => `i-${i}`);

/** One heartbeat: when it was sent, when it was answered, and how. */
interface Beat {
  id: string;
  sentAt: number;
  answeredAt: number;
  status: number;
  degraded: boolean;
}

describe('a gateway on Redis through Sentinel, when the primary dies', () => {
  let set: RedisSentinelSet;
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    set = await startRedisSentinels({ password: 'data-secret', sentinelPassword: 'sentinel-secret' });
    gateway = await startReapingApp({
      ZKGATE_REDIS_SENTINELS: set.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      ZKGATE_REDIS_SENTINEL_NAME: set.name,
      ZKGATE_REDIS_PASSWORD: 'data-secret',
      ZKGATE_REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      ZKGATE_EVICTION_GRACE_MS: String(GRACE_MS),
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await set?.stop();
  });

  const ids = async (): Promise<string[]> => {
    const res = await gateway.inject('/v1/services/orders/instances');
    return (res.json() as Array<{ id: string }>).map((i) => i.id).sort();
  };

  it('records heartbeats again within 10 s of the promotion and evicts nobody', async () => {
    for (const id of INSTANCES) {
      const res = await gateway.inject({
        method: 'PUT',
        url: `/v1/services/orders/instances/${id}`,
        payload: { address: '10.0.0.1', port: 8080, ttl: '1s' },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const beats: Beat[] = [];
    const heartbeats = setInterval(() => {
      for (const id of INSTANCES) {
        const sentAt = Date.now();
        void gateway
          .inject({ method: 'PUT', url: `/v1/services/orders/instances/${id}/heartbeat` })
          .then((res) =>
            beats.push({
              id,
              sentAt,
              answeredAt: Date.now(),
              status: res.statusCode,
              // Answered while the hot store was away: accepted, not recorded.
              degraded: res.headers['x-zkgate-degraded'] === 'hotstore',
            }),
          );
      }
    }, 200);
    try {
      const { promoted } = await set.watchPromotion();
      await (await set.primary()).kill();
      const { at: promotedAt } = await promoted;
      const back = await pollUntil(
        () => beats.find((b) => b.status === 200 && !b.degraded && b.sentAt >= promotedAt),
        { timeoutMs: 10_000, intervalMs: 20, what: 'a heartbeat recorded after the promotion' },
      );
      expect(back.answeredAt - promotedAt).toBeLessThan(10_000);

      // Every lease ran out during the outage (several TTLs long). Without the grace a reconnect
      // earns, the first sweep after it would evict them all; give the reaper a TTL and the
      // grace to do so.
      const until = back.answeredAt + TTL_MS + GRACE_MS;
      await pollUntil(
        () => (Date.parse(gateway.services.reaper.status().lastSweep ?? '0') > until ? true : undefined),
        { timeoutMs: 10_000, what: 'a sweep after a TTL and the grace past the recovery' },
      );
    } finally {
      clearInterval(heartbeats);
    }
    expect(gateway.services.reaper.status()).toMatchObject({ evicted: 0, state: 'sweeping' });
    expect(await ids()).toEqual(INSTANCES);
    // Degraded, not down: every heartbeat answered 200 (an unknown instance would be 404), and the
    // outage showed (some answered degraded).
    expect(beats.every((b) => b.status === 200)).toBe(true);
    expect(beats.some((b) => b.degraded)).toBe(true);
    expect(beats.filter((b) => b.sentAt > Date.now() - 500).every((b) => !b.degraded)).toBe(true);
  });
});
