/**
 * Service instances as znode data: Apache Curator's `ServiceInstance` JSON, with the payload
 * Spring Cloud Zookeeper uses (`ZookeeperInstance`: id, name, metadata string map), so that Java
 * apps and zkgate share one registry. zkgate's own fields live in the metadata map under
 * `zkgate.*` keys, next to the keys Spring already gives meaning to (`zone`, `instance_status`).
 *
 * Reading accepts whatever Curator writes: no payload, a `java.util.HashMap` payload, a Spring
 * payload, with or without `@class`, `enabled` or `uriSpec` (fixtures of each in
 * `test/support/curator/fixtures/`). Writing always uses the Spring payload with its `@class`:
 * a Spring app's query fails as a whole if any instance under the service has another payload.
 */

import { MAX_LEASE_TTL_MS } from '../hotstore/store.js';

export const INSTANCE_STATUSES = ['UP', 'DOWN', 'DRAINING'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];
/** What an active health check concludes. */
export type CheckStatus = 'UP' | 'DOWN';

/** The payload class Spring Cloud Zookeeper registers and reads. */
export const SPRING_PAYLOAD_CLASS = 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance';

/** Metadata keys with a meaning; everything else is the user's. */
export const META = {
  weight: 'zkgate.weight',
  /** The effective status, written for readers that do not know the two below. */
  status: 'zkgate.status',
  /** Set by an operator (`PUT .../status`); checks do not override it until it is cleared. */
  manualStatus: 'zkgate.status.manual',
  /** The health check's verdict, written by the replica that checks the instance. */
  checkStatus: 'zkgate.status.check',
  ttl: 'zkgate.ttl',
  /** The active health check, as JSON (the scanner reads it). */
  check: 'zkgate.check',
  /** Spring Cloud LoadBalancer's zone preference reads this key. */
  zone: 'zone',
  /** Spring Cloud Zookeeper's status key: UP or OUT_OF_SERVICE. */
  springStatus: 'instance_status',
} as const;

export const DEFAULT_WEIGHT = 100;
/** Largest time a JavaScript Date holds. */
const MAX_TIME_MS = 8.64e15;

/** Bounds of a check, over HTTP and when read back from a znode anyone with ZooKeeper access can write. */
export const CHECK_LIMITS = {
  minIntervalMs: 1_000,
  maxIntervalMs: 3_600_000,
  minTimeoutMs: 100,
  maxCount: 100,
  /** An absolute path of printable ASCII: nothing that could change the probe's host. */
  path: /^\/[\x21-\x7e]{0,1023}$/,
} as const;

/** An active health check, HAProxy-style: DOWN after `fall` failures in a row, UP after `rise` successes. */
export interface HealthCheck {
  readonly http?: { readonly path: string; readonly expectStatus?: number };
  readonly tcp?: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
}

export interface Instance {
  readonly service: string;
  readonly id: string;
  readonly address: string;
  readonly port: number | null;
  readonly sslPort: number | null;
  /** 1 to 1000. */
  readonly weight: number;
  readonly zone: string | undefined;
  /** The effective status: the manual one if set, else the check's verdict, else UP. */
  readonly status: InstanceStatus;
  readonly manualStatus?: InstanceStatus;
  readonly checkStatus?: CheckStatus;
  /** The user's metadata, without the keys above. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Lease length for instances registered over HTTP; undefined for session-bound ones. */
  readonly ttlMs: number | undefined;
  readonly check?: HealthCheck;
  readonly registrationTimeUTC: number;
  /** Curator's type: DYNAMIC (ephemeral), DYNAMIC_SEQUENTIAL, STATIC, PERMANENT. */
  readonly serviceType: string;
  /** Curator's `enabled`: absent means true. */
  readonly enabled: boolean;
}

/** The JSON Curator stores, field for field, in its order. */
interface CuratorJson {
  name: string;
  id: string;
  address: string;
  port: number | null;
  sslPort: number | null;
  payload: unknown;
  registrationTimeUTC: number;
  serviceType: string;
  uriSpec: unknown;
  enabled?: boolean;
}

/** Spring's default uriSpec, `{scheme}://{address}:{port}`, as Curator serializes it. */
const SPRING_URI_SPEC = {
  parts: [
    { value: 'scheme', variable: true },
    { value: '://', variable: false },
    { value: 'address', variable: true },
    { value: ':', variable: false },
    { value: 'port', variable: true },
  ],
};

/** Instance znode data that zkgate cannot read (not JSON, missing fields): skipped, with a reason. */
export class InstanceFormatError extends Error {
  override readonly name = 'InstanceFormatError';
}

