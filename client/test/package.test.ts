/**
 * The package stands alone: its bundle holds no server code but the dispatch strategies, and
 * imports nothing at run time but node's built-ins and its own dependencies; the bin runs as built.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { expect, it } from 'vitest';
import { buildOptions } from '../build.js';

const CLIENT = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${CLIENT}package.json`, 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

it('bundles only client code and src/dispatcher, and keeps only its own dependencies external', async () => {
  const result = await build({ ...buildOptions, write: false, metafile: true, sourcemap: false });
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(CLIENT, `${CLIENT}${p}`));
  const outside = inputs.filter((p) => p.startsWith('..'));
  expect(outside.length).toBeGreaterThan(0);
  for (const path of outside) expect(path).toMatch(/^\.\.\/src\/dispatcher\//);

  const externals = new Set(
    Object.values(result.metafile.outputs).flatMap((o) =>
      o.imports.filter((i) => i.external).map((i) => i.path),
    ),
  );
  const packageOf = (specifier: string): string =>
    specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  for (const specifier of externals) {
    const name = specifier.replace(/^node:/, '');
    if (builtinModules.includes(name)) continue;
    const own = packageOf(specifier);
    const optionalPeer = own in manifest.peerDependencies && manifest.peerDependenciesMeta[own]?.optional;
    if (!optionalPeer) expect(Object.keys(manifest.dependencies), specifier).toContain(own);
  }
});

it('keeps json-schema-to-typescript (and the prettier it brings) out of an SDK install', () => {
  expect(Object.keys(manifest.dependencies)).not.toContain('json-schema-to-typescript');
  expect(manifest.peerDependenciesMeta['json-schema-to-typescript']).toEqual({ optional: true });
});

it('the built bin runs: a node shebang, --help, and exit status 6 when no gateway answers', async () => {
  // Under client/node_modules, so the bundle resolves the package's dependencies as an install would.
  const cache = join(CLIENT, 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  const outdir = await mkdtemp(join(cache, 'zkgate-bin-'));
  try {
    await build({ ...buildOptions, outdir, sourcemap: false });
    const bin = join(outdir, 'cli.js');
    expect(await readFile(bin, 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    const help = await promisify(execFile)(process.execPath, [bin, '--help']);
    expect(help.stdout).toContain('Usage: zkgate [options] [command]');
    const down = await promisify(execFile)(process.execPath, [bin, 'config', 'ls'], {
      env: { ...process.env, ZKGATE_ADDR: 'http://127.0.0.1:1' },
    }).catch((e: unknown) => e as { code: number; stderr: string });
    expect(down).toMatchObject({ code: 6, stderr: expect.stringContaining('ZKG_CLIENT_UNREACHABLE') });
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
});
