/**
 * JSON Schema validation against hostile schemas and documents: patterns run in linear time,
 * references that loop at one instance location are refused, validation work is bounded, and
 * a schema that cannot be used is a client error, never a crash or a 500.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SCHEMA_DEPTH } from '../../src/config/limits.js';
import { schemaGraph } from '../../src/config/schema-graph.js';
import { SchemaValidator, type JsonSchema } from '../../src/config/schema.js';
import { ZkgError } from '../../src/errors.js';
import { thrown } from '../support/thrown.js';

/** The detail of the ZKG_SCHEMA_INVALID error compiling `schema` throws. */
function refused(schema: unknown): string {
  const err = thrown(() => new SchemaValidator().compile(schema));
  expect(err.code).toBe('ZKG_SCHEMA_INVALID');
  expect(err.status).toBe(400);
  return err.message;
}

/** Validate, returning the violations (empty when valid). */
function violations(schema: JsonSchema, value: unknown, validator = new SchemaValidator()): unknown[] {
  try {
    validator.check(schema, value);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ZkgError);
    expect((err as ZkgError).code).toBe('ZKG_SCHEMA_VIOLATION');
    return (err as ZkgError).extensions?.['errors'] as unknown[];
  }
}

/** Milliseconds `fn` takes. */
function timed(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

describe('patterns', () => {
  it('match in linear time: ^(a+)+$ against 30 characters and a mismatch (minutes with backtracking)', () => {
    const schema = { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } };
    let found: unknown[] = [];
    const ms = timed(() => {
      found = violations(schema, { a: `${'a'.repeat(30)}!` });
    });
    expect(found).toEqual([expect.objectContaining({ instancePath: '/a', keyword: 'pattern' })]);
    expect(violations(schema, { a: 'a'.repeat(100_000) })).toEqual([]);
    expect(ms).toBeLessThan(5_000);
  });

  it('run patternProperties and additionalProperties in linear time too', () => {
    const schema = { patternProperties: { '^(a|aa)+$': { type: 'integer' } }, additionalProperties: false };
    const key = `${'a'.repeat(40)}!`;
    const ms = timed(() => {
      expect(violations(schema, { [key]: 1, aaaa: 'x' })).toEqual([
        expect.objectContaining({ keyword: 'additionalProperties' }),
        expect.objectContaining({ instancePath: '/aaaa', keyword: 'type' }),
      ]);
    });
    expect(ms).toBeLessThan(5_000);
  });

  it('accept ECMAScript spellings RE2 has under another name', () => {
    const schema = {
      properties: {
        ascii: { pattern: '^[\\u0000-\\u007f]*$' },
        year: { pattern: '^(?<year>\\d{4})$' },
        letters: { pattern: '^\\p{L}+$' },
        slash: { pattern: '^a\\/b$' },
      },
    };
    expect(violations(schema, { ascii: 'abc', year: '2024', letters: 'héllo', slash: 'a/b' })).toEqual([]);
    expect(violations(schema, { ascii: 'é', year: '24', letters: 'a1', slash: 'ab' })).toHaveLength(4);
  });

  it('refuse, naming the pattern, what RE2 cannot run: lookaround and backreferences', () => {
    expect(refused({ properties: { a: { pattern: '^(?=.*[A-Z])' } } })).toContain('pattern "^(?=.*[A-Z])"');
    expect(refused({ patternProperties: { '(a)\\1': {} } })).toContain('pattern "(a)\\\\1"');
    expect(refused({ pattern: '(?<!a)b' })).toContain('not supported (RE2 syntax');
  });
});

