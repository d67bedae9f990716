/**
 * `zkgate export` and `zkgate import`: a tree of namespaces with their schemas, copied between
 * environments. Documents travel as their exact text (the gateway stores bytes as sent, and only
 * accepts UTF-8), so an import publishes byte-identical documents. An import is a plan unless
 * `--apply`: what would be created or updated, and what is already the same.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { NotFoundError } from '../errors.js';
import { contentTypeOf, isFormat, type Format } from '../formats.js';
import { pathOf, type Transport } from '../transport.js';
import { listNamespaces, readDocument, readSchema } from './config-commands.js';
import { CliExit, EXIT, table, type Context } from './context.js';

const EXPORT_KIND = 'zkgate-export';

interface ExportedNamespace {
  namespace: string;
  format: Format;
  content: string;
  /** The JSON Schema's text as served, when the namespace has one. */
  schema?: string;
}

interface ExportFile {
  kind: typeof EXPORT_KIND;
  version: 1;
  prefix: string;
  namespaces: ExportedNamespace[];
}

type Action = 'create' | 'update' | 'unchanged';

interface PlanEntry {
  namespace: string;
  document: Action;
  schema: Action | 'none';
}

async function exportTree(transport: Transport, prefix: string): Promise<ExportFile> {
  const namespaces: ExportedNamespace[] = [];
  for (const { namespace } of await listNamespaces(transport, prefix)) {
    const document = await readDocument(transport, namespace);
    const schema = await readSchema(transport, namespace);
    namespaces.push({
      namespace,
      format: document.format,
      content: document.content,
      ...(schema === undefined ? {} : { schema }),
    });
  }
  return { kind: EXPORT_KIND, version: 1, prefix, namespaces };
}

function parseExport(text: string, file: string): ExportFile {
  let parsed: Partial<ExportFile>;
  try {
    parsed = JSON.parse(text) as Partial<ExportFile>;
  } catch (err) {
    throw new CliExit(EXIT.usage, `${file} is not JSON: ${(err as Error).message}`);
  }
  const valid =
    parsed.kind === EXPORT_KIND &&
    parsed.version === 1 &&
    Array.isArray(parsed.namespaces) &&
    parsed.namespaces.every(
      (n) =>
        typeof n.namespace === 'string' &&
        typeof n.content === 'string' &&
        isFormat(n.format) &&
        (n.schema === undefined || typeof n.schema === 'string'),
    );
  if (!valid) throw new CliExit(EXIT.usage, `${file} is not a zkgate export (made by \`zkgate export\`)`);
  return parsed as ExportFile;
}

async function planOf(transport: Transport, entry: ExportedNamespace): Promise<PlanEntry> {
  let document: Action = 'create';
  try {
    const current = await readDocument(transport, entry.namespace);
    document = current.content === entry.content && current.format === entry.format ? 'unchanged' : 'update';
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  const currentSchema = document === 'create' ? undefined : await readSchema(transport, entry.namespace);
  const schema: PlanEntry['schema'] =
    entry.schema === undefined
      ? 'none'
      : currentSchema === undefined
        ? 'create'
        : currentSchema === entry.schema
          ? 'unchanged'
          : 'update';
  return { namespace: entry.namespace, document, schema };
}

async function applyEntry(transport: Transport, entry: ExportedNamespace, plan: PlanEntry): Promise<void> {
  const path = `/v1/config/${pathOf(entry.namespace)}`;
  if (plan.document !== 'unchanged') {
    await transport.request('PUT', path, {
      headers: { 'content-type': contentTypeOf(entry.format), 'x-zkgate-comment': 'zkgate import' },
      body: entry.content,
    });
  }
  if (entry.schema !== undefined && plan.schema !== 'unchanged') {
    await transport.request('PUT', `${path}:schema`, {
      headers: { 'content-type': 'application/json' },
      body: entry.schema,
    });
  }
}

export function transferCommands(ctx: Context): Command[] {
  const exportCommand = new Command('export')
    .description('write every namespace under a prefix, with its schema, as JSON to stdout')
    .requiredOption('--prefix <prefix>', 'namespaces whose name starts with this (`""` for all)')
    .action(async (opts: { prefix: string }, cmd: Command) => {
      const tree = await exportTree(ctx.transport(cmd), opts.prefix);
      ctx.io.stdout(`${JSON.stringify(tree, null, 2)}\n`);
    });

  const importCommand = new Command('import')
    .argument('<file>', 'made by `zkgate export` (`-` for stdin)')
    .description('publish an export here: prints the plan and changes nothing unless --apply')
    .option('--apply', 'make the changes')
    .action(async (file: string, opts: { apply?: boolean }, cmd: Command) => {
      const text = file === '-' ? await ctx.io.stdin() : await readFile(file, 'utf8');
      const tree = parseExport(text, file);
      const transport = ctx.transport(cmd);
      const plan: PlanEntry[] = [];
      for (const entry of tree.namespaces) plan.push(await planOf(transport, entry));
      if (opts.apply) {
        for (const [i, entry] of tree.namespaces.entries()) await applyEntry(transport, entry, plan[i]!);
      }
      const changes = plan.filter(
        (p) => p.document !== 'unchanged' || (p.schema !== 'unchanged' && p.schema !== 'none'),
      );
      ctx.print(cmd, { applied: opts.apply === true, plan }, () =>
        [
          table([
            ['NAMESPACE', 'DOCUMENT', 'SCHEMA'],
            ...plan.map((p) => [p.namespace, p.document, p.schema]),
          ]),
          opts.apply
            ? `applied ${changes.length} change(s)`
            : `${changes.length} change(s) planned; nothing changed (run again with --apply)`,
        ].join('\n'),
      );
    });

  return [exportCommand, importCommand];
}
