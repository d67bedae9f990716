/**
 * OpenAPI paths of the config sub-resources. They are served by one wildcard route per method
 * (a namespace spans several path segments, which no router parameter can), so they are described
 * here, from the same schema objects the routes use, and merged into the generated document.
 */
import { PERMISSION_KEY } from '../acl/permissions.js';
import { CONFIG_FORMATS, contentTypeOf } from './formats.js';
import { readQueries } from './schemas.js';

const problem = (status: number, description: string) => ({
  [status]: {
    description,
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  },
});

/** Query parameters as @fastify/swagger writes those of the other routes, from the same schemas. */
const queryParameters = (properties: Readonly<Record<string, { readonly description?: string }>>) =>
  Object.entries(properties).map(([name, { description, ...schema }]) => ({
    schema,
    in: 'query',
    name,
    required: false,
    ...(description === undefined ? {} : { description }),
  }));

const namespace = {
  name: 'namespace',
  in: 'path',
  required: true,
  description: '1 to 8 segments joined by `/`, each `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`',
  schema: { type: 'string', example: 'prod/payments' },
  allowReserved: true,
} as const;

const versionHeaders = {
  ETag: { description: 'The version, quoted', schema: { type: 'string', example: '"3"' } },
  'X-Zkgate-Version': { schema: { type: 'integer' } },
  'X-Zkgate-Index': { description: 'mzxid of the document znode', schema: { type: 'string' } },
};

const documentContent = Object.fromEntries(
  CONFIG_FORMATS.map((format) => [contentTypeOf(format).split(';')[0], { schema: { type: 'string' } }]),
);

const writeResult = (status: number, description: string) => ({
  [status]: {
    description,
    headers: versionHeaders,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/ConfigWriteResult' } } },
  },
});

// The author of a release is the description of the token that published it, never a header.
const authorHeaders = [
  {
    name: 'X-Zkgate-Comment',
    in: 'header',
    schema: { type: 'string' },
    description: 'Percent-encoded UTF-8',
  },
];

const ifMatch = {
  name: 'If-Match',
  in: 'header',
  schema: { type: 'string' },
  description: 'Only if the namespace is at this version (`"3"`), or exists (`*`)',
};

export const configPaths = {
  '/v1/config/{namespace}': {
    get: {
      tags: ['config'],
      summary: 'Read a document (or long-poll for its next change)',
      [PERMISSION_KEY]: 'config:read',
      parameters: [
        namespace,
        { name: 'If-None-Match', in: 'header', schema: { type: 'string' } },
        ...queryParameters(readQueries.document),
      ],
      responses: {
        200: {
          description: 'The document, byte for byte; `X-Zkgate-Stale: true` while ZooKeeper is unreachable',
          headers: versionHeaders,
          content: documentContent,
        },
        304: { description: 'Not modified (matching ETag, or no change before the long-poll deadline)' },
        ...problem(400, 'Invalid namespace or query'),
        ...problem(404, 'No such namespace'),
      },
    },
    put: {
      tags: ['config'],
      summary: 'Publish a document as the next version',
      [PERMISSION_KEY]: 'config:create|write',
      parameters: [
        namespace,
        ifMatch,
        {
          name: 'If-None-Match',
          in: 'header',
          schema: { type: 'string', enum: ['*'] },
          description: 'Create only',
        },
        ...authorHeaders,
      ],
      requestBody: { required: true, content: documentContent },
      responses: {
        ...writeResult(200, 'Published'),
        ...writeResult(201, 'Created'),
        ...problem(400, 'Malformed document or invalid namespace'),
        ...problem(412, 'Version precondition failed'),
        ...problem(413, 'Document too large'),
        ...problem(415, 'Unsupported content type'),
        ...problem(422, 'The document violates the namespace schema'),
        ...problem(503, 'ZooKeeper unreachable'),
      },
    },
    delete: {
      tags: ['config'],
      summary: 'Delete a namespace',
      [PERMISSION_KEY]: 'config:delete',
      parameters: [namespace, ifMatch],
      responses: {
        ...writeResult(200, 'Deleted; the version and index of the deletion'),
        ...problem(404, 'No such namespace'),
        ...problem(412, 'Version precondition failed'),
        ...problem(503, 'ZooKeeper unreachable'),
      },
    },
  },
  '/v1/config/{namespace}:history': {
    get: {
      tags: ['config'],
      summary: 'Releases, newest first',
      [PERMISSION_KEY]: 'config:read',
      parameters: [namespace, ...queryParameters(readQueries.history)],
      responses: {
        200: {
          description: 'Releases',
          content: {
            'application/json': {
              schema: { type: 'array', items: { $ref: '#/components/schemas/ConfigRelease' } },
            },
          },
        },
        ...problem(404, 'No such namespace'),
      },
    },
  },
  '/v1/config/{namespace}:history/{version}': {
    get: {
      tags: ['config'],
      summary: 'One release, byte for byte',
      [PERMISSION_KEY]: 'config:read',
      parameters: [
        namespace,
        { name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
      ],
      responses: {
        200: { description: 'The document of that release', content: documentContent },
        ...problem(404, 'No such release'),
      },
    },
  },
  '/v1/config/{namespace}:rollback': {
    post: {
      tags: ['config'],
      summary: 'Publish an earlier release again as a new version',
      [PERMISSION_KEY]: 'config:write',
      parameters: [namespace, ifMatch, ...authorHeaders],
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/ConfigRollbackRequest' } } },
      },
      responses: {
        ...writeResult(200, 'Published'),
        ...problem(404, 'No such release'),
        ...problem(422, 'The release violates the current schema'),
      },
    },
  },
  '/v1/config/{namespace}:schema': {
    get: {
      tags: ['config'],
      summary: 'The namespace JSON Schema (draft 2020-12)',
      [PERMISSION_KEY]: 'config:read',
      parameters: [namespace],
      responses: {
        200: {
          description: 'The schema',
          content: { 'application/schema+json': { schema: { type: 'object' } } },
        },
        ...problem(404, 'No schema'),
      },
    },
    put: {
      tags: ['config'],
      summary: 'Set the namespace JSON Schema; the current document must satisfy it',
      [PERMISSION_KEY]: 'config:admin',
      parameters: [namespace],
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
      responses: {
        204: { description: 'Set' },
        ...problem(400, 'The schema does not compile'),
        ...problem(422, 'The current document violates it'),
      },
    },
  },
} as const;
