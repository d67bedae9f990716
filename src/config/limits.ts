/**
 * Bounds on the shape of client-supplied JSON values: configuration documents and the JSON
 * Schemas that judge them. The byte limit alone does not bound the work: yaml's composer and
 * `toJS`, ajv's compiler and the validators it generates all recurse once per nesting level, and
 * V8 does not always survive reaching its stack limit. A regular expression compiled for the
 * first time near it aborts the whole process (`FATAL ERROR: RegExpCompiler Allocation failed`)
 * instead of throwing a RangeError, which is what 100,000 nested YAML flow sequences did. So
 * nesting is measured by linear, non-recursive scans and refused before anything recursive sees
 * it.
 */

/**
 * Deepest nesting of arrays and objects (sequences and mappings) a document may have: `[[1]]` is
 * 2 levels. Real configuration rarely goes past 10; 64 is System.Text.Json's default maximum
 * and leaves ajv, yaml and any client walking the value a wide margin on the default stack.
 */
export const MAX_DOCUMENT_DEPTH = 64;

/**
 * Most values (every scalar, key and collection) a YAML document may hold once its aliases are
 * expanded. Validation walks the expanded tree and merge keys (`<<: *a`) copy it, so a small
 * document of aliases can cost as much as a huge one. The largest document the byte limit lets
 * through (at most 500,000 bytes: `[0,0,…]`) holds 250,000 values without aliases; twice that
 * leaves room for honest reuse and bounds a "billion laughs" to well under a second of work.
 * JSON has no aliases, so its byte limit already bounds its values.
 */
export const MAX_DOCUMENT_VALUES = 500_000;

/**
 * Deepest nesting of a JSON Schema, counted like a document's. Describing a document of the
 * maximum depth takes two levels per document level (`properties` → name → subschema), plus
 * room for combinators; ajv's compiler recurses a few frames per level and overflows the default
 * stack somewhere past 400.
 */
export const MAX_SCHEMA_DEPTH = 2 * MAX_DOCUMENT_DEPTH + 32;

/**
 * Most values (keys not counted) a JSON Schema may hold. Several times the largest hand-written
 * configuration schema; ajv takes about a second and a few hundred MB to compile one this size,
 * and every replica keeps compiled schemas in memory.
 */
export const MAX_SCHEMA_VALUES = 20_000;

/**
 * Offset of the `[` or `{` that opens nesting level `max + 1` in JSON text, or -1 when the text
 * never nests deeper than `max`. Brackets inside strings do not count. It does not validate: on
 * malformed text the answer is meaningless and JSON.parse reports the fault.
 */
export function jsonNestingFault(text: string, max: number): number {
  const n = text.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: an escape covers the character after it, a quote ends it.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}

/**
 * Whether `value` nests deeper than `depth` levels or holds more than `values` values, and which
 * limit it breaks first. Iterative, and it stops at the first level or value past a limit, so
 * even a cyclic value cannot make it recurse or loop.
 */
export function shapeFault(
  value: unknown,
  limits: { depth: number; values: number },
): 'depth' | 'values' | undefined {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  let values = 0;
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (++values > limits.values) return 'values';
    if (typeof next.value !== 'object' || next.value === null) continue;
    const depth = next.depth + 1;
    if (depth > limits.depth) return 'depth';
    for (const child of Object.values(next.value)) pending.push({ value: child, depth });
  }
  return undefined;
}
