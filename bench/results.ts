import { mkdir, writeFile } from 'node:fs/promises';

/** Write a benchmark's figures to bench/results/<name>.json with the date and Node version. */
export async function writeResults(name: string, quick: boolean, results: unknown): Promise<void> {
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(
    new URL(`${name}.json`, out),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, results }, null, 2)}\n`,
  );
}
