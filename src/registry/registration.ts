/**
 * A registration as the HTTP API takes it (`PUT /v1/services/{service}/instances/{id}`), turned
 * into what the writer stores: durations parsed, health-check defaults filled in, and the limits
 * the body's JSON Schema cannot express (ranges of durations) checked, each with the field it is
 * about.
 */
import { durationMs } from '../duration.js';
import { invalidField } from '../http/strict-validation.js';
import { CHECK_LIMITS, type HealthCheck } from './instance.js';
import type { Registration } from './writer.js';

const CHECK_DEFAULTS = { interval: '10s', timeout: '2s', rise: 2, fall: 3 } as const;

export interface RegistrationBody {
  address: string;
  port: number;
  sslPort?: number;
  weight?: number;
  zone?: string;
  metadata?: Record<string, string>;
  ttl?: string | number;
  check?: {
    http?: { path: string; expectStatus?: number };
    tcp?: boolean;
    interval?: string | number;
    timeout?: string | number;
    rise?: number;
    fall?: number;
  };
}

function ttlOf(body: RegistrationBody): number | undefined {
  if (body.ttl === undefined) return undefined;
  const ms = durationMs(body.ttl);
  if (ms < 1000 || ms > 86_400_000) throw invalidField('body.ttl', 'must be from 1s to 24h');
  return ms;
}

function checkOf(body: RegistrationBody): HealthCheck | undefined {
  const check = body.check;
  if (check === undefined) return undefined;
  if (check.http === undefined && check.tcp !== true) {
    throw invalidField('body.check', 'needs http or tcp: true');
  }
  const intervalMs = durationMs(check.interval ?? CHECK_DEFAULTS.interval);
  const timeoutMs = durationMs(check.timeout ?? CHECK_DEFAULTS.timeout);
  if (intervalMs < CHECK_LIMITS.minIntervalMs || intervalMs > CHECK_LIMITS.maxIntervalMs)
    throw invalidField('body.check.interval', 'must be from 1s to 1h');
  if (timeoutMs < CHECK_LIMITS.minTimeoutMs || timeoutMs > intervalMs) {
    throw invalidField('body.check.timeout', 'must be from 100ms to the interval');
  }
  return {
    ...(check.http === undefined ? {} : { http: check.http }),
    ...(check.tcp === undefined ? {} : { tcp: check.tcp }),
    intervalMs,
    timeoutMs,
    rise: check.rise ?? CHECK_DEFAULTS.rise,
    fall: check.fall ?? CHECK_DEFAULTS.fall,
  };
}

/** The registration a validated body asks for. */
export function registrationOf(body: RegistrationBody): Registration {
  const ttlMs = ttlOf(body);
  const check = checkOf(body);
  return {
    address: body.address,
    port: body.port,
    ...(body.sslPort === undefined ? {} : { sslPort: body.sslPort }),
    ...(body.weight === undefined ? {} : { weight: body.weight }),
    ...(body.zone === undefined ? {} : { zone: body.zone }),
    ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
    ...(ttlMs === undefined ? {} : { ttlMs }),
    ...(check === undefined ? {} : { check }),
  };
}
