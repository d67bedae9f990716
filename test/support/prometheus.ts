/**
 * Parses Prometheus text exposition with the official Prometheus Python client's parser
 * (`prometheus_client.parser`, Debian's python3-prometheus-client), so a test of `/metrics`
 * checks the format independently of prom-client, which writes it.
 */
import { spawn } from 'node:child_process';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const INSTALL_HINT = 'apt-get install python3-prometheus-client (scripts/test-deps.sh installs it)';

/** Exit status of the script when the module cannot be imported, told apart from a parse error. */
const NO_MODULE_EXIT = 3;

/**
 * Reads the text from stdin and prints `[{name, labels, value}]`. Non-finite values are written
 * as strings (`"NaN"`, `"+Inf"`, `"-Inf"`): JSON has no token for them. The parser is lazy, so
 * every family is consumed before anything is printed: an error anywhere rejects the whole text.
 */
const SCRIPT = `
import json, math, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as err:
    sys.stderr.write(str(err))
    sys.exit(${NO_MODULE_EXIT})
def encode(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v
try:
    samples = [
        {"name": s.name, "labels": s.labels, "value": encode(s.value)}
        for family in text_string_to_metric_families(sys.stdin.read())
        for s in family.samples
    ]
except Exception as err:
    sys.stderr.write(type(err).__name__ + ": " + str(err))
    sys.exit(1)
json.dump(samples, sys.stdout)
`;

/**
 * Debian installs the package for its own interpreter; a `python3` earlier on PATH (pyenv, a
 * virtualenv) may not see it, so both are tried, Debian's first.
 */
const INTERPRETERS = ['/usr/bin/python3', 'python3'] as const;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(interpreter: string, input: string): Promise<Run | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err: NodeJS.ErrnoException) =>
      // No such interpreter: let the caller try the next one.
      err.code === 'ENOENT' ? resolve(undefined) : reject(err),
    );
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    // A parser that fails early may close stdin before everything is written.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function decode(value: number | string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return Number.NaN;
  if (value === '+Inf') return Number.POSITIVE_INFINITY;
  if (value === '-Inf') return Number.NEGATIVE_INFINITY;
  throw new Error(`unexpected sample value ${JSON.stringify(value)}`);
}

/** Every sample of `text`; rejects with the parser's message when it is not valid exposition text. */
export async function parsePrometheus(text: string): Promise<Sample[]> {
  const missing: string[] = [];
  for (const interpreter of INTERPRETERS) {
    const result = await run(interpreter, text);
    if (result === undefined) {
      missing.push(`${interpreter}: not found`);
      continue;
    }
    if (result.code === NO_MODULE_EXIT) {
      missing.push(`${interpreter}: ${result.stderr.trim()}`);
      continue;
    }
    if (result.code !== 0) {
      throw new Error(`invalid Prometheus text: ${result.stderr.trim() || `python exited ${result.code}`}`);
    }
    const raw = JSON.parse(result.stdout) as Array<{
      name: string;
      labels: Record<string, string>;
      value: number | string;
    }>;
    return raw.map((s) => ({ name: s.name, labels: s.labels, value: decode(s.value) }));
  }
  throw new Error(
    `the Prometheus Python client is not available (${missing.join('; ')}); install it with: ${INSTALL_HINT}`,
  );
}

/** The sum of the samples named `name` whose labels include every one of `labels` (0 when none match). */
export function value(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const wanted = Object.entries(labels);
  return samples
    .filter((s) => s.name === name && wanted.every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
