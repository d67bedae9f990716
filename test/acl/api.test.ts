/**
 * The access-control API and the bootstrap: the first management token (generated into the data
 * directory, or given), tokens whose secret is shown once, policies, the anonymous policy,
 * expiry, `ZKGATE_AUTH=off`, public metrics, and secrets kept out of logs.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BOOTSTRAP_FILE } from '../../src/acl/bootstrap.js';
import { newSecret } from '../../src/acl/tokens.js';
import { createServices } from '../../src/compose.js';
import { loggerOptions } from '../../src/logging.js';
import { loadSettings } from '../../src/settings.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { MANAGEMENT } from '../support/tokens.js';

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('bootstrap', () => {
  const dirs: string[] = [];
  const dataDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zkgate-bootstrap-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('generates a management token into <data dir>/bootstrap-token, readable by the owner only, once', async () => {
    const dir = await dataDir();
    const first = await startEmbeddedApp({ ZKGATE_DATA_DIR: dir, ZKGATE_BOOTSTRAP_TOKEN: '' });
    const file = join(first.services.settings.dataDir, BOOTSTRAP_FILE);
    const secret = (await readFile(file, 'utf8')).trim();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const whoami = await first.app.inject({ method: 'GET', url: '/v1/acl/whoami', headers: bearer(secret) });
    expect(whoami.statusCode).toBe(200);
    expect(whoami.json()).toMatchObject({ policies: [{ name: 'management' }] });
    expect((await first.app.inject({ method: 'GET', url: '/v1/config' })).statusCode).toBe(401);
    await first.close();
  });

  it('does not bootstrap again once it has, even with every token revoked', async () => {
    const gateway = await startEmbeddedApp();
    const dir = gateway.services.settings.dataDir;
    const [token] = gateway.services.acl.cache.tokens();
    expect(token?.createdBy).toBe('bootstrap');
    expect(
      (await gateway.inject({ method: 'DELETE', url: `/v1/acl/tokens/${token?.accessor}` })).statusCode,
    ).toBe(200);
    // The same data directory, reopened as a new process would.
    await gateway.app.close();
    await gateway.services.close();
    const services = await createServices(
      loadSettings({ ZKGATE_DATA_DIR: dir, ZKGATE_BOOTSTRAP_TOKEN: newSecret().secret }),
      pino({ level: 'silent' }),
    );
    expect(services.acl.cache.tokens()).toEqual([]);
    await services.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the secret from ZKGATE_BOOTSTRAP_TOKEN_FILE, and names the file, never its content, when it is not one', async () => {
    const dir = await dataDir();
    const file = join(dir, 'mounted-secret');
    const { secret } = newSecret();
    await writeFile(file, `${secret}\n`);
    const gateway = await startEmbeddedApp({ ZKGATE_BOOTSTRAP_TOKEN: '', ZKGATE_BOOTSTRAP_TOKEN_FILE: file });
    expect(
      (await gateway.app.inject({ method: 'GET', url: '/v1/acl/whoami', headers: bearer(secret) }))
        .statusCode,
    ).toBe(200);
    await expect(stat(join(gateway.services.settings.dataDir, BOOTSTRAP_FILE))).rejects.toThrow(/ENOENT/);
    await gateway.close();

    await writeFile(file, 'hunter2\n');
    await expect(
      startEmbeddedApp({ ZKGATE_BOOTSTRAP_TOKEN: '', ZKGATE_BOOTSTRAP_TOKEN_FILE: file }),
    ).rejects.toThrow(new RegExp(`^${file} does not hold a zkgate secret`));
  });

  it('refuses a bootstrap secret that is not zkgate-shaped, and both settings at once', () => {
    expect(() => loadSettings({ ZKGATE_BOOTSTRAP_TOKEN: 'changeme' })).toThrow(/ZKGATE_BOOTSTRAP_TOKEN/);
    expect(() => loadSettings({ ZKGATE_BOOTSTRAP_TOKEN: 'changeme' })).not.toThrow(/changeme/);
    expect(() =>
      loadSettings({ ZKGATE_BOOTSTRAP_TOKEN: newSecret().secret, ZKGATE_BOOTSTRAP_TOKEN_FILE: '/x' }),
    ).toThrow(/not both/);
  });
});

describe('tokens and policies', () => {
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
  });
  afterAll(async () => {
    await gateway?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const createToken = async (body: Record<string, unknown>) =>
    gateway.inject({ method: 'POST', url: '/v1/acl/tokens', payload: body });

  it('shows a secret once: at creation, never in a listing or a read', async () => {
    const created = await createToken({ description: 'ci deploys', policies: ['read-only'] });
    expect(created.statusCode).toBe(201);
    const token = created.json<{ accessor: string; secret: string; createdBy: string }>();
    expect(token.secret).toMatch(/^zkg_[A-Za-z0-9_-]{43}$/);
    const bootstrap = gateway.services.acl.cache.tokens().find((t) => t.createdBy === 'bootstrap');
    expect(token.createdBy).toBe(bootstrap?.accessor);
    for (const url of ['/v1/acl/tokens', `/v1/acl/tokens/${token.accessor}`]) {
      const res = await gateway.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain(token.secret);
      expect(res.body).not.toContain('digest');
    }
    const whoami = await gateway.app.inject({
      method: 'GET',
      url: '/v1/acl/whoami',
      headers: bearer(token.secret),
    });
    expect(whoami.json()).toMatchObject({ accessor: token.accessor, description: 'ci deploys' });
  });

  it('refuses unknown policies, unknown fields and past expiry', async () => {
    const unknown = await createToken({ description: 'x', policies: ['nope'] });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ code: 'ZKG_VALIDATION_FAILED', detail: 'no policy "nope"' });
    expect((await createToken({ description: 'x', policies: ['read-only'], admin: true })).statusCode).toBe(
      400,
    );
    const past = await createToken({
      description: 'x',
      policies: ['read-only'],
      expiresAt: '2020-01-01T00:00:00Z',
    });
    expect(past.statusCode).toBe(400);
  });

  it('stops accepting a token once it expires', async () => {
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const token = (await createToken({ description: 'short', policies: ['read-only'], expiresAt })).json<{
      secret: string;
    }>();
    const read = () =>
      gateway.app.inject({ method: 'GET', url: '/v1/config', headers: bearer(token.secret) });
    expect((await read()).statusCode).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const expired = await read();
    expect(expired.statusCode).toBe(401);
    expect(expired.json()).toMatchObject({ detail: 'the token has expired' });
  });

  it('keeps built-in policies as they are and validates rules', async () => {
    const builtIn = await gateway.inject({
      method: 'PUT',
      url: '/v1/acl/policies/management',
      payload: { rules: {} },
    });
    expect(builtIn.statusCode).toBe(409);
    expect(builtIn.json()).toMatchObject({ code: 'ZKG_POLICY_BUILT_IN' });
    expect((await gateway.inject({ method: 'DELETE', url: '/v1/acl/policies/read-only' })).statusCode).toBe(
      409,
    );
    for (const rules of [
      { config: { 'a/': ['fly'] } },
      { config: { 'a/': 'allow' } },
      { cluster: ['read'] },
    ]) {
      const res = await gateway.inject({ method: 'PUT', url: '/v1/acl/policies/bad', payload: { rules } });
      expect(res.statusCode, JSON.stringify(rules)).toBe(400);
    }
    expect((await gateway.inject({ method: 'GET', url: '/v1/acl/policies/bad' })).statusCode).toBe(404);
    expect(
      (await gateway.inject({ method: 'DELETE', url: `/v1/acl/tokens/${crypto.randomUUID()}` })).json(),
    ).toMatchObject({
      code: 'ZKG_TOKEN_NOT_FOUND',
    });
  });

  it('applies a changed policy to its tokens at once, and a deny under a grant', async () => {
    const put = (rules: unknown) =>
      gateway.inject({ method: 'PUT', url: '/v1/acl/policies/team-c', payload: { rules } });
    expect((await put({ config: { 'team-c/': ['read', 'write', 'create'] } })).statusCode).toBe(201);
    const token = (await createToken({ description: 'c', policies: ['team-c'] })).json<{ secret: string }>();
    const publish = (ns: string) =>
      gateway.app.inject({
        method: 'PUT',
        url: `/v1/config/${ns}`,
        headers: { ...bearer(token.secret), 'content-type': 'application/json' },
        payload: '{}',
      });
    expect((await publish('team-c/app')).statusCode).toBe(201);
    expect((await publish('team-c/secrets/db')).statusCode).toBe(201);
    expect(
      (await put({ config: { 'team-c/': ['read', 'write', 'create'], 'team-c/secrets/': 'deny' } }))
        .statusCode,
    ).toBe(200);
    expect((await publish('team-c/secrets/db')).statusCode).toBe(403);
    expect((await publish('team-c/app')).statusCode).toBe(200);
  });

  it('serves what the anonymous policy grants to requests without a token, and nothing else', async () => {
    await gateway.inject({
      method: 'PUT',
      url: '/v1/config/public/motd',
      headers: { 'content-type': 'application/json' },
      payload: '"hello"',
    });
    expect((await gateway.app.inject({ method: 'GET', url: '/v1/config/public/motd' })).statusCode).toBe(401);
    const anonymous = await gateway.inject({
      method: 'PUT',
      url: '/v1/acl/policies/anonymous',
      payload: { description: 'world-readable config', rules: { config: { 'public/': ['read'] } } },
    });
    expect(anonymous.statusCode).toBe(201);
    expect((await gateway.app.inject({ method: 'GET', url: '/v1/config/public/motd' })).statusCode).toBe(200);
    expect((await gateway.app.inject({ method: 'GET', url: '/v1/config/team-c/app' })).statusCode).toBe(401);
    expect((await gateway.app.inject({ method: 'GET', url: '/v1/acl/whoami' })).statusCode).toBe(401);
  });

  it('refuses an Authorization header that is not a zkgate bearer token', async () => {
    for (const authorization of [
      'Basic YWRtaW46YWRtaW4=',
      'Bearer',
      'Bearer zkg_short',
      `Token ${newSecret().secret}`,
    ]) {
      const res = await gateway.app.inject({ method: 'GET', url: '/v1/config', headers: { authorization } });
      expect(res.statusCode, authorization).toBe(401);
    }
    const unknown = await gateway.app.inject({
      method: 'GET',
      url: '/v1/config',
      headers: bearer(newSecret().secret),
    });
    expect(unknown.json()).toMatchObject({ detail: 'the token is unknown or was revoked' });
  });

  it('names the author of a release from its token', async () => {
    const token = (await createToken({ description: 'release bot', policies: ['management'] })).json<{
      secret: string;
    }>();
    await gateway.app.inject({
      method: 'PUT',
      url: '/v1/config/authored/app',
      headers: {
        ...bearer(token.secret),
        'content-type': 'application/json',
        'x-zkgate-author': 'somebody else',
      },
      payload: '{}',
    });
    const history = await gateway.inject({ method: 'GET', url: '/v1/config/authored/app:history' });
    expect(history.json()).toMatchObject([{ author: 'release bot' }]);
  });
});

describe('settings around auth', () => {
  it('ZKGATE_AUTH=off serves everything without a token, says so on every answer, and warns at start', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const gateway = await startEmbeddedApp({ ZKGATE_AUTH: 'off' }, pino({ level: 'warn' }, sink));
    expect(lines.some((line) => line.includes('ZKGATE_AUTH=off'))).toBe(true);
    for (const url of ['/v1/config', '/healthz', '/v1/acl/whoami']) {
      const res = await gateway.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['x-zkgate-auth'], url).toBe('off');
    }
    await gateway.close();
  });

  it('logs every denied attempt as one structured line, never with its secret', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const gateway = await startEmbeddedApp({}, pino({ level: 'warn' }, sink));
    const reader = (
      await gateway.inject({
        method: 'POST',
        url: '/v1/acl/tokens',
        payload: { description: 'r', policies: ['read-only'] },
      })
    ).json<{ accessor: string; secret: string }>();
    const forbidden = await gateway.app.inject({
      method: 'DELETE',
      url: '/v1/config/team-d/app',
      headers: { ...bearer(reader.secret), 'x-forwarded-for': '203.0.113.9' },
    });
    expect(forbidden.statusCode).toBe(403);
    const anonymous = await gateway.app.inject({ method: 'GET', url: '/v1/config/team-d/app' });
    expect(anonymous.statusCode).toBe(401);
    await gateway.close();

    const denials = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['msg'] === 'access denied');
    expect(denials).toEqual([
      expect.objectContaining({
        component: 'access',
        accessor: reader.accessor,
        needs: 'config:team-d/app delete',
        method: 'DELETE',
        url: '/v1/config/team-d/app',
        // X-Forwarded-For from a proxy nobody trusts is not the address.
        address: '127.0.0.1',
        reqId: expect.any(String),
      }),
      expect.objectContaining({ accessor: 'anonymous', method: 'GET', url: '/v1/config/team-d/app' }),
    ]);
    expect(lines.join('')).not.toContain(reader.secret);
  });

  it('ZKGATE_METRICS_PUBLIC=true opens /metrics and nothing else', async () => {
    const gateway = await startEmbeddedApp({ ZKGATE_METRICS_PUBLIC: 'true' });
    expect((await gateway.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expect((await gateway.app.inject({ method: 'GET', url: '/v1/cluster' })).statusCode).toBe(401);
    await gateway.close();
  });

  it('keeps bearer tokens out of the logs', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logger = pino(loggerOptions({ logLevel: 'info' }), sink);
    logger.info({ req: { headers: MANAGEMENT } }, 'request');
    logger.info({ headers: MANAGEMENT }, 'headers');
    logger.info({ request: { headers: MANAGEMENT } }, 'nested');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toContain(MANAGEMENT.authorization.slice('Bearer '.length));
      expect(line).toContain('[redacted]');
    }
  });
});
