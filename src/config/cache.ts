/**
 * The watch-backed cache of every configuration namespace: reads are served from memory, kept
 * current by ZooKeeper watches, re-armed after every event and rebuilt after a session expiry.
 *
 * Changes are published in *batches*, each flushed only when no re-read is outstanding. ZooKeeper
 * delivers a session's notifications in zxid order and before any response that reflects a later
 * state, so when nothing is pending the cache holds every change up to the largest zxid it has
 * seen: that zxid is the {@link ConfigCache.watermark}. Within a batch, changes go out in zxid
 * order. Together this makes every event id a valid resume point: a client that has seen id L
 * holds the latest state of every namespace whose last change is at or below L, which is what
 * `Last-Event-ID` resumption (on any replica) relies on.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import type { CoordinationStore, Stat, StoreLogger, Watcher } from '../coordination/store.js';
import type { ConfigFormat } from './formats.js';
import { fromFlatName, type ConfigLayout } from './namespace.js';

/** What zkgate keeps beside a document, as JSON in its meta znode. */
export interface ConfigMeta {
  readonly format: ConfigFormat;
  /** Versions of earlier incarnations: version = base + the document znode's data version + 1. */
  readonly base: number;
  readonly schema?: Record<string, unknown> | boolean;
}

export interface ConfigEntry {
  readonly namespace: string;
  /** The document, byte for byte. */
  readonly data: Buffer;
  readonly format: ConfigFormat;
  readonly version: number;
  /** The document znode's mzxid: the event id of its last change. */
  readonly index: bigint;
  readonly modified: number;
  readonly meta: ConfigMeta;
}

export type ConfigChange =
  | { readonly kind: 'config'; readonly id: bigint; readonly entry: ConfigEntry }
  | { readonly kind: 'deleted'; readonly id: bigint; readonly namespace: string; readonly version: number };

interface Tombstone {
  readonly zxid: bigint;
  readonly version: number;
  readonly ctime: number;
}

type Staged = { entry: ConfigEntry } | { deleted: Tombstone };

/** The version a namespace shows for a document znode's Stat. */
export function versionOf(meta: ConfigMeta, stat: Stat): number {
  return meta.base + stat.version + 1;
}

export function parseMeta(data: Buffer): ConfigMeta {
  const meta = JSON.parse(data.toString('utf8')) as ConfigMeta;
  return {
    format: meta.format,
    base: meta.base ?? 0,
    ...(meta.schema === undefined ? {} : { schema: meta.schema }),
  };
}

const RETRY_MS = 250;

export class ConfigCache {
  private readonly published = new Map<string, ConfigEntry>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly staged = new Map<string, Staged>();
  /** Per namespace (and `''` for the directories): a load runs, and whether to run it again after. */
  private readonly loading = new Map<string, { again: boolean }>();
  private pending = 0;
  private mark = 0n;
  private pruneHorizon = 0n;
  private synced = false;
  private closed = false;
  private readonly listeners = new Set<(changes: readonly ConfigChange[]) => void>();
  private readonly watchers = new Map<string, Watcher>();
  private readonly stopSession: () => void;

  constructor(
    private readonly store: CoordinationStore,
    private readonly layout: ConfigLayout,
    private readonly logger: StoreLogger,
  ) {
    this.stopSession = store.onStateChange((event) => {
      // A new session has none of the old one's watches: read everything again.
      if (event.state === 'connected' && event.newSession) this.resync();
    });
  }

  /** Load everything and arm the watches; resolves once the first batch is published. */
  async start(): Promise<void> {
    const first = new Promise<void>((resolve) => (this.onSynced = resolve));
    this.resync();
    await first;
  }

  private onSynced: (() => void) | undefined;

  close(): void {
    this.closed = true;
    this.stopSession();
    this.listeners.clear();
  }

  /** True once the first full load is published. */
  get ready(): boolean {
    return this.synced;
  }

  /** Every change with a zxid at or below this is reflected in what the cache serves. */
  get watermark(): bigint {
    return this.mark;
  }

