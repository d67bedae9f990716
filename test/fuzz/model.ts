/**
 * What the fuzzer sends: a case is a few steps (a setup, the fuzzed request, a follow-up read),
 * each a request and what its answer must be besides the general property. Cases set up their own
 * state under names of their own (placeholders resolved per case), so one case replays alone:
 * `npm run fuzz -- --seed S --only N`.
 */
import type { RawRequest } from './http.js';

/**
 * What a step's answer must be on top of the general property:
 * - `any`: nothing more;
 * - `success`: 2xx or 3xx (setup steps, valid concurrent publishes);
 * - `refused`: 4xx (the request breaks the OpenAPI spec or HTTP);
 * - `resume`: a watch resumed from an id the store has not reached yet must be refused or say
 *   something (a `reset` or the state) at once, not stay silent while it skips every event.
 */
export type Expect = 'any' | 'success' | 'refused' | 'resume';

export interface Step {
  readonly request: RawRequest;
  readonly expect: Expect;
  /** Why the expectation holds (e.g. `body.port: above maximum 65535`). */
  readonly why?: string;
  /** The server may close the connection without an answer (a request cut short by the client). */
  readonly mayDrop?: boolean;
}

export interface FuzzCase {
  /** What the case is about; failures are deduplicated by it. */
  readonly kind: string;
  /**
   * Cases likely to fail the same way (a crash or a hang of one stands for all); by default the
   * kind up to its first digit or parenthesis.
   */
  readonly family?: string;
  /** Steps run one after the other; an array is a group of steps sent concurrently. */
  readonly steps: ReadonlyArray<Step | readonly Step[]>;
}

/** Placeholders generated values may hold, replaced by names unique to the case. */
export const NS = '@ns@';
export const SVC = '@svc@';
export const ID = '@id@';
/** Replaced by a zxid the store has not reached (the newest logged + 10,000). */
export const FUTURE = '@future@';

export interface Names {
  readonly ns: string;
  readonly svc: string;
  readonly id: string;
  readonly future: string;
}

/** Names for case `index`: namespace `fz/c<index>`, service `fz-c<index>`, instance `i<index>`. */
export function namesFor(index: number, future: bigint): Names {
  const tag = `c${index.toString(36)}`;
  return { ns: `fz/${tag}`, svc: `fz-${tag}`, id: `i-${tag}`, future: String(future) };
}

function substitute(text: string, names: Names): string {
  return text
    .replaceAll(NS, names.ns)
    .replaceAll(SVC, names.svc)
    .replaceAll(ID, names.id)
    .replaceAll(FUTURE, names.future);
}

const MARKERS = [NS, SVC, ID, FUTURE].map((m) => Buffer.from(m, 'latin1'));

function substituteBuffer(buf: Buffer, names: Names): Buffer {
  if (buf.length > 64 * 1024 || !MARKERS.some((m) => buf.includes(m))) return buf;
  return Buffer.from(substitute(buf.toString('latin1'), names), 'latin1');
}

/** The request with its placeholders replaced. */
export function resolveRequest(request: RawRequest, names: Names): RawRequest {
  return {
    ...request,
    target: substitute(request.target, names),
    headers: request.headers.map(([name, value]) => [name, substitute(value, names)] as const),
    ...(request.body ? { body: substituteBuffer(request.body, names) } : {}),
    ...(request.raw ? { raw: substituteBuffer(request.raw, names) } : {}),
  };
}

/** A JSON request (the usual shape of setup steps and JSON-bodied operations). */
export function jsonRequest(
  method: string,
  target: string,
  value: unknown,
  extra: [string, string][] = [],
): RawRequest {
  return {
    method,
    target,
    headers: [['Content-Type', 'application/json'], ...extra],
    body: Buffer.from(JSON.stringify(value), 'utf8'),
  };
}

export function getRequest(target: string, headers: [string, string][] = []): RawRequest {
  return { method: 'GET', target, headers };
}

/** Setup steps every case may use; each must succeed. */
export const setup = {
  publish: (doc: unknown = { limit: 1, name: 'fuzz' }): Step => ({
    request: jsonRequest('PUT', `/v1/config/${NS}`, doc),
    expect: 'success',
    why: 'setup: publish a valid JSON document',
  }),
  publishYaml: (): Step => ({
    request: {
      method: 'PUT',
      target: `/v1/config/${NS}`,
      headers: [['Content-Type', 'application/yaml']],
      body: Buffer.from('limit: 1\nname: fuzz\nlist: [a, b]\n'),
    },
    expect: 'success',
    why: 'setup: publish a valid YAML document',
  }),
  schema: (schema: unknown = { type: 'object' }): Step => ({
    request: jsonRequest('PUT', `/v1/config/${NS}:schema`, schema),
    expect: 'success',
    why: 'setup: set a JSON Schema the document satisfies',
  }),
  register: (): Step => ({
    request: jsonRequest('PUT', `/v1/services/${SVC}/instances/${ID}`, {
      address: '127.0.0.1',
      port: 8080,
      metadata: { version: '1' },
    }),
    expect: 'success',
    why: 'setup: register an instance',
  }),
  /** A read after the fuzzed request: the namespace must still be served (or be absent), never a 5xx. */
  read: (): Step => ({ request: getRequest(`/v1/config/${NS}`), expect: 'any' }),
};
