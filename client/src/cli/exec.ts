/**
 * `zkgate exec`: runs a command with namespaces in its environment and restarts it (or sends it a
 * signal) whenever one changes, like envconsul. Ends with the command's own exit status when it
 * exits by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { Command } from 'commander';
import { createClient } from '../client.js';
import type { ConfigHandle } from '../config.js';
import { CliExit, EXIT, type Context } from './context.js';

/**
 * A namespace as environment variables: an object document's top-level keys (non-string values as
 * JSON), a properties document's keys, or, for text and non-object documents, one variable named
 * after the namespace (`prod/feature-flags` -> `PROD_FEATURE_FLAGS`).
 */
export function variablesOf(
  namespace: string,
  format: string,
  document: unknown,
  raw: string,
): Record<string, string> {
  if (format === 'properties') return parseProperties(raw);
  if (
    (format === 'json' || format === 'yaml') &&
    document !== null &&
    typeof document === 'object' &&
    !Array.isArray(document)
  ) {
    return Object.fromEntries(
      Object.entries(document as Record<string, unknown>).map(([k, v]) => [
        k,
        typeof v === 'string' ? v : JSON.stringify(v),
      ]),
    );
  }
  return { [namespace.toUpperCase().replace(/[^A-Z0-9]+/g, '_')]: raw };
}

/** `key=value` / `key: value` lines; `#` and `!` comments. Continuation lines are not supported. */
function parseProperties(raw: string): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const line of raw.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('!')) continue;
    const match = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(trimmed);
    if (match) variables[match[1]!] = match[2]!;
  }
  return variables;
}

/** The status a shell reports for a process: its code, or 128 plus the signal that ended it. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0));
}

export function execCommand(ctx: Context): Command {
  return new Command('exec')
    .description('run a command with namespaces in its environment; restart (or signal) it on every change')
    .requiredOption('--ns <namespace...>', 'a namespace; repeat for several (later ones win on equal keys)')
    .option('--signal <signal>', 'send this signal on change instead of restarting (e.g. SIGHUP)')
    .argument('<command...>', 'after --')
    .action(async (command: string[], opts: { ns: string[]; signal?: string }, cmd: Command) => {
      const client = createClient({ urls: ctx.urls(cmd), token: ctx.token(cmd) });
      try {
        const handles: ConfigHandle[] = [];
        for (const namespace of opts.ns) handles.push(await client.config(namespace));
        const environment = (): Record<string, string | undefined> =>
          Object.assign(
            {},
            ctx.io.env,
            ...handles.map((h) => variablesOf(h.namespace, h.format, h.value, h.raw)),
          );
        const status = await supervise(
          command,
          environment,
          handles,
          opts.signal as NodeJS.Signals | undefined,
          ctx.io.signal,
        );
        if (status !== 0) throw new CliExit(status);
      } finally {
        await client.close();
      }
    });
}

/** Runs the command until it exits by itself (its status) or `stop` aborts (then SIGTERM, and its status). */
function supervise(
  command: string[],
  environment: () => Record<string, string | undefined>,
  handles: ReadonlyArray<ConfigHandle<unknown>>,
  signal: NodeJS.Signals | undefined,
  stop: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    let restarting = false;
    let stopping = false;
    const start = (): void => {
      child = spawn(command[0]!, command.slice(1), { env: environment(), stdio: 'inherit' });
      child.once('error', (err) => reject(new CliExit(EXIT.failure, `${command[0]}: ${err.message}`)));
      child.once('exit', (code, sig) => {
        if (restarting) {
          restarting = false;
          start();
          return;
        }
        for (const h of handles) h.off('change', changed);
        resolve(stopping ? (code ?? 0) : exitStatus(code, sig));
      });
    };
    const changed = (): void => {
      if (signal !== undefined) {
        child.kill(signal);
      } else if (!restarting) {
        restarting = true;
        child.kill('SIGTERM');
      }
    };
    for (const h of handles) h.on('change', changed);
    stop.addEventListener(
      'abort',
      () => {
        stopping = true;
        restarting = false;
        child.kill('SIGTERM');
      },
      { once: true },
    );
    start();
  });
}
