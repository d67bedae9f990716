/**
 * The watch-backed cache of every configuration namespace. The mechanism (watches, bounded
 * batches, why every event id is a safe resume point) is {@link WatchedTree}'s; this view reads
 * namespaces, their meta and the tombstones of deleted ones.
 *
 * A cache never writes. A deletion zkgate made has its tombstone, created by the deleting
 * transaction: its czxid is the deletion's zxid. A deletion zkgate did not make (a plain client
 * removed a znode) has none, and is published at the zxid at which this replica saw the namespace
 * gone: the meta's mzxid when the meta stopped being a namespace's, else the pzxid of the missing
 * znode's nearest existing ancestor ({@link WatchedTree.absence}). Either is a safe resume point by
 * the tree's own argument: it is at or above the change (the pzxid moved when the znode went, and
 * only grows), and it is a zxid from an answer this replica received, so a change below it has
 * had its notification delivered before that answer, and the load it started holds the bound
 * below the change until it has been read; the deletion is therefore published only in a batch
 * that also holds everything at or below its id. Replicas may publish the same deletion at
 * different ids; a client resuming with either gets it again or not at all, never misses it.
 *
 * Such a deletion is remembered in memory only until the elected writer records a tombstone for
 * it ({@link ConfigCache.unrecordedDeletions}): a replica starting before that would not know of
 * it. Where the writer cannot write (no access, a read-only server), watchers still get it.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import type { Stat } from '../coordination/store.js';
import { CacheView, LowestStaged } from '../coordination/cache-view.js';
import { byId, type CacheChange, type WatchedTree } from '../coordination/watched-cache.js';
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

type Staged = { entry: ConfigEntry } | { deleted: Tombstone; readonly recorded: boolean } | { absent: true };

/** The zxid a staged change is published at. */
function stagedAt(staged: { entry: ConfigEntry } | { deleted: Tombstone }): bigint {
  return 'entry' in staged ? staged.entry.index : staged.deleted.zxid;
}

export function isConfigChange(change: CacheChange): change is ConfigChange {
  return change.kind === 'config' || change.kind === 'deleted';
}

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

/** A tombstone's data: the version the namespace had when it was deleted. */
export function encodeTombstone(version: number): Buffer {
  return Buffer.from(JSON.stringify({ version }), 'utf8');
}

export function parseTombstone(data: Buffer, stat: Stat): Tombstone {
  const { version } = JSON.parse(data.toString('utf8')) as { version?: unknown };
  return {
    zxid: stat.czxid,
    version: Number.isSafeInteger(version) ? (version as number) : 0,
    ctime: stat.ctime,
  };
}

export class ConfigCache extends CacheView<ConfigChange> {
  private readonly published = new Map<string, ConfigEntry>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly staged = new Map<string, Staged>();
  private readonly lowestStaged = new LowestStaged();
  /** The tombstone directory as last read, applied with the batch that covers it. */
  private stagedTombstones: Map<string, Tombstone> | undefined;
  /** Tombstone names as last listed. */
  private listedTombstones = new Set<string>();
  /** Deletions among `tombstones` no tombstone znode records yet (a plain client's). */
  private readonly unrecorded = new Set<string>();
  /** Meta children as last listed, to load only what is new. */
  private listed = new Set<string>();
  private pruneHorizon = 0n;
  /** A horizon as read, applied with the batch that covers it (a `reset` id must be a safe resume point). */
  private stagedHorizon: bigint | undefined;

