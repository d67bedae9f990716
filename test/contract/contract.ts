/**
 * The coordination-store contract: ZooKeeper's semantics as the port documents them. Every
 * adapter runs this same suite (`embedded.test.ts`, `zookeeper.test.ts`).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestId } from '../../src/coordination/acl.js';
import { ErrorCode, MultiError, StoreError } from '../../src/coordination/errors.js';
import {
  CREATOR_ALL_ACL,
  CreateMode,
  EventType,
  MAX_REQUEST_BYTES,
  OPEN_ACL_UNSAFE,
  Perms,
  READ_ACL_UNSAFE,
  type Acl,
  type CoordinationStore,
  type SessionEvent,
  type WatchEvent,
  type Watcher,
} from '../../src/coordination/store.js';
import type { StoreBackend } from '../support/backends.js';

/** Records a watcher's calls and lets a test await them. */
export function recorder(): { fn: Watcher; events: WatchEvent[]; next(): Promise<WatchEvent> } {
  const events: WatchEvent[] = [];
  const waiting: ((e: WatchEvent) => void)[] = [];
  return {
    events,
    fn: (event) => {
      events.push(event);
      waiting.shift()?.(event);
    },
    /** The next call from now on (set it up before the action that triggers it). */
    next() {
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function failure(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected the operation to fail');
}

/** Resolves with the states a store reports until `until` matches one. */
function statesUntil(store: CoordinationStore, until: (e: SessionEvent) => boolean): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  return new Promise((resolve) => {
    const off = store.onStateChange((event) => {
      seen.push(event);
      if (until(event)) {
        off();
        resolve(seen);
      }
    });
  });
}

/**
 * Events on one session arrive in zxid order, so once a watch set after `action` has fired on a
 * sentinel node, every event `action` caused has been delivered too: a barrier for asserting
 * that something did NOT fire.
 */
async function barrier(observer: CoordinationStore, writer: CoordinationStore, base: string): Promise<void> {
  const sentinel = `${base}/barrier-${randomUUID()}`;
  const created = recorder();
  await observer.exists(sentinel, created.fn);
  const fired = created.next();
  await writer.create(sentinel);
  await fired;
}

const data = (s: string): Buffer => Buffer.from(s, 'utf8');

const ALICE = digestId('alice:secret');
const BOB = digestId('bob:secret');
const alice = (perms: number = Perms.ALL): Acl => ({ perms, scheme: 'digest', id: ALICE });
const anyone = (perms: number): Acl => ({ perms, scheme: 'world', id: 'anyone' });
const login = (session: CoordinationStore, user: 'alice' | 'bob'): Promise<void> =>
  session.addAuth('digest', Buffer.from(`${user}:secret`));

export function describeStoreContract(name: string, start: () => Promise<StoreBackend>): void {
  describe(`CoordinationStore contract: ${name}`, () => {
    let backend: StoreBackend;
    let store: CoordinationStore;
    let other: CoordinationStore;
    let base: string;
    let n = 0;
    /** A fresh path under this file's base node, so tests never see each other's znodes. */
    const fresh = (): string => `${base}/t${++n}`;

    beforeAll(async () => {
      backend = await start();
      store = await backend.connect();
      other = await backend.connect();
      base = await store.create(`/contract-${randomUUID()}`);
    });

    afterAll(async () => {
      await backend?.stop();
    });

    describe('create and read', () => {
      it('stores the bytes given and reports a fresh Stat', async () => {
        const path = fresh();
        const payload = Buffer.from([0, 1, 2, 255, 0x7f, 0x80]);
        expect(await store.create(path, payload)).toBe(path);
        const { data: read, stat } = await store.getData(path);
        expect(read.equals(payload)).toBe(true);
        expect(stat).toMatchObject({ version: 0, cversion: 0, aversion: 0, dataLength: 6, numChildren: 0 });
        expect(stat.ephemeralOwner).toBe(0n);
        expect(stat.mzxid).toBe(stat.czxid);
        expect(stat.pzxid).toBe(stat.czxid);
        expect(stat.mtime).toBe(stat.ctime);
      });

      it('creates empty znodes when no data is given', async () => {
        const path = fresh();
        await store.create(path);
        const { data: read, stat } = await store.getData(path);
        expect(read.length).toBe(0);
        expect(stat.dataLength).toBe(0);
      });

      it('refuses a missing parent, a duplicate, and a child of an ephemeral', async () => {
        const path = fresh();
        expect((await failure(store.create(`${path}/child`))).code).toBe(ErrorCode.NO_NODE);
        await store.create(path);
        expect((await failure(store.create(path))).code).toBe(ErrorCode.NODE_EXISTS);
        const eph = fresh();
        await store.create(eph, undefined, CreateMode.EPHEMERAL);
        expect((await failure(store.create(`${eph}/c`))).code).toBe(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
      });

      it('answers NO_NODE for reads of a missing znode and null from exists', async () => {
        const path = fresh();
        expect((await failure(store.getData(path))).code).toBe(ErrorCode.NO_NODE);
        expect((await failure(store.getChildren(path))).code).toBe(ErrorCode.NO_NODE);
        expect(await store.exists(path)).toBeNull();
        await store.create(path, data('x'));
        expect(await store.exists(path)).toMatchObject({ version: 0, dataLength: 1 });
      });

      it('numbers sequential znodes by child creations, ten digits', async () => {
        const parent = fresh();
        await store.create(parent);
        const first = await store.create(`${parent}/job-`, undefined, CreateMode.PERSISTENT_SEQUENTIAL);
        expect(first).toBe(`${parent}/job-0000000000`);
        await store.create(`${parent}/plain`);
        await store.delete(`${parent}/plain`);
        // ZooKeeper stores a count of child creations and reports cversion as creations plus
        // deletions (2 x stored - numChildren); the sequence number is the stored count.
        expect((await store.exists(parent))?.cversion).toBe(3);
        const next = await store.create(`${parent}/job-`, undefined, CreateMode.EPHEMERAL_SEQUENTIAL);
        expect(next).toBe(`${parent}/job-0000000002`);
        const bare = await store.create(`${parent}/`, undefined, CreateMode.PERSISTENT_SEQUENTIAL);
        expect(bare).toBe(`${parent}/0000000003`);
        expect((await store.exists(parent))?.cversion).toBe(5);
      });

      it('lists children and keeps the parent Stat current', async () => {
        const parent = fresh();
        await store.create(parent);
        await store.create(`${parent}/a`);
        await store.create(`${parent}/b`);
        await store.delete(`${parent}/a`);
        const { children, stat } = await store.getChildren(parent);
        expect(children.sort()).toEqual(['b']);
        expect(stat).toMatchObject({ cversion: 3, numChildren: 1, version: 0 });
        expect(stat.pzxid > stat.czxid).toBe(true);
      });

      it('refuses invalid paths with BAD_ARGUMENTS before anything is sent', async () => {
        for (const bad of [
          '',
          'relative',
          '/trailing/',
          '//double',
          '/a/./b',
          '/a/../b',
          '/nul\u0000',
          '/\ud83d\ude00',
        ]) {
          const err = await failure(store.create(bad));
          expect(err.code, bad).toBe(ErrorCode.BAD_ARGUMENTS);
          expect((await failure(store.getData(bad))).code).toBe(ErrorCode.BAD_ARGUMENTS);
        }
        expect(await store.exists('/')).not.toBeNull();
      });

      it('refuses an oversize request without disturbing others in flight', async () => {
        const path = fresh();
        await store.create(path, data('small'));
        const big = Buffer.alloc(MAX_REQUEST_BYTES, 1);
        const [read, refused, readAgain] = await Promise.allSettled([
          store.getData(path),
          store.setData(path, big),
          store.getData(path),
        ]);
        expect(refused.status).toBe('rejected');
        expect(((refused as PromiseRejectedResult).reason as StoreError).code).toBe(ErrorCode.BAD_ARGUMENTS);
        expect(read.status).toBe('fulfilled');
        expect(readAgain.status).toBe('fulfilled');
        // Data just under the limit (less path and overhead) is stored whole.
        const fits = Buffer.alloc(MAX_REQUEST_BYTES - 64 - Buffer.byteLength(path), 2);
        await store.setData(path, fits);
        expect((await store.getData(path)).data.equals(fits)).toBe(true);
      });
    });

    describe('versions', () => {
      it('sets data only at the expected version; -1 matches any', async () => {
        const path = fresh();
        await store.create(path, data('v0'));
        const s1 = await store.setData(path, data('v1'), 0);
        expect(s1.version).toBe(1);
        expect((await failure(store.setData(path, data('stale'), 0))).code).toBe(ErrorCode.BAD_VERSION);
        const s2 = await store.setData(path, data('v2'));
        expect(s2.version).toBe(2);
        expect(s2.mzxid > s1.mzxid).toBe(true);
        expect(s2.czxid).toBe(s1.czxid);
        expect((await store.getData(path)).data.toString()).toBe('v2');
        expect((await failure(store.setData(fresh(), data('x')))).code).toBe(ErrorCode.NO_NODE);
      });

      it('deletes only at the expected version and only leaves', async () => {
        const path = fresh();
        await store.create(path);
        await store.create(`${path}/child`);
        expect((await failure(store.delete(path))).code).toBe(ErrorCode.NOT_EMPTY);
        await store.setData(`${path}/child`, data('x'));
        expect((await failure(store.delete(`${path}/child`, 0))).code).toBe(ErrorCode.BAD_VERSION);
        await store.delete(`${path}/child`, 1);
        await store.delete(path, 0);
        expect(await store.exists(path)).toBeNull();
        expect((await failure(store.delete(path))).code).toBe(ErrorCode.NO_NODE);
      });

      it('gives every write a larger zxid than the one before', async () => {
        const path = fresh();
        await store.create(path);
        let last = (await store.exists(path))!.mzxid;
        for (let i = 0; i < 5; i++) {
          const stat = await store.setData(path, data(String(i)));
          expect(stat.mzxid > last).toBe(true);
          last = stat.mzxid;
        }
      });
    });

    describe('multi', () => {
      it('applies every operation in one transaction', async () => {
        const path = fresh();
        await store.create(path, data('a'));
        const results = await store.multi([
          { op: 'check', path, version: 0 },
          { op: 'setData', path, data: data('b'), version: 0 },
          { op: 'create', path: `${path}/seq-`, data: data('c'), mode: CreateMode.PERSISTENT_SEQUENTIAL },
          { op: 'create', path: `${path}/gone` },
          { op: 'delete', path: `${path}/gone` },
        ]);
        expect(results.map((r) => r.op)).toEqual(['check', 'setData', 'create', 'create', 'delete']);
        expect(results[2]).toEqual({ op: 'create', path: `${path}/seq-0000000000` });
        const set = results[1];
        expect(set?.op === 'setData' && set.stat.version).toBe(1);
        const seq = await store.getData(`${path}/seq-0000000000`);
        // One transaction, one zxid.
        expect(set?.op === 'setData' && set.stat.mzxid).toBe(seq.stat.czxid);
        expect((await store.getChildren(path)).children).toEqual(['seq-0000000000']);
      });

      it('applies nothing when one operation fails, and names it', async () => {
        const path = fresh();
        await store.create(path, data('a'));
        const err = await failure(
          store.multi([
            { op: 'create', path: `${path}/new` },
            { op: 'setData', path, data: data('b'), version: 7 },
            { op: 'delete', path },
          ]),
        );
        expect(err).toBeInstanceOf(MultiError);
        const multi = err as MultiError;
        expect(multi.code).toBe(ErrorCode.BAD_VERSION);
        expect(multi.index).toBe(1);
        expect(multi.results).toEqual([0, ErrorCode.BAD_VERSION, ErrorCode.RUNTIME_INCONSISTENCY]);
        expect(await store.exists(`${path}/new`)).toBeNull();
        expect((await store.getData(path)).stat.version).toBe(0);
      });

      it('treats version 0 as a real version in check, setData and delete', async () => {
        const path = fresh();
        await store.create(path);
        await store.setData(path, data('moved on'));
        for (const op of [
          { op: 'check', path, version: 0 },
          { op: 'setData', path, data: data('lost update'), version: 0 },
          { op: 'delete', path, version: 0 },
        ] as const) {
          const err = await failure(store.multi([op]));
          expect(err.code, op.op).toBe(ErrorCode.BAD_VERSION);
        }
        expect((await store.getData(path)).data.toString()).toBe('moved on');
      });
    });

    describe('watches', () => {
      it('fires a data watch once, for the first change only', async () => {
        const path = fresh();
        await store.create(path, data('a'));
        const w = recorder();
        await store.getData(path, w.fn);
        const fired = w.next();
        await other.setData(path, data('b'));
        expect(await fired).toEqual({ type: EventType.NODE_DATA_CHANGED, path });
        await other.setData(path, data('c'));
        await barrier(store, other, base);
        expect(w.events).toHaveLength(1);
      });

      it('fires an exists watch on creation and a child watch on a new child', async () => {
        const path = fresh();
        const created = recorder();
        expect(await store.exists(path, created.fn)).toBeNull();
        const creation = created.next();
        await other.create(path);
        expect(await creation).toEqual({ type: EventType.NODE_CREATED, path });

        const children = recorder();
        await store.getChildren(path, children.fn);
        const change = children.next();
        await other.create(`${path}/kid`);
        expect(await change).toEqual({ type: EventType.NODE_CHILDREN_CHANGED, path });
      });

      it('fires NODE_DELETED once for a function set as data and child watch', async () => {
        const path = fresh();
        await store.create(path);
        const w = recorder();
        await store.getData(path, w.fn);
        await store.getChildren(path, w.fn);
        await store.exists(path, w.fn);
        const fired = w.next();
        await other.delete(path);
        expect(await fired).toEqual({ type: EventType.NODE_DELETED, path });
        await barrier(store, other, base);
        expect(w.events).toHaveLength(1);
      });

      it('delivers each distinct function once per event', async () => {
        const path = fresh();
        await store.create(path);
        const a = recorder();
        const b = recorder();
        await store.getData(path, a.fn);
        await store.getData(path, a.fn);
        await store.getData(path, b.fn);
        const both = Promise.all([a.next(), b.next()]);
        await store.setData(path, data('x'));
        await both;
        await barrier(store, store, base);
        expect(a.events).toHaveLength(1);
        expect(b.events).toHaveLength(1);
      });

      it('sets no watch when getData fails on a missing znode', async () => {
        const path = fresh();
        const w = recorder();
        expect((await failure(store.getData(path, w.fn))).code).toBe(ErrorCode.NO_NODE);
        await other.create(path);
        await other.setData(path, data('x'));
        await barrier(store, other, base);
        expect(w.events).toEqual([]);
      });

      it('delivers the watch event for our own write before the write resolves', async () => {
        const path = fresh();
        await store.create(path);
        const w = recorder();
        await store.getData(path, w.fn);
        await store.setData(path, data('x'));
        expect(w.events).toEqual([{ type: EventType.NODE_DATA_CHANGED, path }]);
      });
    });

    describe('ACLs', () => {
      /** A fresh session, so that identities added in one test stay out of the others. */
      const session = async (user?: 'alice' | 'bob'): Promise<CoordinationStore> => {
        const s = await backend.connect();
        if (user) await login(s, user);
        return s;
      };

      it('computes digest identities as ZooKeeper does', () => {
        // The value ZooKeeper's DigestAuthenticationProvider prints for super:test.
        expect(digestId('super:test')).toBe('super:D/InIHSb7yEEbrWz8b9l71RjZJU=');
        expect(digestId('user:pa:ss')).toMatch(/^user:/);
      });

      it('creates open znodes by default and keeps the ACL it was given, in order', async () => {
        const open = fresh();
        await store.create(open);
        expect((await store.getACL(open)).acl).toEqual([...OPEN_ACL_UNSAFE]);
        const owned = await session('alice');
        const path = fresh();
        const acl = [anyone(Perms.READ), alice(), { perms: Perms.ALL, scheme: 'ip', id: '127.0.0.0/8' }];
        await owned.create(path, data('x'), CreateMode.PERSISTENT, acl);
        const read = await owned.getACL(path);
        expect(read.acl).toEqual(acl);
        expect(read.stat).toMatchObject({ aversion: 0, version: 0, dataLength: 1 });
        await owned.close();
      });

      it('refuses what needs a permission the session lacks with NO_AUTH, and exists needs none', async () => {
        const owner = await session('alice');
        const stranger = await session('bob');
        const path = fresh();
        await owner.create(path, data('secret'), CreateMode.PERSISTENT, [alice()]);
        await owner.create(`${path}/child`, undefined, CreateMode.PERSISTENT, [alice()]);
        const refused = [
          () => stranger.getData(path),
          () => stranger.getChildren(path),
          () => stranger.getACL(path),
          () => stranger.setData(path, data('forged')),
          () => stranger.create(`${path}/forged`),
          () => stranger.delete(`${path}/child`),
          () => stranger.setACL(path, [...OPEN_ACL_UNSAFE]),
          () => stranger.multi([{ op: 'check', path, version: 0 }]),
        ];
        for (const attempt of refused) expect((await failure(attempt())).code).toBe(ErrorCode.NO_AUTH);
        expect(await stranger.exists(path)).toMatchObject({ numChildren: 1, dataLength: 6 });
        expect((await owner.getData(path)).data.toString()).toBe('secret');
        await owner.delete(`${path}/child`);
        await Promise.all([owner.close(), stranger.close()]);
      });

      it('checks each permission on its own: create and delete on the parent, write on the node', async () => {
        const path = fresh();
        await store.create(path, undefined, CreateMode.PERSISTENT, [anyone(Perms.ALL & ~Perms.DELETE)]);
        await store.create(`${path}/kept`, undefined, CreateMode.PERSISTENT, [anyone(Perms.READ)]);
        expect((await failure(store.delete(`${path}/kept`))).code).toBe(ErrorCode.NO_AUTH);
        expect((await failure(store.setData(`${path}/kept`, data('x')))).code).toBe(ErrorCode.NO_AUTH);
        expect((await failure(store.create(`${path}/kept/c`))).code).toBe(ErrorCode.NO_AUTH);
        expect((await store.getData(`${path}/kept`)).data.length).toBe(0);
        // The parent's ACL is checked before the child is looked for, as ZooKeeper orders it.
        expect((await failure(store.delete(`${path}/missing`))).code).toBe(ErrorCode.NO_AUTH);
      });

      it('expands auth to the session identities, and refuses it without one', async () => {
        const path = fresh();
        expect(
          (await failure(store.create(path, undefined, CreateMode.PERSISTENT, CREATOR_ALL_ACL))).code,
        ).toBe(ErrorCode.INVALID_ACL);
        const owner = await session('alice');
        await owner.create(path, undefined, CreateMode.PERSISTENT, [anyone(Perms.READ), ...CREATOR_ALL_ACL]);
        expect((await owner.getACL(path)).acl).toEqual([anyone(Perms.READ), alice()]);
        await owner.close();
      });

      it('refuses empty and invalid ACLs with INVALID_ACL', async () => {
        const path = fresh();
        await store.create(path);
        for (const acl of [
          [],
          [{ perms: Perms.ALL, scheme: 'world', id: 'nobody' }],
          [{ perms: Perms.ALL, scheme: 'digest', id: 'no-digest' }],
          [{ perms: Perms.ALL, scheme: 'ip', id: '10.0.0.0/33' }],
          [{ perms: Perms.ALL, scheme: 'sasl', id: 'someone' }],
        ]) {
          expect((await failure(store.create(`${path}/c`, undefined, undefined, acl))).code).toBe(
            ErrorCode.INVALID_ACL,
          );
          expect((await failure(store.setACL(path, acl))).code).toBe(ErrorCode.INVALID_ACL);
        }
        expect((await store.getACL(path)).stat.aversion).toBe(0);
      });

      it('sets ACLs at the expected ACL version, counting aversion without touching data or zxids', async () => {
        const path = fresh();
        await store.create(path, data('x'));
        const before = (await store.getACL(path)).stat;
        const stat = await store.setACL(path, [...READ_ACL_UNSAFE, anyone(Perms.ADMIN)], 0);
        expect(stat).toMatchObject({ aversion: 1, version: 0, mzxid: before.mzxid, pzxid: before.pzxid });
        expect((await failure(store.setACL(path, [...OPEN_ACL_UNSAFE], 0))).code).toBe(ErrorCode.BAD_VERSION);
        expect((await failure(store.setData(path, data('y')))).code).toBe(ErrorCode.NO_AUTH);
        expect((await store.setACL(path, [...OPEN_ACL_UNSAFE])).aversion).toBe(2);
        expect((await store.setData(path, data('y'))).aversion).toBe(2);
        expect((await failure(store.setACL(fresh(), [...OPEN_ACL_UNSAFE]))).code).toBe(ErrorCode.NO_NODE);
      });

      it('fires no watch on setACL and sets none when a read is refused', async () => {
        const path = fresh();
        await store.create(path, undefined, CreateMode.PERSISTENT, [
          alice(Perms.READ),
          anyone(Perms.ALL & ~Perms.READ),
        ]);
        const w = recorder();
        expect((await failure(store.getData(path, w.fn))).code).toBe(ErrorCode.NO_AUTH);
        const seen = recorder();
        const owner = await session('alice');
        await owner.getData(path, seen.fn);
        await other.setACL(path, [...OPEN_ACL_UNSAFE]);
        await barrier(owner, other, base);
        expect(seen.events).toEqual([]);
        const fired = seen.next();
        await other.setData(path, data('x'));
        expect(await fired).toEqual({ type: EventType.NODE_DATA_CHANGED, path });
        await barrier(store, other, base);
        expect(w.events).toEqual([]);
        await owner.close();
      });

      it('masks digests in getACL for a reader without ADMIN', async () => {
        const path = fresh();
        const owner = await session('alice');
        await owner.create(path, undefined, CreateMode.PERSISTENT, [alice(), anyone(Perms.READ)]);
        expect((await store.getACL(path)).acl).toEqual([
          { perms: Perms.ALL, scheme: 'digest', id: 'alice:x' },
          anyone(Perms.READ),
        ]);
        await owner.close();
      });

      it('checks every operation of a multi against the ACLs as the earlier ones left them', async () => {
        const path = fresh();
        await store.create(path);
        const err = await failure(
          store.multi([
            { op: 'create', path: `${path}/locked`, acl: [...READ_ACL_UNSAFE] },
            { op: 'create', path: `${path}/locked/child` },
          ]),
        );
        expect(err).toBeInstanceOf(MultiError);
        expect((err as MultiError).results).toEqual([0, ErrorCode.NO_AUTH]);
        expect(await store.exists(`${path}/locked`)).toBeNull();
      });

      it('grants ip ACLs by the client address, CIDR ranges included', async () => {
        const path = fresh();
        await store.create(path, undefined, CreateMode.PERSISTENT, [
          { perms: Perms.ALL, scheme: 'ip', id: '127.0.0.1/8' },
          { perms: Perms.READ, scheme: 'ip', id: '10.0.0.0/8' },
        ]);
        await store.create(`${path}/far`, data('x'), CreateMode.PERSISTENT, [
          { perms: Perms.ALL, scheme: 'ip', id: '10.1.2.3' },
        ]);
        expect((await failure(store.getData(`${path}/far`))).code).toBe(ErrorCode.NO_AUTH);
        await store.delete(`${path}/far`);
      });

      it('keeps permission bits ZooKeeper does not name', async () => {
        const path = fresh();
        await store.create(path, undefined, CreateMode.PERSISTENT, [anyone(Perms.ALL | 0x40)]);
        expect((await store.getACL(path)).acl).toEqual([anyone(Perms.ALL | 0x40)]);
      });

      it('refuses auth schemes that would cost the session, and keeps the session', async () => {
        const s = await session();
        expect((await failure(s.addAuth('world', Buffer.from('anyone')))).code).toBe(ErrorCode.AUTH_FAILED);
        expect(await s.exists('/')).not.toBeNull();
        await s.addAuth('ip', Buffer.alloc(0));
        await s.close();
      });

      it('keeps its identities across a session expiry', async () => {
        const owner = await session('alice');
        const path = fresh();
        await owner.create(path, data('mine'), CreateMode.PERSISTENT, [alice()]);
        const renewed = statesUntil(owner, (e) => e.state === 'connected' && e.newSession);
        await backend.expire(owner);
        await renewed;
        expect((await owner.getData(path)).data.toString()).toBe('mine');
        await owner.setACL(path, [alice(), { perms: Perms.READ, scheme: 'digest', id: BOB }]);
        await owner.close();
      });
    });

    describe('sessions and ephemerals', () => {
      it('owns ephemerals by session and deletes them when it closes', async () => {
        const session = await backend.connect();
        const path = fresh();
        await session.create(path, data('alive'), CreateMode.EPHEMERAL);
        const seen = await store.getData(path);
        expect(seen.stat.ephemeralOwner).toBe(session.sessionId);
        expect(session.sessionId).not.toBe(0n);
        const w = recorder();
        await store.exists(path, w.fn);
        const deleted = w.next();
        await session.close();
        expect(session.state).toBe('closed');
        expect(await deleted).toEqual({ type: EventType.NODE_DELETED, path });
        expect(await store.exists(path)).toBeNull();
        await failure(session.getData('/'));
      });

      it('recovers from session expiry with a new session and tells its holders', async () => {
        const session = await backend.connect();
        const path = fresh();
        const oldId = session.sessionId;
        await session.create(path, undefined, CreateMode.EPHEMERAL);
        const gone = recorder();
        await store.exists(path, gone.fn);
        const deleted = gone.next();
        const states = statesUntil(session, (e) => e.state === 'connected' && e.newSession);
        await backend.expire(session);
        const events = await states;
        expect(events.map((e) => e.state)).toContain('expired');
        expect(events.find((e) => e.state === 'expired')?.sessionId).toBe(oldId);
        const renewed = events.at(-1)!;
        expect(renewed.sessionId).not.toBe(oldId);
        expect(session.sessionId).toBe(renewed.sessionId);
        expect(session.state).toBe('connected');
        expect(await deleted).toEqual({ type: EventType.NODE_DELETED, path });
        // The holder re-creates its ephemeral under the new session.
        await session.create(path, undefined, CreateMode.EPHEMERAL);
        expect((await store.exists(path))?.ephemeralOwner).toBe(renewed.sessionId);
        await session.close();
      });
    });
  });
}
