/**
 * Cases generated from `openapi/openapi.json`, one arbitrary per operation: its path, query and
 * header parameters and its body, each valid (biased to the boundaries of its schema) or, now and
 * then, invalid; a step with an invalid part must be refused (4xx). Operations on a namespace,
 * service or instance first create it (half of the time), so that the fuzzed request meets state,
 * and a namespace is read back afterwards.
 *
 * The spec gives the shape; a few parameters carry their format only in their description (the
 * namespace, `If-Match`), and some are worth sampling at their edges by hand (a long-poll's
 * `wait`), so their values come from {@link PARAMETER_VALUES}. A query parameter the operation
 * does not declare is refused, like any other invalid part.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import type { RawRequest } from './http.js';
import { ID, NS, SVC, FUTURE, setup, type Expect, type FuzzCase, type Step } from './model.js';
import { invalidValue, SchemaSet, validValue, type JsonSchema } from './schema-arbitrary.js';

export interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

export interface Operation {
  readonly method: string;
  readonly path: string;
  readonly parameters: readonly Parameter[];
  /** Media type -> schema, when the operation takes a body. */
  readonly body: Readonly<Record<string, JsonSchema>> | undefined;
  /** Whether the spec says the body may not be left out. */
  readonly bodyRequired: boolean;
  readonly responses: readonly string[];
}

interface OpenApi {
  paths: Record<
    string,
    Record<string, { parameters?: Parameter[]; requestBody?: unknown; responses: object }>
  >;
  components?: { schemas?: Record<string, JsonSchema> };
}

export const SPEC_PATH = new URL('../../openapi/openapi.json', import.meta.url);

export function loadSpec(): { operations: Operation[]; schemas: SchemaSet } {
  const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as OpenApi;
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const body = op.requestBody as
        { required?: boolean; content?: Record<string, { schema: JsonSchema }> } | undefined;
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        body: body?.content
          ? Object.fromEntries(Object.entries(body.content).map(([type, c]) => [type, c.schema]))
          : undefined,
        bodyRequired: body?.required === true,
        responses: Object.keys(op.responses),
      });
    }
  }
  return { operations, schemas: new SchemaSet(spec) };
}

/** A rendered part of a request: its text, and the rule it breaks if it is invalid. */
interface Part {
  readonly text: string;
  readonly invalid?: string;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Valid namespaces: the case's own, deeper under it, or at the boundaries (8 segments, 128 chars). */
const validNamespace: fc.Arbitrary<Part> = fc.oneof(
  { arbitrary: fc.constant({ text: NS }), weight: 6 },
  {
    arbitrary: fc
      .array(fc.stringMatching(SEGMENT, { size: 'xsmall' }), { minLength: 1, maxLength: 6 })
      .map((segs) => ({ text: [NS, ...segs].join('/') })),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(
      { text: `${NS}/a/b/c/d/e/f` },
      { text: `${NS}/${'x'.repeat(128)}` },
      { text: `${NS}/a.b_c-d` },
      { text: `${NS}/0` },
    ),
    weight: 1,
  },
);

/** Namespaces the spec's rule refuses; some are percent-encoded the way a client would send them. */
const invalidNamespace: fc.Arbitrary<Part> = fc
  .constantFrom(
    [`${NS}/a/b/c/d/e/f/g`, '9 segments'],
    [`${NS}/${'x'.repeat(129)}`, 'segment of 129 characters'],
    [`${NS}//a`, 'empty segment'],
    [`${NS}/`, 'trailing slash'],
    [`${NS}/.hidden`, 'segment starting with .'],
    [`${NS}/-a`, 'segment starting with -'],
    [`${NS}/_a`, 'segment starting with _'],
    [`${NS}/..`, 'segment ..'],
    [`${NS}/%2e%2e`, 'segment %2e%2e (..)'],
    [`${NS}/.`, 'segment .'],
    [`${NS}/a%20b`, 'space in segment'],
    [`${NS}/a%00b`, 'NUL in segment'],
    [`${NS}/a%23b`, '%23 (#) in segment'],
    [`${NS}/%C3%A4`, 'non-ASCII segment'],
    [`${NS}/a%2Fb%2F..`, '%2F and .. in segment'],
    [`${NS}/a:b`, 'colon in a segment (sub-resource syntax)'],
    [`${NS}/a@b`, '@ in segment'],
    [`${NS}/%`, 'lone %'],
    [`${NS}/%zz`, 'bad percent escape'],
    [`${NS}/%C0%AE%C0%AE`, 'overlong UTF-8 for ..'],
    [`${NS}/a%E2%80%AEb`, 'right-to-left override'],
  )
  .map(([text, why]) => ({ text: text as string, invalid: `namespace: ${why as string}` }));

const validName = (placeholder: string): fc.Arbitrary<Part> =>
  fc.oneof(
    { arbitrary: fc.constant({ text: placeholder }), weight: 6 },
    {
      arbitrary: fc
        .stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,40}$/, { size: 'xsmall' })
        .map((s) => ({ text: encodeURIComponent(s) })),
      weight: 2,
    },
    { arbitrary: fc.constant({ text: `${placeholder}-${'n'.repeat(200)}` }), weight: 1 },
  );

