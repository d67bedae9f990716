/**
 * Settings: the environment, validated once at boot by ajv and frozen. Nothing else reads
 * `process.env`.
 */
import { Ajv, type JSONSchemaType } from 'ajv';
import { parseAcl } from './coordination/acl.js';
import { parseCidr } from './scanner/targets.js';
import { DURATION_SOURCE, durationMs } from './duration.js';

export interface Settings {
  /** HTTP port. */
  readonly port: number;
  /** HTTP bind address. */
  readonly host: string;
  /** ZooKeeper connect string; unset runs the embedded store. */
  readonly zk: string | undefined;
  /** Embedded store data directory (transaction log and snapshots). */
  readonly dataDir: string;
  /** Root znode of zkgate's own tree. */
  readonly root: string;
  /** Base path of the Curator / Spring Cloud Zookeeper service registry. */
  readonly servicesPath: string;
  /** Redis URL for the hot store; unset keeps it in memory. */
  readonly redisUrl: string | undefined;
  /** ZooKeeper session timeout requested by each gateway replica. */
  readonly sessionTimeoutMs: number;
  /** Embedded store: transactions between snapshots (ZooKeeper's snapCount). */
  readonly snapCount: number;
  /** Embedded store: snapshots kept (ZooKeeper's autopurge.snapRetainCount). */
  readonly snapRetainCount: number;
  /** Longest a client may take to send a whole request (headers and body). */
  readonly requestTimeoutMs: number;
  /** Longest a graceful shutdown may take before the process exits anyway. */
  readonly shutdownTimeoutMs: number;
  /** Largest configuration document accepted (a publish writes it twice: document and history). */
  readonly configMaxBytes: number;
  /** Releases kept per namespace. */
  readonly historyLimit: number;
  /** Cap on a long-poll's `wait`. */
  readonly longPollMaxWaitMs: number;
  /** How long deletions are remembered for resuming watchers; older resumes get a `reset`. */
  readonly tombstoneRetentionMs: number;
  /** Interval of SSE keep-alive comments. */
  readonly sseKeepAliveMs: number;
  /** Bytes queued for one SSE client before it is cut off as too slow. */
  readonly sseMaxBufferBytes: number;
  /** SSE connections per client IP (ZooKeeper's maxClientCnxns). */
  readonly sseMaxClientCnxns: number;
  /** SSE connections in total. */
  readonly sseMaxConnections: number;
  /** Lease TTL of HTTP registrations that give none. */
  readonly leaseTtlMs: number;
  /** How long after its lease's deadline an instance is deregistered. */
  readonly evictionGraceMs: number;
  /** Evict nothing in a service when more than this share of its leases ran out at once. */
  readonly selfPreservationRatio: number;
  /** How often the elected replica looks for expired leases. */
  readonly reaperIntervalMs: number;
  /** How stale the lease view behind listings and dispatch may be. */
  readonly leaseRefreshMs: number;
  /** Protection threshold of services without their own policy. */
  readonly protectThreshold: number;
  /** Zone affinity: the caller's zone serves while at least this share of it is healthy. */
  readonly zoneMinHealthyShare: number;
  /** Health-check probes one replica runs at once. */
  readonly checkConcurrency: number;
  /** CIDR ranges health checks may not probe, on top of link-local, unspecified and multicast. */
  readonly checkDenyCidrs: readonly string[] | undefined;
  /** CIDR ranges health checks may probe even inside a refused range. */
  readonly checkAllowCidrs: readonly string[] | undefined;
  /** PEM certificate (chain) of the gateway's own HTTPS listener; with the key, HTTPS instead of HTTP. */
  readonly tlsCertFile: string | undefined;
  /** PEM private key of that certificate. */
  readonly tlsKeyFile: string | undefined;
  /** Browser origins allowed to call the API cross-origin (CORS); unset allows none. */
  readonly corsOrigins: readonly string[] | undefined;
  /** `off` serves every request without a token (a warning at start and a header on every answer). */
  readonly auth: 'on' | 'off';
  /** The secret of the management token created when the ACL tree is empty at start. */
  readonly bootstrapToken: string | undefined;
  /** A file holding that secret (a mounted Kubernetes secret); exclusive with the variable. */
  readonly bootstrapTokenFile: string | undefined;
  /** Serve `/metrics` without a token (else it needs `operator:read`). */
  readonly metricsPublic: boolean;
  /** Requests per second one token (or one address, without a valid token) may make; 0: no limit. */
  readonly rateLimit: number;
  /** Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client; unset trusts none. */
  readonly trustProxy: readonly string[] | undefined;
  /** How long `/readyz` keeps answering ready while the store is disconnected (reads are served stale). */
  readonly readinessGraceMs: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How much of the audit trail is kept: `COUNT,AGE` (see {@link parseAuditRetention}). */
  readonly auditRetention: string;
  /** `digest:user:password`: zkgate's ZooKeeper identity; its tree is then readable and writable by it alone. */
  readonly zkAuth: string | undefined;
  /** ACL of the znodes zkgate creates under the services path, zkCli notation; unset: open to all. */
  readonly servicesAcl: string | undefined;
  /** Sentinels (`host[:port]`) to ask for the hot store's primary; exclusive with the URL and the cluster. */
  readonly redisSentinels: readonly string[] | undefined;
  /** The name the sentinels monitor the primary under. */
  readonly redisSentinelName: string | undefined;
  /** The sentinels' own password (a secret: give it from one, never from a ConfigMap). */
  readonly redisSentinelPassword: string | undefined;
  /** Nodes (`host[:port]`) of a Redis Cluster for the hot store; exclusive with the URL and the sentinels. */
  readonly redisCluster: readonly string[] | undefined;
  /** The password of the Redis servers (the primary and replicas, or the cluster's nodes); a secret too. */
  readonly redisPassword: string | undefined;
}

