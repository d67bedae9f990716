/**
 * The snapshot of a `prefix=` watch over large namespaces: allowed past
 * `ZKGATE_SSE_MAX_BUFFER_BYTES` while a client takes it, never for the life of the stream.
 * A gateway over the embedded store, listening on loopback.
 */
import { request, type IncomingMessage } from 'node:http';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { openSse, type SseClient } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';
import { within } from '../support/within.js';

const NAMESPACES = 30;
const DOCUMENT_BYTES = 300 * 1024;
const MAX_BUFFER_BYTES = 256 * 1024;
const KEEPALIVE_MS = 2_000;

/** A watch whose body is never read: the kernel's buffers fill, then the server's queue. */
function stalledWatch(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...MANAGEMENT } }, (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

async function publish(g: InProcessGateway, ns: string, body: string): Promise<void> {
  const res = await fetch(`${g.url}/v1/config/${ns}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/json', ...MANAGEMENT },
  });
  expect(res.status).toBeLessThan(300);
}

describe('the snapshot of a prefix watch over large namespaces', () => {
  let dataDir: string;
  let g: InProcessGateway;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-watch-snapshot-');
    g = await startInProcessGateway({
      ZKGATE_DATA_DIR: dataDir,
      ZKGATE_SSE_MAX_BUFFER_BYTES: String(MAX_BUFFER_BYTES),
      ZKGATE_SSE_KEEPALIVE_MS: String(KEEPALIVE_MS),
    });
    const document = JSON.stringify({ blob: 'x'.repeat(DOCUMENT_BYTES - 20) });
    for (let i = 0; i < NAMESPACES; i++) await publish(g, `big/n${i}`, document);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await g?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is cut off from a client that never reads it, and delivered whole to one that does', async () => {
    // Each stream's end takes one off the gauge: the first to end must be the stalled one.
    const gauge = g.services.metrics.sseConnections;
    const dec = gauge.dec.bind(gauge);
    const firstEnd = new Promise<void>((resolve) =>
      vi.spyOn(gauge, 'dec').mockImplementation((value?: number) => {
        dec(value);
        resolve();
      }),
    );

    const stalled = await stalledWatch(`${g.url}/v1/watch?prefix=big/`);
    const stalledEnded = new Promise<boolean>((resolve) =>
      stalled.once('close', () => resolve(stalled.complete)),
    );
    const reader = await openSse(`${g.url}/v1/watch?prefix=big/`, MANAGEMENT);
    clients.push(reader);
    const received = new Set<string>();
    for (let i = 0; i < NAMESPACES; i++) {
      const event = await reader.next();
      received.add((JSON.parse(event.data) as { namespace: string }).namespace);
    }
    expect(received.size).toBe(NAMESPACES);

    // About 9 MB are queued for the stalled client, over thirty times the bound: once its
    // keep-alive interval is over, that is a slow client like any other.
    await within(firstEnd, 'the stalled watch to be cut off', 5 * KEEPALIVE_MS);

    // The reader was not the one cut off: a change still reaches it.
    await publish(g, 'big/n0', '{"small":true}');
    expect(JSON.parse((await reader.next()).data)).toMatchObject({ namespace: 'big/n0', version: 2 });

    // Reading at last, the stalled client finds its response cut short.
    stalled.resume();
    expect(await stalledEnded).toBe(false);
  });
});