const invalidName = (placeholder: string): fc.Arbitrary<Part> =>
  fc
    .constantFrom(
      ['n'.repeat(256), 'longer than 255'],
      ['..', '..'],
      ['.', '.'],
      ['%2e%2e', '%2e%2e (..)'],
      ['a%2Fb', '%2F (/)'],
      ['a%00b', 'NUL'],
      ['%01x', 'control character'],
      ['%F0%9F%92%A9', 'emoji'],
      ['%ED%A0%80', 'lone surrogate (invalid UTF-8)'],
      ['%', 'lone %'],
      ['%zz', 'bad percent escape'],
    )
    .map(([text, why]) => ({
      text: text as string,
      invalid: `${placeholder.slice(1, -1)} name: ${why as string}`,
    }));

/** Percent-encodes a query value, keeping the case's placeholders. */
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%40(ns|svc|id|future)%40/g, '@$1@');
}

/** Values for parameters whose format the spec states only in prose. */
const PARAMETER_VALUES: Readonly<
  Record<string, { valid: fc.Arbitrary<string>; invalid?: fc.Arbitrary<string> }>
> = {
  wait: {
    valid: fc.constantFrom('0', '0ms', '1ms', '200ms', '1s', '999999999ms', '1', '1h', '1d'),
    invalid: fc.constantFrom('-1s', '1y', 'abc', '1.5s', ' 1s', '1e3', '0x10', '9999999999s', '1m30s', 'ms'),
  },
  index: {
    // Mostly indexes already passed: a long-poll on a future one holds for ZKGATE_LONGPOLL_MAX_WAIT_MS.
    valid: fc.oneof(
      { arbitrary: fc.constantFrom('0', '1'), weight: 6 },
      { arbitrary: fc.constantFrom('18446744073709551615', '99999999999999999999'), weight: 1 },
      { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 40n }).map(String), weight: 1 },
    ),
    invalid: fc.constantFrom('-1', 'abc', '1.0', '0x1', '123456789012345678901', ' 1'),
  },
  lastEventId: {
    valid: fc.constantFrom('0', '1', FUTURE),
    invalid: fc.constantFrom('-1', 'abc', '123456789012345678901', '1e9', ' 1'),
  },
  'If-Match': {
    valid: fc.constantFrom('"1"', '*', 'W/"1"', '"2"', '"999999999999999"'),
    invalid: fc.constantFrom(
      'garbage',
      '"-1"',
      '"1.5"',
      '"abc"',
      '""',
      '"1", "2"',
      '"9999999999999999999999"',
      'W/',
      '**',
    ),
  },
  'If-None-Match': { valid: fc.constantFrom('*', '"1"', 'W/"1"', '"1", "2"', 'garbage') },
  'X-Zkgate-Author': {
    valid: fc.oneof(
      fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(s)),
      fc.constantFrom('%E0%A4%A', '%', 'a%zzb', 'x'.repeat(5000), '%C3%A4%00'),
    ),
  },
  'X-Zkgate-Comment': {
    valid: fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
      fc.constantFrom('%E0%A4%A', '%ED%A0%80', 'x'.repeat(5000)),
    ),
  },
  since: {
    valid: fc.constantFrom(
      '0',
      '1',
      '99999999999999999999',
      '1970-01-01T00:00:00Z',
      '2025-06-01T12:30:00.123+02:00',
    ),
    invalid: fc.constantFrom(
      'yesterday',
      '-1',
      '1.5',
      '2025-06-01',
      '2025-13-01T00:00:00Z',
      '123456789012345678901',
    ),
  },
  limit: {
    valid: fc.constantFrom('1', '2', '20', '1000', '9007199254740991'),
    invalid: fc.constantFrom('0', '-1', 'abc', '1.5'),
  },
  version: {
    valid: fc.constantFrom('1', '2', '3'),
    invalid: fc.constantFrom('0', '-1', 'abc', '1.5', '01x'),
  },
  ns: { valid: fc.constantFrom(NS, `${NS}/sub`, 'fz/none') },
  prefix: { valid: fc.constantFrom('', 'fz/', NS, 'fz/none/') },
  service: { valid: fc.constantFrom(SVC, 'fz-none') },
};

