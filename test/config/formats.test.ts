import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FORMATS,
  contentTypeOf,
  formatFromContentType,
  parseDocument,
  type ConfigFormat,
} from '../../src/config/formats.js';
import { MAX_DOCUMENT_DEPTH } from '../../src/config/limits.js';
import { thrown } from '../support/thrown.js';

/** Parse a document given as text (UTF-8) or raw bytes. */
function parse(format: ConfigFormat, body: string | Buffer): unknown {
  return parseDocument(format, typeof body === 'string' ? Buffer.from(body, 'utf8') : body).value;
}

/** The ZKG_CONFIG_MALFORMED error for a document, with its position checked against the detail. */
function malformed(
  format: ConfigFormat,
  body: string | Buffer,
): { message: string; line: number; column: number } {
  const err = thrown(() => parse(format, body));
  expect(err.code).toBe('ZKG_CONFIG_MALFORMED');
  expect(err.status).toBe(400);
  const { line, column } = err.extensions as { format: string; line: number; column: number };
  expect(err.extensions).toEqual({ format, line, column });
  expect(err.message).toMatch(new RegExp(`^${format}: .+ at line ${line}, column ${column}$`, 's'));
  return { message: err.message, line, column };
}

/** Plain-object view of a parsed properties document (which has a null prototype). */
function entries(value: unknown): [string, string][] {
  return Object.entries(value as Record<string, string>);
}

describe('content types', () => {
  it('lists every format', () => {
    expect(CONFIG_FORMATS).toEqual(['json', 'yaml', 'properties', 'text']);
    expect(Object.isFrozen(CONFIG_FORMATS)).toBe(true);
  });

  it.each([
    ['json', 'application/json; charset=utf-8'],
    ['yaml', 'application/yaml; charset=utf-8'],
    ['properties', 'text/x-java-properties; charset=utf-8'],
    ['text', 'text/plain; charset=utf-8'],
  ] as const)('serves %s as %s, which maps back to the same format', (format, contentType) => {
    expect(contentTypeOf(format)).toBe(contentType);
    expect(formatFromContentType(contentType)).toBe(format);
  });

  it.each([
    ['application/json', 'json'],
    ['application/merge-patch+json', 'json'],
    ['application/vnd.acme.config+json', 'json'],
    ['APPLICATION/JSON; Charset="UTF-8"', 'json'],
    ['application/json;charset=us-ascii', 'json'],
    ['  application/json ; foo=bar ; ', 'json'],
    ['application/json; odd-parameter', 'json'],
    ['application/yaml', 'yaml'],
    ['application/x-yaml', 'yaml'],
    ['text/yaml', 'yaml'],
    ['text/x-yaml', 'yaml'],
    ['application/vnd.acme+yaml', 'yaml'],
    ['Text/YAML; charset=utf-8', 'yaml'],
    ['text/x-java-properties', 'properties'],
    ['text/properties', 'properties'],
    ['application/x-java-properties', 'properties'],
    ['text/plain', 'text'],
    ['text/plain; format=flowed; charset=UTF-8', 'text'],
  ])('maps %s to %s', (contentType, format) => {
    expect(formatFromContentType(contentType)).toBe(format);
  });

  it.each([
    undefined,
    '',
    '   ',
    'text/html',
    'application/xml',
    'application/octet-stream',
    'multipart/form-data; boundary=x',
    '*/*',
    'application/*',
    'application/+json',
    'application/jsonx',
    'json',
    'application/',
    '/json',
    'application/json; charset=iso-8859-1',
    'application/json; charset=utf-16',
    'text/plain; charset="latin1"',
    'application/yaml; charset=',
  ])('refuses %j with ZKG_UNSUPPORTED_MEDIA_TYPE listing the accepted types', (contentType) => {
    const err = thrown(() => formatFromContentType(contentType));
    expect(err.code).toBe('ZKG_UNSUPPORTED_MEDIA_TYPE');
    expect(err.status).toBe(415);
    for (const accepted of ['application/json', 'application/yaml', 'text/x-java-properties', 'text/plain']) {
      expect(err.message).toContain(accepted);
    }
  });

  it('does not echo a huge header in full', () => {
    const err = thrown(() => formatFromContentType(`application/${'x'.repeat(10_000)}`));
    expect(err.message.length).toBeLessThan(1_000);
  });
});

