/**
 * The SSE transport over real sockets: a fastify app listening on loopback and a plain
 * `http.get` client that parses text/event-stream itself. Every wait is on an event, bounded.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendProblem } from '../../src/http/problem.js';
import { ZkgError } from '../../src/errors.js';
import {
  ConnectionLimiter,
  EncodedSseEvent,
  SseRegistry,
  SseStream,
  type SseCloseReason,
  type SseOptions,
} from '../../src/http/sse.js';
import { within } from '../support/within.js';

/** A queue whose `next()` waits for the next pushed item. */
class Queue<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T) => void> = [];

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }

  next(what: string): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return within(new Promise<T>((resolve) => this.#waiters.push(resolve)), what);
  }
}

/** One blank-line-terminated block of the stream, as a client parses it. */
interface Frame {
  comments: string[];
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
}

function parseFrame(block: string): Frame {
  const frame: Frame = { comments: [] };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    // As the spec says: one space after the colon is not part of the value.
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === '') frame.comments.push(value);
    else if (field === 'data') data.push(value);
    else if (field === 'id') frame.id = value;
    else if (field === 'event') frame.event = value;
    else if (field === 'retry') frame.retry = Number(value);
  }
  if (data.length > 0) frame.data = data.join('\n');
  return frame;
}

/** A text/event-stream client on its own connection. */
class SseClient {
  readonly #frames = new Queue<Frame>();
  #buffer = '';
  /** Resolves when the response ends: `complete` is false when it was cut off. */
  readonly ended: Promise<{ complete: boolean }>;

  private constructor(
    readonly req: http.ClientRequest,
    readonly res: IncomingMessage,
    read: boolean,
  ) {
    this.ended = new Promise((resolve) => res.once('close', () => resolve({ complete: res.complete })));
    if (!read) {
      // Stop reading: the socket's receive buffer fills, then the server's send buffer.
      res.pause();
      return;
    }
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let end: number;
      while ((end = this.#buffer.indexOf('\n\n')) !== -1) {
        this.#frames.push(parseFrame(this.#buffer.slice(0, end)));
        this.#buffer = this.#buffer.slice(end + 2);
      }
    });
  }

  /** Resolves once the response headers have arrived. */
  static connect(
    url: string,
    {
      headers = {},
      read = true,
      agent = false,
    }: { headers?: Record<string, string>; read?: boolean; agent?: http.Agent | false } = {},
  ): Promise<SseClient> {
    return within(
      new Promise((resolve, reject) => {
        // agent: false by default: a connection per client, closed after the response.
        const req = http.get(url, { agent, headers }, (res) => resolve(new SseClient(req, res, read)));
        req.once('error', reject);
      }),
      `response headers from ${url}`,
    );
  }

  next(what = 'the next frame'): Promise<Frame> {
    return this.#frames.next(what);
  }

  async nextEvent(): Promise<Frame> {
    for (;;) {
      const frame = await this.next('the next event');
      if (frame.data !== undefined) return frame;
    }
  }

  /** Drop the connection, as a closed browser tab does. */
  disconnect(): void {
    this.req.destroy();
  }
}

interface Opened {
  stream: SseStream;
  request: FastifyRequest;
  reply: FastifyReply;
  reasons: SseCloseReason[];
  closed: Promise<SseCloseReason>;
  /** `res.listenerCount('close')` before the stream was opened. */
  closeListenersBefore: number;
}

/** What tests need of the app: only shutting it down. */
interface Closable {
  close(): PromiseLike<unknown>;
}

interface TestServer {
  app: Closable;
  url: string;
  registry: SseRegistry;
  limiter: ConnectionLimiter;
  opened: Queue<Opened>;
}

const servers: Closable[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((app) => within(app.close(), 'app.close()')));
});

/**
 * An app with one SSE route wired the way `/v1/watch` is meant to be: limiter slot, stream,
 * release on close, registry, shutdown from `preClose`. Each opened stream is pushed to `opened`.
 */
