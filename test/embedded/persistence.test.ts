/**
 * Persistence: fdatasync before acknowledgement and group commit, a failing log, and what a
 * reopened data directory holds after clean shutdowns, torn and damaged log records, snapshots
 * with purge, and a lock left by a dead process.
 */
import { cp, mkdir, open, readFile, rm, stat, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { digestId } from '../../src/coordination/acl.js';
import { BinaryWriter } from '../../src/coordination/embedded/codec.js';
import { ErrorCode } from '../../src/coordination/errors.js';
import {
  CREATOR_ALL_ACL,
  CreateMode,
  OPEN_ACL_UNSAFE,
  Perms,
  READ_ACL_UNSAFE,
  type Acl,
} from '../../src/coordination/store.js';
import { failure } from '../contract/contract.js';
import {
  dumpTree,
  listVersionDir,
  logRecords,
  newestLog,
  nextStates,
  openServer,
  recordingLogger,
  useDataDir,
} from './helpers.js';

/** Creates `/n0`..`/n{count-1}` one at a time (each its own log record), then closes the server. */
async function writeNodes(dataDir: string, count: number): Promise<void> {
  const server = await openServer(dataDir);
  const store = server.connect();
  for (let i = 0; i < count; i++) await store.create(`/n${i}`, Buffer.from(`value ${i}`));
  await store.close();
  await server.close();
}

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = (byte[0] as number) ^ 0x40;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Spies on `FileHandle#datasync`, the call that makes a log write durable. */
async function spyOnDatasync(dir: string) {
  const handle = await open(dir, 'r');
  const prototype = Object.getPrototypeOf(handle) as { datasync: () => Promise<void> };
  await handle.close();
  const spy = vi.spyOn(prototype, 'datasync');
  onTestFinished(() => spy.mockRestore());
  return spy;
}

describe('embedded store: persistence', () => {
  it('fdatasyncs before acknowledging a write, one fdatasync for a burst of concurrent writes', async () => {
    const dataDir = await useDataDir();
    const store = (await openServer(dataDir)).connect();
    await store.exists('/');
    const datasync = await spyOnDatasync(dataDir);
    for (let i = 0; i < 5; i++) await store.create(`/one${i}`);
    expect(datasync).toHaveBeenCalledTimes(5);
    datasync.mockClear();
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.create(`/burst${i}`)));
    expect(datasync).toHaveBeenCalledTimes(1);
  });

  it('refuses writes once the log fails, failing the ones in flight with CONNECTION_LOSS', async () => {
    const dataDir = await useDataDir();
    const logger = recordingLogger();
    const server = await openServer(dataDir, { logger });
    const store = server.connect();
    await store.create('/kept');
    const datasync = await spyOnDatasync(dataDir);
    datasync.mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    const disconnected = nextStates(store, 1);
    await expect(store.create('/lost')).rejects.toMatchObject({ code: ErrorCode.CONNECTION_LOSS });
    expect(await disconnected).toEqual([
      { state: 'disconnected', sessionId: store.sessionId, newSession: false },
    ]);
    await expect(store.setData('/kept', Buffer.from('x'))).rejects.toMatchObject({
      code: ErrorCode.CONNECTION_LOSS,
    });
    expect(await store.exists('/kept')).not.toBeNull();
    expect(await store.exists('/lost')).toBeNull();
    expect(logger.warnings).toEqual([expect.stringContaining('the transaction log failed')]);
  });

  it('reopens to the same tree, stats and zxid, and never reuses a zxid', async () => {
    const dataDir = await useDataDir();
    const first = await openServer(dataDir);
    const store = first.connect();
    await store.create('/app', Buffer.from('config'));
    await store.create('/app/q-', Buffer.from('a'), CreateMode.PERSISTENT_SEQUENTIAL);
    await store.setData('/app', Buffer.from('config v2'));
    await store.multi([
      { op: 'create', path: '/app/m' },
      { op: 'delete', path: '/app/q-0000000000' },
    ]);
    await store.create('/app').catch(() => undefined); // a failed write still takes a zxid
    await store.close();
    const tree = await dumpTree(first.connect());
    const lastZxid = first.lastZxid;
    await first.close();

    const second = await openServer(dataDir);
    // A new epoch (the high 32 bits): its first transaction closes the session the dump used.
    const epoch = second.lastZxid >> 32n;
    expect(epoch).toBeGreaterThan(lastZxid >> 32n);
    expect(second.lastZxid).toBe((epoch << 32n) + 1n);
    const reopened = second.connect();
    expect(await dumpTree(reopened)).toEqual(tree);
    await reopened.create('/next');
    expect((await reopened.exists('/next'))?.czxid).toBe((epoch << 32n) + 3n);
    const withNext = await dumpTree(reopened);
    await reopened.close();
    await second.close();
    // Replaying every log, across the epoch boundary, rebuilds the same tree.
    const { snapshots } = await listVersionDir(dataDir);
    for (const name of snapshots) await unlink(join(dataDir, 'version-2', name));
    const third = await openServer(dataDir);
    expect(await dumpTree(third.connect())).toEqual(withNext);
    expect(third.lastZxid >> 32n).toBeGreaterThan(epoch);
  });

  it('knows no zxid of a run that its restored data directory lost', async () => {
    const dataDir = await useDataDir();
    const backup = await useDataDir();
    let clock = Date.UTC(2026, 5, 1);
    const now = () => clock;
    await writeNodes(dataDir, 2);
    await cp(dataDir, backup, { recursive: true });

    // A run that opened after the backup and was lost with it.
    const lost = await openServer(dataDir, { now });
    const store = lost.connect();
    const lostZxids: bigint[] = [];
    for (let i = 0; i < 3; i++)
      lostZxids.push(await store.setData('/n0', Buffer.from(`lost ${i}`)).then((s) => s.mzxid));
    await store.close();
    await lost.close();

    await rm(dataDir, { recursive: true, force: true });
    await cp(backup, dataDir, { recursive: true });
    clock += 60_000;
    const restored = await openServer(dataDir, { now });
    const backedUp = restored.lastZxid;
    const again = restored.connect();
    // More transactions than the lost run made: counters alone would collide with its zxids.
    for (let i = 0; i < 10; i++) await again.setData('/n1', Buffer.from(`new ${i}`));
    for (const zxid of lostZxids) expect(restored.knowsZxid(zxid)).toBe(false);
    expect(restored.knowsZxid(backedUp)).toBe(true);
    expect(restored.knowsZxid((await again.exists('/n0'))!.mzxid)).toBe(true);
    expect(restored.knowsZxid(restored.lastZxid)).toBe(true);
    expect(restored.knowsZxid(restored.lastZxid + 1n)).toBe(false);
    expect(again.knowsZxid(lostZxids[0]!)).toBe(false);
  });

  it('drops a record torn at the end of the newest log and keeps the rest', async () => {
    const dataDir = await useDataDir();
    await writeNodes(dataDir, 5);
    const log = await newestLog(dataDir);
    const records = await logRecords(log);
    const last = records.at(-1) as { offset: number; length: number };
    // The last record is the session's close; the one before is the create of /n4.
    await truncate(log, last.offset - (records.at(-2)?.length ?? 0) + 11);

    const logger = recordingLogger();
    const server = await openServer(dataDir, { logger });
    expect(logger.warnings).toEqual([
      expect.stringMatching(/dropping a torn record at the end of .*log\.1 \(offset \d+/),
    ]);
    const store = server.connect();
    expect(await store.exists('/n3')).not.toBeNull();
    expect(await store.exists('/n4')).toBeNull();
    expect((await stat(log)).size).toBe(last.offset - (records.at(-2)?.length ?? 0));
  });

  it('drops a final record whose payload is damaged, and garbage after the last record', async () => {
    const dataDir = await useDataDir();
    await writeNodes(dataDir, 3);
    const log = await newestLog(dataDir);
    const last = (await logRecords(log)).at(-1) as { offset: number; length: number };
    await flipByte(log, last.offset + last.length - 2);
    const zeros = await open(log, 'a');
    await zeros.write(Buffer.alloc(100));
    await zeros.close();

    const logger = recordingLogger();
    const server = await openServer(dataDir, { logger });
    expect(logger.warnings).toEqual([expect.stringContaining('checksum mismatch')]);
    expect((await stat(log)).size).toBe(last.offset);
    // The dropped record was the session's close, so that session is closed again on recovery.
    expect(await server.connect().exists('/n2')).not.toBeNull();
  });

  it('refuses to start when a record before the last one is damaged, naming the file and offset', async () => {
    const dataDir = await useDataDir();
    await writeNodes(dataDir, 5);
    const log = await newestLog(dataDir);
    const middle = (await logRecords(log))[2] as { offset: number; length: number };
    await flipByte(log, middle.offset + middle.length - 1);
    const before = await readFile(log);

    await expect(openServer(dataDir)).rejects.toThrow(
      new RegExp(
        `transaction log ${log} is damaged at offset ${middle.offset} \\(checksum mismatch\\) and intact records follow`,
      ),
    );
    expect(await readFile(log)).toEqual(before); // nothing truncated
    // A damaged length field is caught by the checksum too, not trusted.
    await flipByte(log, middle.offset + middle.length - 1);
    await flipByte(log, middle.offset + 1);
    await expect(openServer(dataDir)).rejects.toThrow(/is damaged at offset/);
  });

  it('snapshots every snapCount txns and keeps snapRetainCount snapshots plus the logs they need', async () => {
    const dataDir = await useDataDir();
    const server = await openServer(dataDir, { snapCount: 10, snapRetainCount: 3 });
    const store = server.connect();
    for (let i = 0; i < 95; i++) await store.create(`/s${i}`, Buffer.from(String(i)));
    await store.setData('/s0', Buffer.from('changed'));
    const tree = await dumpTree(store);
    await server.close();

    const { logs, snapshots } = await listVersionDir(dataDir);
    expect(snapshots).toHaveLength(3);
    const zxids = (names: string[], prefix: string) =>
      names.map((name) => BigInt(`0x${name.slice(prefix.length)}`));
    const [oldestSnapshot] = zxids(snapshots, 'snapshot.');
    const logStarts = zxids(logs, 'log.');
    // ZooKeeper's rule: every log starting after the oldest snapshot kept, and the last one
    // starting at or before it.
    expect(logStarts.filter((start) => start <= (oldestSnapshot as bigint))).toHaveLength(1);
    expect(logs.length).toBeLessThanOrEqual(4);

    const reopened = await openServer(dataDir, { snapCount: 10, snapRetainCount: 3 });
    expect(await dumpTree(reopened.connect())).toEqual(tree);
  });

  it('falls back to an older snapshot when the newest is damaged', async () => {
    const dataDir = await useDataDir();
    const server = await openServer(dataDir, { snapCount: 10, snapRetainCount: 3 });
    const store = server.connect();
    for (let i = 0; i < 35; i++) await store.create(`/f${i}`);
    const tree = await dumpTree(store, '/f20');
    await server.close();
    const { snapshots } = await listVersionDir(dataDir);
    const newest = join(dataDir, 'version-2', snapshots.at(-1) as string);
    await flipByte(newest, 40);

    const logger = recordingLogger();
    const reopened = await openServer(dataDir, { logger, snapCount: 10, snapRetainCount: 3 });
    expect(logger.warnings).toEqual([
      expect.stringMatching(/skipping snapshot .* fails its checksum; trying an older one/),
    ]);
    const again = reopened.connect();
    expect(await dumpTree(again, '/f20')).toEqual(tree);
    expect(await again.exists('/f34')).not.toBeNull();
  });

  it('refuses to start when a log between the snapshot and the end is missing', async () => {
    const dataDir = await useDataDir();
    const server = await openServer(dataDir, { snapCount: 10, snapRetainCount: 3 });
    const store = server.connect();
    for (let i = 0; i < 25; i++) await store.create(`/g${i}`);
    await server.close();
    const { logs, snapshots } = await listVersionDir(dataDir);
    for (const name of snapshots.slice(1)) await unlink(join(dataDir, 'version-2', name));
    await unlink(join(dataDir, 'version-2', logs.at(-2) as string));
    await expect(openServer(dataDir)).rejects.toThrow(/transactions are missing/);
  });

  it('takes over a lock whose lease ran out (its holder is gone)', async () => {
    const dataDir = await useDataDir();
    // What a killed holder leaves: the lock, no longer refreshed.
    const lock = join(dataDir, 'zkgate-embedded.lock');
    await mkdir(lock);
    const past = new Date(Date.now() - 60_000);
    await utimes(lock, past, past);
    const server = await openServer(dataDir, { lockWaitMs: 0 });
    expect(await server.connect().exists('/zookeeper')).not.toBeNull();
  });
});