  /** Deletions older than this zxid have been forgotten: resuming from before it needs a reset. */
  get horizon(): bigint {
    return this.pruneHorizon;
  }

  get(namespace: string): ConfigEntry | undefined {
    return this.published.get(namespace);
  }

  /** Namespace names starting with `prefix`, sorted. */
  list(prefix = ''): ConfigEntry[] {
    return [...this.published.values()]
      .filter((e) => e.namespace.startsWith(prefix))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  }

  /** Namespaces currently deleted, with the zxid of their deletion (for pruning). */
  deletions(): Array<{ namespace: string; zxid: bigint; ctime: number }> {
    return [...this.tombstones].map(([namespace, t]) => ({ namespace, zxid: t.zxid, ctime: t.ctime }));
  }

  /**
   * What a watcher that saw everything up to `since` is missing, for the namespaces `match`
   * accepts: the latest state of each that changed after it, each deletion after it, in zxid
   * order. With no `since`, the current state of every matching namespace.
   */
  changesSince(since: bigint | undefined, match: (namespace: string) => boolean): ConfigChange[] {
    const after = since ?? -1n;
    const changes: ConfigChange[] = [];
    for (const entry of this.published.values()) {
      if (entry.index > after && match(entry.namespace))
        changes.push({ kind: 'config', id: entry.index, entry });
    }
    if (since !== undefined) {
      for (const [namespace, t] of this.tombstones) {
        if (t.zxid > after && match(namespace) && !this.published.has(namespace)) {
          changes.push({ kind: 'deleted', id: t.zxid, namespace, version: t.version });
        }
      }
    }
    return changes.sort(byId);
  }

  /** Called with every published batch, in order. Returns the unsubscribe function. */
  onChange(listener: (changes: readonly ConfigChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the watermark reaches `zxid` (a write this replica acknowledged), or after `timeoutMs`. */
  waitFor(zxid: bigint, timeoutMs: number): Promise<boolean> {
    if (this.mark >= zxid) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      const off = this.onChange(() => {
        if (this.mark >= zxid) {
          clearTimeout(timer);
          off();
          resolve(true);
        }
      });
    });
  }

  private resync(): void {
    this.load('', () => this.loadDirectories());
    for (const namespace of this.published.keys()) this.loadNamespace(namespace);
  }

  /**
   * Run `task` for `key` with at most one run in flight; an event during a run schedules one
   * more run after it, so the last run always starts after the last event and re-arms its watch.
   * Failed runs (connection loss) are retried: the batch stays open until the cache is whole.
   */
  private load(key: string, task: () => Promise<void>): void {
    const running = this.loading.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    this.loading.set(key, state);
    this.pending++;
    const run = async (): Promise<void> => {
      for (;;) {
        if (this.closed) return;
        try {
          state.again = false;
          await task();
          if (!state.again) return;
        } catch (err) {
          if (this.closed || this.store.state === 'closed') return;
          this.logger.warn({ err, key }, 'config cache load failed; retrying');
          await new Promise((r) => setTimeout(r, RETRY_MS).unref());
        }
      }
    };
    void run().finally(() => {
      this.loading.delete(key);
      this.pending--;
      this.flush();
    });
  }

  private watcherFor(key: string, task: () => Promise<void>): Watcher {
    let watcher = this.watchers.get(key);
    if (!watcher) {
      watcher = () => this.load(key, task);
      this.watchers.set(key, watcher);
    }
    return watcher;
  }

  private loadNamespace(namespace: string): void {
    this.load(`ns:${namespace}`, () => this.readNamespace(namespace));
  }

