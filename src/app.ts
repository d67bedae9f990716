/**
 * The whole HTTP application as one fastify instance, not listening: `server.ts` listens, tests
 * use `app.inject()`. Domain logic stays in the services; this file wires routes and turns every
 * error into a problem document.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError } from 'fastify';
import type { Services } from './compose.js';
import { configRoutes } from './config/routes.js';
import { sharedSchemas } from './config/schemas.js';
import { ERRORS, ZkgError, toZkgError, type ErrorCodeKey } from './errors.js';
import { sendProblem } from './http/problem.js';
import { registerOpenApi } from './http/openapi.js';
import { watchRoutes } from './http/watch.js';
import { VERSION } from './version.js';

export interface AppOptions {
  readonly services: Services;
  readonly logger: FastifyBaseLogger;
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

export async function buildApp({ services, logger }: AppOptions) {
  const app = Fastify({
    loggerInstance: logger,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  app.addSchema({ $id: 'Problem', ...problemSchema });
  for (const schema of sharedSchemas) app.addSchema(schema);
  // Before any route: it collects them as they are added.
  await registerOpenApi(app, VERSION);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const fastifyCode = FASTIFY_CODES[err.code];
    const error = fastifyCode ? new ZkgError(fastifyCode, err.message, { cause: err }) : toZkgError(err);
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
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string' },
              store: { type: 'object', additionalProperties: true },
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
        });
      }
      return { status: 'ready', store: readiness.store };
    },
  );

  const { settings } = services;
  await app.register(configRoutes, {
    config: services.config,
    maxBytes: settings.configMaxBytes,
    longPollMaxWaitMs: settings.longPollMaxWaitMs,
  });
  await app.register(watchRoutes, {
    config: services.config,
    sse: {
      keepAliveMs: settings.sseKeepAliveMs,
      maxBufferedBytes: settings.sseMaxBufferBytes,
      retryMs: 1000,
    },
    limits: { perClient: settings.sseMaxClientCnxns, total: settings.sseMaxConnections },
  });

  return app;
}
