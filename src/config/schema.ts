/**
 * JSON Schema validation of configuration documents (draft 2020-12, ajv with ajv-formats).
 * Compiled validators are cached by the schema's text, so a namespace's schema compiles once per
 * replica however many documents are validated against it.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import * as formatsModule from 'ajv-formats';
import { ZkgError } from '../errors.js';

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

export class SchemaValidator {
  private readonly ajv = addFormats(new Ajv2020({ allErrors: true, strict: false }));
  private readonly compiled = new Map<string, ValidateFunction>();

  /** Compile a schema or throw ZKG_SCHEMA_INVALID with ajv's reason. */
  compile(schema: unknown): ValidateFunction {
    if (
      typeof schema !== 'boolean' &&
      (typeof schema !== 'object' || schema === null || Array.isArray(schema))
    ) {
      throw new ZkgError('ZKG_SCHEMA_INVALID', 'a JSON Schema is an object or a boolean');
    }
    const key = JSON.stringify(schema);
    const cached = this.compiled.get(key);
    if (cached) return cached;
    let validate: ValidateFunction;
    try {
      // `$id`s would collide across namespaces in one ajv instance; they mean nothing here.
      const { $id: _id, ...anonymous } =
        typeof schema === 'object' ? (schema as Record<string, unknown>) : {};
      validate = this.ajv.compile(typeof schema === 'boolean' ? schema : anonymous);
    } catch (err) {
      throw new ZkgError('ZKG_SCHEMA_INVALID', `the schema does not compile: ${(err as Error).message}`);
    }
    if (this.compiled.size >= MAX_CACHED) this.compiled.delete(this.compiled.keys().next().value as string);
    this.compiled.set(key, validate);
    return validate;
  }

  /** Throw ZKG_SCHEMA_VIOLATION listing every violation of `schema` by `value`. */
  check(schema: JsonSchema, value: unknown): void {
    const validate = this.compile(schema);
    if (validate(value)) return;
    const errors: SchemaViolation[] = (validate.errors ?? []).map((e) => ({
      instancePath: e.instancePath,
      message: e.message ?? e.keyword,
      keyword: e.keyword,
      params: e.params,
    }));
    const first = errors[0];
    throw new ZkgError(
      'ZKG_SCHEMA_VIOLATION',
      first ? `${first.instancePath || '/'} ${first.message}` : 'the document violates the schema',
      { extensions: { errors } },
    );
  }
}
