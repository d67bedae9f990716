/**
 * Config documents big enough to gain from it go compressed to clients that accept it: the same
 * bytes once decoded, in the coding `Accept-Encoding` prefers, with the version's ETag, and never
 * a coding of an earlier version. Small documents go as they are.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson, startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

type Answer = Awaited<ReturnType<EmbeddedApp['inject']>>;

const decoders: Record<string, (b: Buffer) => Buffer> = { gzip: gunzipSync, br: brotliDecompressSync };

function decoded(answer: Answer): Buffer {
  const coding = answer.headers['content-encoding'] as string | undefined;
  return coding === undefined ? answer.rawPayload : decoders[coding]!(answer.rawPayload);
}

/** A JSON document of about `bytes` bytes that compresses well, as config documents do. */
function document(bytes: number, version: number): Record<string, unknown> {
  const entries = Math.ceil(bytes / 25);
  return Object.fromEntries(
    Array.from({ length: entries }, (_, i) => [`key-${i}`, `value ${i} of v${version}`]),
  );
}

describe('compressed config reads', () => {
  let g: EmbeddedApp;

  beforeAll(async () => {
    g = await startEmbeddedApp();
  });
  afterAll(async () => g?.close());

  const read = (ns: string, headers: Record<string, string> = {}, query = '') =>
    g.inject({ url: `/v1/config/${ns}${query}`, headers });

  it('sends a big document in the coding the client prefers, the same bytes in every coding', async () => {
    expect((await sendJson(g, 'PUT', '/v1/config/zip/big', document(40_000, 1))).statusCode).toBe(201);
    const plain = await read('zip/big');
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    expect(plain.rawPayload.length).toBeGreaterThan(20_000);
    for (const [accept, coding] of [
      ['gzip', 'gzip'],
      ['gzip, deflate, br', 'br'],
      ['br;q=0.5, gzip', 'gzip'],
      ['identity', undefined],
      ['gzip;q=0, br;q=0', undefined],
    ] as const) {
      const answer = await read('zip/big', { 'accept-encoding': accept });
      expect(answer.statusCode, accept).toBe(200);
      expect(answer.headers['content-encoding'], accept).toBe(coding);
      expect(answer.headers.etag, accept).toBe(plain.headers.etag);
      expect(answer.headers['content-type'], accept).toBe(plain.headers['content-type']);
      expect(decoded(answer).equals(plain.rawPayload), accept).toBe(true);
      if (coding) expect(answer.rawPayload.length, accept).toBeLessThan(plain.rawPayload.length / 4);
    }
    const unchanged = await read('zip/big', {
      'accept-encoding': 'br',
      'if-none-match': plain.headers.etag!,
    });
    expect(unchanged.statusCode).toBe(304);
  });

  it('sends the new version after a publish, in every coding, and on a long-poll too', async () => {
    expect((await sendJson(g, 'PUT', '/v1/config/zip/moving', document(20_000, 1))).statusCode).toBe(201);
    const first = await read('zip/moving', { 'accept-encoding': 'gzip' });
    expect(first.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(decoded(first).toString('utf8'))).toEqual(document(20_000, 1));

    expect((await sendJson(g, 'PUT', '/v1/config/zip/moving', document(20_000, 2))).statusCode).toBe(200);
    for (const accept of ['gzip', 'br', 'identity']) {
      const answer = await read('zip/moving', { 'accept-encoding': accept });
      expect(answer.headers.etag, accept).not.toBe(first.headers.etag);
      expect(JSON.parse(decoded(answer).toString('utf8')), accept).toEqual(document(20_000, 2));
    }
    // A long-poll from the first version's index answers at once with the second, compressed.
    const polled = await read(
      'zip/moving',
      { 'accept-encoding': 'br' },
      `?index=${first.headers['x-zkgate-index'] as string}&wait=5s`,
    );
    expect(polled.statusCode).toBe(200);
    expect(polled.headers['content-encoding']).toBe('br');
    expect(JSON.parse(decoded(polled).toString('utf8'))).toEqual(document(20_000, 2));
  });

  it('sends a small document as it is, whatever the client accepts', async () => {
    expect((await sendJson(g, 'PUT', '/v1/config/zip/small', { a: 1 })).statusCode).toBe(201);
    const answer = await read('zip/small', { 'accept-encoding': 'gzip, br' });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.json()).toEqual({ a: 1 });
  });
});
