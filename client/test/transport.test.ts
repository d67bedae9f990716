/**
 * Failover across replicas against scripted gateways: a replica that refuses connections or
 * answers 503 is skipped for the next, the client then sticks to the one that answered, and when
 * every replica fails the error is the typed, retryable one carrying the problem document's code.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { createClient, NotFoundError, UnavailableError } from '../src/index.js';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A gateway that answers every request with `status` and `body`, counting the requests. */
async function scripted(status: number, body: unknown): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    const type = status >= 400 ? 'application/problem+json' : 'application/json';
    res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

const STORE_DOWN = {
  type: 'about:blank',
  title: 'The coordination store is unreachable',
  status: 503,
  code: 'ZKG_STORE_UNAVAILABLE',
};

it('skips a replica that refuses connections or answers 503, then sticks to the one that answered', async () => {
  const busy = await scripted(503, STORE_DOWN);
  const healthy = await scripted(200, [{ service: 'svc', instances: 1 }]);
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const client = createClient({ urls: ['http://127.0.0.1:1', busy.url, healthy.url] });
  expect(await client.transport.json('GET', '/v1/services')).toEqual([{ service: 'svc', instances: 1 }]);
  expect(client.transport.url).toBe(healthy.url);
  expect(busy.hits()).toBe(1);
  await client.transport.json('GET', '/v1/services');
  expect({ busy: busy.hits(), healthy: healthy.hits() }).toEqual({ busy: 1, healthy: 2 });
  await client.close();
});

it('when every replica is unavailable, fails with a retryable UnavailableError carrying the last problem code', async () => {
  const [one, two] = await Promise.all([scripted(503, STORE_DOWN), scripted(503, STORE_DOWN)]);
  const client = createClient({ urls: [one.url, two.url] });
  const error = await client.transport.json('GET', '/v1/services').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(UnavailableError);
  expect(error).toMatchObject({
    status: 503,
    code: 'ZKG_STORE_UNAVAILABLE',
    retryable: true,
    problem: STORE_DOWN,
  });
  expect([one.hits(), two.hits()]).toEqual([1, 1]);
  await client.close();
});

it('when no replica can be reached, fails with ZKG_CLIENT_UNREACHABLE naming them', async () => {
  const client = createClient({ urls: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] });
  const error = await client.transport.json('GET', '/v1/services').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(UnavailableError);
  expect(error).toMatchObject({
    status: 0,
    code: 'ZKG_CLIENT_UNREACHABLE',
    message: expect.stringContaining('http://127.0.0.1:1, http://127.0.0.1:2'),
  });
  await client.close();
});

it('takes a 503 that says the service has no eligible instance as the answer: not found, no other replica asked', async () => {
  const none = await scripted(503, {
    type: 'about:blank',
    title: 'No instance of the service is eligible',
    status: 503,
    code: 'ZKG_NO_INSTANCE_AVAILABLE',
  });
  const other = await scripted(200, { id: 'never' });
  const client = createClient({ urls: [none.url, other.url] });
  const error = await client.transport.json('GET', '/v1/dispatch/svc').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(NotFoundError);
  expect(error).toMatchObject({ status: 503, code: 'ZKG_NO_INSTANCE_AVAILABLE', retryable: false });
  expect(other.hits()).toBe(0);
  await client.close();
});
