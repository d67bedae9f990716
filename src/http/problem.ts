import type { FastifyReply } from 'fastify';
import { ERRORS, PROBLEM_TYPE_BASE, type ZkgError } from '../errors.js';

/** Reply with an RFC 9457 problem document; 5xx details never leak internals. */
export function sendProblem(
  reply: FastifyReply,
  error: ZkgError,
  extra: Record<string, unknown> = {},
): FastifyReply {
  const { status, title } = ERRORS[error.code];
  const detail = error.code === 'ZKG_INTERNAL' ? title : error.message;
  if (error.retryAfter !== undefined) void reply.header('retry-after', String(error.retryAfter));
  return reply
    .code(status)
    .type('application/problem+json; charset=utf-8')
    .send({
      type: `${PROBLEM_TYPE_BASE}${error.code}`,
      title,
      status,
      detail,
      code: error.code,
      ...error.extensions,
      ...extra,
    });
}
