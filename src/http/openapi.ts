/**
 * The OpenAPI document, generated from the route schemas by @fastify/swagger (plus the config
 * sub-resources, see `src/config/openapi.ts`), served at `/openapi.json` with Swagger UI at
 * `/docs`. `npm run openapi` writes it to `openapi/openapi.json`; a test fails when the two
 * differ, so the committed spec cannot drift from the code.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { PERMISSION_KEY } from '../acl/permissions.js';
import { configPaths } from '../config/openapi.js';

const DESCRIPTION = `zkgate: a config center and service registry, a stateless HTTP gateway over Apache ZooKeeper.

Errors are \`application/problem+json\` documents with a stable \`code\` (see the Problem schema).

Every operation but health, readiness and this document needs a bearer token
(\`Authorization: Bearer zkg_<secret>\`); \`x-zkgate-permission\` on each operation names the
permission it needs: \`config:read\` is \`read\` on the namespace, \`a|b\` either, \`, \` both, \` or \`
either requirement, \`authenticated\` any token.`;

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'zkgate', version, description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'zkg_<secret>',
            description: 'A zkgate token',
          },
        },
      },
      tags: [
        { name: 'config', description: 'Configuration namespaces' },
        { name: 'registry', description: 'Service registry: Curator / Spring Cloud Zookeeper compatible' },
        { name: 'dispatch', description: 'Soft load balancing over a service' },
        { name: 'watch', description: 'Push over Server-Sent Events' },
        { name: 'ops', description: 'Health and readiness' },
        { name: 'audit', description: 'The audit trail: every change and who made it' },
        { name: 'acl', description: 'Access control: tokens and policies' },
      ],
    },
    // Keep the schemas' own names ($id) in components instead of def-0, def-1, ...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    // The wildcard routes behind the config sub-resources are described by configPaths instead.
    transform: ({ schema, url }) => ({ schema: url.endsWith('*') ? { ...schema, hide: true } : schema, url }),
    transformObject: (documents) => {
      const document = 'openapiObject' in documents ? documents.openapiObject : documents.swaggerObject;
      const paths = { ...document.paths, ...configPaths } as Record<string, Record<string, Operation>>;
      for (const operation of Object.values(paths).flatMap((item) => Object.values(item))) {
        optionalNullBody(operation);
        secured(operation);
      }
      return { ...document, paths } as unknown as typeof document;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true, [PERMISSION_KEY]: 'public' } }, async () => app.swagger());
}

/** An operation that is not public names the bearer scheme, so clients and Swagger UI send the token. */
function secured(operation: Operation): void {
  if (operation[PERMISSION_KEY] !== 'public') operation.security = [{ bearer: [] }];
}

interface Operation {
  [PERMISSION_KEY]?: unknown;
  security?: Array<Record<string, string[]>>;
  requestBody?: {
    required?: boolean;
    content?: Record<string, { schema?: { anyOf?: Array<{ type?: string }> } }>;
  };
}

/**
 * @fastify/swagger marks every request body required; a body whose schema admits `null` (a
 * heartbeat's optional load report) may also be left out, and the document says so.
 */
function optionalNullBody(operation: Operation): void {
  const body = operation.requestBody;
  const schemas = Object.values(body?.content ?? {}).map((media) => media.schema);
  if (body && schemas.some((schema) => schema?.anyOf?.some((branch) => branch.type === 'null')))
    body.required = false;
}
