/**
 * Who made a request, as the services record it: the author of a release and the subject of an
 * audit record come from here, never from a header the client chose.
 */
import type { FastifyRequest } from 'fastify';

export interface Actor {
  /** The token's accessor id; `anonymous` without a token, `auth-off` while auth is off. */
  readonly accessor: string;
  /** The token's description (who it was issued to). */
  readonly description: string;
  /** The client's address (X-Forwarded-For only from trusted proxies). */
  readonly address: string;
  /** The request id, as in the logs. */
  readonly requestId: string;
}

/** The actor of work the gateway does on its own (the reaper, bootstrap). */
export function systemActor(what: string): Actor {
  return { accessor: 'system', description: what, address: '', requestId: '' };
}

/**
 * The actor of an HTTP request. Until requests are authenticated, everyone is `anonymous`; the
 * address and request id are already the request's own.
 */
export function actorOf(request: FastifyRequest): Actor {
  return { accessor: 'anonymous', description: '', address: request.ip, requestId: request.id };
}