describe('references that loop at one instance location', () => {
  it.each([
    ['$ref to the root', { $ref: '#' }, '# → #'],
    ['allOf', { allOf: [{ $ref: '#' }] }, '# → #/allOf/0 → #'],
    ['anyOf after a branch that ends', { anyOf: [{ type: 'string' }, { $ref: '#' }] }, '# → #/anyOf/1 → #'],
    ['oneOf', { oneOf: [{ $ref: '#' }] }, '# → #/oneOf/0 → #'],
    ['not', { not: { $ref: '#' } }, '# → #/not → #'],
    ['then', { if: { type: 'object' }, then: { $ref: '#' } }, '# → #/then → #'],
    ['else', { if: false, else: { $ref: '#' } }, '# → #/else → #'],
    ['dependentSchemas', { dependentSchemas: { a: { $ref: '#' } } }, '# → #/dependentSchemas/a → #'],
    ['draft-07 dependencies', { dependencies: { a: { $ref: '#' }, b: ['c'] } }, '# → #/dependencies/a → #'],
    [
      'a cycle of $defs reached through properties',
      {
        $defs: { a: { $ref: '#/$defs/b' }, b: { allOf: [{ $ref: '#/$defs/a' }] } },
        properties: { x: { $ref: '#/$defs/a' } },
      },
      '#/$defs/a → #/$defs/b → #/$defs/b/allOf/0 → #/$defs/a',
    ],
    [
      '$anchor',
      { $defs: { a: { $anchor: 'A', not: { $ref: '#A' } } }, $ref: '#A' },
      '#/$defs/a → #/$defs/a/not → #/$defs/a',
    ],
    ['$dynamicRef', { $dynamicAnchor: 'node', anyOf: [{ $dynamicRef: '#node' }] }, '# → #/anyOf/0 → #'],
    ['$recursiveRef', { $recursiveAnchor: true, allOf: [{ $recursiveRef: '#' }] }, '# → #/allOf/0 → #'],
    [
      'a nested $id resource',
      {
        $defs: { a: { $id: 'a.json', $defs: { b: { $ref: 'a.json' } }, $ref: '#/$defs/b' } },
        $ref: 'a.json',
      },
      '#/$defs/a → #/$defs/a/$defs/b → #/$defs/a',
    ],
    [
      'a JSON pointer with escapes',
      { $defs: { 'a/b~c': { $ref: '#/$defs/a~1b~0c' } }, $ref: '#/$defs/a~1b~0c' },
      '#/$defs/a~1b~0c → #/$defs/a~1b~0c',
    ],
    [
      'a pointer into a keyword ajv does not apply',
      { 'x-defs': { a: { $ref: '#/x-defs/a' } }, $ref: '#/x-defs/a' },
      '#/x-defs/a → #/x-defs/a',
    ],
  ])('are refused: %s', (_what, schema, cycle) => {
    expect(refused(schema)).toBe(
      `the schema refers back to itself without descending into the instance, so validation would never end: ${cycle}`,
    );
  });

  it.each([
    [
      'a tree through properties',
      { type: 'object', properties: { child: { $ref: '#' }, name: { type: 'string' } } },
    ],
    ['a list through items', { anyOf: [{ type: 'integer' }, { type: 'array', items: { $ref: '#' } }] }],
    ['prefixItems and contains', { prefixItems: [{ $ref: '#' }], contains: { $ref: '#' } }],
    ['a map through additionalProperties', { type: 'object', additionalProperties: { $ref: '#' } }],
    ['patternProperties', { patternProperties: { '^x': { $ref: '#' } } }],
    [
      'unevaluatedProperties and unevaluatedItems',
      { unevaluatedProperties: { $ref: '#' }, unevaluatedItems: { $ref: '#' } },
    ],
    ['propertyNames', { propertyNames: { $ref: '#' } }],
    ['a cycle in $defs nothing refers to', { $defs: { a: { $ref: '#/$defs/a' } }, type: 'object' }],
    ['a $ref-looking default', { default: { $ref: '#' }, const: { $ref: '#' } }],
    ['the draft meta-schema', { $ref: 'https://json-schema.org/draft/2020-12/schema' }],
    [
      'the extensible-tree pattern',
      {
        $dynamicAnchor: 'node',
        type: 'object',
        properties: { children: { type: 'array', items: { $dynamicRef: '#node' } } },
      },
    ],
  ])('that descend are allowed: %s', (_what, schema) => {
    expect(() => new SchemaValidator().compile(schema)).not.toThrow();
  });

  it('validates a tree schema against a tree', () => {
    const tree = { type: 'object', properties: { child: { $ref: '#' }, name: { type: 'string' } } };
    let deep: unknown = { name: 'leaf' };
    for (let i = 0; i < 60; i++) deep = { name: `n${i}`, child: deep };
    expect(violations(tree, deep)).toEqual([]);
    expect(violations(tree, { child: { child: { name: 1 } } })).toEqual([
      expect.objectContaining({ instancePath: '/child/child/name', keyword: 'type' }),
    ]);
  });

  it('lists every schema validation may apply, references followed', () => {
    const schema = {
      $defs: { used: { type: 'string' }, unused: {} },
      properties: { a: { $ref: '#/$defs/used' } },
    };
    const { applied, sameInstanceCycle } = schemaGraph(schema);
    expect(sameInstanceCycle).toBeUndefined();
    expect(applied).toEqual([schema, schema.properties.a, schema.$defs.used]);
  });
});