function paramPart(
  set: SchemaSet,
  p: Parameter,
): { valid: fc.Arbitrary<Part>; invalid?: fc.Arbitrary<Part> } {
  if (p.in === 'path' && p.name === 'namespace') return { valid: validNamespace, invalid: invalidNamespace };
  if (p.in === 'path' && p.name === 'service') return { valid: validName(SVC), invalid: invalidName(SVC) };
  if (p.in === 'path' && p.name === 'id') return { valid: validName(ID), invalid: invalidName(ID) };
  const encode = p.in === 'header' ? (s: string) => s : encodeQueryValue;
  const known = PARAMETER_VALUES[p.name];
  const fromSchema = p.schema.anyOf ? { ...p.schema, anyOf: [p.schema.anyOf[0] as JsonSchema] } : p.schema;
  const valid = known
    ? known.valid.map((text): Part => ({ text: encode(text) }))
    : validValue(set, fromSchema).map((v): Part => ({ text: encode(String(v)) }));
  const refusable =
    fromSchema.enum !== undefined ||
    fromSchema.pattern !== undefined ||
    fromSchema.minimum !== undefined ||
    fromSchema.maxLength !== undefined ||
    fromSchema.minLength !== undefined;
  const invalid = known?.invalid
    ? known.invalid.map((text): Part => ({
        text: encode(text),
        invalid: `${p.name}: ${JSON.stringify(text)}`,
      }))
    : refusable
      ? invalidValue(set, fromSchema)
          .filter((v) => typeof v.value === 'string' || typeof v.value === 'number')
          // A query or header value is text: 7 is a fine string, "7" a fine integer.
          .filter((v) => !set.accepts(fromSchema, asParameter(fromSchema, String(v.value))))
          .map((v): Part => ({ text: encode(String(v.value)), invalid: `${p.name}: ${v.why}` }))
      : undefined;
  return invalid ? { valid, invalid } : { valid };
}

/** A parameter's text as the server reads it for its schema (numbers for numeric types). */
function asParameter(schema: JsonSchema, text: string): unknown {
  const numeric = schema.type === 'integer' || schema.type === 'number';
  return numeric && /^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$/i.test(text) ? Number(text) : text;
}

/** A part that is valid most of the time. */
function maybeInvalid(
  part: { valid: fc.Arbitrary<Part>; invalid?: fc.Arbitrary<Part> },
  weight = 1,
): fc.Arbitrary<Part> {
  return part.invalid
    ? fc.oneof({ arbitrary: part.valid, weight: 8 }, { arbitrary: part.invalid, weight })
    : part.valid;
}

