/**
 * The watch-backed cache of every configuration namespace: reads are served from memory, kept
 * current by ZooKeeper watches, re-armed after every event and rebuilt after a session expiry.
 *
 * Changes are published in batches, and only up to a *bound* that makes every event id a safe
 * resume point. The argument: ZooKeeper delivers a session's notifications in zxid order and
 * before any response reflecting a later state. So a change with zxid z triggers its re-read
 * after every response we had seen with a zxid below z; recording, when a re-read is triggered,
 * the largest zxid seen so far (its floor) gives floor < z. Hence every change at or below the
 * smallest floor of the re-reads still running has already been read, and a batch publishes
 * exactly the staged changes at or below that bound, in zxid order (all of them when nothing
 * runs). The {@link ConfigCache.watermark} is the largest id published: every change at or below
 * it is reflected in what the cache serves. A client that has seen id L therefore holds the latest
 * state of every namespace whose last change is at or below L, which is what `Last-Event-ID`
 * resumption, on any replica, relies on.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import type { CoordinationStore, Stat, StoreLogger, Watcher } from '../coordination/store.js';
import { CONFIG_FORMATS, type ConfigFormat } from './formats.js';
import { fromFlatName, parseNamespace, type ConfigLayout } from './namespace.js';

/** What zkgate keeps beside a document, as JSON in its meta znode. */
export interface ConfigMeta {
  readonly format: ConfigFormat;
  /** Versions of earlier incarnations: version = base + the document znode's data version + 1. */
  readonly base: number;
  /** False while only a schema is declared: the namespace exists once it is published. */
  readonly live: boolean;
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

export interface Tombstone {
  readonly zxid: bigint;
  readonly version: number;
  readonly ctime: number;
}

type Staged = { entry: ConfigEntry } | { deleted: Tombstone } | { absent: true };

/** The version a namespace shows for a document znode's Stat. */
export function versionOf(meta: ConfigMeta, stat: Stat): number {
  return meta.base + stat.version + 1;
}

/** Meta as written by zkgate; anything else (a stray znode) is refused with an Error. */
export function parseMeta(data: Buffer): ConfigMeta {
  const meta = JSON.parse(data.toString('utf8')) as Partial<ConfigMeta> | null;
  if (
    !meta ||
    !CONFIG_FORMATS.includes(meta.format as ConfigFormat) ||
    !Number.isSafeInteger(meta.base ?? 0)
  ) {
    throw new Error('not a zkgate meta document');
  }
  return {
    format: meta.format as ConfigFormat,
    base: meta.base ?? 0,
    live: meta.live !== false,
    ...(meta.schema === undefined ? {} : { schema: meta.schema }),
  };
}

export function parseTombstone(data: Buffer, stat: Stat): Tombstone {
  const { version } = JSON.parse(data.toString('utf8')) as { version?: unknown };
  return {
    zxid: stat.czxid,
    version: Number.isSafeInteger(version) ? (version as number) : 0,
    ctime: stat.ctime,
  };
}

const RETRY_MS = 250;

interface Load {
  again: boolean;
  /** The largest zxid seen when the first event behind this load arrived (see the header). */
  readonly floor: bigint;
}

export class ConfigCache {
  private readonly published = new Map<string, ConfigEntry>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly staged = new Map<string, Staged>();
  /** The tombstone directory as last read, applied with the batch that covers it. */
  private stagedTombstones: Map<string, Tombstone> | undefined;
  /** Tombstone names as last listed. */
  private listedTombstones = new Set<string>();
  /** Meta children as last listed, to load only what is new. */
  private listed = new Set<string>();
  private readonly loading = new Map<string, Load>();
  /** Loads a (re)sync waits for before the cache counts as whole again. */
  private readonly syncing = new Set<string>();
  private observed = 0n;
  private mark = 0n;
  private pruneHorizon = 0n;
  private synced = false;
  private closed = false;
  private onSynced: (() => void) | undefined;
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
      if (event.state === 'connected' && event.newSession) {
        this.synced = false;
        this.resync();
      }
    });
  }

  /** Load everything and arm the watches; resolves once the first full batch is published. */
  async start(timeoutMs: number): Promise<void> {
    const first = new Promise<void>((resolve) => (this.onSynced = resolve));
    this.resync();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`config cache not loaded within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([first, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    this.stopSession();
    this.listeners.clear();
  }

  /** True while the cache holds a complete view (false until loaded, and while resyncing). */
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

  /** Namespaces whose name starts with `prefix`, sorted by name. */
  list(prefix = ''): ConfigEntry[] {
    return [...this.published.values()]
      .filter((e) => e.namespace.startsWith(prefix))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  }

  /** Remembered deletions (for pruning). */
  deletions(): Array<{ namespace: string } & Tombstone> {
    return [...this.tombstones].map(([namespace, t]) => ({ namespace, ...t }));
  }

  /**
   * What a watcher that saw everything up to `since` is missing, for the namespaces `match`
   * accepts: the latest state of each that changed after it and each deletion after it, in zxid
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

  /** Resolves true once the watermark reaches `zxid` (a write this replica made), false after `timeoutMs`. */
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
    this.listed = new Set();
    this.syncing.add('');
    this.load('', () => this.loadDirectories());
    for (const namespace of new Set([...this.published.keys(), ...this.staged.keys()]))
      this.loadNamespace(namespace);
  }

  private observe(stat: Stat): void {
    for (const zxid of [stat.mzxid, stat.pzxid, stat.czxid]) if (zxid > this.observed) this.observed = zxid;
  }

  /**
   * Run `task` for `key` with at most one run in flight; an event during a run schedules one
   * more run after it, so the last run starts after the last event and re-arms its watch. A failed
   * run (connection loss) is retried: its floor holds back the batches until it succeeds.
   */
  private load(key: string, task: () => Promise<void>): void {
    const running = this.loading.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const state: Load = { again: false, floor: this.observed };
    this.loading.set(key, state);
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
      this.syncing.delete(key);
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
    if (!this.synced) this.syncing.add(`ns:${namespace}`);
    this.load(`ns:${namespace}`, () => this.readNamespace(namespace));
  }

  private async readNamespace(namespace: string): Promise<void> {
    const watch = this.watcherFor(`ns:${namespace}`, () => this.readNamespace(namespace));
    let metaNode;
    try {
      metaNode = await this.store.getData(this.layout.metaOf(namespace), watch);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      return this.stageDeletion(namespace);
    }
    this.observe(metaNode.stat);
    let meta: ConfigMeta;
    try {
      meta = parseMeta(metaNode.data);
    } catch (err) {
      // A znode zkgate did not write: not a namespace, and no reason to stop the cache.
      this.logger.warn({ err, namespace }, 'ignoring a malformed config meta znode');
      return this.stageDeletion(namespace);
    }
    if (!meta.live) return this.stageDeletion(namespace);
    try {
      const doc = await this.store.getData(this.layout.document(namespace), watch);
      this.observe(doc.stat);
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

  /**
   * The namespace is gone (or not a namespace). If it was known, stage its deletion with the
   * zxid of its tombstone; a deletion zkgate did not make (a plain client removed a znode) has
   * none, so one is written: its czxid is a durable id no lower than the deletion's.
   */
  private async stageDeletion(namespace: string): Promise<void> {
    const known = this.published.get(namespace);
    const staged = this.staged.get(namespace);
    if (!known && !(staged && 'entry' in staged)) {
      this.staged.set(namespace, { absent: true });
      return;
    }
    const path = this.layout.tombstoneOf(namespace);
    const version = known?.version ?? (staged && 'entry' in staged ? staged.entry.version : 0);
    let node;
    try {
      node = await this.store.getData(path);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      try {
        await this.store.create(path, Buffer.from(JSON.stringify({ version })));
      } catch (createErr) {
        if (!isStoreError(createErr, ErrorCode.NODE_EXISTS)) throw createErr;
      }
      node = await this.store.getData(path);
    }
    this.observe(node.stat);
    this.staged.set(namespace, { deleted: safeTombstone(node.data, node.stat, version) });
  }

  private async loadDirectories(): Promise<void> {
    const watch = this.watcherFor('', () => this.loadDirectories());
    const meta = await this.childrenOrCreate(this.layout.meta, watch);
    const names = new Set<string>();
    for (const flat of meta) {
      const namespace = fromFlatName(flat);
      try {
        parseNamespace(namespace);
      } catch {
        continue; // a stray znode, not something zkgate wrote
      }
      names.add(namespace);
      if (!this.listed.has(namespace)) this.loadNamespace(namespace);
    }
    // Published names no longer listed: their deletion must be read (and a missed watch healed).
    for (const namespace of this.published.keys()) if (!names.has(namespace)) this.loadNamespace(namespace);
    this.listed = names;

    // Children before the horizon: a prune in between then errs towards a reset, never a miss.
    const tombstoneNames = await this.childrenOrCreate(this.layout.tombstones, watch);
    const tombstones = new Map<string, Tombstone>();
    for (const flat of tombstoneNames) {
      try {
        const node = await this.store.getData(`${this.layout.tombstones}/${flat}`);
        this.observe(node.stat);
        tombstones.set(fromFlatName(flat), safeTombstone(node.data, node.stat, 0));
      } catch (err) {
        if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      }
    }
    const dir = await this.store.getData(this.layout.tombstones, watch);
    this.observe(dir.stat);
    const horizon = /^[0-9]{1,20}$/.test(dir.data.toString('utf8')) ? BigInt(dir.data.toString('utf8')) : 0n;
    if (horizon > this.pruneHorizon) this.pruneHorizon = horizon;
    this.stagedTombstones = tombstones;
    this.listedTombstones = new Set(tombstones.keys());
  }

  /** A directory's children; a missing directory (removed by hand) is created again. */
  private async childrenOrCreate(path: string, watch: Watcher): Promise<string[]> {
    try {
      const { children, stat } = await this.store.getChildren(path, watch);
      this.observe(stat);
      return children;
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      this.logger.warn({ path }, 'config directory missing; creating it again');
      try {
        await this.store.create(path);
      } catch (createErr) {
        if (!isStoreError(createErr, ErrorCode.NODE_EXISTS)) throw createErr;
      }
      return this.childrenOrCreate(path, watch);
    }
  }

  /** Publish the staged changes up to the bound (see the file header), in zxid order. */
  private flush(): void {
    if (this.closed) return;
    let bound: bigint | undefined;
    for (const load of this.loading.values())
      if (bound === undefined || load.floor < bound) bound = load.floor;
    const covered = (id: bigint): boolean => bound === undefined || id <= bound;

    const markBefore = this.mark;
    const changes: ConfigChange[] = [];
    if (this.stagedTombstones) {
      // The directory as read: deletions remembered by any replica, covered ones first.
      for (const [namespace, t] of this.stagedTombstones) {
        if (!covered(t.zxid)) continue;
        this.stagedTombstones.delete(namespace);
        if (!this.published.has(namespace)) this.tombstones.set(namespace, t);
        if (t.zxid > this.mark) this.mark = t.zxid;
      }
      if (bound === undefined) {
        // Pruned or replaced since: forget them, once nothing read earlier is still on its way.
        for (const namespace of this.tombstones.keys()) {
          if (!this.stagedTombstones.has(namespace) && !this.listedTombstones.has(namespace))
            this.tombstones.delete(namespace);
        }
        this.stagedTombstones = undefined;
      }
    }
    for (const [namespace, staged] of this.staged) {
      if ('absent' in staged) {
        if (bound === undefined) this.staged.delete(namespace);
        continue;
      }
      const id = 'entry' in staged ? staged.entry.index : staged.deleted.zxid;
      if (!covered(id)) continue;
      this.staged.delete(namespace);
      if ('entry' in staged) {
        const before = this.published.get(namespace);
        if (before && before.index > staged.entry.index) continue;
        this.published.set(namespace, staged.entry);
        this.tombstones.delete(namespace);
        // A metadata-only change (a new schema) is not a new document: no event.
        if (before && before.index === staged.entry.index) continue;
        changes.push({ kind: 'config', id, entry: staged.entry });
      } else if (this.published.delete(namespace)) {
        this.watchers.delete(`ns:${namespace}`);
        this.tombstones.set(namespace, staged.deleted);
        changes.push({ kind: 'deleted', id, namespace, version: staged.deleted.version });
      }
    }
    changes.sort(byId);
    for (const change of changes) if (change.id > this.mark) this.mark = change.id;
    if (!this.synced && this.syncing.size === 0 && bound === undefined) {
      this.synced = true;
      this.onSynced?.();
    }
    // Listeners also hear of a watermark that moved without a change to send (waitFor).
    if (changes.length > 0 || this.mark > markBefore) this.notify(changes);
  }

  private notify(changes: readonly ConfigChange[]): void {
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

/** A tombstone whose data is not zkgate's still marks a deletion at its czxid. */
function safeTombstone(data: Buffer, stat: Stat, fallbackVersion: number): Tombstone {
  try {
    return parseTombstone(data, stat);
  } catch {
    return { zxid: stat.czxid, version: fallbackVersion, ctime: stat.ctime };
  }
}
