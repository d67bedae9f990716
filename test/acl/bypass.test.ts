/**
 * The tricks that got past other systems' access checks, one case each: a request spelled so
 * that the check and the handler would see different resources must never reach a handler with
 * a resource other than the one authorized. Requests go out raw (node:http with the path as
 * written), since fetch would normalize the very spellings under test. X-Forwarded-For from
 * untrusted peers is covered by test/http/trust-proxy.test.ts, CORS by test/http/cors.test.ts.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerFor, startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { MANAGEMENT } from '../support/tokens.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

describe('access checks cannot be bypassed', () => {
  let gateway: EmbeddedApp;
  let port: number;
  let reader: Record<string, string>;

  const raw = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  /** Whatever the answer, it carries nothing of team-b's document. */
  const leaksNothing = (answer: Answer) => {
    expect(answer.status).not.toBe(200);
    expect(answer.status).not.toBe(304);
    expect(answer.body).not.toContain('secret-of-b');
  };

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    const address = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    port = Number(new URL(address).port);
    for (const ns of ['team-a/app', 'team-b/app']) {
      const res = await gateway.inject({
        method: 'PUT',
        url: `/v1/config/${ns}`,
        headers: { 'content-type': 'application/json' },
        payload: ns === 'team-b/app' ? '{"k":"secret-of-b"}' : '{"k":"a"}',
      });
      expect(res.statusCode).toBe(201);
    }
    await gateway.inject({
      method: 'PUT',
      url: '/v1/acl/policies/team-a',
      payload: { rules: { config: { 'team-a/': ['read', 'write'] } } },
    });
    reader = await bearerFor(gateway, 'team a', ['team-a']);
    expect((await raw('GET', '/v1/config/team-a/app', reader)).status).toBe(200);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('%2f: an encoded slash names the same namespace to the check and the handler', async () => {
    leaksNothing(await raw('GET', '/v1/config/team-b%2Fapp', reader));
    leaksNothing(await raw('GET', '/v1/config/team-a%2F..%2Fteam-b%2Fapp', reader));
    const own = await raw('GET', '/v1/config/team-a%2fapp', reader);
    expect(own.status).toBe(200);
  });

  it('//: an empty segment is no namespace', async () => {
    leaksNothing(await raw('GET', '/v1/config//team-b/app', reader));
    leaksNothing(await raw('GET', '/v1/config/team-a//../team-b/app', reader));
    leaksNothing(await raw('GET', '//v1/config/team-b/app', reader));
  });

  it('dot segments are not resolved into another namespace', async () => {
    const answer = await raw('GET', '/v1/config/team-a/../team-b/app', reader);
    leaksNothing(answer);
    expect(answer.status).toBe(400);
    leaksNothing(await raw('GET', '/v1/config/team-a/./../team-b/app', reader));
    leaksNothing(await raw('GET', '/v1/config/team-a/%2e%2e/team-b/app', reader));
  });

  it('case: routes and names are case-sensitive on both sides', async () => {
    leaksNothing(await raw('GET', '/V1/CONFIG/team-b/app', reader));
    const other = await raw('GET', '/v1/config/TEAM-A/app', reader);
    expect(other.status).toBe(403);
  });

  it('a trailing slash is no namespace either', async () => {
    leaksNothing(await raw('GET', '/v1/config/team-b/app/', reader));
    leaksNothing(await raw('GET', '/v1/config/team-a/app/../../team-b/app/', reader));
  });

  it('HEAD is checked like GET', async () => {
    const answer = await raw('HEAD', '/v1/config/team-b/app', reader);
    expect(answer.status).toBe(403);
    expect(answer.headers.etag).toBeUndefined();
  });

  it('OPTIONS reaches no handler (CORS is off)', async () => {
    const answer = await raw('OPTIONS', '/v1/config/team-b/app', {
      ...reader,
      origin: 'https://evil.example',
      'access-control-request-method': 'GET',
    });
    leaksNothing(answer);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a token in the query string is refused, never read', async () => {
    const secret = MANAGEMENT.authorization.slice('Bearer '.length);
    for (const name of ['token', 'access_token']) {
      const answer = await raw('GET', `/v1/config/team-b/app?${name}=${secret}`);
      leaksNothing(answer);
      expect(answer.status).toBe(401);
    }
  });

  it('a request without a token learns nothing from how its path parses', async () => {
    for (const path of ['/v1/config/a//b', '/v1/config/-x', '/v1/watch', '/v1/config/team-a/app:nope']) {
      expect((await raw('GET', path)).status, path).toBe(401);
    }
    // With a token, the same requests are told what is wrong with them.
    expect((await raw('GET', '/v1/config/-x', reader)).status).toBe(400);
  });

  it("a client's User-Agent grants nothing (CVE-2021-29441)", async () => {
    const answer = await raw('GET', '/v1/config/team-b/app', { 'user-agent': 'Nacos-Server' });
    expect(answer.status).toBe(401);
  });

  it('a JSON body sent as text/plain (a cross-site form) is refused, token or not', async () => {
    const body = '{"version":1}';
    for (const headers of [{}, MANAGEMENT]) {
      const answer = await raw(
        'POST',
        '/v1/config/team-a/app:rollback',
        { ...headers, 'content-type': 'text/plain' },
        body,
      );
      expect(answer.status).toBeGreaterThanOrEqual(400);
      if (headers === MANAGEMENT) expect(answer.status).toBe(415);
    }
    const registration = await raw(
      'PUT',
      '/v1/services/web/instances/i1',
      { ...MANAGEMENT, 'content-type': 'text/plain' },
      '{"address":"127.0.0.1","port":8080}',
    );
    expect(registration.status).toBe(415);
  });
});