/** Documents per media type of `PUT /v1/config/{namespace}`, valid or malformed in their format. */
const configBodies: Record<string, { valid: fc.Arbitrary<string>; malformed: fc.Arbitrary<string> }> = {
  'application/json': {
    valid: fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.constantFrom(
        '{"limit": 20}',
        '[]',
        '0',
        '"s"',
        'null',
        ' {"a":1} ',
        '{"a":1,"a":2}',
        '{"__proto__":{"x":1}}',
      ),
    ),
    malformed: fc.constantFrom(
      '',
      '{',
      '{"a":}',
      "{'a':1}",
      '[1,]',
      'NaN',
      '{"a":1}x',
      '\u0000',
      '{"a":"\u0001"}',
      '01',
    ),
  },
  'application/yaml': {
    valid: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => toYaml(v)),
      fc.constantFrom('a: 1\n', '- a\n- b\n', '---\na: 1\n', 'a: !!str 1\n', 'a: &x 1\nb: *x\n', ''),
    ),
    malformed: fc.constantFrom(
      'a: [',
      'a: b: c',
      '- a\nb: 1',
      '"unterminated',
      'a:\n\t- b',
      '? [\n',
      '*undefined\n',
      '%YAML 9.9\n---\na: 1',
    ),
  },
  'text/x-java-properties': {
    valid: fc.oneof(
      fc
        .dictionary(fc.stringMatching(/^[a-z][a-z0-9.]{0,10}$/), fc.string({ maxLength: 20 }), { maxKeys: 5 })
        .map((d) =>
          Object.entries(d)
            .map(([k, v]) => `${k}=${v.replace(/[\\\n\r]/g, '')}`)
            .join('\n'),
        ),
      fc.constantFrom('a=1\nb=2\n', '# comment\n! comment\na : 1\n', 'a=\\u0041\n', 'a=b\\\n  c\n', ''),
    ),
    malformed: fc.constantFrom('a=\\u12', 'a=\\uZZZZ', 'a=\\u', '\\u00'),
  },
  'text/plain': {
    valid: fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('', 'hello\n', '\u0000', 'x'.repeat(4096)),
    ),
    malformed: fc.constant('\uFFFF'),
  },
};

/** Content types other than the spec's four (parameters, aliases, unknowns). */
const contentTypeVariants = fc.constantFrom(
  ['application/json; charset=utf-8', 'application/json'],
  ['application/merge-patch+json', 'application/json'],
  ['APPLICATION/JSON', 'application/json'],
  ['application/x-yaml', 'application/yaml'],
  ['text/yaml', 'application/yaml'],
  ['text/properties', 'text/x-java-properties'],
  ['text/plain; charset=us-ascii', 'text/plain'],
  ['application/json; charset=latin1', undefined],
  ['application/json; charset=utf-16', undefined],
  ['application/xml', undefined],
  ['multipart/form-data; boundary=x', undefined],
  ['application/x-www-form-urlencoded', undefined],
  ['', undefined],
  ['application/', undefined],
  ['/json', undefined],
  ['application/json;;;', undefined],
  ['application/json, text/plain', undefined],
  ['*/*', undefined],
  [`application/${'x'.repeat(2000)}`, undefined],
) as fc.Arbitrary<[string, string | undefined]>;

interface BodyPart {
  readonly headers: [string, string][];
  readonly body: Buffer | undefined;
  readonly invalid?: string;
}

function configDocumentBody(): fc.Arbitrary<BodyPart> {
  const ofType = (type: string, declared: string): fc.Arbitrary<BodyPart> => {
    const bodies = configBodies[type]!;
    return fc.oneof(
      {
        arbitrary: bodies.valid.map((text): BodyPart => ({
          headers: [['Content-Type', declared]],
          body: Buffer.from(text),
        })),
        weight: 6,
      },
      {
        arbitrary: bodies.malformed.map((text): BodyPart => ({
          headers: [['Content-Type', declared]],
          body: Buffer.from(text),
          // Text has no syntax; its "malformed" sample is merely odd.
          ...(type === 'text/plain' ? {} : { invalid: `body: malformed ${type}` }),
        })),
        weight: 2,
      },
    );
  };
  const types = Object.keys(configBodies);
  return fc.oneof(
    { arbitrary: fc.constantFrom(...types).chain((t) => ofType(t, t)), weight: 8 },
    {
      arbitrary: contentTypeVariants.chain(([declared, as]) =>
        as
          ? ofType(as, declared)
          : configBodies['application/json']!.valid.map((text): BodyPart => ({
              headers: declared === '' ? [] : [['Content-Type', declared]],
              body: Buffer.from(text),
              invalid: `Content-Type ${JSON.stringify(declared.slice(0, 40))} is not a document format`,
            })),
      ),
      weight: 2,
    },
  );
}

