/**
 * The package stands alone: its bundle holds no server code but the dispatch strategies, and
 * imports nothing at run time but node's built-ins and its own dependencies.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { relative } from 'node:path';
import { build } from 'esbuild';
import { expect, it } from 'vitest';
import { buildOptions } from '../build.js';

const CLIENT = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${CLIENT}package.json`, 'utf8')) as {
  dependencies: Record<string, string>;
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
    expect(Object.keys(manifest.dependencies), specifier).toContain(packageOf(specifier));
  }
});