describe('embedded store: ACLs on disk', () => {
  const alice = { perms: Perms.ALL, scheme: 'digest', id: digestId('alice:secret') };
  const readers = { perms: Perms.READ, scheme: 'world', id: 'anyone' };

  async function aclsOf(dataDir: string): Promise<Record<string, { acl: Acl[]; aversion: number }>> {
    const server = await openServer(dataDir);
    const store = server.connect();
    await store.addAuth('digest', Buffer.from('alice:secret'));
    const acls: Record<string, { acl: Acl[]; aversion: number }> = {};
    for (const path of ['/owned', '/owned/child', '/reset', '/zookeeper/config']) {
      const { acl, stat } = await store.getACL(path);
      acls[path] = { acl, aversion: stat.aversion };
    }
    await server.close();
    return acls;
  }

  it('keeps ACLs and ACL versions, replayed from the log and read from a snapshot', async () => {
    const dataDir = await useDataDir();
    const server = await openServer(dataDir);
    const store = server.connect();
    await store.addAuth('digest', Buffer.from('alice:secret'));
    await store.create('/owned', undefined, CreateMode.PERSISTENT, [readers, ...CREATOR_ALL_ACL]);
    await store.multi([{ op: 'create', path: '/owned/child', acl: [alice] }]);
    await store.create('/reset', undefined, CreateMode.PERSISTENT, [alice]);
    await store.setACL('/reset', [...OPEN_ACL_UNSAFE], 0);
    await server.close();
    const expected = {
      '/owned': { acl: [readers, alice], aversion: 0 },
      '/owned/child': { acl: [alice], aversion: 0 },
      '/reset': { acl: [...OPEN_ACL_UNSAFE], aversion: 1 },
      '/zookeeper/config': { acl: [...READ_ACL_UNSAFE], aversion: -1 },
    };
    // The first reopen replays the log (and then takes a snapshot), the second reads that snapshot.
    expect(await aclsOf(dataDir)).toEqual(expected);
    expect((await listVersionDir(dataDir)).snapshots.length).toBeGreaterThan(0);
    expect(await aclsOf(dataDir)).toEqual(expected);
  });

  it('opens a data directory written before ACLs, its znodes open to everybody', async () => {
    const dataDir = await useDataDir();
    const dir = join(dataDir, 'version-2');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'snapshot.1'), legacySnapshot());
    await writeFile(join(dir, 'log.2'), legacyLog());
    const server = await openServer(dataDir);
    const store = server.connect();
    for (const path of ['/from-snapshot', '/from-log']) {
      expect(await store.getACL(path)).toMatchObject({ acl: [...OPEN_ACL_UNSAFE], stat: { aversion: 0 } });
    }
    expect((await store.getData('/from-log')).data.toString()).toBe('log');
    expect((await store.getACL('/zookeeper/config')).acl).toEqual([...READ_ACL_UNSAFE]);
    expect((await failure(store.setData('/zookeeper/config', Buffer.from('x')))).code).toBe(
      ErrorCode.NO_AUTH,
    );
  });
});

