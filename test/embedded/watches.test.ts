/**
 * One-shot watches with the Java client's rules: which events fire which watches, one call per
 * function per event, delivery in zxid order and ahead of the write's own response.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/coordination/errors.js';
import { EventType, type CoordinationStore, type WatchEvent } from '../../src/coordination/store.js';
import type { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import { openServer, recordingLogger, useDataDir } from './helpers.js';

/** A watcher that records its events. */
function recorder(): { events: WatchEvent[]; watcher: (event: WatchEvent) => void } {
  const events: WatchEvent[] = [];
  return { events, watcher: (event) => events.push(event) };
}

async function twoSessions(server?: EmbeddedServer) {
  server ??= await openServer(await useDataDir());
  const watcher = server.connect();
  const writer = server.connect();
  await Promise.all([watcher.exists('/'), writer.exists('/')]);
  return { server, watcher, writer };
}

/**
 * Events reach a session in zxid order, so once a later write's event has arrived every event of
 * the writes before it has been delivered too: an empty record then proves nothing fired.
 */
let barriers = 0;
async function barrier(watching: CoordinationStore, writing: CoordinationStore): Promise<void> {
  const path = `/barrier-${barriers++}`;
  const fired = new Promise<void>((resolve) => void watching.exists(path, () => resolve()));
  await writing.create(path);
  await fired;
}

describe('embedded store: watches', () => {
  it('fires a data watch once, on the first change', async () => {
    const { watcher, writer } = await twoSessions();
    await writer.create('/w', Buffer.from('1'));
    const r = recorder();
    await watcher.getData('/w', r.watcher);
    await writer.setData('/w', Buffer.from('2'));
    await writer.setData('/w', Buffer.from('3'));
    await barrier(watcher, writer);
    expect(r.events).toEqual([{ type: EventType.NODE_DATA_CHANGED, path: '/w' }]);
  });

  it('fires an exists watch on a missing node when it is created', async () => {
    const { watcher, writer } = await twoSessions();
    const r = recorder();
    expect(await watcher.exists('/later', r.watcher)).toBeNull();
    await writer.create('/later');
    await barrier(watcher, writer);
    expect(r.events).toEqual([{ type: EventType.NODE_CREATED, path: '/later' }]);
  });

  it('sets no watch when getData or getChildren fail with NO_NODE', async () => {
    const { watcher, writer } = await twoSessions();
    const r = recorder();
    await expect(watcher.getData('/missing', r.watcher)).rejects.toMatchObject({ code: ErrorCode.NO_NODE });
    await expect(watcher.getChildren('/missing', r.watcher)).rejects.toMatchObject({
      code: ErrorCode.NO_NODE,
    });
    await writer.create('/missing');
    await writer.create('/missing/child');
    await barrier(watcher, writer);
    expect(r.events).toEqual([]);
  });

  it('fires child watches on child creates and deletes, not on the parent data', async () => {
    const { watcher, writer } = await twoSessions();
    await writer.create('/p');
    const r = recorder();
    await watcher.getChildren('/p', r.watcher);
    await writer.setData('/p', Buffer.from('x'));
    await writer.create('/p/c');
    await watcher.getChildren('/p', r.watcher);
    await writer.delete('/p/c');
    await barrier(watcher, writer);
    expect(r.events).toEqual([
      { type: EventType.NODE_CHILDREN_CHANGED, path: '/p' },
      { type: EventType.NODE_CHILDREN_CHANGED, path: '/p' },
    ]);
  });

  it('calls a function set through getData, exists and getChildren once on NodeDeleted', async () => {
    const { watcher, writer } = await twoSessions();
    await writer.create('/d');
    const same = recorder();
    const data = recorder();
    const child = recorder();
    await watcher.getData('/d', same.watcher);
    await watcher.exists('/d', same.watcher);
    await watcher.getChildren('/d', same.watcher);
    await watcher.getData('/d', data.watcher);
    await watcher.getChildren('/d', child.watcher);
    await writer.delete('/d');
    await barrier(watcher, writer);
    const deleted = [{ type: EventType.NODE_DELETED, path: '/d' }];
    expect(same.events).toEqual(deleted);
    expect(data.events).toEqual(deleted);
    expect(child.events).toEqual(deleted);
  });

  it('does not fire a child watch on NodeCreated or NodeDataChanged of its own path', async () => {
    const { watcher, writer } = await twoSessions();
    await writer.create('/n');
    const r = recorder();
    await watcher.getChildren('/n', r.watcher);
    await writer.setData('/n', Buffer.from('x'));
    await barrier(watcher, writer);
    expect(r.events).toEqual([]);
  });

  it('keeps watches per session: each session that watches gets the event', async () => {
    const { server, watcher, writer } = await twoSessions();
    const third = server.connect();
    await writer.create('/shared');
    const first = recorder();
    await watcher.getData('/shared', first.watcher);
    await third.getData('/shared', first.watcher);
    await writer.setData('/shared', Buffer.from('x'));
    await barrier(watcher, writer);
    await barrier(third, writer);
    expect(first.events).toHaveLength(2);
  });

  it('delivers a session its events in zxid order', async () => {
    const { watcher, writer } = await twoSessions();
    const paths = Array.from({ length: 20 }, (_, i) => `/o${i}`);
    const r = recorder();
    for (const path of paths) await watcher.exists(path, r.watcher);
    await Promise.all([...paths].reverse().map((path) => writer.create(path)));
    await barrier(watcher, writer);
    expect(r.events.map((e) => e.path)).toEqual([...paths].reverse());
  });

  it('delivers the watch event before the response to the write that caused it', async () => {
    const { watcher } = await twoSessions();
    await watcher.create('/own');
    const order: string[] = [];
    await watcher.getData('/own', () => order.push('event'));
    await watcher.setData('/own', Buffer.from('x')).then(() => order.push('response'));
    expect(order).toEqual(['event', 'response']);
  });

  it('survives a watcher that throws, and lets watchers call back into the store', async () => {
    const logger = recordingLogger();
    const { watcher, writer } = await twoSessions(await openServer(await useDataDir(), { logger }));
    await writer.create('/t');
    await watcher.getData('/t', () => {
      throw new Error('boom');
    });
    // The usual re-arming watcher: it reads again from inside its own callback.
    const seen: string[] = [];
    const rearm = (event: WatchEvent): void => {
      void watcher.getData(event.path, rearm).then(({ data }) => seen.push(data.toString()));
    };
    await watcher.getData('/t', rearm);
    await writer.setData('/t', Buffer.from('1'));
    await barrier(watcher, writer);
    await writer.setData('/t', Buffer.from('2'));
    await barrier(watcher, writer);
    expect(seen).toEqual(['1', '2']);
    expect(logger.warnings).toEqual(['a watcher threw on /t']);
    expect(await writer.create('/t/after')).toBe('/t/after');
  });
});
