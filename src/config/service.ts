/**
 * The config center's domain service: publish, read, delete, history, rollback and schemas of
 * configuration namespaces. Reads come from the watch-backed {@link ConfigCache}; every write is
 * one version-checked `multi` (document, metadata, release, tombstone and audit record together),
 * retried when a concurrent writer got there first, and acknowledged only once this replica's
 * cache shows it.
 *
 * The author of a release is the description of the token that published it (who it was issued
 * to, as people read a history); the audit record of the publish names the token's accessor too.
 *
 * Tombstones are written by writers only: by a delete, in its own transaction, and, for a deletion
 * zkgate did not make (a plain client removed the znodes), by the elected replica once its cache
 * saw the namespace gone (see {@link ConfigCache}), so that replicas starting later know of it.
 */
import type { Actor } from '../acl/actor.js';
import { auditDirectory, auditOp, auditResource, type AuditChange } from '../acl/audit.js';
import type { LeaderElection } from '../coordination/election.js';
import { ErrorCode, MultiError, isStoreError } from '../coordination/errors.js';
import { parentOf } from '../coordination/paths.js';
import { isRace, KeyedQueue, missingDirs, mkdirs } from '../coordination/recipes.js';
import { Rerun } from '../coordination/rerun.js';
import {
  MAX_REQUEST_BYTES,
  type CoordinationStore,
  type NodeData,
  type Op,
  type StoreLogger,
} from '../coordination/store.js';
import { atStoreBoundary, optimisticWrite, storeUnavailable, ZkgError } from '../errors.js';
import type { Metrics } from '../monitor/metrics.js';
import {
  ConfigCache,
  parseMeta,
  parseTombstone,
  versionOf,
  type ConfigEntry,
  type ConfigMeta,
} from './cache.js';
import { digestMatches } from './etag.js';
import { parseDocument, type ConfigFormat } from './formats.js';
import { ConfigLayout, parseNamespace } from './namespace.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { SchemaValidator, type JsonSchema } from './schema.js';

export interface ConfigServiceOptions {
  /** zkgate's root znode. */
  readonly root: string;
  readonly maxBytes: number;
  readonly historyLimit: number;
  readonly tombstoneRetentionMs: number;
  /** The session's watched tree; the config cache is one of its views. */
  readonly tree: WatchedTree<CacheChange>;
  /** Who records the deletions zkgate did not make: the gateways' election. */
  readonly leadership: Pick<LeaderElection, 'isLeader' | 'onChange'>;
  readonly logger: StoreLogger;
  readonly metrics: Metrics;
}

export interface PublishRequest {
  readonly body: Buffer;
  readonly format: ConfigFormat;
  /** Publish only if the namespace is at this version, with this content if a digest is given (`If-Match`). */
  readonly ifMatch?: VersionMatch;
  /** Publish only if the namespace does not exist (`If-None-Match: *`). */
  readonly createOnly?: boolean;
  /** Publish only if the namespace exists (`If-Match: *`). */
  readonly mustExist?: boolean;
  readonly comment?: string;
}

export interface PublishResult {
  /** The bytes published (a rollback's are the release's). */
  readonly body: Buffer;
  readonly version: number;
  readonly index: bigint;
  readonly created: boolean;
}

/** One release in a namespace's history. */
export interface Release {
  readonly version: number;
  readonly format: ConfigFormat;
  readonly author: string | undefined;
  readonly comment: string | undefined;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly size: number;
}