/** A version 1 snapshot (before ACLs) as of zxid 1: a fresh tree plus `/from-snapshot`. */
function legacySnapshot(): Buffer {
  const w = new BinaryWriter();
  w.u32(0x5a4b534e).u32(1).i64(1n).u32(0);
  const nodes: [string, number, bigint, number][] = [
    // path, stored cversion, czxid, aversion
    ['/', 1, 0n, 0],
    ['/zookeeper', 0, 0n, 0],
    ['/zookeeper/quota', 0, 0n, 0],
    ['/zookeeper/config', 0, 0n, -1],
    ['/from-snapshot', 0, 1n, 0],
  ];
  w.u32(nodes.length);
  for (const [path, cversion, czxid, aversion] of nodes) {
    w.string(path).bytes(Buffer.alloc(0));
    w.i64(czxid)
      .i64(czxid)
      .i64(path === '/' ? 1n : czxid)
      .time(0)
      .time(0);
    w.i32(0).i32(cversion).i32(aversion).i64(0n);
  }
  const body = Buffer.from(w.finish());
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc32(body));
  return Buffer.concat([body, sum]);
}

/** A log in the format before ACLs (header version 2): one create at zxid 2, with no ACL. */
function legacyLog(): Buffer {
  const w = new BinaryWriter();
  w.i64(2n).i64(1n).time(Date.now()).i32(1);
  w.string('/from-log').bytes(Buffer.from('log')).u32(0).i32(2);
  const payload = Buffer.from(w.finish());
  const length = Buffer.alloc(4);
  length.writeUInt32BE(payload.length);
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc32(payload, crc32(length)));
  const header = Buffer.from([0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, length, sum, payload]);
}
