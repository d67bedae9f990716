// Bundles the SDK and the CLI, with the dispatch strategies they share with the server
// (../src/dispatcher) inlined: the package ships them without depending on the server.
import { build } from 'esbuild';

await build({
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
