/**
 * The SDK against a real in-process gateway (embedded store): config handles and their events,
 * the disk cache, typed errors, discovery with local picks, and registrations.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
  ConflictError,
  ForbiddenError,
  InvalidDocumentError,
  NotFoundError,
  UnauthorizedError,
  createClient,
  type ClientOptions,
  type ConfigChange,
  type Instance,
  type ZkgateClient,
} from '../src/index.js';
import { startInProcessGateway, type InProcessGateway } from '../../test/support/in-process-gateway.js';
import { makeTempDir } from '../../test/support/processes.js';
import { MANAGEMENT_SECRET } from '../../test/support/tokens.js';
import { within } from '../../test/support/within.js';
import { operator, publish } from './support.js';

let g: InProcessGateway;
let dataDir: string;
let cacheDir: string;
const clients: ZkgateClient[] = [];

function client(options: ClientOptions = {}): ZkgateClient {
  const c = createClient({ url: g.url, token: MANAGEMENT_SECRET, ...options });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-sdk-');
  cacheDir = await mkdtemp(join(tmpdir(), 'zkgate-sdk-cache-'));
  g = await startInProcessGateway({
    ZKGATE_DATA_DIR: dataDir,
    ZKGATE_EVICTION_GRACE_MS: '300',
    ZKGATE_REAPER_INTERVAL_MS: '100',
    ZKGATE_LEASE_REFRESH_MS: '0',
    ZKGATE_SELF_PRESERVATION_RATIO: '1',
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await g?.close();
  await Promise.all([dataDir, cacheDir].map((d) => rm(d, { recursive: true, force: true })));
});

describe('config', () => {
  it('reads a namespace, caches it (0600) and emits one change per new version with author and previous value', async () => {
    await publish(g.url, 'sdk/app', { level: 'info' });
    const handle = await client({ cacheDir }).config<{ level: string }>('sdk/app');
    expect(handle).toMatchObject({
      value: { level: 'info' },
      raw: '{"level":"info"}',
      version: 1,
      stale: false,
    });
    const file = join(cacheDir, `${encodeURIComponent('sdk/app')}.json`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ namespace: 'sdk/app', version: 1 });

    const changes: ConfigChange<{ level: string }>[] = [];
    const two = new Promise<void>((resolve) =>
      handle.on('change', (change) => {
        changes.push(change);
        if (changes.length === 2) resolve();
      }),
    );
    await publish(g.url, 'sdk/app', { level: 'debug' });
    await publish(g.url, 'sdk/app', { level: 'warn' });
    await within(two, 'two changes');
    expect(changes).toEqual([
      { value: { level: 'debug' }, previous: { level: 'info' }, version: 2, author: expect.any(String) },
      { value: { level: 'warn' }, previous: { level: 'debug' }, version: 3, author: expect.any(String) },
    ]);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 3, raw: '{"level":"warn"}' });
  });

  /** A zod schema's `parse`, passed as it is (as the README shows): it throws a ZodError on a bad document. */
  const { parse } = z.object({ port: z.number() });

  it('keeps the previous value when a new version fails the validator, and reports it', async () => {
    await publish(g.url, 'sdk/validated', { port: 80 });
    const handle = await client().config('sdk/validated', { parse });
    const invalid = once(handle, 'invalid');
    let changed = 0;
    let refused = 0;
    handle.on('change', () => changed++);
    handle.on('invalid', () => refused++);
    await publish(g.url, 'sdk/validated', { port: 'eighty' });
    const [report] = await within(invalid, 'the invalid report');
    expect(report).toMatchObject({ version: 2, raw: '{"port":"eighty"}', error: expect.any(z.ZodError) });
    expect(handle.value).toEqual({ port: 80 });
    const change = once(handle, 'change');
    await publish(g.url, 'sdk/validated', { port: 81 });
    const [next] = await within(change, 'the next valid version');
    expect(next).toMatchObject({ value: { port: 81 }, previous: { port: 80 }, version: 3 });
    expect(changed).toBe(1);
    // The refused version is behind it: not fetched and reported again with the next one.
    expect(refused).toBe(1);
  });

  it('at boot, a current version that fails the validator is reported and the last good copy on disk serves', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'zkgate-sdk-refused-'));
    try {
      await publish(g.url, 'sdk/refused', { port: 80 });
      await client({ cacheDir: cache }).config('sdk/refused', { parse });
      await publish(g.url, 'sdk/refused', { port: 'eighty' });
      const file = join(cache, `${encodeURIComponent('sdk/refused')}.json`);
      const good = await readFile(file, 'utf8');

      const handle = await client({ cacheDir: cache }).config('sdk/refused', { parse });
      expect(handle).toMatchObject({ value: { port: 80 }, version: 1 });
      const [report] = await within(once(handle, 'invalid'), 'the refused version, through the stream');
      expect(report).toMatchObject({ version: 2, error: expect.any(z.ZodError) });
      let refused = 0;
      handle.on('invalid', () => refused++);
      expect(handle.value).toEqual({ port: 80 });
      // The disk holds only versions the application accepted: the next boot is not poisoned.
      expect(await readFile(file, 'utf8')).toBe(good);
      const change = once(handle, 'change');
      await publish(g.url, 'sdk/refused', { port: 81 });
      expect((await within(change, 'the next valid version'))[0]).toMatchObject({
        value: { port: 81 },
        previous: { port: 80 },
        version: 3,
      });
      expect(refused).toBe(0);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  it('at boot, a current version that fails the validator with no copy on disk is a typed error', async () => {
    await publish(g.url, 'sdk/refused-bare', { port: 'eighty' });
    const error = await client()
      .config('sdk/refused-bare', { parse })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidDocumentError);
    expect(error).toMatchObject({
      code: 'ZKG_CLIENT_INVALID_DOCUMENT',
      message: expect.stringContaining('sdk/refused-bare version 1'),
      cause: expect.any(z.ZodError),
    });
  });

  it('fills in the versions a resume skipped, counted back from the one it brought, whatever was published since', async () => {
    await publish(g.url, 'sdk/gap', { n: 1 });
    // A front that forwards to the gateway, but can cut the watch streams and hold new ones back,
    // and publishes once more just before the first history read: the page the client asks for
    // must not lose the oldest missed release to that newer one.
    const target = new URL(g.url);
    const streams = new Set<ServerResponse>();
    const held: Array<() => void> = [];
    let holding = false;
    let beforeHistory: (() => Promise<unknown>) | undefined;
    let streamOpened = (): void => {};
    const opened = new Promise<void>((resolve) => (streamOpened = resolve));
    const front = createServer((req, res) => {
      const forward = (): void => {
        const upstream = request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode!, answer.headers);
            if (req.url!.startsWith('/v1/watch')) streamOpened();
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        res.on('close', () => upstream.destroy());
        req.pipe(upstream);
      };
      if (req.url!.startsWith('/v1/watch')) {
        streams.add(res);
        res.on('close', () => streams.delete(res));
        if (holding) held.push(forward);
        else forward();
        return;
      }
      const step = decodeURIComponent(req.url!).includes(':history?') ? beforeHistory : undefined;
      if (step === undefined) return forward();
      beforeHistory = undefined;
      void step().then(forward);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const handle = await client({
        url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
        watch: { backoffBaseMs: 20, backoffMaxMs: 50 },
      }).config<{ n: number }>('sdk/gap');
      const seen: Array<[number, number]> = [];
      const fourth = new Promise<void>((resolve) =>
        handle.on('change', ({ value, version }) => {
          seen.push([version, value.n]);
          if (version === 4) resolve();
        }),
      );
      await within(opened, 'the watch stream');

      holding = true;
      for (const stream of streams) stream.destroy();
      await publish(g.url, 'sdk/gap', { n: 2 });
      await publish(g.url, 'sdk/gap', { n: 3 });
      beforeHistory = () => publish(g.url, 'sdk/gap', { n: 4 });
      holding = false;
      for (const forward of held.splice(0)) forward();

      await within(fourth, 'version 4');
      expect(seen).toEqual([
        [2, 2],
        [3, 3],
        [4, 4],
      ]);
      expect(beforeHistory).toBeUndefined();
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
  });

  it('reports a deletion and keeps the last value', async () => {
    await publish(g.url, 'sdk/doomed', { a: 1 });
    const handle = await client().config('sdk/doomed');
    const deleted = once(handle, 'deleted');
    await operator(g.url, 'DELETE', '/v1/config/sdk/doomed');
    expect((await within(deleted, 'the deletion'))[0]).toEqual({ version: 1 });
    expect(handle.value).toEqual({ a: 1 });
  });

  it('fails with typed errors carrying the problem code', async () => {
    const missing = await client()
      .config('sdk/missing')
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'ZKG_CONFIG_NOT_FOUND' });
    const anonymous = await client({ token: 'zkg_' + 'A'.repeat(43) })
      .config('sdk/app')
      .catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(UnauthorizedError);
    expect(anonymous).toMatchObject({ code: 'ZKG_UNAUTHENTICATED' });
    await operator(g.url, 'PUT', '/v1/acl/policies/sdk-other', { rules: { config: { 'other/': ['read'] } } });
    const token = (await (
      await operator(g.url, 'POST', '/v1/acl/tokens', { description: 'sdk', policies: ['sdk-other'] })
    ).json()) as { secret: string };
    const forbidden = await client({ token: token.secret })
      .config('sdk/app')
      .catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(ForbiddenError);
    expect(forbidden).toMatchObject({ code: 'ZKG_FORBIDDEN' });
    const conflict = await client()
      .transport.request('PUT', '/v1/config/sdk/app', {
        headers: { 'content-type': 'application/json', 'if-none-match': '*' },
        body: '{}',
      })
      .catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
  });
});

