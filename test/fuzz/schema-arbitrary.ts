/**
 * Values from JSON Schemas (the subset `openapi/openapi.json` uses: type, enum, pattern, formats,
 * length and range bounds, required, properties, additionalProperties, propertyNames,
 * maxProperties, items, maxItems, anyOf, local `$ref`), as fast-check arbitraries:
 *
 * - {@link validValue}: values the schema accepts, biased to its boundaries (shortest and longest
 *   strings, smallest and largest numbers, every optional property or none);
 * - {@link invalidValue}: values it refuses, each with the rule it breaks. Every candidate is
 *   checked with ajv against the schema, so a "violation" is one for certain.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { isIP } from 'node:net';
import fc from 'fast-check';

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  maxProperties?: number;
  items?: JsonSchema;
  maxItems?: number;
  anyOf?: JsonSchema[];
  default?: unknown;
  example?: unknown;
};

/** A value that breaks a schema, and which rule. */
export interface Violation {
  readonly value: unknown;
  readonly why: string;
}

/** RFC 1123 host names, as the gateway's `host` format (and the spec's "Host name or IP address"). */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Resolves `#/components/schemas/X` in one OpenAPI document and checks values against it. */
export class SchemaSet {
  private readonly ajv: Ajv;
  private readonly validators = new WeakMap<JsonSchema, ValidateFunction>();

  constructor(private readonly document: { components?: { schemas?: Record<string, JsonSchema> } }) {
    this.ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
    addFormats.default(this.ajv);
    this.ajv.addFormat('host', (value: string) => isIP(value) !== 0 || HOSTNAME.test(value));
    this.ajv.addSchema({ $id: 'openapi', components: document.components ?? {} });
  }

  resolve(schema: JsonSchema): JsonSchema {
    let current = schema;
    for (let hops = 0; current.$ref !== undefined && hops < 10; hops++) {
      const name = /^#\/components\/schemas\/(.+)$/.exec(current.$ref)?.[1];
      const target = name === undefined ? undefined : this.document.components?.schemas?.[name];
      if (!target) throw new Error(`unresolvable $ref ${current.$ref}`);
      current = target;
    }
    return current;
  }

  /** Whether `value` satisfies `schema` (refs resolved against the document). */
  accepts(schema: JsonSchema, value: unknown): boolean {
    let validate = this.validators.get(schema);
    if (!validate) {
      validate = this.ajv.compile(rebase(schema) as object);
      this.validators.set(schema, validate);
    }
    return validate(value) === true;
  }
}

/** `#/components/...` refs point into the document registered as `openapi`. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === '$ref' && typeof value === 'string' && value.startsWith('#/')
        ? `openapi${value}`
        : rebase(value);
  }
  return out;
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  if (schema.type !== undefined) return [schema.type];
  if (schema.properties || schema.required) return ['object'];
  return [];
}

/** A pattern without lookaheads, for generation; the full pattern filters. */
function generationPattern(pattern: string): RegExp {
  return new RegExp(pattern.replace(/\(\?[!=][^)]*\)/g, ''));
}

function stringArbitrary(schema: JsonSchema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? Math.max(min, 64);
  if (schema.enum) return fc.constantFrom(...(schema.enum as string[]));
  if (schema.format === 'host') {
    return fc.oneof(
      fc.constantFrom('127.0.0.1', '10.0.0.7', '::1', 'localhost', 'a', 'x'.repeat(63)),
      fc.ipV4(),
      fc.ipV6(),
      fc.domain(),
    );
  }
  if (schema.pattern !== undefined) {
    const full = new RegExp(schema.pattern);
    return fc
      .stringMatching(generationPattern(schema.pattern), { size: 'small' })
      .filter((s) => full.test(s) && s.length >= min && s.length <= max);
  }
  return fc.oneof(
    { arbitrary: fc.string({ minLength: min, maxLength: Math.min(max, 32) }), weight: 4 },
    { arbitrary: fc.constant('x'.repeat(min)), weight: 1 },
    { arbitrary: fc.constant('y'.repeat(max)), weight: 1 },
  );
}

function numberArbitrary(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? (integer ? -(2 ** 31) : -1e9);
  const max = schema.maximum ?? (integer ? 2 ** 31 : 1e9);
  const inner = integer
    ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
    : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return fc.oneof({ arbitrary: inner, weight: 4 }, { arbitrary: fc.constantFrom(min, max), weight: 1 });
}

