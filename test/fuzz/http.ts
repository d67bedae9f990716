/**
 * One HTTP/1.1 exchange over a raw loopback socket. Every fuzz request goes this way, well-formed
 * or not: the bytes sent are exactly the bytes a failure report prints (a reproducer is
 * `printf '<bytes>' | nc 127.0.0.1 <port>`), and malformed framing (Content-Length mismatches,
 * broken Transfer-Encoding, control characters in headers, unknown methods, `#` in a path) is
 * sent as is, where an HTTP client library would refuse or repair it.
 *
 * The reply is parsed here: status line, headers, a body framed by Content-Length, chunked
 * transfer coding or the end of the connection, and further pipelined responses after it. An
 * event stream is read for a short window, then the connection is dropped.
 */
import { createConnection } from 'node:net';

/** A request as the fuzzer describes it. */
export interface RawRequest {
  readonly method: string;
  /** The request-target, sent verbatim (no encoding is applied). */
  readonly target: string;
  /** Header lines, sent verbatim and in order (latin-1). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer;
  /** No Content-Length is added for the body (the case sets its own framing, or none). */
  readonly noContentLength?: boolean;
  /** The whole request as bytes, instead of serialising the fields above. */
  readonly raw?: Buffer;
  /** Close the sending side after the request (a truncated body must not wait for more). */
  readonly halfClose?: boolean;
}

export interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** For `text/event-stream`: the events read within the window (comments left out). */
  readonly events?: readonly SseEvent[];
}

export type Outcome =
  /** Every response ended and the server closed the connection (or the stream window ended). */
  | 'complete'
  /** The server closed the connection before one whole response. */
  | 'closed'
  /** Nothing (or not everything) arrived before the deadline. */
  | 'timeout'
  /** The connection could not be made. */
  | 'refused';

export interface Exchange {
  readonly outcome: Outcome;
  readonly responses: readonly HttpResponse[];
  readonly ms: number;
  readonly error?: string;
}

export interface ExchangeOptions {
  readonly port: number;
  readonly deadlineMs: number;
  /** How long an event stream is read before the connection is dropped. */
  readonly sseWindowMs: number;
}

/**
 * After a whole response on a connection the server keeps open (a raw request without
 * `Connection: close`), how long to wait for another (pipelined) one before calling it complete.
 */
const KEEP_ALIVE_IDLE_MS = 150;

/** An HTTP/1.x request line, the first line of a raw request that has one. */
const REQUEST_LINE = /^[!-~]+ [^ ]+ HTTP\/1\.[0-9]$/;

/**
 * `request` with `headers` added (the management token, say), unless it has a header of that name
 * already: first among its header lines, or, in a raw request, right after its request line. Raw
 * bytes without an HTTP/1.x request line (garbage, HTTP/2's preface, a TLS hello) are left as they
 * are.
 */
export function withHeaders(request: RawRequest, headers: Readonly<Record<string, string>>): RawRequest {
  const named = (name: string): boolean =>
    request.headers.some(([own]) => own.toLowerCase() === name.toLowerCase());
  if (!request.raw) {
    const added = Object.entries(headers).filter(([name]) => !named(name));
    return added.length === 0 ? request : { ...request, headers: [...added, ...request.headers] };
  }
  const lineEnd = request.raw.indexOf('\r\n');
  if (lineEnd < 0 || !REQUEST_LINE.test(request.raw.subarray(0, lineEnd).toString('latin1'))) return request;
  const headEnd = request.raw.indexOf('\r\n\r\n');
  const head = request.raw
    .subarray(0, headEnd < 0 ? request.raw.length : headEnd)
    .toString('latin1')
    .toLowerCase();
  const added = Object.entries(headers).filter(([name]) => !head.includes(`\r\n${name.toLowerCase()}:`));
  if (added.length === 0) return request;
  const lines = Buffer.from(added.map(([name, value]) => `${name}: ${value}\r\n`).join(''), 'latin1');
  const at = lineEnd + 2;
  return {
    ...request,
    raw: Buffer.concat([request.raw.subarray(0, at), lines, request.raw.subarray(at)]),
  };
}

/** The bytes sent for a request (also what a failure report prints). */
export function serialize(request: RawRequest): Buffer {
  if (request.raw) return request.raw;
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  const declared = request.headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (request.body && !declared && !request.noContentLength)
    lines.push(`Content-Length: ${request.body.length}`);
  if (!request.headers.some(([name]) => /^connection$/i.test(name))) lines.push('Connection: close');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return request.body ? Buffer.concat([head, request.body]) : head;
}

