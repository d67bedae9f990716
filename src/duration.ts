/**
 * Durations, one grammar wherever zkgate takes one (a long-poll's `wait`, a registration's `ttl`,
 * a health check's `interval` and `timeout`, the age of `ZKGATE_AUDIT_RETENTION`): a decimal
 * integer of at most 9 digits and a unit, `ms`, `s`, `m`, `h` or `d` (`500ms`, `30s`, `2m`, `1h`,
 * `90d`). Nothing else: no sign, fraction, exponent, space or sum (`1m30s`).
 *
 * The API took a bare number of seconds before it took units, and still does, in the form each
 * place writes numbers: `wait=30` in a query string, `"ttl": 30` or `"ttl": "30"` in a body. A
 * setting never did, so `ZKGATE_AUDIT_RETENTION` needs its unit.
 *
 * Each field has its own bounds (a TTL from 1 s to 24 h, a wait capped by the server), checked
 * where the field is read; the grammar is checked by the schemas below, before any handler runs.
 */

const UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const UNITS = Object.keys(UNITS_MS).join('|');

/** A duration with its unit, for patterns that embed one (`COUNT,AGE`). */
export const DURATION_SOURCE = `[0-9]{1,9}(?:${UNITS})`;

/** A duration, or a bare number of seconds. */
const DURATION_OR_SECONDS = new RegExp(`^([0-9]{1,9})(${UNITS})?$`);

const DESCRIPTION = 'Digits and a unit, ms, s, m, h or d (`500ms`, `30s`, `2m`); digits alone are seconds';

/** JSON Schema of a duration in a query string (`wait=30s`, `wait=30`). */
export const durationQuery = {
  type: 'string',
  pattern: DURATION_OR_SECONDS.source,
  description: DESCRIPTION,
  example: '30s',
} as const;

/** JSON Schema of a duration in a JSON body: the same text, or a JSON number of seconds. */
export const durationBody = {
  anyOf: [
    { type: 'string', pattern: DURATION_OR_SECONDS.source },
    { type: 'integer', minimum: 0, maximum: 999_999_999 },
  ],
  description: `${DESCRIPTION}, as is a JSON number`,
  example: '30s',
} as const;

/**
 * Milliseconds of `value`, a duration its schema has admitted: a number, or text without a unit,
 * is seconds. Throws a RangeError on anything else, which no schema above lets through.
 */
export function durationMs(value: string | number): number {
  if (typeof value === 'number') return durationMs(String(value));
  const match = DURATION_OR_SECONDS.exec(value);
  if (!match) throw new RangeError(`not a duration: ${JSON.stringify(value)}`);
  return Number(match[1]) * UNITS_MS[(match[2] ?? 's') as keyof typeof UNITS_MS];
}
