/**
 * The `zkgate` CLI, command by command, against real (in-process, embedded-store) gateways: what
 * each prints, with and without --json, and the exit statuses scripts rely on.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../src/cli/program.js';
import { Context, EXIT } from '../src/cli/context.js';
import { startInProcessGateway, type InProcessGateway } from '../../test/support/in-process-gateway.js';
import { makeTempDir } from '../../test/support/processes.js';
import { MANAGEMENT_SECRET } from '../../test/support/tokens.js';
import { within } from '../../test/support/within.js';
import { cli, operator, publish } from './support.js';

let a: InProcessGateway;
let b: InProcessGateway;
let dirs: string[] = [];
let scratch: string;

beforeAll(async () => {
  dirs = await Promise.all([
    makeTempDir('zkgate-cli-a-'),
    makeTempDir('zkgate-cli-b-'),
    mkdtemp(join(tmpdir(), 'zkgate-cli-')),
  ]);
  scratch = dirs[2]!;
  [a, b] = await Promise.all([
    startInProcessGateway({ ZKGATE_DATA_DIR: dirs[0]! }),
    startInProcessGateway({ ZKGATE_DATA_DIR: dirs[1]! }),
  ]);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('--help', () => {
  it('every command and subcommand has help text and exits 0', async () => {
    const program = buildProgram(new Context({} as never));
    const paths: string[][] = [];
    const walk = (command: typeof program, path: string[]): void => {
      for (const sub of command.commands) {
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(program, []);
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining([
        'config get',
        'config put',
        'config rm',
        'config ls',
        'config history',
        'config diff',
        'config rollback',
        'config schema',
        'config watch',
        'export',
        'import',
        'services',
        'instances',
        'checks',
        'status',
        'dispatch',
        'acl bootstrap',
        'acl token create',
        'acl token rm',
        'acl policy',
        'cluster',
        'exec',
        'types',
      ]),
    );
    for (const path of paths) {
      const result = await cli([...path, '--help']);
      expect(result.status, path.join(' ')).toBe(EXIT.ok);
      expect(result.stdout, path.join(' ')).toContain(`Usage: zkgate ${path.join(' ')}`);
    }
    const top = await cli(['--help']);
    expect(top.stdout).toContain('Exit status: 0 ok');
  });

  it('an unknown command or a bad argument is a usage error (2)', async () => {
    expect((await cli(['nope'], { url: a.url })).status).toBe(EXIT.usage);
    expect((await cli(['config', 'history', 'x/y', '--limit', 'ten'], { url: a.url })).status).toBe(
      EXIT.usage,
    );
    expect((await cli(['status', 'svc', 'i1', 'SIDEWAYS'], { url: a.url })).status).toBe(EXIT.usage);
  });
});

describe('config', () => {
  it('put, get, ls, history, diff, rollback and rm a namespace', async () => {
    const put = await cli(['config', 'put', 'cli/app', '-', '--comment', 'first'], {
      url: a.url,
      stdin: '{"level":"info"}',
    });
    expect(put).toMatchObject({ status: 0, stdout: 'cli/app version 1\n' });
    const file = join(scratch, 'app.json');
    await writeFile(file, '{"level":"debug"}');
    expect((await cli(['config', 'put', 'cli/app', file, '--json'], { url: a.url })).stdout).toContain(
      '"version": 2',
    );

    expect((await cli(['config', 'get', 'cli/app'], { url: a.url })).stdout).toBe('{"level":"debug"}\n');
    const exists = await cli(['config', 'put', 'cli/app', '-', '--create'], { url: a.url, stdin: '{}' });
    expect(exists.status).toBe(EXIT.conflict);
    const got = JSON.parse(
      (await cli(['config', 'get', 'cli/app', '--version', '1', '--json'], { url: a.url })).stdout,
    );
    expect(got).toMatchObject({
      namespace: 'cli/app',
      version: 1,
      format: 'json',
      content: '{"level":"info"}',
    });

    const ls = JSON.parse((await cli(['config', 'ls', '--prefix', 'cli/', '--json'], { url: a.url })).stdout);
    expect(ls).toEqual([expect.objectContaining({ namespace: 'cli/app', version: 2, format: 'json' })]);
    expect((await cli(['config', 'ls', '--prefix', 'cli/'], { url: a.url })).stdout).toMatch(
      /^NAMESPACE .*\ncli\/app +2 +json/,
    );

    const history = JSON.parse(
      (await cli(['config', 'history', 'cli/app', '--json'], { url: a.url })).stdout,
    );
    expect(history.map((r: { version: number }) => r.version)).toEqual([2, 1]);
    expect(history[1]).toMatchObject({ comment: 'first' });

    const diff = await cli(['config', 'diff', 'cli/app', '1'], { url: a.url });
    expect(diff.status).toBe(EXIT.differs);
    expect(diff.stdout).toContain('-{"level":"info"}');
    expect(diff.stdout).toContain('+{"level":"debug"}');
    expect((await cli(['config', 'diff', 'cli/app', '2', '2'], { url: a.url })).status).toBe(EXIT.ok);

    expect((await cli(['config', 'rollback', 'cli/app', '1'], { url: a.url })).stdout).toBe(
      'cli/app version 3 (release 1 again)\n',
    );
    expect((await cli(['config', 'get', 'cli/app'], { url: a.url })).stdout).toBe('{"level":"info"}\n');

    const stale = await cli(['config', 'rm', 'cli/app', '--if-version', '2'], { url: a.url });
    expect(stale.status).toBe(EXIT.conflict);
    expect(stale.stderr).toContain('ZKG_');
    expect((await cli(['config', 'rm', 'cli/app', '--if-version', '3'], { url: a.url })).status).toBe(
      EXIT.ok,
    );
    expect((await cli(['config', 'get', 'cli/app'], { url: a.url })).status).toBe(EXIT.notFound);
  });

  it('publishes yaml by the file extension and refuses a malformed document (7)', async () => {
    const file = join(scratch, 'flags.yaml');
    await writeFile(file, 'beta: true\n');
    expect((await cli(['config', 'put', 'cli/flags', file], { url: a.url })).status).toBe(EXIT.ok);
    const got = JSON.parse((await cli(['config', 'get', 'cli/flags', '--json'], { url: a.url })).stdout);
    expect(got).toMatchObject({ format: 'yaml', content: 'beta: true\n' });
    expect((await cli(['config', 'put', 'cli/bad', '-'], { url: a.url, stdin: '{"no' })).status).toBe(
      EXIT.rejected,
    );
  });

  it('sets and prints a schema, and generates its TypeScript type', async () => {
    await publish(a.url, 'cli/typed', { port: 8080 });
    const schemaFile = join(scratch, 'schema.json');
    const schema = {
      type: 'object',
      required: ['port'],
      properties: { port: { type: 'integer' }, host: { type: 'string' } },
      additionalProperties: false,
    };
    await writeFile(schemaFile, JSON.stringify(schema));
    const set = await cli(['config', 'schema', 'cli/typed', '--set', schemaFile], { url: a.url });
    expect(set.status).toBe(EXIT.ok);
    expect(JSON.parse(set.stdout)).toEqual(schema);
    expect(JSON.parse((await cli(['config', 'schema', 'cli/typed'], { url: a.url })).stdout)).toEqual(schema);
    expect((await cli(['config', 'schema', 'cli/flags'], { url: a.url })).status).toBe(EXIT.notFound);

    const types = await cli(['types', 'cli/typed'], { url: a.url });
    expect(types.status).toBe(EXIT.ok);
    expect(types.stdout).toMatch(/export interface CliTyped \{\s+port: number;\s+host\?: string;\s+\}/);
    expect((await cli(['types', 'cli/typed', '--name', 'Server'], { url: a.url })).stdout).toContain(
      'export interface Server',
    );

    // An optional peer dependency: without it, `types` says what to install.
    vi.doMock('json-schema-to-typescript', () => {
      throw new Error('Cannot find package json-schema-to-typescript');
    });
    try {
      const missing = await cli(['types', 'cli/typed'], { url: a.url });
      expect(missing.status).toBe(EXIT.failure);
      expect(missing.stderr).toContain('npm install json-schema-to-typescript');
    } finally {
      vi.doUnmock('json-schema-to-typescript');
    }
  });

  it('watch prints the namespace, then each change, until interrupted', async () => {
    await publish(a.url, 'cli/watched', { n: 1 });
    const stop = new AbortController();
    let seen: (text: string) => void = () => {};
    const running = cli(['config', 'watch', 'cli/watched', '--json'], {
      url: a.url,
      signal: stop.signal,
      onStdout: (text) => seen(text),
    });
    const printed = (n: number) =>
      new Promise<void>((resolve) => (seen = (t) => t.includes(`"version": ${n}`) && resolve()));
    const first = printed(1);
    await within(first, 'the current version');
    const second = printed(2);
    await publish(a.url, 'cli/watched', { n: 2 });
    await within(second, 'the change');
    stop.abort();
    const result = await within(running, 'watch to end');
    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toContain('"content": "{\\"n\\":2}"');
  });

  it('exit statuses: no token 5, no gateway 6', async () => {
    expect((await cli(['config', 'ls'], { url: a.url, token: null })).status).toBe(EXIT.denied);
    const down = await cli(['config', 'ls'], { url: 'http://127.0.0.1:1' });
    expect(down.status).toBe(EXIT.unavailable);
    expect(down.stderr).toContain('no gateway answered');
  });
});

describe('export and import', () => {
  it('copies a tree with schemas byte for byte; without --apply it only prints the plan', async () => {
    const yaml = 'name: payments  # a comment kept as is\nlimits: {max: 3}\n';
    await operator(a.url, 'PUT', '/v1/config/copy/payments', yaml, 'application/yaml');
    await publish(a.url, 'copy/orders', { retries: 3, nested: { a: [1, 2] } });
    await operator(a.url, 'PUT', '/v1/config/copy/orders:schema', {
      type: 'object',
      properties: { retries: { type: 'integer', minimum: 0 } },
    });
    await operator(a.url, 'PUT', '/v1/config/copy/notes', 'free text\n', 'text/plain');
    await publish(b.url, 'copy/orders', { retries: 1 });

    const exported = await cli(['export', '--prefix', 'copy/'], { url: a.url });
    expect(exported.status).toBe(EXIT.ok);
    const file = join(scratch, 'copy.json');
    await writeFile(file, exported.stdout);

    const plan = await cli(['import', file], { url: b.url });
    expect(plan.status).toBe(EXIT.ok);
    expect(plan.stdout).toMatch(/copy\/notes +create +none/);
    expect(plan.stdout).toMatch(/copy\/orders +update +create/);
    expect(plan.stdout).toMatch(/copy\/payments +create +none/);
    expect(plan.stdout).toContain('3 change(s) planned; nothing changed');
    const untouched = await cli(['config', 'ls', '--prefix', 'copy/', '--json'], { url: b.url });
    expect(JSON.parse(untouched.stdout).map((s: { namespace: string }) => s.namespace)).toEqual([
      'copy/orders',
    ]);
    expect((await cli(['config', 'get', 'copy/orders'], { url: b.url })).stdout).toBe('{"retries":1}\n');
    expect((await cli(['config', 'schema', 'copy/orders'], { url: b.url })).status).toBe(EXIT.notFound);

    const applied = await cli(['import', file, '--apply', '--json'], { url: b.url });
    expect(JSON.parse(applied.stdout)).toMatchObject({ applied: true });
    for (const path of ['copy/payments', 'copy/orders', 'copy/notes', 'copy/orders:schema']) {
      const [x, y] = await Promise.all([a, b].map(async (g) => operator(g.url, 'GET', `/v1/config/${path}`)));
      const [bx, by] = await Promise.all([x!, y!].map(async (r) => Buffer.from(await r.arrayBuffer())));
      expect(by!.equals(bx!), path).toBe(true);
      expect(y!.headers.get('content-type'), path).toBe(x!.headers.get('content-type'));
    }
    const again = await cli(['import', file], { url: b.url });
    expect(again.stdout).toContain('0 change(s) planned');
  });

  it('refuses a file that is not an export (2)', async () => {
    const file = join(scratch, 'junk.json');
    await writeFile(file, '{"hello": 1}');
    const result = await cli(['import', file], { url: b.url });
    expect(result.status).toBe(EXIT.usage);
    expect(result.stderr).toContain('is not a zkgate export');
  });
});

describe('registry commands', () => {
  beforeAll(async () => {
    for (const [id, zone] of [
      ['i1', 'z1'],
      ['i2', 'z2'],
    ] as const) {
      await operator(a.url, 'PUT', `/v1/services/cli-svc/instances/${id}`, {
        address: '127.0.0.1',
        port: 9000 + Number(id[1]),
        zone,
        ttl: '60s',
        check: { tcp: true, interval: '1h' },
      });
    }
  });

  it('services, instances, checks', async () => {
    const services = JSON.parse((await cli(['services', '--json'], { url: a.url })).stdout);
    expect(services).toEqual(
      expect.arrayContaining([expect.objectContaining({ service: 'cli-svc', instances: 2 })]),
    );
    expect((await cli(['services'], { url: a.url })).stdout).toMatch(/cli-svc +2/);
    const instances = JSON.parse(
      (await cli(['instances', 'cli-svc', '--zone', 'z2', '--json'], { url: a.url })).stdout,
    );
    expect(instances.map((i: { id: string }) => i.id)).toEqual(['i2']);
    expect((await cli(['instances', 'cli-svc'], { url: a.url })).stdout).toMatch(/i1 +127\.0\.0\.1:9001 +UP/);
    const checks = JSON.parse((await cli(['checks', 'cli-svc', '--json'], { url: a.url })).stdout);
    expect(checks.map((c: { id: string }) => c.id).sort()).toEqual(['i1', 'i2']);
    expect((await cli(['checks', 'cli-svc'], { url: a.url })).stdout).toMatch(/^ID +STATUS/);
  });

  it('status takes an instance out of dispatch; dispatch picks the other', async () => {
    expect((await cli(['status', 'cli-svc', 'i1', 'DRAINING'], { url: a.url })).stdout).toBe(
      'cli-svc/i1 DRAINING\n',
    );
    for (let n = 0; n < 3; n++) {
      expect((await cli(['dispatch', 'cli-svc', '--strategy', 'round_robin'], { url: a.url })).stdout).toBe(
        'i2 127.0.0.1:9002\n',
      );
    }
    expect((await cli(['status', 'cli-svc', 'i1', 'UP', '--json'], { url: a.url })).stdout).toContain(
      '"status": "UP"',
    );
    const keyed = await cli(
      ['dispatch', 'cli-svc', '--strategy', 'consistent_hash', '--key', 'k', '--json'],
      { url: a.url },
    );
    expect(['i1', 'i2']).toContain(JSON.parse(keyed.stdout).id);
    expect((await cli(['dispatch', 'no-such-svc'], { url: a.url })).status).toBe(EXIT.notFound);
    // Nothing eligible is the service's state, not an unavailable gateway: not found, at once.
    await cli(['status', 'cli-svc', 'i1', 'DOWN'], { url: a.url });
    await cli(['status', 'cli-svc', 'i2', 'DOWN'], { url: a.url });
    try {
      const none = await cli(['dispatch', 'cli-svc'], { url: a.url });
      expect(none.status).toBe(EXIT.notFound);
      expect(none.stderr).toContain('ZKG_NO_INSTANCE_AVAILABLE');
    } finally {
      await cli(['status', 'cli-svc', 'i1', 'UP'], { url: a.url });
      await cli(['status', 'cli-svc', 'i2', 'UP'], { url: a.url });
    }
  });
});

describe('acl and cluster commands', () => {
  it('bootstrap prints the checked management token; a wrong one is refused (5)', async () => {
    const dataDir = await mkdtemp(join(scratch, 'data-'));
    await writeFile(join(dataDir, 'bootstrap-token'), `${MANAGEMENT_SECRET}\n`);
    const ok = await cli(['acl', 'bootstrap', '--data-dir', dataDir], { url: a.url, token: null });
    expect(ok).toMatchObject({ status: 0, stdout: `export ZKGATE_TOKEN=${MANAGEMENT_SECRET}\n` });
    await writeFile(join(dataDir, 'bootstrap-token'), 'zkg_' + 'A'.repeat(43));
    expect((await cli(['acl', 'bootstrap', '--data-dir', dataDir], { url: a.url, token: null })).status).toBe(
      EXIT.denied,
    );
    expect(
      (await cli(['acl', 'bootstrap', '--data-dir', join(scratch, 'none')], { url: a.url })).status,
    ).toBe(EXIT.notFound);
  });

  it('policy set, token create with it, the token works within it, token rm revokes it', async () => {
    const rules = join(scratch, 'reader.json');
    await writeFile(
      rules,
      JSON.stringify({ description: 'reads cli/', rules: { config: { 'cli/': ['read'] } } }),
    );
    expect(
      (await cli(['acl', 'policy', 'cli-reader', '--set', rules, '--json'], { url: a.url })).stdout,
    ).toContain('"name": "cli-reader"');
    expect((await cli(['acl', 'policy'], { url: a.url })).stdout).toMatch(/cli-reader +false +reads cli\//);
    const created = await cli(
      ['acl', 'token', 'create', '--description', 'ci', '--policy', 'cli-reader', '--json'],
      { url: a.url },
    );
    const token = JSON.parse(created.stdout) as { accessor: string; secret: string };
    expect(token.secret).toMatch(/^zkg_/);
    const listed = JSON.parse((await cli(['acl', 'token', 'ls', '--json'], { url: a.url })).stdout) as Array<{
      accessor: string;
    }>;
    expect(listed.map((t) => t.accessor)).toContain(token.accessor);
    expect((await cli(['acl', 'token', 'ls'], { url: a.url })).stdout).toMatch(/^ACCESSOR +POLICIES/);
    await publish(a.url, 'cli/readable', { ok: true });
    expect((await cli(['config', 'get', 'cli/readable'], { url: a.url, token: token.secret })).status).toBe(
      EXIT.ok,
    );
    const denied = await cli(['config', 'put', 'cli/readable', '-'], {
      url: a.url,
      token: token.secret,
      stdin: '{}',
    });
    expect(denied.status).toBe(EXIT.denied);
    expect((await cli(['acl', 'token', 'rm', token.accessor], { url: a.url })).stdout).toBe(
      `${token.accessor} revoked\n`,
    );
    expect((await cli(['config', 'get', 'cli/readable'], { url: a.url, token: token.secret })).status).toBe(
      EXIT.denied,
    );
    expect((await cli(['acl', 'policy', 'cli-reader', '--rm'], { url: a.url })).status).toBe(EXIT.ok);
  });

  it('cluster shows the gateway replicas', async () => {
    const cluster = JSON.parse((await cli(['cluster', '--json'], { url: a.url })).stdout) as Record<
      string,
      unknown
    >;
    expect(Object.keys(cluster)).toEqual(expect.arrayContaining(['gateways']));
    expect((await cli(['cluster'], { url: a.url })).status).toBe(EXIT.ok);
  });
});

describe('exec', () => {
  const child = (out: string) => [
    process.execPath,
    '-e',
    `require('fs').appendFileSync(${JSON.stringify(out)}, process.env.GREETING + ' ' + process.env.LIMITS + '\\n'); setInterval(() => {}, 1000)`,
  ];

  /** The lines the command wrote to `out`, once there are at least `n` (it writes from its own process). */
  const lines = async (out: string, n: number): Promise<string[]> => {
    for (;;) {
      const text = await readFile(out, 'utf8').catch(() => '');
      const all = text.split('\n').filter((l) => l !== '');
      if (all.length >= n) return all;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('runs the command with the namespaces in its environment and restarts it on change', async () => {
    await publish(a.url, 'exec/base', { GREETING: 'hello', LIMITS: { max: 1 } });
    await publish(a.url, 'exec/override', { GREETING: 'hi' });
    const out = join(scratch, 'exec.out');
    const stop = new AbortController();
    const running = cli(['exec', '--ns', 'exec/base', '--ns', 'exec/override', '--', ...child(out)], {
      url: a.url,
      signal: stop.signal,
    });
    expect(await within(lines(out, 1), 'the first run')).toEqual(['hi {"max":1}']);
    await publish(a.url, 'exec/override', { GREETING: 'bonjour' });
    expect(await within(lines(out, 2), 'the restart')).toEqual(['hi {"max":1}', 'bonjour {"max":1}']);
    stop.abort();
    expect((await within(running, 'exec to end')).status).toBe(EXIT.ok);
  });

  it('--signal sends the signal on change instead of restarting', async () => {
    await publish(a.url, 'exec/signalled', { GREETING: 'hi' });
    const out = join(scratch, 'exec-signal.out');
    const script =
      `const log = (what) => require('fs').appendFileSync(${JSON.stringify(out)}, ` +
      "what + ' ' + process.pid + ' ' + process.env.GREETING + '\\n');" +
      "process.on('SIGHUP', () => log('hup')); log('start'); setInterval(() => {}, 1000)";
    const stop = new AbortController();
    const running = cli(
      ['exec', '--ns', 'exec/signalled', '--signal', 'SIGHUP', '--', process.execPath, '-e', script],
      { url: a.url, signal: stop.signal },
    );
    const [started] = await within(lines(out, 1), 'the first run');
    const pid = started!.split(' ')[1];
    expect(started).toBe(`start ${pid} hi`);
    await publish(a.url, 'exec/signalled', { GREETING: 'bonjour' });
    // The same process, its environment as it started: only the signal tells it to reload.
    expect(await within(lines(out, 2), 'the signal')).toEqual([`start ${pid} hi`, `hup ${pid} hi`]);
    stop.abort();
    expect((await within(running, 'exec to end')).status).toBe(EXIT.ok);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it("ends with the command's own exit status", async () => {
    await publish(a.url, 'exec/base', { GREETING: 'x' });
    const result = await cli(
      [
        'exec',
        '--ns',
        'exec/base',
        '--',
        process.execPath,
        '-e',
        'process.exit(process.env.GREETING === "x" ? 3 : 9)',
      ],
      {
        url: a.url,
      },
    );
    expect(result.status).toBe(3);
  });
});