/** JSON Schemas for `PUT {ns}:schema`: what the spec allows (an object) is any schema at all. */
const schemaDocuments: fc.Arbitrary<BodyPart> = fc
  .oneof(
    {
      arbitrary: fc.constantFrom<[unknown, string | undefined]>(
        [{ type: 'object' }, undefined],
        [
          { type: 'object', required: ['limit'], properties: { limit: { type: 'integer', maximum: 100 } } },
          undefined,
        ],
        [{}, undefined],
        [{ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' }, undefined],
        [{ type: 'object', additionalProperties: false }, undefined],
        [{ type: 'object', properties: { name: { type: 'string', pattern: '^[a-z]+$' } } }, undefined],
        [{ type: 'object', properties: { a: { format: 'email' } } }, undefined],
        [{ type: 'foo' }, undefined],
        [{ type: 'object', properties: { a: { pattern: '(' } } }, undefined],
        [{ $ref: 'http://127.0.0.1:1/schema.json' }, undefined],
        [{ $ref: '#/$defs/missing' }, undefined],
        [{ type: 'string', maxLength: 1e308 }, undefined],
        [{ not: {} }, undefined],
        [[], 'schema must be an object'],
        ['{"type":"object"}', 'schema must be an object'],
        [1, 'schema must be an object'],
        [null, 'schema must be an object'],
      ),
      weight: 3,
    },
    {
      arbitrary: fc
        .record(
          {
            type: fc.constantFrom('object', 'string', 'array', 'number'),
            minProperties: fc.integer({ min: 0, max: 3 }),
            maxLength: fc.integer({ min: 0, max: 100 }),
          },
          { requiredKeys: ['type'] },
        )
        .map((s): [unknown, string | undefined] => [s, undefined]),
      weight: 1,
    },
  )
  .map(([schema, invalid]) => ({
    headers: [['Content-Type', 'application/json']],
    body: Buffer.from(JSON.stringify(schema)),
    ...(invalid ? { invalid } : {}),
  }));

function jsonBody(set: SchemaSet, schema: JsonSchema, required: boolean): fc.Arbitrary<BodyPart> {
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value) ?? 'null');
  return fc.oneof(
    {
      arbitrary: validValue(set, schema).map((v): BodyPart => ({
        headers: [['Content-Type', 'application/json']],
        body: json(v),
      })),
      weight: 6,
    },
    {
      arbitrary: invalidValue(set, schema).map((v): BodyPart => ({
        headers: [['Content-Type', 'application/json']],
        body: json(v.value),
        invalid: `body: ${v.why}`,
      })),
      weight: 3,
    },
    {
      arbitrary: fc
        .constantFrom(
          ['', 'empty body'],
          ['{', 'malformed JSON'],
          ['{"a":1', 'malformed JSON'],
          ['{"port": 1e999}', undefined],
          ['\u0000', 'malformed JSON'],
        )
        .map(([text, invalid]): BodyPart => ({
          headers: [['Content-Type', 'application/json']],
          body: Buffer.from(text as string),
          ...(invalid ? { invalid: `body: ${invalid as string}` } : {}),
        })),
      weight: 1,
    },
    {
      arbitrary: validValue(set, schema).map((v): BodyPart => ({
        headers: [['Content-Type', 'text/plain']],
        body: json(v),
        invalid: 'Content-Type text/plain where JSON is required',
      })),
      weight: 1,
    },
    {
      arbitrary: fc.constant<BodyPart>({
        headers: [],
        body: undefined,
        ...(required ? { invalid: 'no body where one is required' } : {}),
      }),
      weight: 1,
    },
  );
}

function bodyPart(set: SchemaSet, op: Operation): fc.Arbitrary<BodyPart> | undefined {
  if (!op.body) return undefined;
  if (op.path === '/v1/config/{namespace}') return configDocumentBody();
  if (op.path === '/v1/config/{namespace}:schema') return schemaDocuments;
  const schema = op.body['application/json'];
  return schema ? jsonBody(set, schema, op.bodyRequired) : undefined;
}

/** What state an operation should meet: nothing, a namespace (with a schema), an instance. */
function setupFor(op: Operation): fc.Arbitrary<Step[]> {
  if (op.path.startsWith('/v1/config/{namespace}')) {
    return fc.constantFrom<Step[]>(
      [],
      [setup.publish()],
      [setup.publishYaml()],
      [setup.publish(), setup.publish({ limit: 2 })],
      [setup.publish(), setup.schema({ type: 'object', properties: { limit: { type: 'integer' } } })],
    );
  }
  if (op.path.includes('{service}') || op.path === '/v1/services' || op.path === '/v1/watch')
    return fc.constantFrom<Step[]>([], [setup.register()], [setup.register()]);
  return fc.constant([]);
}