async function startServer(
  options: Partial<SseOptions> = {},
  {
    limits = { perClient: 1_000, total: 1_000 },
    beforeOpen,
    logger,
  }: {
    limits?: { perClient: number; total: number };
    beforeOpen?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    logger?: pino.Logger;
  } = {},
): Promise<TestServer> {
  const app = Fastify({
    loggerInstance: logger ?? pino({ level: 'silent' }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  servers.push(app);
  const registry = new SseRegistry();
  const limiter = new ConnectionLimiter(limits);
  const opened = new Queue<Opened>();
  // preClose, not onClose: fastify waits for server.close() (so for the streams) before onClose.
  app.addHook('preClose', async () => {
    registry.closeAll();
  });
  app.addHook('onRequest', async (_request, reply) => {
    void reply.header('x-request-tag', 'kept');
  });
  app.get('/sse', async (request, reply) => {
    const release = limiter.acquire(request.ip);
    if (!release) {
      return sendProblem(reply, new ZkgError('ZKG_WATCH_LIMIT', 'too many watches', { retryAfter: 1 }));
    }
    await beforeOpen?.(request, reply);
    const closeListenersBefore = reply.raw.listenerCount('close');
    const stream = SseStream.open(request, reply, {
      keepAliveMs: 60_000,
      maxBufferedBytes: 256 * 1024,
      ...options,
    });
    const reasons: SseCloseReason[] = [];
    const closed = new Promise<SseCloseReason>((resolve) =>
      stream.onClose((reason) => {
        reasons.push(reason);
        resolve(reason);
      }),
    );
    stream.onClose(release);
    registry.add(stream);
    opened.push({ stream, request, reply, reasons, closed, closeListenersBefore });
    return reply;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}/sse`, registry, limiter, opened };
}

/**
 * What the socket holds after every write a stream makes (pre-framed events go to the socket
 * directly, everything else through the response, which writes to the socket).
 */
function recordQueue(res: ServerResponse): number[] {
  const socket = res.socket!;
  const queued: number[] = [];
  const write = socket.write.bind(socket) as (chunk: Buffer, callback?: () => void) => boolean;
  vi.spyOn(socket, 'write').mockImplementation(((chunk: Buffer, callback?: () => void) => {
    const ok = write(chunk, callback);
    queued.push(res.writableLength);
    return ok;
  }) as typeof socket.write);
  return queued;
}

/** 256 MiB of 64 KiB events: far more than the kernel's socket buffers could absorb. */
const SEND_AT_MOST = 4096;

/** Send `event` once per turn of the event loop (a reading client could keep up) until cut off. */
async function sendUntilCut(stream: SseStream, event: EncodedSseEvent): Promise<number> {
  let sent = 0;
  while (sent < SEND_AT_MOST && stream.send(event)) {
    sent += 1;
    await nextTurn();
  }
  return sent;
}

describe('SseStream', () => {
  it('flushes the headers before any event, then writes events field by field', async () => {
    const server = await startServer({ retryMs: 1_500 });
    // The client has the response while the server has not sent a single event.
    const client = await SseClient.connect(server.url);
    const { stream } = await server.opened.next('the stream');

    expect(client.res.statusCode).toBe(200);
    expect(client.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(client.res.headers['connection']).toBe('keep-alive');
    expect(client.res.headers['x-accel-buffering']).toBe('no');
    expect(client.res.headers['x-request-tag']).toBe('kept');
    expect(client.res.headers['content-length']).toBeUndefined();

    expect(await client.next('the retry field')).toEqual({ comments: [], retry: 1_500 });

    expect(stream.send({ id: '7', event: 'change', data: 'line 1\nline 2\r\n line 3\r' })).toBe(true);
    expect(await client.next()).toEqual({
      comments: [],
      id: '7',
      event: 'change',
      data: 'line 1\nline 2\n line 3\n',
    });
    expect(stream.send({ data: '' })).toBe(true);
    expect(await client.next()).toEqual({ comments: [], data: '' });
    expect(stream.comment('two\nlines')).toBe(true);
    expect(await client.next()).toEqual({ comments: ['two', 'lines'] });

    const shared = EncodedSseEvent.of({ id: 'é', data: 'ünïcode' });
    expect(stream.send(shared)).toBe(true);
    expect(await client.next()).toEqual({ comments: [], id: 'é', data: 'ünïcode' });
    expect(stream.closed).toBe(false);
  });

  it('frames shared events as one HTTP/1.1 chunk each, and sends them unframed to an HTTP/1.0 client', async () => {
    const server = await startServer();
    const { port } = new URL(server.url);
    const event = EncodedSseEvent.of({ id: '9', event: 'config', data: 'ünï' });
    const rawExchange = async (version: string): Promise<string> => {
      const socket = connect(Number(port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.write(`GET /sse HTTP/${version}\r\nHost: localhost\r\n\r\n`);
      const { stream } = await server.opened.next(`the HTTP/${version} stream`);
      expect(stream.send(event)).toBe(true);
      expect(stream.send(event)).toBe(true);
      stream.close();
      await within(once(socket, 'close'), 'the connection to close');
      return received.slice(received.indexOf('\r\n\r\n') + 4);
    };
    const frame = event.bytes.toString('latin1');
    const size = event.bytes.length.toString(16);
    expect(await rawExchange('1.1')).toBe(`${size}\r\n${frame}\r\n${size}\r\n${frame}\r\n0\r\n\r\n`);
    expect(await rawExchange('1.0')).toBe(`${frame}${frame}`);
  });

  it('rejects CR, LF and NUL in id and event, and stays usable', async () => {
    const server = await startServer();
    const client = await SseClient.connect(server.url);
    const { stream } = await server.opened.next('the stream');

    expect(() => stream.send({ id: 'a\nb', data: 'x' })).toThrow(TypeError);
    expect(() => stream.send({ id: 'a\rb', data: 'x' })).toThrow(TypeError);
    expect(() => stream.send({ id: 'a\0b', data: 'x' })).toThrow(TypeError);
    expect(() => stream.send({ event: 'x\r\ny', data: 'x' })).toThrow(TypeError);
    expect(() => EncodedSseEvent.of({ event: 'x\ny', data: 'x' })).toThrow(TypeError);

    expect(stream.send({ id: 'ok', data: 'after' })).toBe(true);
    expect(await client.next()).toEqual({ comments: [], id: 'ok', data: 'after' });
  });

  it('reads the resume point from Last-Event-ID, else the lastEventId query parameter', async () => {
    const server = await startServer();
    const cases: Array<[string, Record<string, string>, string | undefined]> = [
      ['', { 'last-event-id': '41' }, '41'],
      ['?lastEventId=42', {}, '42'],
      ['?lastEventId=42', { 'last-event-id': '43' }, '43'],
      ['?lastEventId=', {}, undefined],
      ['', {}, undefined],
    ];
    for (const [query, headers, expected] of cases) {
      const client = await SseClient.connect(server.url + query, { headers });
      const { request, stream } = await server.opened.next('the stream');
      expect(SseStream.lastEventId(request)).toBe(expected);
      stream.close();
      await within(client.ended, 'the end of the response');
    }
  });

  it('sends keep-alive comments at the configured interval', async () => {
    const server = await startServer({ keepAliveMs: 50 });
    const client = await SseClient.connect(server.url);
    const start = performance.now();
    expect(await client.next('keep-alive 1')).toEqual({ comments: ['keep-alive'] });
    expect(await client.next('keep-alive 2')).toEqual({ comments: ['keep-alive'] });
    // Two intervals have passed (timers may fire a millisecond early).
    expect(performance.now() - start).toBeGreaterThanOrEqual(2 * 50 - 5);
  });

  it("reports 'client' when the client disconnects and releases the limiter slot", async () => {
    const server = await startServer();
    const client = await SseClient.connect(server.url);
    const opened = await server.opened.next('the stream');
    expect(server.limiter.size).toBe(1);
    expect(server.registry.size).toBe(1);

    client.disconnect();
    expect(await within(opened.closed, 'onClose')).toBe('client');
    expect(opened.stream.closed).toBe(true);
    expect(opened.stream.send({ data: 'too late' })).toBe(false);
    expect(opened.stream.comment('too late')).toBe(false);
    expect(opened.reasons).toEqual(['client']);
    expect(server.limiter.size).toBe(0);
    expect(server.registry.size).toBe(0);
    expect(opened.reply.raw.listenerCount('close')).toBe(opened.closeListenersBefore);
  });

  it("reports 'client' even when the client left before the stream opened", async () => {
    const arrived = new Queue<void>();
    const server = await startServer(
      {},
      {
        beforeOpen: (_request, reply) =>
          new Promise((resolve) => {
            reply.raw.once('close', () => resolve());
            arrived.push();
          }),
      },
    );
    const req = http.get(server.url, { agent: false });
    req.on('error', () => {});
    await arrived.next('the request at the handler');
    req.destroy();

    const opened = await server.opened.next('the stream');
    expect(opened.stream.closed).toBe(true);
    // Listeners registered after open() still hear about it.
    expect(await within(opened.closed, 'onClose')).toBe('client');
    expect(server.limiter.size).toBe(0);
    expect(server.registry.size).toBe(0);
  });

  it("cuts off a client that stops reading with 'slow', never queueing more than the bound plus one event", async () => {
    const maxBufferedBytes = 256 * 1024;
    const server = await startServer({ maxBufferedBytes });
    const client = await SseClient.connect(server.url, { read: false });
    const { stream, reply, closed } = await server.opened.next('the stream');
    const queued = recordQueue(reply.raw);

    const event = EncodedSseEvent.of({ data: 'x'.repeat(64 * 1024) });
    const sent = await sendUntilCut(stream, event);

    expect(await within(closed, 'onClose')).toBe('slow');
    expect(stream.closed).toBe(true);
    expect(sent).toBeLessThan(SEND_AT_MOST);
    expect(Math.max(...queued)).toBeGreaterThan(maxBufferedBytes);
    expect(Math.max(...queued)).toBeLessThanOrEqual(maxBufferedBytes + event.chunk.length);
    expect(server.limiter.size).toBe(0);

    // The client, reading again, finds the response cut short.
    client.res.resume();
    expect(await within(client.ended, 'the client side to close')).toEqual({ complete: false });
  });

  it('does not count what a reading client has already taken', async () => {
    const server = await startServer({ maxBufferedBytes: 256 * 1024 });
    const client = await SseClient.connect(server.url);
    const { stream } = await server.opened.next('the stream');
    const data = 'y'.repeat(64 * 1024);
    // 2 MiB in all, eight times the bound, each event read before the next is sent.
    for (let i = 0; i < 32; i++) {
      expect(stream.send({ id: String(i), data })).toBe(true);
      expect((await client.nextEvent()).id).toBe(String(i));
    }
    expect(stream.closed).toBe(false);
  });

  it('delivers a snapshot many times the bound to a client reading it', async () => {
    const server = await startServer({ maxBufferedBytes: 256 * 1024 });
    const client = await SseClient.connect(server.url);
    const { stream } = await server.opened.next('the stream');
    // 4 MiB written at once, sixteen times the bound.
    const snapshot = Array.from({ length: 64 }, (_, i) =>
      EncodedSseEvent.of({ id: String(i), data: 'z'.repeat(64 * 1024) }),
    );
    expect(stream.sendSnapshot(snapshot)).toBe(true);
    for (let i = 0; i < snapshot.length; i++) expect((await client.nextEvent()).id).toBe(String(i));
    expect(stream.closed).toBe(false);
  });

  it('ends the allowance once the snapshot is written: a client that then stops reading gets the bound', async () => {
    const maxBufferedBytes = 256 * 1024;
    const server = await startServer({ maxBufferedBytes });
    const client = await SseClient.connect(server.url);
    const { stream, reply, closed } = await server.opened.next('the stream');
    const snapshot = Array.from({ length: 32 }, (_, i) =>
      EncodedSseEvent.of({ id: String(i), data: 's'.repeat(64 * 1024) }),
    );
    stream.sendSnapshot(snapshot);
    for (let i = 0; i < snapshot.length; i++) await client.nextEvent();
    client.res.pause();
    const queued = recordQueue(reply.raw);

    const event = EncodedSseEvent.of({ data: 'x'.repeat(64 * 1024) });
    await sendUntilCut(stream, event);

    expect(await within(closed, 'onClose')).toBe('slow');
    // Not the bound plus the 2 MiB snapshot.
    expect(Math.max(...queued)).toBeLessThanOrEqual(maxBufferedBytes + event.chunk.length);
  });

  it('cuts off at the first keep-alive a client that never takes its snapshot', async () => {
    const server = await startServer({ maxBufferedBytes: 256 * 1024, keepAliveMs: 200 });
    await SseClient.connect(server.url, { read: false });
    const { stream, closed } = await server.opened.next('the stream');
    // 32 MiB, more than the kernel's socket buffers could absorb (one event, queued 512 times).
    const event = EncodedSseEvent.of({ data: 'n'.repeat(64 * 1024) });
    expect(stream.sendSnapshot(Array.from({ length: 512 }, () => event))).toBe(true);
    expect(await within(closed, 'onClose')).toBe('slow');
    expect(server.limiter.size).toBe(0);
  });

  it("close() delivers what was sent, ends the response cleanly and reports 'server'", async () => {
    const server = await startServer();
    // A keep-alive client, as browsers are: it would keep the connection open after the response.
    const agent = new http.Agent({ keepAlive: true });
    const client = await SseClient.connect(server.url, { agent });
    const opened = await server.opened.next('the stream');
    const socket = opened.request.raw.socket;
    const socketClosed = new Promise((resolve) => socket.once('close', resolve));

    opened.stream.send({ id: 'last', data: 'bye' });
    opened.stream.close();
    opened.stream.close();
    expect(opened.stream.closed).toBe(true);
    expect(opened.stream.send({ data: 'after' })).toBe(false);
    expect(await client.next()).toEqual({ comments: [], id: 'last', data: 'bye' });
    expect(await within(client.ended, 'the end of the response')).toEqual({ complete: true });
    expect(await opened.closed).toBe('server');
    expect(opened.reasons).toEqual(['server']);
    // The server closes the connection itself, so it cannot outlive the stream as an idle socket.
    await within(socketClosed, 'the server-side socket to close');
    agent.destroy();

    // Registered after the end: called once, asynchronously, with the reason.
    const late = await within(
      new Promise<SseCloseReason>((resolve) => opened.stream.onClose(resolve)),
      'late',
    );
    expect(late).toBe('server');
  });

  it('logs a throwing close listener and still runs the others', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const server = await startServer({}, { logger: pino({ level: 'error' }, sink) });
    await SseClient.connect(server.url);
    const opened = await server.opened.next('the stream');
    const after = vi.fn();
    opened.stream.onClose(() => {
      throw new Error('listener bug');
    });
    opened.stream.onClose(after);
    opened.stream.close();
    expect(after).toHaveBeenCalledWith('server');
    expect(lines.join('')).toContain('listener bug');
  });

  it('holds no timer and no listener once closed, across many streams', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const server = await startServer({ keepAliveMs: 60_000 });
    const count = 200;
    const clients = await Promise.all(Array.from({ length: count }, () => SseClient.connect(server.url)));
    const opened: Opened[] = [];
    for (let i = 0; i < count; i++) opened.push(await server.opened.next(`stream ${i}`));
    expect(server.registry.size).toBe(count);
    expect(server.limiter.size).toBe(count);

    const timers = setIntervalSpy.mock.results.map((r) => r.value as NodeJS.Timeout);
    expect(timers).toHaveLength(count);
    // unref'd: idle streams do not keep the process alive.
    expect(timers.every((t) => !t.hasRef())).toBe(true);

    // Half leave on their own, the rest are closed by the server.
    clients.slice(0, count / 2).forEach((c) => c.disconnect());
    await within(Promise.all(opened.slice(0, count / 2).map((o) => o.closed)), 'client closes');
    expect(server.registry.closeAll()).toBe(count / 2);
    await within(Promise.all(clients.map((c) => c.ended)), 'every response to end');

    expect(server.registry.size).toBe(0);
    expect(server.limiter.size).toBe(0);
    const cleared = new Set(clearIntervalSpy.mock.calls.map(([t]) => t));
    expect(timers.every((t) => cleared.has(t))).toBe(true);
    for (const o of opened) expect(o.reply.raw.listenerCount('close')).toBe(o.closeListenersBefore);
  });

  it('refuses options that would misbehave', async () => {
    const server = await startServer({ keepAliveMs: 0 });
    const res = await fetch(server.url);
    // open() threw inside the handler: an ordinary 500, nothing hijacked.
    expect(res.status).toBe(500);
    await res.body?.cancel();
  });
});

describe('SseRegistry', () => {
  it("lets app.close() finish by ending open streams with 'server'", async () => {
    const server = await startServer();
    const clients = await Promise.all([1, 2, 3].map(() => SseClient.connect(server.url)));
    const opened = await Promise.all([1, 2, 3].map((i) => server.opened.next(`stream ${i}`)));
    expect(server.registry.size).toBe(3);
    opened.forEach((o, i) => o.stream.send({ id: String(i), data: 'before shutdown' }));

    await within(server.app.close(), 'app.close()');

    for (const o of opened) {
      expect(await o.closed).toBe('server');
      expect(o.reasons).toEqual(['server']);
    }
    for (const [i, c] of clients.entries()) {
      expect(await c.next()).toEqual({ comments: [], id: String(i), data: 'before shutdown' });
      expect(await within(c.ended, 'the end of the response')).toEqual({ complete: true });
    }
    expect(server.registry.size).toBe(0);
    expect(server.limiter.size).toBe(0);
  });

  it('closes the connection of a client that stopped reading at once, not once it drains', async () => {
    const server = await startServer({ maxBufferedBytes: 1024 * 1024 });
    const client = await SseClient.connect(server.url, { read: false });
    const opened = await server.opened.next('the stream');
    const socket = opened.request.raw.socket;
    const socketClosed = new Promise((resolve) => socket.once('close', resolve));
    const event = EncodedSseEvent.of({ data: 'z'.repeat(64 * 1024) });
    // Fill the kernel's buffers until bytes stay queued in the process, short of the bound.
    for (let i = 0; i < 4096 && opened.reply.raw.writableLength === 0; i++) {
      expect(opened.stream.send(event)).toBe(true);
      await nextTurn();
    }
    expect(opened.reply.raw.writableLength).toBeGreaterThan(0);

    // Waiting for the queue to drain would wait on the client; so would shutdown.
    opened.stream.close();
    await within(socketClosed, 'the server-side socket to close');
    expect(await opened.closed).toBe('server');
    client.res.resume();
    expect(await within(client.ended, 'the client side to close')).toEqual({ complete: false });
  });

  it('ignores closed streams and counts each stream once', async () => {
    const server = await startServer();
    await SseClient.connect(server.url);
    const { stream } = await server.opened.next('the stream');
    server.registry.add(stream);
    expect(server.registry.size).toBe(1);
    stream.close();
    expect(server.registry.size).toBe(0);
    server.registry.add(stream);
    expect(server.registry.size).toBe(0);
    expect(server.registry.closeAll()).toBe(0);
  });
});

describe('ConnectionLimiter', () => {
  it('enforces the per-client limit', () => {
    const limiter = new ConnectionLimiter({ perClient: 2, total: 10 });
    const a1 = limiter.acquire('10.0.0.1');
    const a2 = limiter.acquire('10.0.0.1');
    expect(a1).toBeTypeOf('function');
    expect(a2).toBeTypeOf('function');
    expect(limiter.acquire('10.0.0.1')).toBeUndefined();
    // The IPv4-mapped form is the same client.
    expect(limiter.acquire('::ffff:10.0.0.1')).toBeUndefined();
    expect(limiter.acquire('10.0.0.2')).toBeTypeOf('function');
    expect(limiter.size).toBe(3);
    a1!();
    expect(limiter.acquire('10.0.0.1')).toBeTypeOf('function');
  });

  it('enforces the total limit', () => {
    const limiter = new ConnectionLimiter({ perClient: 5, total: 3 });
    const releases = ['a', 'b', 'c'].map((ip) => limiter.acquire(ip));
    expect(releases.every((r) => typeof r === 'function')).toBe(true);
    expect(limiter.acquire('d')).toBeUndefined();
    expect(limiter.size).toBe(3);
    releases[1]!();
    expect(limiter.size).toBe(2);
    expect(limiter.acquire('d')).toBeTypeOf('function');
  });

  it('releases idempotently', () => {
    const limiter = new ConnectionLimiter({ perClient: 1, total: 2 });
    const first = limiter.acquire('a')!;
    const other = limiter.acquire('b')!;
    first();
    first();
    expect(limiter.size).toBe(1);
    const second = limiter.acquire('a')!;
    // A stale release must not free the slot its successor holds.
    first();
    expect(limiter.size).toBe(2);
    expect(limiter.acquire('a')).toBeUndefined();
    second();
    other();
    other();
    expect(limiter.size).toBe(0);
  });

  it('rejects limits that are not positive integers', () => {
    expect(() => new ConnectionLimiter({ perClient: 0, total: 1 })).toThrow(RangeError);
    expect(() => new ConnectionLimiter({ perClient: 1, total: 1.5 })).toThrow(RangeError);
  });

  it('answers 503 ZKG_WATCH_LIMIT with Retry-After through the route', async () => {
    const server = await startServer({}, { limits: { perClient: 1, total: 10 } });
    await SseClient.connect(server.url);
    await server.opened.next('the stream');
    const res = await fetch(server.url);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ code: 'ZKG_WATCH_LIMIT', status: 503 });
  });
});
