/**
 * The whole HTTP app over the embedded store in its own temp data directory, not listening:
 * for tests that talk to it with `app.inject()`.
 */
import { rm } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { makeTempDir } from './processes.js';

export type App = Awaited<ReturnType<typeof buildApp>>;

export interface EmbeddedApp {
  readonly app: App;
  readonly services: Services;
  close(): Promise<void>;
}

export async function startEmbeddedApp(
  env: Record<string, string> = {},
  logger: Logger = pino({ level: 'silent' }),
): Promise<EmbeddedApp> {
  const dataDir = await makeTempDir('zkgate-app-');
  const services = await createServices(loadSettings({ ZKGATE_DATA_DIR: dataDir, ...env }), logger);
  const app = await buildApp({ services, logger });
  await app.ready();
  return {
    app,
    services,
    async close() {
      await app.close();
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
