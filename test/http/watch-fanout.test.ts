/**
 * Watch streams share one listener on the tree, held only while some stream is open: a stream
 * costs no listener (and no closures) of its own, and every stream still gets every change.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { openSse, type SseClient } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';

const STREAMS = 6;

let gateway: InProcessGateway;
let dataDir: string;

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-fanout-');
  gateway = await startInProcessGateway({ ZKGATE_DATA_DIR: dataDir });
});

afterAll(async () => {
  await gateway?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function publish(ns: string, body: unknown): Promise<void> {
  const response = await fetch(`${gateway.url}/v1/config/${ns}`, {
    method: 'PUT',
    headers: { ...MANAGEMENT, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBeLessThan(300);
}

it('fans every change out to every stream from one tree listener, dropped with the last stream', async () => {
  await publish('fan/a', { v: 1 });
  const idle = gateway.services.tree.listening;
  const streams: SseClient[] = [];
  for (let i = 0; i < STREAMS; i++) {
    // Half by name, half by prefix, one also naming a service: every kind of subscription.
    const query = i % 2 === 0 ? 'ns=fan/a' : i === 1 ? 'prefix=fan/&service=fan-svc' : 'prefix=fan/';
    const stream = await openSse(`${gateway.url}/v1/watch?${query}`, MANAGEMENT);
    expect(stream.status).toBe(200);
    streams.push(stream);
  }
  for (const stream of streams)
    expect(JSON.parse((await stream.next()).data)).toMatchObject({ namespace: 'fan/a' });
  // The stream naming a service starts with its instance list too.
  expect((await streams[1]!.next()).event).toBe('instances');
  expect(gateway.services.tree.listening).toBe(idle + 1);

  await publish('fan/a', { v: 2 });
  for (const stream of streams) {
    const event = await stream.next();
    expect(event.event).toBe('config');
    expect(JSON.parse(JSON.parse(event.data).content)).toEqual({ v: 2 });
  }

  for (const stream of streams) stream.close();
  await expect.poll(() => gateway.services.tree.listening).toBe(idle);
});
