/**
 * Hostile cases, beyond what the spec's schemas describe: documents built to exhaust a parser
 * (100,000-deep nesting, alias bombs, tags, huge numbers, invalid UTF-8, NULs, duplicate keys,
 * `.properties` escapes), JSON Schemas built to exhaust a validator (catastrophic backtracking,
 * self-reference, exponential `anyOf`), concurrent writers, and malformed HTTP: framing
 * (Content-Length, Transfer-Encoding), header characters and sizes, request-targets (`%2e%2e`,
 * `%2f`, `//`, a raw `#`, absolute and asterisk forms, very long ones), unknown methods, and
 * garbage or future `If-Match` / `Last-Event-ID`.
 */
import fc from 'fast-check';
import type { RawRequest } from './http.js';
import {
  FUTURE,
  getRequest,
  ID,
  jsonRequest,
  NS,
  setup,
  SVC,
  type Expect,
  type FuzzCase,
  type Step,
} from './model.js';

const DEPTHS = [1_000, 10_000, 100_000] as const;

function publish(type: string, body: Buffer | string, expect: Expect = 'any', why?: string): Step {
  return {
    request: {
      method: 'PUT',
      target: `/v1/config/${NS}`,
      headers: [['Content-Type', type]],
      body: Buffer.from(body),
    },
    expect,
    ...(why ? { why } : {}),
  };
}

function single(kind: string, step: Step): FuzzCase {
  return { kind, steps: [step] };
}

/** A document case: maybe over an existing namespace, then read back. */
function documentCase(kind: string, step: Step, existing: boolean): FuzzCase {
  return { kind, steps: [...(existing ? [setup.publish()] : []), step, setup.read()] };
}

const nested = (depth: number, open: string, close: string, inner = ''): string =>
  open.repeat(depth) + inner + close.repeat(depth);

