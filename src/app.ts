/**
 * The whole HTTP application as one fastify instance, not listening: `server.ts` listens, tests
 * use `app.inject()`. Domain logic stays in the services; this file wires routes and turns every
 * error into a problem document.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { Identity } from './acl/access.js';
import type { ErrorObject } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyError } from 'fastify';
import { PERMISSION_KEY } from './acl/permissions.js';
import { aclRoutes, aclSchemas } from './acl/routes.js';
import { auditRoutes, auditSchemas } from './acl/audit-routes.js';
import type { Services } from './compose.js';
import { configRoutes } from './config/routes.js';
import { sharedSchemas } from './config/schemas.js';
import { ERRORS, ZkgError, toZkgError, type ErrorCodeKey } from './errors.js';
import { answerOutsideFastify, sendClientProblem, sendProblem } from './http/problem.js';
import { resumable } from './http/long-poll.js';
import { registerOpenApi } from './http/openapi.js';
import { watchRoutes } from './watch/routes.js';
import { WatcherCount } from './watch/watchers.js';
import { CONSOLE_PREFIX, consoleDirectory, consoleRoutes } from './controller/console.js';
import { monitorRoutes, observeRequests } from './monitor/routes.js';
import { registryRoutes } from './registry/routes.js';
import { registryFormats, registrySchemas } from './registry/schemas.js';
import { formatValidation, NO_QUERY, strictValidators, validationFailure } from './http/strict-validation.js';
import { VERSION } from './version.js';

export interface AppOptions {
  readonly services: Services;
  readonly logger: FastifyBaseLogger;
}

/**
 * Failures raised by fastify's plugins (static files, say) with a client status but no code of
 * their own in the table below: the status picks the catalog entry. A static file the plugin
 * refuses to serve (a path escaping its root) is simply not there.
 */
const CLIENT_STATUSES: Readonly<Record<number, ErrorCodeKey>> = {
  403: 'ZKG_ROUTE_NOT_FOUND',
  404: 'ZKG_ROUTE_NOT_FOUND',
  405: 'ZKG_METHOD_NOT_ALLOWED',
  408: 'ZKG_REQUEST_TIMEOUT',
  413: 'ZKG_PAYLOAD_TOO_LARGE',
  415: 'ZKG_UNSUPPORTED_MEDIA_TYPE',
  429: 'ZKG_RATE_LIMITED',
  431: 'ZKG_HEADERS_TOO_LARGE',
};

/** The catalog entry of a fastify or plugin failure, or undefined for anything else. */
function fastifyErrorCode(err: FastifyError): ErrorCodeKey | undefined {
  const byCode = FASTIFY_CODES[err.code];
  if (byCode) return byCode;
  const status = err.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  return CLIENT_STATUSES[status] ?? 'ZKG_VALIDATION_FAILED';
}

/**
 * What Node's parser lets through but HTTP/1.1 (RFC 9112) does not, refused before any handler:
 * a Host header missing (HTTP/1.1) or repeated (which one would a proxy have routed by?), a
 * transfer coding other than chunked (Node would ignore `gzip` and hand over compressed bytes),
 * and a fragment, which a client never sends and the router would silently cut off with
 * everything after it (`PUT /v1/config/2#x/a` would publish to `2`).
 */
function assertWellFormed(raw: IncomingMessage): void {
  let hosts = 0;
  for (let i = 0; i < raw.rawHeaders.length; i += 2) if (raw.rawHeaders[i]?.toLowerCase() === 'host') hosts++;
  if (hosts > 1 || (hosts === 0 && raw.httpVersion === '1.1')) {
    throw new ZkgError('ZKG_MALFORMED_REQUEST', 'an HTTP/1.1 request needs exactly one Host header');
  }
  const coding = raw.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    throw new ZkgError('ZKG_MALFORMED_REQUEST', 'the only transfer coding accepted is chunked');
  }
  if (raw.url?.includes('#')) {
    throw new ZkgError('ZKG_VALIDATION_FAILED', 'the request target must not contain "#" (a URL fragment)');
  }
}

/** fastify's own failures, mapped into the catalog by their stable `FST_ERR_*` codes. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCodeKey>> = {
  FST_ERR_VALIDATION: 'ZKG_VALIDATION_FAILED',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ZKG_VALIDATION_FAILED',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ZKG_VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'ZKG_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ZKG_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ZKG_VALIDATION_FAILED',
};

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: Object.keys(ERRORS) },
  },
  additionalProperties: true,
} as const;

/**
 * The listener: plain HTTP, or HTTPS with the certificate and key files the settings name (read
 * once, at boot). Typed as fastify's default server either way: what the app touches of it
 * (`on`, timeouts) both have.
 */
