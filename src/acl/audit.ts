/**
 * Audit records: one per mutation, created by the mutation's own `multi`, so ZooKeeper applies
 * the change and its record together or neither: no change exists without its record, and no
 * record without its change, whatever crashes in between.
 *
 * A record is a persistent-sequential znode `<root>/audit/<sequence>`. Its ten-digit sequence
 * orders records as their transactions were ordered (so names sort oldest first), its czxid is
 * the change's zxid, and its ctime is the record's time: the ZooKeeper leader's clock, one clock
 * for every gateway replica, where a time in the data would be whichever replica's clock wrote it.
 * The data is a small JSON object: who (accessor, token description, address, request id), what
 * (action, resource) and the resource's version before and after.
 */
import { CreateMode, type Op, type Stat } from '../coordination/store.js';
import type { Actor } from './actor.js';

export const AUDIT_ACTIONS = [
  'config.publish',
  'config.delete',
  'config.rollback',
  'config.schema',
  'service.register',
  'service.deregister',
  'service.status',
  'service.check',
  'service.evict',
  'service.policy',
  'service.release',
  'acl.token.create',
  'acl.token.delete',
  'acl.policy.put',
  'acl.policy.delete',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * What a mutation changed. Versions are the ones clients see of the resource: a namespace's
 * version (`X-Zkgate-Version`; a schema change leaves it as it is), the data version of an
 * instance, policy or token znode. `null` where the resource did not exist before, or does not
 * after.
 */
export interface AuditChange {
  readonly action: AuditAction;
  /** `config:<namespace>`, `service:<service>/<id>`, `service:<service>`, `acl:token/<accessor>`: see {@link auditResource}. */
  readonly resource: string;
  readonly versionBefore: number | null;
  readonly versionAfter: number | null;
}

/** A record as stored: the change and who made it. */
export interface AuditEntry extends AuditChange {
  readonly accessor: string;
  readonly description: string;
  readonly address: string;
  readonly requestId: string;
}

/** A record as read back, with what its znode says about it. */
export interface AuditRecord extends AuditEntry {
  /** The znode's name, its sequence: the order of the changes. */
  readonly id: string;
  /** The change's zxid. */
  readonly index: bigint;
  /** When ZooKeeper applied the change, in ms since the epoch. */
  readonly time: number;
}

/** The resource names records use; a query's `resource` filter is a prefix of them. */
export const auditResource = {
  namespace: (namespace: string): string => `config:${namespace}`,
  service: (service: string): string => `service:${service}`,
  instance: (service: string, id: string): string => `service:${service}/${id}`,
  token: (accessor: string): string => `acl:token/${accessor}`,
  policy: (name: string): string => `acl:policy/${name}`,
} as const;

export function auditDirectory(root: string): string {
  return `${root}/audit`;
}

/**
 * Free text from the actor is clipped, so a record stays under 2 KiB for any name zkgate
 * accepts; the resource never is, since a query filters by it.
 */
const CLIP = { accessor: 128, description: 256, address: 64, requestId: 128 } as const;

/**
 * The operation that creates the record of `change` by `actor`: append it to the `multi` that
 * makes the change. `<root>/audit` must exist (the services create it when they start).
 */
export function auditOp(root: string, actor: Actor, change: AuditChange): Op {
  const entry: AuditEntry = {
    accessor: actor.accessor.slice(0, CLIP.accessor),
    description: actor.description.slice(0, CLIP.description),
    action: change.action,
    resource: change.resource,
    versionBefore: change.versionBefore,
    versionAfter: change.versionAfter,
    address: actor.address.slice(0, CLIP.address),
    requestId: actor.requestId.slice(0, CLIP.requestId),
  };
  return {
    op: 'create',
    path: `${auditDirectory(root)}/`,
    data: Buffer.from(JSON.stringify(entry), 'utf8'),
    mode: CreateMode.PERSISTENT_SEQUENTIAL,
  };
}

/** A record znode read back; undefined for data that is not a record (written by someone else). */
export function parseAuditRecord(id: string, data: Buffer, stat: Stat): AuditRecord | undefined {
  let entry: Partial<Record<keyof AuditEntry, unknown>>;
  try {
    entry = JSON.parse(data.toString('utf8')) as typeof entry;
  } catch {
    return undefined;
  }
  const text = (value: unknown): value is string => typeof value === 'string';
  const version = (value: unknown): value is number | null => value === null || Number.isSafeInteger(value);
  if (
    typeof entry !== 'object' ||
    entry === null ||
    !(AUDIT_ACTIONS as readonly unknown[]).includes(entry.action) ||
    !text(entry.resource) ||
    !text(entry.accessor) ||
    !text(entry.description) ||
    !text(entry.address) ||
    !text(entry.requestId) ||
    !version(entry.versionBefore) ||
    !version(entry.versionAfter)
  ) {
    return undefined;
  }
  return {
    id,
    index: stat.czxid,
    time: stat.ctime,
    accessor: entry.accessor,
    description: entry.description,
    action: entry.action as AuditAction,
    resource: entry.resource,
    versionBefore: entry.versionBefore,
    versionAfter: entry.versionAfter,
    address: entry.address,
    requestId: entry.requestId,
  };
}