/** Values `schema` accepts. */
export function validValue(set: SchemaSet, raw: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const schema = set.resolve(raw);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => validValue(set, s, depth + 1)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const types = typesOf(schema);
  const type = types[0];
  switch (type) {
    case 'string':
      return stringArbitrary(schema);
    case 'integer':
      return numberArbitrary(schema, true);
    case 'number':
      return numberArbitrary(schema, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(validValue(set, schema.items ?? {}, depth + 1), {
        maxLength: Math.min(schema.maxItems ?? 5, 5),
      });
    case 'object': {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, sub] of Object.entries(properties)) record[name] = validValue(set, sub, depth + 1);
      const fixed = fc.record(record, { requiredKeys: [...required] });
      const extra = schema.additionalProperties;
      if (extra === undefined || extra === false || Object.keys(properties).length > 0 || depth > 2)
        return fixed;
      const keys = schema.propertyNames?.pattern
        ? stringArbitrary({ type: 'string', pattern: schema.propertyNames.pattern })
        : fc.string({ minLength: 1, maxLength: 16 });
      return fc.dictionary(
        keys,
        extra === true ? fc.jsonValue({ maxDepth: 2 }) : validValue(set, extra, depth + 1),
        {
          maxKeys: Math.min(schema.maxProperties ?? 8, 8),
        },
      );
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Candidate violations of `schema`'s own rules (the caller keeps those ajv refuses). */
function candidates(set: SchemaSet, raw: JsonSchema, depth: number): fc.Arbitrary<Violation>[] {
  const schema = set.resolve(raw);
  const out: fc.Arbitrary<Violation>[] = [];
  const wrongType = fc.constantFrom<unknown>('7', 7, 7.5, true, null, [], {}, '', -1);
  out.push(wrongType.map((value) => ({ value, why: 'wrong type' })));
  if (schema.anyOf) {
    for (const branch of schema.anyOf) out.push(...candidates(set, branch, depth + 1));
    return out;
  }
  if (schema.enum) {
    out.push(
      fc
        .constantFrom(...(schema.enum as unknown[]))
        .map((v) => ({ value: typeof v === 'string' ? v.toLowerCase() + '_' : v, why: 'not in enum' })),
    );
  }
  const type = typesOf(schema)[0];
  if (type === 'string') {
    if (schema.minLength !== undefined && schema.minLength > 0)
      out.push(
        fc.constant({ value: 'a'.repeat(schema.minLength - 1), why: `shorter than ${schema.minLength}` }),
      );
    if (schema.maxLength !== undefined)
      out.push(
        fc.constant({ value: 'a'.repeat(schema.maxLength + 1), why: `longer than ${schema.maxLength}` }),
      );
    if (schema.pattern !== undefined || schema.format !== undefined) {
      out.push(
        fc
          .oneof(
            fc.string({ maxLength: 12 }),
            fc.constantFrom(' ', '-a', '.', '..', 'a b', 'a/b', 'ä', '\u0000', '%2e', 'a'.repeat(300)),
          )
          .map((value) => ({ value, why: `does not match ${schema.pattern ?? schema.format}` })),
      );
    }
  }
  if (type === 'integer' || type === 'number') {
    if (schema.minimum !== undefined)
      out.push(fc.constant({ value: schema.minimum - 1, why: `below minimum ${schema.minimum}` }));
    if (schema.maximum !== undefined)
      out.push(fc.constant({ value: schema.maximum + 1, why: `above maximum ${schema.maximum}` }));
    if (type === 'integer')
      out.push(fc.constant({ value: (schema.minimum ?? 0) + 0.5, why: 'not an integer' }));
    out.push(fc.constantFrom(1e308, -1e308, 2 ** 53 + 1).map((value) => ({ value, why: 'out of range' })));
  }
  if (type === 'array' && schema.maxItems !== undefined) {
    out.push(
      fc.constant({
        value: Array.from({ length: schema.maxItems + 1 }, () => 'a'),
        why: `more than ${schema.maxItems} items`,
      }),
    );
  }
  if (type === 'object' && depth < 3) {
    const valid = validValue(set, schema, depth) as fc.Arbitrary<Record<string, unknown>>;
    for (const name of schema.required ?? []) {
      out.push(
        valid.map((v) => {
          const { [name]: _dropped, ...rest } = v;
          return { value: rest, why: `missing required ${name}` };
        }),
      );
    }
    if (schema.additionalProperties === false) {
      out.push(
        fc
          .tuple(valid, fc.constantFrom('wieght', 'unknown', '__proto__', 'constructor', ''))
          .map(([v, key]) => ({ value: { ...v, [key]: 1 }, why: `unknown field ${JSON.stringify(key)}` })),
      );
    }
    for (const [name, sub] of Object.entries(schema.properties ?? {})) {
      out.push(
        fc
          .tuple(valid, fc.oneof(...candidates(set, sub, depth + 1)))
          .map(([v, bad]) => ({ value: { ...v, [name]: bad.value }, why: `${name}: ${bad.why}` })),
      );
    }
    const extra = schema.additionalProperties;
    if (typeof extra === 'object') {
      if (schema.maxProperties !== undefined) {
        const count = schema.maxProperties + 1;
        out.push(
          fc.constant({
            value: Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v'])),
            why: `more than ${schema.maxProperties} properties`,
          }),
        );
      }
      if (schema.propertyNames?.pattern !== undefined) {
        out.push(
          fc
            .constantFrom('zkgate.status', 'zone', 'instance_status', '-x', '', 'a b', 'k'.repeat(200))
            .map((key) => ({ value: { [key]: 'v' }, why: `key ${JSON.stringify(key)} not allowed` })),
        );
      }
      out.push(
        fc
          .oneof(...candidates(set, extra, depth + 1))
          .map((bad) => ({ value: { k: bad.value }, why: `value: ${bad.why}` })),
      );
    }
  }
  return out;
}

/** Values `schema` refuses, each with the rule it breaks (verified with ajv). */
export function invalidValue(set: SchemaSet, schema: JsonSchema): fc.Arbitrary<Violation> {
  return fc.oneof(...candidates(set, schema, 0)).filter((v) => !set.accepts(schema, v.value));
}
