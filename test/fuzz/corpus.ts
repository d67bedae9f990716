/**
 * The seed corpus: hostile requests every run sends first, before the generated ones, so that a
 * bounded run finds them whatever its seed (some depend on the gateway's state: a 100,000-deep
 * YAML document crashes V8's regexp compiler only once a shallower one went through the same
 * parser). Each is a case like the generated ones, replayed with `--only <index>`.
 */
import type { RawRequest } from './http.js';
import { getRequest, jsonRequest, NS, setup, SVC, ID, FUTURE, type FuzzCase, type Step } from './model.js';

const yaml = (depth: number): Step => ({
  request: {
    method: 'PUT',
    target: `/v1/config/${NS}`,
    headers: [['Content-Type', 'application/yaml']],
    body: Buffer.from(`a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`),
  },
  expect: 'any',
});

const publish = (doc: unknown, headers: [string, string][] = []): Step => ({
  request: jsonRequest('PUT', `/v1/config/${NS}`, doc, headers),
  expect: 'any',
});

const schema = (value: unknown): Step => ({
  request: jsonRequest('PUT', `/v1/config/${NS}:schema`, value),
  expect: 'any',
});

const raw = (text: string): RawRequest => ({
  method: '',
  target: '',
  headers: [],
  raw: Buffer.from(text, 'latin1'),
});

export const CORPUS: readonly FuzzCase[] = [
  {
    kind: 'corpus: YAML a: [[[...]]] 1,000 then 100,000 deep',
    family: 'document: yaml flow sequence',
    steps: [yaml(1_000), yaml(100_000), setup.read()],
  },
  {
    kind: 'corpus: ReDoS pattern ^(a+)+$ then a publish that backtracks',
    family: 'schema: ReDoS',
    steps: [
      schema({ type: 'object', properties: { a: { pattern: '^(a+)+$' } } }),
      publish({ a: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' }),
      setup.read(),
    ],
  },
  {
    kind: 'corpus: schema {"$ref":"#"} then publishes',
    family: 'schema: self-recursive',
    steps: [schema({ $ref: '#' }), publish({}), publish({ a: 1 }), setup.read(), schema({ type: 'object' })],
  },
  {
    kind: 'corpus: QUERY method',
    steps: [
      {
        request: { method: 'QUERY', target: '/v1/config', headers: [] },
        expect: 'refused',
        why: 'QUERY is no operation of the API',
      },
    ],
  },
  {
    kind: 'corpus: static file traversal',
    steps: [
      {
        request: getRequest('/docs/static/%2e%2e/package.json'),
        expect: 'refused',
        why: 'a path outside the static files',
      },
    ],
  },
  {
    kind: 'corpus: raw # in a path',
    steps: [
      {
        request: jsonRequest('PUT', '/v1/config/2#x/a', { a: 1 }),
        expect: 'refused',
        why: 'a raw # is not allowed in a request-target (the namespace would be cut to "2")',
      },
    ],
  },
  {
    kind: 'corpus: Last-Event-ID from the future',
    steps: [
      setup.publish(),
      {
        request: getRequest(`/v1/watch?ns=${NS}`, [['Last-Event-ID', FUTURE]]),
        expect: 'resume',
        why: 'a resume point the store has not reached',
      },
    ],
  },
  {
    kind: 'corpus: 16 concurrent unconditional publishes',
    steps: [
      setup.publish(),
      Array.from({ length: 16 }, (_, i): Step => ({
        request: jsonRequest('PUT', `/v1/config/${NS}`, { writer: i }),
        expect: 'success',
        why: 'an unconditional publish of a valid document, whoever else publishes at once',
      })),
      setup.read(),
    ],
  },
  {
    kind: 'corpus: 16 concurrent registrations of one instance',
    steps: [
      setup.register(),
      Array.from({ length: 16 }, (_, i): Step => ({
        request: jsonRequest('PUT', `/v1/services/${SVC}/instances/${ID}`, {
          address: '127.0.0.1',
          port: 9000 + i,
        }),
        expect: 'success',
        why: 'a valid registration, whoever else writes the same instance',
      })),
    ],
  },
  {
    kind: 'corpus: stale If-Match on a new nested namespace',
    steps: [
      {
        request: jsonRequest('PUT', `/v1/config/${NS}/a/b/c`, { a: 1 }, [['If-Match', '"5"']]),
        expect: 'refused',
        why: 'the namespace is not at version 5 (it does not exist)',
      },
    ],
  },
  {
    kind: 'corpus: malformed Content-Length',
    steps: [
      {
        request: raw(
          `PUT /v1/config/${NS} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`,
        ),
        expect: 'refused',
        why: 'invalid Content-Length',
      },
    ],
  },
  {
    kind: 'corpus: YAML alias bomb',
    family: 'document: yaml alias bomb',
    steps: [
      {
        request: {
          method: 'PUT',
          target: `/v1/config/${NS}`,
          headers: [['Content-Type', 'application/yaml']],
          body: Buffer.from(
            Array.from(
              { length: 10 },
              (_, i) =>
                `l${i}: &l${i} [${Array(10)
                  .fill(i === 0 ? '"lol"' : `*l${i - 1}`)
                  .join(', ')}]`,
            ).join('\n'),
          ),
        },
        expect: 'any',
      },
      setup.read(),
    ],
  },
];
