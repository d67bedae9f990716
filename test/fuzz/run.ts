/**
 * The fuzz run, shared by `test/fuzz/fuzz.test.ts` (a bounded run in `npm test`) and
 * `scripts/fuzz.ts` (`npm run fuzz -- --count N --seed S`): generate case after case from the
 * seed, send each step to a gateway child process, check the property on every answer, probe
 * liveness after every case, and collect every failure, deduplicated by what failed.
 *
 * The first cases are the seed corpus (`corpus.ts`); case `i` after them is generated from its own
 * seed (derived from `S` and `i`), so a failing case is replayed alone with `--seed S --only i`.
 * Cases run one at a time, and so do their steps (apart from the concurrent groups some cases
 * hold): the store's transaction log read after an answer holds exactly what that request wrote.
 *
 * A case that crashes or freezes the gateway is reported, the gateway is restarted on a fresh
 * data directory, and further cases of the same family are skipped (so are those of a family in
 * which a request hung): one freeze per family keeps a run's time bounded while the defect lasts.
 */
import fc from 'fast-check';
import { exchange, serialize, withHeaders, type Exchange, type RawRequest } from './http.js';
import { CORPUS } from './corpus.js';
import { FuzzGateway, LAYOUT } from './gateway.js';
import { hostileCases } from './hostile.js';
import { namesFor, resolveRequest, type FuzzCase, type Names, type Step } from './model.js';
import { loadSpec, operationCases } from './operations.js';
import { checkExchange, checkWrites, problemCode, type Finding } from './property.js';

/** The seed of `npm test`'s run: fixed, so CI is deterministic; ZKGATE_FUZZ_SEED varies it. */
export const DEFAULT_SEED = 20_260_601;
/** Cases in `npm test`'s run (about 2 requests each); ZKGATE_FUZZ_COUNT changes it. */
export const DEFAULT_COUNT = 1_200;

