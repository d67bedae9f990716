/**
 * The reaper evicts only as the current leader and only what is still expired: a deposed leader
 * that has not noticed has its eviction refused by the store (the election's fence); a heartbeat
 * landing after the sweep read the leases wins; a sweep the hot store stops partway keeps and
 * reports what it evicted. Sweeps are run by hand (the timer is ten minutes) on an embedded store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HotStore } from '../../src/hotstore/store.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { pollUntil } from '../support/processes.js';

const TTL_MS = 1_000;

describe('lease reaper fencing', () => {
  let gateway: EmbeddedApp;
  let hot: HotStore;

  const register = async (service: string, id: string) => {
    const res = await gateway.inject({
      method: 'PUT',
      url: `/v1/services/${service}/instances/${id}`,
      payload: { address: '10.0.0.1', port: 8080, ttl: `${TTL_MS}ms` },
    });
    expect(res.statusCode).toBe(201);
  };
  const exists = (service: string, id: string) =>
    gateway.services.store.exists(`/services/${service}/${id}`).then((stat) => stat !== null);
  /** Resolves once the instance's lease (and the eviction grace, 0 here) ran out. */
  const expiredLease = async (service: string, id: string) => {
    const lease = await hot.getLease(service, id);
    await expect.poll(async () => (await hot.now()) > (lease?.expiresAt ?? 0), { timeout: 5_000 }).toBe(true);
  };

  beforeAll(async () => {
    gateway = await startEmbeddedApp({
      ZKGATE_EVICTION_GRACE_MS: '0',
      ZKGATE_REAPER_INTERVAL_MS: '600000',
      ZKGATE_LEASE_REFRESH_MS: '0',
    });
    hot = gateway.services.hot;
    await pollUntil(() => (gateway.services.election.isLeader ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the replica to lead the reaper',
    });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses the eviction of a leader deposed without noticing, and stands again', async () => {
    await register('fenced', 'i-1');
    await expiredLease('fenced', 'i-1');
    // As a session expiry would: the candidate znode goes while the replica still believes it leads.
    const { children } = await gateway.services.store.getChildren('/zkgate/election/leader');
    for (const candidate of children)
      await gateway.services.store.delete(`/zkgate/election/leader/${candidate}`);
    expect(gateway.services.election.isLeader).toBe(true);

    await gateway.services.reaper.sweep();
    expect(await exists('fenced', 'i-1')).toBe(true);
    expect(gateway.services.reaper.status()).toMatchObject({
      evicted: 0,
      reason: expect.stringMatching(/no longer the leader/),
    });

    // It stands again, leads again (alone), and then evicts.
    await expect.poll(() => gateway.services.election.isLeader).toBe(true);
    await gateway.services.reaper.sweep();
    expect(await exists('fenced', 'i-1')).toBe(false);
    expect(gateway.services.reaper.status().evicted).toBe(1);
  });

  it('keeps an instance whose heartbeat lands after the sweep read its lease', async () => {
    await register('racing', 'i-1');
    await expiredLease('racing', 'i-1');
    const leases = hot.leases.bind(hot);
    // The sweep reads an expired lease; the instance's heartbeat lands right after.
    hot.leases = async (service) => {
      const read = await leases(service);
      if (service === 'racing') await hot.renewLease('racing', 'i-1', TTL_MS);
      return read;
    };
    try {
      await gateway.services.reaper.sweep();
    } finally {
      hot.leases = leases;
    }
    expect(await exists('racing', 'i-1')).toBe(true);
  });

  it('keeps and reports what a sweep evicted before the hot store failed', async () => {
    const before = gateway.services.reaper.status().evicted;
    await register('partway-a', 'i-1');
    await register('partway-b', 'i-1');
    await expiredLease('partway-a', 'i-1');
    await expiredLease('partway-b', 'i-1');
    const leases = hot.leases.bind(hot);
    let calls = 0;
    hot.leases = async (service) => {
      if (service.startsWith('partway-') && ++calls === 2) throw new Error('hot store went away');
      return leases(service);
    };
    try {
      await gateway.services.reaper.sweep();
    } finally {
      hot.leases = leases;
    }
    const status = gateway.services.reaper.status();
    expect(status.state).toBe('paused');
    expect(status.evicted).toBe(before + 1);
    expect(status.reason).toContain('after evicting 1 this sweep');
    const left = [await exists('partway-a', 'i-1'), await exists('partway-b', 'i-1')];
    expect(left.filter(Boolean)).toHaveLength(1);
  });
});
