/**
 * The property every fuzz request must satisfy, whatever it is:
 *
 * - an answer, within the deadline (an event stream: its head, then events during the window);
 * - no 5xx, except a 503 that names an unavailable dependency or capacity (see {@link ALLOWED_503});
 * - every 4xx and 5xx is `application/problem+json` with `type`, `title`, `status` (the response's)
 *   and a `code` from the catalog in `src/errors.ts` whose status is the response's;
 * - the step's own expectation (a valid setup step succeeds, a request breaking the spec or HTTP
 *   is refused, a watch resumed from the future is not left silent);
 * - nothing written for a refused request: no znode changed in the store (background writes of
 *   the gateway itself aside), checked by the runner with {@link checkWrites}.
 *
 * The runner adds liveness: the process is alive and `/healthz` answers 200 after every case.
 */
import { ERRORS } from '../../src/errors.js';
import type { Exchange, HttpResponse } from './http.js';
import type { Step } from './model.js';
import { isBackground, type StoreLayout, type ZnodeWrite } from './store-log.js';

export type FindingKind =
  | 'crash'
  | 'unresponsive'
  | 'hang'
  | 'no-response'
  | '5xx'
  | 'not-problem'
  | 'bad-problem'
  | 'code-status-mismatch'
  | 'accepted-invalid'
  | 'refused-valid'
  | 'silent-resume'
  | 'wrote-on-refusal';

export interface Finding {
  readonly kind: FindingKind;
  readonly status?: number;
  readonly code?: string;
  readonly detail: string;
}

/** 503s that are answers, not failures: a dependency or a capacity is unavailable. */
export const ALLOWED_503 = new Set([
  'ZKG_STORE_UNAVAILABLE',
  'ZKG_HOTSTORE_UNAVAILABLE',
  'ZKG_NO_INSTANCE_AVAILABLE',
  'ZKG_WATCH_LIMIT',
  'ZKG_NOT_READY',
]);

const CATALOG: Readonly<Record<string, { status: number }>> = ERRORS;

/** The problem document's `code`, when the body is one. */
export function problemCode(response: HttpResponse): string | undefined {
  if (!/^application\/problem\+json/i.test(response.headers['content-type'] ?? '')) return undefined;
  try {
    const code = (JSON.parse(response.body.toString('utf8')) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function excerpt(body: Buffer): string {
  const text = body.toString('utf8');
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

function checkResponse(response: HttpResponse, head: boolean): Finding[] {
  const { status } = response;
  if (status < 400) return [];
  const findings: Finding[] = [];
  const type = response.headers['content-type'] ?? '';
  const code = problemCode(response);
  const tag = { status, ...(code === undefined ? {} : { code }) };
  if (status >= 500 && !(status === 503 && code !== undefined && ALLOWED_503.has(code))) {
    findings.push({ kind: '5xx', ...tag, detail: `${status} ${code ?? type} ${excerpt(response.body)}` });
  }
  if (!/^application\/problem\+json/i.test(type)) {
    findings.push({
      kind: 'not-problem',
      ...tag,
      detail: `${status} with Content-Type ${JSON.stringify(type)}: ${excerpt(response.body)}`,
    });
    return findings;
  }
  if (head) return findings;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    findings.push({ kind: 'bad-problem', ...tag, detail: `body is not JSON: ${excerpt(response.body)}` });
    return findings;
  }
  const missing = ['type', 'title', 'code'].filter((k) => typeof doc[k] !== 'string');
  if (typeof doc['status'] !== 'number') missing.push('status');
  if (missing.length > 0 || doc['status'] !== status) {
    findings.push({
      kind: 'bad-problem',
      ...tag,
      detail: `problem lacks ${missing.join(', ') || `status ${status} (has ${String(doc['status'])})`}: ${excerpt(response.body)}`,
    });
  }
  if (code !== undefined) {
    const entry = CATALOG[code];
    if (!entry)
      findings.push({ kind: 'bad-problem', ...tag, detail: `code ${code} is not in src/errors.ts` });
    else if (entry.status !== status)
      findings.push({
        kind: 'code-status-mismatch',
        ...tag,
        detail: `${code} is ${entry.status} in the catalog, answered ${status}`,
      });
  }
  return findings;
}

/** What is wrong with the answer to one step (empty when nothing is). */
export function checkExchange(step: Step, result: Exchange, deadlineMs: number): Finding[] {
  const head = step.request.method === 'HEAD';
  if (result.outcome === 'timeout' && result.responses.length === 0) {
    return [{ kind: 'hang', detail: `no answer within ${deadlineMs} ms` }];
  }
  if (result.outcome === 'timeout') {
    return [
      {
        kind: 'hang',
        status: result.responses[0]!.status,
        detail: `answer not finished within ${deadlineMs} ms (${result.responses.length} response(s) begun)`,
      },
    ];
  }
  if (result.outcome === 'refused')
    return [{ kind: 'no-response', detail: `connection refused: ${result.error}` }];
  if (result.responses.length === 0) {
    return step.mayDrop
      ? []
      : [
          {
            kind: 'no-response',
            detail: `connection closed without an answer${result.error ? ` (${result.error})` : ''}`,
          },
        ];
  }
  const findings = result.responses.flatMap((r) => checkResponse(r, head));
  const first = result.responses[0]!;
  const code = problemCode(first);
  const tag = { status: first.status, ...(code === undefined ? {} : { code }) };
  if (step.expect === 'refused' && first.status < 400) {
    findings.push({
      kind: 'accepted-invalid',
      ...tag,
      detail: `answered ${first.status} to a request to refuse: ${step.why}`,
    });
  }
  if (step.expect === 'success' && first.status >= 400) {
    findings.push({
      kind: 'refused-valid',
      ...tag,
      detail: `answered ${first.status} ${code ?? ''} to a valid request (${step.why}): ${excerpt(first.body)}`,
    });
  }
  if (step.expect === 'resume' && first.status < 300 && (first.events?.length ?? 0) === 0) {
    findings.push({
      kind: 'silent-resume',
      ...tag,
      detail:
        'a watch resumed from an id the store has not reached got no event (neither a reset nor the state): it skips every change until the zxid passes it',
    });
  }
  return findings;
}

/**
 * A refused request (4xx or 5xx, or one cut short by the client) must not have changed the store.
 * One still unanswered at its deadline is reported as a hang instead.
 */
export function checkWrites(
  step: Step,
  result: Exchange,
  writes: readonly ZnodeWrite[],
  layout: StoreLayout,
): Finding[] {
  const first = result.responses[0];
  if (result.outcome === 'timeout') return [];
  const refused = first === undefined || first.status >= 400;
  if (!refused) return [];
  const own = writes.filter((w) => !isBackground(w, layout));
  if (own.length === 0) return [];
  const code = first ? problemCode(first) : undefined;
  const listed = own
    .slice(0, 6)
    .map((w) => `${w.op} ${w.path}`)
    .join(', ');
  return [
    {
      kind: 'wrote-on-refusal',
      ...(first ? { status: first.status } : {}),
      ...(code === undefined ? {} : { code }),
      detail: `${first ? `answered ${first.status}` : 'not answered'} yet ${own.length} znode change(s): ${listed}${own.length > 6 ? ', …' : ''}`,
    },
  ];
}
