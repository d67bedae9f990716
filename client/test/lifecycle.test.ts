/**
 * A registered process's end, as the registry sees it: SIGTERM deregisters before the process
 * exits; SIGKILL leaves the lease to run out (TTL plus the eviction grace). The application is a
 * real child process using the SDK; the gateway runs in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../../test/support/in-process-gateway.js';
import { makeTempDir } from '../../test/support/processes.js';
import { startProxy } from '../../test/support/proxy.js';
import { MANAGEMENT_SECRET } from '../../test/support/tokens.js';
import { within } from '../../test/support/within.js';
import { createClient, type Instance, type ZkgateClient } from '../src/index.js';

const FIXTURE = new URL('./fixtures/registered.ts', import.meta.url).pathname;
const GRACE_MS = 300;
let g: InProcessGateway;
let dataDir: string;
let watcher: ZkgateClient;

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-lifecycle-');
  g = await startInProcessGateway({
    ZKGATE_DATA_DIR: dataDir,
    ZKGATE_EVICTION_GRACE_MS: String(GRACE_MS),
    ZKGATE_REAPER_INTERVAL_MS: '100',
    ZKGATE_LEASE_REFRESH_MS: '0',
    // One instance of one running out is all of the service: self-preservation would hold it.
    ZKGATE_SELF_PRESERVATION_RATIO: '1',
  });
  watcher = createClient({ url: g.url, token: MANAGEMENT_SECRET });
});

afterAll(async () => {
  await watcher?.close();
  await g?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function startApp(service: string, ttlMs: number, url = g.url): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: {
      ...process.env,
      ZKGATE_ADDR: url,
      ZKGATE_TOKEN: MANAGEMENT_SECRET,
      SERVICE: service,
      ID: 'app-1',
      TTL_MS: String(ttlMs),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await within(
    new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('registered') && resolve());
      child.once('exit', (code) => reject(new Error(`the app exited (${code}) before registering`)));
    }),
    'the app to register',
    15_000,
  );
  return child;
}

async function listed(service: string): Promise<Instance[]> {
  return watcher.transport.json<Instance[]>('GET', `/v1/services/${service}/instances`);
}

it('SIGTERM: the instance is gone from discovery before the process exits', async () => {
  // The app reaches the gateway through a proxy that, from the signal on, delays each direction by
  // 500 ms: an app that exited without waiting for its DELETE's answer would be gone about half a
  // second before the registry saw the DELETE.
  const proxy = await startProxy(Number(new URL(g.url).port));
  try {
    const app = await startApp('life-term', 60_000, `http://${proxy.address}`);
    const view = await watcher.discover('life-term');
    expect(view.instances.map((i) => i.id)).toEqual(['app-1']);
    const removed = new Promise<number>((resolve) =>
      view.on('change', (l) => l.length === 0 && resolve(performance.now())),
    );
    const exited = (once(app, 'exit') as Promise<[number | null, NodeJS.Signals | null]>).then(
      ([code, signal]) => ({ code, signal, at: performance.now() }),
    );
    proxy.latency(500);
    app.kill('SIGTERM');
    const exit = await within(exited, 'the app to exit', 10_000);
    // The SDK re-raises the signal once deregistered: the process ends as SIGTERM would end it.
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: null, signal: 'SIGTERM' });
    const removedAt = await within(removed, 'the removal to reach the watcher', 5_000);
    console.log(
      `SIGTERM: removal seen ${Math.round(exit.at - removedAt)} ms before the exit (500 ms each way on the app's link)`,
    );
    expect(removedAt).toBeLessThan(exit.at);
    // With a 60 s lease only the process's own DELETE can have removed it.
    expect(await listed('life-term')).toEqual([]);
  } finally {
    await proxy.close();
  }
});

it('SIGKILL: the instance stays until its lease runs out, then is evicted', async () => {
  const ttlMs = 1_000;
  const app = await startApp('life-kill', ttlMs);
  const view = await watcher.discover('life-kill');
  const gone = new Promise<number>((resolve) =>
    view.on('change', (l) => l.length === 0 && resolve(Date.now())),
  );
  const killedAt = Date.now();
  app.kill('SIGKILL');
  await once(app, 'exit');
  expect((await listed('life-kill')).map((i) => i.id)).toEqual(['app-1']);
  const goneAt = await within(gone, 'the eviction', 10_000);
  const after = goneAt - killedAt;
  // Gone no sooner than the lease's end (the last heartbeat was at most ttl/3 before the kill)...
  expect(after).toBeGreaterThanOrEqual((ttlMs * 2) / 3);
  // ...and soon after TTL plus grace (reaper interval, loaded machine).
  expect(after).toBeLessThan(ttlMs + GRACE_MS + 3_000);
});

it('an evicted registration (its process paused past TTL plus grace) registers again on its next heartbeat', async () => {
  const app = await startApp('life-paused', 1_000);
  try {
    const view = await watcher.discover('life-paused');
    const evicted = new Promise<void>((resolve) => view.on('change', (l) => l.length === 0 && resolve()));
    app.kill('SIGSTOP');
    await within(evicted, 'the eviction of the paused process', 10_000);
    const back = new Promise<void>((resolve) => view.on('change', (l) => l.length === 1 && resolve()));
    app.kill('SIGCONT');
    // The next heartbeat (at most ttl/3 after the pause ends) is answered 404 and registers again.
    await within(back, 'the registration again', 5_000);
    expect(view.instances[0]).toMatchObject({ id: 'app-1', healthy: true });
  } finally {
    app.kill('SIGKILL');
    await once(app, 'exit');
  }
});
