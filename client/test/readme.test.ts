/**
 * The root README's "Use from Node" example type-checks against the SDK as it is (zod from the
 * package's dev dependencies), so the first code a user copies cannot drift from the API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

it('the "Use from Node" example of README.md type-checks', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /^## Use from Node\n[\s\S]*?^```ts\n([\s\S]*?)^```/m.exec(readme)?.[1];
  expect(example, 'a ts block under "## Use from Node"').toBeDefined();
  // In the package's own directory the SDK is its source; everything else resolves as for a user.
  const file = join(ROOT, 'client', 'readme-example.ts');
  const source = example!.replace(`from '@zkgate/client'`, `from './src/index.js'`);
  const { config } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? source : readFile(name));
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const program = ts.createProgram([file], { ...options, noEmit: true }, host);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(problems).toEqual([]);
  expect(example!.split('\n').filter((l) => l.trim() !== '').length).toBeLessThanOrEqual(15);
});
