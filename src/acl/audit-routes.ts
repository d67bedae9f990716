/**
 * `GET /v1/audit`: the audit trail, newest first, filtered by resource prefix, accessor and a
 * starting point. Thin: validate, ask the {@link AuditTrail}, shape the records.
 */
import type { FastifyInstance } from 'fastify';
import { AUDIT_ACTIONS } from './audit.js';
import type { AuditQuery, AuditTrail } from './audit-trail.js';
import { PERMISSION_KEY } from './permissions.js';

export interface AuditRoutesOptions {
  readonly audit: AuditTrail;
}

const ZXID = /^[0-9]{1,20}$/;

/** Records a page holds unless `limit` says otherwise. */
const AUDIT_PAGE = 100;

const version = {
  type: ['integer', 'null'],
  description: "The resource's version; null where it did not exist",
} as const;

export const AuditRecordSchema = {
  $id: 'AuditRecord',
  type: 'object',
  description: 'One change and who made it, written in the same ZooKeeper transaction as the change',
  required: [
    'id',
    'index',
    'time',
    'accessor',
    'description',
    'action',
    'resource',
    'versionBefore',
    'versionAfter',
    'address',
    'requestId',
  ],
  properties: {
    id: { type: 'string', description: 'The record znode (its sequence)', example: '0000000042' },
    index: { type: 'string', pattern: ZXID.source, description: "The change's zxid", example: '4294967302' },
    time: { type: 'string', format: 'date-time', description: 'When ZooKeeper applied the change' },
    accessor: {
      type: 'string',
      description: "The token's accessor id; `system` for the gateway's own changes",
      example: 'system',
    },
    description: {
      type: 'string',
      description: "The token's description, or which job of the gateway",
      example: 'lease reaper',
    },
    action: { type: 'string', enum: AUDIT_ACTIONS },
    resource: {
      type: 'string',
      description:
        '`config:<namespace>`, `service:<service>/<id>`, `service:<service>`, `acl:token/<accessor>`',
      example: 'config:prod/payments',
    },
    versionBefore: version,
    versionAfter: version,
    address: { type: 'string', description: "The client's address; empty for the gateway's own changes" },
    requestId: { type: 'string', description: 'The request id, as in the logs' },
  },
} as const;

export const auditSchemas = [AuditRecordSchema] as const;

const querystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    resource: {
      type: 'string',
      maxLength: 2100,
      description: 'Only records whose resource starts with this (`config:prod/`, `service:orders/i-1`)',
    },
    accessor: { type: 'string', maxLength: 128, description: 'Only records of this accessor id' },
    since: {
      anyOf: [
        { type: 'string', pattern: ZXID.source },
        { type: 'string', format: 'date-time' },
      ],
      description:
        'Only changes after this zxid (an `index` seen before), or at or after this time (RFC 3339)',
    },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: AUDIT_PAGE,
      description: 'At most this many records',
    },
  },
} as const;

export async function auditRoutes(app: FastifyInstance, options: AuditRoutesOptions): Promise<void> {
  const { audit } = options;

  app.get(
    '/v1/audit',
    {
      schema: {
        summary: 'The audit trail: every change, newest first',
        description:
          'One record per mutation (config, registry, access control), written atomically with it. Kept within ' +
          'ZKGATE_AUDIT_RETENTION (count and age).',
        tags: ['audit'],
        [PERMISSION_KEY]: 'operator:read or acl:read',
        querystring,
        response: {
          200: { type: 'array', items: { $ref: 'AuditRecord#' } },
          400: { $ref: 'Problem#' },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const query = request.query as { resource?: string; accessor?: string; since?: string; limit?: number };
      const since: AuditQuery['since'] =
        query.since === undefined
          ? undefined
          : ZXID.test(query.since)
            ? { after: BigInt(query.since) }
            : { from: Date.parse(query.since) };
      const records = await audit.query({
        limit: query.limit ?? AUDIT_PAGE,
        ...(query.resource === undefined ? {} : { resource: query.resource }),
        ...(query.accessor === undefined ? {} : { accessor: query.accessor }),
        ...(since === undefined ? {} : { since }),
      });
      return records.map((record) => ({
        ...record,
        index: String(record.index),
        time: new Date(record.time).toISOString(),
      }));
    },
  );
}
