/**
 * Shared pieces of the embedded-store tests: temp data directories cleaned up after each test,
 * servers closed after each test, a logger that records warnings, and readers for the on-disk
 * format.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { EmbeddedServer, type EmbeddedServerOptions } from '../../src/coordination/embedded/index.js';
import type { StoreLogger } from '../../src/coordination/store.js';
import type { CoordinationStore, SessionEvent, Stat } from '../../src/coordination/store.js';

export async function useDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zkgate-embedded-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface RecordingLogger extends StoreLogger {
  readonly warnings: string[];
}

export function recordingLogger(): RecordingLogger {
  const warnings: string[] = [];
  return { warnings, info: () => {}, warn: (_obj, msg) => warnings.push(msg) };
}

/** Opens a server that is closed when the test ends (closing twice is harmless). */
export async function openServer(
  dataDir: string,
  options: Omit<EmbeddedServerOptions, 'dataDir'> = {},
): Promise<EmbeddedServer> {
  const server = await EmbeddedServer.open({ dataDir, logger: recordingLogger(), ...options });
  onTestFinished(() => server.close());
  return server;
}

/** The next `count` state events of a store. */
export function nextStates(store: CoordinationStore, count: number): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  return new Promise((resolve) => {
    const off = store.onStateChange((event) => {
      events.push(event);
      if (events.length === count) {
        off();
        resolve(events);
      }
    });
  });
}

/** Every znode under `root` with its data and Stat, for comparing whole trees. */
export async function dumpTree(
  store: CoordinationStore,
  root = '/',
): Promise<Record<string, { data: string; stat: Stat }>> {
  const tree: Record<string, { data: string; stat: Stat }> = {};
  const visit = async (path: string): Promise<void> => {
    const { data, stat } = await store.getData(path);
    tree[path] = { data: data.toString('base64'), stat };
    const { children } = await store.getChildren(path);
    for (const child of children.sort()) await visit(path === '/' ? `/${child}` : `${path}/${child}`);
  };
  await visit(root);
  return tree;
}

export async function listVersionDir(dataDir: string): Promise<{ logs: string[]; snapshots: string[] }> {
  const names = await readdir(join(dataDir, 'version-2'));
  const byZxid = (prefix: string) =>
    names
      .filter((name) => name.startsWith(prefix) && /^[0-9a-f]+$/.test(name.slice(prefix.length)))
      .sort((a, b) => Number(BigInt(`0x${a.slice(prefix.length)}`) - BigInt(`0x${b.slice(prefix.length)}`)));
  return { logs: byZxid('log.'), snapshots: byZxid('snapshot.') };
}

/** Start offset and total length of each record of a log file (header: 16 bytes; frame: 8). */
export async function logRecords(file: string): Promise<{ offset: number; length: number }[]> {
  const buf = await readFile(file);
  const records: { offset: number; length: number }[] = [];
  for (let offset = 16; offset < buf.length;) {
    const length = 8 + buf.readUInt32BE(offset);
    records.push({ offset, length });
    offset += length;
  }
  return records;
}

export async function newestLog(dataDir: string): Promise<string> {
  const { logs } = await listVersionDir(dataDir);
  const newest = logs.at(-1);
  if (!newest) throw new Error(`no log in ${dataDir}`);
  return join(dataDir, 'version-2', newest);
}