describe('discovery and registration', () => {
  it('a live instance list that follows registrations, with the server strategies for local picks', async () => {
    const c = client();
    const view = await c.discover('sdk-pick', { zone: 'z1' });
    expect(view.instances).toEqual([]);
    expect(view.pick()).toBeUndefined();
    const seen = (n: number) =>
      new Promise<readonly Instance[]>((resolve) => {
        const check = (list: readonly Instance[]) => list.length === n && resolve(list);
        view.on('change', check);
      });
    const three = seen(3);
    const r1 = await c.register('sdk-pick', {
      id: 'a',
      address: '127.0.0.1',
      port: 9001,
      zone: 'z1',
      ttl: 30_000,
      deregisterOnSignal: false,
    });
    await c.register('sdk-pick', {
      id: 'b',
      address: '127.0.0.1',
      port: 9002,
      zone: 'z1',
      ttl: 30_000,
      deregisterOnSignal: false,
    });
    await c.register('sdk-pick', {
      id: 'c',
      address: '127.0.0.1',
      port: 9003,
      zone: 'z2',
      ttl: 30_000,
      deregisterOnSignal: false,
    });
    await within(three, 'three instances');

    // Zone affinity keeps z1's caller in z1; round robin alternates a and b.
    const picks = Array.from({ length: 4 }, () => view.pick({ strategy: 'round_robin' })?.id);
    expect(picks.sort()).toEqual(['a', 'a', 'b', 'b']);
    const keyed = new Set(
      Array.from({ length: 5 }, () => view.pick({ strategy: 'consistent_hash', key: 'user-7' })?.id),
    );
    expect(keyed.size).toBe(1);
    expect(() => view.pick({ strategy: 'consistent_hash' })).toThrow(/key/);
    // The same strategies as the gateway's dispatcher: a key lands on the same instance either way.
    for (let k = 0; k < 20; k++) {
      const key = `customer-${k}`;
      const served = await operator(
        g.url,
        'GET',
        `/v1/dispatch/sdk-pick?strategy=consistent_hash&key=${key}&zone=z1`,
      );
      expect(view.pick({ strategy: 'consistent_hash', key })?.id, key).toBe(
        ((await served.json()) as Instance).id,
      );
    }

    const draining = new Promise<void>((resolve) =>
      view.on('change', (list) => list.find((i) => i.id === 'a')?.status === 'DRAINING' && resolve()),
    );
    await r1.drain(0);
    await within(draining, 'a DRAINING');
    expect(new Set(Array.from({ length: 4 }, () => view.pick()?.id))).toEqual(new Set(['b']));

    const two = seen(2);
    await r1.deregister();
    expect((await within(two, 'a removed')).map((i) => i.id)).toEqual(['b', 'c']);
  });

  it('registers again on the next heartbeat when the gateway no longer knows the instance', async () => {
    const c = client();
    const view = await c.discover('sdk-again');
    const registration = await c.register('sdk-again', {
      id: 'x',
      address: '127.0.0.1',
      port: 9100,
      ttl: 1_500,
      deregisterOnSignal: false,
    });
    const gone = new Promise<void>((resolve) => view.on('change', (l) => l.length === 0 && resolve()));
    const back = gone.then(
      () => new Promise<void>((resolve) => view.on('change', (l) => l.length === 1 && resolve())),
    );
    // What an eviction does to the registry (the operator's DELETE is the same removal, at once).
    await operator(g.url, 'DELETE', '/v1/services/sdk-again/instances/x');
    await within(gone, 'the removal');
    await within(back, 'the registration again', 3_000);
    expect(view.instances[0]).toMatchObject({ id: 'x', port: 9100, healthy: true });
    await registration.deregister();
  });

  it('heartbeats keep a short lease alive, with the load report', async () => {
    const c = client();
    let inflight = 0;
    const registration = await c.register('sdk-beat', {
      id: 'h',
      address: '127.0.0.1',
      port: 9200,
      ttl: 1_000,
      load: () => ({ inflight: ++inflight }),
      deregisterOnSignal: false,
    });
    const view = await c.discover('sdk-beat');
    // Asserting that nothing happens takes the time: three TTLs, past when an unrenewed lease is evicted.
    await new Promise((resolve) => setTimeout(resolve, 3_300));
    const listed = (await (
      await operator(g.url, 'GET', '/v1/services/sdk-beat/instances')
    ).json()) as Instance[];
    expect(listed).toEqual([expect.objectContaining({ id: 'h', healthy: true })]);
    expect(listed[0]!.lease?.load?.inflight).toBeGreaterThanOrEqual(6);
    expect(view.instances.map((i) => i.id)).toEqual(['h']);
    await registration.deregister();
  });
});