export interface FuzzOptions {
  readonly seed: number;
  readonly count: number;
  /** Run only these case indexes (a replay). */
  readonly only?: readonly number[];
  /** Per-request deadline. */
  readonly deadlineMs?: number;
  /**
   * Stop starting cases after this long (a gateway that hangs on many requests would otherwise
   * make a run last the deadline times the requests); the report says so.
   */
  readonly budgetMs?: number;
  /** Progress lines (the CLI prints them). */
  readonly log?: (line: string) => void;
  /** Log every case: its kind and the statuses it got. */
  readonly verbose?: boolean;
  /**
   * Headers every request carries (none by default): the management token, so that requests
   * reach their handlers instead of a 401. Raw requests get them after their request line.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

/** One failing step. */
export interface Failure {
  readonly finding: Finding;
  readonly caseIndex: number;
  readonly stepIndex: number;
  readonly caseKind: string;
  readonly request: RawRequest | undefined;
  readonly why: string | undefined;
  readonly response: string | undefined;
  /** What the gateway printed meanwhile (a crash's stack trace). */
  readonly output?: string;
}

/** Failures of one kind: what failed, on which case kind, with which status and code. */
export interface DistinctFailure {
  readonly key: string;
  readonly first: Failure;
  readonly count: number;
}

export interface FuzzReport {
  readonly seed: number;
  readonly count: number;
  readonly cases: number;
  readonly requests: number;
  readonly skipped: number;
  readonly restarts: number;
  /** Cases not run because the time budget ran out. */
  readonly unrun: number;
  readonly ms: number;
  /** Answers per HTTP status (and `timeout`, `no answer`). */
  readonly statuses: ReadonlyMap<string, number>;
  /** Problem documents per `code`. */
  readonly codes: ReadonlyMap<string, number>;
  readonly failures: readonly Failure[];
  readonly distinct: readonly DistinctFailure[];
}

/** How long an event stream is read; a resumed watch gets longer to say something. */
const SSE_WINDOW_MS = 250;
const RESUME_WINDOW_MS = 1_000;
/** `/healthz` must answer within this, twice in a row if need be (a loaded machine may pause once). */
const HEALTH_DEADLINE_MS = 2_000;

/** Every case: one arbitrary per OpenAPI operation, and the hostile families. */
export function caseArbitrary(): fc.Arbitrary<FuzzCase> {
  const { operations, schemas } = loadSpec();
  const methodsOf = (path: string): string[] =>
    operations.filter((o) => o.path === path).map((o) => o.method);
  const ops = operations.map((op) => operationCases(schemas, op, methodsOf(op.path)));
  return fc.oneof({ arbitrary: fc.oneof(...ops), weight: 6 }, { arbitrary: hostileCases, weight: 4 });
}

/** murmur3's finalizer: a bijection on 32-bit integers that spreads every input bit. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The seed of case `index`: one case can be generated (and replayed) without the others, and the
 * cases of two run seeds do not overlap.
 */
function caseSeed(seed: number, index: number): number {
  return mix32(mix32(seed) + Math.imul(index, 0x9e3779b9)) | 0;
}

/** Case `index` of a run: the seed corpus first, then cases generated from the seed. */
export function generateCase(arbitrary: fc.Arbitrary<FuzzCase>, seed: number, index: number): FuzzCase {
  const fixed = CORPUS[index];
  if (fixed) return fixed;
  const [value] = fc.sample(arbitrary, { seed: caseSeed(seed, index), numRuns: 1 });
  return value!;
}

/** Crashes and freezes are grouped by family (the kind up to its first digit or parenthesis). */
function familyOf(kind: string): string {
  return kind.split(/[0-9(]/)[0]!.trim();
}

function describeResponse(result: Exchange | undefined): string | undefined {
  const first = result?.responses[0];
  if (!first) return result ? `(${result.outcome}${result.error ? `: ${result.error}` : ''})` : undefined;
  const body = first.body.toString('utf8');
  return `${first.status} ${first.headers['content-type'] ?? '(no content-type)'} ${JSON.stringify(body.length > 300 ? `${body.slice(0, 300)}…` : body)}`;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const deadlineMs = options.deadlineMs ?? 5_000;
  const log = options.log ?? (() => undefined);
  const arbitrary = caseArbitrary();
  const statuses = new Map<string, number>();
  const codes = new Map<string, number>();
  const failures: Failure[] = [];
  const fatalFamilies = new Set<string>();
  let requests = 0;
  let cases = 0;
  let skipped = 0;
  let restarts = 0;
  let unrun = 0;
  const count = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
  const headers = options.headers ?? {};
  const resolve = (request: RawRequest, names: Names): RawRequest =>
    withHeaders(resolveRequest(request, names), headers);

  let gateway = await FuzzGateway.start();
  const indexes = options.only ?? Array.from({ length: options.count }, (_, i) => i);
  try {
    for (const caseIndex of indexes) {
      if (options.budgetMs !== undefined && performance.now() - started > options.budgetMs) {
        unrun++;
        continue;
      }
      const fuzzCase = generateCase(arbitrary, options.seed, caseIndex);
      const family = fuzzCase.family ?? familyOf(fuzzCase.kind);
      if (fatalFamilies.has(family) && options.only === undefined) {
        skipped++;
        continue;
      }
      cases++;
      const names = namesFor(caseIndex, gateway.tail.lastZxid + 10_000n);
      const outputAt = gateway.outputLength;
      const record = (
        finding: Finding,
        stepIndex: number,
        step: Step | undefined,
        request: RawRequest | undefined,
        result?: Exchange,
      ): void => {
        failures.push({
          finding,
          caseIndex,
          stepIndex,
          caseKind: fuzzCase.kind,
          request,
          why: step?.why,
          response: describeResponse(result),
          ...(finding.kind === 'crash' || finding.kind === 'unresponsive' || finding.kind === '5xx'
            ? { output: gateway.outputSince(outputAt).split('\n').slice(-15).join('\n') }
            : {}),
        });
      };
      const tally = (result: Exchange): void => {
        requests++;
        seen.push(result.responses.map((r) => r.status).join('+') || result.outcome);
        if (result.responses.length === 0)
          count(statuses, result.outcome === 'timeout' ? 'timeout' : 'no answer');
        for (const response of result.responses) {
          count(statuses, String(response.status));
          const code = problemCode(response);
          if (code) count(codes, code);
        }
      };
      const seen: string[] = [];
      let lastRequest: RawRequest | undefined;
      let stepIndex = 0;
      let hung = false;
      for (const entry of fuzzCase.steps) {
        if (hung || gateway.exited) break;
        if (Array.isArray(entry)) {
          // Concurrent steps: each answer is checked, writes are not attributed.
          const group = entry as readonly Step[];
          const resolved = group.map((s) => resolve(s.request, names));
          const results = await Promise.all(
            resolved.map((r) => exchange(r, { port: gateway.port, deadlineMs, sseWindowMs: SSE_WINDOW_MS })),
          );
          group.forEach((s, i) => {
            const result = results[i]!;
            tally(result);
            for (const finding of checkExchange(s, result, deadlineMs))
              record(finding, stepIndex + i, s, resolved[i], result);
            if (result.outcome === 'timeout') hung = true;
          });
          if (hung) fatalFamilies.add(family);
          await gateway.tail.poll();
          stepIndex += group.length;
          lastRequest = resolved[resolved.length - 1];
          continue;
        }
        const step = entry as Step;
        const request = resolve(step.request, names);
        lastRequest = request;
        // Late writes of the previous step show up here; they are not this step's.
        await gateway.tail.poll();
        const result = await exchange(request, {
          port: gateway.port,
          deadlineMs,
          sseWindowMs: step.expect === 'resume' ? RESUME_WINDOW_MS : SSE_WINDOW_MS,
        });
        tally(result);
        const writes = await gateway.tail.poll();
        const findings = [
          ...checkExchange(step, result, deadlineMs),
          ...checkWrites(step, result, writes, LAYOUT),
        ];
        for (const finding of findings) record(finding, stepIndex, step, request, result);
        if (result.outcome === 'timeout') hung = true;
        // A request that hangs would hang again: one per family is enough.
        if (result.outcome === 'timeout') fatalFamilies.add(family);
        stepIndex++;
      }

      // Liveness: the process runs and /healthz answers 200 at once.
      let fatal: Finding | undefined;
      if (gateway.exited) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        fatal = { kind: 'crash', detail: `the gateway process died (${gateway.exitStatus})` };
      } else {
        const probe = () =>
          exchange(
            { method: 'GET', target: '/healthz', headers: [] },
            { port: gateway.port, deadlineMs: HEALTH_DEADLINE_MS, sseWindowMs: SSE_WINDOW_MS },
          );
        let health = await probe();
        if (health.responses[0]?.status !== 200 && !gateway.exited) health = await probe();
        if (gateway.exited) {
          fatal = { kind: 'crash', detail: `the gateway process died (${gateway.exitStatus})` };
        } else if (health.responses[0]?.status !== 200) {
          fatal = {
            kind: 'unresponsive',
            detail: `GET /healthz after the case: ${health.responses[0]?.status ?? health.outcome}, twice, within ${HEALTH_DEADLINE_MS} ms each`,
          };
        }
      }
      if (fatal) {
        record(fatal, stepIndex - 1, undefined, lastRequest);
        fatalFamilies.add(family);
        log(`case ${caseIndex} (${fuzzCase.kind}): ${fatal.detail}; restarting the gateway`);
        await (gateway.exited ? gateway.stop() : gateway.kill());
        gateway = await FuzzGateway.start();
        restarts++;
      }
      if (options.verbose) log(`case ${caseIndex} ${fuzzCase.kind}: ${seen.join(' ')}`);
      if (cases % 100 === 0) {
        log(
          `${cases} cases, ${requests} requests, ${failures.length} failures, ${Math.round((performance.now() - started) / 1000)} s`,
        );
      }
    }
  } finally {
    await gateway.stop();
  }

  const groups = new Map<string, { first: Failure; count: number }>();
  for (const failure of failures) {
    const { kind, status, code } = failure.finding;
    const key = `${kind} | ${failure.caseKind} | ${status ?? '-'} ${code ?? ''}`.trim();
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { first: failure, count: 1 });
  }
  return {
    seed: options.seed,
    count: options.count,
    cases,
    requests,
    skipped,
    restarts,
    unrun,
    ms: Math.round(performance.now() - started),
    statuses,
    codes,
    failures,
    distinct: [...groups].map(([key, g]) => ({ key, first: g.first, count: g.count })),
  };
}

