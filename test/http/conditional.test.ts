/**
 * One `If-None-Match` parser: a document and an instance list answer the same to `*`, to weak
 * tags (`W/`), to lists and to what is not a list of entity tags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

const NS = 'conditional/ns';
const SERVICE = 'conditional-svc';

describe('If-None-Match', () => {
  let gateway: EmbeddedApp;

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    const headers = { 'content-type': 'application/json' };
    const put = await gateway.inject({ method: 'PUT', url: `/v1/config/${NS}`, payload: '{"v":1}', headers });
    expect(put.statusCode).toBe(201);
    const instance = JSON.stringify({ address: '10.0.0.7', port: 80 });
    const register = await gateway.inject({
      method: 'PUT',
      url: `/v1/services/${SERVICE}/instances/i-1`,
      payload: instance,
      headers,
    });
    expect(register.statusCode).toBe(201);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  const read = async (url: string, ifNoneMatch?: string) =>
    gateway.inject({ url, headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch } });

  it('means the same on a document and on an instance list', async () => {
    const resources = [`/v1/config/${NS}`, `/v1/services/${SERVICE}/instances`];
    for (const url of resources) {
      // A document's tag is strong, a list's weak (a renewal moves expiry times, not meaning):
      // compared weakly, both mean the same.
      const sent = (await read(url)).headers.etag as string;
      expect(sent, url).toMatch(url.includes('/instances') ? /^W\/"[^"]+"$/ : /^"[^"]+"$/);
      const tag = sent.replace(/^W\//, '');
      const cases: Array<[string, number]> = [
        [tag, 304],
        [`W/${tag}`, 304],
        [`"other", ${tag}`, 304],
        [`W/"other",W/${tag}`, 304],
        [` , ,${tag} ,`, 304],
        ['*', 304],
        ['"other"', 200],
        ['W/"other"', 200],
        [tag.slice(1, -1), 200],
        [`${tag}x`, 200],
        [`*, ${tag}`, 200],
        ['garbage', 200],
        ['', 200],
      ];
      for (const [header, status] of cases)
        expect((await read(url, header)).statusCode, `${url} ${header}`).toBe(status);
    }
  });
});
