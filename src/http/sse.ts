/**
 * Server-Sent Events transport for long-lived watch responses, written by hand on the raw Node
 * response (see {@link SseStream}). What events mean, and the `/v1/watch` route, live elsewhere.
 *
 * Memory is bounded per stream: every write is followed by a look at the bytes the socket has not
 * handed to the kernel yet, and a client that lets them pile up past `maxBufferedBytes` is cut off.
 * Nothing ever waits for 'drain', so one event can be fanned out synchronously to thousands of
 * streams. The one exception to the bound is a client's snapshot (see {@link SseStream.sendSnapshot}),
 * and only until the client has taken it.
 *
 * Compression: if response compression is ever added (e.g. @fastify/compress), it must skip
 * `text/event-stream`. A compressor buffers output until it has a block worth compressing, so
 * events and keep-alives would sit in it instead of reaching the client, and the bytes it holds
 * are invisible to the slow-consumer check.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';

/** How an {@link SseStream} behaves. */
export interface SseOptions {
  /**
   * Interval of keep-alive comments (`: keep-alive\n\n`), and the time a client has to take its
   * snapshot (see {@link SseStream.sendSnapshot}).
   */
  keepAliveMs: number;
  /**
   * Bytes queued in the socket's write buffer (`res.writableLength`) above which the client is cut
   * off as too slow. Node counts what one tick writes to a socket as queued until the kernel has
   * taken all of it, so this must exceed the largest burst one stream is sent within a single tick
   * (a batch of changes), not just the largest event. A snapshot is allowed apart.
   */
  maxBufferedBytes: number;
  /** Sent as the `retry:` field once at the start, so browsers reconnect after this many ms. Optional. */
  retryMs?: number;
}

/** One event. `data` may span lines; `id` and `event` may not. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Why a stream ended: the client went away, it read too slowly, or the server closed it. */
export type SseCloseReason = 'client' | 'slow' | 'server';

/**
 * An event encoded once to UTF-8, to fan it out to many streams: every stream then queues the
 * same buffer instead of encoding (and holding) a copy of its own.
 */
export class EncodedSseEvent {
  #chunk: Buffer | undefined;

  private constructor(
    /** The complete wire frame, blank line included. */
    readonly bytes: Buffer,
  ) {}

  /**
   * The frame as one HTTP/1.1 chunk (size line, frame, CRLF), built once: a stream on a chunked
   * response writes it to its socket in one call, where `res.write` would frame it again for
   * every stream and queue four writes each. At 10,000 streams that is most of a fan-out's cost.
   */
  get chunk(): Buffer {
    this.#chunk ??= Buffer.concat([
      Buffer.from(`${this.bytes.length.toString(16)}\r\n`, 'latin1'),
      this.bytes,
      CRLF,
    ]);
    return this.#chunk;
  }

  /** Encode `event`; throws like {@link SseStream.send} on an invalid `id` or `event`. */
  static of(event: SseEvent): EncodedSseEvent {
    return new EncodedSseEvent(Buffer.from(formatEvent(event), 'utf8'));
  }
}

const LINE_BREAK = /\r\n|\r|\n/;
const CRLF = Buffer.from('\r\n', 'latin1');
// Browsers ignore an `id` containing NUL, so it would silently not become the resume point.
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

function assertField(name: 'id' | 'event', value: string): void {
  if (typeof value !== 'string' || FORBIDDEN_IN_FIELD.test(value)) {
    throw new TypeError(`SSE ${name} must be a string without CR, LF or NUL`);
  }
}

function formatEvent(event: SseEvent): string {
  if (typeof event.data !== 'string') throw new TypeError('SSE data must be a string');
  let frame = '';
  if (event.id !== undefined) {
    assertField('id', event.id);
    frame += `id: ${event.id}\n`;
  }
  if (event.event !== undefined) {
    assertField('event', event.event);
    frame += `event: ${event.event}\n`;
  }
  // "data: " with the space: the parser strips exactly one, so data starting with a space survives.
  for (const line of event.data.split(LINE_BREAK)) frame += `data: ${line}\n`;
  return `${frame}\n`;
}

