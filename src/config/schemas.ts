/**
 * JSON Schemas of the config routes: one declaration drives request validation, response
 * serialization and the OpenAPI document (`src/http/openapi.ts`).
 */
import { PERMISSION_KEY } from '../acl/permissions.js';
import { longPollQuery } from '../http/long-poll.js';
import { CONFIG_FORMATS } from './formats.js';

const zxid = {
  type: 'string',
  pattern: '^[0-9]{1,20}$',
  description: 'A ZooKeeper zxid, in decimal',
} as const;

export const ConfigSummary = {
  $id: 'ConfigSummary',
  type: 'object',
  description: 'A namespace as listed',
  required: ['namespace', 'version', 'index', 'format', 'modified'],
  properties: {
    namespace: { type: 'string', example: 'prod/payments' },
    version: { type: 'integer', minimum: 1, example: 3 },
    index: { ...zxid, example: '4294967302' },
    format: { type: 'string', enum: CONFIG_FORMATS },
    modified: { type: 'string', format: 'date-time' },
    watchers: {
      type: 'integer',
      minimum: 0,
      description: 'Watch streams (GET /v1/watch) open on this replica that cover the namespace',
    },
  },
} as const;

export const WriteResult = {
  $id: 'ConfigWriteResult',
  type: 'object',
  description: 'The version a publish, rollback or delete produced or removed',
  required: ['namespace', 'version', 'index'],
  properties: {
    namespace: { type: 'string', example: 'prod/payments' },
    version: { type: 'integer', minimum: 1, example: 4 },
    index: { ...zxid, example: '4294967310' },
  },
} as const;

export const Release = {
  $id: 'ConfigRelease',
  type: 'object',
  description: 'One release in a namespace history',
  required: ['version', 'format', 'time', 'size'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    format: { type: 'string', enum: CONFIG_FORMATS },
    author: { type: 'string' },
    comment: { type: 'string' },
    time: { type: 'string', format: 'date-time' },
    size: { type: 'integer', minimum: 0, description: 'Document size in bytes' },
  },
} as const;

export const RollbackRequest = {
  $id: 'ConfigRollbackRequest',
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: {
      type: 'integer',
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'The release to publish again',
    },
  },
} as const;

/** Releases a history page holds unless `limit` says otherwise. */
export const HISTORY_PAGE = 20;

/** The query parameters of each sub-resource `GET /v1/config/{ns}...` serves. */
export const readQueries = {
  document: longPollQuery,
  history: {
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 10_000,
      default: HISTORY_PAGE,
      description: 'At most this many releases',
    },
    before: {
      type: 'integer',
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description:
        'Only releases older than this version: the next page starts before the oldest one of the last',
    },
  },
  release: {},
  schema: {},
} as const;

const problem = { $ref: 'Problem#' } as const;
const errors = {
  400: problem,
  404: problem,
  412: problem,
  413: problem,
  415: problem,
  422: problem,
  503: problem,
};

export const schemas = {
  listRoute: {
    summary: 'List namespaces',
    tags: ['config'],
    [PERMISSION_KEY]: 'config:read',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        prefix: { type: 'string', maxLength: 1100, description: 'Only names starting with this' },
      },
    },
    response: { 200: { type: 'array', items: { $ref: 'ConfigSummary#' } }, 400: problem },
  },
  // The wildcard routes serve every sub-resource; each documented operation (openapi.ts) says
  // exactly which permission it needs.
  getRoute: {
    [PERMISSION_KEY]: 'config:read',
    // Which of these a sub-resource takes, the handler checks (see readQueries).
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { ...readQueries.document, ...readQueries.history },
    },
    response: { 400: problem, 404: problem, 503: problem },
  },
  putRoute: {
    [PERMISSION_KEY]: 'config:create|write|admin',
    response: { 200: { $ref: 'ConfigWriteResult#' }, 201: { $ref: 'ConfigWriteResult#' }, ...errors },
  },
  postRoute: {
    [PERMISSION_KEY]: 'config:write',
    body: { $ref: 'ConfigRollbackRequest#' },
    response: { 200: { $ref: 'ConfigWriteResult#' }, ...errors },
  },
  deleteRoute: {
    [PERMISSION_KEY]: 'config:delete',
    response: { 200: { $ref: 'ConfigWriteResult#' }, ...errors },
  },
} as const;

/** Shared schemas the routes refer to by `$id`. */
export const sharedSchemas = [ConfigSummary, WriteResult, Release, RollbackRequest] as const;