  constructor(
    tree: WatchedTree<CacheChange>,
    private readonly layout: ConfigLayout,
  ) {
    super(tree, isConfigChange);
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

  /** Deletions recorded by a tombstone (for pruning). */
  deletions(): Array<{ namespace: string } & Tombstone> {
    return [...this.tombstones]
      .filter(([namespace]) => !this.unrecorded.has(namespace))
      .map(([namespace, t]) => ({ namespace, ...t }));
  }

  /** Deletions zkgate did not make and no tombstone records yet: the elected writer records them. */
  unrecordedDeletions(): Array<{ namespace: string; version: number }> {
    return [...this.unrecorded].map((namespace) => ({
      namespace,
      version: this.tombstones.get(namespace)?.version ?? 0,
    }));
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

  /**
   * A publish this replica just made, as its transaction wrote it: published without waiting for
   * the watch (see {@link WatchedTree.publishOwn} for why ids stay safe). The load that watch
   * starts reads the same state again, at the same id, and sends nothing.
   */
  publishOwn(entry: ConfigEntry): void {
    this.tree.publishOwn(`ns:${entry.namespace}`, entry.index, () => this.stage(entry.namespace, { entry }));
  }

  /**
   * Stage what was read of `namespace`, unless a document at least as new is staged: a load that
   * read before this replica's own publish may stage after it. A deletion always has an id above
   * the document's last change (see the header), so one at or below it was read before.
   */
  private stage(namespace: string, next: Staged): void {
    const staged = this.staged.get(namespace);
    if (staged && 'entry' in staged) {
      const newer =
        'entry' in next
          ? next.entry.index >= staged.entry.index
          : 'deleted' in next && next.deleted.zxid > staged.entry.index;
      if (!newer) return;
    }
    this.staged.set(namespace, next);
    if (!('absent' in next)) this.lowestStaged.staged(stagedAt(next));
  }

  resync(): void {
    this.listed = new Set();
    this.tree.load('config', () => this.loadDirectories());
    for (const namespace of new Set([...this.published.keys(), ...this.staged.keys()]))
      this.loadNamespace(namespace);
  }

  private loadNamespace(namespace: string, parent?: string): void {
    this.tree.load(`ns:${namespace}`, () => this.readNamespace(namespace), parent);
  }

  private async readNamespace(namespace: string): Promise<void> {
    const watch = this.tree.watcherFor(`ns:${namespace}`, () => this.readNamespace(namespace));
    const metaPath = this.layout.metaOf(namespace);
    let metaNode;
    try {
      metaNode = await this.store.getData(metaPath, watch);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      return this.stageDeletion(namespace, () => this.tree.absence(metaPath));
    }
    this.tree.observe(metaNode.stat);
    const { mzxid } = metaNode.stat;
    const changed = async (): Promise<bigint> => mzxid;
    let meta: ConfigMeta;
    try {
      meta = parseMeta(metaNode.data);
    } catch (err) {
      // A znode zkgate did not write: not a namespace, and no reason to stop the cache.
      this.logger.warn({ err, namespace }, 'ignoring a malformed config meta znode');
      return this.stageDeletion(namespace, changed);
    }
    if (!meta.live) return this.stageDeletion(namespace, changed);
    const docPath = this.layout.document(namespace);
    try {
      const doc = await this.store.getData(docPath, watch);
      this.tree.observe(doc.stat);
      this.stage(namespace, {
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
      // The document znode was removed behind zkgate's back; watch for it to come back. Back
      // already: read it again rather than take the absence for a deletion.
      if (await this.store.exists(docPath, watch)) return this.readNamespace(namespace);
      await this.stageDeletion(namespace, () => this.tree.absence(docPath));
    }
  }

  /**
   * The namespace is gone (or not a namespace). If it was known, stage its deletion: at its
   * tombstone's zxid, or, where a plain client deleted it, at the zxid `observed` reads (see the
   * header). A tombstone found while the namespace is not live records its latest deletion: every
   * publish removes the tombstone, and the writer records one only while no publish intervenes.
   */
  private async stageDeletion(namespace: string, observed: () => Promise<bigint>): Promise<void> {
    const staged = this.staged.get(namespace);
    const last = this.published.get(namespace) ?? (staged && 'entry' in staged ? staged.entry : undefined);
    if (!last) {
      this.stage(namespace, { absent: true });
      return;
    }
    let node;
    try {
      node = await this.store.getData(this.layout.tombstoneOf(namespace));
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      const deleted = { zxid: await observed(), version: last.version, ctime: Date.now() };
      this.stage(namespace, { deleted, recorded: false });
      return;
    }
    this.tree.observe(node.stat);
    this.stage(namespace, {
      deleted: safeTombstone(node.data, node.stat, last.version),
      recorded: true,
    });
  }

  private async loadDirectories(): Promise<void> {
    const watch = this.tree.watcherFor('config', () => this.loadDirectories());
    const meta = await this.tree.childrenOrCreate(this.layout.meta, watch);
    const names = new Set<string>();
    for (const flat of meta) {
      const namespace = fromFlatName(flat);
      try {
        parseNamespace(namespace);
      } catch {
        continue; // a stray znode, not something zkgate wrote
      }
      names.add(namespace);
      if (!this.listed.has(namespace)) this.loadNamespace(namespace, 'config');
    }
    // Published names no longer listed: their deletion must be read (and a missed watch healed).
    for (const namespace of this.published.keys())
      if (!names.has(namespace)) this.loadNamespace(namespace, 'config');
    this.listed = names;

    // Children before the horizon: a prune in between then errs towards a reset, never a miss.
    const tombstoneNames = await this.tree.childrenOrCreate(this.layout.tombstones, watch);
    const tombstones = new Map<string, Tombstone>();
    for (const flat of tombstoneNames) {
      try {
        const node = await this.store.getData(`${this.layout.tombstones}/${flat}`);
        this.tree.observe(node.stat);
        tombstones.set(fromFlatName(flat), safeTombstone(node.data, node.stat, 0));
      } catch (err) {
        if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
      }
    }
    const dir = await this.store.getData(this.layout.tombstones, watch);
    this.tree.observe(dir.stat);
    const horizon = /^[0-9]{1,20}$/.test(dir.data.toString('utf8')) ? BigInt(dir.data.toString('utf8')) : 0n;
    if (horizon > this.pruneHorizon) this.stagedHorizon = horizon;
    this.stagedTombstones = tombstones;
    this.listedTombstones = new Set(tombstones.keys());
  }

  collect(covered: (id: bigint) => boolean, settled: boolean): ConfigChange[] {
    const changes: ConfigChange[] = [];
    if (this.stagedHorizon !== undefined && covered(this.stagedHorizon)) {
      if (this.stagedHorizon > this.pruneHorizon) this.pruneHorizon = this.stagedHorizon;
      this.tree.advance(this.stagedHorizon);
      this.stagedHorizon = undefined;
    }
    if (this.stagedTombstones) {
      // The directory as read: deletions remembered by any replica, covered ones first.
      for (const [namespace, t] of this.stagedTombstones) {
        if (!covered(t.zxid)) continue;
        this.stagedTombstones.delete(namespace);
        if (!this.published.has(namespace)) this.remember(namespace, t, true);
        this.tree.advance(t.zxid);
      }
      if (settled) {
        // Pruned or replaced since: forget them, once nothing read earlier is still on its way.
        for (const namespace of this.tombstones.keys()) {
          if (
            !this.stagedTombstones.has(namespace) &&
            !this.listedTombstones.has(namespace) &&
            !this.unrecorded.has(namespace)
          )
            this.tombstones.delete(namespace);
        }
        this.stagedTombstones = undefined;
      }
    }
    for (const [namespace, staged] of this.lowestStaged.scan(covered, settled) ? this.staged : []) {
      if ('absent' in staged) {
        if (settled) this.staged.delete(namespace);
        continue;
      }
      const id = stagedAt(staged);
      if (!covered(id)) {
        this.lowestStaged.staged(id);
        continue;
      }
      this.staged.delete(namespace);
      if ('entry' in staged) {
        const before = this.published.get(namespace);
        if (before && before.index > staged.entry.index) continue;
        this.published.set(namespace, staged.entry);
        this.tombstones.delete(namespace);
        this.unrecorded.delete(namespace);
        // A metadata-only change (a new schema) is not a new document: no event.
        if (before && before.index === staged.entry.index) continue;
        changes.push({ kind: 'config', id, entry: staged.entry });
      } else if ((this.published.get(namespace)?.index ?? -1n) >= id) {
        // Read before this replica's own publish of the document (see stage()).
        continue;
      } else if (this.published.delete(namespace)) {
        this.tree.forgetWatcher(`ns:${namespace}`);
        this.remember(namespace, staged.deleted, staged.recorded);
        changes.push({ kind: 'deleted', id, namespace, version: staged.deleted.version });
      }
    }
    return changes;
  }

  /**
   * Keep the highest id known for a deletion: every one of them is at or above it (a replica that
   * saw a plain client's deletion before the writer recorded it holds a lower or a higher one).
   */
  private remember(namespace: string, tombstone: Tombstone, recorded: boolean): void {
    const known = this.tombstones.get(namespace);
    if (!known || tombstone.zxid > known.zxid) this.tombstones.set(namespace, tombstone);
    if (recorded) this.unrecorded.delete(namespace);
    else this.unrecorded.add(namespace);
  }
}

/** A tombstone whose data is not zkgate's still marks a deletion at its czxid. */
function safeTombstone(data: Buffer, stat: Stat, fallbackVersion: number): Tombstone {
  try {
    return parseTombstone(data, stat);
  } catch {
    return { zxid: stat.czxid, version: fallbackVersion, ctime: stat.ctime };
  }
}