function formatComment(text: string): string {
  let frame = '';
  for (const line of text.split(LINE_BREAK)) frame += `: ${line}\n`;
  return `${frame}\n`;
}

const KEEP_ALIVE = Buffer.from(formatComment('keep-alive'), 'utf8');

/** Headers a hook may have set on the reply that must not reach an event stream. */
const DROPPED_HEADERS = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding']);

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  // no-transform: proxies must neither compress nor otherwise rewrite the stream.
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // nginx buffers proxied responses by default, which would hold events back.
  'x-accel-buffering': 'no',
} as const;

function assertPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number`);
}

// A permanent, stream-independent 'error' listener: an error emitted on a response nobody
// listens to would crash the process, and this one retains nothing. The socket's 'close', which
// every such error is followed by, is what ends the stream.
function ignoreError(): void {}

/**
 * One SSE response. `open()` hijacks the fastify reply (`reply.hijack()`), writes status 200 and
 * headers (content-type: text/event-stream; charset=utf-8, cache-control: no-cache, no-transform;
 * connection: keep-alive; x-accel-buffering: no — nginx must not buffer) and flushes them at once,
 * so the client sees the stream open before the first event. Headers hooks already set on the reply
 * (a request id, CORS) are kept, since a hijacked reply never sends them otherwise.
 *
 * Slow clients are cut off rather than buffered for (see {@link SseOptions.maxBufferedBytes}).
 * A closed stream holds no timer and no listener on the response, so nothing retains it.
 *
 * The hijacked reply bypasses fastify's `onResponse` hooks unless the stream ends by
 * {@link SseStream.close} (the only ending that finishes the response), so callers that log
 * requests should log from {@link SseStream.onClose}.
 */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #socket: Socket | null;
  readonly #log: FastifyBaseLogger;
  readonly #maxBufferedBytes: number;
  /** Bytes of the snapshot handed to the socket that the kernel has not taken yet. */
  #snapshotQueued = 0;
  /** Whether those bytes are allowed on top of the bound: until the first keep-alive. */
  #snapshotAllowed = true;
  #timer: NodeJS.Timeout | undefined;
  #listeners: Array<(reason: SseCloseReason) => void> = [];
  #closeReason: SseCloseReason | undefined;

  private constructor(request: FastifyRequest, res: ServerResponse, options: SseOptions) {
    this.#res = res;
    this.#socket = res.socket;
    this.#log = request.log;
    this.#maxBufferedBytes = options.maxBufferedBytes;
    res.on('error', ignoreError);
    // A client that left before the stream opened: no 'close' is coming any more.
    if (res.destroyed || !this.#socket || this.#socket.destroyed) {
      this.#closeReason = 'client';
      return;
    }
    res.on('close', this.#onResponseClose);
    // unref: an idle stream must not be what keeps the process alive.
    this.#timer = setInterval(this.#keepAlive, options.keepAliveMs).unref();
    if (options.retryMs !== undefined) this.#write(Buffer.from(`retry: ${options.retryMs}\n\n`, 'utf8'));
  }

  /** Hijack `reply` and start an event stream on it. Throws if the reply was already sent. */
  static open(request: FastifyRequest, reply: FastifyReply, options: SseOptions): SseStream {
    assertPositive('keepAliveMs', options.keepAliveMs);
    assertPositive('maxBufferedBytes', options.maxBufferedBytes);
    if (options.retryMs !== undefined && !(Number.isInteger(options.retryMs) && options.retryMs >= 0)) {
      throw new RangeError('retryMs must be a non-negative integer');
    }
    if (reply.sent) throw new Error('cannot open an SSE stream on a reply already sent');
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined && !DROPPED_HEADERS.has(name)) headers[name] = value;
    }
    reply.hijack();
    const res = reply.raw;
    if (!res.destroyed) {
      res.writeHead(200, { ...headers, ...SSE_HEADERS });
      res.flushHeaders();
    }
    return new SseStream(request, res, options);
  }

  /**
   * The client's resume point: the `Last-Event-ID` header, else a `lastEventId` query parameter
   * (EventSource polyfills that cannot set headers), else undefined. Empty values count as absent,
   * as browsers send no header when the last id was empty.
   */
  static lastEventId(request: FastifyRequest): string | undefined {
    const header = request.headers['last-event-id'];
    const fromHeader = Array.isArray(header) ? header[0] : header;
    if (fromHeader) return fromHeader;
    const query: unknown = request.query;
    if (query === null || typeof query !== 'object') return undefined;
    const param: unknown = (query as Record<string, unknown>)['lastEventId'];
    const fromQuery: unknown = Array.isArray(param) ? param[0] : param;
    return typeof fromQuery === 'string' && fromQuery !== '' ? fromQuery : undefined;
  }

  /** True once the stream has ended, for whatever reason. */
  get closed(): boolean {
    return this.#closeReason !== undefined;
  }

  /**
   * Write one event; multi-line data becomes several `data:` lines; `id`/`event` must not contain
   * CR, LF or NUL (throws TypeError, also on a closed stream). Returns false when the stream is
   * closed, or was just closed for being slow (the 'slow' listeners have run by then). Never
   * waits: the event is queued whatever the client's pace, within `maxBufferedBytes`.
   */
  send(event: SseEvent | EncodedSseEvent): boolean {
    return event instanceof EncodedSseEvent
      ? this.#write(event.bytes, event)
      : this.#write(Buffer.from(formatEvent(event), 'utf8'));
  }

  /**
   * Write what a client is owed on connect (the state it watches), right after `open()` and however
   * large. It is queued at once, so a client reading fine would be over `maxBufferedBytes` for the
   * size of its snapshot: what of the snapshot the kernel has not taken yet is allowed on top of
   * the bound. The allowance ends once the snapshot is written, and at the first keep-alive at the
   * latest: a client that has not taken its snapshot within a keep-alive interval is slow, and
   * must not hold it queued for the life of the stream. Returns false like {@link SseStream.send}.
   */
  sendSnapshot(events: readonly EncodedSseEvent[]): boolean {
    for (const event of events) if (!this.#write(event.bytes, event, true)) return false;
    return true;
  }

  /** Write a comment (`: text`), which clients ignore. Returns false when the stream is closed. */
  comment(text: string): boolean {
    return this.#write(Buffer.from(formatComment(text), 'utf8'));
  }

  /**
   * Call `listener` once when the stream ends for any reason: 'client' (client gone), 'slow'
   * (cut off over `maxBufferedBytes`), 'server' ({@link SseStream.close}). Listeners run
   * synchronously at that moment, possibly inside a `send()`; one registered on a stream already
   * closed runs in a microtask, so cleanup registered right after `open()` is never missed.
   * A throwing listener is logged and does not stop the others.
   */
  onClose(listener: (reason: SseCloseReason) => void): void {
    const reason = this.#closeReason;
    if (reason === undefined) this.#listeners.push(listener);
    else queueMicrotask(() => this.#notify(listener, reason));
  }

  /**
   * End the stream from the server side (reason 'server'): the response ends cleanly, then the
   * connection is closed so a keep-alive socket does not outlive it (and hold up server shutdown).
   * Idempotent.
   */
  close(): void {
    this.#finish('server');
  }

  /**
   * Queue `bytes`; `shared`, when given, is the same frame pre-framed for fan-out; `snapshot`
   * counts it in the snapshot's allowance until the kernel has taken it.
   */
  #write(bytes: Buffer, shared?: EncodedSseEvent, snapshot = false): boolean {
    if (this.#closeReason !== undefined) return false;
    // The response's own framing is bypassed only where it is HTTP/1.1 chunks (not for an
    // HTTP/1.0 client), and only once the headers are on the socket, which they are after open().
    const socket = this.#socket;
    const direct =
      shared !== undefined && this.#res.chunkedEncoding && this.#res.headersSent && socket !== null;
    const written = direct ? shared.chunk : bytes;
    const taken = snapshot ? this.#allow(written.length) : undefined;
    // Buffers, not strings: a queued string counts its UTF-16 length, not its bytes.
    if (direct) socket.write(written, taken);
    else this.#res.write(written, taken);
    if (this.#overBound()) {
      this.#finish('slow');
      return false;
    }
    return true;
  }

  /** Count `bytes` of snapshot as queued; the returned write callback counts them as taken. */
  #allow(bytes: number): () => void {
    this.#snapshotQueued += bytes;
    return () => {
      this.#snapshotQueued -= bytes;
    };
  }

  /** Whether more is queued than the bound (plus, while it lasts, the snapshot's allowance). */
  #overBound(): boolean {
    // writableLength of a response counts its socket's queue too, whoever wrote to it.
    const allowance = this.#snapshotAllowed ? this.#snapshotQueued : 0;
    return this.#res.writableLength > this.#maxBufferedBytes + allowance;
  }

  readonly #keepAlive = (): void => {
    this.#snapshotAllowed = false;
    // A client that stopped reading while no events flow is caught here rather than by a send().
    if (this.#overBound()) this.#finish('slow');
    else this.#write(KEEP_ALIVE);
  };

  readonly #onResponseClose = (): void => {
    this.#finish('client');
  };

  #finish(reason: SseCloseReason): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#res.off('close', this.#onResponseClose);
    const socket = this.#socket;
    if (reason === 'slow') {
      // Drop what is queued: waiting for it to drain is exactly what a slow client makes us do.
      socket?.destroy();
    } else if (reason === 'server' && socket && !socket.destroyed) {
      this.#res.end();
      // end() flushed to the kernel what it would take; if some is still queued the client is not
      // reading, and shutdown must not wait for it.
      if (socket.writableLength > 0) socket.destroy();
      else socket.destroySoon();
    }
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) this.#notify(listener, reason);
  }

  #notify(listener: (reason: SseCloseReason) => void, reason: SseCloseReason): void {
    try {
      listener(reason);
    } catch (err) {
      this.#log.error({ err, reason }, 'SSE close listener failed');
    }
  }
}

/**
 * The open streams of one app, so shutdown can end them. fastify cannot: its
 * `forceCloseConnections: 'idle'` leaves hijacked responses alone, and `server.close()` waits for
 * every connection.
 *
 * Call {@link SseRegistry.closeAll} from a `preClose` hook, not `onClose`: fastify runs its own
 * `server.close()` before the app's `onClose` hooks and waits for it, and it only completes once
 * the streams are gone, so an `onClose` hook would never run.
 */
export class SseRegistry {
  readonly #streams = new Set<SseStream>();

  /** Track `stream` until it closes (it removes itself then). A closed stream is ignored. */
  add(stream: SseStream): void {
    if (stream.closed || this.#streams.has(stream)) return;
    this.#streams.add(stream);
    stream.onClose(() => this.#streams.delete(stream));
  }

  /** Close every open stream with reason 'server'. Returns how many there were. */
  closeAll(): number {
    const streams = [...this.#streams];
    for (const stream of streams) stream.close();
    return streams.length;
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size;
  }
}

/**
 * Admission control for long-lived connections: per client IP and in total. Counters exist only
 * for clients holding a slot, so memory follows the open connections, not every IP ever seen.
 */
export class ConnectionLimiter {
  readonly #perClient: number;
  readonly #total: number;
  readonly #byClient = new Map<string, number>();
  #size = 0;

  constructor(limits: { perClient: number; total: number }) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    }
    this.#perClient = limits.perClient;
    this.#total = limits.total;
  }

  /**
   * A release function, or undefined when a limit is reached (the caller answers 503
   * ZKG_WATCH_LIMIT with Retry-After). Release is idempotent.
   */
  acquire(clientIp: string): (() => void) | undefined {
    // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6; count both forms as one.
    const client = clientIp.startsWith('::ffff:') && clientIp.includes('.') ? clientIp.slice(7) : clientIp;
    const held = this.#byClient.get(client) ?? 0;
    if (this.#size >= this.#total || held >= this.#perClient) return undefined;
    this.#byClient.set(client, held + 1);
    this.#size += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#size -= 1;
      const remaining = (this.#byClient.get(client) ?? 1) - 1;
      if (remaining > 0) this.#byClient.set(client, remaining);
      else this.#byClient.delete(client);
    };
  }

  /** Slots held now, across all clients. */
  get size(): number {
    return this.#size;
  }
}