/** Read any Curator `ServiceInstance` JSON (see the file header). */
export function decodeInstance(service: string, id: string, data: Buffer): Instance {
  let json: Partial<CuratorJson>;
  try {
    json = JSON.parse(data.toString('utf8')) as Partial<CuratorJson>;
  } catch (err) {
    throw new InstanceFormatError(`instance ${service}/${id} is not JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || typeof json.address !== 'string') {
    throw new InstanceFormatError(`instance ${service}/${id} has no address`);
  }
  const all = metadataOf(json.payload);
  const weight = Number(all[META.weight]);
  const ttl = Number(all[META.ttl]);
  const enabled = json.enabled !== false;
  const metadata = Object.fromEntries(
    Object.entries(all).filter(
      ([key]) => key !== META.zone && key !== META.springStatus && !key.startsWith('zkgate.'),
    ),
  );
  return {
    service,
    id,
    address: json.address,
    port: portOf(json.port),
    sslPort: portOf(json.sslPort),
    weight: Number.isInteger(weight) && weight >= 1 && weight <= 1000 ? weight : DEFAULT_WEIGHT,
    zone: all[META.zone] || undefined,
    ...statusesOf(all, enabled),
    metadata,
    // Bounded like a registration over HTTP: a hand-written value must not break heartbeats.
    ttlMs: Number.isInteger(ttl) && ttl > 0 && ttl <= MAX_LEASE_TTL_MS ? ttl : undefined,
    ...checkOf(all[META.check]),
    // Within what a Date can show: listings render it.
    registrationTimeUTC:
      typeof json.registrationTimeUTC === 'number' && Math.abs(json.registrationTimeUTC) <= MAX_TIME_MS
        ? json.registrationTimeUTC
        : 0,
    serviceType: typeof json.serviceType === 'string' ? json.serviceType : 'DYNAMIC',
    enabled,
  };
}

/** Curator JSON with the Spring payload; persistent HTTP registrations are STATIC in Curator's terms. */
export function encodeInstance(instance: Instance): Buffer {
  const metadata: Record<string, string> = {
    ...instance.metadata,
    [META.weight]: String(instance.weight),
    [META.status]: instance.status,
    [META.springStatus]: instance.status === 'UP' ? 'UP' : 'OUT_OF_SERVICE',
  };
  if (instance.manualStatus !== undefined) metadata[META.manualStatus] = instance.manualStatus;
  if (instance.checkStatus !== undefined) metadata[META.checkStatus] = instance.checkStatus;
  if (instance.zone !== undefined) metadata[META.zone] = instance.zone;
  if (instance.ttlMs !== undefined) metadata[META.ttl] = String(instance.ttlMs);
  if (instance.check !== undefined) metadata[META.check] = JSON.stringify(instance.check);
  const json: CuratorJson = {
    name: instance.service,
    id: instance.id,
    address: instance.address,
    port: instance.port,
    sslPort: instance.sslPort,
    payload: { '@class': SPRING_PAYLOAD_CLASS, id: instance.id, name: instance.service, metadata },
    registrationTimeUTC: instance.registrationTimeUTC,
    serviceType: instance.serviceType,
    uriSpec: SPRING_URI_SPEC,
  };
  if (!instance.enabled) json.enabled = false;
  return Buffer.from(JSON.stringify(json), 'utf8');
}

/** The string map a payload carries: Spring's `metadata`, or a Map payload's string entries. */
function metadataOf(payload: unknown): Record<string, string> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return {};
  const record = payload as Record<string, unknown>;
  const source =
    typeof record.metadata === 'object' && record.metadata !== null && !Array.isArray(record.metadata)
      ? (record.metadata as Record<string, unknown>)
      : record;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(source)) {
    if (key === '@class') continue;
    if (typeof value === 'string') metadata[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') metadata[key] = String(value);
  }
  return { ...metadata };
}

/** A check zkgate wrote; anything else (hand-edited, truncated, out of bounds) means no check rather than a failure. */
function checkOf(text: string | undefined): { check?: HealthCheck } {
  if (text === undefined) return {};
  try {
    const check = JSON.parse(text) as Partial<HealthCheck> | null;
    if (!check || !isCheck(check)) return {};
    return { check };
  } catch {
    return {};
  }
}

function isCheck(check: Partial<HealthCheck>): check is HealthCheck {
  const { intervalMs, timeoutMs, rise, fall, http, tcp } = check;
  const count = (n: unknown): boolean =>
    Number.isInteger(n) && (n as number) >= 1 && (n as number) <= CHECK_LIMITS.maxCount;
  if (!Number.isInteger(intervalMs) || !Number.isInteger(timeoutMs) || !count(rise) || !count(fall))
    return false;
  if (intervalMs! < CHECK_LIMITS.minIntervalMs || intervalMs! > CHECK_LIMITS.maxIntervalMs) return false;
  if (timeoutMs! < CHECK_LIMITS.minTimeoutMs || timeoutMs! > intervalMs!) return false;
  if (http === undefined) return tcp === true;
  const status = http.expectStatus;
  return (
    typeof http.path === 'string' &&
    CHECK_LIMITS.path.test(http.path) &&
    (status === undefined || (Number.isInteger(status) && status >= 100 && status <= 599))
  );
}

function portOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 65535 ? value : null;
}

/** The effective status given the operator's and the check's: the operator's wins. */
export function effectiveStatus(
  manual: InstanceStatus | undefined,
  check: CheckStatus | undefined,
): InstanceStatus {
  return manual ?? check ?? 'UP';
}

/**
 * The statuses zkgate wrote. An instance without them (written by Curator, Spring or an older
 * zkgate) keeps the one its writer meant: zkgate's own status key, else Spring's OUT_OF_SERVICE or
 * Curator's enabled:false mean DOWN.
 */
function statusesOf(
  metadata: Record<string, string>,
  enabled: boolean,
): Pick<Instance, 'status' | 'manualStatus' | 'checkStatus'> {
  const manual = isStatus(metadata[META.manualStatus])
    ? (metadata[META.manualStatus] as InstanceStatus)
    : undefined;
  const checked = metadata[META.checkStatus];
  const check = checked === 'UP' || checked === 'DOWN' ? checked : undefined;
  if (manual !== undefined || check !== undefined) {
    return {
      status: effectiveStatus(manual, check),
      ...(manual === undefined ? {} : { manualStatus: manual }),
      ...(check === undefined ? {} : { checkStatus: check }),
    };
  }
  const own = metadata[META.status];
  if (isStatus(own)) return { status: own as InstanceStatus };
  if (metadata[META.springStatus] === 'OUT_OF_SERVICE' || !enabled) return { status: 'DOWN' };
  return { status: 'UP' };
}

function isStatus(value: string | undefined): boolean {
  return (INSTANCE_STATUSES as readonly string[]).includes(value ?? '');
}
