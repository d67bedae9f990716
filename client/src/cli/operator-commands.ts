/** The registry, dispatch, access control and cluster commands. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Argument, Command, Option } from 'commander';
import type { Instance } from '../instances.js';
import { STRATEGY_NAMES } from '../instances.js';
import { Transport, pathOf } from '../transport.js';
import { CliExit, EXIT, table, type Context } from './context.js';

interface ServiceSummary {
  service: string;
  instances: number;
  healthy: number;
  status: Record<string, number>;
}

interface CheckView {
  id: string;
  check: Record<string, unknown>;
  checkStatus?: string;
  last?: { ok?: boolean; at?: string; detail?: string };
}

interface Token {
  accessor: string;
  description: string;
  policies: string[];
  expiresAt?: string;
  secret?: string;
}

interface Policy {
  name: string;
  description?: string;
  rules: unknown;
  builtIn: boolean;
}

const servicePath = (service: string): string => `/v1/services/${pathOf(service)}`;

function instanceRows(instances: readonly Instance[]): string[][] {
  return [
    ['ID', 'ADDRESS', 'STATUS', 'HEALTHY', 'ZONE', 'WEIGHT'],
    ...instances.map((i) => [
      i.id,
      `${i.address}:${i.port ?? i.sslPort ?? '-'}`,
      i.status,
      String(i.healthy),
      i.zone ?? '-',
      String(i.weight),
    ]),
  ];
}

export function registryCommands(ctx: Context): Command[] {
  const services = new Command('services')
    .description('services with instance counts')
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.transport(cmd).json<ServiceSummary[]>('GET', '/v1/services');
      ctx.print(cmd, list, () =>
        table([['SERVICE', 'INSTANCES', 'HEALTHY'], ...list.map((s) => [s.service, s.instances, s.healthy])]),
      );
    });

  const instances = new Command('instances')
    .argument('<service>')
    .description("a service's instances")
    .addOption(new Option('--status <status>').choices(['UP', 'DOWN', 'DRAINING']))
    .option('--zone <zone>')
    .action(async (service: string, opts: { status?: string; zone?: string }, cmd: Command) => {
      const list = await ctx
        .transport(cmd)
        .json<Instance[]>('GET', `${servicePath(service)}/instances`, { query: opts });
      ctx.print(cmd, list, () => table(instanceRows(list)));
    });

  const checks = new Command('checks')
    .argument('<service>')
    .description("the service's health checks and their latest results")
    .action(async (service: string, _opts: unknown, cmd: Command) => {
      const list = await ctx.transport(cmd).json<CheckView[]>('GET', `${servicePath(service)}/checks`);
      ctx.print(cmd, list, () =>
        table([
          ['ID', 'STATUS', 'LAST', 'DETAIL'],
          ...list.map((c) => [c.id, c.checkStatus, c.last?.at, c.last?.detail]),
        ]),
      );
    });

  const status = new Command('status')
    .argument('<service>')
    .argument('<id>')
    .addArgument(new Argument('<status>', 'UP, DOWN or DRAINING').choices(['UP', 'DOWN', 'DRAINING']))
    .description("set an instance's status as an operator (checks do not override it)")
    .action(async (service: string, id: string, value: string, _opts: unknown, cmd: Command) => {
      const result = await ctx
        .transport(cmd)
        .json<Instance>('PUT', `${servicePath(service)}/instances/${encodeURIComponent(id)}/status`, {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ status: value }),
        });
      ctx.print(cmd, result, () => `${service}/${id} ${result.status}`);
    });

  const dispatch = new Command('dispatch')
    .argument('<service>')
    .description('pick one healthy instance, as the gateway balances')
    .addOption(new Option('--strategy <strategy>').choices(STRATEGY_NAMES))
    .option('--key <key>', 'affinity key (consistent_hash)')
    .option('--zone <zone>', "the caller's zone")
    .action(
      async (service: string, opts: { strategy?: string; key?: string; zone?: string }, cmd: Command) => {
        const instance = await ctx
          .transport(cmd)
          .json<Instance>('GET', `/v1/dispatch/${pathOf(service)}`, { query: opts });
        ctx.print(
          cmd,
          instance,
          () => `${instance.id} ${instance.address}:${instance.port ?? instance.sslPort}`,
        );
      },
    );

  return [services, instances, checks, status, dispatch];
}

export function aclCommands(ctx: Context): Command {
  const acl = new Command('acl').description('access control: tokens and policies');

  acl
    .command('bootstrap')
    .description(
      "print the management token a gateway's first start wrote to its data dir, after checking it",
    )
    .option('--data-dir <dir>', "the gateway's ZKGATE_DATA_DIR", './data')
    .action(async (opts: { dataDir: string }, cmd: Command) => {
      const file = join(opts.dataDir, 'bootstrap-token');
      let secret: string;
      try {
        secret = (await readFile(file, 'utf8')).trim();
      } catch (err) {
        throw new CliExit(EXIT.notFound, `${file}: ${(err as Error).message}`);
      }
      const transport = new Transport({ urls: ctx.urls(cmd), token: secret });
      const whoami = await transport.json<{ accessor: string; description: string }>('GET', '/v1/acl/whoami');
      ctx.print(cmd, { ...whoami, secret }, () => `export ZKGATE_TOKEN=${secret}`);
    });

  const token = acl.command('token').description('tokens');
  token
    .command('create')
    .description('make a token; its secret is printed once')
    .requiredOption('--description <text>')
    .requiredOption('--policy <name...>', 'one or more policies')
    .option('--expires <iso-date>', 'expiry, an ISO 8601 date-time')
    .action(async (opts: { description: string; policy: string[]; expires?: string }, cmd: Command) => {
      const created = await ctx.transport(cmd).json<Token>('POST', '/v1/acl/tokens', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          description: opts.description,
          policies: opts.policy,
          ...(opts.expires === undefined ? {} : { expiresAt: opts.expires }),
        }),
      });
      ctx.print(cmd, created, () => `accessor ${created.accessor}\nsecret   ${created.secret}`);
    });
  token
    .command('rm <accessor>')
    .description('revoke a token (its streams end at once)')
    .action(async (accessor: string, _opts: unknown, cmd: Command) => {
      await ctx.transport(cmd).request('DELETE', `/v1/acl/tokens/${encodeURIComponent(accessor)}`);
      ctx.print(cmd, { accessor, revoked: true }, () => `${accessor} revoked`);
    });
  token
    .command('ls')
    .description('list tokens')
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.transport(cmd).json<Token[]>('GET', '/v1/acl/tokens');
      ctx.print(cmd, list, () =>
        table([
          ['ACCESSOR', 'POLICIES', 'DESCRIPTION'],
          ...list.map((t) => [t.accessor, t.policies.join(','), t.description]),
        ]),
      );
    });

  acl
    .command('policy [name]')
    .description('list policies, print one, set one (--set rules.json) or delete one (--rm)')
    .option('--set <file>', 'a JSON file: {"description"?, "rules"}')
    .option('--rm', 'delete the policy')
    .action(async (name: string | undefined, opts: { set?: string; rm?: boolean }, cmd: Command) => {
      const transport = ctx.transport(cmd);
      if (name === undefined) {
        if (opts.set !== undefined || opts.rm)
          throw new CliExit(EXIT.usage, '--set and --rm need a policy name');
        const list = await transport.json<Policy[]>('GET', '/v1/acl/policies');
        ctx.print(cmd, list, () =>
          table([
            ['NAME', 'BUILT-IN', 'DESCRIPTION'],
            ...list.map((p) => [p.name, String(p.builtIn), p.description]),
          ]),
        );
        return;
      }
      const path = `/v1/acl/policies/${encodeURIComponent(name)}`;
      if (opts.rm) {
        await transport.request('DELETE', path);
        ctx.print(cmd, { name, deleted: true }, () => `${name} deleted`);
        return;
      }
      const policy =
        opts.set === undefined
          ? await transport.json<Policy>('GET', path)
          : await transport.json<Policy>('PUT', path, {
              headers: { 'content-type': 'application/json' },
              body: await readFile(opts.set, 'utf8'),
            });
      ctx.print(cmd, policy, () => JSON.stringify(policy, null, 2));
    });

  return acl;
}

export function clusterCommand(ctx: Context): Command {
  return new Command('cluster')
    .description('ZooKeeper servers, gateway replicas, scanner leader, Redis')
    .action(async (_opts: unknown, cmd: Command) => {
      const cluster = await ctx.transport(cmd).json<Record<string, unknown>>('GET', '/v1/cluster');
      ctx.print(cmd, cluster, () => JSON.stringify(cluster, null, 2));
    });
}