/** Sends one request and reads every response to it until the server closes the connection. */
export function exchange(request: RawRequest, options: ExchangeOptions): Promise<Exchange> {
  const started = performance.now();
  const bytes = serialize(request);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let sseTimer: NodeJS.Timeout | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    const socket = createConnection({ host: '127.0.0.1', port: options.port });
    const finish = (outcome: Outcome | 'auto', error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(sseTimer);
      clearTimeout(idleTimer);
      socket.destroy();
      const parsed = parseResponses(Buffer.concat(chunks), request.method === 'HEAD', outcome === 'auto');
      const result: Outcome = outcome === 'auto' ? (parsed.complete ? 'complete' : 'closed') : outcome;
      resolve({
        outcome: result,
        responses: parsed.responses,
        ms: Math.round(performance.now() - started),
        ...(error === undefined ? {} : { error }),
      });
    };
    const deadline = setTimeout(() => finish('timeout'), options.deadlineMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (request.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks);
      // An event stream never ends by itself: read it for a window, then call it complete.
      if (sseTimer === undefined && isEventStreamHead(received)) {
        sseTimer = setTimeout(() => finish('complete'), options.sseWindowMs);
      }
      if (sseTimer === undefined) {
        clearTimeout(idleTimer);
        if (parseResponses(received, request.method === 'HEAD', false).complete) {
          idleTimer = setTimeout(() => finish('complete'), KEEP_ALIVE_IDLE_MS);
        }
      }
    });
    socket.on('end', () => finish('auto'));
    socket.on('close', () => finish('auto'));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish('refused', err.message);
      // A reset after (or instead of) the response: judge by what arrived.
      else finish('auto', err.message);
    });
  });
}

function isEventStreamHead(buf: Buffer): boolean {
  const end = buf.indexOf('\r\n\r\n');
  return end >= 0 && /\r\ncontent-type:\s*text\/event-stream/i.test(buf.subarray(0, end).toString('latin1'));
}

/**
 * The responses in `buf`. `complete` is false when the last one is cut short. When `closed`,
 * a response without framing extends to the end of the connection.
 */
export function parseResponses(
  buf: Buffer,
  head: boolean,
  closed: boolean,
): { responses: HttpResponse[]; complete: boolean } {
  const responses: HttpResponse[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const end = buf.indexOf('\r\n\r\n', offset);
    if (end < 0) return { responses, complete: false };
    const lines = buf.subarray(offset, end).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/1\.[01] ([0-9]{3})/.exec(lines[0] ?? '');
    if (!statusLine) return { responses, complete: false };
    const status = Number(statusLine[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart;
      continue;
    }
    const eventStream = /^text\/event-stream/i.test(headers['content-type'] ?? '');
    let body: Buffer;
    let complete = true;
    if (head || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunked = dechunk(buf, bodyStart);
      body = chunked.body;
      bodyStart = chunked.end;
      // A stream is read for a window: what arrived is what counts.
      complete = chunked.complete || eventStream;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = buf.subarray(bodyStart, bodyStart + length);
      complete = body.length === length;
      bodyStart += length;
    } else {
      body = buf.subarray(bodyStart);
      complete = closed || eventStream;
      bodyStart = buf.length;
    }
    responses.push({ status, headers, body, ...(eventStream ? { events: parseEvents(body) } : {}) });
    if (!complete) return { responses, complete: false };
    offset = bodyStart;
  }
  return { responses, complete: responses.length > 0 };
}

function dechunk(buf: Buffer, start: number): { body: Buffer; end: number; complete: boolean } {
  const parts: Buffer[] = [];
  let offset = start;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', offset);
    if (lineEnd < 0) return { body: Buffer.concat(parts), end: buf.length, complete: false };
    const size = parseInt(buf.subarray(offset, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), end: buf.length, complete: false };
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const trailerEnd = buf.indexOf('\r\n', dataStart);
      return {
        body: Buffer.concat(parts),
        end: trailerEnd < 0 ? buf.length : trailerEnd + 2,
        complete: true,
      };
    }
    if (dataStart + size > buf.length) {
      parts.push(buf.subarray(dataStart));
      return { body: Buffer.concat(parts), end: buf.length, complete: false };
    }
    parts.push(buf.subarray(dataStart, dataStart + size));
    offset = dataStart + size + 2;
  }
}

/** Server-Sent Events as the WHATWG parser reads them (comments dropped, no-data events dropped). */
export function parseEvents(body: Buffer): SseEvent[] {
  const events: SseEvent[] = [];
  let event = '';
  let id: string | undefined;
  let data: string[] = [];
  for (const line of body.toString('utf8').split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) events.push({ event: event || 'message', id, data: data.join('\n') });
      event = '';
      id = undefined;
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return events;
}
