/**
 * Builds the web console (src/controller/ui/) into dist/console/: one script and one stylesheet,
 * named by content hash, and the page that loads them. Everything the console runs is in these
 * files (no CDN, nothing fetched at run time). Each file also gets its gzip and brotli forms,
 * which the gateway sends to browsers that accept them. Prints the bundle's size, raw and gzipped.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'src', 'controller', 'ui');
export const CONSOLE_OUT = join(root, 'dist', 'console');

export interface BundleSize {
  readonly file: string;
  readonly bytes: number;
  readonly gzip: number;
  readonly brotli: number;
}

export async function buildConsole(): Promise<BundleSize[]> {
  await rm(CONSOLE_OUT, { recursive: true, force: true });
  await mkdir(CONSOLE_OUT, { recursive: true });
  const result = await build({
    entryPoints: [join(source, 'main.tsx')],
    outdir: CONSOLE_OUT,
    entryNames: '[name]-[hash]',
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
  const script = outputs.find((f) => f.endsWith('.js'));
  const style = outputs.find((f) => f.endsWith('.css'));
  if (!script || !style) throw new Error(`console build produced ${outputs.join(', ')}`);
  const page = (await readFile(join(source, 'index.html'), 'utf8'))
    .replace('%SCRIPT%', script)
    .replace('%STYLE%', style);
  await writeFile(join(CONSOLE_OUT, 'index.html'), page);
  return Promise.all(
    [script, style, 'index.html'].map(async (file) => {
      const bytes = await readFile(join(CONSOLE_OUT, file));
      const gzip = gzipSync(bytes, { level: 9 });
      const brotli = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
      await writeFile(join(CONSOLE_OUT, `${file}.gz`), gzip);
      await writeFile(join(CONSOLE_OUT, `${file}.br`), brotli);
      return { file, bytes: bytes.length, gzip: gzip.length, brotli: brotli.length };
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = await buildConsole();
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  for (const { file, bytes, gzip, brotli } of sizes)
    console.log(`console: ${file} ${kib(bytes)} (${kib(gzip)} gzip, ${kib(brotli)} brotli)`);
  const total = (key: 'bytes' | 'gzip' | 'brotli') => kib(sizes.reduce((sum, s) => sum + s[key], 0));
  console.log(`console: total ${total('bytes')} (${total('gzip')} gzip, ${total('brotli')} brotli)`);
}
