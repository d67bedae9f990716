/**
 * Group membership on both adapters: members see each other with the data they gave, leave at
 * once on close, are dropped on session expiry and re-join on the next session, do not count
 * themselves in while disconnected, and refuse an id another live session holds.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GroupMembership, type GroupView } from '../../src/coordination/membership.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import {
  embeddedBackend,
  TEST_SESSION_TIMEOUT_MS,
  zookeeperBackend,
  type StoreBackend,
} from '../support/backends.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { killSession } from '../support/sessions.js';
import { within } from '../support/within.js';

const logger = pino({ level: 'silent' });

/** Resolves with the first view of `member` (its current one included) that satisfies `test`. */
function viewWhere(member: GroupMembership, test: (view: GroupView) => boolean): Promise<GroupView> {
  if (test(member.current)) return Promise.resolve(member.current);
  return new Promise((resolve) => {
    const off = member.onChange((view) => {
      if (test(view)) {
        off();
        resolve(view);
      }
    });
  });
}

const sees = (member: GroupMembership, members: string[], joined = true): Promise<GroupView> =>
  viewWhere(member, (v) => v.joined === joined && v.members.join(',') === members.join(','));

for (const start of [embeddedBackend, zookeeperBackend]) {
  describe(`group membership (${start.name.replace('Backend', '')})`, () => {
    let backend: StoreBackend;
    const members: GroupMembership[] = [];

    const join = async (path: string, id: string, store?: CoordinationStore, data?: Buffer) => {
      const member = new GroupMembership(store ?? (await backend.connect()), {
        path,
        id,
        data: data ?? Buffer.from(`data of ${id}`),
        logger,
      });
      members.push(member);
      await member.start();
      return member;
    };

    beforeAll(async () => {
      backend = await start();
    });

    afterEach(async () => {
      await Promise.all(members.splice(0).map((m) => m.close().catch(() => undefined)));
    });

    afterAll(async () => {
      await backend?.stop();
    });

    it('lets members see each other, sorted, each znode holding the data it was given', async () => {
      const path = `/group-${randomUUID()}/members`;
      const payloads = {
        a: Buffer.from(JSON.stringify({ host: 'a', pid: 1 })),
        b: Buffer.from([0, 1, 2, 255]),
        c: Buffer.alloc(0),
      };
      const stores = { c: await backend.connect(), a: await backend.connect(), b: await backend.connect() };
      // Joined out of order: the views are sorted all the same.
      const c = await join(path, 'c', stores.c, payloads.c);
      const a = await join(path, 'a', stores.a, payloads.a);
      const b = await join(path, 'b', stores.b, payloads.b);
      expect(b.current).toEqual({ members: ['a', 'b', 'c'], joined: true });
      await sees(a, ['a', 'b', 'c']);
      await sees(c, ['a', 'b', 'c']);

      const described = await a.describe();
      expect([...described.keys()]).toEqual(['a', 'b', 'c']);
      for (const id of ['a', 'b', 'c'] as const) {
        expect(described.get(id)?.equals(payloads[id]), `data of ${id}`).toBe(true);
        // Each member is an ephemeral of its own session.
        const stat = await stores.a.exists(`${path}/${id}`);
        expect(stat?.ephemeralOwner).toBe(stores[id].sessionId);
      }
    });

    it('joins on a fresh session at the first try, without a failed check', async () => {
      const warnings: string[] = [];
      const recording = pino(
        { level: 'warn' },
        {
          write: (line: string) => {
            const entry = JSON.parse(line) as { msg: string; err?: { message: string } };
            warnings.push(`${entry.msg}: ${entry.err?.message ?? ''}`);
          },
        },
      );
      const member = new GroupMembership(await backend.connect(), {
        path: `/group-${randomUUID()}/deep`,
        id: 'a',
        data: Buffer.from('a'),
        logger: recording,
      });
      members.push(member);
      await member.start();
      expect(member.current).toEqual({ members: ['a'], joined: true });
      expect(warnings).toEqual([]);
    });

    it('removes a closed member at once, and the others hear it', async () => {
      const path = `/group-${randomUUID()}`;
      const store = await backend.connect();
      const a = await join(path, 'a');
      const b = await join(path, 'b');
      const c = await join(path, 'c', store);
      await sees(a, ['a', 'b', 'c']);
      await sees(b, ['a', 'b', 'c']);
      const aHears = sees(a, ['a', 'b']);
      const bHears = sees(b, ['a', 'b']);

      await c.close();
      // Gone while c's session lives on: deleted, not left to expire.
      expect(store.state).toBe('connected');
      expect(await store.exists(`${path}/c`)).toBeNull();
      expect(c.current.joined).toBe(false);
      await aHears;
      await bHears;
      expect([...(await a.describe()).keys()]).toEqual(['a', 'b']);
    });

    it('drops a member whose session expires, and it re-joins on its new session', async () => {
      const path = `/group-${randomUUID()}`;
      const store = await backend.connect();
      const a = await join(path, 'a', store);
      const b = await join(path, 'b');
      await sees(b, ['a', 'b']);
      const oldSession = store.sessionId;

      const left = viewWhere(a, (v) => !v.joined);
      await backend.expire(store);
      await left;
      await sees(a, ['a', 'b']);
      // Re-joined under the new session: the old ephemeral went with the old session.
      expect(store.sessionId).not.toBe(oldSession);
      expect((await store.exists(`${path}/a`))?.ephemeralOwner).toBe(store.sessionId);
      await sees(b, ['a', 'b']);
    });

    it('refuses an id held by another live session, with a clear error', async () => {
      const path = `/group-${randomUUID()}`;
      const holderStore = await backend.connect();
      const holder = await join(path, 'dup', holderStore);
      const intruder = new GroupMembership(await backend.connect(), {
        path,
        id: 'dup',
        data: Buffer.from('intruder'),
        logger,
      });
      members.push(intruder);
      const outcome = await within(intruder.start(), 'start() with a duplicate id').then(
        () => 'resolved',
        (err: unknown) => err,
      );
      expect(intruder.current.joined).toBe(false);
      // The holder keeps its place and its data.
      expect(holder.current).toEqual({ members: ['dup'], joined: true });
      expect((await holderStore.exists(`${path}/dup`))?.ephemeralOwner).toBe(holderStore.sessionId);
      expect((await holder.describe()).get('dup')?.toString()).toBe('data of dup');
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toMatch(/group member dup is held by another session/);
    });
  });
}

