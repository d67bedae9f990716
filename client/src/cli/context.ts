/**
 * What every command shares: where its output goes (so tests run the CLI in-process), the
 * gateway it talks to, and the exit codes scripts rely on.
 */
import type { Command } from 'commander';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  RequestError,
  UnauthorizedError,
  UnavailableError,
} from '../errors.js';
import { Transport } from '../transport.js';

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Ends long-running commands (`config watch`, `exec`); the bin wires it to SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
}

/** Exit statuses, stable: scripts branch on them. */
export const EXIT = {
  ok: 0,
  /** Anything unforeseen. */
  failure: 1,
  /** Bad arguments or options. */
  usage: 2,
  notFound: 3,
  /** A version precondition failed (`--if-version`), or the thing exists already. */
  conflict: 4,
  /** 401 or 403. */
  denied: 5,
  /** No gateway answered, or it could not serve (503). */
  unavailable: 6,
  /** The gateway refused the request as invalid (400, 413, 415, 422). */
  rejected: 7,
  /** `config diff`: the two versions differ (like diff(1)'s 1, kept apart from failures). */
  differs: 8,
} as const;

/** A command's deliberate ending with a status (and a message for stderr). */
export class CliExit extends Error {
  constructor(
    readonly status: number,
    message = '',
  ) {
    super(message);
  }
}

export function exitStatusOf(err: unknown): number {
  if (err instanceof CliExit) return err.status;
  if (err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof ConflictError) return EXIT.conflict;
  if (err instanceof UnauthorizedError || err instanceof ForbiddenError) return EXIT.denied;
  if (err instanceof UnavailableError) return EXIT.unavailable;
  if (err instanceof RequestError) return EXIT.rejected;
  return EXIT.failure;
}

export interface GlobalOptions {
  readonly addr?: string;
  readonly token?: string;
  readonly json?: boolean;
}

export class Context {
  constructor(readonly io: Io) {}

  options(command: Command): GlobalOptions {
    return command.optsWithGlobals<GlobalOptions>();
  }

  /** The gateway(s): `--addr` or ZKGATE_ADDR, comma-separated for several replicas. */
  urls(command: Command): string[] {
    const addr = this.options(command).addr ?? this.io.env.ZKGATE_ADDR ?? 'http://127.0.0.1:8080';
    return addr
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
  }

  token(command: Command): string | undefined {
    return this.options(command).token ?? this.io.env.ZKGATE_TOKEN;
  }

  transport(command: Command): Transport {
    return new Transport({ urls: this.urls(command), token: this.token(command) });
  }

  json(command: Command): boolean {
    return this.options(command).json === true;
  }

  /** `value` as JSON with --json, else as `text` renders it. */
  print(command: Command, value: unknown, text: () => string): void {
    this.io.stdout(this.json(command) ? `${JSON.stringify(value, null, 2)}\n` : ensureNewline(text()));
  }
}

export function ensureNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

/** Rows as aligned columns, for the human-readable listings. */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number | undefined>>): string {
  const cells = rows.map((row) => row.map((c) => (c === undefined ? '-' : String(c))));
  const widths: number[] = [];
  for (const row of cells) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return cells
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A positive integer argument, or a usage error naming it. */
export function positiveInteger(value: string, what: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(value))
    throw new CliExit(EXIT.usage, `${what} must be a positive integer, got ${value}`);
  return Number(value);
}
