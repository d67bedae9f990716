/**
 * Sessions: connection-state events, ephemerals ending with their session (close, expiry,
 * restart), and expiry recovery under a new session id.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/coordination/errors.js';
import { CreateMode, EventType, type WatchEvent } from '../../src/coordination/store.js';
import { nextStates, openServer, useDataDir } from './helpers.js';

describe('embedded store: sessions', () => {
  it('is connected at once and tells a listener added right after connect()', async () => {
    const server = await openServer(await useDataDir());
    const store = server.connect();
    expect(store.kind).toBe('embedded');
    expect(store.state).toBe('connected');
    const [event] = await nextStates(store, 1);
    expect(event).toEqual({ state: 'connected', sessionId: store.sessionId, newSession: false });
    expect(store.sessionId >> 56n).toBe(1n); // ZooKeeper's layout: server id 1 in the top byte
    expect(server.connect().sessionId).not.toBe(store.sessionId);
  });

  it('deletes its ephemerals in one transaction on close, telling other sessions', async () => {
    const server = await openServer(await useDataDir());
    const owner = server.connect();
    const other = server.connect();
    await owner.create('/e1', undefined, CreateMode.EPHEMERAL);
    await owner.create('/e2', undefined, CreateMode.EPHEMERAL_SEQUENTIAL);
    await owner.create('/kept');
    const events: WatchEvent[] = [];
    await other.exists('/e1', (e) => events.push(e));
    await other.getChildren('/', (e) => events.push(e));
    const ownWatch: WatchEvent[] = [];
    await owner.getData('/e1', (e) => ownWatch.push(e));
    const before = server.lastZxid;
    const closed = nextStates(owner, 1);
    await owner.close();
    expect(await closed).toEqual([{ state: 'closed', sessionId: owner.sessionId, newSession: false }]);
    expect(owner.state).toBe('closed');
    expect(server.lastZxid).toBe(before + 1n);
    expect(await other.exists('/e1')).toBeNull();
    expect(await other.exists('/e20000000001')).toBeNull();
    expect(await other.exists('/kept')).not.toBeNull();
    expect(events).toEqual([
      { type: EventType.NODE_DELETED, path: '/e1' },
      { type: EventType.NODE_CHILDREN_CHANGED, path: '/' },
    ]);
    expect(ownWatch).toEqual([]);
    expect((await other.getData('/')).stat.pzxid).toBe(server.lastZxid);
    await expect(owner.getData('/kept')).rejects.toMatchObject({ code: ErrorCode.SESSION_EXPIRED });
    await expect(owner.create('/x')).rejects.toMatchObject({ code: ErrorCode.SESSION_EXPIRED });
    await owner.close(); // idempotent
  });

  it('answers writes sent before close(), then refuses new ones', async () => {
    const server = await openServer(await useDataDir());
    const store = server.connect();
    const created = store.create('/before');
    const closing = store.close();
    await expect(store.create('/after')).rejects.toMatchObject({ code: ErrorCode.SESSION_EXPIRED });
    expect(await created).toBe('/before');
    await closing;
    expect(await server.connect().exists('/before')).not.toBeNull();
  });

  it('expires like ZooKeeper: ephemerals gone, watches dropped, expired then connected under a new id', async () => {
    const server = await openServer(await useDataDir());
    const store = server.connect();
    const other = server.connect();
    await store.create('/mine', undefined, CreateMode.EPHEMERAL);
    await store.create('/data', Buffer.from('1'));
    const dropped: WatchEvent[] = [];
    await store.getData('/data', (e) => dropped.push(e));
    await store.exists('/mine', (e) => dropped.push(e));
    const seen: WatchEvent[] = [];
    await other.exists('/mine', (e) => seen.push(e));

    const oldId = store.sessionId;
    const states = nextStates(store, 2);
    const newId = await server.expireSession(oldId);
    expect(await states).toEqual([
      { state: 'expired', sessionId: oldId, newSession: false },
      { state: 'connected', sessionId: newId, newSession: true },
    ]);
    expect(newId).not.toBe(oldId);
    expect(store.sessionId).toBe(newId);
    expect(store.state).toBe('connected');
    expect(await other.exists('/mine')).toBeNull();
    expect(seen).toEqual([{ type: EventType.NODE_DELETED, path: '/mine' }]);

    await other.setData('/data', Buffer.from('2'));
    await store.create('/mine', undefined, CreateMode.EPHEMERAL);
    expect((await store.exists('/mine'))?.ephemeralOwner).toBe(newId);
    expect(dropped).toEqual([]);
    await expect(server.expireSession(oldId)).rejects.toMatchObject({ code: ErrorCode.SESSION_EXPIRED });
  });

  it('drops the watches set by reads answered just before the expiry', async () => {
    const server = await openServer(await useDataDir());
    const store = server.connect();
    const other = server.connect();
    await other.create('/w');
    const fired: WatchEvent[] = [];
    const write = store.create('/pending');
    const read = store.getData('/w', (e) => fired.push(e)); // queued behind the write, in the old session
    const expired = server.expireSession(store.sessionId);
    await Promise.all([write, read, expired]);
    await other.setData('/w', Buffer.from('x'));
    const barrier = new Promise((resolve) => void store.exists('/barrier', resolve));
    await other.create('/barrier');
    await barrier;
    expect(fired).toEqual([]);
  });

  it('deletes the ephemerals of the previous process at the next open, in logged transactions', async () => {
    const dataDir = await useDataDir();
    const first = await openServer(dataDir);
    const a = first.connect();
    const b = first.connect();
    await a.create('/gone', undefined, CreateMode.EPHEMERAL);
    await b.create('/also-gone', undefined, CreateMode.EPHEMERAL);
    await a.create('/stays', Buffer.from('x'));
    const detached = nextStates(a, 1);
    const lastZxid = first.lastZxid;
    await first.close();
    expect((await detached)[0]?.state).toBe('closed');
    await expect(a.exists('/stays')).rejects.toMatchObject({ code: ErrorCode.SESSION_EXPIRED });

    const second = await openServer(dataDir);
    // One close-session txn per session, the first two of the new epoch.
    expect(second.lastZxid >> 32n).toBeGreaterThan(lastZxid >> 32n);
    expect(second.lastZxid & 0xffff_ffffn).toBe(2n);
    expect(second.stats().sessionCount).toBe(0);
    const store = second.connect();
    expect(await store.exists('/gone')).toBeNull();
    expect(await store.exists('/also-gone')).toBeNull();
    expect((await store.getData('/stays')).data.toString()).toBe('x');
  });

  it('refuses a second server on the same data directory', async () => {
    const dataDir = await useDataDir();
    await openServer(dataDir);
    await expect(openServer(dataDir, { lockWaitMs: 0 })).rejects.toThrow(/is in use by another process/);
  });
});
