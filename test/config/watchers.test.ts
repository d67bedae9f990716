/**
 * The `watchers` figure of `GET /v1/config`: how many watch streams open on this replica would
 * receive a change to each namespace, by name or by prefix, counted down as streams close.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { openSse, type SseClient } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';

let gateway: InProcessGateway;
let dataDir: string;
const streams: SseClient[] = [];

beforeAll(async () => {
  dataDir = await makeTempDir('zkgate-watchers-');
  gateway = await startInProcessGateway({ ZKGATE_DATA_DIR: dataDir });
  for (const ns of ['team/a', 'team/b', 'other'])
    await fetch(`${gateway.url}/v1/config/${ns}`, {
      method: 'PUT',
      headers: { ...MANAGEMENT, 'content-type': 'application/json' },
      body: '{}',
    });
});

afterAll(async () => {
  for (const stream of streams) stream.close();
  await gateway?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function watchers(): Promise<Record<string, number>> {
  const response = await fetch(`${gateway.url}/v1/config`, { headers: MANAGEMENT });
  const items = (await response.json()) as { namespace: string; watchers: number }[];
  return Object.fromEntries(items.map((i) => [i.namespace, i.watchers]));
}

async function watch(query: string): Promise<SseClient> {
  const stream = await openSse(`${gateway.url}/v1/watch?${query}`, MANAGEMENT);
  expect(stream.status).toBe(200);
  streams.push(stream);
  await stream.next();
  return stream;
}

it('counts open streams by namespace and by prefix, and stops counting closed ones', async () => {
  expect(await watchers()).toEqual({ 'team/a': 0, 'team/b': 0, other: 0 });
  const byName = await watch('ns=team/a');
  expect(await watchers()).toEqual({ 'team/a': 1, 'team/b': 0, other: 0 });
  await watch('prefix=team/');
  expect(await watchers()).toEqual({ 'team/a': 2, 'team/b': 1, other: 0 });
  byName.close();
  await expect.poll(watchers).toEqual({ 'team/a': 1, 'team/b': 1, other: 0 });
});