/**
 * Answers that refused a request for its token (401, 403): none in a run acting as the operator,
 * whose requests must reach their handlers.
 */
export function tokenRefusals(report: FuzzReport): number {
  return (report.codes.get('ZKG_UNAUTHENTICATED') ?? 0) + (report.codes.get('ZKG_FORBIDDEN') ?? 0);
}

/** 2xx answers: how much of the run got past validation into the handlers' work. */
export function successes(report: FuzzReport): number {
  return [...report.statuses].filter(([status]) => /^2[0-9]{2}$/.test(status)).reduce((n, [, c]) => n + c, 0);
}

/** The request as a JS string literal of its bytes (latin-1), shortened when it is large. */
export function showRequest(request: RawRequest): string {
  const bytes = serialize(request);
  const text = bytes.toString('latin1');
  if (text.length <= 700) return JSON.stringify(text);
  return `${JSON.stringify(`${text.slice(0, 500)}`)} … ${JSON.stringify(text.slice(-100))} (${bytes.length} bytes)`;
}

function sorted(map: ReadonlyMap<string, number>): string {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
}

/** The summary the CLI prints: requests, statuses, codes, time, seed. */
export function formatSummary(report: FuzzReport): string {
  return [
    `seed ${report.seed}: ${report.cases} cases (${report.skipped} skipped after a crash or hang in their family` +
      `${report.unrun > 0 ? `, ${report.unrun} not run: time budget spent` : ''}), ` +
      `${report.requests} requests in ${(report.ms / 1000).toFixed(1)} s, ${report.restarts} gateway restart(s)`,
    `statuses: ${sorted(report.statuses)}`,
    `codes: ${sorted(report.codes)}`,
    `failures: ${report.failures.length} (${report.distinct.length} distinct)`,
  ].join('\n');
}