function listenerOptions(settings: Services['settings']): { http: ServerOptions } {
  const server: ServerOptions = {
    // Checked in onRequest, to answer with a problem document instead of Node's bare 400.
    requireHostHeader: false,
    headersTimeout: settings.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(5_000, Math.ceil(settings.requestTimeoutMs / 4)),
  };
  if (settings.tlsCertFile === undefined || settings.tlsKeyFile === undefined) return { http: server };
  const https: HttpsServerOptions = {
    ...server,
    cert: readFileSync(settings.tlsCertFile),
    key: readFileSync(settings.tlsKeyFile),
  };
  return { https } as unknown as { http: ServerOptions };
}

export async function buildApp({ services, logger }: AppOptions) {
  const { settings } = services;
  const app = Fastify({
    loggerInstance: logger,
    // Service names and instance ids are znode names: up to 255 characters, more once %-encoded.
    routerOptions: { maxParamLength: 1024 },
    // Errors the router raises before any handler (a malformed or too long URL) are problems too.
    frameworkErrors: (err, _request, reply) =>
      sendProblem(reply, new ZkgError('ZKG_VALIDATION_FAILED', err.message, { cause: err })),
    schemaController: { compilersFactory: { buildValidator: strictValidators(registryFormats) } },
    // The message names every failing field; the problem document lists them under `errors`.
    schemaErrorFormatter: (errors, context) => formatValidation(errors as ErrorObject[], context),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A request (headers and body) must arrive within this time: a client trickling a body a
    // byte at a time would otherwise hold a connection and its buffers for as long as it likes.
    // Node checks deadlines every connectionsCheckingInterval (30 s by default), too coarse for
    // a deadline of seconds. Only the request is timed: long-polls and watch streams are not.
    requestTimeout: settings.requestTimeoutMs,
    ...listenerOptions(settings),
    clientErrorHandler: sendClientProblem,
    // X-Forwarded-For is anyone's to write: believed only from the proxies named, so a client
    // cannot pick the address its per-client limits (SSE connections) are counted under.
    trustProxy: settings.trustProxy === undefined ? false : [...settings.trustProxy],
  });

  // Before any route: what plugins add for the protocol itself is public (Swagger UI's static
  // files, CORS preflights, which browsers send without credentials), and every other route must
  // say what it requires, and takes no query parameter it does not declare.
  app.addHook('onRoute', (route) => {
    const preflight = route.method === 'OPTIONS' && route.url === '*';
    const underPrefix = (prefix: string) => route.url === prefix || route.url.startsWith(`${prefix}/`);
    if (preflight || underPrefix('/docs') || underPrefix(CONSOLE_PREFIX)) {
      const declared: Record<string, unknown> = { ...route.schema, [PERMISSION_KEY]: 'public' };
      route.schema = declared;
    } else if (route.schema?.querystring === undefined) {
      route.schema = { ...route.schema, querystring: NO_QUERY };
    }
  });
  app.addHook('onRoute', (route) => services.access.plan(route));
  answerOutsideFastify(app.server as Server);
  app.decorateRequest('identity', null as unknown as Identity);
  // Hooks on every request are synchronous (`done`, not async): an async hook costs a promise and
  // a turn of the microtask queue per request, a few percent of a cached read. A throw still
  // reaches the error handler.
  app.addHook('onRequest', (request, reply, done) => {
    assertWellFormed(request.raw);
    services.access.identify(request, reply);
    done();
  });
  if (settings.rateLimit > 0) {
    // Counted before authorization, so guessing tokens is limited by address too.
    await app.register(rateLimit, {
      global: false,
      // Only a refused request says when to come back: headers on every answer cost every answer.
      addHeadersOnExceeding: {
        'x-ratelimit-limit': false,
        'x-ratelimit-remaining': false,
        'x-ratelimit-reset': false,
      },
      addHeaders: {
        'x-ratelimit-limit': false,
        'x-ratelimit-remaining': false,
        'x-ratelimit-reset': false,
        'retry-after': true,
      },
    });
    app.addHook(
      'onRequest',
      app.rateLimit({
        max: settings.rateLimit,
        timeWindow: 1_000,
        keyGenerator: (request) => services.access.rateKey(request),
        // Health probes and the API document are not anyone's traffic.
        allowList: (request) => request.identity === null,
        errorResponseBuilder: (_request, context) =>
          new ZkgError('ZKG_RATE_LIMITED', `more than ${context.max} requests per second`, {
            retryAfter: Math.max(1, Math.ceil(context.ttl / 1000)),
          }),
      }),
    );
  }
  app.addHook('onRequest', (request, reply, done) => {
    services.access.authorize(request, reply);
    done();
  });

  // Off unless origins are listed: no page on another origin may call the API from a browser.
  if (settings.corsOrigins !== undefined) {
    await app.register(cors, {
      origin: [...settings.corsOrigins],
      methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
      exposedHeaders: ['etag', 'x-zkgate-version', 'x-zkgate-index', 'x-zkgate-stale', 'retry-after'],
    });
  }
  // Every body outside the config routes (which take documents as bytes) is JSON: a text/plain
  // one is what a page on any origin can post without a preflight, so it is refused (415).
  app.removeContentTypeParser('text/plain');
  observeRequests(app, services.metrics);
  app.addSchema({ $id: 'Problem', ...problemSchema });
  for (const schema of [...sharedSchemas, ...registrySchemas, ...aclSchemas, ...auditSchemas])
    app.addSchema(schema);
  // Before any route: it collects them as they are added.
  await registerOpenApi(app, VERSION);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    // A request stream is destroyed once read to its end too: only one destroyed before it ended
    // was cut off.
    if (request.raw.destroyed && !request.raw.readableEnded) {
      // The client hung up mid-body: nobody is left to answer, and it is not our fault.
      request.log.debug({ err }, 'client went away');
      return reply;
    }
    const fastifyCode = err instanceof ZkgError ? undefined : fastifyErrorCode(err);
    const error = fastifyCode
      ? new ZkgError(fastifyCode, err.message, {
          cause: err,
          ...(err.validation ? { extensions: { errors: validationFailure(err) } } : {}),
        })
      : toZkgError(err);
    if (error.status >= 500) request.log.error({ err }, 'request failed');
    return sendProblem(reply, error);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new ZkgError('ZKG_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`)),
  );

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process serves HTTP and can recover by itself',
        tags: ['ops'],
        [PERMISSION_KEY]: 'public',
        response: {
          200: { type: 'object', properties: { status: { type: 'string' } } },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (_request, reply) => {
      const { alive, reason } = services.alive();
      if (!alive) return sendProblem(reply, new ZkgError('ZKG_NOT_ALIVE', reason));
      return { status: 'ok' };
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the coordination store is connected and the gateway accepts traffic',
        tags: ['ops'],
        [PERMISSION_KEY]: 'public',
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string' },
              store: { type: 'object', additionalProperties: true },
              hotStore: { type: 'object', additionalProperties: true },
            },
          },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (_request, reply) => {
      const readiness = services.readiness();
      if (!readiness.ready) {
        const code = readiness.shuttingDown ? 'ZKG_SHUTTING_DOWN' : 'ZKG_NOT_READY';
        return sendProblem(reply, new ZkgError(code, readiness.reason, { retryAfter: 1 }), {
          store: readiness.store,
          hotStore: readiness.hotStore,
        });
      }
      return { status: 'ready', store: readiness.store, hotStore: readiness.hotStore };
    },
  );

  const resumeFrom = (index: bigint) => resumable(index, services.tree, services.store);
  const watchers = new WatcherCount();
  await app.register(configRoutes, {
    config: services.config,
    access: services.access,
    maxBytes: settings.configMaxBytes,
    longPollMaxWaitMs: settings.longPollMaxWaitMs,
    resumable: resumeFrom,
    watchers: (namespace) => watchers.of(namespace),
  });
  await app.register(registryRoutes, {
    registry: services.registry,
    access: services.access,
    servicesPath: settings.servicesPath,
    longPollMaxWaitMs: settings.longPollMaxWaitMs,
    resumable: resumeFrom,
    checkTargets: services.checkTargets,
  });
  await app.register(watchRoutes, {
    tree: services.tree,
    config: services.config,
    registry: services.registry,
    sse: {
      keepAliveMs: settings.sseKeepAliveMs,
      maxBufferedBytes: settings.sseMaxBufferBytes,
      retryMs: 1000,
    },
    limits: { perClient: settings.sseMaxClientCnxns, total: settings.sseMaxConnections },
    metrics: services.metrics,
    access: services.access,
    resumable: resumeFrom,
    watchers,
  });
  await app.register(aclRoutes, { acl: services.acl });
  await app.register(monitorRoutes, {
    metrics: services.metrics,
    metricsPublic: settings.metricsPublic,
    cluster: () => services.cluster(),
  });
  await app.register(auditRoutes, { audit: services.audit });
  await app.register(consoleRoutes, { root: consoleDirectory() });

  return app;
}