describe('a schema that cannot be used', () => {
  it('is refused when it nests deeper than the limit', () => {
    const nested = (depth: number): unknown => {
      let schema: unknown = {};
      for (let i = 1; i < depth; i++) schema = { not: schema };
      return schema;
    };
    expect(() => new SchemaValidator().compile(nested(MAX_SCHEMA_DEPTH))).not.toThrow();
    expect(refused(nested(MAX_SCHEMA_DEPTH + 1))).toBe('the schema nests deeper than 160 levels');
    // 100,000 levels: JSON.parse builds it without recursing, nothing after it may recurse.
    expect(refused(JSON.parse(`${'{"items":'.repeat(100_000)}{}${'}'.repeat(100_000)}`))).toContain('deeper');
  });

  it('is refused when it holds more than the limit of values', () => {
    expect(refused({ enum: Array.from({ length: 20_000 }, (_, i) => i) })).toBe(
      'the schema holds more than 20000 values',
    );
  });

  it('stored with a loop, is a 400 saying to replace it when a document is checked, not a stack overflow', () => {
    const err = thrown(() => new SchemaValidator().check({ $ref: '#' }, { a: 1 }));
    expect(err.code).toBe('ZKG_SCHEMA_INVALID');
    expect(err.message).toMatch(/^the namespace's schema cannot be used, replace it: the schema refers back/);
  });

  it('whose validation overflows the stack anyway, is a 400 too', () => {
    // Nothing static catches this one: at each of 60 levels of the document, a chain of 20
    // references to schemas with 50 properties each (big stack frames).
    const properties = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`p${i}`, { type: 'integer' }]),
    );
    const $defs: Record<string, unknown> = {};
    for (let i = 0; i < 20; i++) $defs[`d${i}`] = { allOf: [{ $ref: `#/$defs/d${i + 1}` }], properties };
    $defs['d20'] = { type: 'object', properties: { ...properties, c: { $ref: '#/$defs/d0' } } };
    let deep: unknown = {};
    for (let i = 0; i < 60; i++) deep = { c: deep };
    const err = thrown(() => new SchemaValidator().check({ $defs, $ref: '#/$defs/d0' }, deep));
    expect(err.code).toBe('ZKG_SCHEMA_INVALID');
    expect(err.message).toBe(
      "the namespace's schema cannot be used, replace it: validation against it overflows the stack",
    );
  });

  it('whose combinators multiply the work exponentially, runs out of budget quickly', () => {
    // anyOf over two references to the next level, 30 levels: 2^30 applications (the errors they
    // leave behind exhausted the heap and killed the process).
    const $defs: Record<string, unknown> = { d30: { type: 'string' } };
    for (let i = 0; i < 30; i++)
      $defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    let err: ZkgError | undefined;
    const ms = timed(() => {
      err = thrown(() => new SchemaValidator().check({ $defs, $ref: '#/$defs/d0' }, 1));
    });
    expect(err?.code).toBe('ZKG_SCHEMA_INVALID');
    expect(err?.message).toContain('more than 1000000 subschema applications');
    expect(ms).toBeLessThan(5_000);
    // The same through a document: two branches descending into the same child, 40 levels.
    const tree = {
      type: 'object',
      anyOf: [{ properties: { c: { $ref: '#' } } }, { properties: { c: { $ref: '#' } }, required: ['x'] }],
    };
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { c: deep };
    expect(thrown(() => new SchemaValidator().check(tree, deep)).code).toBe('ZKG_SCHEMA_INVALID');
  });

  it('leaves the budget to each validation: a large document of a linear schema passes', () => {
    const schema = {
      type: 'array',
      items: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'string' } } },
    };
    const validator = new SchemaValidator();
    const items = Array.from({ length: 100_000 }, (_, i) => ({ a: i, b: 'x' }));
    expect(violations(schema, items, validator)).toEqual([]);
    expect(violations(schema, items, validator)).toEqual([]);
  });
});

