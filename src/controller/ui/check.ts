/**
 * The checks a document passes before the console offers to publish it: its syntax in its format,
 * then the namespace's JSON Schema. The gateway checks both again on publish; checking here first
 * shows the problem while editing. The validator interprets the schema (no generated code), since
 * the page's Content-Security-Policy allows no eval.
 */
import { Validator, type Schema } from '@cfworker/json-schema';
import { isNode, parseDocument as parseYaml, type Document } from 'yaml';
import type { Format } from './model.js';

export interface Finding {
  readonly where: string;
  readonly message: string;
  /** The span of the document it is about, as offsets (for the editor's markers). */
  readonly from: number;
  readonly to: number;
}

type Parsed = { value: unknown; locate: (pointer: string[]) => [number, number] } | { error: Finding };

/** Line and column (1-based) of an offset, for findings a person reads. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split(/\r\n|\r|\n/);
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

function syntaxError(text: string, message: string, from: number, to = from + 1): { error: Finding } {
  const start = Math.min(Math.max(from, 0), text.length);
  return {
    error: {
      where: lineColumn(text, start),
      message,
      from: start,
      to: Math.min(Math.max(to, start), text.length),
    },
  };
}

/** The span of the node at a JSON pointer's path in a YAML (or JSON) document: the deepest that exists. */
function locator(doc: Document, length: number): (pointer: string[]) => [number, number] {
  return (pointer) => {
    for (let depth = pointer.length; depth >= 0; depth--) {
      const node = depth === 0 ? doc.contents : doc.getIn(pointer.slice(0, depth), true);
      if (isNode(node) && node.range) return [node.range[0], node.range[1]];
    }
    return [0, length];
  };
}

/** The document's value and how to find a part of it, or why it does not parse. */
function parse(format: Format, text: string): Parsed {
  switch (format) {
    case 'json': {
      // JSON is YAML 1.2 too: the YAML parser gives spans (and a position when JSON.parse gives none).
      const doc = parseYaml(text);
      try {
        return { value: JSON.parse(text), locate: locator(doc, text.length) };
      } catch (err) {
        const message = (err as Error).message;
        const at = /position (\d+)/.exec(message)?.[1];
        return syntaxError(
          text,
          message,
          at !== undefined ? Number(at) : (doc.errors[0]?.pos[0] ?? text.length),
        );
      }
    }
    case 'yaml': {
      const doc = parseYaml(text, { uniqueKeys: true });
      const [first] = doc.errors;
      if (first)
        return syntaxError(text, first.message.split('\n')[0] ?? first.message, first.pos[0], first.pos[1]);
      return { value: doc.toJS(), locate: locator(doc, text.length) };
    }
    case 'properties':
      try {
        const { value, spans } = parseProperties(text);
        return { value, locate: (pointer) => spans.get(pointer[0] ?? '') ?? [0, text.length] };
      } catch (err) {
        if (!(err instanceof PropertiesError)) throw err;
        return syntaxError(text, err.message, err.offset);
      }
    case 'text':
      return { value: text, locate: () => [0, text.length] };
  }
}

class PropertiesError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** java.util.Properties' format: the one thing that can be wrong is a bad `\u` escape. */
function parseProperties(text: string): {
  value: Record<string, string>;
  spans: Map<string, [number, number]>;
} {
  const result: Record<string, string> = {};
  const spans = new Map<string, [number, number]>();
  const lines = text.split(/\r\n|\r|\n/);
  const offsets: number[] = [];
  for (let i = 0, at = 0; i < lines.length; i++) {
    offsets.push(at);
    at += (lines[i] ?? '').length + (text.startsWith('\r\n', at + (lines[i] ?? '').length) ? 2 : 1);
  }
  for (let i = 0; i < lines.length; i++) {
    const start = offsets[i] ?? 0;
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
    const key = unescape(split?.[1] ?? logical);
    result[key] = unescape(split?.[2] ?? '');
    spans.set(key, [start, (offsets[i + 1] ?? text.length + 1) - 1]);
  }
  return { value: result, spans };
}

/** Where the value breaks the schema, each failing keyword once. */
function validate(
  schema: unknown,
  value: unknown,
  locate: (pointer: string[]) => [number, number],
): Finding[] {
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
  return leaves.map((e) => {
    const pointer = e.instanceLocation
      .slice(2)
      .split('/')
      .filter((p) => p !== '')
      .map((p) => decodeURIComponent(p).replace(/~1/g, '/').replace(/~0/g, '~'));
    const [from, to] = locate(pointer);
    return {
      where: e.instanceLocation === '#' ? 'document' : e.instanceLocation.slice(1),
      message: e.error,
      from,
      to,
    };
  });
}

/** Syntax first, then the schema: the findings that keep a document from being published. */
export function check(format: Format, text: string, schema: unknown): Finding[] {
  const parsed = parse(format, text);
  if ('error' in parsed) return [parsed.error];
  return format === 'text' ? [] : validate(schema, parsed.value, parsed.locate);
}
