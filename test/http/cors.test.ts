/** CORS is off unless ZKGATE_CORS_ORIGINS lists origins, and then only those get access. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/settings.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

const preflight = (gateway: EmbeddedApp, origin: string) =>
  gateway.app.inject({
    method: 'OPTIONS',
    url: '/v1/config/a:rollback',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });

describe('CORS', () => {
  let closed: EmbeddedApp;
  let open: EmbeddedApp;

  beforeAll(async () => {
    closed = await startEmbeddedApp();
    open = await startEmbeddedApp({ ZKGATE_CORS_ORIGINS: 'https://console.example.com' });
  });

  afterAll(async () => {
    await closed?.close();
    await open?.close();
  });

  it('grants no origin by default', async () => {
    const answer = await preflight(closed, 'https://evil.example');
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    const read = await closed.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { origin: 'https://evil.example' },
    });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('grants the listed origins only', async () => {
    const allowed = await preflight(open, 'https://console.example.com');
    expect(allowed.headers['access-control-allow-origin']).toBe('https://console.example.com');
    expect(allowed.headers['access-control-allow-methods']).toContain('POST');
    const other = await preflight(open, 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const read = await open.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { origin: 'https://console.example.com' },
    });
    expect(read.headers['access-control-allow-origin']).toBe('https://console.example.com');
    expect(read.headers['access-control-expose-headers']).toContain('etag');
  });

  it('refuses origins that are not scheme://host[:port] at boot', () => {
    expect(() => loadSettings({ ZKGATE_CORS_ORIGINS: 'https://a.example, *' })).toThrow(
      /ZKGATE_CORS_ORIGINS item 2/,
    );
  });
});