export class ConfigService {
  readonly cache: ConfigCache;
  readonly layout: ConfigLayout;
  private readonly schemas = new SchemaValidator();
  private readonly writes = new KeyedQueue();
  private pruneTimer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly recorder: Rerun;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly store: CoordinationStore,
    private readonly options: ConfigServiceOptions,
  ) {
    this.layout = new ConfigLayout(options.root);
    this.cache = new ConfigCache(options.tree, this.layout);
    this.recorder = new Rerun(
      () => this.recordDeletions(),
      () => this.running && options.leadership.isLeader,
      (err) => options.logger.warn({ err }, 'recording deletions failed'),
    );
  }

  /**
   * Create the znode layout (and the audit directory every write records into) if missing, and
   * start pruning old tombstones and, while leading, recording the deletions zkgate did not make
   * (at once, and again with each pruning round after a failure). The cache loads when its tree
   * starts, after every view is attached.
   */
  async start(): Promise<void> {
    for (const dir of [...this.layout.directories(), auditDirectory(this.options.root)]) {
      await mkdirs(this.store, dir);
    }
    this.running = true;
    this.unsubscribe.push(
      this.cache.onChange((changes) => {
        if (changes.some((c) => c.kind === 'deleted')) this.recorder.request();
      }),
      this.options.leadership.onChange((leading) => {
        if (leading) this.recorder.request();
      }),
    );
    const every = Math.min(Math.max(this.options.tombstoneRetentionMs / 4, 1_000), 600_000);
    this.pruneTimer = setInterval(() => {
      this.recorder.request();
      this.pruneTombstones(Date.now()).catch((err: unknown) =>
        this.options.logger.warn({ err }, 'pruning config tombstones failed'),
      );
    }, every);
    this.pruneTimer.unref();
  }

  close(): void {
    this.running = false;
    clearInterval(this.pruneTimer);
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** True while the store is unreachable and reads come from the last known state. */
  get stale(): boolean {
    return this.store.state !== 'connected' || !this.cache.ready;
  }

  get(namespace: string): ConfigEntry {
    const entry = this.cache.get(parseNamespace(namespace));
    if (!entry) throw notFound(namespace);
    return entry;
  }

  list(prefix = ''): ConfigEntry[] {
    return this.cache.list(prefix);
  }

  /** Validate and publish a document as the namespace's next version. */
  async publish(actor: Actor, namespace: string, request: PublishRequest): Promise<PublishResult> {
    const result = await this.write(actor, 'config.publish', namespace, request);
    this.options.metrics.configPublishes.inc({ kind: 'publish' });
    return result;
  }

  private async write(
    actor: Actor,
    action: 'config.publish' | 'config.rollback',
    namespace: string,
    request: PublishRequest,
  ): Promise<PublishResult> {
    parseNamespace(namespace);
    this.assertWritable();
    const { body, format } = request;
    if (body.length > this.options.maxBytes) {
      throw new ZkgError(
        'ZKG_CONFIG_TOO_LARGE',
        `document of ${body.length} bytes exceeds the limit of ${this.options.maxBytes} bytes`,
      );
    }
    const { value } = parseDocument(format, body);
    const docPath = this.layout.document(namespace);

    return this.serialized(namespace, async () => {
      const { doc, meta } = await this.readCurrent(namespace);
      if (meta?.meta.schema !== undefined) this.checkSchema(meta.meta.schema, format, value);
      const exists = doc !== undefined && meta !== undefined && meta.meta.live;
      const current = exists ? versionOf(meta.meta, doc.stat) : undefined;
      if (exists && request.createOnly) {
        throw new ZkgError(
          'ZKG_CONFIG_EXISTS',
          `namespace ${namespace} already exists at version ${current}`,
        );
      }
      if ((request.ifMatch !== undefined || request.mustExist) && current === undefined) {
        throw new ZkgError('ZKG_CONFIG_VERSION_CONFLICT', `namespace ${namespace} does not exist`);
      }
      if (request.ifMatch !== undefined) assertMatch(namespace, request.ifMatch, current, doc?.data);
      const releases = await this.releaseNumbers(namespace);
      const tombstone = exists
        ? undefined
        : await orUndefined(this.store.getData(this.layout.tombstoneOf(namespace)));
      // Versions never go back: not past a release, nor past what a deletion (or a plain
      // client's edits before it) reached, so an old ETag never matches new content.
      const version =
        Math.max(
          current ?? 0,
          ...releases,
          tombstone ? parseTombstone(tombstone.data, tombstone.stat).version : 0,
        ) + 1;
      // The document znode may exist without being a namespace (a parent of one, or deleted
      // while it had children): it is overwritten, and `base` absorbs its data version.
      const docVersionAfter = doc ? doc.stat.version + 1 : 0;
      const nextMeta: ConfigMeta = {
        ...meta?.meta,
        format,
        live: true,
        base: version - docVersionAfter - 1,
      };
      const ops: Op[] = [
        // Parents are created in the same multi, so a refused publish leaves nothing behind;
        // re-read on every attempt, as a concurrent delete of a parent namespace may remove them.
        ...(doc ? [] : await missingDirs(this.store, parentOf(docPath))),
        ...(releases.length > 0 ? [] : await missingDirs(this.store, this.layout.historyOf(namespace))),
        doc
          ? { op: 'setData', path: docPath, data: body, version: doc.stat.version }
          : { op: 'create', path: docPath, data: body },
        meta
          ? {
              op: 'setData',
              path: this.layout.metaOf(namespace),
              data: json(nextMeta),
              version: meta.stat.version,
            }
          : { op: 'create', path: this.layout.metaOf(namespace), data: json(nextMeta) },
        {
          op: 'create',
          path: this.layout.release(namespace, version),
          data: envelope(
            {
              version,
              format,
              author: actor.description || actor.accessor,
              comment: request.comment,
              time: Date.now(),
            },
            body,
          ),
        },
        ...releases
          .slice(0, Math.max(0, releases.length + 1 - this.options.historyLimit))
          .map((v): Op => ({ op: 'delete', path: this.layout.release(namespace, v) })),
      ];
      if (tombstone) {
        ops.push({ op: 'delete', path: this.layout.tombstoneOf(namespace), version: tombstone.stat.version });
      }
      ops.push(
        this.record(actor, namespace, { action, versionBefore: current ?? null, versionAfter: version }),
      );
      const results = await this.store.multi(ops).catch((err: unknown) => {
        // Only the request size is refused up front: document, release and metadata together.
        if (isStoreError(err, ErrorCode.BAD_ARGUMENTS)) {
          throw new ZkgError(
            'ZKG_CONFIG_TOO_LARGE',
            `the document with its release and metadata exceeds the ${MAX_REQUEST_BYTES} bytes ` +
              'ZooKeeper takes in one transaction',
            { cause: err },
          );
        }
        throw err;
      });
      const first = results[0];
      // The document's own zxid: setData returns it; a create's is the znode's czxid.
      const index =
        first?.op === 'setData' ? first.stat.mzxid : ((await this.store.exists(docPath))?.czxid ?? 0n);
      await this.options.tree.acknowledge(index);
      return { body, version, index, created: !exists };
    });
  }

  /** Delete a namespace, remembering the deletion (a tombstone) for resuming watchers. */
  async delete(
    actor: Actor,
    namespace: string,
    ifMatch?: VersionMatch,
  ): Promise<{ version: number; index: bigint }> {
    parseNamespace(namespace);
    this.assertWritable();
    return this.serialized(namespace, async () => {
      const { doc, meta } = await this.readCurrent(namespace);
      if (!doc || !meta || !meta.meta.live) throw notFound(namespace);
      const version = versionOf(meta.meta, doc.stat);
      if (ifMatch !== undefined) assertMatch(namespace, ifMatch, version, doc.data);
      const docPath = this.layout.document(namespace);
      const tombstone = this.layout.tombstoneOf(namespace);
      const ops: Op[] = [
        // A znode with children (child namespaces) cannot go; it stays as their empty parent.
        doc.stat.numChildren > 0
          ? { op: 'setData', path: docPath, data: Buffer.alloc(0), version: doc.stat.version }
          : { op: 'delete', path: docPath, version: doc.stat.version },
        { op: 'delete', path: this.layout.metaOf(namespace), version: meta.stat.version },
      ];
      // The tombstone's czxid is the deletion's zxid, so an old one is replaced, not updated.
      if (await this.store.exists(tombstone)) ops.push({ op: 'delete', path: tombstone });
      ops.push({ op: 'create', path: tombstone, data: json({ version }) });
      ops.push(
        this.record(actor, namespace, {
          action: 'config.delete',
          versionBefore: version,
          versionAfter: null,
        }),
      );
      await this.store.multi(ops);
      const index = (await this.store.exists(tombstone))?.czxid ?? 0n;
      await this.options.tree.acknowledge(index);
      this.options.metrics.configPublishes.inc({ kind: 'delete' });
      return { version, index };
    });
  }

  /** Releases, newest first, at most `limit`. */
  async history(namespace: string, limit: number): Promise<Release[]> {
    parseNamespace(namespace);
    return atStoreBoundary(`namespace ${namespace}`, () => this.readHistory(namespace, limit));
  }

  private async readHistory(namespace: string, limit: number): Promise<Release[]> {
    const versions = (await this.releaseNumbers(namespace)).reverse().slice(0, limit);
    const releases = await Promise.all(
      versions.map((v) =>
        this.readRelease(namespace, v).catch((err: unknown) => {
          // Trimmed by a concurrent publish between the listing and the read.
          if (err instanceof ZkgError && err.code === 'ZKG_RELEASE_NOT_FOUND') return undefined;
          throw err;
        }),
      ),
    );
    const found = releases.filter((r): r is { release: Release; data: Buffer } => r !== undefined);
    if (found.length === 0 && !this.cache.get(namespace)) throw notFound(namespace);
    return found.map((r) => r.release);
  }

  async release(namespace: string, version: number): Promise<{ release: Release; data: Buffer }> {
    parseNamespace(namespace);
    return atStoreBoundary(`namespace ${namespace}`, () => this.readRelease(namespace, version));
  }

  /** Publish release `version` again, as a new version. */
  async rollback(
    actor: Actor,
    namespace: string,
    version: number,
    request: { comment?: string; ifMatch?: VersionMatch },
  ): Promise<PublishResult> {
    const { release, data } = await this.release(namespace, version);
    const result = await this.write(actor, 'config.rollback', namespace, {
      body: data,
      format: release.format,
      comment: request.comment ?? `rollback to version ${version}`,
      ...(request.ifMatch === undefined ? {} : { ifMatch: request.ifMatch }),
    });
    this.options.metrics.configPublishes.inc({ kind: 'rollback' });
    return result;
  }

  async getSchema(namespace: string): Promise<JsonSchema> {
    parseNamespace(namespace);
    const { meta } = await atStoreBoundary(`namespace ${namespace}`, () => this.readCurrent(namespace));
    if (meta?.meta.schema === undefined) {
      throw new ZkgError('ZKG_CONFIG_NOT_FOUND', `namespace ${namespace} has no schema`);
    }
    return meta.meta.schema;
  }

  /**
   * Set the namespace's JSON Schema. The current document (json or yaml) must satisfy it: a
   * schema that the live configuration already violates would only surface at the next publish.
   */
  async setSchema(actor: Actor, namespace: string, schema: unknown): Promise<void> {
    parseNamespace(namespace);
    this.assertWritable();
    this.schemas.compile(schema);
    await this.serialized(namespace, async () => {
      const { doc, meta } = await this.readCurrent(namespace);
      if (doc && meta?.meta.live) {
        this.checkSchema(
          schema as JsonSchema,
          meta.meta.format,
          parseDocument(meta.meta.format, doc.data).value,
        );
      }
      const path = this.layout.metaOf(namespace);
      // The namespace's version stays as it is: a schema is not a release.
      const version = doc && meta?.meta.live ? versionOf(meta.meta, doc.stat) : null;
      await this.store.multi([
        meta
          ? {
              op: 'setData',
              path,
              data: json({ ...meta.meta, schema: schema as JsonSchema }),
              version: meta.stat.version,
            }
          : // Declared ahead of the first publish, which keeps it; not a namespace until then.
            {
              op: 'create',
              path,
              data: json({
                format: 'json',
                base: 0,
                live: false,
                schema: schema as JsonSchema,
              } satisfies ConfigMeta),
            },
        this.record(actor, namespace, {
          action: 'config.schema',
          versionBefore: version,
          versionAfter: version,
        }),
      ]);
    });
  }

  /** Forget deletions older than the retention; resumes from before them get a `reset`. */
  async pruneTombstones(now: number): Promise<number> {
    const cutoff = now - this.options.tombstoneRetentionMs;
    let pruned = 0;
    for (const { namespace } of this.cache.deletions().filter((d) => d.ctime < cutoff)) {
      // Decide on the tombstone as it is now: it may have been replaced by a newer deletion.
      const tombstone = await orUndefined(this.store.getData(this.layout.tombstoneOf(namespace)));
      if (!tombstone || tombstone.stat.ctime >= cutoff) continue;
      const zxid = tombstone.stat.czxid;
      const dir = await this.store.getData(this.layout.tombstones);
      const text = dir.data.toString('utf8');
      const horizon = /^[0-9]{1,20}$/.test(text) ? BigInt(text) : 0n;
      try {
        await this.store.multi([
          { op: 'delete', path: this.layout.tombstoneOf(namespace), version: tombstone.stat.version },
          {
            op: 'setData',
            path: this.layout.tombstones,
            data: Buffer.from(String(zxid > horizon ? zxid : horizon)),
            version: dir.stat.version,
          },
        ]);
        pruned++;
      } catch (err) {
        // Another replica pruned it, or moved the horizon first: the next round sees that.
        if (!(err instanceof MultiError)) throw err;
      }
    }
    return pruned;
  }

  /**
   * Record the deletions this replica's cache saw without a tombstone. One that cannot be recorded
   * (no access, a read-only server) is tried again by the next pruning round; its watchers got it
   * anyway.
   */
  private async recordDeletions(): Promise<void> {
    for (const { namespace, version } of this.cache.unrecordedDeletions()) {
      try {
        await this.recordDeletion(namespace, version);
      } catch (err) {
        this.options.logger.warn(
          { err, namespace },
          'deletion of a namespace not recorded; replicas starting now will not report it',
        );
      }
    }
  }

  /**
   * Write the tombstone of a deletion made outside zkgate, unless the namespace is back or the
   * deletion recorded. The transaction is fenced on the meta znode as read here (every publish
   * creates or sets it; a missing one is created and deleted again, which fails if it exists): a
   * publish in between fails it, rather than leave a tombstone beside a live namespace that a
   * later deletion would be taken for. It is no audited change: it records one already made.
   * A replica that lost the leadership meanwhile may write it too, which changes nothing.
   */
  private async recordDeletion(namespace: string, version: number): Promise<void> {
    const metaPath = this.layout.metaOf(namespace);
    const tombstone = this.layout.tombstoneOf(namespace);
    // The meta first: a publish writes both at once, so one before the meta read shows in the
    // document read too, and one after it fails the fence.
    const meta = await orUndefined(this.store.getData(metaPath));
    const doc = await this.store.exists(this.layout.document(namespace));
    if (doc && meta && isLive(meta.data)) return;
    const fence: Op[] = meta
      ? [{ op: 'check', path: metaPath, version: meta.stat.version }]
      : [
          { op: 'create', path: metaPath },
          { op: 'delete', path: metaPath },
        ];
    try {
      await this.store.multi([...fence, { op: 'create', path: tombstone, data: json({ version }) }]);
    } catch (err) {
      // Published, deleted or recorded meanwhile: the cache says again if it is still unrecorded.
      if (!isRace(err)) throw err;
    }
  }

  /** The audit record of a change to `namespace`, for the change's own `multi`. */
  private record(actor: Actor, namespace: string, change: Omit<AuditChange, 'resource'>): Op {
    return auditOp(this.options.root, actor, { ...change, resource: auditResource.namespace(namespace) });
  }

  /**
   * A namespace with a schema takes documents the schema can judge: JSON and YAML as parsed,
   * properties as a flat object of strings. Plain text cannot be validated, so it is refused.
   */
  private checkSchema(schema: JsonSchema, format: ConfigFormat, value: unknown): void {
    if (format === 'text') {
      throw new ZkgError(
        'ZKG_SCHEMA_VIOLATION',
        'the namespace has a schema; a text document cannot be validated',
        {
          extensions: { errors: [] },
        },
      );
    }
    this.schemas.check(schema, value);
  }

  /**
   * Run a write of `namespace` after this replica's earlier writes of it, retrying races with
   * other replicas' writers. A conditional write that lost a race re-reads and fails on its
   * condition (412); an unconditional one only fails if the namespace stays contended for the
   * whole retry budget, and then with a 503 that says to retry, not a storage error.
   */
  private serialized<T>(namespace: string, attempt: () => Promise<T>): Promise<T> {
    return this.writes.run(namespace, () => optimisticWrite(`namespace ${namespace}`, attempt));
  }

  /**
   * Writes fail fast while the store is unreachable (the reads they start with would otherwise
   * wait out the request deadline); clients retry after Retry-After.
   */
  private assertWritable(): void {
    if (this.stale) throw storeUnavailable(this.store.state);
  }

  private async readCurrent(
    namespace: string,
  ): Promise<{ doc: NodeData | undefined; meta: { meta: ConfigMeta; stat: NodeData['stat'] } | undefined }> {
    const [doc, meta] = await Promise.all([
      orUndefined(this.store.getData(this.layout.document(namespace))),
      orUndefined(this.store.getData(this.layout.metaOf(namespace))),
    ]);
    return { doc, meta: meta && { meta: parseMeta(meta.data), stat: meta.stat } };
  }

  /** Release numbers kept for the namespace, ascending. */
  private async releaseNumbers(namespace: string): Promise<number[]> {
    try {
      const { children } = await this.store.getChildren(this.layout.historyOf(namespace));
      return children
        .map(Number)
        .filter(Number.isInteger)
        .sort((a, b) => a - b);
    } catch (err) {
      if (isStoreError(err, ErrorCode.NO_NODE)) return [];
      throw err;
    }
  }

  private async readRelease(namespace: string, version: number): Promise<{ release: Release; data: Buffer }> {
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new ZkgError('ZKG_RELEASE_NOT_FOUND', `no release ${version} of ${namespace}`);
    }
    try {
      const node = await this.store.getData(this.layout.release(namespace, version));
      return openEnvelope(node.data, node.stat.ctime);
    } catch (err) {
      if (isStoreError(err, ErrorCode.NO_NODE)) {
        throw new ZkgError('ZKG_RELEASE_NOT_FOUND', `no release ${version} of ${namespace}`);
      }
      throw err;
    }
  }
}

