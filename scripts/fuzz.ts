/**
 * `npm run fuzz -- [--count N] [--seed S] [--only i,j] [--deadline-ms MS] [--budget-s S]`: the fuzz suite of
 * `test/fuzz/` for long runs (the same generator and property as `npm test`'s bounded run).
 * Prints progress, a summary (requests, statuses and codes seen, time, seed) and every distinct
 * failure with a reproducer; exits 1 when anything failed. Without `--seed`, a random seed is
 * picked and printed.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_COUNT, formatFailures, formatSummary, runFuzz, tokenRefusals } from '../test/fuzz/run.js';
import { MANAGEMENT } from '../test/support/tokens.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    seed: { type: 'string' },
    only: { type: 'string' },
    'deadline-ms': { type: 'string' },
    'budget-s': { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(
    'usage: npm run fuzz -- [--count N] [--seed S] [--only i,j,...] [--deadline-ms MS] [--budget-s S] [--verbose]',
  );
  process.exit(0);
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    console.error(`--${name} must be an integer, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

const seed = integer(values.seed, 'seed') ?? Math.floor(Math.random() * 2 ** 31);
const count = integer(values.count, 'count') ?? DEFAULT_COUNT;
const only = values.only?.split(',').map((s) => integer(s.trim(), 'only')!);
const deadlineMs = integer(values['deadline-ms'], 'deadline-ms');
const budgetS = integer(values['budget-s'], 'budget-s');

console.log(`zkgate fuzz: seed ${seed}, ${only ? `cases ${only.join(', ')}` : `${count} cases`}`);
const report = await runFuzz({
  seed,
  count,
  ...(only ? { only } : {}),
  ...(deadlineMs === undefined ? {} : { deadlineMs }),
  ...(budgetS === undefined ? {} : { budgetMs: budgetS * 1000 }),
  log: (line) => console.log(line),
  verbose: values.verbose === true,
  // As the operator (the gateway bootstraps this token): requests reach their handlers, not a 401.
  headers: MANAGEMENT,
});
console.log(formatSummary(report));
// Requests stopped by access control never reached the code under fuzz.
const refused = tokenRefusals(report);
if (refused > 0)
  console.log(`${refused} answer(s) refused the management token: the run did not reach the handlers`);
if (report.failures.length > 0) console.log(formatFailures(report));
if (report.failures.length > 0 || refused > 0) process.exit(1);
