/**
 * The checks a document passes before the console offers to publish it: its syntax in its format,
 * then the namespace's JSON Schema. The gateway checks both again on publish; checking here first
 * shows the problem while editing. The validator interprets the schema (no generated code), since
 * the page's Content-Security-Policy allows no eval.
 */
import { Validator, type Schema } from '@cfworker/json-schema';
import { parseDocument as parseYaml } from 'yaml';
import type { Format } from './model.js';

export interface Finding {
  readonly where: string;
  readonly message: string;
}

/** The document's value, or why it does not parse. */
export function parse(format: Format, text: string): { value: unknown } | { error: Finding } {
  try {
    switch (format) {
      case 'json':
        return { value: JSON.parse(text) };
      case 'yaml': {
        const doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
        const [first] = doc.errors;
        if (first) {
          const pos = first.linePos?.[0];
          return {
            error: {
              where: pos ? `line ${pos.line}, column ${pos.col}` : 'document',
              message: first.message.split('\n')[0] ?? first.message,
            },
          };
        }
        return { value: doc.toJS() };
      }
      case 'properties':
        return { value: parseProperties(text) };
      case 'text':
        return { value: text };
    }
  } catch (err) {
    if (err instanceof PropertiesError) return { error: { where: `line ${err.line}`, message: err.message } };
    return { error: { where: 'document', message: (err as Error).message } };
  }
}

class PropertiesError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** java.util.Properties' format: the one thing that can be wrong is a bad `\u` escape. */
function parseProperties(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let logical = (lines[i] ?? '').replace(/^[ \t\f]+/, '');
    if (logical === '' || logical.startsWith('#') || logical.startsWith('!')) continue;
    while (/(^|[^\\])(\\\\)*\\$/.test(logical) && i + 1 < lines.length) {
      logical = logical.slice(0, -1) + (lines[++i] ?? '').replace(/^[ \t\f]+/, '');
    }
    const bad = /\\u(?![0-9a-fA-F]{4})/.exec(logical);
    if (bad) throw new PropertiesError(start, 'malformed \\uxxxx escape');
    const split = /^((?:\\.|[^\\=: \t\f])*)[ \t\f]*[=:]?[ \t\f]*(.*)$/s.exec(logical);
    const unescape = (s: string) =>
      s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_m, c: string) =>
        c.length === 5
          ? String.fromCharCode(parseInt(c.slice(1), 16))
          : ({ t: '\t', n: '\n', r: '\r', f: '\f' }[c] ?? c),
      );
    result[unescape(split?.[1] ?? logical)] = unescape(split?.[2] ?? '');
  }
  return result;
}

/** Where the value breaks the schema, each failing keyword once. */
export function validate(schema: unknown, value: unknown): Finding[] {
  if (schema === undefined || schema === null) return [];
  const validator = new Validator(schema as Schema, '2020-12', false);
  const { errors } = validator.validate(value);
  // The validator also reports every enclosing keyword that failed because of a nested one;
  // the innermost say what to fix.
  const leaves = errors.filter(
    (e) =>
      !errors.some(
        (o) =>
          o !== e &&
          o.instanceLocation.startsWith(e.instanceLocation) &&
          o.keywordLocation.startsWith(e.keywordLocation),
      ),
  );
  return leaves.map((e) => ({
    where: e.instanceLocation === '#' ? 'document' : e.instanceLocation.slice(1),
    message: e.error,
  }));
}

/** Syntax first, then the schema: the findings that keep a document from being published. */
export function check(format: Format, text: string, schema: unknown): Finding[] {
  const parsed = parse(format, text);
  if ('error' in parsed) return [parsed.error];
  return format === 'text' ? [] : validate(schema, parsed.value);
}