/** One row per environment variable: the README's settings table is checked against this list. */
export const SETTINGS_ENV = {
  port: 'PORT',
  host: 'HOST',
  zk: 'ZKGATE_ZK',
  dataDir: 'ZKGATE_DATA_DIR',
  root: 'ZKGATE_ROOT',
  servicesPath: 'ZKGATE_SERVICES_PATH',
  redisUrl: 'ZKGATE_REDIS_URL',
  sessionTimeoutMs: 'ZKGATE_SESSION_TIMEOUT_MS',
  snapCount: 'ZKGATE_SNAP_COUNT',
  snapRetainCount: 'ZKGATE_SNAP_RETAIN_COUNT',
  shutdownTimeoutMs: 'ZKGATE_SHUTDOWN_TIMEOUT_MS',
  requestTimeoutMs: 'ZKGATE_REQUEST_TIMEOUT_MS',
  configMaxBytes: 'ZKGATE_CONFIG_MAX_BYTES',
  historyLimit: 'ZKGATE_HISTORY_LIMIT',
  longPollMaxWaitMs: 'ZKGATE_LONGPOLL_MAX_WAIT_MS',
  tombstoneRetentionMs: 'ZKGATE_TOMBSTONE_RETENTION_MS',
  sseKeepAliveMs: 'ZKGATE_SSE_KEEPALIVE_MS',
  sseMaxBufferBytes: 'ZKGATE_SSE_MAX_BUFFER_BYTES',
  sseMaxClientCnxns: 'ZKGATE_SSE_MAX_CLIENT_CNXNS',
  sseMaxConnections: 'ZKGATE_SSE_MAX_CONNECTIONS',
  leaseTtlMs: 'ZKGATE_LEASE_TTL_MS',
  evictionGraceMs: 'ZKGATE_EVICTION_GRACE_MS',
  selfPreservationRatio: 'ZKGATE_SELF_PRESERVATION_RATIO',
  reaperIntervalMs: 'ZKGATE_REAPER_INTERVAL_MS',
  leaseRefreshMs: 'ZKGATE_LEASE_REFRESH_MS',
  protectThreshold: 'ZKGATE_PROTECT_THRESHOLD',
  zoneMinHealthyShare: 'ZKGATE_ZONE_MIN_HEALTHY_SHARE',
  checkConcurrency: 'ZKGATE_CHECK_CONCURRENCY',
  checkDenyCidrs: 'ZKGATE_CHECK_DENY_CIDRS',
  checkAllowCidrs: 'ZKGATE_CHECK_ALLOW_CIDRS',
  readinessGraceMs: 'ZKGATE_READINESS_GRACE_MS',
  trustProxy: 'ZKGATE_TRUST_PROXY',
  corsOrigins: 'ZKGATE_CORS_ORIGINS',
  auth: 'ZKGATE_AUTH',
  bootstrapToken: 'ZKGATE_BOOTSTRAP_TOKEN',
  bootstrapTokenFile: 'ZKGATE_BOOTSTRAP_TOKEN_FILE',
  metricsPublic: 'ZKGATE_METRICS_PUBLIC',
  rateLimit: 'ZKGATE_RATE_LIMIT',
  tlsCertFile: 'ZKGATE_TLS_CERT_FILE',
  tlsKeyFile: 'ZKGATE_TLS_KEY_FILE',
  logLevel: 'LOG_LEVEL',
  auditRetention: 'ZKGATE_AUDIT_RETENTION',
  zkAuth: 'ZKGATE_ZK_AUTH',
  servicesAcl: 'ZKGATE_SERVICES_ACL',
  redisSentinels: 'ZKGATE_REDIS_SENTINELS',
  redisSentinelName: 'ZKGATE_REDIS_SENTINEL_NAME',
  redisSentinelPassword: 'ZKGATE_REDIS_SENTINEL_PASSWORD',
  redisCluster: 'ZKGATE_REDIS_CLUSTER',
  redisPassword: 'ZKGATE_REDIS_PASSWORD',
} as const satisfies Record<keyof Settings, string>;

