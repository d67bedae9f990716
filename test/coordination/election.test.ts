/**
 * Leader election on both adapters: one leader at a time, hand-over on departure and on session
 * expiry, leadership dropped at once when the session is in doubt.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElection } from '../../src/coordination/election.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { embeddedBackend, zookeeperBackend, type StoreBackend } from '../support/backends.js';
import { startProxy } from '../support/proxy.js';

const logger = pino({ level: 'silent' });

/** Resolves with the next leadership value `election` reports that equals `leading`. */
function becomes(election: LeaderElection, leading: boolean): Promise<void> {
  if (election.isLeader === leading) return Promise.resolve();
  return new Promise((resolve) => {
    const off = election.onChange((now) => {
      if (now === leading) {
        off();
        resolve();
      }
    });
  });
}

for (const start of [embeddedBackend, zookeeperBackend]) {
  describe(`leader election (${start.name.replace('Backend', '')})`, () => {
    let backend: StoreBackend;
    const elections: LeaderElection[] = [];

    const candidate = async (path: string, name: string, store?: CoordinationStore) => {
      const election = new LeaderElection(store ?? (await backend.connect()), {
        path,
        participant: name,
        logger,
      });
      elections.push(election);
      await election.start();
      return election;
    };

    beforeAll(async () => {
      backend = await start();
    });

    afterAll(async () => {
      await Promise.all(elections.map((e) => e.close().catch(() => undefined)));
      await backend?.stop();
    });

    it('elects the first candidate and hands over when it leaves', async () => {
      const path = `/election-${randomUUID()}`;
      const a = await candidate(path, 'a');
      const b = await candidate(path, 'b');
      const c = await candidate(path, 'c');
      expect([a.isLeader, b.isLeader, c.isLeader]).toEqual([true, false, false]);
      expect(await a.participants()).toEqual(['a', 'b', 'c']);
      // A follower leaving changes nothing for the leader.
      await b.close();
      expect(a.isLeader).toBe(true);
      const handover = becomes(c, true);
      await a.close();
      await handover;
      expect(await c.participants()).toEqual(['c']);
    });

    it('drops leadership at once on session expiry, and the next candidate takes over', async () => {
      const path = `/election-${randomUUID()}`;
      const store = await backend.connect();
      const a = await candidate(path, 'a', store);
      const b = await candidate(path, 'b');
      expect(a.isLeader).toBe(true);
      const lost = becomes(a, false);
      const takeover = becomes(b, true);
      await backend.expire(store);
      await lost;
      await takeover;
      // The expired replica stands again under its new session, behind the new leader.
      await expect.poll(async () => (await b.participants()).join(',')).toBe('b,a');
      expect(a.isLeader).toBe(false);
    });
  });
}

describe('leader election on a disconnected session (zookeeper)', () => {
  let backend: Awaited<ReturnType<typeof zookeeperBackend>>;

  beforeAll(async () => {
    backend = await zookeeperBackend();
  });

  afterAll(async () => {
    await backend?.stop();
  });

  it('stops leading while disconnected and leads again on reconnecting within the session', async () => {
    const proxy = await startProxy(backend.zk.port);
    const store = await ZooKeeperStore.connect({ connectString: proxy.address, sessionTimeoutMs: 4_000 });
    const election = new LeaderElection(store, {
      path: `/election-${randomUUID()}`,
      participant: 'a',
      logger,
    });
    try {
      await election.start();
      expect(election.isLeader).toBe(true);
      const lost = becomes(election, false);
      proxy.suspend();
      await lost;
      const regained = becomes(election, true);
      proxy.resume();
      await regained;
    } finally {
      await election.close();
      await store.close();
      await proxy.close();
    }
  });
});
