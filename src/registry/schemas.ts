/**
 * JSON Schemas of the registry routes: request validation (by the app's one policy, see
 * `http/strict-validation.ts`), response serialization and the OpenAPI document.
 */
import { isIP } from 'node:net';
import { STRATEGY_NAMES } from '../dispatcher/types.js';
import { durationBody } from '../duration.js';
import { longPollQuery } from '../http/long-poll.js';
import { MAX_RENEWAL_BATCH } from '../hotstore/store.js';
import { CHECK_LIMITS, INSTANCE_STATUSES } from './instance.js';
import { LISTING_VIEWS } from './views.js';

/** Names of services and instances registered over HTTP (Curator's may be any znode name). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$';
const ZONE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** User metadata keys; `zkgate.*`, `zone` and `instance_status` are zkgate's and Spring's. */
const METADATA_KEY_PATTERN = '^(?!zkgate\\.|zone$|instance_status$)[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$';
/** RFC 1123 host names: labels of letters, digits and hyphens, 253 characters at most. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Formats these schemas use beyond ajv-formats': `host`, a host name or an IP address. */
export const registryFormats = {
  host: (value: string) => isIP(value) !== 0 || HOSTNAME.test(value),
};

const zxid = {
  type: 'string',
  pattern: '^[0-9]{1,20}$',
  description: 'A ZooKeeper zxid, in decimal',
} as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;

const HealthCheck = {
  type: 'object',
  additionalProperties: false,
  description: 'An active health check (run by the scanner): HTTP or TCP, HAProxy-style rise and fall',
  properties: {
    http: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: { type: 'string', pattern: CHECK_LIMITS.path.source },
        expectStatus: { type: 'integer', minimum: 100, maximum: 599 },
      },
    },
    tcp: { type: 'boolean' },
    interval: {
      ...durationBody,
      description: `Between two probes; default 10s. ${durationBody.description}`,
    },
    timeout: { ...durationBody, description: `Of one probe; default 2s. ${durationBody.description}` },
    rise: { type: 'integer', minimum: 1, maximum: CHECK_LIMITS.maxCount },
    fall: { type: 'integer', minimum: 1, maximum: CHECK_LIMITS.maxCount },
  },
} as const;

export const Registration = {
  $id: 'Registration',
  type: 'object',
  additionalProperties: false,
  required: ['address', 'port'],
  description: 'An instance registration; unknown fields are refused',
  properties: {
    address: { type: 'string', format: 'host', description: 'Host name or IP address', example: '10.0.0.7' },
    port,
    sslPort: port,
    weight: { type: 'integer', minimum: 1, maximum: 1000, description: 'Default 100' },
    zone: { type: 'string', pattern: ZONE_PATTERN, example: 'eu-west-1a' },
    metadata: {
      type: 'object',
      maxProperties: 64,
      propertyNames: { pattern: METADATA_KEY_PATTERN },
      additionalProperties: { type: 'string', maxLength: 1024 },
    },
    ttl: {
      ...durationBody,
      description: `Lease TTL, 1s to 24h; heartbeats renew it. Default ZKGATE_LEASE_TTL_MS. ${durationBody.description}`,
    },
    check: HealthCheck,
  },
} as const;

const leaseView = {
  type: 'object',
  properties: {
    expiresAt: { type: 'string', format: 'date-time' },
    load: { $ref: 'LoadReport#' },
  },
} as const;

export const LoadReport = {
  $id: 'LoadReport',
  type: 'object',
  additionalProperties: false,
  description: 'Load reported with a heartbeat (least_loaded dispatch uses it)',
  properties: {
    inflight: { type: 'number', minimum: 0, maximum: 1e9 },
    cpu: { type: 'number', minimum: 0, maximum: 1e6 },
    latencyMs: { type: 'number', minimum: 0, maximum: 1e9 },
  },
} as const;

export const InstanceView = {
  $id: 'Instance',
  type: 'object',
  required: ['service', 'id', 'address', 'status', 'healthy', 'liveness', 'weight', 'metadata', 'index'],
  properties: {
    service: { type: 'string' },
    id: { type: 'string' },
    address: { type: 'string' },
    port: { type: ['integer', 'null'] },
    sslPort: { type: ['integer', 'null'] },
    weight: { type: 'integer' },
    zone: { type: 'string' },
    status: {
      type: 'string',
      enum: INSTANCE_STATUSES,
      description: 'Effective status: manualStatus if set, else checkStatus, else UP',
    },
    manualStatus: {
      type: 'string',
      enum: INSTANCE_STATUSES,
      description: "An operator's; checks do not override it",
    },
    checkStatus: { type: 'string', enum: ['UP', 'DOWN'], description: "The health check's latest verdict" },
    healthy: { type: 'boolean', description: 'UP and alive: what dispatch picks from' },
    liveness: {
      type: 'string',
      enum: ['lease', 'session'],
      description: '`lease`: registered over HTTP, kept by heartbeats; `session`: a Curator/Spring ephemeral',
    },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    ttlMs: { type: 'integer' },
    check: { type: 'object', additionalProperties: true },
    lease: leaseView,
    registeredAt: { type: 'string', format: 'date-time' },
    index: zxid,
  },
} as const;

export const CompactInstanceView = {
  $id: 'CompactInstance',
  type: 'object',
  required: ['id', 'address', 'port', 'weight', 'healthy'],
  description: 'An instance as `view=compact` lists it: what a client needs to pick it and call it',
  properties: {
    id: { type: 'string' },
    address: { type: 'string' },
    port: { type: ['integer', 'null'] },
    sslPort: { type: 'integer', description: 'Absent when the instance has none' },
    weight: { type: 'integer' },
    zone: { type: 'string' },
    healthy: InstanceView.properties.healthy,
  },
} as const;

