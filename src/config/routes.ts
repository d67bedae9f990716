/**
 * HTTP routes of the config center. Thin: parse the request, call {@link ConfigService}, shape
 * the reply. Sub-resources use a `:` suffix on the namespace (`prod/payments:history`), so every
 * path under `/v1/config/` is one wildcard route per method, dispatched here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl, Need } from '../acl/access.js';
import { actorOf } from '../acl/actor.js';
import { ZkgError } from '../errors.js';
import type { ConfigEntry } from './cache.js';
import { contentTypeOf, formatFromContentType } from './formats.js';
import { parseNamespace } from './namespace.js';
import type { VersionMatch } from './etag.js';
import type { ConfigService, PublishResult } from './service.js';
import { entityTag, parsePrecondition } from './etag.js';
import { HISTORY_PAGE, readQueries, schemas } from './schemas.js';
import { CompressibleBody, MIN_COMPRESSED_BYTES, varyOnEncoding } from '../http/compressed-body.js';
import { noneMatchHits, parseNoneMatch } from '../http/conditional.js';
import { LongPolls, parseWait } from '../http/long-poll.js';
import { invalidField, UNKNOWN_FIELD } from '../http/strict-validation.js';

export interface ConfigRoutesOptions {
  /** Ends the long-polls of a token revoked while they wait. */
  readonly access: AccessControl;
  readonly config: ConfigService;
  readonly maxBytes: number;
  readonly longPollMaxWaitMs: number;
  /** Whether a long-poll can wait for changes past an index (see `resumable` in long-poll.ts). */
  readonly resumable: (index: bigint) => Promise<boolean>;
  /** Open watch streams on this replica that cover a namespace. */
  readonly watchers: (namespace: string) => number;
}

type Target =
  | { kind: 'document'; namespace: string }
  | { kind: 'history'; namespace: string }
  | { kind: 'release'; namespace: string; version: number }
  | { kind: 'schema'; namespace: string }
  | { kind: 'rollback'; namespace: string };

/**
 * Paths parsed, each once for every request that names it (the authorization step and the
 * handler both ask): parsing and validating a namespace was a few percent of a cached read. Only
 * valid paths are kept, and the whole map is dropped when full, so any path a client makes up
 * costs memory for a while at most.
 */
const targets = new Map<string, Target>();
const MAX_TARGETS_KEPT = 10_000;

/** `prod/payments:history/3` -> what it names. Unknown suffixes are unknown routes. */
function target(request: FastifyRequest): Target {
  const path = (request.params as { '*': string })['*'];
  let parsed = targets.get(path);
  if (!parsed) {
    parsed = parseTarget(path, request);
    if (targets.size >= MAX_TARGETS_KEPT) targets.clear();
    targets.set(path, parsed);
  }
  return parsed;
}