describe('json', () => {
  it('parses valid documents, with any whitespace', () => {
    expect(parse('json', '{"a": 1, "b": [true, null, "x"], "c": {"d": -1.5e3}}')).toEqual({
      a: 1,
      b: [true, null, 'x'],
      c: { d: -1500 },
    });
    expect(parse('json', ' \r\n\t"just a string"\n')).toBe('just a string');
    expect(parse('json', '42')).toBe(42);
    expect(parse('json', 'null')).toBeNull();
    expect(parse('json', '{"é": "ünïcödé 🎉"}')).toEqual({ é: 'ünïcödé 🎉' });
  });

  it('keeps a "__proto__" key as data', () => {
    const value = parse('json', '{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('locates a trailing comma in an object (V8 reports a position)', () => {
    expect(malformed('json', '{\n  "a": 1,\n}')).toEqual({
      message: 'json: Expected double-quoted property name at line 3, column 1',
      line: 3,
      column: 1,
    });
  });

  it('locates a trailing comma in an array (V8 reports no position on Node 20)', () => {
    const { message, line, column } = malformed('json', '{\n  "a": [1,\n    2,\n  ]\n}');
    expect([line, column]).toEqual([4, 3]);
    expect(message).toContain("Unexpected token ']'");
  });

  it('reports an unclosed brace at the end of the content, not on a phantom last line', () => {
    expect(malformed('json', '{\n  "a": 1,\n  "b": 2\n\n')).toMatchObject({ line: 3, column: 9 });
    expect(malformed('json', '{\n  "a": 1,\n  "b": {')).toMatchObject({ line: 3, column: 9 });
  });

  it.each([
    ['', 1, 1],
    ['   \n  ', 1, 1],
    ['[1 2]', 1, 4],
    ['{"a" 1}', 1, 6],
    ['{"a": tru}', 1, 10],
    ['"abc', 1, 5],
    ['{"a": "x\ty"}', 1, 9],
    ['01', 1, 2],
    ['{} {}', 1, 4],
    ['{\r\n"a":\r\n}', 3, 1],
    ['[1,\r2,\r]', 3, 1],
    ['["🎉", x]', 1, 8],
  ])('refuses %j at line %i, column %i', (body, line, column) => {
    expect(malformed('json', body)).toMatchObject({ line, column });
  });

  it('refuses a byte order mark', () => {
    expect(malformed('json', '\uFEFF{"a": 1}')).toEqual({
      message: 'json: Unexpected byte order mark (not allowed in JSON) at line 1, column 1',
      line: 1,
      column: 1,
    });
  });

  it('names invisible characters by code point', () => {
    expect(malformed('json', '[\u00a0]').message).toContain('U+00A0');
  });

  it('never echoes the document, which may hold secrets', () => {
    const { message } = malformed('json', '{"password": "hunter2" ]');
    expect(message).not.toContain('hunter2');
    const long = malformed('json', `{"a": [1, 2,], "secret": "${'s'.repeat(100)}"}`);
    expect(long.message).not.toContain('sss');
  });

  it('accepts 64 levels of nesting and refuses the 65th at its bracket', () => {
    const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(parse('json', nested(MAX_DOCUMENT_DEPTH))).toBeInstanceOf(Array);
    expect(malformed('json', nested(MAX_DOCUMENT_DEPTH + 1))).toEqual({
      message: 'json: nested deeper than 64 levels at line 1, column 65',
      line: 1,
      column: 65,
    });
    const objects = `{"a":\n`.repeat(MAX_DOCUMENT_DEPTH + 1) + '1' + '}'.repeat(MAX_DOCUMENT_DEPTH + 1);
    expect(malformed('json', objects)).toMatchObject({ line: 65, column: 1 });
  });

  it('refuses 100,000 levels of nesting before anything walks them', () => {
    expect(malformed('json', '['.repeat(100_000))).toMatchObject({ line: 1, column: 65 });
    expect(malformed('json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`).column).toBe(65);
    expect(malformed('json', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`).column).toBe(321);
  });

  it('does not count brackets inside strings as nesting', () => {
    const brackets = JSON.stringify({ s: '[{'.repeat(100), escaped: '\\"[[[[' });
    expect(parse('json', `[[${brackets}]]`)).toEqual([[JSON.parse(brackets)]]);
  });
});

describe('yaml', () => {
  it('parses valid documents', () => {
    const doc = [
      '# service settings',
      'server:',
      '  port: 8080',
      '  hosts: [a, b]',
      'defaults: &defaults',
      '  timeout: 30',
      'copy: *defaults',
      'text: |',
      '  line 1',
      '  line 2',
      '',
    ].join('\n');
    expect(parse('yaml', doc)).toEqual({
      server: { port: 8080, hosts: ['a', 'b'] },
      defaults: { timeout: 30 },
      copy: { timeout: 30 },
      text: 'line 1\nline 2\n',
    });
    expect(parse('yaml', '---\na: 1\n...\n')).toEqual({ a: 1 });
    expect(parse('yaml', '\uFEFFa: 1\n')).toEqual({ a: 1 });
    expect(parse('yaml', '{"json": ["is", "yaml"]}')).toEqual({ json: ['is', 'yaml'] });
  });

  it('accepts empty and comment-only documents as null', () => {
    expect(parse('yaml', '')).toBeNull();
    expect(parse('yaml', '# nothing here\n')).toBeNull();
    expect(parse('yaml', '---\n')).toBeNull();
  });

  it('refuses bad indentation', () => {
    const { message, line, column } = malformed('yaml', 'a:\n  b: 1\n c: 2\n');
    expect([line, column]).toEqual([3, 1]);
    // yaml's excerpt and repeated position are not in the detail.
    expect(message).toBe('yaml: All mapping items must start at the same column at line 3, column 1');
  });

  it('refuses duplicate keys at the duplicate', () => {
    expect(malformed('yaml', 'a: 1\nb:\n  c: 2\n  c: 3\n')).toMatchObject({ line: 4, column: 3 });
    expect(malformed('yaml', 'a: 1\nb: 2\na: 3\n').message).toContain('unique');
  });

  it('refuses a later major YAML version and reads a later minor one as 1.2 (YAML 1.2 §6.8.1)', () => {
    expect(malformed('yaml', '%YAML 9.9\n---\na: 1\n')).toMatchObject({
      message: expect.stringContaining('YAML version 9.x is not supported'),
      line: 1,
      column: 7,
    });
    expect(malformed('yaml', '%YAML 2.0\n---\na: 1\n').line).toBe(1);
    expect(parse('yaml', '%YAML 1.3\n---\na: 1\n')).toEqual({ a: 1 });
    expect(parse('yaml', '%YAML 1.2\n---\na: 1\n')).toEqual({ a: 1 });
  });

  it('refuses a stream of two documents at the second', () => {
    const { message, line } = malformed('yaml', 'a: 1\n---\nb: 2\n');
    expect(line).toBe(2);
    expect(message).toContain('multiple documents');
    expect(malformed('yaml', '---\n---\n').line).toBe(2);
  });

  it('counts lines of CRLF documents like LF ones', () => {
    expect(malformed('yaml', 'a: 1\r\nb: 2\r\na: 3\r\n')).toMatchObject({ line: 3, column: 1 });
  });

  it('refuses an alias bomb quickly', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    let previous = 'a';
    for (const name of 'bcdefghij') {
      lines.push(`${name}: &${name} [${Array<string>(9).fill(`*${previous}`).join(',')}]`);
      previous = name;
    }
    const started = performance.now();
    // Refused while measuring, before toJS: at the alias of `f` that takes it past the limit.
    expect(malformed('yaml', lines.join('\n'))).toEqual({
      message: 'yaml: more than 500000 values once aliases are expanded at line 6, column 29',
      line: 6,
      column: 29,
    });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('refuses quickly a document made of many aliases', () => {
    const body = `a: &a x\nb:\n${'  - *a\n'.repeat(50_000)}`;
    const started = performance.now();
    expect(malformed('yaml', body)).toMatchObject({
      message: expect.stringContaining('more than 1000 aliases'),
    });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("keeps yaml's own limit on how often one anchor is aliased", () => {
    expect(parse('yaml', `a: &a x\nb: [${Array<string>(99).fill('*a').join(', ')}]\n`)).toMatchObject({
      a: 'x',
    });
    const { message, line } = malformed(
      'yaml',
      `a: &a x\nb: [${Array<string>(100).fill('*a').join(', ')}]\n`,
    );
    expect(message).toContain('Excessive alias count');
    expect(line).toBe(2);
  });

  it('refuses an alias to an undefined anchor at the alias', () => {
    const { message, line, column } = malformed('yaml', 'a: &x 1\nb: *y\n');
    expect([line, column]).toEqual([2, 4]);
    expect(message).toContain('Unresolved alias');
    expect(malformed('yaml', 'a: &x 1\nb: *x\nc: *y\n')).toMatchObject({ line: 3, column: 4 });
  });

  it('does not let client documents write process warnings', () => {
    const original = process.emitWarning;
    const warnings: unknown[] = [];
    process.emitWarning = ((warning: unknown) => void warnings.push(warning)) as typeof process.emitWarning;
    try {
      // yaml stringifies collection keys and, by default, warns about it.
      expect(parse('yaml', '? [1, 2]\n: x\n')).toEqual({ '[ 1, 2 ]': 'x' });
    } finally {
      process.emitWarning = original;
    }
    expect(warnings).toEqual([]);
  });

  it('keeps a "__proto__" key as data', () => {
    const value = parse('yaml', '__proto__:\n  polluted: true\n') as Record<string, unknown>;
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

/** Levels of arrays and objects in a parsed value, `[[1]]` being 2. */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

/** Elapsed milliseconds of `fn`, which must throw a ZKG_CONFIG_MALFORMED error. */
function timedMalformed(format: ConfigFormat, body: string): { message: string; line: number; ms: number } {
  const started = performance.now();
  const { message, line } = malformed(format, body);
  return { message, line, ms: performance.now() - started };
}

describe('yaml: hostile documents', () => {
  /** One document of `depth` levels in each way YAML can nest. */
  const forms: Record<string, (depth: number) => string> = {
    'flow sequences': (d) => `${'['.repeat(d)}${']'.repeat(d)}`,
    'flow mappings': (d) => `${'{a: '.repeat(d)}1${'}'.repeat(d)}`,
    'compact block sequences': (d) => `${'- '.repeat(d)}1`,
    'indented block sequences': (d) =>
      `${Array.from({ length: d }, (_, i) => `${' '.repeat(2 * i)}-`).join('\n')} 1\n`,
    'indented block mappings': (d) =>
      `${Array.from({ length: d }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} 1\n`,
    'flow under a block key': (d) => `a: ${'['.repeat(d - 1)}${']'.repeat(d - 1)}\n`,
  };

  it.each(Object.entries(forms))('accepts 64 levels of %s and refuses 65', (_name, form) => {
    expect(depthOf(parse('yaml', form(MAX_DOCUMENT_DEPTH)))).toBe(MAX_DOCUMENT_DEPTH);
    expect(malformed('yaml', form(MAX_DOCUMENT_DEPTH + 1)).message).toMatch(
      /^yaml: nested deeper than 64 levels at line \d+, column \d+$/,
    );
  });

  it('refuses 100,000 nested flow sequences at the 65th level, every time (this aborted the process)', () => {
    const body = `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      // The mapping is level 1: its 64th `[` is at column 3 + 64.
      expect(malformed('yaml', body)).toEqual({
        message: 'yaml: nested deeper than 64 levels at line 1, column 67',
        line: 1,
        column: 67,
      });
    }
  });

  it.each(Object.entries(forms))('refuses %s nested as deep as the size allows, quickly', (name, form) => {
    // Indentation grows with depth: 1,000 levels of it is already half a megabyte.
    const { message, ms } = timedMalformed('yaml', form(name.startsWith('indented') ? 1_000 : 100_000));
    expect(message).toContain('nested deeper than 64 levels');
    expect(ms).toBeLessThan(5_000);
  });

  it('refuses a too deep second document before composing it', () => {
    const { message, line } = malformed('yaml', `a: 1\n---\n${'['.repeat(100_000)}`);
    expect(message).toContain('nested deeper than 64 levels');
    expect(line).toBe(3);
  });

  it('refuses nesting that only aliases make too deep, at the alias', () => {
    const anchored = `${'['.repeat(40)}${']'.repeat(40)}`;
    expect(depthOf(parse('yaml', `a: &a ${anchored}\nb: [*a]\n`))).toBe(42);
    const deep = `a: &a ${anchored}\nb: ${'['.repeat(30)}*a${']'.repeat(30)}\n`;
    expect(malformed('yaml', deep)).toEqual({
      message: 'yaml: nested deeper than 64 levels once aliases are expanded at line 2, column 34',
      line: 2,
      column: 34,
    });
  });

  it('refuses an alias inside its own anchor, which has no JSON value', () => {
    expect(malformed('yaml', 'a: &a [*a]\n')).toEqual({
      message: 'yaml: Alias *a is inside its own anchor (a cycle) at line 1, column 8',
      line: 1,
      column: 8,
    });
    expect(malformed('yaml', 'a: &a {b: {c: *a}}\n').message).toContain('(a cycle)');
    // An anchor's node is defined before its content, so inside it the name is already its own.
    expect(malformed('yaml', 'a: &a 1\nb: &a [*a]\n').line).toBe(2);
    expect(parse('yaml', 'a: &a 1\nb: [*a]\nc: &a 2\nd: *a\n')).toEqual({ a: 1, b: [1], c: 2, d: 2 });
  });

  it('refuses a merge-key bomb before copying anything', () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: 0`).join(', ');
    const merges = Array.from({ length: 50 }, (_, i) => `m${i}: {<<: *a}`).join('\n');
    // Took 15 s and 220 MB before: merge keys copy their source.
    const { message, ms } = timedMalformed('yaml', `%YAML 1.1\n---\nbase: &a {${keys}}\n${merges}\n`);
    expect(message).toContain('more than 500000 values once aliases are expanded');
    expect(ms).toBeLessThan(5_000);
  });

  it('still merges keys in honest documents', () => {
    const body = '%YAML 1.1\n---\nbase: &b {p: 1, q: 2}\nc:\n  <<: *b\n  q: 3\nd: {<<: [*b], r: 4}\n';
    expect(parse('yaml', body)).toEqual({ base: { p: 1, q: 2 }, c: { p: 1, q: 3 }, d: { p: 1, q: 2, r: 4 } });
  });

  it('counts anchors and aliases: 1000 of each pass, one more is refused', () => {
    const anchors = (n: number): string =>
      `[${Array.from({ length: n }, (_, i) => `&a${i} ${i}`).join(', ')}]`;
    expect(parse('yaml', anchors(1000))).toHaveLength(1000);
    expect(malformed('yaml', anchors(1001)).message).toContain('more than 1000 anchors');
    const aliases = (n: number): string =>
      `[${Array.from({ length: n }, (_, i) => `&a${i % 10} x, *a${i % 10}`).join(', ')}]`;
    expect(parse('yaml', `a: ${aliases(100)}`)).toMatchObject({ a: expect.any(Array) });
    // Each alias resolution scans every anchor and alias before it: 20,000 took 7 s before.
    const { message, ms } = timedMalformed('yaml', `[${Array<string>(20_000).fill('&a 0, *a').join(', ')}]`);
    expect(message).toContain('more than 1000');
    expect(ms).toBeLessThan(5_000);
  });

  it('checks 40,000 keys of one mapping for duplicates in linear time', () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: v`);
    // yaml's own check compares each key with every earlier one: 15 s.
    const started = performance.now();
    expect(Object.keys(parse('yaml', keys.join('\n')) as object)).toHaveLength(40_000);
    const { line } = malformed('yaml', [...keys, 'k7: again'].join('\n'));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(line).toBe(40_001);
    expect(malformed('yaml', `{${keys.slice(0, 1000).join(', ')}, k999: x}`).message).toContain('unique');
  });

  it('compares keys as yaml does: by scalar value, never collections or NaN', () => {
    expect(malformed('yaml', '1: a\n"1": b\n0x1: c\n').line).toBe(3);
    expect(parse('yaml', '1: a\n"1": b\n')).toEqual({ 1: 'b' });
    expect(parse('yaml', '.nan: a\n.NaN: b\n')).toEqual({ NaN: 'b' });
    expect(parse('yaml', '? [a]\n: 1\n? [a]\n: 2\n')).toEqual({ '[ a ]': 2 });
  });

  it('reports many warnings on one line without slowing down', () => {
    // Unknown tags are warnings; yaml's pretty positions cost a pass over the line each: 12 s.
    const started = performance.now();
    expect(parse('yaml', `[${Array<string>(40_000).fill('!t 0').join(',')}]`)).toHaveLength(40_000);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('parses binary, custom and repeated tags without blowing up', () => {
    const binary = parse('yaml', `a: !!binary ${Buffer.alloc(200_000, 7).toString('base64')}\n`) as {
      a: Uint8Array;
    };
    expect(binary.a).toHaveLength(200_000);
    expect(parse('yaml', 'a: !custom {b: !other [1, !!str 2]}\n')).toEqual({ a: { b: [1, '2'] } });
    const directives = `${Array.from({ length: 5000 }, (_, i) => `%TAG !t${i}! tag:x,2000:`).join('\n')}\n---\n!t1!a 1\n`;
    expect(parse('yaml', directives)).toBe('1');
  });
});

describe('properties', () => {
  it('parses separators, comments and blank lines', () => {
    const doc = [
      '# comment',
      '! also a comment',
      '   # indented comment',
      '',
      'a=1',
      'b = 2',
      'c:3',
      'd : 4',
      'e 5',
      'f\t\t6',
      'g   =   7  ',
      'h',
      'i=',
      'j==8',
      'k :=9',
      'l = a=b:c',
      '   m = indented',
      '=empty key',
    ].join('\n');
    expect(entries(parse('properties', doc))).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
      ['d', '4'],
      ['e', '5'],
      ['f', '6'],
      ['g', '7  '],
      ['h', ''],
      ['i', ''],
      ['j', '=8'],
      ['k', '=9'],
      ['l', 'a=b:c'],
      ['m', 'indented'],
      ['', 'empty key'],
    ]);
  });

  it('joins continuation lines', () => {
    const doc = [
      'fruits = apple, \\',
      '         banana, \\',
      '    # not a comment, \\',
      '         cherry',
      'two = a\\\\',
      'three = b\\\\\\',
      '  c',
      'key\\',
      '  word = v',
      'empty = x\\',
      '',
      'after = y',
      'eof = z\\',
    ].join('\r\n');
    expect(entries(parse('properties', doc))).toEqual([
      ['fruits', 'apple, banana, # not a comment, cherry'],
      ['two', 'a\\'],
      ['three', 'b\\c'],
      ['keyword', 'v'],
      ['empty', 'x'],
      ['after', 'y'],
      ['eof', 'z'],
    ]);
  });

  it('does not continue comment lines', () => {
    expect(entries(parse('properties', '# comment \\\na=1\n'))).toEqual([['a', '1']]);
  });

  it('accepts LF, CR and CRLF line ends', () => {
    expect(entries(parse('properties', 'a=1\rb=2\r\nc=3\nd=4'))).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
      ['d', '4'],
    ]);
  });

  it('decodes escapes', () => {
    const doc = String.raw`tabs=a\tb\nc\rd\fe
slash=C:\\dir\\file
unicode=caf\u00e9 \u00E9 \uD83C\uDF89
other=\a\b\q\"\'
key\ with\ spaces\=and\:colons = value
\#not-comment = 1
\ leading = 2
value = \  leading space kept
`;
    expect(entries(parse('properties', doc))).toEqual([
      ['tabs', 'a\tb\nc\rd\fe'],
      ['slash', 'C:\\dir\\file'],
      ['unicode', 'café é 🎉'],
      ['other', 'abq"\''],
      ['key with spaces=and:colons', 'value'],
      ['#not-comment', '1'],
      [' leading', '2'],
      ['value', '  leading space kept'],
    ]);
  });

  it('reads UTF-8 text as is and skips a byte order mark', () => {
    expect(entries(parse('properties', '\uFEFFgrüße = 🎉 ünï\n'))).toEqual([['grüße', '🎉 ünï']]);
  });

  it.each([
    ['a=1\nb=x\\u12', 2, 4],
    ['a=1\nb=x\\u12G4', 2, 4],
    ['a=1\n  \\uZZZZ=1', 2, 3],
    ['a=1\n\\u00=1', 2, 1],
    ['a = one \\\n    two \\u!', 2, 9],
  ])('refuses a malformed \\u escape in %j at line %i, column %i', (body, line, column) => {
    const err = malformed('properties', body);
    expect(err).toMatchObject({ line, column });
    expect(err.message).toContain('\\uxxxx');
  });

  it('accepts a \\u escape split over a continuation, as Java does', () => {
    expect(entries(parse('properties', 'a=\\u00\\\n   e9'))).toEqual([['a', 'é']]);
  });

  it('lets the last duplicate win', () => {
    expect(entries(parse('properties', 'a=1\nb=2\na=3\n'))).toEqual([
      ['a', '3'],
      ['b', '2'],
    ]);
  });

  it('keeps "__proto__" and other Object.prototype names as plain own keys', () => {
    const value = parse('properties', '__proto__=x\nconstructor=y\ntoString=z\n') as Record<string, string>;
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(value['__proto__']).toBe('x');
    expect(value['constructor']).toBe('y');
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor', 'toString']);
  });
});

describe('text', () => {
  it('returns the text as is, byte order mark and all', () => {
    expect(parse('text', 'hello\r\nwörld 🎉\n')).toBe('hello\r\nwörld 🎉\n');
    expect(parse('text', '\uFEFFx')).toBe('\uFEFFx');
    expect(parse('text', '\0 control \u0007')).toBe('\0 control \u0007');
  });
});

describe('every format', () => {
  it.each([
    ['json', ''],
    ['yaml', null],
    ['properties', {}],
    ['text', ''],
  ] as const)('handles an empty %s document', (format, expected) => {
    if (format === 'json') {
      expect(malformed('json', Buffer.alloc(0))).toMatchObject({ line: 1, column: 1 });
    } else {
      expect(parseDocument(format, Buffer.alloc(0)).value).toEqual(expected);
    }
  });

  it('gives properties documents of only comments an empty record', () => {
    expect(entries(parse('properties', '# a\n! b\n\n   \n'))).toEqual([]);
  });

  const invalid: [string, Buffer, number, number][] = [
    ['a lone continuation byte', Buffer.from([0x80]), 1, 1],
    ['0xFF', Buffer.concat([Buffer.from('a=1\nb="x'), Buffer.from([0xff]), Buffer.from('"\n')]), 2, 5],
    ['an overlong encoding', Buffer.from([0x61, 0xc0, 0xaf]), 1, 2],
    ['an encoded surrogate', Buffer.from([0x0a, 0xed, 0xa0, 0x80]), 2, 1],
    ['a code point above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80]), 1, 1],
    ['a truncated sequence at the end', Buffer.concat([Buffer.from('é🎉'), Buffer.from([0xe2, 0x82])]), 1, 4],
    ['Latin-1 text', Buffer.from('k=caf\xe9', 'latin1'), 1, 6],
  ];
  for (const format of CONFIG_FORMATS) {
    it.each(invalid)(`refuses invalid UTF-8 in ${format}: %s`, (_name, body, line, column) => {
      const err = malformed(format, body);
      expect(err).toMatchObject({ line, column });
      expect(err.message).toContain('invalid UTF-8');
    });
  }
});

describe('round trips', () => {
  it('parses back any JSON value serialized by JSON.stringify', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().map(withoutNegativeZero),
        fc.constantFrom(undefined, 2, '\t'),
        (value, indent) => {
          const body = Buffer.from(JSON.stringify(value, null, indent), 'utf8');
          expect(parseDocument('json', body).value).toEqual(value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('parses back any string record serialized as properties with escaping', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })),
        fc.constantFrom('=', ':', ' = ', ' ', '\t: '),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.boolean(),
        (record, separator, eol, asciiOnly) => {
          const lines = ['# generated'];
          for (const [key, value] of Object.entries(record)) {
            // An empty key needs an explicit separator, or the value would be read as the key.
            const sep = key === '' && separator.trim() === '' ? '=' : separator;
            lines.push(
              `${escapeProperty(key, true, asciiOnly)}${sep}${escapeProperty(value, false, asciiOnly)}`,
            );
          }
          const parsed = parse('properties', Buffer.from(lines.join(eol), 'utf8'));
          expect(entries(parsed).sort(byKey)).toEqual(Object.entries(record).sort(byKey));
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** JSON has no -0 (it serializes as 0), so the generated values must not hold one. */
function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]));
  }
  return value;
}

function byKey(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/**
 * Java's Properties.store escaping (saveConvert): every space in a key and a leading space in a
 * value, the control characters, separators and comment starters. Lone surrogates cannot be
 * written as UTF-8, so they are always \u-escaped; other non-ASCII only when `asciiOnly`.
 */
function escapeProperty(s: string, isKey: boolean, asciiOnly: boolean): string {
  let out = '';
  let first = true;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === ' ') out += isKey || first ? '\\ ' : ' ';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\f') out += '\\f';
    else if ('=:#!\\'.includes(ch)) out += `\\${ch}`;
    else if (cp < 0x20 || cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff) || (asciiOnly && cp > 0x7e)) {
      for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    } else out += ch;
    first = false;
  }
  return out;
}