/** What a failure looks like from outside, whatever request caused it: failures are listed by it. */
function symptomOf(failure: Failure): string {
  const { kind, status, code } = failure.finding;
  if (kind === 'hang' || kind === 'unresponsive' || kind === 'crash' || kind === 'no-response') return kind;
  // Node's own answers all look alike: their body tells them apart.
  if (kind === 'not-problem') return `${kind} ${(failure.response ?? '').slice(0, 90)}`;
  return `${kind} ${status ?? ''} ${code ?? ''}`.trim();
}

/** Every distinct failure (by what failed on which kind of request) with its first reproducer, by symptom. */
export function formatFailures(report: FuzzReport): string {
  const bySymptom = new Map<string, DistinctFailure[]>();
  for (const distinct of report.distinct) {
    const symptom = symptomOf(distinct.first);
    bySymptom.set(symptom, [...(bySymptom.get(symptom) ?? []), distinct]);
  }
  const lines = [
    `${report.distinct.length} distinct fuzz failure(s) (${report.failures.length} in all) under ${bySymptom.size} symptom(s); ` +
      `seed ${report.seed} (vary with ZKGATE_FUZZ_SEED / ZKGATE_FUZZ_COUNT; npm run fuzz -- --seed ${report.seed} --count ${report.count}):`,
  ];
  let n = 0;
  for (const [symptom, group] of bySymptom) {
    lines.push('', `== ${symptom} (${group.length} kind(s) of request)`);
    for (const { key, first, count } of group) {
      n++;
      lines.push(`${n}. [${key}] x${count}: ${first.finding.detail}`);
      if (first.why) lines.push(`   expected because: ${first.why}`);
      if (first.request)
        lines.push(
          `   request (case ${first.caseIndex}, step ${first.stepIndex}): ${showRequest(first.request)}`,
        );
      if (first.response && first.finding.kind !== 'not-problem')
        lines.push(`   response: ${first.response}`);
      if (first.output?.trim()) lines.push(`   gateway output:\n${first.output.replace(/^/gm, '     | ')}`);
      lines.push(`   replay: npm run fuzz -- --seed ${report.seed} --only ${first.caseIndex}`);
    }
  }
  return lines.join('\n');
}