/** An `If-Match` on a namespace: its version, and a digest of its bytes when a full ETag was sent. */
export interface VersionMatch {
  readonly version: number;
  readonly digest?: string;
}

function assertMatch(
  namespace: string,
  expected: VersionMatch,
  current: number | undefined,
  data?: Buffer,
): void {
  if (current === undefined) {
    throw new ZkgError('ZKG_CONFIG_VERSION_CONFLICT', `namespace ${namespace} does not exist`);
  }
  if (expected.version !== current) {
    throw new ZkgError(
      'ZKG_CONFIG_VERSION_CONFLICT',
      `namespace ${namespace} is at version ${current}, not ${expected.version}`,
    );
  }
  if (data !== undefined && !digestMatches(expected, data)) {
    throw new ZkgError(
      'ZKG_CONFIG_VERSION_CONFLICT',
      `namespace ${namespace} is at version ${current} with other content than the ETag given`,
    );
  }
}

/** Whether a meta znode's data makes its namespace live; one zkgate did not write does not. */
function isLive(data: Buffer): boolean {
  try {
    return parseMeta(data).live;
  } catch {
    return false;
  }
}

function notFound(namespace: string): ZkgError {
  return new ZkgError('ZKG_CONFIG_NOT_FOUND', `no namespace ${namespace}`);
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isStoreError(err, ErrorCode.NO_NODE)) return undefined;
    throw err;
  }
}

interface ReleaseHeader {
  version: number;
  format: ConfigFormat;
  author?: string | undefined;
  comment?: string | undefined;
  time: number;
}

/** A release znode: one line of JSON header, then the document byte for byte. */
function envelope(header: ReleaseHeader, body: Buffer): Buffer {
  return Buffer.concat([json(header), Buffer.from('\n'), body]);
}

function openEnvelope(data: Buffer, ctime: number): { release: Release; data: Buffer } {
  const newline = data.indexOf(0x0a);
  const header = JSON.parse(data.subarray(0, newline).toString('utf8')) as ReleaseHeader;
  const body = data.subarray(newline + 1);
  return {
    release: {
      version: header.version,
      format: header.format,
      author: header.author,
      comment: header.comment,
      time: header.time ?? ctime,
      size: body.length,
    },
    data: body,
  };
}
