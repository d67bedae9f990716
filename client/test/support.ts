/** Helpers of the client's tests: the CLI run in-process, and plain operator requests. */
import { run, type Io } from '../src/cli/program.js';
import { MANAGEMENT, MANAGEMENT_SECRET } from '../../test/support/tokens.js';

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly url?: string;
  readonly token?: string | null;
  readonly stdin?: string;
  readonly signal?: AbortSignal;
  /** Receives stdout as it is written (for the long-running commands). */
  readonly onStdout?: (text: string) => void;
}

/** `zkgate <args>` against `url` as the operator (ZKGATE_ADDR, ZKGATE_TOKEN), in this process. */
export async function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => {
      stdout += t;
      options.onStdout?.(stdout);
    },
    stderr: (t) => (stderr += t),
    stdin: async () => options.stdin ?? '',
    env: {
      PATH: process.env.PATH,
      ...(options.url === undefined ? {} : { ZKGATE_ADDR: options.url }),
      ...(options.token === null ? {} : { ZKGATE_TOKEN: options.token ?? MANAGEMENT_SECRET }),
    },
    signal: options.signal ?? new AbortController().signal,
  };
  const status = await run(args, io);
  return { status, stdout, stderr };
}

/** A request as the operator; throws on a non-2xx answer. */
export async function operator(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Response> {
  const response = await fetch(url + path, {
    method,
    headers: { ...MANAGEMENT, ...(body === undefined ? {} : { 'content-type': contentType }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** Publishes `document` (JSON) to `namespace`; resolves with the new version. */
export async function publish(url: string, namespace: string, document: unknown): Promise<number> {
  const response = await operator(url, 'PUT', `/v1/config/${namespace}`, document);
  return ((await response.json()) as { version: number }).version;
}
