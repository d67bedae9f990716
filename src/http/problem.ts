import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { ERRORS, PROBLEM_TYPE_BASE, ZkgError } from '../errors.js';

/** The RFC 9457 problem document of `error`; 5xx details never leak internals. */
function problemDocument(error: ZkgError): Record<string, unknown> {
  const { status, title } = ERRORS[error.code];
  return {
    type: `${PROBLEM_TYPE_BASE}${error.code}`,
    title,
    status,
    detail: error.code === 'ZKG_INTERNAL' ? title : error.message,
    code: error.code,
    ...error.extensions,
  };
}

/** Reply with an RFC 9457 problem document. */
export function sendProblem(
  reply: FastifyReply,
  error: ZkgError,
  extra: Record<string, unknown> = {},
): FastifyReply {
  if (error.retryAfter !== undefined) void reply.header('retry-after', String(error.retryAfter));
  // RFC 6750: how to authenticate, on every 401.
  if (error.status === 401) void reply.header('www-authenticate', 'Bearer realm="zkgate"');
  return reply
    .code(error.status)
    .type('application/problem+json; charset=utf-8')
    .send({ ...problemDocument(error), ...extra });
}

/**
 * Node's HTTP parser refuses a request before fastify sees it (malformed framing, bad header
 * characters, oversized headers, a body that never finished arriving). Answer those as problem
 * documents too, on the raw socket, then close it: after a framing error nothing else on the
 * connection can be trusted.
 */
export function sendClientProblem(err: NodeJS.ErrnoException, socket: Socket): void {
  // The client is gone (reset), or Node already answered: nothing to say.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new ZkgError('ZKG_REQUEST_TIMEOUT', 'the request was not received in time')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new ZkgError('ZKG_HEADERS_TOO_LARGE', 'the request headers are larger than the limit')
        : new ZkgError(
            'ZKG_MALFORMED_REQUEST',
            `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`,
          );
  sendSocketProblem(socket, error);
}

/** A problem document written straight to a socket that is then closed. */
export function sendSocketProblem(socket: Socket, error: ZkgError): void {
  if (socket.writable) {
    const body = JSON.stringify(problemDocument(error));
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
        'Content-Type: application/problem+json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * Requests Node answers by itself unless the server listens for them: an `Expect` other than
 * `100-continue` (417 with an empty body) and `CONNECT` (the connection dropped unanswered).
 * Both get problem documents; zkgate is no proxy.
 */
export function answerOutsideFastify(server: Server): void {
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const error = new ZkgError(
      'ZKG_EXPECTATION_FAILED',
      `Expect: ${String(request.headers.expect).slice(0, 100)} is not supported; only 100-continue is`,
    );
    const body = JSON.stringify(problemDocument(error));
    response.writeHead(error.status, {
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    response.end(body);
  });
  server.on('connect', (_request: IncomingMessage, socket: Socket) => {
    sendSocketProblem(
      socket,
      new ZkgError('ZKG_METHOD_NOT_ALLOWED', 'CONNECT is not allowed: zkgate is no proxy'),
    );
  });
}
