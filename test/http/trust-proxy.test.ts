/**
 * X-Forwarded-For is believed only from the proxies ZKGATE_TRUST_PROXY names: behind one, each
 * client gets its own per-client SSE allowance; without it, a client cannot escape its allowance
 * by writing the header itself.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';
import { openSse, type SseClient } from '../support/sse-client.js';
import { MANAGEMENT } from '../support/tokens.js';

async function watchStatus(g: InProcessGateway, forwardedFor: string, open: SseClient[]): Promise<number> {
  const client = await openSse(`${g.url}/v1/watch?ns=a`, { ...MANAGEMENT, 'x-forwarded-for': forwardedFor });
  open.push(client);
  return client.status;
}

describe.each([
  ['behind a trusted proxy', '127.0.0.1', [200, 200, 503]],
  ['with no proxy trusted', undefined, [200, 503, 503]],
])('the per-client SSE limit %s', (_, trusted, expected) => {
  let dataDir: string;
  let g: InProcessGateway;
  const open: SseClient[] = [];

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-proxy-');
    g = await startInProcessGateway({
      ZKGATE_DATA_DIR: dataDir,
      ZKGATE_SSE_MAX_CLIENT_CNXNS: '1',
      ...(trusted === undefined ? {} : { ZKGATE_TRUST_PROXY: trusted }),
    });
  });

  afterAll(async () => {
    for (const client of open) client.close();
    await g?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('counts connections by the client the trusted proxy names', async () => {
    const statuses = [
      await watchStatus(g, '203.0.113.1', open),
      await watchStatus(g, '203.0.113.2', open),
      await watchStatus(g, '203.0.113.2', open),
    ];
    expect(statuses).toEqual(expected);
  });
});