describe('uniqueItems', () => {
  it('finds the pair ajv reports', () => {
    expect(violations({ uniqueItems: true }, [{ a: 1, b: 2 }, 3, { b: 2, a: 1 }, 3])).toEqual([
      expect.objectContaining({
        keyword: 'uniqueItems',
        params: { i: 3, j: 1 },
        message: 'must NOT have duplicate items (items ## 1 and 3 are identical)',
      }),
    ]);
    expect(
      violations({ uniqueItems: true }, [
        [1, { a: 'x' }],
        [1, { a: 'x' }],
      ]),
    ).toHaveLength(1);
    expect(violations({ uniqueItems: false }, [1, 1])).toEqual([]);
  });

  it('compares by JSON value: numbers by value, strings apart from numbers, keys in any order', () => {
    expect(
      violations({ uniqueItems: true }, [1, '1', true, 'true', null, 'null', [], {}, [{}], { '': [] }]),
    ).toEqual([]);
    expect(violations({ uniqueItems: true }, [0, -0])).toHaveLength(1);
    expect(
      violations({ uniqueItems: true }, [
        { a: 1, b: [2] },
        { b: [2], a: 1 },
      ]),
    ).toHaveLength(1);
    expect(violations({ uniqueItems: true }, [{ a: 1 }, { a: 1, b: undefined }])).toEqual([]);
  });

  it('takes linear time: 100,000 distinct objects (minutes comparing every pair)', () => {
    const items = Array.from({ length: 100_000 }, (_, i) => ({ id: i, tags: [i % 7] }));
    const ms = timed(() => expect(violations({ type: 'array', uniqueItems: true }, items)).toEqual([]));
    expect(ms).toBeLessThan(5_000);
  });
});

describe('formats', () => {
  it('checks url in linear time: longer than 2048 characters is not a url', () => {
    const schema = { type: 'string', format: 'url' };
    expect(violations(schema, 'https://example.com/a?b=c')).toEqual([]);
    expect(violations(schema, `https://example.com/${'a'.repeat(2000)}`)).toEqual([]);
    expect(violations(schema, `https://example.com/${'a'.repeat(2048)}`)).toHaveLength(1);
    // 80,000 characters of this took 5.5 s, 300,000 would take over a minute.
    const ms = timed(() => expect(violations(schema, `http://${':'.repeat(300_000)}@`)).toHaveLength(1));
    expect(ms).toBeLessThan(5_000);
  });

  it('keeps the other formats', () => {
    const schema = {
      properties: { e: { format: 'email' }, d: { format: 'date-time' }, u: { format: 'uri' } },
    };
    expect(violations(schema, { e: 'a@example.com', d: '2024-01-02T03:04:05Z', u: 'urn:x' })).toEqual([]);
    expect(violations(schema, { e: 'nope', d: 'yesterday', u: '::' })).toHaveLength(3);
  });
});
