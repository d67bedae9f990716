/**
 * What a replica does not use stays out of its memory: the Redis client, the ZooKeeper client
 * and undici (HTTP health checks) are loaded only by the deployment that needs them, and
 * everything still works once they are (test/scanner, test/hotstore and test/coordination).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ready, startGateway } from '../support/gateway-process.js';
import { makeTempDir } from '../support/processes.js';
import { MANAGEMENT } from '../support/tokens.js';

const MODULE_LOG = new URL('../support/module-log.mjs', import.meta.url).pathname;

describe('libraries loaded at boot', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('an embedded-store gateway with the memory hot store loads no Redis, ZooKeeper or HTTP client', async () => {
    const dir = await makeTempDir('zkgate-lazy-');
    dirs.push(dir);
    const log = join(dir, 'modules.log');
    const gateway = await startGateway({
      ZKGATE_DATA_DIR: join(dir, 'data'),
      NODE_OPTIONS: `--import ${MODULE_LOG}`,
      ZKGATE_TEST_MODULE_LOG: log,
    });
    try {
      await ready(gateway);
      // A registration too: what a replica serves every day, not only its boot.
      const registered = await fetch(`${gateway.url}/v1/services/lazy/instances/i1`, {
        method: 'PUT',
        headers: { ...MANAGEMENT, 'content-type': 'application/json' },
        body: JSON.stringify({ address: '127.0.0.1', port: 8080 }),
      });
      expect(registered.status).toBeLessThan(300);
      const loaded = (await readFile(log, 'utf8')).split('\n');
      const packages = (name: string) => loaded.filter((url) => url.includes(`/node_modules/${name}/`));
      // The log is written: fastify and the embedded store are there.
      expect(packages('fastify').length).toBeGreaterThan(0);
      expect(loaded.some((url) => url.includes('/src/coordination/embedded/'))).toBe(true);
      expect(packages('ioredis')).toEqual([]);
      expect(packages('node-zookeeper-client')).toEqual([]);
      expect(packages('undici')).toEqual([]);
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
});