/** A comma-separated list of CIDR ranges, checked range by range after the schema. */
const CIDR_LIST = { type: 'array', items: { type: 'string' }, nullable: true } as const;

/** `host[:port]` items: a name or IPv4 address, or an IPv6 address in brackets. */
const NODE_LIST = {
  type: 'array',
  nullable: true,
  minItems: 1,
  items: { type: 'string', pattern: '^([^\\s:,\\[\\]]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?$' },
} as const;

/**
 * `COUNT,AGE`: at most COUNT records, none older than AGE (a duration, see duration.ts, of 1 s at
 * least), whichever bound is reached first.
 */
const AUDIT_RETENTION = new RegExp(`^([1-9][0-9]{0,6}),(${DURATION_SOURCE})$`);
const MIN_AUDIT_AGE_MS = 1_000;

export interface AuditRetention {
  readonly count: number;
  readonly maxAgeMs: number;
}

/** The bounds of a validated `ZKGATE_AUDIT_RETENTION`. */
export function parseAuditRetention(value: string): AuditRetention {
  const [, count, age] = AUDIT_RETENTION.exec(value) ?? [];
  const maxAgeMs = age === undefined ? 0 : durationMs(age);
  if (count === undefined || maxAgeMs < MIN_AUDIT_AGE_MS) {
    throw new SettingsError(
      `invalid settings: ${SETTINGS_ENV.auditRetention} must look like 50000,90d (an age of 1s at least)`,
    );
  }
  return { count: Number(count), maxAgeMs };
}

const ZNODE_PATH = '^/(?:[A-Za-z0-9][A-Za-z0-9._-]*)(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*$';

