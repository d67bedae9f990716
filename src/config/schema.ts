/**
 * JSON Schema validation of configuration documents (draft 2020-12, ajv with ajv-formats).
 * Compiled validators are cached by the schema's text, so a namespace's schema compiles once per
 * replica however many documents are validated against it.
 *
 * Schemas are client input, and so are the documents they judge; validation must stay linear in
 * both. So: schemas are bounded in size and nesting; `pattern` and `patternProperties` run on
 * RE2 (linear-time, no backtracking), not on V8's backtracking RegExp; `uniqueItems` hashes
 * items instead of comparing every pair; the one ajv-formats expression that backtracks (`url`)
 * only sees URL-sized strings; a schema whose references loop at one instance location is
 * refused before it is stored; and the combinators that can still multiply the work (`anyOf`
 * branches that each apply the same schema again) run on a budget.
 */
import { Ajv2020, _, str, type CodeKeywordDefinition, type ValidateFunction } from 'ajv/dist/2020.js';
import * as formatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { RE2JS } from 're2js';
import { MAX_REPORTED_ERRORS, ZkgError } from '../errors.js';
import { MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES, shapeFault } from './limits.js';
import { schemaGraph, type SchemaObject } from './schema-graph.js';

// ajv-formats is CommonJS with `exports.default`: Node's ESM loader hands over the module
// object as the default, some loaders (tsx, vitest) the function itself. Accept both.
type AddFormats = typeof formatsModule.default.default;
const formatsDefault = formatsModule.default as unknown as AddFormats | { default: AddFormats };
const addFormats: AddFormats = typeof formatsDefault === 'function' ? formatsDefault : formatsDefault.default;

/** One violation, as ajv reports it. */
export interface SchemaViolation {
  readonly instancePath: string;
  readonly message: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
}

export type JsonSchema = Record<string, unknown> | boolean;

const MAX_CACHED = 1000;

/**
 * Subschema applications one validation may make. Linear schemas apply a few per value of the
 * document, so the largest documents need well under this; but `anyOf` over two references to
 * the same schema, nested n times, applies 2^n, and each failing application leaves an error
 * behind (30 levels exhausted the heap and killed the process). A million takes about 0.2 s
 * and 80 MB at worst.
 */
const MAX_VALIDATION_STEPS = 1_000_000;

/** Keyword added to every schema validation may apply, counting its applications. */
const STEP_KEYWORD = 'x-zkgate-step';

/** Thrown from inside a validator to abandon a validation over budget. */
class OverBudget extends Error {}

/**
 * ajv's RegExp engine, used for `pattern` and `patternProperties`: RE2, whose matching time is
 * linear in the input whatever the pattern, where V8 takes seconds on `^(a+)+$` against 30
 * characters. ECMAScript spellings RE2 lacks (`\uXXXX`, `(?<name>…)`, `[^]`) are translated;
 * what RE2 cannot do at all (lookaround, backreferences) makes the schema fail to compile,
 * naming the pattern. ajv passes the `u` flag: RE2 always matches by code point.
 */
function re2(pattern: string): { test(input: string): boolean; toString(): string } {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (err) {
    throw new Error(
      `pattern ${JSON.stringify(pattern)} is not supported (RE2 syntax: no lookaround, no backreferences): ` +
        (err as Error).message,
      { cause: err },
    );
  }
  // ajv shares one compiled pattern among equal `toString()`s.
  return { test: (input) => compiled.test(input), toString: () => pattern };
}
// Only read by ajv's standalone code generation, which zkgate does not use.
re2.code = 'zkgate-re2';

/**
 * Longest string the `url` format checks. ajv-formats' expression backtracks quadratically on
 * strings like `http://:::…@` (80,000 characters: 5.5 s); 2,048 characters is the longest URL
 * the sitemap protocol and most clients accept, and costs about 2 ms at worst.
 */
const MAX_URL_LENGTH = 2048;
const URL_EXPRESSION = fullFormats.url as RegExp;

/**
 * `uniqueItems` in linear time. ajv compares every pair of items unless their type is declared
 * scalar (20,000 numbers: 0.6 s; 20,000 objects: 11 s); here each item is reduced to a canonical
 * string under JSON equality (numbers by value, object keys in any order) and looked up in a map.
 * Reports the pair ajv reports: the last item equal to an earlier one, and the latest such one.
 */
const uniqueItems: CodeKeywordDefinition = {
  keyword: 'uniqueItems',
  type: 'array',
  schemaType: 'boolean',
  error: {
    message: ({ params: { i, j } }) =>
      str`must NOT have duplicate items (items ## ${j} and ${i} are identical)`,
    params: ({ params: { i, j } }) => _`{i: ${i}, j: ${j}}`,
  },
  code(cxt) {
    const { gen, data, schema } = cxt;
    if (schema !== true) return;
    const duplicate = gen.const('duplicate', _`${gen.scopeValue('func', { ref: lastDuplicate })}(${data})`);
    cxt.setParams({ i: _`${duplicate}[0]`, j: _`${duplicate}[1]` });
    cxt.fail(_`${duplicate} !== undefined`);
  },
};

/** `[i, j]`: the last item `i` equal to an earlier one, `j` the latest such; undefined if none. */
function lastDuplicate(items: readonly unknown[]): [number, number] | undefined {
  const latest = new Map<string, number>();
  let found: [number, number] | undefined;
  items.forEach((item, i) => {
    const key = canonical(item);
    const j = latest.get(key);
    if (j !== undefined) found = [i, j];
    latest.set(key, i);
  });
  return found;
}

/**
 * A string equal for equal JSON values. Recursion follows the value's nesting, which parsing
 * bounded. Values YAML adds beyond JSON: a date is its time, other objects (binary, sets, maps)
 * are compared by their own enumerable properties under their type's name, as ajv's deep
 * equality does.
 */
