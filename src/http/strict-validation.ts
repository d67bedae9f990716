/**
 * The one validation policy of every route, set once on the app: an unknown query parameter or
 * body field (`prefx`, `wieght`) or a wrong type (`"port": "8080"`) is a 400 naming it, never
 * silently dropped, coerced or defaulted, so a typo cannot widen a listing, narrow a watch or
 * register an instance with values nobody wrote. fastify's default does all three
 * (`removeAdditional`, `coerceTypes`, `useDefaults`).
 *
 * The one conversion: a query string is text, so a parameter its schema declares a number,
 * integer or boolean is read as one (`limit=20`). A route that declares no query string takes
 * none: the app gives it {@link NO_QUERY}.
 */
import { Ajv, type ErrorObject, type Format } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyError, FastifyServerOptions } from 'fastify';
import { MAX_REPORTED_ERRORS, ZkgError } from '../errors.js';

/** The query string of a route that takes no parameters. */
export const NO_QUERY = { type: 'object', properties: {}, additionalProperties: false } as const;

type ValidatorFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>['buildValidator'];

/**
 * The validator compilers of the policy, as fastify's `schemaController` takes them: fastify
 * hands them the shared schemas (`app.addSchema`) of each scope. `formats` are the formats the
 * schemas use beyond ajv-formats' (`host`).
 */
export function strictValidators(formats: Readonly<Record<string, Format>>): ValidatorFactory {
  const build = (externalSchemas: Record<string, unknown>) => {
    const ajv = (coerceTypes: boolean): Ajv => {
      const instance = new Ajv({ allErrors: true, coerceTypes, removeAdditional: false, useDefaults: false });
      addFormats.default(instance);
      instance.addKeyword('example');
      for (const [name, format] of Object.entries(formats)) instance.addFormat(name, format);
      for (const schema of Object.values(externalSchemas)) instance.addSchema(schema as object);
      return instance;
    };
    const query = ajv(true);
    const rest = ajv(false);
    return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
      (httpPart === 'querystring' ? query : rest).compile(schema);
  };
  // @fastify/ajv-compiler types a compiler as taking a bare schema; fastify calls it with the
  // route's `{ schema, httpPart }`, which is what this one reads.
  return build as unknown as ValidatorFactory;
}

/** What a 400 says of a parameter or field the route does not know. */
export const UNKNOWN_FIELD = 'is not a known field';

/** One failed rule, its field spelled `body.metadata.owner`. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/**
 * Each failed rule of a validation: the property a rule is about (a missing, unknown or misnamed
 * one) is part of the field, not of the message.
 */
export function fieldErrors(errors: readonly ErrorObject[], context: string | undefined): FieldError[] {
  return errors.slice(0, MAX_REPORTED_ERRORS).map((e) => {
    const params = e.params as {
      missingProperty?: string;
      additionalProperty?: string;
      propertyName?: string;
    };
    const extra = params.missingProperty ?? params.additionalProperty ?? params.propertyName;
    const path = [context ?? 'request', ...e.instancePath.split('/').filter(Boolean)];
    if (extra !== undefined) path.push(extra);
    const message =
      params.additionalProperty !== undefined
        ? UNKNOWN_FIELD
        : params.propertyName !== undefined
          ? 'is not an allowed key'
          : (e.message ?? 'is invalid');
    return { field: path.join('.'), message };
  });
}

/** fastify's validation failure, its message naming the failing fields (`schemaErrorFormatter`). */
export function formatValidation(errors: readonly ErrorObject[], context: string): Error {
  const named = fieldErrors(errors, context)
    .map((e) => `${e.field} ${e.message}`)
    .join('; ');
  return new Error(errors.length > MAX_REPORTED_ERRORS ? `${named}; ${moreErrors(errors.length)}` : named);
}

/** How a capped list says what it left out. */
function moreErrors(total: number): string {
  return `and ${total - MAX_REPORTED_ERRORS} more`;
}

/** The fields of a fastify validation failure, for the problem document's `errors`. */
export function validationFailure(err: FastifyError): FieldError[] {
  return fieldErrors((err.validation ?? []) as ErrorObject[], err.validationContext);
}

/** A 400 about one field, found wrong past its schema (a bound across fields, a lookup). */
export function invalidField(field: string, message: string): ZkgError {
  return new ZkgError('ZKG_VALIDATION_FAILED', `${field} ${message}`, {
    extensions: { errors: [{ field, message }] },
  });
}
