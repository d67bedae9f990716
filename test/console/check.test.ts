/**
 * The console's checks before publishing (src/controller/ui/check.ts): syntax per format and the
 * namespace's JSON Schema, each finding with the span the editor marks.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../src/controller/ui/check.js';

const spanOf = (text: string, finding: { from: number; to: number } | undefined) =>
  finding && text.slice(finding.from, finding.to);

describe('check', () => {
  it('accepts well-formed documents without a schema', () => {
    expect(check('json', '{"a": [1, 2]}', undefined)).toEqual([]);
    expect(check('yaml', 'a:\n  - 1\n', undefined)).toEqual([]);
    expect(check('properties', 'a=1\nb: two \\\n  lines\n', undefined)).toEqual([]);
    expect(check('text', '{ not json', { type: 'object' })).toEqual([]);
  });

  it('reports a syntax error where it is', () => {
    const json = '{\n  "a": 1,\n}';
    const [jsonError] = check('json', json, undefined);
    expect(jsonError?.where).toMatch(/^line [23]/);
    const yaml = 'a: [1\nb: 2\n';
    const [yamlError] = check('yaml', yaml, undefined);
    expect(yamlError?.where).toMatch(/^line 2/);
    const [escape] = check('properties', 'ok=1\nbad=\\u12\n', undefined);
    expect(escape).toMatchObject({ where: 'line 2, column 1', message: 'malformed \\uxxxx escape' });
    expect(check('yaml', 'a: 1\na: 2\n', undefined)).toHaveLength(1);
  });

  it('validates against the schema and points at the offending value', () => {
    const schema = {
      type: 'object',
      required: ['name'],
      properties: {
        limits: { type: 'array', items: { type: 'integer', maximum: 5 } },
        name: { type: 'string' },
      },
    };
    const yaml = 'name: x\nlimits:\n  - 1\n  - 9\n';
    const [tooBig, ...rest] = check('yaml', yaml, schema);
    expect(rest).toEqual([]);
    expect(tooBig?.where).toBe('/limits/1');
    expect(spanOf(yaml, tooBig)).toBe('9');

    const json = '{"limits": [1, 2]}';
    const [missing] = check('json', json, schema);
    expect(missing?.message).toMatch(/name/);
    expect(spanOf(json, missing)).toBe(json);

    const properties = 'name=x\nlimits=3\n';
    const [notArray] = check('properties', properties, schema);
    expect(notArray?.where).toBe('/limits');
    expect(spanOf(properties, notArray)).toBe('limits=3');
  });
});
