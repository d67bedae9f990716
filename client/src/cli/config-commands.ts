/** `zkgate config ...` and `zkgate types`: namespaces, their releases and schemas. */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { createTwoFilesPatch } from 'diff';
import { createClient } from '../client.js';
import { FORMATS, contentTypeOf, formatOf, formatOfFile, type Format } from '../formats.js';
import { pathOf, type Transport } from '../transport.js';
import { CliExit, EXIT, ensureNewline, positiveInteger, table, type Context } from './context.js';

interface Summary {
  namespace: string;
  version: number;
  index: string;
  format: string;
  modified: string;
}

interface Release {
  version: number;
  format: string;
  author?: string;
  comment?: string;
  time: string;
  size: number;
}

export interface Document {
  namespace: string;
  version: number;
  index: string;
  format: Format;
  content: string;
}

const configPath = (namespace: string, sub = ''): string => `/v1/config/${pathOf(namespace)}${sub}`;

/** The current document, or release `version`. */
export async function readDocument(
  transport: Transport,
  namespace: string,
  version?: number,
): Promise<Document> {
  const response = await transport.request(
    'GET',
    configPath(namespace, version === undefined ? '' : `:history/${version}`),
  );
  return {
    namespace,
    version: Number(response.headers.get('x-zkgate-version') ?? version),
    index: response.headers.get('x-zkgate-index') ?? '',
    format: formatOf(response.headers.get('content-type')),
    content: await response.text(),
  };
}

/** The namespace's JSON Schema as the gateway serves it, or `undefined` when it has none. */
export async function readSchema(transport: Transport, namespace: string): Promise<string | undefined> {
  const response = await transport.request('GET', configPath(namespace, ':schema'), { accept: [404] });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  return response.text();
}

export async function listNamespaces(transport: Transport, prefix: string): Promise<Summary[]> {
  return transport.json<Summary[]>('GET', '/v1/config', { query: { prefix } });
}

async function readInput(ctx: Context, file: string | undefined): Promise<string> {
  return file === undefined || file === '-' ? ctx.io.stdin() : readFile(file, 'utf8');
}

function formatOption(): Option {
  return new Option(
    '--format <format>',
    'document format (default: from the file extension, else json)',
  ).choices(FORMATS);
}