  private async readNamespace(namespace: string): Promise<void> {
    const watch = this.watcherFor(`ns:${namespace}`, () => this.readNamespace(namespace));
    let metaData: Buffer;
    try {
      metaData = (await this.store.getData(this.layout.metaOf(namespace), watch)).data;
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      return this.stageDeletion(namespace);
    }
    const meta = parseMeta(metaData);
    try {
      const doc = await this.store.getData(this.layout.document(namespace), watch);
      this.staged.set(namespace, {
        entry: {
          namespace,
          data: doc.data,
          format: meta.format,
          version: versionOf(meta, doc.stat),
          index: doc.stat.mzxid,
          modified: doc.stat.mtime,
          meta,
        },
      });
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      // The document znode was removed behind zkgate's back; watch for it to come back.
      await this.store.exists(this.layout.document(namespace), watch);
      await this.stageDeletion(namespace);
    }
  }

  private async stageDeletion(namespace: string): Promise<void> {
    const known = this.published.get(namespace);
    const staged = this.staged.get(namespace);
    if (!known && !(staged && 'entry' in staged)) {
      this.staged.delete(namespace);
      return;
    }
    let tombstone: Tombstone | undefined;
    try {
      const node = await this.store.getData(this.layout.tombstoneOf(namespace));
      tombstone = toTombstone(node.data, node.stat);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      // Deleted by a plain client, without a tombstone: the directory's last child change is
      // the best zxid there is for it.
      const dir = await this.store.exists(this.layout.meta);
      tombstone = { zxid: dir?.pzxid ?? this.mark, version: known?.version ?? 0, ctime: Date.now() };
    }
    this.staged.set(namespace, { deleted: tombstone });
  }

  private async loadDirectories(): Promise<void> {
    const watch = this.watcherFor('', () => this.loadDirectories());
    const { children } = await this.store.getChildren(this.layout.meta, watch);
    for (const flat of children) {
      const namespace = fromFlatName(flat);
      if (!this.published.has(namespace)) this.loadNamespace(namespace);
    }
    const dir = await this.store.getData(this.layout.tombstones, watch);
    const horizon = dir.data.length > 0 ? BigInt(dir.data.toString('utf8')) : 0n;
    if (horizon > this.pruneHorizon) this.pruneHorizon = horizon;
    const names = new Set(
      (await this.store.getChildren(this.layout.tombstones, watch)).children.map(fromFlatName),
    );
    for (const namespace of this.tombstones.keys())
      if (!names.has(namespace)) this.tombstones.delete(namespace);
    for (const namespace of names) {
      if (this.tombstones.has(namespace)) continue;
      try {
        const node = await this.store.getData(this.layout.tombstoneOf(namespace));
        this.tombstones.set(namespace, toTombstone(node.data, node.stat));
      } catch (err) {
        if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      }
    }
  }

  /** Publish the staged changes once nothing is pending (see the file header for why). */
  private flush(): void {
    if (this.pending > 0 || this.closed) return;
    const changes: ConfigChange[] = [];
    for (const [namespace, staged] of this.staged) {
      if ('entry' in staged) {
        const before = this.published.get(namespace);
        if (before && before.index > staged.entry.index) continue;
        this.published.set(namespace, staged.entry);
        // A metadata-only change (a new schema) is not a new document: no event.
        if (before && before.index === staged.entry.index) continue;
        this.tombstones.delete(namespace);
        changes.push({ kind: 'config', id: staged.entry.index, entry: staged.entry });
      } else if (this.published.delete(namespace)) {
        this.tombstones.set(namespace, staged.deleted);
        changes.push({
          kind: 'deleted',
          id: staged.deleted.zxid,
          namespace,
          version: staged.deleted.version,
        });
      }
    }
    this.staged.clear();
    changes.sort(byId);
    for (const change of changes) if (change.id > this.mark) this.mark = change.id;
    if (!this.synced) {
      this.synced = true;
      this.onSynced?.();
    }
    if (changes.length === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch (err) {
        this.logger.warn({ err }, 'config change listener threw');
      }
    }
  }
}

function byId(a: ConfigChange, b: ConfigChange): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function toTombstone(data: Buffer, stat: Stat): Tombstone {
  const { version } = JSON.parse(data.toString('utf8')) as { version: number };
  return { zxid: stat.czxid, version, ctime: stat.ctime };
}