export const StatusChange = {
  $id: 'StatusChange',
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  description:
    "An operator's status: DOWN and DRAINING take the instance out of dispatch (DRAINING keeps it listed as draining), UP forces it in",
  properties: { status: { type: 'string', enum: INSTANCE_STATUSES } },
} as const;

export const CheckView = {
  $id: 'CheckView',
  type: 'object',
  required: ['id', 'check'],
  properties: {
    id: { type: 'string' },
    check: { type: 'object', additionalProperties: true },
    checkStatus: { type: 'string', enum: ['UP', 'DOWN'] },
    last: {
      type: 'object',
      description: 'The latest probe',
      properties: {
        ok: { type: 'boolean' },
        at: { type: 'string', format: 'date-time' },
        latencyMs: { type: 'number' },
        detail: { type: 'string', description: 'HTTP 500, ECONNREFUSED, timed out after 2000 ms, ...' },
        by: { type: 'string', description: 'The gateway replica that probed' },
      },
    },
  },
} as const;

export const ServiceSummary = {
  $id: 'ServiceSummary',
  type: 'object',
  required: ['service', 'instances', 'healthy', 'status', 'index'],
  properties: {
    service: { type: 'string' },
    instances: { type: 'integer' },
    healthy: { type: 'integer' },
    status: {
      type: 'object',
      properties: Object.fromEntries(INSTANCE_STATUSES.map((s) => [s, { type: 'integer' }])),
    },
    index: zxid,
    // The dispatch policy in force: the service's own settings over the gateway's defaults.
    policy: { $ref: 'ServicePolicy#' },
    selfPreservation: {
      type: 'object',
      description:
        'Present while self-preservation holds back evictions in this service: since when and why ' +
        '(released on its own once the instances left renew for a full TTL, or by POST /v1/services/{service}:release)',
      required: ['since', 'reason'],
      properties: { since: { type: 'string', format: 'date-time' }, reason: { type: 'string' } },
    },
  },
} as const;

export const Policy = {
  $id: 'ServicePolicy',
  type: 'object',
  additionalProperties: false,
  description: 'How a service is dispatched; unset fields take the gateway defaults',
  properties: {
    protectThreshold: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: 'Below this healthy share, dispatch spreads over every UP instance',
    },
    strategy: { type: 'string', enum: STRATEGY_NAMES },
    zoneMinHealthyShare: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

export const serviceParams = {
  type: 'object',
  required: ['service'],
  properties: { service: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

export const instanceParams = {
  type: 'object',
  required: ['service', 'id'],
  properties: {
    service: { type: 'string', minLength: 1, maxLength: 255 },
    id: { type: 'string', minLength: 1, maxLength: 255 },
  },
} as const;

export const instancesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: INSTANCE_STATUSES },
    zone: { type: 'string', pattern: ZONE_PATTERN },
    view: {
      type: 'string',
      enum: LISTING_VIEWS,
      description:
        '`full` (default): every field; `compact`: id, address, ports, weight, zone and healthy only, ' +
        'about a quarter of the bytes, and unchanged by heartbeats that only move lease expiries',
    },
    ...longPollQuery,
  },
} as const;

export const dispatchQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    strategy: { type: 'string', enum: STRATEGY_NAMES },
    key: { type: 'string', minLength: 1, maxLength: 1024, description: 'Affinity key (consistent_hash)' },
    zone: { type: 'string', pattern: ZONE_PATTERN, description: "The caller's zone (zone affinity)" },
  },
} as const;

const instanceName = { type: 'string', minLength: 1, maxLength: 255 } as const;

export const HeartbeatBatch = {
  $id: 'HeartbeatBatch',
  type: 'object',
  additionalProperties: false,
  required: ['heartbeats'],
  properties: {
    heartbeats: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_RENEWAL_BATCH,
      description: `Up to ${MAX_RENEWAL_BATCH} heartbeats; more is a 413 \`ZKG_BATCH_TOO_LARGE\` (split the batch)`,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['service', 'id'],
        properties: { service: instanceName, id: instanceName, load: { $ref: 'LoadReport#' } },
      },
    },
  },
} as const;

/** What a heartbeat answers once accepted, alone or in a batch. */
export const renewedLease = {
  expiresAt: { type: 'string', format: 'date-time' },
  ttlMs: { type: 'integer' },
  degraded: {
    type: 'boolean',
    description:
      'The hot store is unreachable: accepted, lease granted at the next heartbeat after it is back',
  },
} as const;

export const HeartbeatResults = {
  $id: 'HeartbeatResults',
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      description: 'One per heartbeat, in the order they were sent',
      items: {
        type: 'object',
        required: ['status'],
        properties: {
          status: {
            type: 'integer',
            description:
              'What the single heartbeat would have answered: 200 renewed; 403 the token may not write the ' +
              'service; 404 no such instance (register it again); 409 a Curator or Spring instance (no lease)',
          },
          ...renewedLease,
          code: { type: 'string', description: "The error's code, as its problem document would carry it" },
          detail: { type: 'string' },
        },
      },
    },
    degraded: {
      type: 'boolean',
      description: 'Some heartbeats were accepted unrecorded (`X-Zkgate-Degraded`)',
    },
  },
} as const;

export const registrySchemas = [
  Registration,
  LoadReport,
  InstanceView,
  CompactInstanceView,
  StatusChange,
  CheckView,
  ServiceSummary,
  Policy,
  HeartbeatBatch,
  HeartbeatResults,
];
