/**
 * Bundles the SDK and the CLI, with the dispatch strategies they share with the server
 * (../src/dispatcher) inlined: the package ships them without depending on the server. Every
 * other import stays external: node built-ins and this package's own dependencies
 * (test/package.test.ts holds the bundle to that).
 */
import { build, type BuildOptions } from 'esbuild';
import { pathToFileURL } from 'node:url';

export const buildOptions = {
  absWorkingDir: new URL('.', import.meta.url).pathname,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
} satisfies BuildOptions;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await build(buildOptions);