function parseTarget(path: string, request: FastifyRequest): Target {
  const colon = path.indexOf(':');
  const namespace = parseNamespace(colon < 0 ? path : path.slice(0, colon));
  const sub = colon < 0 ? undefined : path.slice(colon + 1);
  if (sub === undefined) return { kind: 'document', namespace };
  if (sub === 'history') return { kind: 'history', namespace };
  if (sub === 'schema') return { kind: 'schema', namespace };
  if (sub === 'rollback') return { kind: 'rollback', namespace };
  const release = /^history\/([1-9][0-9]{0,14})$/.exec(sub);
  if (release) return { kind: 'release', namespace, version: Number(release[1]) };
  throw new ZkgError('ZKG_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`);
}

function only<K extends Target['kind']>(
  t: Target,
  request: FastifyRequest,
  ...kinds: K[]
): Extract<Target, { kind: K }> {
  if (!(kinds as string[]).includes(t.kind)) {
    throw new ZkgError('ZKG_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${request.url}`);
  }
  return t as Extract<Target, { kind: K }>;
}

/**
 * What a request on a namespace needs, from the same parse the handler makes: a publish creates
 * a namespace this replica does not know and writes one it does (were the view behind, the
 * publish's own preconditions still decide; the permission only decides who may try).
 */
function needsOf(request: FastifyRequest, config: ConfigService): Need[] {
  const t = target(request);
  const on = (permission: Need['permission']): Need[] => [
    { resource: { kind: 'config', name: t.namespace }, permission },
  ];
  switch (request.method) {
    case 'GET':
    case 'HEAD':
      return on('read');
    case 'PUT':
      if (t.kind === 'schema') return on('admin');
      return on(config.cache.get(t.namespace) ? 'write' : 'create');
    case 'POST':
      return on('write');
    default:
      return on('delete');
  }
}

/** The If-Match header as the service takes it: `*` means "must exist". */
function ifMatchOf(request: FastifyRequest): { ifMatch?: VersionMatch; mustExist: boolean } {
  const precondition = parsePrecondition(request.headers['if-match'], 'If-Match');
  if (precondition === undefined) return { mustExist: false };
  return precondition === '*' ? { mustExist: true } : { ifMatch: precondition, mustExist: false };
}

/** Headers are latin-1; comments may be percent-encoded UTF-8. */
function textHeader(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    return decodeURIComponent(value).slice(0, 1024);
  } catch {
    return value.slice(0, 1024);
  }
}

type DocumentHeaders = Record<string, string> & { readonly etag: string };

/** Reads are the hot path: a document's response headers are built once, not per request. */
const headerCache = new WeakMap<ConfigEntry, DocumentHeaders>();

function documentHeaders(entry: ConfigEntry): DocumentHeaders {
  let headers = headerCache.get(entry);
  if (!headers) {
    headers = {
      'content-type': contentTypeOf(entry.format),
      etag: entityTag(entry.version, entry.data),
      'x-zkgate-version': String(entry.version),
      'x-zkgate-index': String(entry.index),
      'last-modified': new Date(entry.modified).toUTCString(),
    };
    headerCache.set(entry, headers);
  }
  return headers;
}

/**
 * Documents big enough to gain from it are sent compressed to clients that accept it, each coding
 * made once per version. The ETag names the version whatever the coding, as `If-Match` on a write
 * needs it to; `Vary: Accept-Encoding` keeps caches from mixing codings.
 */
const compressibles = new WeakMap<ConfigEntry, CompressibleBody>();

function compressibleOf(entry: ConfigEntry): CompressibleBody | undefined {
  if (entry.data.length < MIN_COMPRESSED_BYTES) return undefined;
  let compressible = compressibles.get(entry);
  if (!compressible) {
    compressible = new CompressibleBody(entry.data);
    compressibles.set(entry, compressible);
  }
  return compressible;
}

function versionHeaders(reply: FastifyReply, etag: string, version: number, index: bigint): void {
  void reply
    .header('etag', etag)
    .header('x-zkgate-version', String(version))
    .header('x-zkgate-index', String(index));
}

function writeResult(reply: FastifyReply, namespace: string, result: PublishResult) {
  versionHeaders(reply, entityTag(result.version, result.body), result.version, result.index);
  return reply
    .code(result.created ? 201 : 200)
    .send({ namespace, version: result.version, index: String(result.index) });
}

/**
 * The JSON body of a schema or rollback request. Declared JSON, not merely shaped like it: a
 * browser sends `text/plain` across origins without a preflight, so a page must not be able to
 * post a rollback that way.
 */
function parseJsonBody(contentType: string | undefined, body: Buffer): unknown {
  if (formatFromContentType(contentType) !== 'json') {
    throw new ZkgError('ZKG_UNSUPPORTED_MEDIA_TYPE', 'this body must be sent as application/json');
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ZkgError('ZKG_VALIDATION_FAILED', `the body must be JSON: ${(err as Error).message}`);
  }
}

/** A sub-resource read with a parameter of another one (`:history?index=3`) is refused like any unknown one. */
function assertQueryOf(kind: keyof typeof readQueries, request: FastifyRequest): void {
  for (const name of Object.keys(request.query as object)) {
    if (!(name in readQueries[kind])) throw invalidField(`querystring.${name}`, UNKNOWN_FIELD);
  }
}

/** The bytes of a request on a raw-body route (none: empty). */
const bodyOf = (request: FastifyRequest): Buffer =>
  Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);