const schema: JSONSchemaType<Settings> = {
  type: 'object',
  additionalProperties: false,
  required: [
    'port',
    'host',
    'dataDir',
    'root',
    'servicesPath',
    'sessionTimeoutMs',
    'snapCount',
    'snapRetainCount',
    'shutdownTimeoutMs',
    'requestTimeoutMs',
    'configMaxBytes',
    'historyLimit',
    'longPollMaxWaitMs',
    'tombstoneRetentionMs',
    'sseKeepAliveMs',
    'sseMaxBufferBytes',
    'sseMaxClientCnxns',
    'sseMaxConnections',
    'leaseTtlMs',
    'evictionGraceMs',
    'selfPreservationRatio',
    'reaperIntervalMs',
    'leaseRefreshMs',
    'checkConcurrency',
    'readinessGraceMs',
    'protectThreshold',
    'zoneMinHealthyShare',
    'auth',
    'metricsPublic',
    'rateLimit',
    'logLevel',
    'auditRetention',
  ],
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    host: { type: 'string', minLength: 1, default: '0.0.0.0' },
    zk: {
      type: 'string',
      nullable: true,
      // host:port[,host:port...][/chroot]
      pattern: '^[^,/\\s:]+(:\\d{1,5})?(,[^,/\\s:]+(:\\d{1,5})?)*(/[^\\s]*)?$',
    },
    dataDir: { type: 'string', minLength: 1, default: './data' },
    root: { type: 'string', pattern: ZNODE_PATH, default: '/zkgate' },
    servicesPath: { type: 'string', pattern: ZNODE_PATH, default: '/services' },
    redisUrl: { type: 'string', nullable: true, pattern: '^rediss?://' },
    // ZooKeeper clamps to [2, 20] x tickTime; outside these bounds it is surely a typo.
    sessionTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600_000, default: 15_000 },
    snapCount: { type: 'integer', minimum: 10, maximum: 100_000_000, default: 100_000 },
    snapRetainCount: { type: 'integer', minimum: 3, maximum: 1000, default: 3 },
    shutdownTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 10_000 },
    requestTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600_000, default: 30_000 },
    // A publish carries the document twice (znode and history) in one request under 1 MiB.
    configMaxBytes: { type: 'integer', minimum: 1024, maximum: 500_000, default: 409_600 },
    historyLimit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
    longPollMaxWaitMs: { type: 'integer', minimum: 1000, maximum: 600_000, default: 60_000 },
    tombstoneRetentionMs: { type: 'integer', minimum: 1000, maximum: 31_536_000_000, default: 604_800_000 },
    sseKeepAliveMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 15_000 },
    sseMaxBufferBytes: { type: 'integer', minimum: 4096, maximum: 1_073_741_824, default: 1_048_576 },
    sseMaxClientCnxns: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 60 },
    sseMaxConnections: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 20_000 },
    leaseTtlMs: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 30_000 },
    evictionGraceMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 30_000 },
    selfPreservationRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
    reaperIntervalMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 1_000 },
    leaseRefreshMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 1_000 },
    checkConcurrency: { type: 'integer', minimum: 1, maximum: 10_000, default: 256 },
    checkDenyCidrs: CIDR_LIST,
    checkAllowCidrs: CIDR_LIST,
    trustProxy: CIDR_LIST,
    tlsCertFile: { type: 'string', nullable: true, minLength: 1 },
    tlsKeyFile: { type: 'string', nullable: true, minLength: 1 },
    corsOrigins: {
      type: 'array',
      nullable: true,
      // An origin is scheme://host[:port], exactly as browsers send it; no wildcards.
      items: { type: 'string', pattern: '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$' },
    },
    auth: { type: 'string', enum: ['on', 'off'], default: 'on' },
    // zkgate's own shape, so a typo or a weak password never becomes the management secret.
    bootstrapToken: { type: 'string', nullable: true, pattern: '^zkg_[A-Za-z0-9_-]{43}$' },
    bootstrapTokenFile: { type: 'string', nullable: true, minLength: 1 },
    metricsPublic: { type: 'boolean', default: false },
    rateLimit: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 1_000 },
    readinessGraceMs: { type: 'integer', minimum: 0, maximum: 600_000, default: 10_000 },
    protectThreshold: { type: 'number', minimum: 0, maximum: 1, default: 0 },
    zoneMinHealthyShare: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
    logLevel: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    auditRetention: { type: 'string', pattern: AUDIT_RETENTION.source, default: '50000,90d' },
    // The user ends at the first colon, as ZooKeeper's digest provider splits it.
    zkAuth: { type: 'string', nullable: true, pattern: '^digest:[^:]+:.+$' },
    servicesAcl: { type: 'string', nullable: true, minLength: 1 },
    redisSentinels: NODE_LIST,
    // Sentinel's own rule for a master name: no whitespace.
    redisSentinelName: { type: 'string', nullable: true, pattern: '^\\S+$' },
    redisSentinelPassword: { type: 'string', nullable: true, minLength: 1 },
    redisCluster: NODE_LIST,
    redisPassword: { type: 'string', nullable: true, minLength: 1 },
  },
};

const validate = new Ajv({ useDefaults: true, coerceTypes: true, allErrors: true }).compile(schema);

/** Settings given as comma-separated lists; the CIDR ones are checked range by range. */
const CIDR_SETTINGS: ReadonlySet<'checkDenyCidrs' | 'checkAllowCidrs' | 'trustProxy'> = new Set([
  'checkDenyCidrs',
  'checkAllowCidrs',
  'trustProxy',
] as const);
const LIST_SETTINGS: ReadonlySet<string> = new Set([
  ...CIDR_SETTINGS,
  'corsOrigins',
  'redisSentinels',
  'redisCluster',
]);

