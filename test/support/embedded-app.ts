/**
 * The whole HTTP app over the embedded store in its own temp data directory, not listening:
 * for tests that talk to it with `app.inject()`.
 */
import { rm } from 'node:fs/promises';
import type { InjectOptions, LightMyRequestResponse as Response } from 'fastify';
import { pino, type Logger } from 'pino';
import { expect } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { makeTempDir, pollUntil } from './processes.js';
import { BOOTSTRAP_ENV, MANAGEMENT } from './tokens.js';

export type App = Awaited<ReturnType<typeof buildApp>>;

/** `app.inject` as the operator (the management token), unless the request names its own authorization. */
export type OperatorInject = (options: InjectOptions | string) => Promise<Response>;

/** `app.inject` of an app built by the test itself, as the operator (see {@link EmbeddedApp.inject}). */
export function asOperator(app: App): OperatorInject {
  return (options) => {
    const request = typeof options === 'string' ? { url: options } : options;
    return app.inject({ ...request, headers: { ...MANAGEMENT, ...request.headers } });
  };
}

/** Asserts that a body cut off mid-JSON is refused as a validation problem: 400 `ZKG_VALIDATION_FAILED`. */
export async function expectTruncatedJsonRefused(
  inject: OperatorInject,
  method: 'PUT' | 'POST',
  url: string,
  truncated: string,
): Promise<void> {
  const res = await inject({
    method,
    url,
    payload: truncated,
    headers: { 'content-type': 'application/json' },
  });
  expect(res.statusCode).toBe(400);
  expect(res.json<{ code: string }>().code).toBe('ZKG_VALIDATION_FAILED');
}

export interface EmbeddedApp {
  readonly app: App;
  /** `app.inject` as the operator (the management token), unless the request names its own authorization. */
  inject(options: InjectOptions | string): Promise<Response>;
  readonly services: Services;
  close(): Promise<void>;
}

export async function startEmbeddedApp(
  env: Record<string, string> = {},
  logger: Logger = pino({ level: 'silent' }),
): Promise<EmbeddedApp> {
  const dataDir = await makeTempDir('zkgate-app-');
  const services = await createServices(
    loadSettings({ ZKGATE_DATA_DIR: dataDir, ...BOOTSTRAP_ENV, ...env }),
    logger,
  );
  const app = await buildApp({ services, logger });
  await app.ready();
  return {
    app,
    services,
    inject: asOperator(app),
    async close() {
      await app.close();
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * An embedded app for tests of evictions over the hot store `env` names: the reaper sweeps every
 * 100 ms, leases are read fresh and self-preservation holds nothing back (each unless `env` says
 * otherwise). Resolves once this only replica leads the reaper.
 */
export async function startReapingApp(env: Record<string, string>): Promise<EmbeddedApp> {
  const gateway = await startEmbeddedApp({
    ZKGATE_REAPER_INTERVAL_MS: '100',
    ZKGATE_LEASE_REFRESH_MS: '0',
    ZKGATE_SELF_PRESERVATION_RATIO: '1',
    ...env,
  });
  await pollUntil(() => (gateway.services.reaper.status().leader ? true : undefined), {
    timeoutMs: 10_000,
    what: 'the only replica to lead the reaper',
  });
  return gateway;
}

/**
 * A new token holding `policies` (created by the operator), as the header that sends it; `extra`
 * adds fields to the token's body (an expiry, say).
 */
export async function bearerFor(
  gateway: EmbeddedApp,
  description: string,
  policies: readonly string[],
  extra: Record<string, unknown> = {},
): Promise<Record<string, string>> {
  const res = await gateway.inject({
    method: 'POST',
    url: '/v1/acl/tokens',
    payload: { description, policies, ...extra },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { authorization: `Bearer ${res.json<{ secret: string }>().secret}` };
}

/** A JSON body sent as the operator, as a client would send it (a string, `application/json`). */
export function sendJson(
  gateway: EmbeddedApp,
  method: 'PUT' | 'POST',
  url: string,
  body: unknown,
): Promise<Response> {
  return gateway.inject({
    method,
    url,
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

/** A namespace published and an instance registered, for tests that need something of each to exist. */
export async function seed(
  gateway: EmbeddedApp,
  { namespace, service, id }: { namespace: string; service: string; id: string },
): Promise<void> {
  const published = await gateway.inject({
    method: 'PUT',
    url: `/v1/config/${namespace}`,
    payload: '{"v":1}',
    headers: { 'content-type': 'application/json' },
  });
  if (published.statusCode !== 201)
    throw new Error(`seed publish: ${published.statusCode} ${published.body}`);
  const registered = await gateway.inject({
    method: 'PUT',
    url: `/v1/services/${service}/instances/${id}`,
    payload: { address: '10.0.0.7', port: 80 },
  });
  if (registered.statusCode !== 201)
    throw new Error(`seed register: ${registered.statusCode} ${registered.body}`);
}