const METHODS_INSTEAD = ['PATCH', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'TRACE'];

/** One operation's cases. */
export function operationCases(
  set: SchemaSet,
  op: Operation,
  methodsOfPath: readonly string[],
): fc.Arbitrary<FuzzCase> {
  const params = op.parameters.map((p) => ({ p, part: maybeInvalid(paramPart(set, p)) }));
  const optionalPresence = op.parameters.map((p) =>
    p.required || p.in === 'path' ? fc.constant(true) : fc.boolean(),
  );
  const body = bodyPart(set, op);
  const method = fc.oneof(
    { arbitrary: fc.constant({ method: op.method, invalid: undefined as string | undefined }), weight: 12 },
    {
      arbitrary: fc
        .constantFrom(...(op.method === 'GET' ? ['HEAD', ...METHODS_INSTEAD] : METHODS_INSTEAD))
        .map((m) => ({
          method: m,
          // HEAD is GET without a body; a method the spec does not list for the path is not allowed.
          invalid:
            m === 'HEAD' || methodsOfPath.includes(m) ? undefined : `${m} is not an operation of ${op.path}`,
        })),
      weight: 1,
    },
  );
  // Parameters no operation declares (or `index` twice, or empty): refused.
  const extraQuery = fc.oneof(
    { arbitrary: fc.constant(''), weight: 8 },
    {
      arbitrary: fc.constantFrom(
        'unknown=1',
        '__proto__[x]=1',
        'constructor=1',
        'a=%zz',
        'index',
        '=&&=',
        'x=',
      ),
      weight: 1,
    },
  );
  return fc
    .record({
      setup: setupFor(op),
      method,
      parts: fc.tuple(...params.map((x) => x.part), fc.constant(null)),
      present: fc.tuple(...optionalPresence, fc.constant(true)),
      body: body ?? fc.constant(undefined),
      extraQuery,
    })
    .map(({ setup: before, method: m, parts, present, body: b, extraQuery: extra }) => {
      let path = op.path;
      const query: string[] = [];
      const headers: [string, string][] = [];
      const invalid: string[] = [];
      // Under another method the operation's parameters are foreign: only the method is judged.
      const ownParameters = m.method === op.method || m.method === 'HEAD';
      op.parameters.forEach((p, i) => {
        const part = parts[i] as Part;
        if (!present[i]) return;
        if (part.invalid && ownParameters) invalid.push(part.invalid);
        if (p.in === 'path') path = path.replace(`{${p.name}}`, part.text);
        else if (p.in === 'query') query.push(`${p.name}=${part.text}`);
        else headers.push([p.name, part.text]);
      });
      // A resume from a zxid the store has not reached: `resume` expectations apply.
      const resumeFromFuture = op.path === '/v1/watch' && query.some((q) => q === `lastEventId=${FUTURE}`);
      if (extra) {
        query.push(extra);
        invalid.push(`query: ${JSON.stringify(extra)} is undeclared, repeated or empty`);
      }
      if (b?.invalid && ownParameters) invalid.push(b.invalid);
      if (m.invalid) invalid.push(m.invalid);
      const target = query.length > 0 ? `${path}?${query.join('&')}` : path;
      const request: RawRequest = {
        method: m.method,
        target,
        headers: [...headers, ...(b?.headers ?? [])],
        ...(b?.body ? { body: b.body } : {}),
      };
      const expect: Expect = invalid.length > 0 ? 'refused' : resumeFromFuture ? 'resume' : 'any';
      const variant = invalid.length > 0 ? `invalid ${invalid[0]!.split(':')[0]}` : 'valid';
      const steps: Step[] = [
        ...before,
        { request, expect, ...(invalid.length ? { why: invalid.join('; ') } : {}) },
      ];
      if (op.path.startsWith('/v1/config/{namespace}') && op.method !== 'GET') steps.push(setup.read());
      const kind = `${op.method} ${op.path}${m.method !== op.method ? ` as ${m.method}` : ''} [${variant}]`;
      return { kind, steps };
    });
}
