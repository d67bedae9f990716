/** The gateway's own listener speaks HTTPS when ZKGATE_TLS_CERT_FILE and ZKGATE_TLS_KEY_FILE are set. */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/settings.js';
import { startInProcessGateway, type InProcessGateway } from '../support/in-process-gateway.js';
import { makeTempDir } from '../support/processes.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

describe('HTTPS listener', () => {
  let dataDir: string;
  let g: InProcessGateway;

  beforeAll(async () => {
    dataDir = await makeTempDir('zkgate-tls-');
    g = await startInProcessGateway({
      ZKGATE_DATA_DIR: dataDir,
      ZKGATE_TLS_CERT_FILE: fixture('cert.pem'),
      ZKGATE_TLS_KEY_FILE: fixture('key.pem'),
    });
  });

  afterAll(async () => {
    await g?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the API over TLS with the configured certificate', async () => {
    expect(g.url).toMatch(/^https:/);
    const trusting = new Agent({ connect: { ca: readFileSync(fixture('cert.pem')) } });
    const answer = await request(`${g.url}/healthz`, { dispatcher: trusting });
    expect(answer.statusCode).toBe(200);
    expect(await answer.body.json()).toEqual({ status: 'ok' });
    await trusting.close();
  });

  it('does not answer plain HTTP on that port', async () => {
    const plain = g.url.replace(/^https:/, 'http:');
    await expect(request(`${plain}/healthz`).then((r) => r.body.text())).rejects.toThrow();
  });

  it('needs the certificate and the key together', () => {
    expect(() => loadSettings({ ZKGATE_TLS_CERT_FILE: fixture('cert.pem') })).toThrow(/go together/);
  });
});