/** Billion laughs: `levels` anchors, each a list of `width` aliases of the previous one. */
function aliasBomb(levels: number, width: number): string {
  const lines = [`l0: &l0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++)
    lines.push(
      `l${i}: &l${i} [${Array(width)
        .fill(`*l${i - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n`;
}

const hostileDocuments: fc.Arbitrary<[string, Step]> = fc.oneof(
  fc
    .constantFrom(...DEPTHS)
    .chain((depth) =>
      fc.constantFrom<[string, Step]>(
        [`json nested arrays ${depth} deep`, publish('application/json', nested(depth, '[', ']'))],
        [`json nested objects ${depth} deep`, publish('application/json', nested(depth, '{"a":', '}', '1'))],
        [`yaml flow sequence ${depth} deep`, publish('application/yaml', `a: ${nested(depth, '[', ']')}\n`)],
        [
          `yaml flow mapping ${depth} deep`,
          publish('application/yaml', `a: ${nested(depth, '{b: ', '}', '1')}\n`),
        ],
        [
          `yaml block sequence ${depth} deep`,
          publish('application/yaml', `a:\n${'- '.repeat(Math.min(depth, 50_000))}x\n`),
        ],
        [`json nested arrays ${depth} deep as text`, publish('text/plain', nested(depth, '[', ']'))],
      ),
    ),
  fc.constantFrom<[string, Step]>(
    [
      'yaml block mappings 800 deep',
      publish(
        'application/yaml',
        Array.from({ length: 800 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n',
      ),
    ],
    ['yaml alias bomb 9x9', publish('application/yaml', aliasBomb(9, 9))],
    ['yaml alias bomb 12x12', publish('application/yaml', aliasBomb(12, 12))],
    [
      'yaml alias bomb in keys',
      publish(
        'application/yaml',
        'a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n? [*f, *f, *f, *f]\n: 1\n',
      ),
    ],
    [
      'yaml merge-key alias chain',
      publish(
        'application/yaml',
        'a: &a {x: 1}\nb: &b {<<: [*a, *a, *a, *a]}\nc: &c {<<: [*b, *b, *b, *b]}\nd: {<<: [*c, *c, *c, *c]}\n',
      ),
    ],
    ['yaml self-referencing anchor', publish('application/yaml', 'a: &a [*a]\n')],
    ['yaml recursive mapping', publish('application/yaml', '&a {b: *a}\n')],
    [
      'yaml undefined alias',
      publish('application/yaml', 'a: *nope\n', 'refused', 'an alias to no anchor is malformed YAML'),
    ],
    [
      'yaml tags',
      publish(
        'application/yaml',
        'a: !!js/function "function(){}"\nb: !!python/object:os.system [ls]\nc: !foo bar\nd: !!binary aGVsbG8=\ne: !!set {x, y}\nf: !!omap [a: 1]\ng: !!timestamp 2001-12-14\nh: !!float .nan\ni: !!int 0x1F\n',
      ),
    ],
    ['yaml tag directive', publish('application/yaml', '%TAG ! tag:evil.example,2000:\n---\na: !x 1\n')],
    ['yaml multi documents', publish('application/yaml', 'a: 1\n---\nb: 2\n---\nc: 3\n')],
    [
      'yaml huge numbers',
      publish(
        'application/yaml',
        `a: 1e400\nb: ${'9'.repeat(5000)}\nc: .inf\nd: -.inf\ne: .nan\nf: 0o777777777777777777777\n`,
      ),
    ],
    ['yaml duplicate keys', publish('application/yaml', 'a: 1\na: 2\n')],
    ['yaml duplicate merge keys', publish('application/yaml', 'a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n')],
    ['yaml long key', publish('application/yaml', `${'k'.repeat(2000)}: 1\n`)],
    ['yaml complex key', publish('application/yaml', '? [a, {b: c}]\n: 1\n? {x: [y]}\n: 2\n')],
    [
      'yaml __proto__ key',
      publish('application/yaml', '__proto__: {polluted: 1}\nconstructor: {prototype: {x: 1}}\n'),
    ],
    [
      'json huge numbers',
      publish(
        'application/json',
        `{"a": 1e400, "b": -1e400, "c": ${'9'.repeat(100_000)}, "d": 1e-400, "e": -0}`,
      ),
    ],
    ['json duplicate keys', publish('application/json', '{"a": 1, "a": {"b": 2}, "a": [3]}')],
    [
      'json __proto__ key',
      publish('application/json', '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}}'),
    ],
    ['json escaped NUL', publish('application/json', '{"a\\u0000b": "\\u0000"}')],
    ['json lone surrogate escape', publish('application/json', '{"a": "\\ud800"}')],
    [
      'json raw NUL',
      publish('application/json', '{"a": "x\u0000y"}', 'refused', 'a raw control character in a JSON string'),
    ],
    [
      'json NUL after document',
      publish('application/json', '{"a": 1}\u0000', 'refused', 'bytes after the JSON value'),
    ],
    ['json BOM', publish('application/json', '\uFEFF{"a": 1}')],
    [
      'json UTF-16 body',
      publish('application/json', Buffer.from('\uFEFF{"a": 1}', 'utf16le'), 'refused', 'UTF-16 is not UTF-8'),
    ],
    [
      'json 30,000 keys',
      publish('application/json', `{${Array.from({ length: 30_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`),
    ],
    ['json long string', publish('application/json', JSON.stringify({ a: 'x'.repeat(300_000) }))],
    [
      'properties incomplete \\u escape',
      publish('text/x-java-properties', 'a=\\u12\n', 'refused', 'a malformed \\uxxxx escape'),
    ],
    [
      'properties bad \\u escape',
      publish('text/x-java-properties', 'a=\\uZZZZ\n', 'refused', 'a malformed \\uxxxx escape'),
    ],
    [
      'properties \\u at end',
      publish('text/x-java-properties', 'a=\\u', 'refused', 'a malformed \\uxxxx escape'),
    ],
    [
      'properties surrogate escapes',
      publish('text/x-java-properties', 'a=\\uD800\nb=\\uDC00\\uD800\nc=\\uFFFF\n'),
    ],
    [
      'properties continuation lines',
      publish('text/x-java-properties', 'a=b\\\n   c\\\n\\\n  d\nkey\\\n  name=v\n'),
    ],
    ['properties continuation at end', publish('text/x-java-properties', 'a=b\\')],
    [
      'properties escapes and separators',
      publish(
        'text/x-java-properties',
        'a\\ b=c\n\\:x:y\n=nokey\nnovalue\n  \t\f k  v\n! c\n#c\na\\=b=c\n\\\\=\\\\\n',
      ),
    ],
    ['properties CR-only lines', publish('text/x-java-properties', 'a=1\rb=2\r\rc=3\\\r d\r')],
    [
      'properties latin-1 bytes',
      publish(
        'text/x-java-properties',
        Buffer.from([0x61, 0x3d, 0xe9, 0x0a]),
        'refused',
        'latin-1 is not UTF-8',
      ),
    ],
    [
      'properties 20k continuation lines',
      publish('text/x-java-properties', `a=${'x\\\n'.repeat(20_000)}y\n`),
    ],
    ['text with NULs', publish('text/plain', Buffer.alloc(1000, 0))],
  ),
  fc
    .tuple(
      fc.constantFrom('application/json', 'application/yaml', 'text/x-java-properties', 'text/plain'),
      fc.constantFrom<[string, number[]]>(
        ['0xff 0xfe', [0xff, 0xfe]],
        ['overlong /', [0xc0, 0xaf]],
        ['encoded surrogate', [0xed, 0xa0, 0x80]],
        ['truncated sequence', [0xe2, 0x82]],
        ['code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
        ['lone continuation byte', [0x80]],
      ),
    )
    .map(([type, [what, bytes]]): [string, Step] => {
      const prefix = type === 'application/json' ? '{"a":"' : type === 'application/yaml' ? 'a: "' : 'a=';
      const suffix = type === 'application/json' ? '"}' : type === 'application/yaml' ? '"\n' : '\n';
      return [
        `invalid UTF-8 (${what}) in ${type}`,
        publish(
          type,
          Buffer.concat([Buffer.from(prefix), Buffer.from(bytes), Buffer.from(suffix)]),
          'refused',
          'documents must be UTF-8',
        ),
      ];
    }),
);

const documentCases: fc.Arbitrary<FuzzCase> = fc
  .tuple(hostileDocuments, fc.boolean())
  .map(([[kind, step], existing]) => documentCase(`document: ${kind}`, step, existing));

/** Patterns with catastrophic backtracking, and a subject that makes them backtrack. */
const REDOS: ReadonlyArray<[string, string]> = [
  ['^(a+)+$', `${'a'.repeat(30)}!`],
  ['^(a|a)+$', `${'a'.repeat(30)}!`],
  ['^(a|aa)+$', `${'a'.repeat(40)}!`],
  ['^(\\w+\\s?)*$', `${'ab '.repeat(16)}!`],
  ['^(.*a){25}$', 'a'.repeat(40)],
  ['(x+x+)+y', 'x'.repeat(30)],
];

const schemaCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...REDOS),
      fc.constantFrom('pattern', 'patternProperties', 'propertyNames', 'items pattern'),
      fc.constantFrom('json', 'yaml', 'schema after document'),
    )
    .map(([[pattern, subject], where, order]): FuzzCase => {
      const schema =
        where === 'pattern'
          ? { type: 'object', properties: { a: { type: 'string', pattern } } }
          : where === 'patternProperties'
            ? { type: 'object', patternProperties: { [pattern]: { type: 'string' } } }
            : where === 'propertyNames'
              ? { type: 'object', propertyNames: { pattern } }
              : { type: 'object', properties: { a: { type: 'array', items: { type: 'string', pattern } } } };
      const value =
        where === 'items pattern'
          ? { a: [subject] }
          : where === 'pattern'
            ? { a: subject }
            : { [subject]: 'x' };
      const doc =
        order === 'yaml'
          ? publish(
              'application/yaml',
              `${JSON.stringify(Object.keys(value)[0])}: ${JSON.stringify(Object.values(value)[0])}\n`,
            )
          : publish('application/json', JSON.stringify(value));
      const steps: Step[] =
        order === 'schema after document'
          ? [doc, { request: jsonRequest('PUT', `/v1/config/${NS}:schema`, schema), expect: 'any' }]
          : [{ request: jsonRequest('PUT', `/v1/config/${NS}:schema`, schema), expect: 'any' }, doc];
      return {
        kind: `schema: ReDoS ${where} then ${order}`,
        family: 'schema: ReDoS',
        steps: [...steps, setup.read()],
      };
    }),
  fc
    .constantFrom<[string, unknown, string]>(
      ['$ref #', { $ref: '#' }, '{}'],
      [
        '$ref # in a property',
        { type: 'object', properties: { a: { $ref: '#' } } },
        nested(5000, '{"a":', '}', '1'),
      ],
      ['anyOf $ref #', { anyOf: [{ $ref: '#' }] }, '{}'],
      ['allOf $ref # with type', { type: 'object', allOf: [{ $ref: '#' }] }, '{"a":1}'],
      [
        '$ref cycle through $defs',
        { $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' },
        '{}',
      ],
      ['$dynamicRef to itself', { $dynamicAnchor: 'x', anyOf: [{ $dynamicRef: '#x' }] }, '{}'],
      ['not $ref #', { not: { $ref: '#' } }, '{}'],
    )
    .map(([what, schema, doc]): FuzzCase => ({
      kind: `schema: self-recursive (${what})`,
      family: 'schema: self-recursive',
      steps: [
        { request: jsonRequest('PUT', `/v1/config/${NS}:schema`, schema), expect: 'any' },
        publish('application/json', doc),
        setup.read(),
        { request: getRequest(`/v1/config/${NS}:schema`), expect: 'any' },
        { request: { method: 'DELETE', target: `/v1/config/${NS}`, headers: [] }, expect: 'any' },
        { request: jsonRequest('PUT', `/v1/config/${NS}`, { after: true }), expect: 'any' },
      ],
    })),
  fc.constantFrom(20, 24).map((levels): FuzzCase => {
    const $defs: Record<string, unknown> = { [`d${levels}`]: { type: 'string' } };
    for (let i = 0; i < levels; i++)
      $defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    return {
      kind: 'schema: exponential anyOf over $refs',
      steps: [
        {
          request: jsonRequest('PUT', `/v1/config/${NS}:schema`, { $defs, $ref: '#/$defs/d0' }),
          expect: 'any',
        },
        { request: jsonRequest('PUT', `/v1/config/${NS}`, 1), expect: 'any' },
        setup.read(),
      ],
    };
  }),
  fc
    .constantFrom(
      [
        '10,000 properties',
        {
          type: 'object',
          properties: Object.fromEntries(
            Array.from({ length: 10_000 }, (_, i) => [`p${i}`, { type: 'integer' }]),
          ),
        },
      ],
      ['schema nested 5,000 deep', nested(5000, '{"items":', '}', '{}')],
      ['huge enum', { enum: Array.from({ length: 20_000 }, (_, i) => i) }],
      [
        'uniqueItems on a long array',
        { type: 'object', properties: { a: { type: 'array', uniqueItems: true } } },
      ],
    )
    .map(([what, schema]): FuzzCase => ({
      kind: `schema: large (${what as string})`,
      steps: [
        {
          request: {
            method: 'PUT',
            target: `/v1/config/${NS}:schema`,
            headers: [['Content-Type', 'application/json']],
            body: Buffer.from(typeof schema === 'string' ? schema : JSON.stringify(schema)),
          },
          expect: 'any',
        },
        {
          request: jsonRequest('PUT', `/v1/config/${NS}`, {
            a: Array.from({ length: 20_000 }, (_, i) => ({ i })),
          }),
          expect: 'any',
        },
        setup.read(),
      ],
    })),
);

/** Valid writes sent at once: each must succeed (writers are retried, never refused). */
const concurrentCases: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.constantFrom(2, 4, 8, 16, 16),
    fc.boolean(),
    fc.constantFrom('publish', 'publish', 'register', 'publish and schema'),
  )
  .map(([n, existing, what]): FuzzCase => {
    const writes: Step[] = Array.from({ length: n }, (_, i) => {
      if (what === 'register') {
        return {
          request: jsonRequest('PUT', `/v1/services/${SVC}/instances/${ID}`, {
            address: '127.0.0.1',
            port: 8000 + i,
          }),
          expect: 'success',
          why: 'a valid registration, whoever else writes the same instance',
        };
      }
      if (what === 'publish and schema' && i % 2 === 1) {
        return {
          request: jsonRequest('PUT', `/v1/config/${NS}:schema`, { type: 'object' }),
          expect: 'success',
          why: 'a schema every published document satisfies',
        };
      }
      return {
        request: jsonRequest('PUT', `/v1/config/${NS}`, { writer: i }),
        expect: 'success',
        why: 'an unconditional publish of a valid document, whoever else publishes at once',
      };
    });
    const before = existing ? (what === 'register' ? [setup.register()] : [setup.publish()]) : [];
    return {
      kind: `concurrent: ${n > 4 ? 'many' : 'few'} unconditional ${what}${existing ? ' over existing' : ''}`,
      steps: [...before, writes, setup.read()],
    };
  });

const CRLF = '\r\n';
const raw = (text: string | Buffer): RawRequest => ({
  method: '',
  target: '',
  headers: [],
  raw: Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'),
});
const putHead = `PUT /v1/config/${NS} HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Content-Type: application/json${CRLF}`;

/** Malformed message framing: the server must answer with a problem (or drop a request cut short). */
const framingCases: fc.Arbitrary<FuzzCase> = fc
  .constantFrom<[string, Step]>(
    [
      'Content-Length longer than the body',
      {
        request: { ...raw(`${putHead}Content-Length: 100${CRLF}${CRLF}{"a":1}`), halfClose: true },
        expect: 'any',
        mayDrop: true,
      },
    ],
    [
      'Content-Length shorter than the body',
      { request: raw(`${putHead}Content-Length: 4${CRLF}${CRLF}{"a":1}GARBAGE`), expect: 'any' },
    ],
    [
      'Content-Length negative',
      {
        request: raw(`${putHead}Content-Length: -1${CRLF}${CRLF}{}`),
        expect: 'refused',
        why: 'invalid Content-Length',
      },
    ],
    [
      'Content-Length not a number',
      {
        request: raw(`${putHead}Content-Length: abc${CRLF}${CRLF}{}`),
        expect: 'refused',
        why: 'invalid Content-Length',
      },
    ],
    [
      'Content-Length with a sign',
      {
        request: raw(`${putHead}Content-Length: +2${CRLF}${CRLF}{}`),
        expect: 'refused',
        why: 'invalid Content-Length',
      },
    ],
    [
      'Content-Length twice, different',
      {
        request: raw(`${putHead}Content-Length: 2${CRLF}Content-Length: 3${CRLF}${CRLF}{}x`),
        expect: 'refused',
        why: 'conflicting Content-Length',
      },
    ],
    [
      'Content-Length list',
      { request: raw(`${putHead}Content-Length: 2, 2${CRLF}${CRLF}{}`), expect: 'any' },
    ],
    [
      'Content-Length huge',
      {
        request: {
          ...raw(`${putHead}Content-Length: 99999999999999999999${CRLF}${CRLF}{}`),
          halfClose: true,
        },
        expect: 'refused',
        why: 'Content-Length beyond any limit',
        mayDrop: true,
      },
    ],
    [
      'Content-Length above the body limit',
      {
        request: { ...raw(`${putHead}Content-Length: 10000000${CRLF}${CRLF}{}`), halfClose: true },
        expect: 'refused',
        why: 'larger than the body limit',
        mayDrop: true,
      },
    ],
    [
      'Content-Length and Transfer-Encoding',
      {
        request: raw(
          `${putHead}Content-Length: 2${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'refused',
        why: 'both Content-Length and Transfer-Encoding (request smuggling)',
      },
    ],
    [
      'chunked body',
      {
        request: raw(
          `${putHead}Transfer-Encoding: chunked${CRLF}${CRLF}3${CRLF}{"a${CRLF}4${CRLF}":1}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'any',
      },
    ],
    [
      'chunk size not hex',
      {
        request: raw(`${putHead}Transfer-Encoding: chunked${CRLF}${CRLF}zz${CRLF}{}${CRLF}0${CRLF}${CRLF}`),
        expect: 'refused',
        why: 'malformed chunk size',
      },
    ],
    [
      'chunk size overflow',
      {
        request: raw(
          `${putHead}Transfer-Encoding: chunked${CRLF}${CRLF}ffffffffffffffffffff${CRLF}{}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'refused',
        why: 'chunk size overflow',
      },
    ],
    [
      'chunk longer than its size',
      {
        request: raw(`${putHead}Transfer-Encoding: chunked${CRLF}${CRLF}1${CRLF}{}${CRLF}0${CRLF}${CRLF}`),
        expect: 'refused',
        why: 'chunk data longer than declared',
      },
    ],
    [
      'chunked without last chunk',
      {
        request: {
          ...raw(`${putHead}Transfer-Encoding: chunked${CRLF}${CRLF}2${CRLF}{}${CRLF}`),
          halfClose: true,
        },
        expect: 'any',
        mayDrop: true,
      },
    ],
    [
      'chunk extension garbage',
      {
        request: raw(
          `${putHead}Transfer-Encoding: chunked${CRLF}${CRLF}2;${'x'.repeat(10_000)}${CRLF}{}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'any',
      },
    ],
    [
      'Transfer-Encoding gzip, chunked',
      {
        request: raw(
          `${putHead}Transfer-Encoding: gzip, chunked${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'refused',
        why: 'a gzip coding the gateway does not decode',
      },
    ],
    [
      'Transfer-Encoding chunked, gzip',
      {
        request: raw(
          `${putHead}Transfer-Encoding: chunked, gzip${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'refused',
        why: 'chunked must be the last coding',
      },
    ],
    [
      'Transfer-Encoding unknown',
      {
        request: raw(`${putHead}Transfer-Encoding: xchunked${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`),
        expect: 'refused',
        why: 'an unknown transfer coding',
      },
    ],
    [
      'Transfer-Encoding twice',
      {
        request: raw(
          `${putHead}Transfer-Encoding: chunked${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`,
        ),
        expect: 'any',
      },
    ],
    [
      'Transfer-Encoding with space before colon',
      {
        request: raw(`${putHead}Transfer-Encoding : chunked${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`),
        expect: 'refused',
        why: 'whitespace between field name and colon',
      },
    ],
    [
      'Content-Encoding gzip on a plain body',
      {
        request: raw(`${putHead}Content-Encoding: gzip${CRLF}Content-Length: 2${CRLF}${CRLF}{}`),
        expect: 'any',
      },
    ],
    [
      'Expect 100-continue',
      {
        request: raw(`${putHead}Expect: 100-continue${CRLF}Content-Length: 2${CRLF}${CRLF}{}`),
        expect: 'any',
      },
    ],
    [
      'Expect garbage',
      {
        request: raw(`${putHead}Expect: garbage${CRLF}Content-Length: 2${CRLF}${CRLF}{}`),
        expect: 'refused',
        why: 'an expectation the server cannot meet',
      },
    ],
  )
  .map(([kind, step]) => single(`http framing: ${kind}`, step));

const get = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}${extra}Connection: close${CRLF}${CRLF}`;

/** Header characters and sizes. */
const headerCases: fc.Arbitrary<FuzzCase> = fc
  .constantFrom<[string, Step]>(
    [
      'control character in a header value',
      {
        request: raw(get('/healthz', `X-A: a\x01b${CRLF}`)),
        expect: 'refused',
        why: 'a control character in a field value',
      },
    ],
    [
      'DEL in a header value',
      { request: raw(get('/healthz', `X-A: a\x7fb${CRLF}`)), expect: 'refused', why: 'DEL in a field value' },
    ],
    [
      'NUL in a header value',
      { request: raw(get('/healthz', `X-A: a\x00b${CRLF}`)), expect: 'refused', why: 'NUL in a field value' },
    ],
    [
      'bare CR in a header value',
      { request: raw(get('/healthz', `X-A: a\rb${CRLF}`)), expect: 'refused', why: 'a bare CR' },
    ],
    ['obs-text in a header value', { request: raw(get('/healthz', `X-A: caf\xe9${CRLF}`)), expect: 'any' }],
    [
      'obsolete line folding',
      { request: raw(get('/healthz', `X-A: a${CRLF} b${CRLF}`)), expect: 'refused', why: 'obs-fold' },
    ],
    [
      'space in a header name',
      { request: raw(get('/healthz', `X A: b${CRLF}`)), expect: 'refused', why: 'a space in a field name' },
    ],
    [
      'header line without colon',
      {
        request: raw(get('/healthz', `garbage${CRLF}`)),
        expect: 'refused',
        why: 'a field line without a colon',
      },
    ],
    [
      'empty header name',
      { request: raw(get('/healthz', `: b${CRLF}`)), expect: 'refused', why: 'an empty field name' },
    ],
    [
      'non-token header name',
      {
        request: raw(get('/healthz', `X(A): b${CRLF}`)),
        expect: 'refused',
        why: 'a field name that is not a token',
      },
    ],
    [
      'bare LF line endings',
      { request: raw(`GET /healthz HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n`), expect: 'any' },
    ],
    [
      'no Host header',
      {
        request: raw(`GET /healthz HTTP/1.1${CRLF}Connection: close${CRLF}${CRLF}`),
        expect: 'refused',
        why: 'HTTP/1.1 without Host',
      },
    ],
    [
      'two Host headers',
      {
        request: raw(get('/healthz', `Host: evil.example${CRLF}`)),
        expect: 'refused',
        why: 'two Host fields',
      },
    ],
    [
      'one 20 KiB header',
      {
        request: raw(get('/healthz', `X-A: ${'a'.repeat(20 * 1024)}${CRLF}`)),
        expect: 'refused',
        why: 'header section above the 16 KiB limit',
      },
    ],
    [
      '2,000 headers',
      {
        request: raw(get('/healthz', Array.from({ length: 2000 }, (_, i) => `X-${i}: v${CRLF}`).join(''))),
        expect: 'any',
      },
    ],
    [
      'huge If-Match',
      {
        request: {
          method: 'PUT',
          target: `/v1/config/${NS}`,
          headers: [
            ['Content-Type', 'application/json'],
            ['If-Match', `"${'9'.repeat(8000)}"`],
          ],
          body: Buffer.from('{}'),
        },
        expect: 'refused',
        why: 'If-Match is not a version',
      },
    ],
    [
      'If-Match list',
      {
        request: {
          method: 'PUT',
          target: `/v1/config/${NS}`,
          headers: [
            ['Content-Type', 'application/json'],
            ['If-Match', '"1", "2"'],
          ],
          body: Buffer.from('{}'),
        },
        expect: 'any',
      },
    ],
    [
      'If-Match on DELETE garbage',
      {
        request: { method: 'DELETE', target: `/v1/config/${NS}`, headers: [['If-Match', 'x\xff\xfe']] },
        expect: 'refused',
        why: 'If-Match is not a version',
      },
    ],
    [
      'X-Zkgate-Comment with CRLF-encoded injection',
      {
        request: {
          method: 'PUT',
          target: `/v1/config/${NS}`,
          headers: [
            ['Content-Type', 'application/json'],
            ['X-Zkgate-Comment', '%0d%0aX-Evil:%201'],
          ],
          body: Buffer.from('{}'),
        },
        expect: 'any',
      },
    ],
    ['HTTP/1.0 request', { request: raw(`GET /healthz HTTP/1.0${CRLF}${CRLF}`), expect: 'any' }],
    // A server may answer these 400 or 505, or serve them as HTTP/1.1: only the general property.
    [
      'HTTP/2.0 request line',
      { request: raw(`GET /healthz HTTP/2.0${CRLF}Host: a${CRLF}${CRLF}`), expect: 'any' },
    ],
    [
      'HTTP/9.9 request line',
      { request: raw(`GET /healthz HTTP/9.9${CRLF}Host: a${CRLF}${CRLF}`), expect: 'any' },
    ],
    [
      'HTTP/2 preface',
      { request: raw(`PRI * HTTP/2.0${CRLF}${CRLF}SM${CRLF}${CRLF}`), expect: 'any', mayDrop: true },
    ],
    [
      'lower-case method',
      {
        request: raw(`get /healthz HTTP/1.1${CRLF}Host: a${CRLF}${CRLF}`),
        expect: 'refused',
        why: 'methods are case-sensitive tokens',
      },
    ],
    [
      'garbage before the request line',
      { request: raw(`\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03`), expect: 'any', mayDrop: true },
    ],
    [
      'empty request line',
      { request: { ...raw(`${CRLF}${CRLF}${CRLF}`), halfClose: true }, expect: 'any', mayDrop: true },
    ],
  )
  .map(([kind, step]) => single(`http headers: ${kind}`, step));

/** Request-targets and methods. */
const targetCases: fc.Arbitrary<FuzzCase> = fc
  .oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom<[string, Step]>(
        [
          'GET /docs/static/%2e%2e/package.json',
          {
            request: getRequest('/docs/static/%2e%2e/package.json'),
            expect: 'refused',
            why: 'a path outside the static files',
          },
        ],
        [
          'GET /docs/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
          {
            request: getRequest('/docs/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd'),
            expect: 'refused',
            why: 'a path outside the static files',
          },
        ],
        [
          'GET /docs/static/..%2fpackage.json',
          {
            request: getRequest('/docs/static/..%2fpackage.json'),
            expect: 'refused',
            why: 'a path outside the static files',
          },
        ],
        [
          'GET /docs/static/../package.json',
          {
            request: getRequest('/docs/static/../package.json'),
            expect: 'refused',
            why: 'a path outside the static files',
          },
        ],
        [
          'GET /docs/static/%252e%252e/package.json',
          {
            request: getRequest('/docs/static/%252e%252e/package.json'),
            expect: 'refused',
            why: 'a path outside the static files',
          },
        ],
        [
          'GET /docs/static/%c0%ae%c0%ae/package.json',
          {
            request: getRequest('/docs/static/%c0%ae%c0%ae/package.json'),
            expect: 'refused',
            why: 'a path outside the static files',
          },
        ],
        [
          'GET /docs/%2e%2e/openapi.json',
          { request: getRequest('/docs/%2e%2e/openapi.json'), expect: 'any' },
        ],
        ['GET /docs//static/index.html', { request: getRequest('/docs//static/index.html'), expect: 'any' }],
        [
          'GET /docs/static/index.html%00.js',
          {
            request: getRequest('/docs/static/index.html%00.js'),
            expect: 'refused',
            why: 'NUL in a file name',
          },
        ],
        ['GET //v1/config', { request: getRequest('//v1/config'), expect: 'any' }],
        ['GET /v1//config', { request: getRequest('/v1//config'), expect: 'any' }],
        ['GET /v1/config/', { request: getRequest('/v1/config/'), expect: 'any' }],
        [
          'PUT /v1/config/{ns}/%2e%2e/%2e%2e/x',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}/%2e%2e/%2e%2e/x`, {}),
            expect: 'refused',
            why: 'namespace segment ..',
          },
        ],
        [
          'PUT /v1/config/{ns}%2fx',
          { request: jsonRequest('PUT', `/v1/config/${NS}%2fx`, {}), expect: 'any' },
        ],
        [
          'PUT /v1/config/{ns}#x/a (raw #)',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}#x/a`, {}),
            expect: 'refused',
            why: 'a raw # is not allowed in a request-target',
          },
        ],
        [
          'PUT /v1/config/{ns}/x#',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}/x#`, {}),
            expect: 'refused',
            why: 'a raw # is not allowed in a request-target',
          },
        ],
        [
          'PUT /v1/config/{ns}:schema#x',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}:schema#x`, { type: 'object' }),
            expect: 'refused',
            why: 'a raw # is not allowed in a request-target',
          },
        ],
        [
          'PUT /v1/services/{svc}#x/instances/{id}',
          {
            request: jsonRequest('PUT', `/v1/services/${SVC}#x/instances/${ID}`, {
              address: '127.0.0.1',
              port: 1,
            }),
            expect: 'refused',
            why: 'a raw # is not allowed in a request-target',
          },
        ],
        ['GET /healthz#x', { request: getRequest('/healthz#x'), expect: 'any' }],
        [
          'PUT /v1/config/{ns}%00',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}%00`, {}),
            expect: 'refused',
            why: 'NUL in a namespace',
          },
        ],
        [
          'PUT /v1/config/{ns};x=1',
          {
            request: jsonRequest('PUT', `/v1/config/${NS};x=1`, {}),
            expect: 'refused',
            why: '; in a namespace',
          },
        ],
        [
          'PUT /v1/config/{ns} with raw space',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}/a b`, {}),
            expect: 'refused',
            why: 'a raw space in a request-target',
          },
        ],
        [
          'PUT /v1/config/{ns} with raw UTF-8',
          {
            request: {
              ...jsonRequest('PUT', '', {}),
              target: Buffer.from(`/v1/config/${NS}/ä`, 'utf8').toString('latin1'),
            },
            expect: 'refused',
            why: 'a non-ASCII namespace',
          },
        ],
        [
          'PUT /v1/config/{ns}?x (query on a publish)',
          {
            request: jsonRequest('PUT', `/v1/config/${NS}?x=1`, {}),
            expect: 'refused',
            why: 'a publish takes no query parameter',
          },
        ],
        ['GET absolute-form', { request: getRequest('http://127.0.0.1/v1/config'), expect: 'any' }],
        [
          'GET absolute-form other host',
          { request: getRequest('http://evil.example/healthz'), expect: 'any' },
        ],
        [
          'GET asterisk-form',
          { request: getRequest('*'), expect: 'refused', why: 'asterisk-form is for OPTIONS only' },
        ],
        [
          'GET target without slash',
          { request: getRequest('v1/config'), expect: 'refused', why: 'origin-form must start with /' },
        ],
        ['GET /v1/config?prefix=%zz', { request: getRequest('/v1/config?prefix=%zz'), expect: 'any' }],
        [
          'GET /v1/config?prefix repeated 1,000 times',
          {
            request: getRequest(`/v1/config?${'prefix=a&'.repeat(1000)}`),
            expect: 'refused',
            why: 'prefix is one string',
          },
        ],
        [
          'GET /v1/watch?ns repeated 1,001 times',
          {
            request: getRequest(`/v1/watch?${`ns=${NS}&`.repeat(1001)}`),
            expect: 'refused',
            why: 'more than 1000 ns (maxItems)',
          },
        ],
        [
          'GET /v1/config?__proto__[a]=1',
          {
            request: getRequest('/v1/config?__proto__[a]=1&constructor[prototype][b]=1'),
            expect: 'refused',
            why: 'unknown query parameters',
          },
        ],
        [
          'GET /v1/services/{svc}/instances/../../x',
          { request: getRequest(`/v1/services/${SVC}/instances/../../x`), expect: 'any' },
        ],
        ['GET /%', { request: getRequest('/%'), expect: 'refused', why: 'a lone % in the path' }],
        [
          'GET /v1/config/%',
          { request: getRequest('/v1/config/%'), expect: 'refused', why: 'a lone % in the path' },
        ],
      ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(2_000, 8_000, 15_000, 17_000, 64_000, 100_000).chain((length) =>
        fc.constantFrom<[string, Step]>(
          [
            `GET /v1/config/<${length} chars>`,
            {
              request: getRequest(`/v1/config/${'a'.repeat(length)}`),
              expect: 'refused',
              why: 'a namespace longer than 8 x 128',
            },
          ],
          [
            `GET /v1/config?prefix=<${length} chars>`,
            {
              request: getRequest(`/v1/config?prefix=${'a'.repeat(length)}`),
              expect: 'refused',
              why: 'prefix longer than 1100 (maxLength)',
            },
          ],
          [
            `GET /v1/services/<${length} chars>/instances`,
            {
              request: getRequest(`/v1/services/${'s'.repeat(length)}/instances`),
              expect: 'refused',
              why: 'a service name longer than 255',
            },
          ],
          [
            `PUT /v1/config/{ns}/<${length} chars of segments>`,
            {
              request: jsonRequest('PUT', `/v1/config/${NS}${'/a'.repeat(length / 2)}`, {}),
              expect: 'refused',
              why: 'more than 8 segments',
            },
          ],
        ),
      ),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            'QUERY',
            'PROPFIND',
            'PROPPATCH',
            'MKCOL',
            'COPY',
            'MOVE',
            'LOCK',
            'UNLOCK',
            'SEARCH',
            'PURGE',
            'REPORT',
            'MKCALENDAR',
            'LINK',
            'ACL',
            'BIND',
            'SUBSCRIBE',
            'M-SEARCH',
            'FOO',
            'TRACE',
            'CONNECT',
          ),
          fc.constantFrom(
            '/v1/config',
            `/v1/config/${NS}`,
            '/healthz',
            `/v1/services/${SVC}/instances/${ID}`,
            '/docs',
            '/',
          ),
          fc.boolean(),
        )
        .map(([method, target, withBody]): [string, Step] => [
          `${method} request`,
          {
            request: {
              method,
              target,
              headers: withBody ? [['Content-Type', 'application/json']] : [],
              ...(withBody ? { body: Buffer.from('{"q":1}') } : {}),
            },
            expect: 'refused',
            why: `${method} is no operation of the API`,
          },
        ]),
    },
  )
  .map(([kind, step]) => single(`http target: ${kind}`, step));