describe('group membership on a cut-off session (zookeeper)', () => {
  let backend: Awaited<ReturnType<typeof zookeeperBackend>>;
  const cleanup: Array<() => Promise<void>> = [];

  /** A member whose session runs through its own proxy, so the test can cut it off. */
  const behindProxy = async (path: string, id: string) => {
    const proxy: TcpProxy = await startProxy(backend.zk.port);
    const store = await ZooKeeperStore.connect({
      connectString: proxy.address,
      sessionTimeoutMs: TEST_SESSION_TIMEOUT_MS,
    });
    const member = new GroupMembership(store, { path, id, data: Buffer.from(id), logger });
    cleanup.push(async () => {
      await member.close().catch(() => undefined);
      await store.close();
      await proxy.close();
    });
    await member.start();
    return { proxy, store, member };
  };

  const direct = async (path: string, id: string) => {
    const member = new GroupMembership(await backend.connect(), { path, id, data: Buffer.from(id), logger });
    cleanup.push(() => member.close().catch(() => undefined));
    await member.start();
    return member;
  };

  beforeAll(async () => {
    backend = await zookeeperBackend();
  });

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  afterAll(async () => {
    await backend?.stop();
  });

  it('is not joined while disconnected, and joined again on reconnecting within the session', async () => {
    const path = `/group-${randomUUID()}`;
    const { proxy, store, member: a } = await behindProxy(path, 'a');
    const b = await direct(path, 'b');
    await sees(a, ['a', 'b']);
    const session = store.sessionId;

    const out = viewWhere(a, (v) => !v.joined);
    proxy.suspend();
    const view = await out;
    // Still listed (the session has not expired), yet a does not count itself in.
    expect(view.members).toEqual(['a', 'b']);
    expect(b.current).toEqual({ members: ['a', 'b'], joined: true });

    const back = sees(a, ['a', 'b']);
    proxy.resume();
    await back;
    expect(store.sessionId).toBe(session);
    expect((await store.exists(`${path}/a`))?.ephemeralOwner).toBe(session);
  });

  it('is dropped by the others while its session is expired and it is cut off, and re-joins after', async () => {
    const path = `/group-${randomUUID()}`;
    const { proxy, store, member: a } = await behindProxy(path, 'a');
    const b = await direct(path, 'b');
    await sees(b, ['a', 'b']);
    const oldSession = store.sessionId;

    const dropped = sees(b, ['b']);
    const out = viewWhere(a, (v) => !v.joined);
    proxy.suspend();
    await killSession(backend.zk.connectString, store.sessionCredentials());
    await dropped;
    await out;

    const rejoined = sees(b, ['a', 'b']);
    proxy.resume();
    await rejoined;
    await sees(a, ['a', 'b']);
    expect(store.sessionId).not.toBe(oldSession);
    expect((await store.exists(`${path}/a`))?.ephemeralOwner).toBe(store.sessionId);
  });
});