export function configCommands(ctx: Context): Command {
  const config = new Command('config').description('namespaces: documents, releases, schemas');

  config
    .command('get <namespace>')
    .description('print a document as published (or one release with --version)')
    .option('--version <n>', 'a past release')
    .action(async (namespace: string, opts: { version?: string }, cmd: Command) => {
      const version = opts.version === undefined ? undefined : positiveInteger(opts.version, '--version');
      const document = await readDocument(ctx.transport(cmd), namespace, version);
      ctx.print(cmd, document, () => document.content);
    });

  config
    .command('put <namespace> [file]')
    .description('publish a document from a file or stdin (`-` or no file)')
    .addOption(formatOption())
    .option('--if-version <n>', 'only if the current version is this one (else exit 4)')
    .option('--create', 'only if the namespace does not exist yet (else exit 4)')
    .option('--comment <text>', 'recorded in the history')
    .action(
      async (
        namespace: string,
        file: string | undefined,
        opts: { format?: Format; ifVersion?: string; create?: boolean; comment?: string },
        cmd: Command,
      ) => {
        const format = opts.format ?? (file === undefined ? undefined : formatOfFile(file)) ?? 'json';
        const headers: Record<string, string> = { 'content-type': contentTypeOf(format) };
        if (opts.ifVersion !== undefined)
          headers['if-match'] = `"${positiveInteger(opts.ifVersion, '--if-version')}"`;
        if (opts.create) headers['if-none-match'] = '*';
        if (opts.comment !== undefined) headers['x-zkgate-comment'] = encodeURIComponent(opts.comment);
        const result = await ctx
          .transport(cmd)
          .json<{ namespace: string; version: number; index: string }>('PUT', configPath(namespace), {
            headers,
            body: await readInput(ctx, file),
          });
        ctx.print(cmd, result, () => `${result.namespace} version ${result.version}`);
      },
    );

  config
    .command('rm <namespace>')
    .description('delete a namespace')
    .option('--if-version <n>', 'only if the current version is this one (else exit 4)')
    .action(async (namespace: string, opts: { ifVersion?: string }, cmd: Command) => {
      const headers: Record<string, string> =
        opts.ifVersion === undefined
          ? {}
          : { 'if-match': `"${positiveInteger(opts.ifVersion, '--if-version')}"` };
      const result = await ctx
        .transport(cmd)
        .json<{ namespace: string; version: number }>('DELETE', configPath(namespace), { headers });
      ctx.print(cmd, result, () => `${namespace} deleted (was version ${result.version})`);
    });

  config
    .command('ls')
    .description('list namespaces')
    .option('--prefix <prefix>', 'only names starting with this', '')
    .action(async (opts: { prefix: string }, cmd: Command) => {
      const list = await listNamespaces(ctx.transport(cmd), opts.prefix);
      ctx.print(cmd, list, () =>
        table([
          ['NAMESPACE', 'VERSION', 'FORMAT', 'MODIFIED'],
          ...list.map((s) => [s.namespace, s.version, s.format, s.modified]),
        ]),
      );
    });

  config
    .command('history <namespace>')
    .description('releases, newest first')
    .option('--limit <n>', 'at most this many', '20')
    .action(async (namespace: string, opts: { limit: string }, cmd: Command) => {
      const releases = await ctx.transport(cmd).json<Release[]>('GET', configPath(namespace, ':history'), {
        query: { limit: String(positiveInteger(opts.limit, '--limit')) },
      });
      ctx.print(cmd, releases, () =>
        table([
          ['VERSION', 'TIME', 'AUTHOR', 'SIZE', 'COMMENT'],
          ...releases.map((r) => [r.version, r.time, r.author, r.size, r.comment]),
        ]),
      );
    });

  config
    .command('diff <namespace> <from> [to]')
    .description('a unified diff between two releases (to: default the current one); exit 8 if they differ')
    .action(async (namespace: string, from: string, to: string | undefined, _opts: unknown, cmd: Command) => {
      const transport = ctx.transport(cmd);
      const a = await readDocument(transport, namespace, positiveInteger(from, 'from'));
      const b = await readDocument(
        transport,
        namespace,
        to === undefined ? undefined : positiveInteger(to, 'to'),
      );
      const patch = createTwoFilesPatch(
        `${namespace}@${a.version}`,
        `${namespace}@${b.version}`,
        a.content,
        b.content,
      );
      const same = a.content === b.content && a.format === b.format;
      ctx.print(cmd, { from: a.version, to: b.version, same, patch }, () => patch);
      if (!same) throw new CliExit(EXIT.differs);
    });

  config
    .command('rollback <namespace> <version>')
    .description('publish a past release again, as a new version')
    .action(async (namespace: string, version: string, _opts: unknown, cmd: Command) => {
      const result = await ctx
        .transport(cmd)
        .json<{ namespace: string; version: number }>('POST', configPath(namespace, ':rollback'), {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: positiveInteger(version, 'version') }),
        });
      ctx.print(cmd, result, () => `${namespace} version ${result.version} (release ${version} again)`);
    });

  config
    .command('schema <namespace>')
    .description("print the namespace's JSON Schema, or set it with --set")
    .option('--set <file>', 'a JSON Schema file (`-` for stdin)')
    .action(async (namespace: string, opts: { set?: string }, cmd: Command) => {
      const transport = ctx.transport(cmd);
      if (opts.set !== undefined) {
        await transport.request('PUT', configPath(namespace, ':schema'), {
          headers: { 'content-type': 'application/json' },
          body: await readInput(ctx, opts.set),
        });
      }
      const schema = await readSchema(transport, namespace);
      if (schema === undefined) throw new CliExit(EXIT.notFound, `${namespace} has no schema`);
      ctx.io.stdout(ensureNewline(schema));
    });

  config
    .command('watch <namespaces...>')
    .description('print each namespace, then every change, until interrupted')
    .action(async (namespaces: string[], _opts: unknown, cmd: Command) => {
      const client = createClient({ urls: ctx.urls(cmd), token: ctx.token(cmd) });
      const show = (namespace: string, version: number, content: string, author?: string): void =>
        ctx.print(
          cmd,
          { namespace, version, author, content },
          () => `--- ${namespace} version ${version}\n${content}`,
        );
      try {
        for (const namespace of namespaces) {
          const handle = await client.config(namespace);
          show(namespace, handle.version, handle.raw);
          // The handle holds the new version by the time `change` is emitted.
          handle.on('change', ({ version, author }) => show(namespace, version, handle.raw, author));
          handle.on('deleted', ({ version }) =>
            ctx.print(cmd, { namespace, deleted: version }, () => `--- ${namespace} deleted`),
          );
        }
        await aborted(ctx.io.signal);
      } finally {
        await client.close();
      }
    });

  return config;
}

export function typesCommand(ctx: Context): Command {
  return new Command('types')
    .argument('<namespace>')
    .description("a TypeScript type generated from the namespace's JSON Schema")
    .option('--name <name>', 'the type name (default: from the namespace)')
    .action(async (namespace: string, opts: { name?: string }, cmd: Command) => {
      const text = await readSchema(ctx.transport(cmd), namespace);
      if (text === undefined) throw new CliExit(EXIT.notFound, `${namespace} has no schema`);
      const name = opts.name ?? typeNameOf(namespace);
      const { compile } = await loadSchemaCompiler();
      const source = await compile(JSON.parse(text) as object, name, {
        bannerComment: `/* Generated by \`zkgate types ${namespace}\` from its JSON Schema: do not edit. */`,
        $refOptions: { resolve: { http: false, file: false } },
      });
      ctx.io.stdout(source);
    });
}

/**
 * json-schema-to-typescript, an optional peer: it brings prettier and lodash, which an
 * application using the SDK should not have to install for one CLI command.
 */
async function loadSchemaCompiler(): Promise<typeof import('json-schema-to-typescript')> {
  try {
    return await import('json-schema-to-typescript');
  } catch {
    throw new CliExit(
      EXIT.failure,
      '`zkgate types` needs json-schema-to-typescript: npm install json-schema-to-typescript',
    );
  }
}

/** `prod/payments-api` -> `ProdPaymentsApi`. */
function typeNameOf(namespace: string): string {
  return namespace
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