/** Conditional headers and resume points: garbage, or ahead of the store. */
const conditionalCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom<[string, string, Expect]>(
        ['from the future', FUTURE, 'resume'],
        ['beyond 2^64', '99999999999999999999', 'resume'],
        ['at 2^63', '9223372036854775808', 'resume'],
        ['negative', '-1', 'any'],
        ['garbage', 'abc', 'any'],
        ['hex', '0x10', 'any'],
        ['empty', '', 'any'],
        ['21 digits', '123456789012345678901', 'any'],
        ['non-ASCII', '\xe9\xe9', 'any'],
        ['zero', '0', 'any'],
      ),
      fc.constantFrom('header', 'query'),
      fc.constantFrom(`ns=${NS}`, `service=${SVC}`, 'prefix=fz/', `ns=${NS}&service=${SVC}`),
      fc.boolean(),
    )
    .map(([[what, id, expect], how, subscription, existing]): FuzzCase => {
      const query =
        how === 'query' ? `&lastEventId=${encodeURIComponent(id).replace('%40future%40', FUTURE)}` : '';
      const watch: Step = {
        request: getRequest(
          `/v1/watch?${subscription}${query}`,
          how === 'header' ? [['Last-Event-ID', id]] : [],
        ),
        expect,
        ...(expect === 'resume' ? { why: 'a resume point the store has not reached' } : {}),
      };
      return {
        kind: `watch: Last-Event-ID ${what} (${how})`,
        steps: [...(existing ? [setup.publish(), setup.register()] : []), watch],
      };
    }),
  fc
    .tuple(
      fc.constantFrom(
        '"1"',
        '"0"',
        '"99"',
        '*',
        'W/"1"',
        '"abc"',
        'garbage',
        '',
        ' "1" ',
        '"1"garbage',
        `"${'1'.repeat(16)}"`,
      ),
      fc.constantFrom('PUT', 'DELETE', 'POST rollback'),
      fc.boolean(),
    )
    .map(([ifMatch, method, existing]): FuzzCase => {
      const request: RawRequest =
        method === 'PUT'
          ? jsonRequest('PUT', `/v1/config/${NS}`, { v: 2 }, [['If-Match', ifMatch]])
          : method === 'DELETE'
            ? { method: 'DELETE', target: `/v1/config/${NS}`, headers: [['If-Match', ifMatch]] }
            : jsonRequest('POST', `/v1/config/${NS}:rollback`, { version: 1 }, [['If-Match', ifMatch]]);
      return {
        kind: `conditional: If-Match on ${method}${existing ? ' (existing)' : ''}`,
        steps: [...(existing ? [setup.publish()] : []), { request, expect: 'any' }, setup.read()],
      };
    }),
);

/** Every hostile case, by family. */
export const hostileCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  { arbitrary: documentCases, weight: 5 },
  { arbitrary: schemaCases, weight: 3 },
  { arbitrary: concurrentCases, weight: 2 },
  { arbitrary: framingCases, weight: 3 },
  { arbitrary: headerCases, weight: 3 },
  { arbitrary: targetCases, weight: 4 },
  { arbitrary: conditionalCases, weight: 3 },
);
