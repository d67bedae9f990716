/**
 * Writes the OpenAPI document the gateway serves to openapi/openapi.json (`npm run openapi`).
 * A test compares the two, so run this after changing a route.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../src/app.js';
import { createServices } from '../src/compose.js';
import { loadSettings } from '../src/settings.js';

const dataDir = await mkdtemp(join(tmpdir(), 'zkgate-openapi-'));
const logger = pino({ level: 'silent' });
const services = await createServices(loadSettings({ ZKGATE_DATA_DIR: dataDir }), logger);
try {
  const app = await buildApp({ services, logger });
  await app.ready();
  const target = new URL('../openapi/openapi.json', import.meta.url);
  await writeFile(target, `${JSON.stringify(app.swagger(), null, 2)}\n`);
  await app.close();
  console.log(`wrote ${target.pathname}`);
} finally {
  await services.close();
  await rm(dataDir, { recursive: true, force: true });
}
