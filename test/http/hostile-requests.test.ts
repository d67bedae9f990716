/**
 * Requests a hostile or broken client sends, over a real socket: whatever arrives, the answer is
 * a problem document with a client status, a slow body is cut off, and a client that hangs up
 * mid-request is not logged as a server error.
 */
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { asOperator, type OperatorInject } from '../support/embedded-app.js';
import { makeTempDir } from '../support/processes.js';
import { BOOTSTRAP_ENV, MANAGEMENT_SECRET } from '../support/tokens.js';

const REQUEST_TIMEOUT_MS = 1_000;
const AUTHORIZATION = `Authorization: Bearer ${MANAGEMENT_SECRET}\r\n`;

/** What a raw exchange produced: the status line's code, headers and body, once the socket closed or the answer was complete. */
interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  closed: boolean;
}

describe('hostile requests', () => {
  let dataDir: string;
  let services: Services;
  let app: Awaited<ReturnType<typeof buildApp>>;
  // Requests act as the operator: these tests are about HTTP, not access control.
  let inject: OperatorInject;
  let port: number;
  const logLines: Array<{ level: number; msg: string }> = [];

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-hostile-');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          logLines.push(JSON.parse(line));
        done();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    services = await createServices(
      loadSettings({
        ZKGATE_DATA_DIR: dataDir,
        ZKGATE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        ...BOOTSTRAP_ENV,
      }),
      logger,
    );
    app = await buildApp({ services, logger });
    inject = asOperator(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await app?.close();
    await services?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /**
   * `request` as the operator: the management token's Authorization header right after the
   * request line (whatever else the request holds, or lacks).
   */
  const asOperatorRaw = (request: string): string => request.replace('\r\n', `\r\n${AUTHORIZATION}`);

  /**
   * Send raw bytes (all at once), as the operator, and read the answer until the server closes or
   * it is complete.
   */
  async function raw(request: string, { end = false } = {}): Promise<RawAnswer> {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.write(asOperatorRaw(request));
    if (end) socket.end();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const answered = new Promise<void>((resolve) => {
      socket.on('data', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        const split = text.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
        if (split >= 0 && length && text.length - split - 4 >= Number(length[1])) resolve();
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    await answered;
    const closed = socket.destroyed || socket.readableEnded;
    socket.destroy();
    return parse(Buffer.concat(chunks).toString('utf8'), closed);
  }

  function parse(text: string, closed: boolean): RawAnswer {
    const split = text.indexOf('\r\n\r\n');
    const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
    const headers = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4), closed };
  }

  function expectProblem(answer: RawAnswer, status: number, code: string): void {
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(answer.body) as Record<string, unknown>;
    expect(problem).toMatchObject({ status, code, type: expect.stringContaining(code) });
  }

  it.each([
    ['a malformed Content-Length', 'PUT /v1/config/a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'],
    [
      'two different Content-Lengths',
      'PUT /v1/config/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}',
    ],
    [
      'a malformed Transfer-Encoding',
      'PUT /v1/config/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    ],
    [
      'Transfer-Encoding with Content-Length',
      'PUT /v1/config/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['a control character in a header', 'GET /v1/config HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n'],
    ['a space in a header name', 'GET /v1/config HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n'],
    ['a garbage request line', 'HELLO\r\n\r\n'],
  ])('answers %s with a problem document and closes', async (_, request) => {
    const answer = await raw(request);
    expectProblem(answer, 400, 'ZKG_MALFORMED_REQUEST');
    expect(answer.headers.connection).toBe('close');
  });

  it.each([
    ['no Host header', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'],
    [
      'two Host headers',
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
    ],
    [
      'a transfer coding other than chunked',
      'PUT /v1/config/te HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
    ],
  ])('refuses a request with %s', async (_, request) => {
    expectProblem(await raw(request), 400, 'ZKG_MALFORMED_REQUEST');
  });

  it('serves HTTP/1.0 without a Host header', async () => {
    const answer = await raw('GET /healthz HTTP/1.0\r\n\r\n');
    expect(answer.status).toBe(200);
  });

  it('answers an Expect it cannot meet with 417 as a problem document', async () => {
    const answer = await raw(
      'PUT /v1/config/x HTTP/1.1\r\nHost: x\r\nExpect: garbage\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    );
    expectProblem(answer, 417, 'ZKG_EXPECTATION_FAILED');
  });

  it('answers CONNECT with 405 as a problem document', async () => {
    const answer = await raw('CONNECT /v1/config HTTP/1.1\r\nHost: x\r\n\r\n');
    expectProblem(answer, 405, 'ZKG_METHOD_NOT_ALLOWED');
  });

  it('refuses a rollback or schema body that is not declared JSON', async () => {
    await inject({
      method: 'PUT',
      url: '/v1/config/rb',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    for (const url of ['/v1/config/rb:rollback', '/v1/config/rb:schema']) {
      const res = await inject({
        method: url.endsWith('rollback') ? 'POST' : 'PUT',
        url,
        headers: { 'content-type': 'text/plain' },
        payload: '{"version":1}',
      });
      expect(res.statusCode).toBe(415);
      expect(res.json().code).toBe('ZKG_UNSUPPORTED_MEDIA_TYPE');
    }
    expect((await inject({ method: 'GET', url: '/v1/config/rb' })).headers['x-zkgate-version']).toBe('1');
  });

  it('answers oversized headers with 431 as a problem document', async () => {
    const answer = await raw(`GET /v1/config HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expectProblem(answer, 431, 'ZKG_HEADERS_TOO_LARGE');
  });

  it.each(['QUERY', 'PROPFIND', 'SEARCH'])(
    'answers method %s with a client error, not a 500',
    async (method) => {
      for (const headers of [{}, { 'content-type': 'application/json' }]) {
        const res = await inject({ method: method as 'GET', url: '/v1/config', headers, payload: '{}' });
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    },
  );

  it('answers a static path escaping its root with 404, not a 500', async () => {
    for (const path of ['/docs/static/%2e%2e/package.json', '/docs/static/..%2f..%2fpackage.json']) {
      const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expectProblem(answer, 404, 'ZKG_ROUTE_NOT_FOUND');
      expect(answer.body).not.toContain('"dependencies"');
    }
  });

  it('refuses a raw # in the request target instead of publishing to what comes before it', async () => {
    const body = '{"x":1}';
    const answer = await raw(
      `PUT /v1/config/2#x/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expectProblem(answer, 400, 'ZKG_VALIDATION_FAILED');
    expect((await inject({ method: 'GET', url: '/v1/config/2' })).statusCode).toBe(404);
  });

  it('cuts off a body that trickles in, with 408, and keeps serving', async () => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.write(
      asOperatorRaw(
        'PUT /v1/config/slow HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n',
      ),
    );
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    // One byte every 200 ms: never idle long enough for an idle timeout, never finished.
    const trickle = setInterval(() => socket.writable && socket.write('a'), 200);
    const started = Date.now();
    await once(socket, 'close');
    clearInterval(trickle);
    const answer = parse(Buffer.concat(chunks).toString('utf8'), true);
    expectProblem(answer, 408, 'ZKG_REQUEST_TIMEOUT');
    // Cut by the request deadline (checked every quarter of it), far before 100 bytes arrived.
    expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS * 3);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await inject({ method: 'GET', url: '/v1/config/slow' })).statusCode).toBe(404);
  });

  it('does not time out a long-poll that waits longer than the request deadline', async () => {
    const put = await inject({
      method: 'PUT',
      url: '/v1/config/lp',
      headers: { 'content-type': 'text/plain' },
      payload: 'v1',
    });
    const index = put.json<{ index: string }>().index;
    const wait = REQUEST_TIMEOUT_MS * 3;
    const answer = await raw(
      `GET /v1/config/lp?index=${index}&wait=${wait}ms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(answer.status).toBe(304);
  });

  it('still answers an error raised after the whole body was read', async () => {
    const body = '{"unclosed": ';
    const answer = await raw(
      `PUT /v1/config/bad HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expectProblem(answer, 400, 'ZKG_CONFIG_MALFORMED');
  });

  it('logs a client hanging up mid-body at debug level, not as a server error', async () => {
    const before = logLines.length;
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.write(
      asOperatorRaw(
        'PUT /v1/config/gone HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhalf',
      ),
    );
    await vi.waitFor(() =>
      expect(logLines.slice(before).some((l) => l.msg === 'incoming request')).toBe(true),
    );
    socket.destroy();
    await vi.waitFor(() =>
      expect(logLines.slice(before).some((l) => l.msg === 'client went away')).toBe(true),
    );
    expect(logLines.slice(before).filter((l) => l.level >= 50)).toEqual([]);
  });
});
