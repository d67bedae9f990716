/**
 * The fuzz suite's bounded run (see `run.ts`): requests for every operation of
 * `openapi/openapi.json`, hostile documents, schemas, framing, headers and targets, against a
 * gateway child process. Deterministic: a fixed seed unless ZKGATE_FUZZ_SEED is set;
 * ZKGATE_FUZZ_COUNT sets the number of cases. Fails with every distinct failure and its
 * reproducer; `npm run fuzz -- --seed S --only N` replays one.
 */
import { describe, expect, it } from 'vitest';
import { MANAGEMENT } from '../support/tokens.js';
import {
  DEFAULT_COUNT,
  DEFAULT_SEED,
  formatFailures,
  formatSummary,
  runFuzz,
  successes,
  tokenRefusals,
} from './run.js';

function fromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, not ${JSON.stringify(value)}`);
  return n;
}

describe('fuzz', () => {
  it('answers every generated request within its deadline, never 5xx, always a catalog problem, writing nothing when refusing', async () => {
    const seed = fromEnv('ZKGATE_FUZZ_SEED', DEFAULT_SEED);
    const count = fromEnv('ZKGATE_FUZZ_COUNT', DEFAULT_COUNT);
    // A gateway that hangs on many requests costs a deadline each: stop starting cases after 4 min.
    // As the operator: every request reaches its handler, none stops at a 401.
    const report = await runFuzz({ seed, count, budgetMs: 240_000, headers: MANAGEMENT });
    console.log(formatSummary(report));
    expect(report.cases + report.skipped + report.unrun).toBe(count);
    if (report.failures.length > 0) expect.fail(formatFailures(report));
    // The requests reached the handlers: none was refused for its token, and many succeeded.
    expect(tokenRefusals(report), 'answers refusing the management token').toBe(0);
    expect(successes(report), '2xx answers').toBeGreaterThan(report.requests / 4);
  }, 600_000);
});