function canonical(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value instanceof Date) return `date:${value.getTime()}`;
  const tag = Object.prototype.toString.call(value);
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`);
  return `${tag === '[object Object]' ? '' : tag}{${entries.join(',')}}`;
}

export class SchemaValidator {
  private readonly ajv = this.createAjv();
  private readonly compiled = new Map<string, ValidateFunction>();
  /** Applications left to the validation under way (validation is synchronous). */
  private steps = 0;

  private createAjv(): Ajv2020 {
    const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false, code: { regExp: re2 } }));
    ajv.addFormat('url', (s: string) => s.length <= MAX_URL_LENGTH && URL_EXPRESSION.test(s));
    ajv.removeKeyword('uniqueItems');
    ajv.addKeyword(uniqueItems);
    const step = (): void => {
      if (--this.steps < 0) throw new OverBudget();
    };
    ajv.addKeyword({
      keyword: STEP_KEYWORD,
      schemaType: 'boolean',
      code: (cxt) => cxt.gen.code(_`${cxt.gen.scopeValue('func', { ref: step })}()`),
    });
    return ajv;
  }

  /**
   * Compile a schema or throw ZKG_SCHEMA_INVALID with the reason: ajv's, a pattern RE2 cannot
   * run, a schema over MAX_SCHEMA_VALUES values or MAX_SCHEMA_DEPTH levels, or references that
   * loop at one instance location.
   */
  compile(schema: unknown): ValidateFunction {
    if (
      typeof schema !== 'boolean' &&
      (typeof schema !== 'object' || schema === null || Array.isArray(schema))
    ) {
      throw new ZkgError('ZKG_SCHEMA_INVALID', 'a JSON Schema is an object or a boolean');
    }
    // Before anything recursive (ajv, even JSON.stringify) walks it.
    const shape = shapeFault(schema, { depth: MAX_SCHEMA_DEPTH, values: MAX_SCHEMA_VALUES });
    if (shape === 'depth') {
      throw new ZkgError('ZKG_SCHEMA_INVALID', `the schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
    }
    if (shape === 'values') {
      throw new ZkgError('ZKG_SCHEMA_INVALID', `the schema holds more than ${MAX_SCHEMA_VALUES} values`);
    }
    const key = JSON.stringify(schema);
    const cached = this.compiled.get(key);
    if (cached) return cached;
    let compilable: JsonSchema = schema as boolean;
    if (typeof schema === 'object') {
      // `$id`s would collide across namespaces in one ajv instance; they mean nothing here.
      const { $id: _id, ...anonymous } = structuredClone(schema as SchemaObject);
      const graph = schemaGraph(anonymous);
      if (graph.sameInstanceCycle) {
        throw new ZkgError(
          'ZKG_SCHEMA_INVALID',
          'the schema refers back to itself without descending into the instance, so validation ' +
            `would never end: ${graph.sameInstanceCycle.join(' → ')}`,
        );
      }
      for (const applied of graph.applied) applied[STEP_KEYWORD] = true;
      compilable = anonymous;
    }
    let validate: ValidateFunction;
    try {
      validate = this.ajv.compile(compilable);
    } catch (err) {
      // ajv's compiler recurses into each subschema and each referenced schema it has not compiled.
      const reason =
        err instanceof RangeError ? 'it nests or chains references too deeply' : (err as Error).message;
      throw new ZkgError('ZKG_SCHEMA_INVALID', `the schema does not compile: ${reason}`, { cause: err });
    }
    if (this.compiled.size >= MAX_CACHED) {
      const [oldestKey, oldest] = this.compiled.entries().next().value as [string, ValidateFunction];
      this.compiled.delete(oldestKey);
      // ajv keeps every schema it compiled as well: without this the cache would bound nothing.
      this.ajv.removeSchema(oldest.schema);
    }
    this.compiled.set(key, validate);
    return validate;
  }

  /**
   * Throw ZKG_SCHEMA_VIOLATION listing every violation of `schema` by `value`. A schema that
   * cannot be used (stored before the checks above existed, or written to ZooKeeper directly)
   * is ZKG_SCHEMA_INVALID saying it must be replaced, never a 500: even one whose validation
   * overflows the stack in a way the static checks did not foresee.
   */
  check(schema: JsonSchema, value: unknown): void {
    let valid: boolean;
    let validate: ValidateFunction;
    try {
      validate = this.compile(schema);
      this.steps = MAX_VALIDATION_STEPS;
      valid = validate(value);
    } catch (err) {
      let reason: string;
      if (err instanceof ZkgError) reason = err.message;
      else if (err instanceof RangeError) reason = 'validation against it overflows the stack';
      else if (err instanceof OverBudget) {
        reason = `validating a document against it takes more than ${MAX_VALIDATION_STEPS} subschema applications`;
      } else throw err;
      const detail = `the namespace's schema cannot be used, replace it: ${reason}`;
      throw new ZkgError('ZKG_SCHEMA_INVALID', detail, { cause: err });
    }
    if (valid) return;
    const all = validate.errors ?? [];
    // A document can break a rule once per item: the answer names the first few.
    const errors: SchemaViolation[] = all.slice(0, MAX_REPORTED_ERRORS).map((e) => ({
      instancePath: e.instancePath,
      message: e.message ?? e.keyword,
      keyword: e.keyword,
      params: e.params,
    }));
    const first = errors[0];
    throw new ZkgError(
      'ZKG_SCHEMA_VIOLATION',
      first
        ? `${first.instancePath || '/'} ${first.message}${all.length > 1 ? ` (${all.length} violations in all)` : ''}`
        : 'the document violates the schema',
      { extensions: { errors } },
    );
  }
}
