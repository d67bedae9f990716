/**
 * Boot while the gateway is down: the disk cache serves the last copy, marked stale, within the
 * timeout; once the gateway is back the client goes live on its own and emits one change if the
 * version moved meanwhile. The gateway is a real process (stopped and started again on its port).
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ready, startGateway, type GatewayProcess } from '../../test/support/gateway-process.js';
import { freePorts, makeTempDir } from '../../test/support/processes.js';
import { MANAGEMENT_SECRET } from '../../test/support/tokens.js';
import { within } from '../../test/support/within.js';
import { UnavailableError, createClient, type ConfigChange, type ZkgateClient } from '../src/index.js';
import { publish } from './support.js';

let dataDir: string;
let cacheDir: string;
let port: number;
let gateway: GatewayProcess | undefined;
const clients: ZkgateClient[] = [];

async function up(): Promise<string> {
  // The same port every time, so the client's one URL reaches the restarted gateway.
  const started = await startGateway({ PORT: String(port), ZKGATE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  gateway = { ...started, url: `http://127.0.0.1:${port}` };
  await ready(gateway);
  return gateway.url;
}

async function down(): Promise<void> {
  gateway!.child.kill('SIGTERM');
  await gateway!.exited;
  gateway = undefined;
}

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-boot-');
  cacheDir = await mkdtemp(join(tmpdir(), 'zkgate-boot-cache-'));
  [port] = (await freePorts(1)) as [number];
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  if (gateway) await down();
  await Promise.all([dataDir, cacheDir].map((d) => rm(d, { recursive: true, force: true })));
});

it('serves the cached copy as stale while the gateway is down, then goes live with one change', async () => {
  const url = await up();
  await publish(url, 'boot/app', { color: 'blue' });
  const first = createClient({ url, token: MANAGEMENT_SECRET, cacheDir });
  const seen = await first.config('boot/app');
  // Closed only once its stream carried a change (version 2, cached): a watch abandoned while the
  // gateway is still opening it holds the gateway's shutdown (a gateway issue, see the report).
  const cached = once(seen, 'change');
  await publish(url, 'boot/app', { color: 'green' });
  await within(cached, 'the first client to cache version 2');
  await first.close();
  // Published after the cache was written: the copy on disk is now one version behind.
  await publish(url, 'boot/app', { color: 'red' });
  await down();

  const timeoutMs = 1_500;
  const client = createClient({
    url,
    token: MANAGEMENT_SECRET,
    cacheDir,
    watch: { backoffBaseMs: 100, backoffMaxMs: 400 },
  });
  clients.push(client);
  const started = performance.now();
  const handle = await client.config<{ color: string }>('boot/app', { timeoutMs });
  const elapsed = performance.now() - started;
  expect(handle).toMatchObject({ value: { color: 'green' }, version: 2, stale: true });
  expect(elapsed).toBeLessThan(timeoutMs + 500);

  const changes: ConfigChange<{ color: string }>[] = [];
  const changed = new Promise<void>((resolve) =>
    handle.on('change', (c) => {
      changes.push(c);
      resolve();
    }),
  );
  await up();
  const upAt = performance.now();
  await within(changed, 'the change after the gateway came back', 15_000);
  console.log(
    `boot: stale copy served in ${Math.round(elapsed)} ms (timeout ${timeoutMs} ms); ` +
      `live, with the change, ${Math.round(performance.now() - upAt)} ms after the gateway was ready`,
  );
  expect(changes).toEqual([
    { value: { color: 'red' }, previous: { color: 'green' }, version: 3, author: expect.any(String) },
  ]);
  expect(handle.stale).toBe(false);
  // A later publish arrives once, as the next change: nothing was replayed twice.
  const next = new Promise<void>((resolve) => handle.on('change', () => resolve()));
  await publish(url, 'boot/app', { color: 'yellow' });
  await within(next, 'the next change');
  expect(changes.map((c) => c.version)).toEqual([3, 4]);
  // Two gateway starts (tsx, a loaded CI machine) exceed the default 30 s now and then.
}, 60_000);

it('without a gateway or a cached copy, fails within the timeout with a clear error', async () => {
  const client = createClient({ url: `http://127.0.0.1:${port}`, token: MANAGEMENT_SECRET, cacheDir });
  clients.push(client);
  if (gateway) await down();
  const started = performance.now();
  const error = await client.config('boot/never-cached', { timeoutMs: 1_000 }).catch((e: unknown) => e);
  expect(performance.now() - started).toBeLessThan(1_500);
  expect(error).toBeInstanceOf(UnavailableError);
  expect(error).toMatchObject({
    code: 'ZKG_CLIENT_NO_COPY',
    message: expect.stringContaining('does not exist'),
  });
});

it('a gateway that accepts but never answers costs the timeout, then the cached copy', async () => {
  const sockets: Socket[] = [];
  const blackHole = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
    const client = createClient({ url, token: MANAGEMENT_SECRET, cacheDir });
    clients.push(client);
    const started = performance.now();
    const handle = await client.config('boot/app', { timeoutMs: 800 });
    const elapsed = performance.now() - started;
    expect(handle.stale).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(790);
    expect(elapsed).toBeLessThan(1_500);
  } finally {
    for (const socket of sockets) socket.destroy();
    blackHole.close();
  }
});
