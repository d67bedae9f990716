/**
 * The README's quick start, run as written against a first start of the gateway process: access
 * control is on, the management token's secret is in `data/bootstrap-token`, the README's own
 * shell lines read it from there and are let in, and without a token only health answers.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ready, startGateway, type GatewayProcess } from '../support/gateway-process.js';
import { makeTempDir } from '../support/processes.js';

const README = new URL('../../README.md', import.meta.url);

/** The shell block that follows the README's paragraph on the first start's token. */
async function quickStart(): Promise<string> {
  const readme = await readFile(README, 'utf8');
  const after = readme.slice(readme.indexOf('writes its secret to `data/bootstrap-token`'));
  const block = /```sh\n([\s\S]*?)```/.exec(after)?.[1];
  if (!block?.includes('data/bootstrap-token')) throw new Error('README: no quick-start block');
  return block;
}

describe('a first start, as the README tells it', () => {
  let workDir: string;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    workDir = await makeTempDir('zkgate-quick-start-');
    // No secret given: the gateway makes one, as `npm start` on a fresh checkout does.
    gateway = await startGateway({ ZKGATE_DATA_DIR: join(workDir, 'data'), ZKGATE_BOOTSTRAP_TOKEN: '' });
    await ready(gateway);
  });

  afterAll(async () => {
    gateway?.child.kill('SIGTERM');
    await gateway?.exited;
    await rm(workDir, { recursive: true, force: true });
  });

  it("lets the README's lines in with the token they read from data/bootstrap-token", async () => {
    const script = (await quickStart()).replaceAll('localhost:8080', new URL(gateway.url).host);
    const { stdout } = await promisify(execFile)('bash', ['-euc', script], { cwd: workDir });
    expect(JSON.parse(stdout)).toMatchObject({ policies: [{ name: 'management' }] });
  });

  it('answers nothing but health without a token', async () => {
    for (const path of ['/v1/config', '/v1/services', '/v1/acl/whoami', '/v1/audit', '/metrics']) {
      const res = await fetch(`${gateway.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe('ZKG_UNAUTHENTICATED');
    }
    for (const path of ['/healthz', '/readyz'])
      expect((await fetch(`${gateway.url}${path}`)).status).toBe(200);
  });
});
