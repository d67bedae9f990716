/**
 * ZooKeeper 3.8 semantics of the embedded store, op by op. Every expectation here (stats, codes,
 * which requests consume a zxid) was first observed on a real ZooKeeper 3.8 standalone server.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, MultiError, StoreError } from '../../src/coordination/errors.js';
import { CreateMode } from '../../src/coordination/store.js';
import type { EmbeddedSession } from '../../src/coordination/embedded/index.js';
import { openServer, useDataDir } from './helpers.js';

async function connected(): Promise<{ store: EmbeddedSession; lastZxid: () => bigint }> {
  const server = await openServer(await useDataDir());
  const store = server.connect();
  await store.exists('/'); // queued behind the session's creation
  return { store, lastZxid: () => server.lastZxid };
}

async function codeOf(promise: Promise<unknown>): Promise<number> {
  const err = await promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return (err as StoreError).code;
}

describe('embedded store: the initial tree', () => {
  it('matches a fresh ZooKeeper 3.8 standalone server, stats included', async () => {
    const { store, lastZxid } = await connected();
    expect(lastZxid()).toBe(1n); // the session's creation
    const zero = {
      czxid: 0n,
      mzxid: 0n,
      pzxid: 0n,
      ctime: 0,
      mtime: 0,
      version: 0,
      ephemeralOwner: 0n,
      dataLength: 0,
    };
    expect((await store.getData('/')).stat).toEqual({ ...zero, cversion: -1, aversion: 0, numChildren: 1 });
    expect((await store.getData('/zookeeper')).stat).toEqual({
      ...zero,
      cversion: -2,
      aversion: 0,
      numChildren: 2,
    });
    expect((await store.getData('/zookeeper/quota')).stat).toEqual({
      ...zero,
      cversion: 0,
      aversion: 0,
      numChildren: 0,
    });
    expect((await store.getData('/zookeeper/config')).stat).toEqual({
      ...zero,
      cversion: 0,
      aversion: -1,
      numChildren: 0,
    });
    expect((await store.getChildren('/')).children).toEqual(['zookeeper']);
    expect((await store.getChildren('/zookeeper')).children.sort()).toEqual(['config', 'quota']);
  });

  it('protects the special znodes as ZooKeeper does, consuming a zxid each time', async () => {
    const { store, lastZxid } = await connected();
    for (const path of ['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']) {
      expect(await codeOf(store.delete(path))).toBe(ErrorCode.BAD_ARGUMENTS);
    }
    expect(await codeOf(store.setData('/zookeeper/config', Buffer.from('x')))).toBe(ErrorCode.NO_AUTH);
    expect(await codeOf(store.create('/zookeeper/config/x'))).toBe(ErrorCode.NO_AUTH);
    expect(await codeOf(store.create('/'))).toBe(ErrorCode.NODE_EXISTS);
    expect(lastZxid()).toBe(1n + 7n);
    await store.create('/zookeeper/x');
    expect((await store.setData('/zookeeper', Buffer.from('q'))).numChildren).toBe(3);
  });
});

describe('embedded store: writes', () => {
  it('gives znodes ZooKeeper stats: zxids, times, versions, cversion counting creates and deletes', async () => {
    const { store, lastZxid } = await connected();
    const before = Date.now();
    await store.create('/a', Buffer.from('x'));
    const a = (await store.getData('/a')).stat;
    expect(a).toMatchObject({
      czxid: 2n,
      mzxid: 2n,
      pzxid: 2n,
      version: 0,
      cversion: 0,
      dataLength: 1,
      numChildren: 0,
    });
    expect(a.ctime).toBeGreaterThanOrEqual(before);
    expect(a.mtime).toBe(a.ctime);

    await store.create('/a/c');
    await store.delete('/a/c');
    expect((await store.getData('/a')).stat).toMatchObject({
      mzxid: 2n,
      pzxid: 4n,
      cversion: 2,
      numChildren: 0,
    });
    // The sequential suffix counts creates only (ZooKeeper's stored cversion), not deletes.
    expect(await store.create('/a/s-', undefined, CreateMode.PERSISTENT_SEQUENTIAL)).toBe('/a/s-0000000001');
    expect(await store.create('/a/', undefined, CreateMode.PERSISTENT_SEQUENTIAL)).toBe('/a/0000000002');

    const set = await store.setData('/a', Buffer.from('yz'), 0);
    expect(set).toMatchObject({
      czxid: 2n,
      mzxid: 7n,
      pzxid: 6n,
      version: 1,
      cversion: 4,
      dataLength: 2,
      numChildren: 2,
    });
    expect(set.mtime).toBeGreaterThanOrEqual(a.mtime);
    expect(lastZxid()).toBe(7n);
    expect((await store.getData('/a')).data.toString()).toBe('yz');
  });

  it('fails writes with ZooKeeper codes in its order of checks, each consuming one zxid', async () => {
    const { store, lastZxid } = await connected();
    await store.create('/a');
    await store.create('/a/b');
    await store.create('/eph', undefined, CreateMode.EPHEMERAL);
    const start = lastZxid();
    expect(await codeOf(store.create('/a'))).toBe(ErrorCode.NODE_EXISTS);
    expect(await codeOf(store.create('/nope/x'))).toBe(ErrorCode.NO_NODE);
    expect(await codeOf(store.setData('/a', Buffer.from('y'), 5))).toBe(ErrorCode.BAD_VERSION);
    expect(await codeOf(store.setData('/nope', Buffer.from('y')))).toBe(ErrorCode.NO_NODE);
    expect(await codeOf(store.delete('/a'))).toBe(ErrorCode.NOT_EMPTY);
    expect(await codeOf(store.delete('/a', 7))).toBe(ErrorCode.BAD_VERSION); // version before emptiness
    expect(await codeOf(store.delete('/nope'))).toBe(ErrorCode.NO_NODE);
    expect(await codeOf(store.create('/eph/x'))).toBe(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
    expect(await codeOf(store.create('/eph/x', undefined, CreateMode.PERSISTENT_SEQUENTIAL))).toBe(
      ErrorCode.NO_CHILDREN_FOR_EPHEMERALS,
    );
    expect(await codeOf(store.create('/eph'))).toBe(ErrorCode.NODE_EXISTS);
    expect(lastZxid()).toBe(start + 10n);
    expect((await store.getData('/a')).stat).toMatchObject({ version: 0, cversion: 1, numChildren: 1 });
  });

  it('refuses invalid paths and oversize data up front with BAD_ARGUMENTS, consuming no zxid', async () => {
    const { store, lastZxid } = await connected();
    const start = lastZxid();
    for (const attempt of [
      store.create('a'),
      store.create('/a/'),
      store.create('/a//b'),
      store.create('/a/./b'),
      store.getData('/a/'),
      store.delete(''),
      store.setData('/a', Buffer.alloc(1024 * 1024)),
      store.multi([
        { op: 'create', path: '/ok' },
        { op: 'delete', path: '/bad/' },
      ]),
    ]) {
      expect(await codeOf(attempt)).toBe(ErrorCode.BAD_ARGUMENTS);
    }
    expect(lastZxid()).toBe(start);
    expect(await store.exists('/ok')).toBeNull();
  });

  it('creates ephemeral and sequential znodes owned by the session', async () => {
    const { store } = await connected();
    await store.create('/q');
    expect(await store.create('/q/e-', undefined, CreateMode.EPHEMERAL_SEQUENTIAL)).toBe('/q/e-0000000000');
    expect(await store.create('/q/e-', undefined, CreateMode.EPHEMERAL_SEQUENTIAL)).toBe('/q/e-0000000001');
    const stat = await store.exists('/q/e-0000000001');
    expect(stat?.ephemeralOwner).toBe(store.sessionId);
    expect((await store.exists('/q'))?.ephemeralOwner).toBe(0n);
  });

  it('keeps its own copy of data, and hands out copies', async () => {
    const { store } = await connected();
    const data = Buffer.from('abc');
    const created = store.create('/copy', data);
    data.write('zzz');
    await created;
    const read = await store.getData('/copy');
    expect(read.data.toString()).toBe('abc');
    read.data.write('yyy');
    expect((await store.getData('/copy')).data.toString()).toBe('abc');
  });
});

describe('embedded store: multi', () => {
  it('applies all ops in one zxid, each op seeing the earlier ones', async () => {
    const { store, lastZxid } = await connected();
    const zxid = lastZxid() + 1n;
    const results = await store.multi([
      { op: 'create', path: '/m' },
      { op: 'create', path: '/m/c' },
      { op: 'setData', path: '/m', data: Buffer.from('zz'), version: 0 },
      { op: 'create', path: '/m/s-', mode: CreateMode.PERSISTENT_SEQUENTIAL },
      { op: 'delete', path: '/m/c' },
      { op: 'check', path: '/m', version: 1 },
    ]);
    expect(results).toEqual([
      { op: 'create', path: '/m' },
      { op: 'create', path: '/m/c' },
      {
        op: 'setData',
        stat: expect.objectContaining({ czxid: zxid, mzxid: zxid, version: 1, cversion: 1, numChildren: 1 }),
      },
      { op: 'create', path: '/m/s-0000000001' },
      { op: 'delete' },
      { op: 'check' },
    ]);
    expect(lastZxid()).toBe(zxid);
    expect((await store.getData('/m')).stat).toMatchObject({
      pzxid: zxid,
      version: 1,
      cversion: 3,
      numChildren: 1,
    });
  });

  it('applies nothing on failure and reports 0 / the code / RUNTIME_INCONSISTENCY per op', async () => {
    const { store, lastZxid } = await connected();
    await store.create('/f');
    const start = lastZxid();
    const err = await store
      .multi([
        { op: 'create', path: '/m1' },
        { op: 'setData', path: '/nope', data: Buffer.from('z') },
        { op: 'create', path: '/m2' },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MultiError);
    expect(err).toMatchObject({
      index: 1,
      code: ErrorCode.NO_NODE,
      path: '/nope',
      results: [0, ErrorCode.NO_NODE, -2],
    });
    expect(await store.exists('/m1')).toBeNull();

    const check = await store
      .multi([
        { op: 'check', path: '/f', version: -1 },
        { op: 'check', path: '/f', version: 3 },
      ])
      .catch((e: unknown) => e);
    expect(check).toMatchObject({ index: 1, results: [0, ErrorCode.BAD_VERSION] });
    // An op that fails only because of an earlier op in the same multi.
    const twice = await store
      .multi([
        { op: 'create', path: '/t' },
        { op: 'create', path: '/t' },
      ])
      .catch((e: unknown) => e);
    expect(twice).toMatchObject({ index: 1, results: [0, ErrorCode.NODE_EXISTS] });
    expect(await store.multi([])).toEqual([]);
    expect(lastZxid()).toBe(start + 4n);
    expect((await store.getData('/')).stat.numChildren).toBe(2);
  });
});

describe('embedded store: ordering', () => {
  it('answers a session in order: a read sent after a write sees it', async () => {
    const { store } = await connected();
    const created = store.create('/r', Buffer.from('1'));
    const read = store.getData('/r');
    const updated = store.setData('/r', Buffer.from('2'));
    const reread = store.getData('/r');
    await Promise.all([created, updated]);
    expect((await read).data.toString()).toBe('1');
    expect((await reread).data.toString()).toBe('2');
  });

  it('never shows another session a write that is not yet durable', async () => {
    const server = await openServer(await useDataDir());
    const writer = server.connect();
    const reader = server.connect();
    await Promise.all([writer.exists('/'), reader.exists('/')]);
    const created = writer.create('/u');
    expect(await reader.exists('/u')).toBeNull();
    await created;
    expect(await reader.exists('/u')).not.toBeNull();
  });

  it('gives every write of a burst its own consecutive zxid, in submission order', async () => {
    const { store, lastZxid } = await connected();
    const start = lastZxid();
    const paths = Array.from({ length: 50 }, (_, i) => `/burst${i}`);
    await Promise.all(paths.map((path) => store.create(path)));
    const czxids = await Promise.all(paths.map(async (path) => (await store.exists(path))?.czxid));
    expect(czxids).toEqual(paths.map((_, i) => start + 1n + BigInt(i)));
  });
});