export async function configRoutes(app: FastifyInstance, options: ConfigRoutesOptions): Promise<void> {
  const { config } = options;
  const longPolls = new LongPolls((reply, revoked) =>
    options.access.onRevoked(reply.request.identity, revoked),
  );
  app.addHook('preClose', async () => longPolls.releaseAll());

  // Documents are stored byte for byte: every body arrives as a Buffer, parsed by the service.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.maxBytes }, (_request, body, done) =>
    done(null, body),
  );

  const serve = async (reply: FastifyReply, entry: ConfigEntry) => {
    void reply.headers(documentHeaders(entry));
    if (config.stale) void reply.header('x-zkgate-stale', 'true');
    const compressible = compressibleOf(entry);
    if (!compressible) return reply.send(entry.data);
    varyOnEncoding(reply);
    const { body, coding } = await compressible.encodedFor(reply.request.headers['accept-encoding']);
    if (coding) void reply.header('content-encoding', coding);
    return reply.send(body);
  };

  const notModified = (reply: FastifyReply, entry: ConfigEntry) => {
    versionHeaders(reply, documentHeaders(entry).etag, entry.version, entry.index);
    if (config.stale) void reply.header('x-zkgate-stale', 'true');
    return reply.code(304).send();
  };

  const access = (request: FastifyRequest) => needsOf(request, config);
  const listing = (request: FastifyRequest): Need[] => [
    { kind: 'config', under: (request.query as { prefix?: string }).prefix ?? '', permission: 'read' },
  ];

  app.get(
    '/v1/config',
    { schema: schemas.listRoute, config: { access: listing } },
    async (request, reply) => {
      const { prefix = '' } = request.query as { prefix?: string };
      if (config.stale) void reply.header('x-zkgate-stale', 'true');
      const { authority } = request.identity;
      const readable = (namespace: string) =>
        authority.decide({ kind: 'config', name: namespace }, 'read').allowed;
      return config
        .list(prefix)
        .filter((e) => readable(e.namespace))
        .map((e) => ({
          namespace: e.namespace,
          version: e.version,
          index: String(e.index),
          format: e.format,
          modified: new Date(e.modified).toISOString(),
          watchers: options.watchers(e.namespace),
        }));
    },
  );

  app.get('/v1/config/*', { schema: schemas.getRoute, config: { access } }, async (request, reply) => {
    const t = only(target(request), request, 'document', 'history', 'release', 'schema');
    assertQueryOf(t.kind, request);
    if (t.kind === 'history') {
      const { limit, before } = request.query as { limit?: number; before?: number };
      const releases = await config.history(t.namespace, limit ?? HISTORY_PAGE, before);
      return releases.map((r) => ({ ...r, time: new Date(r.time).toISOString() }));
    }
    if (t.kind === 'release') {
      const { release, data } = await config.release(t.namespace, t.version);
      void reply
        .header('x-zkgate-version', String(release.version))
        .header('etag', entityTag(release.version, data));
      if (release.author) void reply.header('x-zkgate-author', encodeURIComponent(release.author));
      return reply.type(contentTypeOf(release.format)).send(data);
    }
    if (t.kind === 'schema')
      return reply.type('application/schema+json').send(await config.getSchema(t.namespace));

    const query = request.query as { index?: string; wait?: string };
    if (query.index !== undefined) {
      const after = BigInt(query.index);
      const waitMs = parseWait(query.wait, options.longPollMaxWaitMs);
      // An index the store cannot resume from gets the current document at once.
      const known = await options.resumable(after);
      const entry = config.get(t.namespace);
      const next =
        entry.index > after || !known
          ? entry
          : await longPolls.wait<ConfigEntry | 'deleted'>(reply, waitMs, (done) =>
              config.cache.onChange((changes) => {
                for (const change of changes) {
                  if (
                    change.kind === 'config' &&
                    change.entry.namespace === t.namespace &&
                    change.entry.index > after
                  )
                    return done(change.entry);
                  if (change.kind === 'deleted' && change.namespace === t.namespace) return done('deleted');
                }
              }),
            );
      if (next === 'deleted')
        throw new ZkgError('ZKG_CONFIG_NOT_FOUND', `namespace ${t.namespace} was deleted`);
      return next ? serve(reply, next) : notModified(reply, config.get(t.namespace));
    }
    const entry = config.get(t.namespace);
    if (noneMatchHits(request.headers['if-none-match'], documentHeaders(entry).etag)) {
      return notModified(reply, entry);
    }
    return serve(reply, entry);
  });

  app.put('/v1/config/*', { schema: schemas.putRoute, config: { access } }, async (request, reply) => {
    const t = only(target(request), request, 'document', 'schema');
    if (t.kind === 'schema') {
      const schema = parseJsonBody(request.headers['content-type'], bodyOf(request));
      await config.setSchema(actorOf(request), t.namespace, schema);
      return reply.code(204).send();
    }
    const ifNoneMatch = request.headers['if-none-match'];
    if (ifNoneMatch !== undefined && parseNoneMatch(ifNoneMatch) !== '*') {
      throw new ZkgError('ZKG_VALIDATION_FAILED', 'on a publish, If-None-Match can only be *');
    }
    const result = await config.publish(actorOf(request), t.namespace, {
      body: bodyOf(request),
      format: formatFromContentType(request.headers['content-type']),
      ...ifMatchOf(request),
      createOnly: ifNoneMatch !== undefined,
      comment: textHeader(request, 'x-zkgate-comment'),
    });
    return writeResult(reply, t.namespace, result);
  });

  // A rollback's body is the one the route schema checks, so it is parsed before validation, in
  // a scope of its own; a POST to anything else is refused before its body is read.
  await app.register(async (rollbacks) => {
    rollbacks.removeAllContentTypeParsers();
    rollbacks.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      try {
        done(null, parseJsonBody(request.headers['content-type'], body as Buffer));
      } catch (err) {
        done(err as Error);
      }
    });
    rollbacks.post(
      '/v1/config/*',
      {
        schema: schemas.postRoute,
        config: { access },
        preParsing: async (request, _reply, payload) => {
          only(target(request), request, 'rollback');
          return payload;
        },
      },
      async (request, reply) => {
        const { namespace } = target(request);
        const { version } = request.body as { version: number };
        const { ifMatch } = ifMatchOf(request);
        const result = await config.rollback(actorOf(request), namespace, version, {
          comment: textHeader(request, 'x-zkgate-comment'),
          ...(ifMatch === undefined ? {} : { ifMatch }),
        });
        return writeResult(reply, namespace, result);
      },
    );
  });

  app.delete('/v1/config/*', { schema: schemas.deleteRoute, config: { access } }, async (request, reply) => {
    const t = only(target(request), request, 'document');
    const { ifMatch } = ifMatchOf(request);
    const result = await config.delete(actorOf(request), t.namespace, ifMatch);
    void reply
      .header('x-zkgate-version', String(result.version))
      .header('x-zkgate-index', String(result.index));
    return { namespace: t.namespace, version: result.version, index: String(result.index) };
  });
}
