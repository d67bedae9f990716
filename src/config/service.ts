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
 * Tombstones are written by writers only: by a delete, in its own transaction, and for deletions
 * zkgate did not make by {@link Tombstones}.
 *
 * (Longer than 450 lines: every write of the slice goes through the same per-namespace queue,
 * version-checked retry and wait for this replica's cache, which are this class; the release
 * history, tombstones, formats and schema checks already live in modules of their own.)
 */
import type { Actor } from '../acl/actor.js';
import { auditDirectory, auditOp, auditResource, type AuditChange } from '../acl/audit.js';
import type { LeaderElection } from '../coordination/election.js';
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import { parentOf } from '../coordination/paths.js';
import { KeyedQueue, missingDirs, mkdirs, orAbsent } from '../coordination/recipes.js';
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
  encodeTombstone,
  parseMeta,
  parseTombstone,
  versionOf,
  type ConfigEntry,
  type ConfigMeta,
} from './cache.js';
import { assertMatch, type VersionMatch } from './etag.js';
import { parseDocument, type ConfigFormat } from './formats.js';
import { ConfigLayout, parseNamespace } from './namespace.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { envelopeOf, ReleaseHistory, type Release } from './releases.js';
import { SchemaValidator, type JsonSchema } from './schema.js';
import { Tombstones } from './tombstones.js';

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

export class ConfigService {
  readonly cache: ConfigCache;
  readonly layout: ConfigLayout;
  private readonly releases: ReleaseHistory;
  private readonly schemas = new SchemaValidator();
  private readonly writes = new KeyedQueue();
  /** Deletions' records: pruned after the retention, written for deletions zkgate did not make. */
  readonly tombstones: Tombstones;

  constructor(
    private readonly store: CoordinationStore,
    private readonly options: ConfigServiceOptions,
  ) {
    this.layout = new ConfigLayout(options.root);
    this.releases = new ReleaseHistory(store, this.layout);
    this.cache = new ConfigCache(options.tree, this.layout);
    this.tombstones = new Tombstones(store, this.layout, this.cache, {
      leadership: options.leadership,
      retentionMs: options.tombstoneRetentionMs,
      logger: options.logger,
    });
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
    this.tombstones.start();
  }

  close(): void {
    this.tombstones.close();
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
      // Independent reads, in one round trip: a publish's delay is what every watcher waits for.
      const [{ doc, meta }, releases] = await Promise.all([
        this.readCurrent(namespace),
        this.releases.numbers(namespace),
      ]);
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
      const tombstone = exists
        ? undefined
        : await orAbsent(this.store.getData(this.layout.tombstoneOf(namespace)));
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
          data: envelopeOf(
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
      // The document's Stat after this write: setData returns it; a create's is read, and still
      // shows this write only while the znode has not changed since. Its czxid is the index.
      const stat = first?.op === 'setData' ? first.stat : await this.store.exists(docPath);
      const index = first?.op === 'setData' ? first.stat.mzxid : (stat?.czxid ?? 0n);
      if (stat?.mzxid === index) {
        this.cache.publishOwn({
          namespace,
          data: body,
          format,
          version,
          index,
          modified: stat.mtime,
          meta: nextMeta,
        });
      }
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
      ops.push({ op: 'create', path: tombstone, data: encodeTombstone(version) });
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

  /** Releases, newest first, at most `limit`, only those older than `before` when given. */
  async history(namespace: string, limit: number, before?: number): Promise<Release[]> {
    parseNamespace(namespace);
    return atStoreBoundary(`namespace ${namespace}`, async () => {
      const found = await this.releases.list(namespace, limit, before);
      if (found.length === 0 && !this.cache.get(namespace)) throw notFound(namespace);
      return found;
    });
  }

  async release(namespace: string, version: number): Promise<{ release: Release; data: Buffer }> {
    parseNamespace(namespace);
    return atStoreBoundary(`namespace ${namespace}`, () => this.releases.read(namespace, version));
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
      orAbsent(this.store.getData(this.layout.document(namespace))),
      orAbsent(this.store.getData(this.layout.metaOf(namespace))),
    ]);
    return { doc, meta: meta && { meta: parseMeta(meta.data), stat: meta.stat } };
  }
}

function notFound(namespace: string): ZkgError {
  return new ZkgError('ZKG_CONFIG_NOT_FOUND', `no namespace ${namespace}`);
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