/** A setting that failed validation; the message names every bad variable. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/** The variables' names joined by `glue`. */
const named = (glue: string, ...keys: Array<keyof Settings>): string =>
  keys.map((key) => SETTINGS_ENV[key]).join(glue);

/** The ways the hot store can reach Redis. */
const REDIS_WAYS = ['redisUrl', 'redisSentinels', 'redisCluster'] as const;

/** How the hot store reaches Redis: one way at most, each with what it needs and nothing else. */
function checkRedis(settings: Settings): void {
  const ways = REDIS_WAYS.filter((key) => settings[key] !== undefined);
  if (ways.length > 1) {
    throw new SettingsError(
      `invalid settings: ${named(' and ', ...ways)} exclude each other; set one of ${named(', ', ...REDIS_WAYS)}`,
    );
  }
  const sentinel = settings.redisSentinels !== undefined;
  if (sentinel !== (settings.redisSentinelName !== undefined)) {
    throw new SettingsError(
      `invalid settings: ${SETTINGS_ENV.redisSentinels} and ${SETTINGS_ENV.redisSentinelName} go together`,
    );
  }
  if (!sentinel && settings.redisSentinelPassword !== undefined) {
    throw new SettingsError(
      `invalid settings: ${SETTINGS_ENV.redisSentinelPassword} needs ${SETTINGS_ENV.redisSentinels}`,
    );
  }
  if (settings.redisPassword === undefined) return;
  if (ways.length === 0) {
    throw new SettingsError(
      `invalid settings: ${SETTINGS_ENV.redisPassword} needs ${named(' or ', ...REDIS_WAYS)}`,
    );
  }
  if (
    settings.redisUrl !== undefined &&
    URL.canParse(settings.redisUrl) &&
    new URL(settings.redisUrl).password !== ''
  ) {
    throw new SettingsError(
      `invalid settings: ${SETTINGS_ENV.redisUrl} has a password already; leave it out of the URL or unset ${SETTINGS_ENV.redisPassword}`,
    );
  }
}

/** Read, coerce, default and validate the environment; throws {@link SettingsError}. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Readonly<Settings> {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(SETTINGS_ENV)) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    raw[key] = LIST_SETTINGS.has(key) ? value.split(',').map((item) => item.trim()) : value.trim();
  }
  if (!validate(raw)) {
    // `/corsOrigins/0` names the variable and the item.
    const envName = (path: string): string => {
      const [key = '', ...rest] = path.replace(/^\//, '').split('/');
      const name = SETTINGS_ENV[key as keyof Settings] ?? key;
      return rest.length > 0 ? `${name} item ${Number(rest[0]) + 1}` : name;
    };
    const problems = (validate.errors ?? []).map((e) =>
      e.instancePath ? `${envName(e.instancePath)} ${e.message}` : String(e.message),
    );
    throw new SettingsError(`invalid settings: ${problems.join('; ')}`);
  }
  const settings = raw as unknown as Settings;
  for (const key of CIDR_SETTINGS) {
    for (const cidr of settings[key] ?? []) {
      try {
        parseCidr(cidr);
      } catch (err) {
        throw new SettingsError(`invalid settings: ${SETTINGS_ENV[key]} ${(err as Error).message}`);
      }
    }
  }
  if ((settings.tlsCertFile === undefined) !== (settings.tlsKeyFile === undefined)) {
    throw new SettingsError('invalid settings: ZKGATE_TLS_CERT_FILE and ZKGATE_TLS_KEY_FILE go together');
  }
  if (settings.bootstrapToken !== undefined && settings.bootstrapTokenFile !== undefined) {
    throw new SettingsError(
      'invalid settings: set ZKGATE_BOOTSTRAP_TOKEN or ZKGATE_BOOTSTRAP_TOKEN_FILE, not both',
    );
  }
  checkRedis(settings);
  if (settings.servicesAcl !== undefined) {
    let acl;
    try {
      acl = parseAcl(settings.servicesAcl);
    } catch (err) {
      throw new SettingsError(`invalid settings: ZKGATE_SERVICES_ACL ${(err as Error).message}`);
    }
    if (settings.zkAuth === undefined && acl.some((entry) => entry.scheme === 'auth')) {
      throw new SettingsError('invalid settings: ZKGATE_SERVICES_ACL names auth, which needs ZKGATE_ZK_AUTH');
    }
  }
  return Object.freeze(settings);
}
